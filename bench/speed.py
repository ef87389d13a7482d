"""Speed of a full stereo review vs bare faster-whisper on the same two channels, in one run.

    python bench/speed.py [CALL.wav …] [--repeat 2] [--minutes 5] [--model tiny.en]

Without files it builds a ~5-minute stereo call by joining the labelled synthetic calls
(bench/.data/calls, made by `make bench-data`) or, failing that, the samples/. The baseline is
bare faster-whisper as a user runs it: its own `WhisperModel` with default threads, both channels
in turn. Both sides get the same weights (tiny.en, CPU int8), the same decoding options (VAD,
word timestamps, greedy), and a model loaded and warmed up beforehand; times are the best of --repeat runs, taken alternately. Peak memory is
the max RSS of a separate `audio-pipeline review` process on the same file. `lang s` is the
empathy/language stage alone on the review's utterances, `lang %` its share of the review.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_long_call(minutes: float, out: Path) -> Path:
    sources = sorted((ROOT / "bench/.data/calls").glob("*.wav")) or sorted((ROOT / "samples").glob("*.wav"))
    if not sources:
        sys.exit("no calls to build from: run `make bench-data` or pass files")
    chunks, total, rate = [], 0.0, 8000
    while total < minutes * 60:
        for src in sources:
            data, sr = sf.read(src, dtype="float32", always_2d=True)
            if sr != rate:
                import soxr

                data = soxr.resample(data, sr, rate)
            chunks.append(data)
            total += len(data) / rate
            if total >= minutes * 60:
                break
    sf.write(out, np.concatenate(chunks)[: int(minutes * 60 * rate)], rate, subtype="PCM_16")
    return out


def bare_transcribe(model, path: Path, cfg) -> int:
    """What a user of faster-whisper alone would run: decode both channels, transcribe each."""
    from faster_whisper import decode_audio

    left, right = decode_audio(str(path), split_stereo=True)
    o = cfg.asr
    words = 0
    for channel in (left, right):
        segments, _ = model.transcribe(channel, language="en", beam_size=o.beam_size, temperature=0.0,
                                       word_timestamps=True, condition_on_previous_text=False, vad_filter=True,
                                       vad_parameters={"min_silence_duration_ms": o.vad_min_silence_ms,
                                                       "speech_pad_ms": o.vad_speech_pad_ms})
        words += sum(len(s.words or []) for s in segments)
    return words


def peak_rss_mb(path: Path, model: str) -> float:
    cli = [sys.executable, "-m", "audio_pipeline", "review", str(path), "-o", tempfile.mkdtemp(), "-q", "--model", model]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(cli, check=True, cwd=ROOT, capture_output=True)
    return max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", type=Path)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--model", default="tiny.en", help="the Whisper model of both sides (tiny.en, base, ...)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration override of the review, e.g. asr.stretched_word_min=0 (repeatable)")
    args = ap.parse_args()

    from audio_pipeline.config import load_config, parse_overrides
    from audio_pipeline.pipeline import Reviewer

    files = args.files or [build_long_call(args.minutes, Path(tempfile.mkdtemp()) / "long_call.wav")]
    cfg = load_config(overrides={"asr.model": args.model} | parse_overrides(args.set))
    t0 = time.perf_counter()
    reviewer = Reviewer(cfg, device="cpu")
    load_s = time.perf_counter() - t0
    # the honest baseline: faster-whisper as a user runs it, its own model object with default
    # threads (not the review's per-channel decoders with reduced threads), same weights and VAD
    from faster_whisper import WhisperModel

    from audio_pipeline.models import find_whisper

    bare_model = WhisperModel(str(find_whisper(cfg.asr.model)), device="cpu", compute_type="int8")
    bare_transcribe(bare_model, files[0], cfg)
    # warm up both paths (first call pays VAD/ONNX session and embedding-model start-up)
    reviewer.review(files[0])
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"python {platform.python_version()}; model {cfg.asr.model} cpu int8; model load {load_s:.2f} s")
    print(f"{'file':<22}{'audio s':>9}{'bare s':>9}{'review s':>10}{'ratio':>8}{'bare xRT':>10}{'review xRT':>12}"
          f"{'lang s':>8}{'lang %':>8}{'peak MB':>9}")
    for path in files:
        duration = sf.info(path).duration
        bare, full = [], []
        for _ in range(args.repeat):
            t = time.perf_counter(); bare_transcribe(bare_model, path, cfg); bare.append(time.perf_counter() - t)
            t = time.perf_counter(); review = reviewer.review(path); full.append(time.perf_counter() - t)
        b, f = min(bare), min(full)
        lang = language_seconds(reviewer, review, duration)
        print(f"{path.name[:21]:<22}{duration:>9.1f}{b:>9.2f}{f:>10.2f}{f / b:>8.2f}{duration / b:>10.1f}"
              f"{duration / f:>12.1f}{lang:>8.2f}{100 * lang / f:>7.1f}%{peak_rss_mb(path, args.model):>9.0f}")


def language_seconds(reviewer, review, duration: float) -> float:
    """The empathy/language stage alone, on the review's own utterances (best of 3): its share of
    the review is the cost the language analysis adds."""
    from audio_pipeline.types import Conversation

    conv = Conversation(tuple(review.utterances), duration)
    times = []
    for _ in range(3):
        t = time.perf_counter(); reviewer.language().analyze(conv); times.append(time.perf_counter() - t)
    return min(times)


if __name__ == "__main__":
    main()
