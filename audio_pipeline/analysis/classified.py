"""Phrasing decisions by the trained model (audio_pipeline.phrasing): each agent or customer
utterance — and, when it is long, each of its sentences — is scored in the context of the two
utterances before it; a finding is made where a calibrated probability clears its threshold
(configs/default.yaml `empathy.threshold_*`). The lexicon's cues are features of the model and
the evidence shown with a finding (its span and phrase), never the gate. Pure: the embedder and
the model are passed in."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..config import EmpathyOptions
from ..phrasing.corpus import CONTEXT_TURNS
from ..phrasing.features import assemble, context_vector, flags
from ..phrasing.labels import DISTRESS_KINDS, EMPATHY_CATEGORIES, EMPATHY_WANTED
from ..phrasing.model import PhrasingModel
from .embedder import Embedder
from .empathy import PhraseMatch
from .empathy import _Prepared as Prepared


@dataclass(frozen=True, slots=True)
class Scored:
    """Model probabilities of one unit (the whole utterance, or one of its sentences)."""

    first: int
    last: int
    probs: dict[str, float]


def _units(prep: Prepared, opts: EmpathyOptions) -> list[tuple[int, int]]:
    whole = (0, len(prep.tokens))
    if len(prep.tokens) <= opts.max_sentence_words or len(prep.sentences) < 2:
        return [whole]
    return [whole] + [s.sentence for s in prep.sentences if s.sentence[1] - s.sentence[0] >= 3]


def score(preps: Sequence[Prepared], embedder: Embedder, model: PhrasingModel,
          opts: EmpathyOptions, only: Sequence[bool] | None = None) -> list[list[Scored]]:
    """Per utterance (in conversation order), its units with their probabilities (none for those
    `only` leaves out: they are context). Every text goes to the embedder in one batch; an
    utterance's own embedding is its successors' context."""
    units = [_units(p, opts) if p.speaker in model.sides and (only is None or only[i]) else []
             for i, p in enumerate(preps)]
    whole = [" ".join(p.tokens) for p in preps]
    extra = [(i, u) for i, us in enumerate(units) for u in us[1:]]
    vectors = embedder.encode(whole + [" ".join(preps[i].tokens[u[0]:u[1]]) for i, u in extra]) \
        if whole else np.zeros((0, 1), np.float32)
    dim = vectors.shape[1]
    unit_vec = {(i, us[0]): vectors[i] for i, us in enumerate(units) if us}
    unit_vec.update({(i, u): vectors[len(whole) + k] for k, (i, u) in enumerate(extra)})
    rows: dict[str, list[tuple[int, tuple[int, int], np.ndarray, np.ndarray, np.ndarray, str, list[str]]]] = {}
    for i, us in enumerate(units):
        before = [j for j in range(max(0, i - CONTEXT_TURNS), i) if whole[j]]
        ctx = context_vector([vectors[j] for j in before], dim)
        for u in us:
            lex = flags((m.kind, m.category) for m in preps[i].lexical if u[0] <= m.first and m.last <= u[1])
            text = " ".join(preps[i].tokens[u[0]:u[1]])
            rows.setdefault(preps[i].speaker, []).append((i, u, unit_vec[(i, u)], ctx, lex, text,
                                                          [whole[j] for j in before]))
    out: list[list[Scored]] = [[] for _ in preps]
    for speaker, items in rows.items():
        dense = assemble(np.stack([r[2] for r in items]), np.stack([r[3] for r in items]),
                         np.stack([r[4] for r in items]))
        probs = model.probabilities(speaker, dense, [r[5] for r in items], contexts=[r[6] for r in items])
        for k, (i, u, *_rest) in enumerate(items):
            out[i].append(Scored(u[0], u[1], {h: float(p[k]) for h, p in probs.items()}))
    return out


def _best(scored: Sequence[Scored], head: str) -> Scored:
    return max(scored, key=lambda s: (s.probs[head], -(s.last - s.first)))


def _evidence(prep: Prepared, unit: Scored, kind: str, category: str | None) -> PhraseMatch | None:
    """The lexicon cue of that label inside the unit, if there is one: its words are the evidence."""
    for m in prep.lexical:
        if m.kind == kind and (category is None or m.category == category) and unit.first <= m.first and m.last <= unit.last:
            return m
    return None


def _match(prep: Prepared, unit: Scored, kind: str, category: str | None, p: float,
           wants_empathy: float | None = None) -> PhraseMatch:
    cue = _evidence(prep, unit, kind, category)
    first, last = (cue.first, cue.last) if cue else (unit.first, unit.last)
    return PhraseMatch(kind, category, first, last, (unit.first, unit.last), " ".join(prep.tokens[first:last]),
                       "model", matched=cue.matched if cue else "", confidence=round(p, 3),
                       wants_empathy=wants_empathy)


def _thresholds(opts: EmpathyOptions) -> dict[str, float]:
    return {"empathy": opts.threshold_empathy, "dismissive": opts.threshold_dismissive,
            "sympathy": opts.threshold_sympathy, "distress": opts.threshold_distress}


def decide(prep: Prepared, scored: Sequence[Scored], opts: EmpathyOptions,
           wider: dict[str, float] | None = None) -> list[PhraseMatch]:
    """Findings-to-be of one utterance from its units' probabilities; dismissive also needs the
    `wider` reading (the turn with the speaker's neighbouring pieces), where there is one, to agree:
    the lower of the two decides."""
    if not scored:
        return []
    limits, found = _thresholds(opts), []
    if prep.speaker == "agent":
        for kind in ("dismissive", "sympathy"):
            best = _best(scored, kind)
            # pity keeps the piece's reading: read wider it lost lines where a pity line stands next
            # to another agent turn (every 4th dev dialogue: 2 lines) and gained none on dev text or audio
            wide = wider is not None and kind == "dismissive"
            p = min(best.probs[kind], wider[kind]) if wide else best.probs[kind]
            if p >= limits[kind]:
                found.append(_match(prep, best, kind, None, p))
        best = _best(scored, "empathy")
        if best.probs["empathy"] >= limits["empathy"]:
            cats = sorted(EMPATHY_CATEGORIES, key=lambda c: -best.probs[f"empathy:{c}"])
            chosen = [cats[0]] + [c for c in cats[1:] if best.probs[f"empathy:{c}"] >= opts.threshold_second_category]
            found += [_match(prep, best, "empathy", c, best.probs["empathy"]) for c in chosen]
    elif prep.speaker == "customer":
        found += _distress(prep, scored, opts)
    return found


def _distress(prep: Prepared, scored: Sequence[Scored], opts: EmpathyOptions) -> list[PhraseMatch]:
    """A line that wants empathy is distress of one of the kinds an agent owes an acknowledgement,
    whatever the kind heads say (they are far less sure than the heads asking whether at all)."""
    best, wanting = _best(scored, "distress"), _best(scored, "wants_empathy")
    if wanting.probs["wants_empathy"] >= opts.threshold_missed:
        kind = max(EMPATHY_WANTED, key=lambda k: wanting.probs[k])
        return [_match(prep, wanting, "distress", kind, max(wanting.probs["distress"], wanting.probs["wants_empathy"]),
                       wants_empathy=wanting.probs["wants_empathy"])]
    if best.probs["distress"] >= opts.threshold_distress:
        kind = max(DISTRESS_KINDS, key=lambda k: best.probs[k])
        return [_match(prep, best, "distress", kind, best.probs["distress"], wants_empathy=best.probs["wants_empathy"])]
    return []


def acknowledgement(scored: Sequence[Scored]) -> float:
    """How likely the utterance acknowledges the customer at all (empathy or sympathy): the
    missed-empathy decision reads this, in the context of the customer's words before it."""
    return max((max(s.probs.get("empathy", 0.0), s.probs.get("sympathy", 0.0)) for s in scored), default=0.0)
