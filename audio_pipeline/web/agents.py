"""The agent page: the agent's most frequent finding patterns with examples, and weekly trends
(evaluation score, interruptions, empathy, missed empathy per call)."""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..coaching import COACHED_TYPES, patterns
from .callview import mmss

_EXAMPLES = 3


def agent_view(db: sqlite3.Connection, agent: str) -> dict[str, Any] | None:
    calls = db.execute("SELECT COUNT(*) FROM queue_items WHERE agent_id=?", (agent,)).fetchone()[0]
    if not calls:
        return None
    weeks = db.execute("""
        SELECT date(q.started_at, 'weekday 0', '-6 days') AS week,  -- the week's Monday
               COUNT(*) AS calls, AVG(q.score) AS score,
               AVG(r.interruptions) AS interruptions, AVG(r.empathy) AS empathy,
               AVG(r.missed_empathy) AS missed_empathy, AVG(r.dismissive) AS dismissive, AVG(q.flagged) AS flagged
        FROM queue_items q JOIN reviews r ON r.id = q.review_id
        WHERE q.agent_id = ? AND q.started_at != ''
        GROUP BY week ORDER BY week""", (agent,)).fetchall()
    rows = db.execute("""
        SELECT f.id, f.review_id, f.call_pk, f.type, f.category, f.start, f.message,
               (SELECT COUNT(*) FROM findings f2 WHERE f2.review_id = f.review_id AND f2.id < f.id) AS idx
        FROM findings f JOIN queue_items q ON q.review_id = f.review_id
        WHERE q.agent_id = ? AND f.type != 'backchannel' AND (f.severity_rank > 0 OR f.type IN ({}))
        ORDER BY f.call_date DESC, f.id DESC""".format(",".join("?" * len(COACHED_TYPES))),
        (agent, *COACHED_TYPES)).fetchall()
    found = [{"type": r["type"], "category": r["category"], "evidence": r["message"], "ref": r} for r in rows]
    top = patterns(found)
    for p in top:  # the examples' own words come from their review.json
        p["examples"] = [_example(db, f["ref"]) for f in _first(found, p["type"], p["category"])]
    maxima = {k: max([w[k] or 0 for w in weeks] + [1e-9]) for k in ("interruptions", "empathy", "missed_empathy")}
    return {"agent": agent, "calls": calls, "weeks": [dict(w) for w in weeks], "patterns": top, "maxima": maxima}


def _first(found: list[dict], ftype: str, category: str | None) -> list[dict]:
    return [f for f in found if f["type"] == ftype and f["category"] == category][:_EXAMPLES]


def _example(db: sqlite3.Connection, ref: sqlite3.Row) -> dict[str, Any]:
    review = json.loads(db.execute("SELECT review_json FROM reviews WHERE id=?", (ref["review_id"],)).fetchone()[0])
    f = (review.get("findings") or [])[ref["idx"]]
    return {"call_pk": ref["call_pk"], "finding_id": ref["id"], "when": mmss(ref["start"]),
            "text": f.get("evidence") or f.get("message") or "", "message": f.get("message") or ""}
