"""The GPU check in one go: bare faster-whisper (sequential and batched), our pipeline per call and
our batch with cross-call batching, side by side on the same calls, stereo and mono apart, with GPU
utilisation and memory; then the batched path's words against the sequential path's on the
labelled calls. Prints a table and writes JSON.

    python bench/gpu.py --device cuda --minutes 30 --json gpu.json          # on the GPU machine
    python bench/gpu.py --device cpu --minutes 2                            # smoke run, any machine
    options: --models tiny.en,base  --compute-type default|float16|int8_float16  --batch-size 16
             --workers 4  --mono-share 0.25  --call-minutes 5  --calls DIR

Calls: --calls DIR (stereo files), else bench/.data/calls (`make bench-data`), else samples/,
joined into calls of --call-minutes (shorter when --minutes is small); a --mono-share of them is
mixed down to one channel (diarized). Every run has its model loaded and warmed up first; times
are wall clock. The bars the GPU must clear (stereo batch ≥ 400×, mono ≥ 150× real time, GPU
busy ≥ 70 % during the batch) are checked and printed with --device cuda only.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BARS = {"batch stereo": 400.0, "batch mono": 150.0}
GPU_BUSY_BAR = 70.0
RATE = 8000  # the calls are built at telephone rate, as real recordings arrive


# ---------------------------------------------------------------------------------------------- calls

def source_files(spec: str | None) -> list[Path]:
    if spec:
        files = sorted(p for p in Path(spec).rglob("*") if p.suffix.lower() in (".wav", ".flac"))
    else:
        files = sorted((ROOT / "bench/.data/calls").glob("*.wav")) or \
            sorted(p for p in (ROOT / "samples").iterdir() if p.suffix in (".wav", ".flac"))
    files = [f for f in files if sf.info(f).channels == 2]
    if not files:
        sys.exit("no stereo calls to build from: pass --calls DIR or run `make bench-data`")
    return files


def build_calls(minutes: float, call_minutes: float, mono_share: float, out: Path,
                sources: list[Path]) -> tuple[list[Path], list[Path]]:
    """(stereo calls, mono calls) of about `call_minutes` each, `minutes` in all, each starting at
    another source file so no two calls are the same audio."""
    n = max(2, round(minutes / call_minutes))
    length = int(minutes * 60 / n * RATE)
    audio = []
    for src in sources:
        data, sr = sf.read(src, dtype="float32", always_2d=True)
        if sr != RATE:
            import soxr

            data = soxr.resample(data, sr, RATE)
        audio.append(data)
    n_mono = min(n - 1, max(1, round(n * mono_share))) if mono_share > 0 else 0
    stereo, mono = [], []
    for i in range(n):
        parts, total, k = [], 0, i
        while total < length:
            parts.append(audio[k % len(audio)])
            total += len(parts[-1])
            k += 1
        call = np.concatenate(parts)[:length]
        is_mono = i >= n - n_mono
        path = out / f"call{i:03d}_{'mono' if is_mono else 'stereo'}.wav"
        sf.write(path, call.mean(axis=1) if is_mono else call, RATE, subtype="PCM_16")
        (mono if is_mono else stereo).append(path)
    return stereo, mono


# ---------------------------------------------------------------------------------------------- GPU

class GpuSampler:
    """nvidia-smi every 200 ms in the background; `window(t0, t1)` gives the mean utilisation and
    the peak memory inside a run. Without nvidia-smi every figure is None."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float, float]] = []
        self.proc = None
        if shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits",
                 "-lms", "200"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                util, mem = (float(x) for x in line.strip().split(",")[:2])
            except ValueError:
                continue
            self.samples.append((time.perf_counter(), util, mem))

    def window(self, t0: float, t1: float) -> tuple[float | None, float | None]:
        inside = [(u, m) for t, u, m in self.samples if t0 <= t <= t1]
        if not inside:
            return None, None
        return float(np.mean([u for u, _ in inside])), max(m for _, m in inside)

    def close(self) -> None:
        if self.proc:
            self.proc.terminate()


def gpu_info() -> str:
    if not shutil.which("nvidia-smi"):
        return "no GPU (nvidia-smi absent)"
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()


# ---------------------------------------------------------------------------------------------- runs

@dataclass
class Row:
    model: str
    run: str
    calls: int
    audio_seconds: float
    wall_seconds: float
    gpu_util_mean: float | None = None
    gpu_mem_peak_mib: float | None = None
    startup_seconds: float = 0.0
    note: str = ""

    @property
    def x_realtime(self) -> float:
        return self.audio_seconds / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def steady_x_realtime(self) -> float:
        """Without the batch's own start-up (model load): what a night of thousands of calls sees."""
        busy = self.wall_seconds - self.startup_seconds
        return self.audio_seconds / busy if busy > 0 else 0.0


def duration(path: Path) -> float:
    return sf.info(path).duration


def timed(sampler: GpuSampler, rows: list[Row], model: str, run: str, calls: list[Path], work, note: str = "") -> None:
    if not calls:
        return
    t0 = time.perf_counter()
    startup = work(calls) or 0.0
    t1 = time.perf_counter()
    util, mem = sampler.window(t0 + startup, t1)
    rows.append(Row(model, run, len(calls), sum(map(duration, calls)), t1 - t0, util, mem, startup, note))
    print(f"  {model:<8} {run:<22} {rows[-1].x_realtime:8.1f}x real time", flush=True)


def tracks(path: Path) -> list[np.ndarray]:
    """What a bare faster-whisper user decodes: each channel of a stereo call, the mono call as is."""
    from faster_whisper import decode_audio

    info = sf.info(path)
    if info.channels == 2:
        return list(decode_audio(str(path), split_stereo=True))
    return [decode_audio(str(path))]


def bare_sequential(model, cfg):
    def work(calls):
        o = cfg.asr
        for path in calls:
            for track in tracks(path):
                segments, _ = model.transcribe(track, language=o.language, beam_size=o.beam_size, temperature=0.0,
                                               word_timestamps=True, condition_on_previous_text=False,
                                               vad_filter=True)
                list(segments)
    return work


def bare_batched(model, cfg, batch_size: int):
    from faster_whisper import BatchedInferencePipeline

    pipeline = BatchedInferencePipeline(model)

    def work(calls):
        for path in calls:
            for track in tracks(path):
                segments, _ = pipeline.transcribe(track, language=cfg.asr.language, beam_size=cfg.asr.beam_size,
                                                  temperature=0.0, word_timestamps=True, batch_size=batch_size)
                list(segments)
    return work


def per_call(reviewer):
    def work(calls):
        for path in calls:
            reviewer.review(path)
    return work


def our_batch(cfg, device: str, workers: int, tmp: Path):
    from audio_pipeline.batch import BatchRequest, run_batch

    def work(calls):
        folder = Path(tempfile.mkdtemp(dir=tmp))
        for c in calls:
            (folder / c.name).symlink_to(c)
        summary = run_batch(BatchRequest(source=str(folder), db=folder / "r.sqlite", engine="shared",
                                         workers=workers, device=device), cfg)
        if summary.failed or summary.reviewed != len(calls):
            raise SystemExit(f"batch: {summary.reviewed}/{len(calls)} reviewed; {summary.failed[:2]}")
        return summary.startup_seconds
    return work


# ---------------------------------------------------------------------------------------------- parity

def parity(cfg, device: str, everything: bool) -> dict:
    """WER against the truth of the sequential and the batched path (and of each against the other)
    on the labelled calls: samples/ and, with `everything`, bench/.data/calls when present."""
    import jiwer

    from audio_pipeline.asr_batched import make_transcriber
    from audio_pipeline.evaluation import normalise_text
    from audio_pipeline.export import review_to_dict
    from audio_pipeline.pipeline import Reviewer
    from audio_pipeline.types import UNHEARD

    truths = sorted((ROOT / "samples").glob("*.truth.json"))
    if everything:
        truths += sorted((ROOT / "bench/.data/calls").glob("*.truth.json"))
    reviewers = {k: Reviewer(cfg, transcriber=make_transcriber(replace(cfg.asr, decoder=k), device))
                 for k in ("sequential", "batched")}
    refs, hyps = [], {k: [] for k in reviewers}
    for tp in truths:
        truth = json.loads(tp.read_text())
        reviews = {k: review_to_dict(r.review(tp.parent / truth["audio"])) for k, r in reviewers.items()}
        for role in ("agent", "customer"):
            refs.append(normalise_text(" ".join(t["text"] for t in truth["turns"] if t["speaker"] == role)))
            for k, review in reviews.items():
                hyps[k].append(normalise_text(" ".join(w["text"] for u in review["utterances"] if u["speaker"] == role
                                                       for w in u["words"] if w["text"] != UNHEARD)))
    wer = {k: jiwer.wer(refs, h) for k, h in hyps.items()}
    return {"calls": len(truths), "words": sum(len(r.split()) for r in refs), "wer_sequential": wer["sequential"],
            "wer_batched": wer["batched"], "difference": wer["batched"] - wer["sequential"],
            "batched_vs_sequential": jiwer.wer(hyps["sequential"], hyps["batched"])}


# ---------------------------------------------------------------------------------------------- main

def run_model(model_name: str, args, stereo: list[Path], mono: list[Path], sampler: GpuSampler, tmp: Path) -> tuple[list[Row], dict]:
    from faster_whisper import WhisperModel

    from audio_pipeline.config import load_config
    from audio_pipeline.device import warm_up
    from audio_pipeline.models import find_whisper
    from audio_pipeline.pipeline import Reviewer

    cfg = load_config(None, {"asr.model": model_name, "asr.compute_type": args.compute_type,
                             "asr.batch_size": args.batch_size})
    reviewer = Reviewer(cfg, device=args.device)
    if reviewer.device != args.device:
        sys.exit(f"asked for {args.device}, the pipeline loaded on {reviewer.device}: see the warning above; no figures")
    compute = reviewer.transcriber.compute_type
    bare = WhisperModel(str(find_whisper(model_name)), device=args.device, compute_type=compute)
    warm_up(bare)
    reviewer.review(stereo[0])  # first call pays VAD/ONNX start-up and kernel loading
    if mono:
        reviewer.review(mono[0])  # and the diarizer's load
    rows: list[Row] = []
    for kind, calls in (("stereo", stereo), ("mono", mono)):
        timed(sampler, rows, model_name, f"bare sequential {kind}", calls, bare_sequential(bare, cfg))
        timed(sampler, rows, model_name, f"bare batched {kind}", calls, bare_batched(bare, cfg, args.batch_size),
              "no diarization" if kind == "mono" else "")
        timed(sampler, rows, model_name, f"per call {kind}", calls, per_call(reviewer),
              f"decoder {type(reviewer.transcriber).__name__}")
        timed(sampler, rows, model_name, f"batch {kind}", calls, our_batch(cfg, args.device, args.workers, tmp),
              f"shared engine, {args.workers} workers")
    print(f"  {model_name}: parity on the labelled calls …", flush=True)
    return rows, {"model": model_name, "compute_type": compute, **parity(cfg, args.device, args.parity == "all")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--call-minutes", type=float, default=5.0)
    ap.add_argument("--mono-share", type=float, default=0.25)
    ap.add_argument("--models", default="tiny.en")
    ap.add_argument("--compute-type", default="default")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--calls")
    ap.add_argument("--parity", choices=("samples", "all"), default="all",
                    help="labelled calls for the WER parity: samples/ only, or also bench/.data/calls")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import ctranslate2
    import faster_whisper

    tmp = Path(tempfile.mkdtemp(prefix="gpu-bench-"))
    call_minutes = min(args.call_minutes, args.minutes / 2)
    stereo, mono = build_calls(args.minutes, call_minutes, args.mono_share, tmp, source_files(args.calls))
    machine = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "device": args.device,
               "gpu": gpu_info(), "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "python": platform.python_version(), "ctranslate2": ctranslate2.__version__,
               "faster_whisper": faster_whisper.__version__, "load_average_start": os.getloadavg()[0]}
    print(f"{machine['date']}  {machine['gpu']}; {machine['cpu']}; python {machine['python']}; "
          f"ctranslate2 {machine['ctranslate2']}; load average {machine['load_average_start']:.1f}")
    print(f"{len(stereo)} stereo + {len(mono)} mono calls, {sum(map(duration, stereo + mono)) / 60:.1f} min in all",
          flush=True)
    sampler = GpuSampler()
    rows, parities = [], []
    try:
        for model_name in args.models.split(","):
            r, p = run_model(model_name, args, stereo, mono, sampler, tmp)
            rows += r
            parities.append(p)
    finally:
        sampler.close()
    machine["load_average_end"] = os.getloadavg()[0]
    report(rows, parities, args, machine)
    shutil.rmtree(tmp, ignore_errors=True)


def report(rows: list[Row], parities: list[dict], args, machine: dict) -> None:
    def fmt(v: float | None, spec: str) -> str:
        width = spec.split(".")[0]
        return format("-", ">" + width) if v is None else format(v, spec)

    head = f"{'model':<9}{'run':<24}{'calls':>6}{'audio min':>10}{'wall s':>9}{'start s':>8}{'x real time':>12}" \
           f"{'steady x':>10}{'GPU %':>7}{'GPU MiB':>9}  note"
    print("\n" + head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r.model:<9}{r.run:<24}{r.calls:>6}{r.audio_seconds / 60:>10.1f}{r.wall_seconds:>9.1f}"
              f"{r.startup_seconds:>8.1f}{r.x_realtime:>12.1f}{r.steady_x_realtime:>10.1f}"
              f"{fmt(r.gpu_util_mean, '7.0f')}{fmt(r.gpu_mem_peak_mib, '9.0f')}  {r.note}")
    print("\nbatched vs sequential decoding on the labelled calls (WER against the truth):")
    for p in parities:
        print(f"  {p['model']} {p['compute_type']}: {p['calls']} calls, {p['words']} words; sequential "
              f"{p['wer_sequential']:.4f}, batched {p['wer_batched']:.4f}, difference {p['difference']:+.4f} "
              f"(bar |d| <= 0.01), batched against sequential {p['batched_vs_sequential']:.4f}")
    bars = []
    if args.device.startswith("cuda"):
        for r in rows:
            want = BARS.get(r.run)
            if want is not None and r.model == "tiny.en":
                bars.append((f"{r.run} >= {want:g}x (steady)", r.steady_x_realtime >= want,
                             f"{r.steady_x_realtime:.1f}x (with start-up {r.x_realtime:.1f}x)"))
            if r.run.startswith("batch ") and r.model == "tiny.en":
                ok = r.gpu_util_mean is not None and r.gpu_util_mean >= GPU_BUSY_BAR
                bars.append((f"GPU busy during {r.run} >= {GPU_BUSY_BAR:g} %", ok, fmt(r.gpu_util_mean, ".0f")))
        bars += [(f"{p['model']} batched WER within 0.01 of sequential", abs(p["difference"]) <= 0.01,
                  f"{p['difference']:+.4f}") for p in parities]
        print("\nbars:")
        for name, ok, value in bars:
            print(f"  {'PASS' if ok else 'FAIL'}  {name}: {value}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "args": vars(args) | {"json": str(args.json)},
                                         "rows": [asdict(r) | {"x_realtime": r.x_realtime, "steady_x_realtime": r.steady_x_realtime}
                                                  for r in rows],
                                         "parity": parities,
                                         "bars": [{"bar": n, "pass": ok, "value": v} for n, ok, v in bars]},
                                        indent=2))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
