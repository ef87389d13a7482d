"""Decoding every supported container/encoding, resampling quality, and input validation."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.audio import AudioError, load, resample

RATE = 8000


def tone(seconds=1.0, freq=440.0, rate=RATE, channels=2):
    t = np.arange(int(seconds * rate)) / rate
    ch = [0.3 * np.sin(2 * np.pi * freq * (i + 1) * t) for i in range(channels)]
    return np.stack(ch, axis=1).astype(np.float32)


def dominant_freq(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("fmt,subtype,suffix", [
    ("WAV", "PCM_U8", ".wav"), ("WAV", "PCM_16", ".wav"), ("WAV", "PCM_24", ".wav"), ("WAV", "PCM_32", ".wav"),
    ("WAV", "FLOAT", ".wav"), ("WAV", "ULAW", ".wav"), ("WAV", "ALAW", ".wav"), ("FLAC", "PCM_16", ".flac"),
    ("OGG", "VORBIS", ".ogg"), ("MP3", "MPEG_LAYER_III", ".mp3"),
])
def test_soundfile_formats(tmp_path, fmt, subtype, suffix):
    path = tmp_path / f"call{suffix}"
    sf.write(path, tone(), RATE, format=fmt, subtype=subtype)
    a = load(path)
    assert a.channels == 2 and a.sample_rate == 16000 and a.source_rate == RATE
    assert a.duration == pytest.approx(1.0, abs=0.06)
    assert dominant_freq(a.channel(0), 16000) == pytest.approx(440, abs=5)
    assert dominant_freq(a.channel(1), 16000) == pytest.approx(880, abs=5)


@pytest.mark.parametrize("suffix,codec", [(".m4a", "aac"), (".opus", "libopus"), (".webm", "libopus")])
def test_pyav_containers(tmp_path, suffix, codec):
    av = pytest.importorskip("av")
    path = tmp_path / f"call{suffix}"
    rate = 48000 if codec == "libopus" else 16000
    data = tone(1.0, rate=rate).T.copy()
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    a = load(path)
    assert a.channels == 2 and a.duration == pytest.approx(1.0, abs=0.1)
    assert dominant_freq(a.channel(0), 16000) == pytest.approx(440, abs=5)


def test_resampler_is_band_limited():
    # a 5 kHz tone is above the 4 kHz Nyquist of 8 kHz output: it must vanish, not fold to 3 kHz (np.interp)
    x = tone(1.0, freq=5000, rate=16000, channels=1).T
    y = resample(x, 16000, 8000)[0]
    mid = y[400:-400]  # away from the filter's edge transients
    assert np.sqrt(np.mean(mid ** 2)) < 0.05 * np.sqrt(np.mean(x ** 2))


@pytest.mark.parametrize("make,message", [
    (lambda p: None, "no such file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_bytes(b""), r"empty \(0 bytes\)"),
    (lambda p: p.write_text("hello, this is not audio\n" * 20), "not a readable audio file"),
    (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200)), "not a readable audio file"),
    (lambda p: p.write_bytes(b"RIFF\x24\x08\x00\x00WAVEfmt "), "not a readable audio file"),
])
def test_bad_input(tmp_path, make, message):
    path = tmp_path / "call.wav"
    make(path)
    with pytest.raises(AudioError, match=message):
        load(path)


def test_nan_samples_rejected(tmp_path):
    data = tone()
    data[100, 0] = np.nan
    sf.write(tmp_path / "nan.wav", data, RATE, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load(tmp_path / "nan.wav")


def test_more_than_two_channels_needs_mapping(tmp_path):
    sf.write(tmp_path / "four.wav", tone(channels=4), RATE)
    with pytest.raises(AudioError, match="4 channels"):
        load(tmp_path / "four.wav")
    assert load(tmp_path / "four.wav", max_channels=64).channels == 4
