"""Mono diarization benchmark: DER, role accuracy, speaker-time coverage and speed.

    python bench/diarize.py [FILES...] [--set KEY=VALUE ...] [--try KEY=VALUE,KEY=VALUE ...]
                            [--device cpu|cuda] [--no-roles] [--repeat N] [--json OUT.json]

FILES are audio files with their truth beside them: NAME.rttm (speaker turns), or NAME.truth.json
(synthetic calls: "turns" with speaker agent/customer; stereo is mixed to mono first). Default:
pyannote's real sample call (30 s), a 5-minute call looped from it (bench/.data/sample_5min.wav,
made on first use) and every samples/*.truth.json.

Each --try is one more diarization config (diarization.* keys over configs/default.yaml + --set);
the default config always runs first. Role accuracy needs words: truth.json calls are transcribed
once (faster-whisper, configs' asr model) and the words reused for every config.

Columns: DER0 = no collar, DER.25 = pyannote collar 0.25 (total width, i.e. +-0.125 s); spk = speakers
found / in the truth; time = diarization wall time (models already loaded), xRT = audio / time, cpu =
process CPU seconds, asr s = tiny.en transcription of the same mono audio (the review's other big
stage; model loaded beforehand), load = 1-minute load average (the machine is shared: read times with it);
coverage = share of each truth speaker's speech given to them (by role for truth.json calls).

Bars (DESIGN): real sample DER <= 6 % without collar; synthetic mono DER <= 8 %, roles 100 %;
diarization >= 5x real time on a 5-minute call on the 2-core CPU machine.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from audio_pipeline import models  # noqa: E402,F401  (sets the offline environment first)
from audio_pipeline.config import load_config  # noqa: E402
from audio_pipeline.diarize import Diarization, Diarizer, diarized_utterances, speech_activity  # noqa: E402

DATA = ROOT / "bench" / ".data"
LOOPS = 10  # 10 x 30 s = the 5-minute call


@dataclasses.dataclass
class Call:
    name: str
    audio: np.ndarray  # mono float32 16 kHz
    truth: list[tuple[float, float, str]]  # (start, end, speaker)
    roles_known: bool  # truth speakers are agent/customer
    segments: list | None = None  # ASR output, filled once when roles are scored
    asr_time: float = 0.0  # wall seconds of that transcription (model loaded beforehand)

    @property
    def duration(self) -> float:
        return len(self.audio) / 16000


def _pyannote_sample() -> Path:
    import importlib.util

    return Path(importlib.util.find_spec("pyannote.audio").submodule_search_locations[0]) / "sample" / "sample.wav"


def _read_rttm(path: Path) -> list[tuple[float, float, str]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.startswith("SPEAKER")]
    return [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]


def _mono16k(path: Path) -> np.ndarray:
    data, sr = sf.read(path, dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    if sr != 16000:
        import soxr

        mono = soxr.resample(mono, sr, 16000).astype(np.float32)
    return mono


def long_sample() -> Path:
    """The real sample looped to 5 minutes: real voices, a known truth, a realistic length."""
    wav, rttm = DATA / "sample_5min.wav", DATA / "sample_5min.rttm"
    if wav.exists() and rttm.exists():
        return wav
    src = _pyannote_sample()
    audio, sr = sf.read(src, dtype="float32")
    turns = _read_rttm(src.with_suffix(".rttm"))
    dur = len(audio) / sr
    DATA.mkdir(parents=True, exist_ok=True)
    sf.write(wav, np.tile(audio, LOOPS), sr, subtype="PCM_16")
    rttm.write_text("".join(f"SPEAKER sample_5min 1 {s + k * dur:.3f} {e - s:.3f} <NA> <NA> {spk} <NA> <NA>\n"
                            for k in range(LOOPS) for s, e, spk in turns))
    return wav


def load_call(path: Path) -> Call:
    truth_json = path.with_name(path.name.split(".")[0] + ".truth.json")
    if path.name.endswith(".truth.json"):
        truth_json = path
    if truth_json.exists():
        truth = json.loads(truth_json.read_text())
        audio = _mono16k(truth_json.parent / truth["audio"])
        turns = [(t["start"], t["end"], t["speaker"]) for t in truth["turns"]]
        return Call(truth_json.name.removesuffix(".truth.json"), audio, turns, roles_known=True)
    rttm = path.with_suffix(".rttm")
    if not rttm.exists():
        sys.exit(f"{path}: no truth beside it (.rttm or .truth.json)")
    return Call(path.stem, _mono16k(path), _read_rttm(rttm), roles_known=False)


def default_files() -> list[Path]:
    return [_pyannote_sample(), long_sample(), *sorted((ROOT / "samples").glob("*.truth.json"))]


# ------------------------------------------------------------------------------------------ scoring


def _annotation(turns):
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for i, (s, e, spk) in enumerate(turns):
        ann[Segment(s, e), i] = spk
    return ann


def der(call: Call, dia: Diarization) -> dict:
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = _annotation(call.truth), _annotation([(t.start, t.end, t.speaker) for t in dia.turns])
    uem = Timeline([Segment(0, call.duration)])
    out = {f"der{c:g}": DiarizationErrorRate(collar=c, skip_overlap=False)(ref, hyp, uem=uem) for c in (0.0, 0.25)}
    # hypothesis label -> truth speaker, the one-to-one mapping DER itself uses
    out["label_to_truth"] = dict(DiarizationErrorRate().optimal_mapping(ref, hyp)) if dia.turns else {}
    return out


def coverage(call: Call, activity: dict[str, list[tuple[float, float]]]) -> dict[str, float]:
    """Per truth speaker: the share of their speech that the hypothesis gives to them."""
    from audio_pipeline.analysis import timeline

    out = {}
    for spk in sorted({t[2] for t in call.truth}):
        ref = timeline.merge((s, e) for s, e, x in call.truth if x == spk)
        hit = timeline.intersect(ref, timeline.merge(activity.get(spk, [])))
        out[spk] = timeline.total(hit) / max(timeline.total(ref), 1e-9)
    return out


_ASR: list = []  # the transcriber, loaded once for every call and config


def transcribe(call: Call, cfg) -> list:
    if call.segments is None:
        from audio_pipeline.transcribe import WhisperTranscriber, clean_segments

        if not _ASR:
            _ASR.append(WhisperTranscriber(cfg.asr, device="cpu"))
        t0 = time.perf_counter()
        call.segments = clean_segments(_ASR[0].transcribe(call.audio, 16000), cfg.asr)
        call.asr_time = time.perf_counter() - t0
    return call.segments


def _majority_role(call: Call, activity: dict[str, list[tuple[float, float]]], party: str) -> str | None:
    """The role that covers most of the truth party's speech."""
    share = {role: coverage(call, {party: spans})[party] for role, spans in activity.items()}
    return max(share, key=lambda role: share[role], default=None)


def score_roles(call: Call, dia: Diarization, cfg) -> dict:
    """Roles are right when each truth party's speech mostly carries that party's role."""
    _, decision = diarized_utterances(transcribe(call, cfg), dia, cfg)
    activity = speech_activity(dia, decision.mapping)
    cov = coverage(call, activity)
    return {"roles_ok": all(_majority_role(call, activity, party) == party for party in cov),
            "mapping": dict(decision.mapping), "method": decision.method, "confidence": decision.confidence,
            "evidence": decision.evidence, "coverage": cov}


def run_config(name: str, cfg, calls: list[Call], device: str, roles: bool, repeat: int) -> list[dict]:
    t0 = time.perf_counter()
    diarizer = Diarizer(cfg.diarization, device=device)
    print(f"\n## {name}  (load {time.perf_counter() - t0:.1f} s)")
    print(f"{'call':<22}{'dur s':>7}{'DER0':>8}{'DER.25':>8}{'spk':>6}{'time s':>8}{'xRT':>7}{'cpu s':>7}"
          f"{'asr s':>7}{'load':>6}  roles / coverage")
    rows = [run_call(diarizer, call, cfg, roles, repeat) for call in calls]
    summary(rows)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return rows


def run_call(diarizer: Diarizer, call: Call, cfg, roles: bool, repeat: int) -> dict:
    """Diarize one call `repeat` times (the fastest run counts), score it, print its row."""
    times, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        dia = diarizer(call.audio, 16000)
        times.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    row = {"call": call.name, "duration": call.duration, "time": min(times), "cpu": min(cpus),
           "xrt": call.duration / min(times), "load": os.getloadavg()[0], "speakers": len(dia.labels),
           "truth_speakers": len({t[2] for t in call.truth}), "synthetic": call.roles_known, **der(call, dia)}
    if roles:
        transcribe(call, cfg)  # timed once per call, printed beside the diarization time
        row["asr_time"] = call.asr_time
    if roles and call.roles_known:
        row.update(score_roles(call, dia, cfg))
        extra = f"{'OK' if row['roles_ok'] else 'WRONG'} {row['method']} {row['confidence']:.2f}  "
    else:
        row["coverage"] = coverage(call, _by_truth(dia, row["label_to_truth"]))
        extra = ""
    extra += " ".join(f"{k} {100 * v:.0f}%" for k, v in row["coverage"].items())
    print(f"{call.name[:21]:<22}{call.duration:>7.1f}{100 * row['der0']:>7.2f}%{100 * row['der0.25']:>7.2f}%"
          f"{row['speakers']:>3}/{row['truth_speakers']:<2}{row['time']:>8.2f}{row['xrt']:>7.1f}"
          f"{row['cpu']:>7.1f}{row.get('asr_time', float('nan')):>7.1f}{row['load']:>6.1f}  {extra}")
    return row


def summary(rows: list[dict]) -> None:
    audio, wall = sum(r["duration"] for r in rows), sum(r["time"] for r in rows)
    synthetic = [r for r in rows if r["synthetic"]]
    line = f"total: {audio / 60:.1f} min diarized at {audio / wall:.1f}x real time"
    if synthetic:
        worst = max(synthetic, key=lambda r: r["der0"])
        over = sum(r["der0"] > 0.08 for r in synthetic)
        line += (f"; synthetic calls: mean DER {100 * np.mean([r['der0'] for r in synthetic]):.2f} %, "
                 f"{over}/{len(synthetic)} over 8 % (worst {worst['call']} {100 * worst['der0']:.1f} %)")
    scored = [r for r in rows if "roles_ok" in r]
    if scored:
        line += f"; roles right in {sum(r['roles_ok'] for r in scored)}/{len(scored)} calls"
    print(line)


def _by_truth(dia: Diarization, label_to_truth: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list[tuple[float, float]]] = {}
    for t in dia.turns:
        out.setdefault(label_to_truth.get(t.speaker, t.speaker), []).append((t.start, t.end))
    return out


def _overrides(text: str) -> dict:
    out = {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        out[f"diarization.{key.strip()}"] = json.loads(value) if value not in ("", "null") else None
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--set", action="append", default=[], help="diarization KEY=VALUE for every config")
    ap.add_argument("--try", dest="tries", action="append", default=[], help="another config: KEY=V,KEY=V")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-roles", action="store_true", help="skip transcription and role scoring")
    ap.add_argument("--repeat", type=int, default=1, help="diarize each call N times, keep the fastest")
    ap.add_argument("--json", type=Path, help="also write every row here")
    args = ap.parse_args()

    calls = [load_call(p) for p in (args.files or default_files())]
    base = _overrides(",".join(args.set))
    rows = []
    for name, extra in [("default" + (f" + {','.join(args.set)}" if args.set else ""), {})] + \
                       [(t, _overrides(t)) for t in args.tries]:
        cfg = load_config(overrides={**base, **extra})
        rows += [{"config": name, **row} for row in run_config(name, cfg, calls, args.device, not args.no_roles,
                                                               args.repeat)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()
