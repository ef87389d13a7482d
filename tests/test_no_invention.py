"""Nothing invented: a minute of each non-speech sound a call holds (silence, noise, tones, DTMF,
hold music, ringback, a fax/modem answer) reviewed by the real pipeline (tiny.en) gives no words
and no findings other than no_speech / dead_air."""
from __future__ import annotations

import pytest
import soundfile as sf

from audio_pipeline.config import load_config

from .signals import RATE, SIGNALS, stereo_call

pytestmark = pytest.mark.slow
ALLOWED = {"no_speech", "dead_air"}


@pytest.fixture(scope="module")
def reviewer():
    from audio_pipeline.pipeline import Reviewer

    return Reviewer(load_config(), device="cpu")


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_no_words_from_non_speech(name, reviewer, tmp_path):
    path = tmp_path / f"{name}.wav"
    sf.write(path, stereo_call(name, 60.0), RATE)
    review = reviewer.review(path)
    assert review.audio.mode == "stereo" and review.audio.duration == pytest.approx(60.0)
    words = [w.text for u in review.utterances for w in u.words]
    assert words == [], f"{name}: invented {words[:10]}"
    assert {f.type for f in review.findings} <= ALLOWED, [(f.type, f.evidence) for f in review.findings]
