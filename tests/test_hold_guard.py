"""Words invented during a long hold are dropped; short real answers are not."""
from __future__ import annotations

from audio_pipeline.hold_guard import drop_invented
from audio_pipeline.types import Utterance, Word


def one(speaker: str, start: float, text: str, p: float, per_word: float = 0.4) -> Utterance:
    words = tuple(Word(start + i * per_word, start + (i + 1) * per_word, t, p) for i, t in enumerate(text.split()))
    return Utterance(speaker, words[0].start, words[-1].end, text, words)  # type: ignore[arg-type]


def test_guard_drops_lone_unsure_words_and_loops_far_from_speech():
    talk = [one("agent", 0, "let me check that for you one moment", 0.9), one("agent", 200, "thanks for holding", 0.9)]
    lone = one("agent", 60, "I'm", 0.36, per_word=1.8)
    loop = one("customer", 120, "thank you thank you thank you", 0.7)
    sure = one("customer", 90, "hello", 0.95)
    near = one("customer", 5, "okay", 0.3)  # a real, unsure answer close to other speech
    kept = drop_invented(talk + [lone, loop, sure, near], gap=10.0, max_probability=0.5)
    assert lone not in kept and loop not in kept
    assert sure in kept and near in kept and all(u in kept for u in talk)
    assert len(drop_invented(talk + [lone, loop], gap=0.0, max_probability=0.5)) == 4  # 0 = off
