"""Scoring reviews against labelled calls: one-to-one matching of finding spans to truth events,
precision/recall/F1. Used by bench/ and by the integration tests."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

Span = tuple[float, float]
TOLERANCE = 0.5  # seconds of slack when matching a finding's span to a truth event


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list = field(default_factory=list)

    def add(self, tp: int, fp: int, fn: int) -> None:
        self.tp, self.fp, self.fn = self.tp + tp, self.fp + fp, self.fn + fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def overlap(a: Span, b: Span, tol: float = TOLERANCE) -> float:
    return min(a[1], b[1]) + tol - max(a[0], b[0])


def match(hyp: Sequence[Span], ref: Sequence[Span], tol: float = TOLERANCE) -> tuple[int, list[Span], list[Span]]:
    """Greedy one-to-one matching by overlap; returns (true positives, unmatched hyp, unmatched ref)."""
    pairs = sorted(((overlap(h, r, tol), i, j) for i, h in enumerate(hyp) for j, r in enumerate(ref)), reverse=True)
    used_h: set[int] = set()
    used_r: set[int] = set()
    for score, i, j in pairs:
        if score > 0 and i not in used_h and j not in used_r:
            used_h.add(i)
            used_r.add(j)
    return (len(used_h), [h for i, h in enumerate(hyp) if i not in used_h],
            [r for j, r in enumerate(ref) if j not in used_r])


def spans(items: Iterable[Mapping], kind: str, speaker: str | None = None) -> list[Span]:
    return [(x["start"], x["end"]) for x in items
            if x["type"] == kind and (speaker is None or x.get("speaker") == speaker)]


def score(findings: Iterable[Mapping], events: Iterable[Mapping], kind: str, speaker: str | None = None,
          tally: Tally | None = None, name: str = "") -> Tally:
    tally = tally or Tally()
    tp, fp, fn = match(spans(findings, kind, speaker), spans(events, kind, speaker))
    tally.add(tp, len(fp), len(fn))
    tally.misses += [(name, "FP", s) for s in fp] + [(name, "FN", s) for s in fn]
    return tally


def normalise_text(text: str) -> str:
    text = text.lower().replace("-", " ")
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text).split())
