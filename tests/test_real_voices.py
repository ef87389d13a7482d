"""Real speech is the reference: pyannote's real sample call (30 s, two real speakers, shipped in
the pyannote.audio wheel with its transcript), one speaker per channel, reviewed with real tiny.en.
The review's guards may not make it transcribe real voices worse than bare faster-whisper on the
same channels (agent 0.109, customer 0.257; the bars allow agent 0.18, customer 0.26)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def real_call():
    spec = importlib.util.spec_from_file_location("real_call", ROOT / "bench" / "real_call.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_real_voices_are_transcribed_no_worse_than_bare_whisper(real_call, cfg, tmp_path):
    import jiwer

    from audio_pipeline.evaluation import normalise_text
    from audio_pipeline.pipeline import Reviewer

    review = Reviewer(cfg, device="cpu").review(real_call.stereo_sample(tmp_path / "real.wav"))
    refs = real_call.references()
    wer = {role: jiwer.wer(refs[role], normalise_text(" ".join(u.text for u in review.utterances
                                                                if u.speaker == role)))
           for role in ("agent", "customer")}
    assert wer["agent"] <= 0.18 and wer["customer"] <= 0.26, wer


@pytest.mark.slow
def test_recovery_passes_run_only_when_asked(real_call, cfg, tmp_path, caplog):
    """Speech the party's own voice shows but Whisper left without words is decoded again — one
    more Whisper pass, which a live pass of calls that are all behind does without."""
    import logging

    import soundfile as sf

    from audio_pipeline.transcribe import WhisperTranscriber

    audio, sr = sf.read(real_call.stereo_sample(tmp_path / "real.wav"), dtype="float32")
    agent = audio[:, 0].copy()
    said = np.ones(len(agent) // int(0.01 * sr), dtype=bool)   # as if the agent spoke all along
    asr = WhisperTranscriber(cfg.asr, device="cpu")
    with caplog.at_level(logging.DEBUG, logger="audio_pipeline.transcribe"):
        recovered = asr.transcribe(agent, sr, said)
        assert "re-decoding" in caplog.text
        caplog.clear()
        plain = asr.transcribe(agent, sr, said, recover=False)
        assert "re-decoding" not in caplog.text
    assert recovered and plain                   # both passes still word the speech they were given
