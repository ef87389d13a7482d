"""Coaching suggestions: what the agent could have said instead of a dismissive or pitying line, or
where they missed the customer's distress. Built from the customer-service guidance the lexicon
follows (acknowledge the feeling, validate it, then act) and the customer's own words, and always
presented as a suggestion, never as what was said. Pure: review.json dicts in, text out."""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

COACHED_TYPES = ("dismissive", "sympathy", "missed_empathy")
_LONGEST_UTTERANCE = 600.0   # seconds: how far back an utterance overlapping a moment can start

_FEELING = {"frustration": "frustrating", "worry": "worrying", "anger": "upsetting",
            "disappointment": "disappointing", "confusion": "confusing"}

_WHY = {
    "dismissive": "Brushing the concern aside (\"calm down\", \"that's policy\") escalates: acknowledge the "
                  "feeling before explaining anything.",
    "sympathy": "Pity (\"I feel sorry for you\") keeps the agent outside the problem; empathy steps in and "
                "works it out together.",
    "missed_empathy": "The customer said how they felt and the agent went straight on: name the feeling first.",
}


@dataclass(frozen=True, slots=True)
class Suggestion:
    acknowledge: str
    validate: str
    act: str
    customer_words: str
    why: str

    @property
    def text(self) -> str:
        return " ".join(p for p in (self.acknowledge, self.validate, self.act) if p)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _quote(text: str, max_words: int) -> str:
    """The part of the customer's words worth saying back: the last sentence that carries feeling
    (or the last one), cut to a short phrase."""
    sentences = _sentences(text)
    if not sentences:
        return ""
    feeling = [s for s in sentences if re.search(r"\b(i'?m|i am|i've|i feel|this is|it'?s)\b", s, re.I)]
    words = (feeling or sentences)[-1].rstrip(".!?").split()
    return " ".join(words[:max_words]) + ("…" if len(words) > max_words else "")


def _customer_text(customer: Sequence[Mapping[str, Any]], starts: Sequence[float], start: float, end: float) -> str:
    """Text of the customer's utterances overlapping [start, end] (sorted by start; bisected, as a
    long call has hundreds of findings over thousands of utterances)."""
    i = bisect_left(starts, end)
    said = []
    while i > 0 and customer[i - 1]["start"] > start - _LONGEST_UTTERANCE:
        i -= 1
        u = customer[i]
        if u["end"] > start and u["start"] < end and u.get("text"):
            said.append(u["text"])
    return " ".join(reversed(said))


def _distress_category(review: Mapping[str, Any], start: float, end: float) -> str | None:
    for f in review.get("findings") or []:
        if f.get("type") == "customer_distress" and f["end"] > start - 0.5 and f["start"] < end + 0.5:
            return f.get("category")
    return None


class Transcript:
    """The customer's utterances of one review, sorted, for the suggestions' look-ups."""

    def __init__(self, review: Mapping[str, Any]) -> None:
        self.customer = sorted((u for u in review.get("utterances") or [] if u.get("speaker") == "customer"),
                               key=lambda u: u["start"])
        self.starts = [u["start"] for u in self.customer]


def suggest(finding: Mapping[str, Any], review: Mapping[str, Any], *, lookback: float = 60.0,
            quote_words: int = 16, transcript: Transcript | None = None) -> Suggestion | None:
    """`lookback`: seconds before a dismissive/pity line in which the customer's words are looked for;
    `quote_words`: how many of them are quoted back (configs/web.yaml, coaching). Pass `transcript`
    when suggesting for many findings of one review."""
    kind = finding.get("type")
    if kind not in COACHED_TYPES:
        return None
    t = transcript or Transcript(review)
    if kind == "missed_empathy":
        start = float(finding.get("cue_start", finding["start"]))
        end = float(finding.get("cue_end", finding["end"]))
    else:  # the agent's line: what the customer had said last before it
        end = float(finding["start"])
        start = max(0.0, end - lookback)
        i = bisect_right(t.starts, end + 1.0)
        before = [u for u in t.customer[max(0, i - 50):i] if start < u["end"] <= end + 1.0 and u.get("text")]
        if before:
            start = before[-1]["start"]
    quote = _quote(_customer_text(t.customer, t.starts, start, end), quote_words)
    category = finding.get("category") if kind == "missed_empathy" else None
    feeling = _FEELING.get(category or _distress_category(review, start, end) or "", "difficult")
    acknowledge = (f"You said \"{quote}\" — I can hear how {feeling} this is for you." if quote
                   else f"I can hear how {feeling} this is for you.")
    validate = "It's completely understandable to feel that way."
    act = "Let me take care of this with you right now: here is what I'll do next."
    return Suggestion(acknowledge, validate, act, quote, _WHY[kind])


def patterns(findings: Sequence[Mapping[str, Any]], limit: int = 8) -> list[dict[str, Any]]:
    """Most frequent (type, category) among an agent's findings, each with a few example lines."""
    groups: dict[tuple[str, str | None], list[Mapping[str, Any]]] = {}
    for f in findings:
        groups.setdefault((f["type"], f.get("category")), []).append(f)
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0][0], kv[0][1] or ""))[:limit]
    return [{"type": t, "category": c, "count": len(items),
             "examples": [i for i in items if i.get("evidence")][:3]} for (t, c), items in ranked]
