"""Whole-channel signal work in bounded memory.

A 2-hour stereo call at 16 kHz is 230 million samples: one float64 copy of it is 1.8 GB, and an FFT
of a whole channel needs several. Up to `LONG` seconds a channel is processed whole, as before; a
longer one a block of `BLOCK` seconds at a time, each block converted to float on its own, so the
peak is the stored audio plus a few blocks whatever the call's length. Long audio is stored as
float16 (audio.py): its ~66 dB of precision is far beyond any telephone line's.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

LONG = 10 * 60.0   # seconds: longer channels are processed block by block
BLOCK = 60.0       # seconds per block
Spans = list[tuple[float, float]]


def is_long(samples: np.ndarray, sample_rate: int) -> bool:
    return len(samples) > LONG * sample_rate


def windows(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def block_size(samples: np.ndarray, sample_rate: int) -> int:
    return len(samples) if not is_long(samples, sample_rate) else int(BLOCK * sample_rate)


def mean_square(samples: np.ndarray, sample_rate: int) -> float:
    """Mean of x², accumulated in float64 a block at a time."""
    total = 0.0
    for a, b in windows(len(samples), block_size(samples, sample_rate)):
        x = samples[a:b].astype(np.float64)
        total += float(np.dot(x, x))
    return total / max(len(samples), 1)


def correlation(x: np.ndarray, y: np.ndarray, sample_rate: int) -> float:
    """Pearson correlation of two equally long signals, from block-wise sums."""
    n = min(len(x), len(y))
    sx = sy = sxx = syy = sxy = 0.0
    for a, b in windows(n, block_size(x[:n], sample_rate)):
        u, v = x[a:b].astype(np.float64), y[a:b].astype(np.float64)
        sx, sy = sx + float(u.sum()), sy + float(v.sum())
        sxx, syy, sxy = sxx + float(np.dot(u, u)), syy + float(np.dot(v, v)), sxy + float(np.dot(u, v))
    cov, vx, vy = sxy - sx * sy / n, sxx - sx * sx / n, syy - sy * sy / n
    return cov / np.sqrt(vx * vy) if vx > 0 and vy > 0 else 0.0


def mapped(samples: np.ndarray, sample_rate: int, fn: Callable[[np.ndarray], np.ndarray],
           pad: float = 1.0) -> Iterator[np.ndarray]:
    """fn over the signal, block by block (each block padded by `pad` s of its neighbours either
    side and trimmed back, so a filter's edge effects stay out of the kept part); a short signal
    is one call of fn on all of it."""
    size = block_size(samples, sample_rate)
    if size >= len(samples):
        yield fn(samples.astype(np.float32, copy=False))
        return
    p = int(pad * sample_rate)
    for a, b in windows(len(samples), size):
        lo, hi = max(0, a - p), min(len(samples), b + p)
        yield fn(samples[lo:hi].astype(np.float32))[a - lo:a - lo + (b - a)]


def spans(samples: np.ndarray, sample_rate: int, fn: Callable[[np.ndarray], Spans], join: float = 0.1,
          prepare: Callable[[np.ndarray], np.ndarray] | None = None) -> Spans:
    """fn (float32 audio -> spans in seconds) over the signal block by block, spans in call time;
    a span cut by a block's edge is joined back (pieces ≤ `join` s apart across an edge).
    `prepare` (a filter) runs on each block as `mapped` runs it, edges padded."""
    size = block_size(samples, sample_rate)
    parts = mapped(samples, sample_rate, prepare) if prepare else (
        samples[a:b].astype(np.float32, copy=False) for a, b in windows(len(samples), size))
    out: Spans = []
    for (a, _), x in zip(windows(len(samples), size), parts):
        t0 = a / sample_rate
        for s, e in fn(x):
            s, e = s + t0, e + t0
            if a and out and abs(out[-1][1] - t0) <= join and abs(s - t0) <= join:
                out[-1] = (out[-1][0], e)
            else:
                out.append((s, e))
    return out


def _glibc():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to hand back
        return None


def release_free_memory() -> None:
    """Hand freed heap memory back to the OS (the decoder threads' arenas keep a long call's
    transient arrays until told)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
