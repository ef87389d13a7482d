"""Long calls in bounded memory (blocks.py, the float16 store of audio.py, Whisper in windows): the
block-wise path must give what the whole-channel path gives. A 2-hour call is too slow for a test,
so the limits are lowered until the 68 s sample call takes every long-call branch: stored as
float16, energies, voice activity and Whisper's VAD in 15 s blocks, Whisper in 20 s windows."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from audio_pipeline import audio as audio_mod
from audio_pipeline import blocks
from audio_pipeline.evaluation import Tally, score
from audio_pipeline.export import review_to_dict
from audio_pipeline.pipeline import Reviewer
from audio_pipeline.transcribe import frame_db, speech_windows
from audio_pipeline.voice_activity import band_db, band_limit

from .conftest import SAMPLES

SR = 16000
TURN_TAKING = ("interruption", "dead_air", "slow_response", "long_monologue")


@pytest.fixture
def short_limits(monkeypatch):
    monkeypatch.setattr(blocks, "LONG", 20.0)
    monkeypatch.setattr(blocks, "BLOCK", 15.0)
    monkeypatch.setattr(audio_mod, "STREAM_ABOVE", 20.0)


def test_block_statistics_equal_whole_ones(short_limits):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(SR * 50) * 0.1).astype(np.float16)
    y = x.astype(np.float32) * 0.5 + (rng.standard_normal(len(x)) * 0.05).astype(np.float32)
    assert blocks.is_long(x, SR)
    assert blocks.mean_square(x, SR) == pytest.approx(np.mean(x.astype(np.float64) ** 2), rel=1e-9)
    assert blocks.correlation(x, y, SR) == pytest.approx(np.corrcoef(x.astype(np.float64), y)[0, 1], abs=1e-9)
    # the band-pass is done per block with a second of overlap: the frame levels match the whole pass
    t = np.arange(len(x)) / SR
    tone = (0.2 * np.sin(2 * np.pi * 700 * t) * (1 + np.sin(2 * np.pi * 0.3 * t))).astype(np.float32)
    whole = frame_db(band_limit(tone, SR, 300, 3400), SR)
    per_block = band_db(tone.astype(np.float16), SR, 300, 3400)
    assert len(whole) == len(per_block) == len(x) // 160
    loud = whole > -40
    assert np.max(np.abs(whole[loud] - per_block[loud])) < 0.1


def test_spans_cut_by_a_block_edge_are_joined(short_limits):
    x = np.zeros(SR * 40, dtype=np.float32)

    def fn(block: np.ndarray) -> list[tuple[float, float]]:
        n = len(block) / SR
        return [(0.0, 2.0), (n - 1.0, n)] if n == 15.0 else [(0.0, 1.0)]  # speech over both edges

    # blocks [0,15) [15,30) [30,40): (14,15)+(15,17) joined, (29,30)+(30,31) joined
    assert blocks.spans(x, SR, fn) == [(0.0, 2.0), (14.0, 17.0), (29.0, 31.0)]


def test_speech_windows_cut_only_between_regions():
    regions = [(0, 10), (20, 35), (40, 41), (50, 80), (90, 95)]
    windows = speech_windows(regions, 25)
    assert [r for w in windows for r in w] == regions
    assert windows == [[(0, 10), (20, 35)], [(40, 41)], [(50, 80)], [(90, 95)]]


def words(review: dict, speaker: str) -> int:
    return sum(len(u["text"].split()) for u in review["utterances"] if u["speaker"] == speaker)


@pytest.mark.slow
def test_long_call_path_gives_the_same_review(short_limits, cfg, monkeypatch):
    path = SAMPLES / "demo_call.wav"
    with monkeypatch.context() as m:  # the reference: today's whole-channel path
        m.setattr(blocks, "LONG", 1e9)
        m.setattr(audio_mod, "STREAM_ABOVE", 1e9)
        whole = review_to_dict(Reviewer(cfg, device="cpu").review(path))
    loaded = audio_mod.load(path, SR)
    assert loaded.samples.dtype == np.float16
    long_cfg = replace(cfg, asr=replace(cfg.asr, window_seconds=20.0))
    blockwise = review_to_dict(Reviewer(long_cfg, device="cpu").review(path))
    tally = Tally()
    for kind in TURN_TAKING:
        score(blockwise["findings"], whole["findings"], kind, tally=tally, name=kind)
    assert tally.f1 == 1.0, tally.misses
    for speaker in ("agent", "customer"):  # Whisper in 20 s windows hears the same words, give or take
        assert abs(words(blockwise, speaker) - words(whole, speaker)) <= 0.1 * words(whole, speaker)
