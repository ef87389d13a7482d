"""Test recordings for the batch tests: many short, distinct stereo calls plus the bad files a
nightly folder really collects (empty, truncated, not audio, NaN samples, too many channels)."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import soundfile as sf

SR = 16000


def real_speech() -> np.ndarray | None:
    """pyannote's 30 s two-speaker sample call (ships in the pyannote.audio wheel), speech from 7 s on."""
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or not spec.submodule_search_locations:
        return None
    wav = Path(list(spec.submodule_search_locations)[0]) / "sample" / "sample.wav"
    if not wav.is_file():
        return None
    x, sr = sf.read(str(wav), dtype="float32")
    return x[7 * sr:] if sr == SR else None


def _speech_call(speech: np.ndarray, i: int) -> np.ndarray:
    """1-3 s; each channel a different stretch of the real call, so the two sides differ."""
    n = SR * (1 + i % 3)
    room = len(speech) - n
    a = int((i * 0.37 % 1.0) * room)
    b = int(((i * 0.61 + 0.5) % 1.0) * room)
    gain = 0.6 + 0.1 * (i % 5)
    return np.stack([speech[a:a + n] * gain, speech[b:b + n] * (1.6 - gain)], axis=1)


def _tone_call(i: int) -> np.ndarray:
    """No speech (a tone on one side, noise on the other): still a valid review (no_speech)."""
    n = SR * (1 + i % 3)
    t = np.arange(n) / SR
    tone = 0.1 * np.sin(2 * math.pi * (220 + 40 * i) * t)
    noise = np.random.default_rng(i).normal(0, 0.03, n)
    return np.stack([tone, noise], axis=1).astype(np.float32)


def write_good_calls(folder: Path, n: int) -> list[Path]:
    """n distinct stereo calls in wav/flac/ogg, some in sub-folders; about 1 in 6 has no speech."""
    speech = real_speech()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        data = _tone_call(i) if speech is None or i % 6 == 5 else _speech_call(speech, i)
        ext = ("wav", "flac", "ogg")[i % 3]
        path = folder / (f"team{i % 4}" if i % 2 else "") / f"call_{i:03d}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), data, SR)
        paths.append(path)
    return paths


def write_bad_files(folder: Path) -> list[Path]:
    """Files with audio extensions that no decoder can turn into a call."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    header_only = folder / "header_only.wav"
    sf.write(str(header_only), np.zeros((0, 2), np.float32), SR)
    full = folder / "_full.tmpwav"
    sf.write(str(full), np.zeros((SR, 2), np.float32) + 0.1, SR, format="WAV")
    files = {
        "empty.wav": b"",
        "empty_too.flac": b"",
        "truncated_header.wav": full.read_bytes()[:30],
        "random_bytes.flac": rng.bytes(5000),
        "notes.mp3": b"agent notes, not a recording\n" * 20,
        "readme.wav": b"this is text with a .wav name\n",
    }
    paths = [header_only]
    full.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    nan = folder / "nan_samples.wav"
    sf.write(str(nan), np.full((SR, 2), np.nan, np.float32), SR, subtype="FLOAT")
    six = folder / "six_channels.wav"
    sf.write(str(six), rng.normal(0, 0.1, (SR, 6)).astype(np.float32), SR)
    return paths + [nan, six]
