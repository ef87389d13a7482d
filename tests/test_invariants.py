"""Invariants of a review. Hypothesis drives the turn-taking analysis with generated calls; the real
pipeline (tiny.en) checks the same properties on a real recording: findings inside the audio,
dead_air and slow_response never on the same silence, a time shift shifts every finding by exactly
that much (analysis), swapped channels with a swapped --channels give the same review, every run the same."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_pipeline.analysis.turns import analyze_turns
from audio_pipeline.config import load_config
from audio_pipeline.review import build_review
from audio_pipeline.types import AudioInfo, Conversation, ModelInfo, Utterance, Word

from .conftest import SAMPLES

CFG = load_config()
VOCAB = ["mm hmm", "yeah", "right", "okay", "let me check that for you", "one moment please",
         "my internet keeps dropping every evening", "i am really frustrated", "thank you for calling",
         "as i already told you", "i understand how annoying that is", "can you hear me", "no", "sorry"]


TICK = 1 / 64  # times on a 1/64 s grid are exact in binary floating point: a shift cannot move a gap
# across a threshold by rounding (5.0 s of silence stays exactly 5.0 s wherever it lies)


@st.composite
def calls(draw) -> Conversation:
    utterances, clock = [], draw(st.integers(0, 192))
    for _ in range(draw(st.integers(0, 14))):
        speaker = draw(st.sampled_from(["agent", "customer"]))
        start = max(0, clock + draw(st.integers(-96, 768)))  # overlaps, pauses, long silences
        text = draw(st.sampled_from(VOCAB))
        words, at = [], start
        for token in text.split():
            length = draw(st.integers(13, 64 + 64 * (token == text.split()[-1])))
            words.append(Word(at * TICK, (at + length) * TICK, token, 0.9))
            at += length + 1
        utterances.append(Utterance(speaker, words[0].start, words[-1].end, text, tuple(words)))
        clock = max(clock, at)
    utterances.sort(key=lambda u: (u.start, u.end))
    return Conversation(tuple(utterances), (clock + draw(st.integers(32, 640))) * TICK)


def review_of(conv: Conversation):
    ta = analyze_turns(conv, CFG.turns, CFG.severity)
    info = AudioInfo("x.wav", "0" * 64, conv.duration, 16000, 2, "stereo")
    return build_review(info, ModelInfo("none", None, "cpu"), conv, ta, CFG)


def shifted(conv: Conversation, delta: float) -> Conversation:
    def move(u: Utterance) -> Utterance:
        return Utterance(u.speaker, u.start + delta, u.end + delta, u.text,
                         tuple(Word(w.start + delta, w.end + delta, w.text, w.probability) for w in u.words))
    return Conversation(tuple(move(u) for u in conv.utterances), conv.duration + delta)


def key(review, delta: float = 0.0) -> list[tuple]:
    return [(f.type, f.speaker, round(f.start - delta, 6), round(f.end - delta, 6), f.severity)
            for f in review.findings]


def overlap(a, b) -> float:
    return min(a.end, b.end) - max(a.start, b.start)


@settings(max_examples=150, deadline=None)
@given(calls())
def test_findings_inside_the_audio_and_one_finding_per_silence(conv):
    review = review_of(conv)
    assert all(0 <= f.start <= f.end <= conv.duration + 1e-9 for f in review.findings)
    dead = [f for f in review.findings if f.type == "dead_air"]
    slow = [f for f in review.findings if f.type == "slow_response"]
    assert not [(d, s) for d in dead for s in slow if overlap(d, s) > 1e-6]


@settings(max_examples=150, deadline=None)
@given(calls(), st.integers(1, 120 * 64).map(lambda n: n * TICK))
def test_leading_silence_shifts_every_finding(conv, delta):
    # no_speech covers the whole file, wherever it starts
    moved = [k for k in key(review_of(shifted(conv, delta)), delta) if k[0] != "no_speech"]
    plain = [k for k in key(review_of(conv)) if k[0] != "no_speech"]
    assert [k[:2] + k[4:] for k in moved] == [k[:2] + k[4:] for k in plain]
    assert np.allclose([k[2:4] for k in moved], [k[2:4] for k in plain], atol=1e-6) if plain else not moved


@settings(max_examples=50, deadline=None)
@given(calls())
def test_same_call_same_review(conv):
    assert review_of(conv) == review_of(conv)


# -- the real pipeline on a real recording ------------------------------------------------------

@pytest.fixture(scope="module")
def reviewer():
    from audio_pipeline.pipeline import Reviewer

    return Reviewer(CFG, device="cpu")


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    data, rate = sf.read(SAMPLES / "sample_crosstalk.flac", dtype="float32", always_2d=True)
    data = data[:25 * rate]  # 25 s hold interruptions, slow responses and dead air; keeps the test short
    folder = tmp_path_factory.mktemp("inv")
    variants = {"plain": data, "swapped": data[:, ::-1]}
    for name, samples in variants.items():
        sf.write(folder / f"{name}.wav", samples, rate, subtype="FLOAT")
    return folder


@pytest.mark.slow
def test_real_call_invariants(reviewer, call):
    from audio_pipeline.export import review_to_dict
    from audio_pipeline.pipeline import ChannelMap

    plain = reviewer.review(call / "plain.wav")
    assert plain.findings and plain.utterances
    again = review_to_dict(reviewer.review(call / "plain.wav"))
    assert again == review_to_dict(plain)  # every run the same
    assert all(0 <= f.start <= f.end <= plain.audio.duration for f in plain.findings)
    swapped = reviewer.review(call / "swapped.wav", channels=ChannelMap(agent=1, customer=0))
    assert key(swapped) == key(plain)
    assert [(u.speaker, u.text) for u in swapped.utterances] == [(u.speaker, u.text) for u in plain.utterances]
    # Leading silence is checked on the analysis only (exact, above): through Whisper it does not hold
    # exactly (measured on this recording: one word start moved 0.9 s, a backchannel appeared).
