"""The call evaluation form: sections of weighted yes/no questions from a YAML file
(configs/scorecard.yaml), pre-filled from a review's findings, scored 0-100 with auto-fail items.
Pure: no I/O except `load_scorecard`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .config import CONFIG_DIR, ConfigError, read_yaml

DEFAULT_SCORECARD = CONFIG_DIR / "scorecard.yaml"
ANSWERS = ("yes", "no", "na")
_TOP_KEYS = {"opening_seconds", "closing_seconds", "sections"}
_SECTION_KEYS = {"id", "title", "questions"}
_QUESTION_KEYS = {"id", "text", "weight", "auto_fail", "fails_on", "agent_says", "where", "prefill"}


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    weight: float
    auto_fail: bool = False
    fails_on: tuple[Mapping[str, Any], ...] = ()
    agent_says: tuple[str, ...] = ()
    where: str = "start"
    prefill: str = "yes"


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Scorecard:
    sections: tuple[Section, ...]
    opening_seconds: float = 30.0
    closing_seconds: float = 45.0

    @property
    def questions(self) -> list[Question]:
        return [q for s in self.sections for q in s.questions]


@dataclass(frozen=True, slots=True)
class Prefilled:
    answer: str | None     # yes / no / na, or None: the reviewer must answer
    why: str


@dataclass(frozen=True, slots=True)
class Score:
    score: float | None    # None when nothing is answered
    auto_failed: tuple[str, ...]
    unanswered: tuple[str, ...]


def _unknown(kind: str, given: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(given) - allowed)
    if extra:
        raise ConfigError(f"scorecard: unknown {kind} key(s) {', '.join(extra)}")


def parse_scorecard(data: Mapping[str, Any]) -> Scorecard:
    if not isinstance(data, Mapping) or not data.get("sections"):
        raise ConfigError("scorecard: needs a list of sections")
    _unknown("top-level", data, _TOP_KEYS)
    sections, seen = [], set()
    for s in data["sections"]:
        _unknown("section", s, _SECTION_KEYS)
        questions = []
        for q in s.get("questions") or []:
            _unknown("question", q, _QUESTION_KEYS)
            if q.get("id") in seen or not q.get("id"):
                raise ConfigError(f"scorecard: question id '{q.get('id')}' is missing or repeated")
            seen.add(q["id"])
            prefill = str(q.get("prefill", "yes")).lower()
            if prefill not in (*ANSWERS, "none") or q.get("where", "start") not in ("start", "end"):
                raise ConfigError(f"scorecard: question {q['id']}: prefill must be yes/no/na/none, where start/end")
            try:
                weight = float(q.get("weight", 1))
            except (TypeError, ValueError):
                raise ConfigError(f"scorecard: question {q['id']}: weight must be a number") from None
            questions.append(Question(
                id=str(q["id"]), text=str(q.get("text", q["id"])), weight=weight, auto_fail=bool(q.get("auto_fail")),
                fails_on=tuple(dict(f) for f in q.get("fails_on") or ()),
                agent_says=tuple(str(p).lower() for p in q.get("agent_says") or ()),
                where=q.get("where", "start"), prefill=prefill))
        sections.append(Section(id=str(s["id"]), title=str(s.get("title", s["id"])), questions=tuple(questions)))
    return Scorecard(tuple(sections), float(data.get("opening_seconds", 30)), float(data.get("closing_seconds", 45)))


def load_scorecard(path: str | Path | None = None) -> Scorecard:
    return parse_scorecard(read_yaml(Path(path) if path else DEFAULT_SCORECARD, "scorecard"))


def _matches(finding: Mapping[str, Any], rule: Mapping[str, Any]) -> bool:
    return all(finding.get(k) == v for k, v in rule.items() if k != "min")


def _mmss(t: float) -> str:
    return f"{int(t // 60):02d}:{int(t % 60):02d}"


def prefill(card: Scorecard, review: Mapping[str, Any]) -> dict[str, Prefilled]:
    findings = review.get("findings") or []
    duration = float((review.get("audio") or {}).get("duration") or 0.0)
    agent = [u for u in review.get("utterances") or [] if u.get("speaker") == "agent"]
    out = {}
    for q in card.questions:
        out[q.id] = _prefill_one(card, q, findings, agent, duration)
    return out


def _prefill_one(card: Scorecard, q: Question, findings: Sequence[Mapping[str, Any]],
                 agent: Sequence[Mapping[str, Any]], duration: float) -> Prefilled:
    for rule in q.fails_on:
        hits = [f for f in findings if _matches(f, rule)]
        if hits and len(hits) >= int(rule.get("min", 1)):
            when = ", ".join(_mmss(float(f.get("start", 0))) for f in hits[:4])
            return Prefilled("no", f"{len(hits)} {rule.get('type', 'matching')} finding(s) at {when}")
    if q.agent_says:
        if q.where == "start":
            said = [u for u in agent if u["start"] <= card.opening_seconds]
        else:
            said = [u for u in agent if u["end"] >= duration - card.closing_seconds]
        text = " ".join(u.get("text", "") for u in said).lower()
        phrase = next((p for p in q.agent_says if p in text), None)
        edge = "first" if q.where == "start" else "last"
        seconds = card.opening_seconds if q.where == "start" else card.closing_seconds
        if phrase:
            return Prefilled("yes", f"agent said \"{phrase}\" in the {edge} {seconds:g} s")
        return Prefilled("no", f"no such phrase from the agent in the {edge} {seconds:g} s")
    if q.fails_on:
        return Prefilled("yes", "no matching finding")
    return Prefilled(None if q.prefill == "none" else q.prefill, "the reviewer decides")


def score(card: Scorecard, answers: Mapping[str, str | None]) -> Score:
    earned = possible = 0.0
    failed, unanswered = [], []
    for q in card.questions:
        answer = answers.get(q.id)
        if answer not in ANSWERS:
            unanswered.append(q.id)
            continue
        if answer == "na":
            continue
        possible += q.weight
        if answer == "yes":
            earned += q.weight
        elif q.auto_fail:
            failed.append(q.id)
    if failed:
        return Score(0.0, tuple(failed), tuple(unanswered))
    return Score(round(100.0 * earned / possible, 1) if possible else None, (), tuple(unanswered))
