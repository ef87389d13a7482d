"""Which device each model runs on, with a fall back to the CPU when CUDA cannot be used.

`--device cuda` (or `auto` on a machine whose CTranslate2 sees a GPU) can still fail late: the
driver is there but cuBLAS/cuDNN is not, or torch is a CPU build. A review must not die of that:
Whisper is loaded on the GPU and run once on a second of silence (the first GEMM is where a
missing libcublas shows), and on any failure it is loaded on the CPU instead, with ONE warning
line saying why. Diarization follows Whisper's device, so a call never logs a second line;
`torch_device` only covers a CUDA Whisper with a CPU-only torch.
"""
from __future__ import annotations

import functools
import logging
from typing import Any

import numpy as np

from .config import AsrOptions

log = logging.getLogger(__name__)
GPU_COMPUTE_TYPES = ("float16", "int8_float16", "bfloat16", "int8_bfloat16")


def fallback_message(requested: str, reason: str) -> str:
    return f"CUDA requested ({requested}) but not usable: {reason}; running on CPU (int8) instead"


def cuda_problem() -> str | None:
    """Why CTranslate2 cannot use a GPU here, or None when it sees one."""
    try:
        import ctranslate2

        count = ctranslate2.get_cuda_device_count()
    except Exception as exc:  # a broken CUDA runtime must not stop a CPU review
        return f"ctranslate2 cannot query CUDA ({_one_line(exc)})"
    return None if count > 0 else "ctranslate2 sees no CUDA device"


def cpu_compute_type(compute_type: str) -> str:
    """A GPU compute type has no efficient CPU kernel: the CPU default (int8) replaces it."""
    return "default" if compute_type in GPU_COMPUTE_TYPES else compute_type


def warm_up(model: Any) -> None:
    """Decode one second of silence: on CUDA the first encoder pass loads cuBLAS (and pays the
    one-off kernel start-up, ~15 s on an H100, here rather than inside the first call)."""
    segments, _ = model.transcribe(np.zeros(16000, dtype=np.float32), language="en", beam_size=1,
                                   vad_filter=False, without_timestamps=True)
    list(segments)


def load_transcriber(opts: AsrOptions, device: str = "auto", compute_type: str | None = None,
                     factory: Any = None) -> Any:
    """The Whisper transcriber on the device asked for, or on the CPU when CUDA fails (one warning).

    `factory(opts, device, compute_type)` builds it (default: the sequential or batched transcriber
    that `opts.decoder` selects, asr_batched.make_transcriber)."""
    from .models import ModelNotFound
    from .transcribe import resolve_device

    if factory is None:
        from .asr_batched import make_transcriber as factory
    want = resolve_device(device)
    if not want.startswith("cuda"):
        return factory(opts, want, compute_type)
    reason = cuda_problem()
    if reason is None:
        try:
            transcriber = factory(opts, want, compute_type)
            warm_up(transcriber.model)
            return transcriber
        except ModelNotFound:
            raise
        except Exception as exc:  # missing libcublas/cudnn, out of memory, a driver too old, …
            reason = _one_line(exc)
    log.warning(fallback_message(device, reason))
    return factory(opts, "cpu", cpu_compute_type(compute_type or opts.compute_type))


@functools.cache
def torch_device(device: str) -> str:
    """The device for torch models (diarization, speaker embeddings): `device`, or "cpu" with one
    warning when torch itself cannot use CUDA (a CPU-only torch beside a CUDA CTranslate2)."""
    if not device.startswith("cuda"):
        return device
    try:
        import torch

        if torch.cuda.is_available():
            return device
        reason = "torch sees no CUDA device"
    except Exception as exc:
        reason = f"torch cannot be imported ({_one_line(exc)})"
    log.warning("diarization: %s; running it on CPU", reason)
    return "cpu"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
