"""Real models on real speech: pyannote's bundled two-speaker call (30 s, 16 kHz) against its RTTM.

One diarization run per session (module fixture): it takes a few seconds on 2 CPU cores plus ~10 s
to load the models. The DER bar is the project's (DESIGN §4): <= 6 % with no collar.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

DER_MAX = 0.06


def _sample_dir() -> Path:
    spec = importlib.util.find_spec("pyannote.audio")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pyannote.audio is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "sample"


@pytest.fixture(scope="module")
def sample():
    import soundfile as sf

    audio, sr = sf.read(_sample_dir() / "sample.wav", dtype="float32")
    rows = [line.split() for line in (_sample_dir() / "sample.rttm").read_text().splitlines() if line.strip()]
    truth = [(float(r[3]), float(r[3]) + float(r[4]), r[7]) for r in rows]
    return audio, sr, truth


@pytest.fixture(scope="module")
def diarizer(cfg):
    from audio_pipeline.diarize import Diarizer

    return Diarizer(cfg.diarization)


@pytest.fixture(scope="module")
def diarization(diarizer, sample):
    audio, sr, _ = sample
    return diarizer(audio, sr)


def der(truth, turns, duration: float, collar: float = 0.0) -> float:
    from pyannote.core import Annotation, Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref, hyp = Annotation(), Annotation()
    for i, (s, e, spk) in enumerate(truth):
        ref[Segment(s, e), i] = spk
    for i, t in enumerate(turns):
        hyp[Segment(t.start, t.end), i] = t.speaker
    return DiarizationErrorRate(collar=collar, skip_overlap=False)(ref, hyp, uem=Timeline([Segment(0, duration)]))


def test_der_on_the_real_sample_call(diarization, sample):
    audio, sr, truth = sample
    error = der(truth, diarization.turns, len(audio) / sr)
    assert error <= DER_MAX, f"DER {100 * error:.2f} % > {100 * DER_MAX:.0f} %"


def test_two_speakers_with_overlap_kept(diarization):
    assert diarization.labels == ("SPEAKER_00", "SPEAKER_01")
    # the sample has overlapped speech; both voices' turns must survive in it
    assert sum(e - s for s, e in diarization.overlap) > 0.5
    for s, e in diarization.overlap:
        inside = {t.speaker for t in diarization.turns if t.start <= s + 1e-6 and t.end >= e - 1e-6}
        assert len(inside) >= 2


def test_turns_are_sorted_and_exclusive_turns_never_overlap(diarization):
    starts = [t.start for t in diarization.turns]
    assert starts == sorted(starts) and all(t.end > t.start for t in diarization.turns)
    ex = diarization.exclusive
    assert ex and all(a.end <= b.start + 1e-6 for a, b in zip(ex, ex[1:]))


def test_a_deliberately_wrong_diarization_fails_the_bar(diarization, sample):
    """The DER check can fail: swapping the labels of the second half is far over the bar."""
    from audio_pipeline.diarize import SpeakerTurn

    audio, sr, truth = sample
    swap = {"SPEAKER_00": "SPEAKER_01", "SPEAKER_01": "SPEAKER_00"}
    broken = [SpeakerTurn(t.start, t.end, swap[t.speaker] if t.start > 15 else t.speaker) for t in diarization.turns]
    assert der(truth, broken, len(audio) / sr) > DER_MAX


def test_silence_gives_an_empty_diarization(diarizer):
    out = diarizer(np.zeros(16000 * 12, dtype=np.float32), 16000)
    assert out.turns == () and out.labels == () and out.overlap == ()
