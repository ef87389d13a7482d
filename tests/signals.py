"""Sounds a call holds that are not speech, synthesised: silence, white and pink noise, tones, DTMF
digits, hold music (chords), a ringback tone, a fax/modem answer. A review of any of them must
contain no words and no findings other than no_speech / dead_air."""
from __future__ import annotations

import numpy as np

RATE = 8000


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * RATE)) / RATE


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    rms = np.sqrt(np.mean(x ** 2)) or 1.0
    return x / rms * 10 ** (dbfs / 20)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE))


def white_noise(seconds: float, seed: int = 1) -> np.ndarray:
    return _level(np.random.default_rng(seed).standard_normal(int(seconds * RATE)), -20)


def pink_noise(seconds: float, seed: int = 2) -> np.ndarray:
    n = int(seconds * RATE)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[0] = 0
    return _level(np.fft.irfft(spectrum, n), -20)


def tones(seconds: float) -> np.ndarray:
    """A steady 1 kHz test tone, then a 440 Hz beep every second (a recording warning)."""
    t = _t(seconds)
    steady = np.sin(2 * np.pi * 1000 * t) * (t < seconds / 2)
    beeps = np.sin(2 * np.pi * 440 * t) * ((t % 1.0) < 0.3) * (t >= seconds / 2)
    return _level(steady + beeps, -15)


DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
        "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "0": (941, 1336),
        "*": (941, 1209), "#": (941, 1477)}


def dtmf(seconds: float, digits: str = "4471 2039 8812 0045#") -> np.ndarray:
    """Key presses (a card number typed into an IVR): 150 ms tones, 100 ms gaps, pauses at spaces."""
    out = np.zeros(int(seconds * RATE))
    pos = int(0.5 * RATE)
    while pos < len(out) - RATE:
        for d in digits:
            if d == " ":
                pos += int(0.6 * RATE)
                continue
            tt = np.arange(int(0.15 * RATE)) / RATE
            low, high = DTMF[d]
            tone = np.sin(2 * np.pi * low * tt) + np.sin(2 * np.pi * high * tt)
            end = min(len(out), pos + len(tone))
            if end > pos:
                out[pos:end] = tone[:end - pos]
            pos += int(0.25 * RATE)
        pos += int(2.0 * RATE)
    return _level(out, -15)


def hold_music(seconds: float) -> np.ndarray:
    """I-vi-IV-V chords with harmonics, a bass note and a simple melody, 2 s per chord."""
    t = _t(seconds)
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7)]
    melody = [523.3, 587.3, 659.3, 587.3, 523.3, 493.9, 440.0, 493.9]
    out = np.zeros_like(t)
    for i in range(int(np.ceil(seconds / 2))):
        seg = (t >= 2 * i) & (t < 2 * i + 2)
        local = t[seg] - 2 * i
        env = np.minimum(1, local * 8) * np.exp(-local * 0.6)
        notes = chords[i % 4]
        for f in notes:
            for h, amp in ((1, 1.0), (2, 0.4), (3, 0.2)):
                out[seg] += amp * env * np.sin(2 * np.pi * f * h * local)
        out[seg] += 0.8 * env * np.sin(2 * np.pi * notes[0] / 2 * local)
        for half in (0, 1):
            sub = local >= half if half else local < 1
            f = melody[(2 * i + half) % len(melody)]
            out[seg] += 0.6 * sub * np.exp(-((local - half) % 1) * 2) * np.sin(2 * np.pi * f * local)
    return _level(out, -18)


def ringback(seconds: float) -> np.ndarray:
    """North-American ringback: 440 + 480 Hz, 2 s on, 4 s off."""
    t = _t(seconds)
    return _level((np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 480 * t)) * ((t % 6.0) < 2.0), -15)


def fax_modem(seconds: float, seed: int = 3) -> np.ndarray:
    """A fax/modem answer: 2100 Hz answer tone with phase reversals, 1100 Hz CNG beeps, then a
    scrambled FSK/QAM-like screech (random symbols on 1200/2400 Hz carriers)."""
    t = _t(seconds)
    rng = np.random.default_rng(seed)
    answer = np.sin(2 * np.pi * 2100 * t + np.pi * (np.floor(t / 0.45) % 2)) * (t < 3.3)
    cng = np.sin(2 * np.pi * 1100 * t) * ((t % 3.5) < 0.5) * (t >= 3.3) * (t < 8)
    symbols = rng.integers(0, 4, int(seconds * 600) + 1)[(t * 600).astype(int)]
    screech = (np.sin(2 * np.pi * 1800 * t + symbols * np.pi / 2) + 0.7 * np.sin(2 * np.pi * (1200 + 1200 * (symbols % 2)) * t)) * (t >= 8)
    return _level(answer + cng + screech, -14)


SIGNALS = {"silence": silence, "white_noise": white_noise, "pink_noise": pink_noise, "tones": tones,
           "dtmf": dtmf, "hold_music": hold_music, "ringback": ringback, "fax_modem": fax_modem}


def line_noise(seconds: float, seed: int = 9) -> np.ndarray:
    """The other party's channel: a quiet telephone line (-55 dBFS), so the call stays stereo."""
    return _level(np.random.default_rng(seed).standard_normal(int(seconds * RATE)), -55)


def stereo_call(name: str, seconds: float = 60.0) -> np.ndarray:
    """(n, 2) float32: the sound on the agent's channel (what a customer on hold hears is played
    there), a quiet line on the customer's."""
    other = silence(seconds) if name == "silence" else line_noise(seconds)  # silence: the whole call
    return np.stack([SIGNALS[name](seconds), other], axis=1).astype(np.float32)
