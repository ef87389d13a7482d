"""Long files are decoded and resampled a minute at a time: the same samples as the whole-file path."""
from __future__ import annotations

import numpy as np
import soundfile as sf

from audio_pipeline import audio


def test_streamed_load_matches_whole_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    t = np.arange(8000 * 150) / 8000
    data = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.1 * rng.standard_normal(len(t))], axis=1)
    sf.write(tmp_path / "long.wav", data.astype(np.float32), 8000, subtype="PCM_16")
    whole = audio.load(tmp_path / "long.wav")
    monkeypatch.setattr(audio, "STREAM_ABOVE", 60)  # 150 s counts as long here
    streamed = audio.load(tmp_path / "long.wav")
    assert streamed.samples.shape == whole.samples.shape
    assert whole.samples.dtype == np.float32 and streamed.samples.dtype == np.float16  # long: half the memory
    assert streamed.source_rate == 8000 and streamed.sha256 == whole.sha256
    # block boundaries of the streaming resampler (≤ 1e-3) plus float16 rounding (≤ 2.5e-4 below 1.0)
    assert np.max(np.abs(streamed.samples.astype(np.float32) - whole.samples)) < 1.25e-3
