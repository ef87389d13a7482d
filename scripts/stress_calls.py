#!/usr/bin/env python
"""A stress set of labelled two-party calls: bad lines and timing near every threshold.

    python scripts/stress_calls.py --out bench/.data/stress [--count 10] [--seed 2026] [--mobile | --clean]

Written apart from the analysis code and from scripts/synth_calls.py: its own lines, voices
(espeak-ng for the agent, flite for the caller), layout and truth. Each call alternates short
agent and customer lines; every hand-over draws one timing from the borderline families below,
each at least 0.3 s clear of the default threshold it tests (DESIGN §2):

    silence between turns   4.4-4.7 s (not dead air) | 5.3-5.6 s (dead air, >= 5 s)
    customer -> agent gap   2.0-2.2 s (not slow)     | 2.8-3.0 s (slow response, >= 2.5 s)
    overlap                 0.05-0.2 s (a quick turn change, not an interruption) |
                            0.8-1.1 s (interruption, >= 0.5 s): the next line starts while the
                            current one is still being said, and the current speaker finishes it

Lines are short, so no agent stretch reaches 30 s (no long monologue in the truth). Then the line
(scripts/phone_line.py): hiss at 10-20 dB SNR, 50 Hz hum, echo of the far end at -30 to -12 dB,
μ-law or A-law, 0-6 packet dropouts a minute, the parties' levels up to 10 dB apart; with
`--mobile`, the same calls with the caller first through an AMR-NB leg (4.75-12.2 kbit/s); with
`--clean`, the same calls and timing as a clean 16 kHz recording (no line at all).

Truth (NAME.truth.json, the call-truth/1 fields bench/accuracy.py reads): `turns` with exact
times (each TTS clip is trimmed to its audible speech before placement, so a turn's audio IS
[start, end]) and `events` computed from the placement alone.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import phone_line  # noqa: E402  (sibling module, scripts/ is not a package)

SR = 16000
AGENT_LINES = [
    "Good morning, Lakeside Water, Tom speaking.",
    "Could you give me the account number, please?",
    "Thanks. I can see the last reading was taken in March.",
    "Right, so the estimate came in higher than usual.",
    "I'll book a meter reader to come out next week.",
    "Is there a good time for you, mornings or afternoons?",
    "Okay, that's Tuesday morning between eight and twelve.",
    "You'll get a text the evening before.",
    "I've also put a note on the bill so it won't go to collections.",
    "Is the phone number ending four two one still the best one?",
    "Great, and the email on file is still correct?",
    "Let me check whether we can refund the difference.",
    "Yes, the difference will come back to your card in five days.",
    "Is there anything else I can help with today?",
]
CUSTOMER_LINES = [
    "Hi, my water bill is nearly double what it normally is.",
    "Sure, it's seven three nine, five five one, two.",
    "Nobody has been round to read the meter in months.",
    "I don't understand why it would jump like that.",
    "Next week is fine, I work from home.",
    "Mornings are better for me, to be honest.",
    "Tuesday works, thank you.",
    "Will I still have to pay the full amount this month?",
    "Yes, that number is still fine.",
    "No, it changed, it's the new one I gave last time.",
    "Okay, and what happens to the money I already paid?",
    "That's a relief, thanks for sorting it.",
]


@dataclass(frozen=True)
class Placed:
    speaker: str
    start: float
    end: float
    text: str
    audio: np.ndarray


def _tts(cmd: list[str], tmp: Path) -> np.ndarray:
    import soundfile as sf

    subprocess.run(cmd, check=True, capture_output=True)
    x, sr = sf.read(str(tmp), dtype="float32", always_2d=True)
    x = x.mean(axis=1)
    return phone_line.resample(x, sr, SR)


def speak(speaker: str, text: str, voice: str, workdir: Path) -> np.ndarray:
    out = workdir / "line.wav"
    if speaker == "agent":
        cmd = ["espeak-ng", "-v", voice, "-s", "165", "-w", str(out), text]
    else:
        cmd = ["flite", "-voice", voice, "-t", text, "-o", str(out)]
    return trim(_tts(cmd, out))


def trim(x: np.ndarray, below_db: float = 35.0) -> np.ndarray:
    """Cut to where the clip is audible: 10 ms frames within `below_db` of its loudest frame."""
    hop = SR // 100
    n = len(x) // hop
    db = 10 * np.log10(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    on = np.flatnonzero(db > db.max() - below_db)
    return x[on[0] * hop:(on[-1] + 1) * hop] if on.size else x


def layout(rng: np.random.Generator, clips: dict[str, list[tuple[str, np.ndarray]]]) -> tuple[list[Placed], list[dict]]:
    """Alternate agent/customer lines; draw each hand-over's timing; return turns and events."""
    placed: list[Placed] = []
    events: list[dict] = []
    order = ["agent"] + [s for _ in range(len(clips["customer"])) for s in ("customer", "agent")]
    idx = {"agent": 0, "customer": 0}
    t = 0.5
    for i, speaker in enumerate(order):
        if idx[speaker] >= len(clips[speaker]):
            break
        text, audio = clips[speaker][idx[speaker]]
        idx[speaker] += 1
        if placed:
            prev = placed[-1]
            kind = rng.choice(["normal", "silence", "gap", "overlap"], p=[0.3, 0.2, 0.25, 0.25])
            if kind == "gap" and not (prev.speaker == "customer" and speaker == "agent"):
                kind = "normal"
            if kind == "overlap" and prev.end - prev.start < 2.5:
                kind = "normal"  # too short a line to be cut into by a second
            if kind == "silence":
                gap = rng.uniform(5.3, 5.6) if rng.random() < 0.5 else rng.uniform(4.4, 4.7)
                start = prev.end + gap
                if gap >= 5.0:
                    events.append({"type": "dead_air", "speaker": None, "start": prev.end, "end": start})
            elif kind == "gap":
                gap = rng.uniform(2.8, 3.0) if rng.random() < 0.5 else rng.uniform(2.0, 2.2)
                start = prev.end + gap
            elif kind == "overlap":
                ov = rng.uniform(0.8, 1.1) if rng.random() < 0.6 else rng.uniform(0.05, 0.2)
                start = prev.end - ov
                if ov >= 0.5:
                    events.append({"type": "interruption", "speaker": speaker, "start": start, "end": prev.end})
            else:
                start = prev.end + rng.uniform(0.3, 0.9)
            if prev.speaker == "customer" and speaker == "agent" and 2.5 <= start - prev.end < 5.0:
                events.append({"type": "slow_response", "speaker": "agent", "start": prev.end, "end": start})
            t = start
        placed.append(Placed(speaker, t, t + len(audio) / SR, text, audio))
    return placed, events


def render(name: str, seed: int, out_dir: Path, workdir: Path, mobile: bool = False, clean: bool = False) -> dict:
    import soundfile as sf

    rng = np.random.default_rng([seed, sum(map(ord, name))])
    agent_voice = str(rng.choice(["en-us", "en-gb", "en-us+m3"]))
    customer_voice = str(rng.choice(["slt", "rms", "awb"]))
    a_lines = list(rng.permutation(AGENT_LINES[1:]))[:7]
    c_lines = list(rng.permutation(CUSTOMER_LINES))[:7]
    clips = {"agent": [(t, speak("agent", t, agent_voice, workdir)) for t in [AGENT_LINES[0]] + a_lines],
             "customer": [(t, speak("customer", t, customer_voice, workdir)) for t in c_lines]}
    placed, events = layout(rng, clips)
    total = int((max(p.end for p in placed) + 1.0) * SR)
    channels = np.zeros((2, total), np.float32)
    for p in placed:
        c = 0 if p.speaker == "agent" else 1
        s = int(round(p.start * SR))
        channels[c, s:s + len(p.audio)] += p.audio * (0.3 / (np.max(np.abs(p.audio)) + 1e-9))
    gain = float(rng.uniform(-10, 0))
    line = phone_line.Line(snr_db=float(rng.uniform(10, 20)), echo_db=float(rng.uniform(-30, -12)),
                           hum_db=float(rng.uniform(-50, -40)), codec=str(rng.choice(["ulaw", "alaw"])),
                           dropouts=int(rng.integers(0, 7)), gain_db=(0.0, gain) if rng.random() < 0.5 else (gain, 0.0))
    if mobile:
        # its own generator: the calls are the plain set's, with the caller on a mobile leg
        kbps = float(np.random.default_rng([seed, 7, sum(map(ord, name))]).choice([4.75, 5.9, 7.95, 12.2]))
        line = replace(line, mobile_kbps=kbps)
    path = out_dir / f"{name}.wav"
    r = lambda x: round(float(x), 3)  # noqa: E731
    voices = {"agent_voice": f"espeak-ng:{agent_voice}", "customer_voice": f"flite:{customer_voice}", "seed": seed}
    if clean:   # the same calls and timing on a clean 16 kHz recording: the borderline timing alone
        audio, rate = channels, SR
        sf.write(str(path), audio.T, SR, subtype="PCM_16")
        conditions = {**voices, "line": "clean 16 kHz"}
    else:
        audio, rate = phone_line.degrade(channels, SR, line, rng), phone_line.LINE_SR
        sf.write(str(path), audio.T, rate, subtype={"ulaw": "ULAW", "alaw": "ALAW"}[line.codec], format="WAV")
        conditions = {**voices, "snr_db": r(line.snr_db), "echo_db": r(line.echo_db), "hum_db": r(line.hum_db),
                      "codec": line.codec, "dropouts_per_min": line.dropouts, "gain_db": list(line.gain_db),
                      "mobile_amr_kbps": line.mobile_kbps}
    truth = {"schema": "call-truth/1", "audio": path.name, "sample_rate": rate,
             "duration": r(audio.shape[1] / rate), "channels": {"agent": 0, "customer": 1},
             "conditions": conditions,
             "turns": [{"speaker": p.speaker, "start": r(p.start), "end": r(p.end), "text": p.text, "kind": "turn"}
                       for p in placed],
             "events": [{k: (r(v) if isinstance(v, float) else v) for k, v in e.items()} for e in events]}
    (out_dir / f"{name}.truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    return truth


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--mobile", action="store_true", help="the same calls with the caller on an AMR-NB mobile leg")
    ap.add_argument("--clean", action="store_true", help="the same calls and timing as a clean 16 kHz recording")
    a = ap.parse_args(argv)
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.count):
            truth = render(f"stress_{i:02d}", a.seed, a.out, Path(tmp), a.mobile, a.clean)
            kinds = {}
            for e in truth["events"]:
                kinds[e["type"]] = kinds.get(e["type"], 0) + 1
            c = truth["conditions"]
            line = c.get("line") or f"{c['codec']}, SNR {c['snr_db']:.0f} dB, echo {c['echo_db']:.0f} dB"
            print(f"[{i + 1}/{a.count}] stress_{i:02d}: {truth['duration']:.0f} s, {line}; {kinds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
