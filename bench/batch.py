"""Batch throughput: calls per hour and × real time, local process pool vs Ray, 1 and 2 workers,
on the same calls, each configuration from an empty store; then what a nightly 10,000 five-minute
calls would need (CPU nodes vs GPU nodes) from the measured figures.

    python bench/batch.py [--calls DIR|GLOB] [--limit 8] [--workers 1,2] [--engines local,ray]
                          [--window-hours 8] [--json results.json]

Calls: bench/.data/calls (`make bench-data`), else samples/. Every configuration runs the real
`audio_pipeline.batch.run_batch` (models loaded once per worker, results written to a SQLite store),
so start-up (pool spawn or `ray.init` + actors loading tiny.en) is part of the wall time; the
"steady" column leaves it out. The local 1-worker run also times Whisper alone, to split a review
into ASR (what a GPU takes over) and the rest (decode, analysis, empathy: stays on CPU).
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio_pipeline.batch import BatchRequest, cpu_cores, default_reviewer, run_batch  # noqa: E402
from audio_pipeline.config import load_config  # noqa: E402

AUDIO_EXTS = (".wav", ".flac", ".ogg", ".mp3")
# DESIGN §5, measured on an H100: tiny.en fp16, BatchedInferencePipeline batch 16, 600 s call
GPU_ASR_X_REALTIME = 244.0
NIGHT_CALLS, CALL_MINUTES = 10_000, 5.0


# -- timing Whisper inside the in-process run -------------------------------------------------

ASR_SECONDS = [0.0]


class _TimedTranscriber:
    """The Reviewer's transcriber, with the time of every transcribe* call added to ASR_SECONDS."""

    def __init__(self, inner):
        self._inner = inner

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not (callable(attr) and name.startswith("transcribe")):
            return attr

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                ASR_SECONDS[0] += time.perf_counter() - started
        return timed


def timed_reviewer(cfg, device):
    reviewer = default_reviewer(cfg, device)
    reviewer.transcriber = _TimedTranscriber(reviewer.transcriber)
    return reviewer


# -- runs ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Result:
    engine: str
    workers: int
    calls: int
    audio_seconds: float
    wall_seconds: float
    startup_seconds: float
    asr_seconds: float | None = None

    @property
    def x_realtime(self) -> float:
        return self.audio_seconds / self.wall_seconds

    @property
    def steady_x_realtime(self) -> float:
        return self.audio_seconds / max(self.wall_seconds - self.startup_seconds, 1e-9)

    @property
    def calls_per_hour(self) -> float:
        return self.calls / self.wall_seconds * 3600


def find_calls(spec: str | None, limit: int) -> list[Path]:
    if spec:
        p = Path(spec)
        found = sorted(p.rglob("*")) if p.is_dir() else sorted(map(Path, glob.glob(spec, recursive=True)))
    else:
        found = sorted((ROOT / "bench/.data/calls").glob("*")) or sorted((ROOT / "samples").glob("*"))
    calls = [f for f in found if f.suffix.lower() in AUDIO_EXTS]
    if not calls:
        sys.exit("no calls: run `make bench-data`, or pass --calls DIR")
    return calls[:limit] if limit else calls


def run_one(calls: list[Path], engine: str, workers: int) -> Result:
    cfg = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "calls"
        src.mkdir()
        for c in calls:  # links: the batch sees exactly this set
            (src / c.name).symlink_to(c.resolve())
        ASR_SECONDS[0] = 0.0
        timed = engine == "local" and workers == 1
        summary = run_batch(BatchRequest(source=str(src), db=Path(tmp) / "r.sqlite", engine=engine, workers=workers,
                                         device="cpu"), cfg, factory=timed_reviewer if timed else None)
    if summary.failed or summary.reviewed != len(calls):
        sys.exit(f"{engine}x{workers}: {summary.reviewed}/{len(calls)} reviewed; failures: {summary.failed[:3]}")
    return Result(engine, summary.workers, summary.reviewed, summary.audio_seconds, summary.wall_seconds,
                  summary.startup_seconds, ASR_SECONDS[0] if timed else None)


# -- sizing --------------------------------------------------------------------------------------

def sizing(results: list[Result], window_hours: float) -> list[str]:
    audio_hours = NIGHT_CALLS * CALL_MINUTES / 60
    best = max(results, key=lambda r: r.steady_x_realtime)
    cores = cpu_cores()
    # the measured run had the whole machine (a 1-worker CTranslate2 already uses several threads)
    per_core = best.steady_x_realtime / cores
    lines = [f"Nightly load: {NIGHT_CALLS:,} calls x {CALL_MINUTES:g} min = {audio_hours:,.0f} h of audio, "
             f"window {window_hours:g} h.",
             f"CPU: best here {best.engine} x{best.workers} at {best.steady_x_realtime:.1f}x real time on {cores} "
             f"cores = {per_core:.1f}x per core (linear scaling with cores assumed)."]
    for node_cores in (2, 16, 32):
        node_x = per_core * node_cores
        node_hours = audio_hours / node_x
        lines.append(f"  {node_cores:>2}-core node: {node_x:6.1f}x real time -> {node_hours:7.1f} node-hours; "
                     f"{math.ceil(node_hours / window_hours)} node(s) for a {window_hours:g} h window")
    one = next((r for r in results if r.asr_seconds is not None), None)
    if one is not None:
        review_seconds = one.wall_seconds - one.startup_seconds
        asr_share = one.asr_seconds / review_seconds
        # per audio second: core-seconds outside Whisper (decode, analysis, empathy embeddings),
        # counting every core of this machine as busy (conservative)
        cpu_rest = (review_seconds - one.asr_seconds) / one.audio_seconds * cores
        # stereo: both channels go through Whisper, so ASR input = 2 x call length (VAD skips silence)
        gpu_hours = audio_hours * 2 / GPU_ASR_X_REALTIME
        cpu_core_hours = audio_hours * cpu_rest
        lines += [f"GPU: Whisper was {asr_share:.0%} of a review here (1 worker, CPU int8); the rest costs "
                  f"{cpu_rest * 3600:.0f} core-seconds per audio hour and stays on CPU.",
                  f"  ASR at {GPU_ASR_X_REALTIME:g}x real time per H100 (DESIGN §5, tiny.en batched), 2 channels "
                  f"per call: {gpu_hours:.1f} GPU-hours -> {math.ceil(gpu_hours / window_hours)} GPU(s) for a "
                  f"{window_hours:g} h window ({gpu_hours / window_hours:.2f} of a GPU busy; 4 actors per GPU "
                  f"at num_gpus=0.25).",
                  f"  the non-ASR part needs {cpu_core_hours:.1f} core-hours -> "
                  f"{math.ceil(cpu_core_hours / window_hours)} core(s) alongside "
                  f"(a 16-core GPU node does it in {cpu_core_hours / 16 * 60:.0f} min)."]
    return lines


def table(results: list[Result]) -> list[str]:
    head = f"{'engine':<7}{'workers':>8}{'calls':>7}{'audio min':>10}{'wall s':>8}{'start-up s':>11}" \
           f"{'x real time':>12}{'steady x':>10}{'calls/hour':>11}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(f"{r.engine:<7}{r.workers:>8}{r.calls:>7}{r.audio_seconds / 60:>10.1f}{r.wall_seconds:>8.1f}"
                    f"{r.startup_seconds:>11.1f}{r.x_realtime:>12.1f}{r.steady_x_realtime:>10.1f}"
                    f"{r.calls_per_hour:>11.0f}")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls")
    ap.add_argument("--limit", type=int, default=8, help="first N calls (0 = all)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--engines", default="local,ray")
    ap.add_argument("--window-hours", type=float, default=8.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    calls = find_calls(args.calls, args.limit)
    print(f"{len(calls)} calls from {calls[0].parent}; {platform.processor() or platform.machine()}, "
          f"{cpu_cores()} cores, load average {os.getloadavg()[0]:.1f} at start", flush=True)
    results = []
    for workers in (int(w) for w in args.workers.split(",")):
        for engine in args.engines.split(","):
            results.append(run_one(calls, engine, workers))
            print(f"  {engine} x{workers}: {results[-1].x_realtime:.1f}x real time", flush=True)
    print(f"(load average {os.getloadavg()[0]:.1f} at end: other work on the machine slows every figure)")
    print("\n".join(["", *table(results), "", *sizing(results, args.window_hours)]))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) | {"x_realtime": r.x_realtime, "steady_x_realtime": r.steady_x_realtime,
                                                       "calls_per_hour": r.calls_per_hour} for r in results], indent=2))


if __name__ == "__main__":
    main()
