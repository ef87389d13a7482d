"""Memory and time of one review of a long stereo call.

    python bench/long_call.py [--minutes 120] [--json OUT]

Builds a stereo call of --minutes (8 kHz PCM16 WAV, the labelled calls or the samples back to back,
as bench/speed.py does) and reviews it with `audio-pipeline review` in a separate process; prints
that process's peak RSS (ru_maxrss), wall time and speed in x real time. The bar: a 2-hour call
with a peak RSS ≤ 1.5 GB on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from speed import build_long_call  # noqa: E402


def review_process(path: Path, out: Path) -> tuple[float, float, str]:
    """(peak RSS MB, wall seconds, the CLI's last line) of one review in its own process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "audio_pipeline", "review", str(path), "--output-dir", str(out)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"review failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return peak, wall, (done.stdout.strip().splitlines() or [""])[-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    call = build_long_call(args.minutes, tmp / "long_call.wav")
    peak, wall, last = review_process(call, tmp / "out")
    review = json.loads(next((tmp / "out").glob("*.review.json")).read_text())
    result = {"minutes": args.minutes, "peak_rss_mb": round(peak), "wall_s": round(wall, 1),
              "x_real_time": round(args.minutes * 60 / wall, 2), "utterances": len(review["utterances"]),
              "findings": len(review["findings"]), "cores": os.cpu_count(), "machine": platform.platform()}
    print(f"{args.minutes:g}-minute stereo call: peak RSS {peak:.0f} MB, {wall:.0f} s "
          f"({result['x_real_time']}x real time) on {os.cpu_count()} cores; "
          f"{result['utterances']} utterances, {result['findings']} findings")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
