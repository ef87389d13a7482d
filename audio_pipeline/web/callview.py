"""The call page's data: the stored review arranged for display (timeline lanes, transcript with
word times, findings with their decisions and coaching, metrics, evaluation form). Shared by the
web app and the self-contained HTML export; pure over a review dict plus what the store says."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from html import escape

from markupsafe import Markup

from ..analysis import timeline
from ..coaching import Transcript, suggest
from ..decisions import CallEvent, Decision
from ..scorecard import Prefilled, Scorecard, prefill, score
from ..types import UNHEARD
from .options import WebOptions

PARTIES = ("agent", "customer", "other")
LANE_HEIGHT = 10


def mmss(t: float) -> str:
    t = max(0.0, float(t))
    return f"{int(t // 60):02d}:{int(t % 60):02d}"


@dataclass(frozen=True, slots=True)
class Lane:
    name: str
    spans: list[tuple[float, float]]
    y: int


def timeline_lanes(review: Mapping[str, Any], silence_min: float) -> dict[str, Any]:
    """One lane per party (speech spans), then overlaps and silences; SVG units are seconds."""
    duration = float(review["audio"]["duration"]) or 1.0
    spans: dict[str, list[tuple[float, float]]] = {p: [] for p in PARTIES}
    for u in review.get("utterances") or []:
        spans.setdefault(u["speaker"], []).append((float(u["start"]), float(u["end"])))
    merged = {p: timeline.merge(sorted(s)) for p, s in spans.items()}
    parties = [p for p in PARTIES if merged[p] or p != "other"]
    lanes = [Lane(p, merged[p], i * LANE_HEIGHT) for i, p in enumerate(parties)]
    overlap = timeline.intersect(merged["agent"], merged["customer"])
    speech = timeline.merge(sorted(s for p in parties for s in merged[p]))
    silences = [g for g in timeline.gaps(speech, 0.0, duration) if g[1] - g[0] >= silence_min]
    lanes.append(Lane("overlap", overlap, len(lanes) * LANE_HEIGHT))
    lanes.append(Lane("silence", silences, len(lanes) * LANE_HEIGHT))
    # numbers only, so ready markup: thousands of spans in a long call
    svg = Markup("".join(
        f'<g class="lane lane-{lane.name}">'
        + "".join(f'<rect x="{s:.2f}" y="{lane.y + 1}" width="{e - s:.2f}" height="8" data-seek="{s:.2f}"></rect>'
                  for s, e in lane.spans) + "</g>" for lane in lanes))
    return {"duration": duration, "lanes": lanes, "lanes_svg": svg, "height": len(lanes) * LANE_HEIGHT,
            "ticks": [(t, mmss(t)) for t in _ticks(duration)]}


def _ticks(duration: float) -> list[float]:
    step = next((s for s in (5, 10, 15, 30, 60, 120, 300, 600, 900) if duration / s <= 12), 1800)
    return [float(t) for t in range(0, int(duration) + 1, step)]


def _text(t: str) -> str:
    """Text-content escaping (no quotes needed outside attributes), skipped for plain words."""
    return escape(t, quote=False) if ("&" in t or "<" in t or ">" in t) else t


def transcript(review: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Utterances with their words as ready markup: a one-hour call has ~10,000 words, and one
    template expression per word costs more than the rest of the page. Times go through float(): only
    numbers ever reach an attribute."""
    out = []
    for u in review.get("utterances") or []:
        words = u.get("words") or ()
        if words:
            spans = "".join([f'<span class="w{" unheard" if w["text"] == UNHEARD else ""}" data-s="{float(w["start"])}"'
                             f' data-e="{float(w["end"])}">{_text(w["text"])}</span> ' for w in words])
        else:
            spans = f'<span class="w" data-s="{float(u["start"])}" data-e="{float(u["end"])}">{_text(u.get("text", ""))}</span>'
        out.append({"speaker": u["speaker"], "start": u["start"], "end": u["end"], "when": mmss(u["start"]),
                    "text": u.get("text", ""), "words_html": Markup(spans)})
    return out


def findings(review: Mapping[str, Any], ids: Sequence[int], opts: WebOptions) -> list[dict[str, Any]]:
    """The findings a supervisor reviews (backchannels are not faults), with their row ids and a
    coaching suggestion where one applies."""
    out = []
    raw = review.get("findings") or []
    said = Transcript(review)
    for idx, f in enumerate(raw):
        if f["type"] == "backchannel":
            continue
        out.append({"id": ids[idx] if idx < len(ids) else None, "f": f, "when": mmss(f["start"]),
                    "until": mmss(f["end"]),
                    "suggestion": suggest(f, review, lookback=opts.coaching_lookback,
                                          quote_words=opts.coaching_quote_words, transcript=said)})
    return out


def metrics(review: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for key, value in (review.get("metrics") or {}).items():
        if isinstance(value, dict):
            text = ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "—"
        elif value is None:
            text = "—"
        elif key.endswith("_ratio"):
            text = f"{value:.0%}"
        elif isinstance(value, float):
            text = f"{value:.2f}"
        else:
            text = str(value)
        rows.append((key.replace("_", " "), text))
    return rows


def evaluation(card: Scorecard, pre: Mapping[str, Prefilled], saved: CallEvent | None) -> dict[str, Any]:
    """The form's questions with the saved answers (or the pre-filled ones) and the score."""
    answers = dict((saved.payload.get("answers") or {}) if saved else {})
    sections = []
    for s in card.sections:
        qs = []
        for q in s.questions:
            answer = answers.get(q.id, pre[q.id].answer) if saved else pre[q.id].answer
            qs.append({"q": q, "answer": answer, "why": pre[q.id].why,
                       "note": ((saved.payload.get("notes") or {}).get(q.id, "") if saved else "")})
        sections.append({"s": s, "questions": qs})
    current = {q["q"].id: q["answer"] for s in sections for q in s["questions"]}
    return {"sections": sections, "score": score(card, current), "saved": saved}


@dataclass(frozen=True)
class ReviewView:
    """What a stored review shows whatever reviewers decide. A stored review never changes (a role
    swap stores a new one), so this can be kept and reused across requests."""

    review: Mapping[str, Any]
    timeline: Mapping[str, Any]
    transcript: Sequence[Mapping[str, Any]]
    findings: Sequence[Mapping[str, Any]]
    metrics: Sequence[tuple[str, str]]
    prefilled: Mapping[str, Prefilled]


def review_view(review: Mapping[str, Any], finding_ids: Sequence[int], card: Scorecard,
                opts: WebOptions) -> ReviewView:
    return ReviewView(review, timeline_lanes(review, opts.silence_min), transcript(review),
                      findings(review, finding_ids, opts), metrics(review), prefill(card, review))


def call_view(rv: ReviewView, *, call: Mapping[str, Any], decisions: Mapping[int, Decision], card: Scorecard,
              saved_evaluation: CallEvent | None) -> dict[str, Any]:
    """The call page's data: the review's view plus what reviewers decided on it."""
    audio = rv.review["audio"]
    return {
        "call": call, "review": rv.review, "name": call.get("call_id") or Path(audio["path"]).name,
        "duration": mmss(audio["duration"]), "timeline": rv.timeline, "transcript": rv.transcript,
        "findings": [{**f, "decision": decisions.get(f["id"])} for f in rv.findings],
        "metrics": rv.metrics, "roles": rv.review.get("roles"),
        "evaluation": evaluation(card, rv.prefilled, saved_evaluation),
    }
