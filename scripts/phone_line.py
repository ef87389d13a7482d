#!/usr/bin/env python
"""Put a clean two-channel call through a bad telephone line.

    python scripts/phone_line.py CLEAN.wav OUT.wav [--seed S] [--snr 25] [--echo -18] [--codec ulaw]

What a contact-centre recorder really delivers: each party's far end leaks back as a delayed echo,
the line adds hiss and mains hum, the band is 300-3400 Hz, the rate 8 kHz, the samples G.711
companded (μ-law or A-law), and a few packets drop out; a caller on a mobile comes through
an AMR-NB leg first. The degradations know nothing of the
analysis code: they are signal processing on the channels, driven by a seeded generator.
"""
from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LINE_SR = 8000


@dataclass(frozen=True)
class Line:
    """One line's impairments. `echo_db` is the echo's level relative to the far end's speech."""

    snr_db: float = 25.0
    echo_db: float | None = -18.0
    echo_delay: tuple[float, float] = (0.03, 0.12)
    hum_db: float | None = -45.0      # dBFS of the 50 Hz hum (with its 2nd and 3rd harmonics)
    hum_hz: float = 50.0
    codec: str = "ulaw"               # ulaw | alaw | pcm
    dropouts: int = 0                 # 20-60 ms packet losses per minute
    gain_db: tuple[float, float] = (0.0, 0.0)  # level change per channel (parties at different levels)
    mobile_kbps: float | None = None  # the customer calls from a mobile: an AMR-NB leg at this rate (4.75-12.2)


def band_limit(x: np.ndarray, sr: int, lo: float = 300.0, hi: float = 3400.0) -> np.ndarray:
    from scipy.signal import butter, sosfiltfilt

    sos = butter(4, [lo, min(hi, 0.45 * sr)], btype="bandpass", fs=sr, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


def resample(x: np.ndarray, sr: int, target: int) -> np.ndarray:
    import soxr

    return x if sr == target else soxr.resample(x, sr, target).astype(np.float32)


def active_rms(x: np.ndarray, sr: int) -> float:
    """RMS over the loud half of 20 ms frames: the speech level, whatever the share of silence."""
    hop = int(0.02 * sr)
    n = len(x) // hop
    if n == 0:
        return 0.0
    e = np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1)
    top = np.sort(e)[n // 2:]
    return float(np.sqrt(np.mean(top)))


def g711(x: np.ndarray, codec: str) -> np.ndarray:
    """An 8-bit G.711 round trip through libsndfile's own encoder."""
    import soundfile as sf

    if codec == "pcm":
        return x
    buf = io.BytesIO()
    sf.write(buf, np.clip(x, -1, 1), LINE_SR, subtype={"ulaw": "ULAW", "alaw": "ALAW"}[codec], format="WAV")
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32")
    return y


AMR_DELAY = 40   # samples at 8 kHz the AMR-NB encoder and decoder delay the signal (measured)


def amr_nb(x: np.ndarray, kbps: float) -> np.ndarray:
    """An AMR-NB round trip (the mobile network's narrow-band codec; PyAV's libopencore encoder),
    its delay taken off so the truth times still hold."""
    import av

    buf = io.BytesIO()
    pcm = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    pcm = np.pad(pcm, (0, -len(pcm) % 160 + 160))
    with av.open(buf, "w", format="amr") as out:
        stream = out.add_stream("libopencore_amrnb", rate=LINE_SR)
        stream.bit_rate, stream.layout = int(kbps * 1000), "mono"
        for s in range(0, len(pcm), 160):
            frame = av.AudioFrame.from_ndarray(pcm[None, s:s + 160], format="s16", layout="mono")
            frame.sample_rate = LINE_SR
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    buf.seek(0)
    with av.open(buf, "r", format="amr") as inp:
        y = np.concatenate([f.to_ndarray().reshape(-1) for f in inp.decode(audio=0)]).astype(np.float32)
    return y[AMR_DELAY:AMR_DELAY + len(x)]


def degrade(channels: np.ndarray, sr: int, line: Line, rng: np.random.Generator) -> np.ndarray:
    """(2, n) clean channels at `sr` → (2, m) float32 at 8 kHz through the line."""
    x = np.stack([resample(c.astype(np.float32), sr, LINE_SR) for c in channels])
    if line.mobile_kbps is not None:
        x[1] = amr_nb(x[1], line.mobile_kbps)
    x = np.stack([band_limit(c, LINE_SR) * 10 ** (g / 20) for c, g in zip(x, line.gain_db)])
    out = x.copy()
    if line.echo_db is not None:
        for c in (0, 1):
            far = x[1 - c]
            d = int(rng.uniform(*line.echo_delay) * LINE_SR)
            gain = 10 ** (line.echo_db / 20)
            out[c, d:] += gain * far[: len(far) - d]
    n = out.shape[1]
    t = np.arange(n) / LINE_SR
    for c in (0, 1):
        level = active_rms(x[c], LINE_SR)
        hiss = band_limit(rng.standard_normal(n).astype(np.float32), LINE_SR)
        out[c] += hiss * level / 10 ** (line.snr_db / 20) / (np.sqrt(np.mean(hiss ** 2)) + 1e-12)
        if line.hum_db is not None:
            amp = 10 ** (line.hum_db / 20) * np.sqrt(2)
            phase = rng.uniform(0, 2 * np.pi)
            out[c] += amp * (np.sin(2 * np.pi * line.hum_hz * t + phase)
                             + 0.5 * np.sin(4 * np.pi * line.hum_hz * t) + 0.3 * np.sin(6 * np.pi * line.hum_hz * t))
        for _ in range(int(line.dropouts * n / LINE_SR / 60)):
            a = int(rng.uniform(0, n - 0.1 * LINE_SR))
            out[c, a:a + int(rng.uniform(0.02, 0.06) * LINE_SR)] = 0.0
    peak = float(np.max(np.abs(out)))
    if peak > 0.97:
        out *= 0.97 / peak
    return np.stack([g711(c, line.codec) for c in out]).astype(np.float32)


def degrade_file(src: Path, dst: Path, line: Line, seed: int = 0) -> Path:
    import soundfile as sf

    data, sr = sf.read(str(src), dtype="float32", always_2d=True)
    if data.shape[1] != 2:
        raise SystemExit(f"{src}: expected two channels, found {data.shape[1]}")
    out = degrade(data.T, sr, line, np.random.default_rng(seed))
    subtype = {"ulaw": "ULAW", "alaw": "ALAW", "pcm": "PCM_16"}[line.codec]
    sf.write(str(dst), out.T, LINE_SR, subtype=subtype, format="WAV")
    return dst


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--snr", type=float, default=25.0)
    ap.add_argument("--echo", type=float, default=-18.0)
    ap.add_argument("--hum", type=float, default=-45.0)
    ap.add_argument("--codec", choices=("ulaw", "alaw", "pcm"), default="ulaw")
    ap.add_argument("--dropouts", type=int, default=0)
    a = ap.parse_args(argv)
    degrade_file(a.src, a.dst, Line(a.snr, a.echo, hum_db=a.hum, codec=a.codec, dropouts=a.dropouts), a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
