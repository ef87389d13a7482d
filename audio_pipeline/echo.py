"""Linear echo cancellation for stereo calls.

Each party's far end leaks back onto their own channel (a 4-wire hybrid, acoustic coupling in a
headset): a delayed, filtered copy of the other channel. The energy guards downstream can only
set a margin above that echo, so a quiet party talking over a loud one sinks under it. Here the
leak is predicted and subtracted instead: a least-squares FIR filter from the other channel to
this one, its window placed at the echo's delay (the cross-correlation peak within MAX_DELAY),
fitted over the call's first FIT_SECONDS. The parties' own voices are uncorrelated with each
other, so the fit sees only the leak. Fit and subtraction work in the speech band: mains hum is
on both channels, periodic and so correlated at every lag, and must not pass for a leak.
A filter fitted to no leak at all still "explains" a little of any signal in-sample; so the one
fitted on the span's first half must remove about as much of its second half, or the channel is
left as it is, bit for bit. numpy only (the stereo path imports no scipy or torch).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import blocks
from .voice_activity import band_gain

MAX_DELAY = 0.3        # seconds: a line echo or headset coupling arrives within this
TAPS = 0.016           # seconds of filter (the echo path's dispersion), starting PRE before the peak
PRE = 0.002
FIT_SECONDS = 60.0     # the filter is fitted on this much of the call's start
NEGLIGIBLE_DB = -30.0  # a quieter leak is left to the energy guards: on a clean line the residue of cancelling
                       # it (codec noise the fit cannot follow) sits above the floor and reads as speech
RIDGE = 1e-5           # relative regularisation (silence in the reference must not blow the fit up)
HELD_OUT_SLACK = 6.0   # dB: a real leak fitted on half the span removes nearly as much of the other half
LIVE_FIT = 30.0        # seconds: a live call's paths are fitted after this much audio (and again while none is found)
LOOKAHEAD = 0.05       # seconds a live chunk is held back for the band-pass past it
CANCEL_BLOCK = 30.0    # seconds of a recording cancelled per FFT


@dataclass(frozen=True, slots=True)
class EchoPath:
    """The fitted leak from the other channel: `taps` applied from `delay` samples on."""

    delay: int
    taps: np.ndarray
    leak_db: float       # the leak's in-band level relative to the channel's own (fit span)
    held_out_db: float   # share of the second half's energy the first half's filter removes (dB)

    @property
    def applied(self) -> bool:
        return self.held_out_db > max(NEGLIGIBLE_DB, self.leak_db - HELD_OUT_SLACK)


NONE = EchoPath(0, np.zeros(1, np.float32), -np.inf, -np.inf)
Band = tuple[float, float]


def _size(n: int) -> int:
    return 1 << int(np.ceil(np.log2(max(2, n))))


@dataclass(frozen=True, slots=True)
class _Stats:
    """Second-order statistics of one stretch, in the band: y's energy, x's autocorrelation at
    lags 0..taps-1, and the cross-correlation y(t)·x(t-k) at lags 0..longest+taps."""

    energy: float
    auto: np.ndarray
    cross: np.ndarray

    def __add__(self, other: "_Stats") -> "_Stats":
        return _Stats(self.energy + other.energy, self.auto + other.auto, self.cross + other.cross)


def _stats(y: np.ndarray, x: np.ndarray, sample_rate: int, band: Band, lags: int, taps: int) -> _Stats:
    size = _size(len(y) + lags)
    gain = band_gain(size, sample_rate, *band)
    fy = np.fft.rfft(y.astype(np.float64), size) * gain
    fx = np.fft.rfft(x.astype(np.float64), size) * gain
    return _Stats(float(np.sum(np.abs(fy) ** 2) / size * 2),   # Parseval, near enough for a ratio
                  np.fft.irfft(np.abs(fx) ** 2, size)[:taps], np.fft.irfft(fy * np.conj(fx), size)[:lags])


def _auto_matrix(st: _Stats, taps: int) -> np.ndarray:
    """x's autocorrelation as the taps × taps Toeplitz matrix R_xx."""
    return st.auto[np.abs(np.subtract.outer(np.arange(taps), np.arange(taps)))]


def _solve(st: _Stats, start: int, taps: int) -> np.ndarray:
    """Least-squares taps h minimising |y - (h * x delayed by start)|² (the Wiener–Hopf equations)."""
    return np.linalg.solve(_auto_matrix(st, taps) + RIDGE * st.auto[0] * np.eye(taps), st.cross[start:start + taps])


def _removed(st: _Stats, h: np.ndarray, start: int) -> float:
    """Energy the subtraction of h's prediction removes from y: 2 h·r_yx − hᵀ R_xx h."""
    return float(2 * h @ st.cross[start:start + len(h)] - h @ _auto_matrix(st, len(h)) @ h)


def _db(part: float, whole: float) -> float:
    return 10 * np.log10(part / whole) if part > 0 and whole > 0 else -np.inf


def fit(own: np.ndarray, other: np.ndarray, sample_rate: int, band: Band) -> EchoPath:
    """The echo path from `other` onto `own`, fitted in `band` on the call's start: the filter
    fitted on the first half must remove about as much of the second (see the module's text)."""
    n = min(len(own), len(other), int(FIT_SECONDS * sample_rate))
    taps, pre, longest = max(1, int(TAPS * sample_rate)), int(PRE * sample_rate), int(MAX_DELAY * sample_rate)
    if n < 8 * taps:
        return NONE
    half = n // 2
    first, second = (_stats(own[a:b], other[a:b], sample_rate, band, longest + taps, taps)
                     for a, b in ((0, half), (half, n)))
    whole = first + second
    if whole.energy <= 0 or whole.auto[0] <= 0:
        return NONE
    start = max(0, int(np.argmax(np.abs(whole.cross[:longest + 1]))) - pre)
    held_out = _db(_removed(second, _solve(first, start, taps), start), second.energy)
    h = _solve(whole, start, taps)
    leak = _db(float(h @ _auto_matrix(whole, taps) @ h), whole.energy)
    return EchoPath(start, h.astype(np.float32), float(leak), float(held_out))


def _band_leak(other: np.ndarray, path: EchoPath, sample_rate: int, band: Band) -> np.ndarray:
    """The leak `path` makes of `other` band-limited (one FFT there and back; same length)."""
    n = len(other)
    size = _size(n + len(path.taps))
    spectrum = np.fft.rfft(other.astype(np.float64), size) * band_gain(size, sample_rate, *band)
    out = np.fft.irfft(spectrum * np.fft.rfft(path.taps.astype(np.float64), size), size)[:max(0, n - path.delay)]
    return np.concatenate((np.zeros(min(path.delay, n)), out))


def cancel(own: np.ndarray, other: np.ndarray, path: EchoPath, sample_rate: int, band: Band) -> np.ndarray:
    """`own` less the leak `path` predicts from the in-band `other`, CANCEL_BLOCK seconds at a time
    (bounded FFTs and memory however long the call)."""
    if not path.applied:
        return own
    n = min(len(own), len(other))
    out = own.copy()      # in the stored dtype (float16 for long calls): no float32 copy of it all
    reach, pad = path.delay + len(path.taps), sample_rate   # a second either side for the band-pass's edges
    for a, b in blocks.windows(n, int(CANCEL_BLOCK * sample_rate)):
        lo, hi = max(0, a - reach - pad), min(len(other), b + pad)
        leak = _band_leak(other[lo:hi], path, sample_rate, band)[a - lo:b - lo]
        out[a:b] = own[a:b].astype(np.float32) - leak.astype(np.float32)
    return out


def cancel_pair(a: np.ndarray, b: np.ndarray, sample_rate: int, band: Band
                ) -> tuple[np.ndarray, np.ndarray, tuple[EchoPath, EchoPath]]:
    """Both channels with the other's leak removed (each fitted against the other as recorded)."""
    pa, pb = fit(a, b, sample_rate, band), fit(b, a, sample_rate, band)
    return cancel(a, b, pa, sample_rate, band), cancel(b, a, pb, sample_rate, band), (pa, pb)


def describe(path: EchoPath, sample_rate: int) -> str:
    if not path.applied:
        return "none cancelled"
    return f"{path.leak_db:.0f} dB at {1000 * path.delay / sample_rate:.0f} ms (held out {path.held_out_db:.0f} dB)"


class LiveCanceller:
    """The same cancellation on a live call's chunks. Both channels pass unchanged until the paths
    are fitted — on the first LIVE_FIT seconds, again after each further LIVE_FIT while none is
    found, up to FIT_SECONDS — and are then cancelled chunk by chunk, LOOKAHEAD seconds late: the
    band-pass needs a little signal past the samples it cleans. Memory: the fit buffer (at most
    FIT_SECONDS), then a second or so of each channel."""

    def __init__(self, sample_rate: int, band: Band, roles: tuple[str, str]):
        self.sr, self.band, self.roles = sample_rate, band, roles
        self.paths: dict[str, EchoPath] | None = None
        self._fit_buf: dict[str, list[np.ndarray]] | None = {r: [] for r in roles}
        self._fit_len, self._next_fit = 0, int(LIVE_FIT * sample_rate)
        self._hist = {r: np.zeros(0, np.float32) for r in roles}   # raw, ends at the newest sample
        self._held = 0                                              # newest samples not yet emitted
        self._keep = int((MAX_DELAY + TAPS + LOOKAHEAD + 1.0) * sample_rate)   # a second for the band-pass

    def process(self, chunks: dict[str, np.ndarray], last: bool = False) -> dict[str, np.ndarray]:
        """Cancelled audio for the chunks given, the same length on both channels: fewer samples
        than given while some are held back; `last` flushes them."""
        n = min(len(chunks[r]) for r in self.roles)
        keep = self._keep + self._held + n      # a chunk may be long when decoding fell behind
        for r in self.roles:
            self._hist[r] = np.concatenate((self._hist[r], chunks[r][:n]))[-keep:]
        if self._fit_buf is not None:
            self._collect(chunks, n)
        if not self._active():
            return {r: chunks[r][:n] for r in self.roles}
        total = self._held + n
        emit = total if last else max(0, total - int(LOOKAHEAD * self.sr))
        out = {}
        for r, other in zip(self.roles, self.roles[::-1]):
            hist, path = self._hist[r], self.paths[r]
            lo, hi = len(hist) - total, len(hist) - total + emit
            out[r] = hist[lo:hi]
            if path.applied:
                out[r] = (out[r] - _band_leak(self._hist[other], path, self.sr, self.band)[lo:hi]).astype(np.float32)
        self._held = total - emit
        return out

    def _active(self) -> bool:
        return self.paths is not None and any(p.applied for p in self.paths.values())

    def _collect(self, chunks: dict[str, np.ndarray], n: int) -> None:
        for r in self.roles:
            self._fit_buf[r].append(chunks[r][:n])
        self._fit_len += n
        if self._fit_len < self._next_fit:
            return
        a, b = (np.concatenate(self._fit_buf[r]) for r in self.roles)
        pa, pb = fit(a, b, self.sr, self.band), fit(b, a, self.sr, self.band)
        self.paths = dict(zip(self.roles, (pa, pb)))
        self._next_fit += int(LIVE_FIT * self.sr)
        if self._active() or self._fit_len >= FIT_SECONDS * self.sr:
            self._fit_buf = None
