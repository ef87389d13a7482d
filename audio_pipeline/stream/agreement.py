"""Local agreement (the whisper_streaming policy): a word is committed once two successive decodes
of the growing, uncommitted audio agree on it and on everything before it. Pure functions."""
from __future__ import annotations

from typing import Sequence

from ..evaluation import normalise_text
from ..types import Word


def _key(word: Word) -> str:
    return normalise_text(word.text)


def agreed_prefix(previous: Sequence[Word], current: Sequence[Word]) -> list[Word]:
    """The longest run of words at the head of `current` that the previous hypothesis also starts
    with (compared as normalised text; the current decode's timings are kept). Punctuation-only
    differences ("okay," vs "okay") agree; an empty normalised word never does."""
    out: list[Word] = []
    for before, now in zip(previous, current):
        key = _key(now)
        if not key or key != _key(before):
            break
        out.append(now)
    return out


def after(words: Sequence[Word], t: float) -> list[Word]:
    """Words whose middle lies at or after `t`: what a re-decode adds past the committed point."""
    return [w for w in words if (w.start + w.end) / 2 >= t]
