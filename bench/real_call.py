"""Real voices: pyannote's sample call (30 s, two real speakers, shipped in the pyannote.audio wheel
with speaker turns and a transcript), as a stereo file with one speaker per channel and as the
original mono mix. WER of a full review against bare faster-whisper on the same channels, and DER
of the review's RTTM on the mix.

    python bench/real_call.py [--model tiny.en] [--json OUT.json]

Stereo from mono: each channel keeps the mix where the RTTM says its speaker talks (with 0.1 s of
margin, faded) and silence elsewhere, so the other voice is heard only where both talk at once. The
first speaker of the call (Diane) is the agent channel. Bare faster-whisper = what a user runs:
`WhisperModel(model).transcribe(channel, vad_filter=True)` with default threads and options.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from audio_pipeline import models  # noqa: E402,F401  (sets the offline environment first)
from audio_pipeline.evaluation import normalise_text  # noqa: E402

ROLES = ("agent", "customer")
MARGIN = 0.1


def sample_dir() -> Path:
    return Path(importlib.util.find_spec("pyannote.audio").submodule_search_locations[0]) / "sample"


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    rows = [line.split() for line in path.read_text().splitlines() if line.startswith("SPEAKER")]
    return [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]


def read_stm(path: Path) -> list[tuple[str, float, float, str]]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split(maxsplit=5)
        if len(parts) == 6:
            out.append((parts[2], float(parts[3]), float(parts[4]), parts[5]))
    return out


def speakers_in_order(turns: list[tuple[float, float, str]]) -> list[str]:
    return [s for _, _, s in sorted(turns)][:1] + sorted({s for _, _, s in turns} - {min(turns)[2]})


def references() -> dict[str, str]:
    """Role → the speaker's words in the transcript (the call's first voice is the agent)."""
    stm = read_stm(sample_dir() / "sample.stm")
    first = min(stm, key=lambda r: r[1])[0]
    text = {role: " ".join(r[3] for r in stm if (r[0] == first) == (role == "agent")) for role in ROLES}
    return {role: normalise_text(t) for role, t in text.items()}


def stereo_sample(out: Path) -> Path:
    """The sample with each speaker on their own channel (agent = 0)."""
    data, sr = sf.read(sample_dir() / "sample.wav", dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    turns = read_rttm(sample_dir() / "sample.rttm")
    order = speakers_in_order(turns)
    channels = []
    for speaker in order[:2]:
        gain = np.zeros(len(mono), np.float32)
        for start, end, who in turns:
            if who == speaker:
                gain[max(0, int((start - MARGIN) * sr)):int((end + MARGIN) * sr)] = 1.0
        ramp = int(0.02 * sr)  # 20 ms fades: no clicks at the cut
        gain = np.convolve(gain, np.ones(ramp) / ramp, mode="same").astype(np.float32)
        channels.append(mono * gain)
    sf.write(out, np.stack(channels, axis=1), sr, subtype="PCM_16")
    return out


def bare_whisper_text(model_name: str, path: Path) -> dict[str, str]:
    """faster-whisper as a user runs it on each channel: default threads, VAD on, greedy."""
    from faster_whisper import WhisperModel, decode_audio

    from audio_pipeline.models import find_whisper

    model = WhisperModel(str(find_whisper(model_name)), device="cpu", compute_type="int8")
    left, right = decode_audio(str(path), split_stereo=True)
    out = {}
    for role, channel in zip(ROLES, (left, right)):
        segments, _ = model.transcribe(channel, language="en", beam_size=1, vad_filter=True)
        out[role] = normalise_text(" ".join(s.text for s in segments))
    return out


def der(reference: list[tuple[float, float, str]], hypothesis: list[tuple[float, float, str]]) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    def annotation(rows):
        a = Annotation()
        for i, (s, e, who) in enumerate(rows):
            a[Segment(s, e), i] = who
        return a

    return float(DiarizationErrorRate()(annotation(reference), annotation(hypothesis)))


def evaluate(model_name: str = "tiny.en", reviewer=None) -> dict:
    import jiwer

    from audio_pipeline.config import load_config
    from audio_pipeline.export import review_to_rttm
    from audio_pipeline.pipeline import Reviewer

    tmp = Path(tempfile.mkdtemp())
    stereo = stereo_sample(tmp / "sample_stereo.wav")
    refs = references()
    reviewer = reviewer or Reviewer(load_config(overrides={"asr.model": model_name}), device="cpu")
    t0 = time.perf_counter()
    review = reviewer.review(stereo)
    stereo_s = time.perf_counter() - t0
    hyp = {role: normalise_text(" ".join(u.text for u in review.utterances if u.speaker == role)) for role in ROLES}
    bare = bare_whisper_text(model_name, stereo)
    t0 = time.perf_counter()
    mono = reviewer.review(sample_dir() / "sample.wav")
    mono_s = time.perf_counter() - t0
    rttm = [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in
            (line.split() for line in review_to_rttm(mono).splitlines())]
    words = [(float(w["start"]), float(w["end"]), u.speaker) for u in mono.utterances
             for w in [{"start": u.start, "end": u.end}]]
    return {
        "wer_review": {r: jiwer.wer(refs[r], hyp[r]) for r in ROLES},
        "wer_bare": {r: jiwer.wer(refs[r], bare[r]) for r in ROLES},
        "der_rttm": der(read_rttm(sample_dir() / "sample.rttm"), rttm),
        "der_utterances": der(read_rttm(sample_dir() / "sample.rttm"), words),
        "mono_roles": dict(mono.roles.mapping) if mono.roles else {},
        "mono_roles_uncertain": bool(mono.roles and mono.roles.uncertain),
        "stereo_s": stereo_s, "mono_s": mono_s,
    }


def report(r: dict) -> None:
    print("real call (pyannote sample, 30 s): stereo = one real speaker per channel")
    print(f"  WER review  agent {r['wer_review']['agent']:.3f}  customer {r['wer_review']['customer']:.3f}")
    print(f"  WER bare    agent {r['wer_bare']['agent']:.3f}  customer {r['wer_bare']['customer']:.3f}"
          "  (faster-whisper alone, same model, VAD on)")
    print(f"  mono mix: RTTM DER {r['der_rttm']:.1%} (from worded utterances it would be "
          f"{r['der_utterances']:.1%}); roles {r['mono_roles']}"
          f"{' (marked uncertain)' if r['mono_roles_uncertain'] else ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny.en")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = evaluate(args.model)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
