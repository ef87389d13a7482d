"""Mask personal data in a Review before anything is written: utterance text, words, the findings'
evidence and messages, the roles' evidence. Timing is kept (a masked word keeps its start/end), so
reports read the same and `--redact-audio` knows which stretches to silence.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..types import Finding, Review, Utterance, Word
from .engine import PiiEngine, mask
from .rules import Span

CONTEXT_TURNS = 2  # the turns before an utterance are read for cue words ("what's your card number?")


@dataclass(frozen=True, slots=True)
class PrivacyOptions:
    redact: bool = False
    redact_audio: bool = False
    audio_margin: float = 0.15
    presidio: bool = True
    score_min: float = 0.5

    @classmethod
    def from_config(cls, raw: Mapping[str, Any]) -> "PrivacyOptions":
        section = dict(raw.get("privacy") or {})
        return cls(**{k: section[k] for k in cls.__dataclass_fields__ if k in section})


@dataclass(frozen=True, slots=True)
class Redacted:
    review: Review
    spans: tuple[tuple[float, float, str], ...]   # (start, end, entity) in seconds, from the words
    entities: int


def _word_offsets(text: str, words: Sequence[Word]) -> list[tuple[int, int] | None]:
    """Where each word sits in the utterance text (words are the text's tokens, in order)."""
    out, pos = [], 0
    for w in words:
        token = w.text.strip()
        at = text.find(token, pos) if token else -1
        if at < 0:
            out.append(None)
            continue
        out.append((at, at + len(token)))
        pos = at + len(token)
    return out


def _redact_utterance(u: Utterance, spans: Sequence[Span]) -> tuple[Utterance, list[tuple[float, float, str]]]:
    if not spans:
        return u, []
    words, timed = list(u.words), []
    for k, where in enumerate(_word_offsets(u.text, u.words)):
        hit = next((s for s in spans if where is not None and where[0] < s.end and s.start < where[1]), None)
        if hit is not None:
            words[k] = replace(words[k], text=f"[{hit.entity}]")
            timed.append((words[k].start, words[k].end, hit.entity))
    if not u.words:  # no word timing: the whole utterance is the span
        timed = [(u.start, u.end, s.entity) for s in spans[:1]]
    return replace(u, text=mask(u.text, spans), words=tuple(words)), timed


def _mask_known(text: str, secrets: Sequence[tuple[str, str]], engine: PiiEngine) -> str:
    """Evidence quotes the transcript: mask what was masked there, then anything else the engine finds."""
    if not text:
        return text
    for secret, entity in secrets:
        text = re.sub(re.escape(secret), f"[{entity}]", text, flags=re.IGNORECASE)
    return mask(text, engine.spans(text))


def redact_review(review: Review, engine: PiiEngine) -> Redacted:
    utterances, timed, secrets = [], [], []
    previous: list[str] = []
    for u in review.utterances:
        spans = engine.spans(u.text, " ".join(previous[-CONTEXT_TURNS:]))
        secrets += [(u.text[s.start:s.end], s.entity) for s in spans if len(u.text[s.start:s.end].strip()) >= 3]
        new, found = _redact_utterance(u, spans)
        utterances.append(new)
        timed += found
        previous.append(u.text)
    secrets.sort(key=lambda s: -len(s[0]))  # longest first: a card number before its last four digits
    # evidence quotes the transcript (its secrets are known now) and messages are templates: the
    # rules suffice there, the NLP model would only cost time
    quotes = PiiEngine(None, tuple(engine.entities))
    findings = tuple(_redact_finding(f, secrets, quotes) for f in review.findings)
    roles = review.roles
    if roles is not None and roles.evidence:
        roles = replace(roles, evidence=_mask_known(roles.evidence, secrets, quotes))
    out = replace(review, utterances=tuple(utterances), findings=findings, roles=roles)
    return Redacted(out, tuple(timed), len(secrets))


def _redact_finding(f: Finding, secrets: Sequence[tuple[str, str]], engine: PiiEngine) -> Finding:
    extra = {k: _mask_known(v, secrets, engine) if isinstance(v, str) and k in ("exemplar", "text", "quote") else v
             for k, v in f.extra.items()}
    return replace(f, evidence=_mask_known(f.evidence, secrets, engine),
                   message=_mask_known(f.message, secrets, engine), extra=extra)


class Redactor:
    """Loaded once (spaCy ~1 s), used for every call of a run."""

    def __init__(self, opts: PrivacyOptions) -> None:
        from .engine import load_engine

        self.opts = opts
        self.engine = load_engine(opts.presidio, opts.score_min)

    def __call__(self, review: Review) -> Redacted:
        return redact_review(review, self.engine)
