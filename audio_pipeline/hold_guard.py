"""Words Whisper invents in a long silence or hold: a lone low-confidence word stretched over the
music, or one short phrase repeated ("thank you thank you thank you"), with nobody speaking for a
long while either side. Real short answers ("yes") sit close to other speech, so they stay."""
from __future__ import annotations

import re
from collections.abc import Sequence

from .types import UNHEARD, Utterance

_WORD = re.compile(r"[a-z']+")


def _isolated(i: int, utterances: Sequence[Utterance], gap: float) -> bool:
    u = utterances[i]
    before = max((v.end for j, v in enumerate(utterances) if j != i and v.start < u.start), default=float("-inf"))
    after = min((v.start for j, v in enumerate(utterances) if j != i and v.start >= u.start and v.end > u.end),
                default=float("inf"))
    return u.start - before >= gap and after - u.end >= gap


def is_invented(u: Utterance, max_probability: float) -> bool:
    words = [w for w in u.words if w.text != UNHEARD]
    if not words:
        return False
    tokens = _WORD.findall(u.text.lower())
    mean_p = sum(w.probability for w in words) / len(words)
    lone = len(words) <= 2 and mean_p <= max_probability
    looping = len(tokens) >= 3 and len(set(tokens)) <= 2  # "thank you thank you thank you"
    return lone or looping


def drop_invented(utterances: Sequence[Utterance], gap: float, max_probability: float) -> list[Utterance]:
    """The utterances without those invented in a long silence (`gap` seconds of no speech either side)."""
    if gap <= 0:
        return list(utterances)
    ordered = sorted(utterances, key=lambda u: (u.start, u.end))
    return [u for i, u in enumerate(ordered) if not (_isolated(i, ordered, gap) and is_invented(u, max_probability))]
