"""Memory of one live call as it grows: a call of --minutes (the sample calls back to back, 8 kHz,
as the capacity runs build them) fed to a CallMonitor with no clock, and what the call's state holds
measured with Python's tracemalloc every --every minutes of audio.

    python bench/stream_memory.py [--minutes 120] [--every 15] [--asr stand-in|whisper]

The models (Whisper, the VAD, the encoder and the phrasing head) are loaded before tracing starts:
a server holds them once for all its calls. By default Whisper itself is replaced by a stand-in
that words each speech region it is given with the sample calls' own lines (one word per 0.35 s),
so two hours take minutes; the VAD, own-speech energy, echo canceller, resampler, commit policy,
second-pass buffers, rules and phrasing head are the real ones. `--asr whisper` decodes with
tiny.en (slower than real time on 2 cores without a clock to coarsen it).

Prints, per checkpoint, the traced memory (everything allocated since the models were loaded that
is still held: the call's state, the server's sentence-embedding memo, which is shared and capped)
and the process RSS; then the growth per minute over the second half of the call. Bounded means
that growth is the words and the one byte per 10 ms per party of speech activity the final review
needs (tens of KB a minute), not the audio.
"""
from __future__ import annotations

import argparse
import gc
import itertools
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

WORD_SECONDS = 0.35


class StandIn:
    """Whisper replaced: each speech region (the real VAD's) gets real call lines' words, evenly."""

    name, device = "stand-in", "cpu"

    def __init__(self, real, words: list[str]):
        self.real, self.words = real, itertools.cycle(words)

    def speech_regions(self, samples: np.ndarray) -> list[tuple[int, int]]:
        return self.real.speech_regions(samples)

    def transcribe(self, samples, sample_rate, own_speech=None, regions=None, recover=True, context=(), loops=True):
        from audio_pipeline.transcribe import AsrSegment
        from audio_pipeline.types import Word

        out = []
        for a, b in regions if regions is not None else self.speech_regions(samples):
            starts = np.arange(a / sample_rate, b / sample_rate - WORD_SECONDS, WORD_SECONDS)
            words = tuple(Word(float(t), float(t) + WORD_SECONDS - 0.05, next(self.words), 0.9) for t in starts)
            if words:
                out.append(AsrSegment(words[0].start, words[-1].end, " ".join(w.text for w in words), words))
        return out


def traced_mb() -> float:
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    return current / 2 ** 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--every", type=float, default=15.0)
    ap.add_argument("--asr", choices=["stand-in", "whisper"], default="stand-in")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import stream as bench

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.client import _frames, load_call
    from audio_pipeline.stream.monitor import CallMonitor
    from audio_pipeline.stream.protocol import StartMessage, decode_frame
    from audio_pipeline.stream.server import StreamService

    cfg = load_config()
    service = StreamService(cfg)
    service.load()
    truths = [json.loads(p.read_text()) | {"dir": p.parent} for p in sorted((ROOT / "samples").glob("*.truth.json"))]
    words = [w for t in truths for turn in t["turns"] for w in turn["text"].split()]
    asr = service.transcriber if args.asr == "whisper" else StandIn(service.transcriber, words)
    call = bench.load_calls([load_call(t["dir"] / t["audio"]) for t in truths], 1, args.minutes * 60)[0][1]
    start = StartMessage("memory", None, call.sample_rate, "pcm16", 2, ("agent", "customer"))

    tracemalloc.start()
    monitor = CallMonitor(start, cfg, asr, service.lexicon, service.embedder, service.phrasing)
    rows, every, next_at, t0 = [], args.every * 60, args.every * 60, time.perf_counter()
    for raw, _ in _frames(call, 0.25, "pcm16"):
        monitor.feed(raw, decode_frame(raw, start, len(raw)))
        monitor.step()
        if monitor.stats.received >= next_at - 1e-6:
            traced, rss = traced_mb(), bench.rss_mb()
            n_words = sum(len(p.words) for t in monitor.tracks.values() for p in t.pieces)
            memo = len(getattr(service.embedder, "_memo", ()))
            rows.append({"minute": round(monitor.stats.received / 60, 1), "traced_mb": round(traced, 1),
                         "rss_mb": round(rss), "words": n_words, "memo_sentences": memo,
                         "seconds": round(time.perf_counter() - t0)})
            print(rows[-1], flush=True)
            next_at += every
    tracemalloc.reset_peak()
    monitor.finish(True)
    _, peak = tracemalloc.get_traced_memory()
    half = [r for r in rows if r["minute"] >= args.minutes / 2] or rows
    per_min = (half[-1]["traced_mb"] - half[0]["traced_mb"]) / max(half[-1]["minute"] - half[0]["minute"], 1e-9)
    report = {"minutes": args.minutes, "asr": args.asr, "checkpoints": rows,
              "traced_growth_kb_per_minute_second_half": round(per_min * 1024, 1),
              "hang_up_peak_traced_mb": round(peak / 2 ** 20, 1)}
    print(json.dumps({k: v for k, v in report.items() if k != "checkpoints"}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
