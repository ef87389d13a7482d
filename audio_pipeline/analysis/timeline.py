"""Interval arithmetic on sorted (start, end) tuples, in the spirit of pyannote.core's Timeline:
union, intersection and gaps are what overlap, talk time and silence are made of."""
from __future__ import annotations

from typing import Iterable, Sequence

Span = tuple[float, float]


def merge(spans: Iterable[Span], max_gap: float = 0.0) -> list[Span]:
    """Union of spans; spans separated by at most `max_gap` are joined."""
    out: list[list[float]] = []
    for start, end in sorted(spans):
        if out and start - out[-1][1] <= max_gap:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(s, e) for s, e in out]


def total(spans: Iterable[Span]) -> float:
    return sum(e - s for s, e in spans)


def intersect(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    """Pairwise intersection of two merged, sorted span lists (linear sweep)."""
    out: list[Span] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def clip(spans: Sequence[Span], start: float, end: float) -> list[Span]:
    return intersect(spans, [(start, end)])


def gaps(spans: Sequence[Span], start: float, end: float) -> list[Span]:
    """Stretches of [start, end] covered by none of the merged, sorted `spans`."""
    out: list[Span] = []
    cursor = start
    for s, e in spans:
        if s > cursor:
            out.append((cursor, min(s, end)))
        cursor = max(cursor, e)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return [(s, e) for s, e in out if e > s]
