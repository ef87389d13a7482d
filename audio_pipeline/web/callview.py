"""The call page's data: the stored review arranged for display (timeline lanes, transcript with
word times, findings with their decisions and coaching, metrics, evaluation form). Shared by the
web app and the self-contained HTML export; pure over a review dict plus what the store says."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..analysis import timeline
from ..coaching import suggest
from ..decisions import CallEvent, Decision
from ..scorecard import Scorecard, prefill, score
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
    return {"duration": duration, "lanes": lanes, "height": len(lanes) * LANE_HEIGHT,
            "ticks": [(t, mmss(t)) for t in _ticks(duration)]}


def _ticks(duration: float) -> list[float]:
    step = next((s for s in (5, 10, 15, 30, 60, 120, 300, 600, 900) if duration / s <= 12), 1800)
    return [float(t) for t in range(0, int(duration) + 1, step)]


def transcript(review: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for u in review.get("utterances") or []:
        words = [{"s": w["start"], "e": w["end"], "text": w["text"], "unheard": w["text"] == UNHEARD}
                 for w in u.get("words") or ()]
        out.append({"speaker": u["speaker"], "start": u["start"], "end": u["end"], "when": mmss(u["start"]),
                    "text": u.get("text", ""), "words": words})
    return out


def findings(review: Mapping[str, Any], ids: Sequence[int], decisions: Mapping[int, Decision],
             opts: WebOptions) -> list[dict[str, Any]]:
    """The findings a supervisor reviews (backchannels are not faults), with row ids, the latest
    decision on each and a coaching suggestion where one applies."""
    out = []
    raw = review.get("findings") or []
    for idx, f in enumerate(raw):
        if f["type"] == "backchannel":
            continue
        fid = ids[idx] if idx < len(ids) else None
        out.append({"id": fid, "f": f, "when": mmss(f["start"]), "until": mmss(f["end"]),
                    "decision": decisions.get(fid) if fid is not None else None,
                    "suggestion": suggest(f, review, lookback=opts.coaching_lookback,
                                          quote_words=opts.coaching_quote_words)})
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


def evaluation(card: Scorecard, review: Mapping[str, Any], saved: CallEvent | None) -> dict[str, Any]:
    """The form's questions with the saved answers (or the pre-filled ones) and the score."""
    pre = prefill(card, review)
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


def call_view(review: Mapping[str, Any], *, call: Mapping[str, Any], finding_ids: Sequence[int],
              decisions: Mapping[int, Decision], card: Scorecard, saved_evaluation: CallEvent | None,
              opts: WebOptions) -> dict[str, Any]:
    audio = review["audio"]
    return {
        "call": call, "review": review, "name": call.get("call_id") or Path(audio["path"]).name,
        "duration": mmss(audio["duration"]), "timeline": timeline_lanes(review, opts.silence_min),
        "transcript": transcript(review), "findings": findings(review, finding_ids, decisions, opts),
        "metrics": metrics(review), "roles": review.get("roles"),
        "evaluation": evaluation(card, review, saved_evaluation),
    }
