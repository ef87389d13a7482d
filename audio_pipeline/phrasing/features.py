"""Input vectors of the phrasing head, from embeddings the caller computed (pure numpy).

x = [u, c, u * c, lexicon flags]: u is the utterance's sentence embedding, c the context's — the
L2-normalised weighted mean of the embeddings of the turns before it (the last counts double), so
each line of a call is embedded once however many contexts it is part of; u * c lets a linear
head see how the reply relates to what was said before it ("that would worry anyone" after a
worry, the same words after a price question). The lexicon's matches enter as 0/1 flags: evidence
the head weighs, never a gate."""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .labels import DISTRESS_KINDS, EMPATHY_CATEGORIES

LEXICON_FLAGS = (*(f"empathy:{c}" for c in EMPATHY_CATEGORIES), "dismissive", "sympathy",
                 *(f"distress:{k}" for k in DISTRESS_KINDS))
_FLAG_INDEX = {name: i for i, name in enumerate(LEXICON_FLAGS)}
_CONTEXT_WEIGHTS = (0.5, 1.0)      # oldest … newest of the context turns


def flag_name(kind: str, category: str | None) -> str:
    return f"{kind}:{category}" if kind in ("empathy", "distress") else kind


def flags(matches: Iterable[tuple[str, str | None]]) -> np.ndarray:
    """0/1 vector over LEXICON_FLAGS from (kind, category) lexicon matches."""
    v = np.zeros(len(LEXICON_FLAGS), dtype=np.float32)
    for kind, category in matches:
        i = _FLAG_INDEX.get(flag_name(kind, category))
        if i is not None:
            v[i] = 1.0
    return v


def context_vector(turns: Sequence[np.ndarray], dim: int) -> np.ndarray:
    """Weighted mean of the context turns' embeddings, L2-normalised; zeros without context."""
    if not turns:
        return np.zeros(dim, dtype=np.float32)
    weights = _CONTEXT_WEIGHTS[-len(turns):] if len(turns) <= len(_CONTEXT_WEIGHTS) else \
        (_CONTEXT_WEIGHTS[0],) * (len(turns) - 1) + (_CONTEXT_WEIGHTS[-1],)
    mean = sum(w * t for w, t in zip(weights, turns))
    norm = float(np.linalg.norm(mean))
    return (mean / norm).astype(np.float32) if norm > 0 else np.zeros(dim, dtype=np.float32)


def assemble(u: np.ndarray, c: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Rows of [u, c, u*c, f] for (n, d) utterance and context embeddings and (n, k) flags."""
    return np.hstack([u, c, u * c, f]).astype(np.float32)
