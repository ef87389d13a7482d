"""Where a live server's decoding time goes: N concurrent real-time calls for M minutes (as the
capacity part of `bench/stream.py`), with a timeline of every Whisper pass, every call's prepare and
complete step, and the CPU the process used.

    python bench/stream_passes.py --calls 4 --minutes 10 [--set stream.pass_gather=0]

Prints, per call, lag p50 / max and the second and last quarters' max and median; then how many
passes ran for how many jobs (a pass shared by several calls' jobs costs one encoder window), the
share of time with 0, 1 or 2 passes running, the pass durations and the speech they heard, the
looping stretches left for a later decode, and the process's memory in each quarter. Needs a quiet
machine: it measures wall-clock time.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import stream as bench  # noqa: E402  (bench/stream.py: the server and the replay)

EVENTS: list[tuple[str, float, float, float]] = []   # (step, start, end, speech heard by a pass)
RSS: list[float] = []                                 # the process's resident memory (MB), once a second
PASS_THREADS: dict[float, int] = {}                   # a pass's start -> the thread that ran it
# Whisper decodes: (thread, start, end, retry, audio s, the (loops, recover) flags of its pass)
DECODES: list[tuple[int, float, float, bool, float, tuple[bool, bool]]] = []
JOBS: list[tuple[float, float, bool, bool]] = []  # jobs prepared: (speech heard, of it second pass, spare, final)


def _sample_rss(stop: threading.Event) -> None:
    """Server, calls and replaying clients share this process: its RSS in each quarter of the run
    tells whether the calls' memory grows with their length."""
    while not stop.wait(1.0):
        RSS.append(bench.rss_mb())


def _timed(owner, name: str, step: str) -> None:
    inner = getattr(owner, name)

    def wrapper(*args, **kwargs):
        t0 = time.monotonic()
        out = inner(*args, **kwargs)
        heard = sum(p.heard for p in args[1]) if step == "pass" else 0.0
        if step == "prepare":
            JOBS.append((out.seconds, sum(p.heard for p in out.revision_parts), args[0].spare, out.final))
        EVENTS.append((step, t0, time.monotonic(), heard))
        if step == "pass":
            PASS_THREADS[t0] = threading.get_ident()
        return out

    setattr(owner, name, wrapper)


_FLAGS = threading.local()


def _traced_flags(transcriber_cls) -> None:
    """The flags a pass came with, for its decodes: whether a loop may be retried in it because
    one of its parts may (`loops`), and whether clear speech with no words is recovered (`recover`)."""
    inner = transcriber_cls.transcribe

    def flagged(self, *args, **kwargs):
        _FLAGS.value = (kwargs.get("loops", True), kwargs.get("recover", True))
        return inner(self, *args, **kwargs)

    transcriber_cls.transcribe = flagged


def retry_causes() -> None:
    """The retries (second decodes inside a pass) sorted by the flags of their pass."""
    by: dict[tuple[bool, bool], list] = {}
    for _, t0, t1, retry, audio, flags in DECODES:
        if retry:
            by.setdefault(flags, []).append((audio, t1 - t0))
    print("retries by the pass's flags, count / audio s / decode s: " + ", ".join(
        f"loops={lo} recover={re}: {len(rs)} / {sum(a for a, _ in rs):.0f} / {sum(t for _, t in rs):.1f}"
        for (lo, re), rs in sorted(by.items(), reverse=True)))


def _traced_decodes(transcriber_cls) -> None:
    """Every Whisper decode inside a pass (its first, a looping or unheard stretch's retry, a
    stretched word's rewrite): what makes the slowest passes slow."""
    inner = transcriber_cls._decode

    def wrapper(self, audio, retry=False):
        t0 = time.monotonic()
        out = inner(self, audio, retry)
        DECODES.append((threading.get_ident(), t0, time.monotonic(), retry, len(audio) / 16000,
                        getattr(_FLAGS, "value", (True, True))))
        return out

    transcriber_cls._decode = wrapper


def slowest(passes: list, n: int = 8) -> None:
    """The n slowest passes, each with its Whisper decodes in order: audio seconds, r = a retry
    (loop or unheard speech, no repeated 3-grams), and the decode's time."""
    for _, a, b, h in sorted(passes, key=lambda e: e[1] - e[2])[:n]:
        tid = PASS_THREADS.get(a)
        inside = [d for d in DECODES if d[0] == tid and a <= d[1] and d[2] <= b + 0.01]
        steps = " ".join(f"{'r' if r else ''}{s:.0f}s:{t1 - t0:.1f}" for _, t0, t1, r, s, _ in inside)
        print(f"  pass {b - a:.1f} s, heard {h:.0f} s: {len(inside)} decodes [{steps}]")


def big_jobs(window: float) -> None:
    """The jobs heard past one encoder window: what they held (a second-pass stretch, a call's
    hang-up) and whether their call had the decoders to itself when it prepared them."""
    big = [j for j in JOBS if j[0] > window]
    print(f"jobs past one window ({window:g} s heard): {len(big)} of {len(JOBS)}; spare {sum(j[2] for j in big)}, "
          f"with a second-pass stretch {sum(j[1] > 0 for j in big)}, final {sum(j[3] for j in big)}; heard "
          + " ".join(f"{h:.0f}{'s' if spare else ''}{'+r' + format(r, '.0f') if r else ''}"
                     for h, r, spare, _ in sorted(big, reverse=True)[:12]))


def busy_share(step: str, t0: float, t1: float) -> dict[int, float]:
    grid = np.arange(t0, t1, 0.01)
    running = np.zeros(len(grid))
    for kind, a, b, _ in EVENTS:
        if kind == step:
            running[(grid >= a) & (grid < b)] += 1
    return {k: round(float((running == k).mean()), 3) for k in range(3)}


def worst(lags: dict, t0s: dict, passes: list) -> None:
    """Each call's highest lag: when (seconds into the call), and the passes running in the 12 s
    before it (start relative to that moment, duration, speech heard)."""
    for cid, samples in lags.items():
        t, _, lag = max(samples, key=lambda s: s[2])
        at = t0s[cid] + t
        near = [f"{a - at:+.1f}+{b - a:.1f}s/{h:.0f}" for _, a, b, h in passes if at - 12 <= b and a <= at]
        print(f"  {cid}: lag max {lag:.2f} at {t:.0f} s; passes before it: {' '.join(near)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()

    import audio_pipeline.stream.monitor as monitor
    import audio_pipeline.stream.server as server
    from audio_pipeline.config import load_config, parse_overrides

    _timed(server, "transcribe_parts", "pass")
    _timed(monitor.CallMonitor, "prepare", "prepare")
    _timed(monitor.CallMonitor, "complete", "complete")
    from audio_pipeline.transcribe import WhisperTranscriber
    _traced_decodes(WhisperTranscriber)
    _traced_flags(WhisperTranscriber)
    cfg = load_config(overrides=parse_overrides(args.set))
    _, srv, base = bench.start_server(cfg, Path(tempfile.mkdtemp()))
    from audio_pipeline.stream.client import load_call

    truths = [json.loads(p.read_text()) | {"dir": p.parent} for p in sorted((ROOT / "samples").glob("*.truth.json"))]
    items = bench.load_calls([load_call(t["dir"] / t["audio"]) for t in truths], args.calls, args.minutes * 60)
    stop = threading.Event()
    threading.Thread(target=_sample_rss, args=(stop,), daemon=True).start()
    cpu0, wall0 = os.times(), time.monotonic()
    results, _, t0s, lags = asyncio.run(bench.replay(base, items, 1.0))
    cpu1, wall1 = os.times(), time.monotonic()
    stop.set()
    srv.should_exit = True
    used = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / (wall1 - wall0)
    print(f"{args.calls} calls x {args.minutes:g} min, CPU used {used:.2f} cores")
    for cid, samples in lags.items():
        ls = [lag for _, _, lag in samples]
        second, last = bench.quarters(ls)
        print(f"  {cid}: lag p50 {bench.pct(ls, 50):.2f} max {max(ls):.2f} | second quarter max "
              f"{max(second):.2f} p50 {bench.pct(second, 50):.2f} | last quarter max {max(last):.2f} "
              f"p50 {bench.pct(last, 50):.2f}")
    print(f"looping stretches left for a later decode: {sum(r.get('deferred_loops', 0) for r in results.values())}")
    passes = [e for e in EVENTS if e[0] == "pass"]
    worst(lags, t0s, passes)
    print("slowest passes:")
    slowest(passes)
    big_jobs(cfg.stream.pass_seconds)
    retry_causes()
    jobs = sum(1 for e in EVENTS if e[0] == "complete")
    t0, t1 = min(e[1] for e in EVENTS), max(e[2] for e in EVENTS)
    dur = np.array([b - a for _, a, b, _ in passes])
    heard = np.array([h for *_, h in passes])
    print(f"passes {len(passes)} for {jobs} jobs; time with 0/1/2 passes running {busy_share('pass', t0, t1)}")
    print("pass seconds p10/p50/p90/p99/max " + " / ".join(f"{np.percentile(dur, q):.2f}" for q in (10, 50, 90, 99))
          + f" / {dur.max():.2f}; speech heard p10/p50/p90 "
          + " / ".join(f"{np.percentile(heard, q):.1f}" for q in (10, 50, 90)))
    q = max(1, len(RSS) // 4)
    print("process RSS MB, max per quarter of the run: "
          + " / ".join(f"{max(RSS[i * q:(i + 1) * q] or [0]):.0f}" for i in range(4)))
    for step in ("prepare", "complete"):
        d = [b - a for kind, a, b, _ in EVENTS if kind == step]
        print(f"{step}: {len(d)}, mean {np.mean(d):.3f} s")


if __name__ == "__main__":
    main()
