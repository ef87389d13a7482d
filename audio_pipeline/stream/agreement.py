"""Local agreement (the whisper_streaming policy): a word is committed once two successive decodes
of the growing, uncommitted audio agree on it and on everything before it; and where a buffer of
committed words can be cut. Pure functions."""
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


def pause_after(committed: Sequence[Word], following: Sequence[Word], shortest: float) -> float | None:
    """The middle of the last pause (≥ `shortest` s) that follows a committed word: where an open
    region's buffer can be cut without cutting a word (whisper_streaming trims at such points)."""
    words = list(committed) + list(following)
    for i in range(len(committed) - 1, -1, -1):
        if i + 1 < len(words) and words[i + 1].start - words[i].end >= shortest:
            return (words[i].end + words[i + 1].start) / 2
    return None
