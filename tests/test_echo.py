"""Linear echo cancellation (audio_pipeline/echo.py) on signals with a known leak."""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from audio_pipeline import echo
from audio_pipeline.voice_activity import band_limit

SR = 8000
BAND = (300.0, 3400.0)


def _talk(seconds: float, seed: int) -> np.ndarray:
    """Coloured noise in 0.1 s bursts, on about half the time, in the telephone band: speech-like
    enough for a fit (cancellation works in the band; below it, hum is no one's echo)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    on = np.repeat(rng.random(n // 800 + 1) > 0.5, 800)[:n]
    return band_limit(0.1 * lfilter([1.0], [1.0, -0.9], rng.standard_normal(n) * on), SR, *BAND)


def _db(x: np.ndarray, ref: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(ref.astype(np.float64) ** 2)))


def test_a_delayed_filtered_leak_is_removed_and_the_near_voice_kept():
    near, far = _talk(40, 1), _talk(40, 2)
    leak = lfilter([0.0, 0.12, 0.06, -0.02], [1.0], far)       # a dispersive path, -20 dB or so
    d = int(0.07 * SR)
    own = near.copy()
    own[d:] += leak[:-d].astype(np.float32)
    cleaned, other, (path, back) = echo.cancel_pair(own, far, SR, BAND)
    assert path.applied and abs(path.delay - d) <= int(echo.PRE * SR) + 2
    # the leak is -16 dB; what is left is the fit's own error (~taps / samples of the near voice)
    assert _db(own - near, near) > -17 and _db(cleaned - near, near) < -32
    assert not back.applied and np.array_equal(other, far)                   # the far end had none


def test_no_leak_leaves_both_channels_untouched():
    a, b = _talk(30, 3), _talk(30, 4)
    out_a, out_b, paths = echo.cancel_pair(a, b, SR, BAND)
    assert not any(p.applied for p in paths)
    assert np.array_equal(out_a, a) and np.array_equal(out_b, b)


def test_long_channels_are_cancelled_block_by_block_as_a_whole_would_be(monkeypatch):
    near, far = _talk(20, 5), _talk(20, 6)
    own = near.copy()
    own[100:] += 0.2 * far[:-100]
    path = echo.fit(own, far, SR, BAND)
    whole = echo.cancel(own, far, path, SR, BAND)
    monkeypatch.setattr(echo, "CANCEL_BLOCK", 3.1)
    edge = SR // 10   # the band-pass wraps at the recording's own ends, whole or in blocks
    np.testing.assert_allclose(echo.cancel(own, far, path, SR, BAND)[edge:-edge], whole[edge:-edge], atol=1e-4)


def test_a_silent_or_short_reference_fits_nothing():
    own = _talk(10, 7)
    assert not echo.fit(own, np.zeros_like(own), SR, BAND).applied
    assert not echo.fit(own[:50], own[:50], SR, BAND).applied


def test_a_live_call_is_cancelled_once_the_path_is_fitted():
    near, far = _talk(45, 8), _talk(45, 9)
    own = near.copy()
    own[400:] += 0.2 * far[:-400]
    live = echo.LiveCanceller(SR, BAND, ("agent", "customer"))
    step, out = SR // 4, {"agent": [], "customer": []}
    for a in range(0, len(own), step):
        got = live.process({"agent": own[a:a + step], "customer": far[a:a + step]})
        for r in out:
            out[r].append(got[r])
    for r, x in live.process({"agent": own[:0], "customer": far[:0]}, last=True).items():
        out[r].append(x)
    agent, customer = (np.concatenate(out[r]) for r in ("agent", "customer"))
    # nothing lost, nothing to cancel on the far end, and both channels still in step
    assert len(agent) == len(own) and np.array_equal(customer, far)
    fitted = int(echo.LIVE_FIT * SR) - step   # the chunk that completes the fit is cancelled already
    assert np.array_equal(agent[:fitted], own[:fitted])                  # as it came until the fit
    assert _db(agent[fitted + SR:-SR] - near[fitted + SR:-SR], near[fitted + SR:-SR]) < -30
