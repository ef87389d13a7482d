"""Where the recording carries speech, decided from the signal alone (never from the ASR's words).

Silence findings (`dead_air`, `slow_response`) are claims about the signal: nobody spoke. Words only
show where the ASR heard something, and on a noisy line it can miss a whole turn. So the analysis
gets the speech regions of every channel (stereo: both parties; mono: the mix) from a voice-activity
detector run on the telephone band, and a silence counts only where no channel carries speech.

The detector is Silero (the ONNX model faster-whisper ships) on 300-3400 Hz band-limited audio: the
band removes mains hum and low rumble, which an energy detector mistakes for speech and which push
Silero's probabilities around. Echo of the other party does not matter here: it only exists while
that party speaks, which is speech anyway.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from . import blocks
from .analysis import timeline
from .analysis.timeline import Span
from .config import ActivityOptions


def band_limit(samples: np.ndarray, sample_rate: int, low: float, high: float) -> np.ndarray:
    """Zero-phase band-pass in the frequency domain (no time shift, so region edges stay where the
    speech is), with raised-cosine edges a quarter of `low` wide. numpy only: the stereo path must
    not depend on scipy/torch imports."""
    n = len(samples)
    if n < 64:
        return samples.astype(np.float32)
    gain = band_gain(n, sample_rate, low, high)
    return np.fft.irfft(np.fft.rfft(samples.astype(np.float64)) * gain, n).astype(np.float32)


def band_gain(n: int, sample_rate: int, low: float, high: float) -> np.ndarray:
    """band_limit's gain on the bins of an n-point real FFT."""
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    width = max(low / 4.0, 10.0)
    high = min(high, 0.45 * sample_rate)
    gain = np.clip((f - (low - width)) / width, 0.0, 1.0) * np.clip(((high + width) - f) / width, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * gain)


def silero_spans(samples: np.ndarray, sample_rate: int, threshold: float, min_speech: float,
                 min_silence: float) -> list[Span]:
    """Silero's speech regions in seconds, unpadded: a silence is measured between real speech."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(threshold=threshold, min_speech_duration_ms=int(min_speech * 1000),
                      min_silence_duration_ms=int(min_silence * 1000), speech_pad_ms=0)
    return [(c["start"] / sample_rate, c["end"] / sample_rate)
            for c in get_speech_timestamps(samples, opts, sampling_rate=sample_rate)]


def band_db(samples: np.ndarray, sample_rate: int, low: float, high: float) -> np.ndarray:
    """10 ms frame levels (dBFS) of the band-limited channel, block by block on a long call."""
    from .transcribe import frame_db

    if not len(samples):
        return np.zeros(0)
    return np.concatenate([frame_db(x, sample_rate) for x in blocks.mapped(
        samples, sample_rate, lambda x: band_limit(x, sample_rate, low, high))])


def channel_speech(samples: np.ndarray, sample_rate: int, opts: ActivityOptions) -> list[Span]:
    """Speech regions of one channel (or of a mono mix)."""
    if not len(samples):
        return []

    def band(x: np.ndarray) -> np.ndarray:
        return band_limit(x, sample_rate, opts.band_low, opts.band_high)

    def speech(x: np.ndarray, level: float) -> list[Span]:
        # Silero is level-sensitive: a quiet party on a line must not fall under its threshold (a
        # percentile, not the peak, so one click cannot turn the whole channel down)
        return silero_spans(np.clip(x * (0.3 / level), -1.0, 1.0), sample_rate, opts.vad_threshold,
                            opts.min_speech, opts.min_silence)

    if not blocks.is_long(samples, sample_rate):
        whole = band(samples.astype(np.float32, copy=False))
        level = float(np.percentile(np.abs(whole), 99.5))
        return speech(whole, level) if level > 1e-6 else []
    # a long channel: the level from every block first (a histogram), then Silero block by block
    level = _long_level(blocks.mapped(samples, sample_rate, band))
    if level <= 1e-6:
        return []
    return blocks.spans(samples, sample_rate, lambda x: speech(x, level), prepare=band)


LEVEL_BINS = np.logspace(-7, 1, 1601)  # 0.5 % steps: the long-call percentile's resolution


def _long_level(parts: Iterable[np.ndarray]) -> float:
    """The 99.5th percentile of |x| over all parts, from a histogram."""
    counts = np.zeros(len(LEVEL_BINS) - 1)
    for x in parts:
        counts += np.histogram(np.abs(x), LEVEL_BINS)[0]
    cumulative = np.cumsum(counts)
    return float(LEVEL_BINS[1:][np.searchsorted(cumulative, 0.995 * cumulative[-1])])


def signal_speech(channels: Sequence[np.ndarray], sample_rate: int, opts: ActivityOptions) -> tuple[Span, ...]:
    """Union of every channel's speech regions: where somebody is audibly talking."""
    return tuple(timeline.merge(s for ch in channels for s in channel_speech(ch, sample_rate, opts)))
