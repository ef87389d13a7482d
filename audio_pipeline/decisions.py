"""Supervisors' side of the store: the review queue, transcript search and reviewer decisions.

`migrate` is the store's schema step for all of it (store.MIGRATIONS calls it once). It adds
  * queue_items: one row per call with its current review's sort keys, kept in step with `reviews`
    and `calls` by triggers, so the queue pages through an index at any size;
  * transcripts: an FTS5 index of each review's utterance texts (rowid = review id), also by trigger;
  * finding_decisions and call_events: append-only logs (who, when, what) of acknowledgements,
    disputes, comments, reviewed marks, evaluations and role swaps. Nothing is ever updated in
    place, so two reviewers working on one call at once both keep what they wrote; the current
    state is the latest entry, and the queue's reviewed/disputed columns are recomputed from the
    logs in the same transaction as each write.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

FINDING_DECISIONS = ("acknowledge", "dispute")
CALL_EVENTS = ("comment", "reviewed", "reopened", "evaluation", "roles_swapped")

# severity sort key: flagged, then critical count, then warnings, then flag reasons (each capped at 999)
_SEV_KEY = "({f} * 1000000000 + MIN({c}, 999) * 1000000 + MIN({w}, 999) * 1000 + MIN({n}, 999))"


def migrate(db: sqlite3.Connection) -> None:
    from .store import _execute_script

    sev_new = _SEV_KEY.format(f="NEW.flagged", c="NEW.critical", w="NEW.warning", n="NEW.n_reasons")
    sev_r = _SEV_KEY.format(f="r.flagged", c="r.critical", w="r.warning", n="r.n_reasons")
    _execute_script(db, f"""
    CREATE TABLE queue_items (
        call_pk     INTEGER PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
        review_id   INTEGER NOT NULL,         -- the call's current (newest) review
        flagged     INTEGER NOT NULL,
        critical    INTEGER NOT NULL,
        warning     INTEGER NOT NULL,
        sev_key     INTEGER NOT NULL,
        started_at  TEXT NOT NULL DEFAULT '', -- '' when unknown, so row-value paging never meets NULL
        duration    REAL NOT NULL DEFAULT 0,
        agent_id    TEXT,
        queue       TEXT,
        reviewed    INTEGER NOT NULL DEFAULT 0,
        disputed    INTEGER NOT NULL DEFAULT 0,   -- findings whose latest decision is a dispute
        score       REAL                          -- latest evaluation score
    );
    CREATE INDEX queue_severity ON queue_items(sev_key, started_at, call_pk);
    CREATE INDEX queue_started ON queue_items(started_at, call_pk);
    CREATE INDEX queue_duration ON queue_items(duration, call_pk);
    CREATE INDEX queue_agent ON queue_items(agent_id, sev_key, started_at, call_pk);
    CREATE INDEX queue_review ON queue_items(review_id);
    CREATE INDEX queue_queue ON queue_items(queue);
    CREATE INDEX findings_type_review ON findings(type, review_id);   -- the queue's finding-type filter

    CREATE VIRTUAL TABLE transcripts USING fts5(text, tokenize = 'unicode61 remove_diacritics 2');

    CREATE TABLE finding_decisions (
        id          INTEGER PRIMARY KEY,
        finding_id  INTEGER NOT NULL REFERENCES findings(id) ON DELETE CASCADE,
        review_id   INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
        call_pk     INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        decision    TEXT NOT NULL CHECK (decision IN ('acknowledge', 'dispute')),
        reason      TEXT NOT NULL DEFAULT '',
        reviewer    TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX finding_decisions_finding ON finding_decisions(finding_id, id);
    CREATE INDEX finding_decisions_call ON finding_decisions(call_pk, id);

    CREATE TABLE call_events (
        id          INTEGER PRIMARY KEY,
        call_pk     INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        review_id   INTEGER REFERENCES reviews(id) ON DELETE SET NULL,
        kind        TEXT NOT NULL,            -- comment | reviewed | reopened | evaluation | roles_swapped
        body        TEXT NOT NULL DEFAULT '',
        payload     TEXT NOT NULL DEFAULT '{{}}',
        reviewer    TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX call_events_call ON call_events(call_pk, kind, id);

    CREATE TRIGGER queue_review_added AFTER INSERT ON reviews BEGIN
        INSERT INTO queue_items (call_pk, review_id, flagged, critical, warning, sev_key, started_at, duration,
                                 agent_id, queue)
        SELECT NEW.call_pk, NEW.id, NEW.flagged, NEW.critical, NEW.warning, {sev_new},
               COALESCE(c.started_at, ''), COALESCE(c.duration, 0), c.agent_id, c.queue
        FROM calls c WHERE c.id = NEW.call_pk
        ON CONFLICT (call_pk) DO UPDATE SET
            review_id = excluded.review_id, flagged = excluded.flagged, critical = excluded.critical,
            warning = excluded.warning, sev_key = excluded.sev_key
        WHERE excluded.review_id > queue_items.review_id;
        INSERT INTO transcripts (rowid, text)
        SELECT NEW.id, COALESCE(group_concat(json_extract(u.value, '$.text'), ' '), '')
        FROM json_each(NEW.review_json, '$.utterances') u;
    END;

    CREATE TRIGGER queue_review_removed AFTER DELETE ON reviews BEGIN
        DELETE FROM transcripts WHERE rowid = OLD.id;
        DELETE FROM queue_items WHERE review_id = OLD.id;
    END;

    CREATE TRIGGER queue_call_changed AFTER UPDATE OF agent_id, queue, started_at, duration ON calls BEGIN
        UPDATE queue_items SET agent_id = NEW.agent_id, queue = NEW.queue,
               started_at = COALESCE(NEW.started_at, ''), duration = COALESCE(NEW.duration, 0)
        WHERE call_pk = NEW.id;
    END;

    INSERT INTO queue_items (call_pk, review_id, flagged, critical, warning, sev_key, started_at, duration,
                             agent_id, queue)
    SELECT r.call_pk, r.id, r.flagged, r.critical, r.warning, {sev_r},
           COALESCE(c.started_at, ''), COALESCE(c.duration, 0), c.agent_id, c.queue
    FROM current_reviews r JOIN calls c ON c.id = r.call_pk;

    INSERT INTO transcripts (rowid, text)
    SELECT r.id, (SELECT COALESCE(group_concat(json_extract(u.value, '$.text'), ' '), '')
                  FROM json_each(r.review_json, '$.utterances') u)
    FROM reviews r;
    """)


# ---------------------------------------------------------------------------------------------
# reads

@dataclass(frozen=True, slots=True)
class Decision:
    id: int
    finding_id: int
    decision: str
    reason: str
    reviewer: str
    created_at: str


@dataclass(frozen=True, slots=True)
class CallEvent:
    id: int
    kind: str
    body: str
    payload: Mapping[str, Any]
    reviewer: str
    created_at: str


def finding_ids(db: sqlite3.Connection, review_id: int) -> list[int]:
    """Row ids of a review's findings, in review.json order (they were inserted in that order)."""
    return [r[0] for r in db.execute("SELECT id FROM findings WHERE review_id=? ORDER BY id", (review_id,))]


def latest_decisions(db: sqlite3.Connection, review_id: int) -> dict[int, Decision]:
    rows = db.execute("""
        SELECT d.id, d.finding_id, d.decision, d.reason, d.reviewer, d.created_at FROM finding_decisions d
        WHERE d.review_id = ? AND d.id = (SELECT MAX(id) FROM finding_decisions x WHERE x.finding_id = d.finding_id)
        """, (review_id,))
    return {r[1]: Decision(*r) for r in rows}


def events(db: sqlite3.Connection, call_pk: int, kind: str | None = None) -> list[CallEvent]:
    sql, args = "SELECT id, kind, body, payload, reviewer, created_at FROM call_events WHERE call_pk=?", [call_pk]
    if kind:
        sql, args = sql + " AND kind=?", args + [kind]
    return [CallEvent(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in db.execute(sql + " ORDER BY id", args)]


def audit_trail(db: sqlite3.Connection, call_pk: int) -> list[dict[str, Any]]:
    """Every decision on a call, oldest first: (when, who, what, detail)."""
    rows = db.execute("""
        SELECT created_at, reviewer, decision AS what, reason AS detail, finding_id, id, 0 AS src
          FROM finding_decisions WHERE call_pk = ?
        UNION ALL
        SELECT created_at, reviewer, kind, body, NULL, id, 1 FROM call_events WHERE call_pk = ?
        ORDER BY 1, 7, 6""", (call_pk, call_pk))
    return [{"when": r[0], "who": r[1], "what": r[2], "detail": r[3], "finding_id": r[4]} for r in rows]


def latest_evaluation(db: sqlite3.Connection, call_pk: int) -> CallEvent | None:
    found = events(db, call_pk, "evaluation")
    return found[-1] if found else None


# ---------------------------------------------------------------------------------------------
# writes (each one transaction; `tx` is Store.transaction)

class DecisionError(ValueError):
    """A decision that cannot be recorded (unknown finding, empty comment…); the message says why."""


def _now() -> str:
    from .store import _now as now

    return now()


def decide_finding(tx, finding_id: int, decision: str, reason: str, reviewer: str) -> int:
    if decision not in FINDING_DECISIONS:
        raise DecisionError(f"decision must be one of {', '.join(FINDING_DECISIONS)}")
    if decision == "dispute" and not reason.strip():
        raise DecisionError("a dispute needs a reason")
    with tx() as db:
        row = db.execute("SELECT review_id, call_pk FROM findings WHERE id=?", (finding_id,)).fetchone()
        if row is None:
            raise DecisionError(f"no finding {finding_id}")
        cur = db.execute("INSERT INTO finding_decisions (finding_id, review_id, call_pk, decision, reason, reviewer,"
                         " created_at) VALUES (?,?,?,?,?,?,?)",
                         (finding_id, row[0], row[1], decision, reason.strip(), reviewer, _now()))
        _refresh_disputed(db, row[1])
        return int(cur.lastrowid)


def _refresh_disputed(db: sqlite3.Connection, call_pk: int) -> None:
    db.execute("""
        UPDATE queue_items SET disputed = (
            SELECT COUNT(*) FROM finding_decisions d
            WHERE d.review_id = queue_items.review_id AND d.decision = 'dispute'
              AND d.id = (SELECT MAX(id) FROM finding_decisions x WHERE x.finding_id = d.finding_id))
        WHERE call_pk = ?""", (call_pk,))


def add_event(tx, call_pk: int, kind: str, reviewer: str, body: str = "",
              payload: Mapping[str, Any] | None = None, review_id: int | None = None) -> int:
    if kind not in CALL_EVENTS:
        raise DecisionError(f"unknown event {kind}")
    if kind == "comment" and not body.strip():
        raise DecisionError("an empty comment")
    with tx() as db:
        row = db.execute("SELECT review_id FROM queue_items WHERE call_pk=?", (call_pk,)).fetchone()
        if row is None:
            raise DecisionError(f"no call {call_pk}")
        cur = db.execute("INSERT INTO call_events (call_pk, review_id, kind, body, payload, reviewer, created_at)"
                         " VALUES (?,?,?,?,?,?,?)",
                         (call_pk, review_id or row[0], kind, body.strip(),
                          json.dumps(dict(payload or {}), ensure_ascii=False), reviewer, _now()))
        if kind in ("reviewed", "reopened"):
            db.execute("UPDATE queue_items SET reviewed=? WHERE call_pk=?", (int(kind == "reviewed"), call_pk))
        if kind == "evaluation":
            db.execute("UPDATE queue_items SET score=? WHERE call_pk=?", ((payload or {}).get("score"), call_pk))
        if kind == "roles_swapped":
            _refresh_disputed(db, call_pk)
        return int(cur.lastrowid)


# ---------------------------------------------------------------------------------------------
# labelled examples for the phrasing data set

def labelled_examples(db: sqlite3.Connection, context_seconds: float = 15.0) -> Iterator[dict[str, Any]]:
    """Each finding whose latest decision is a dispute (label: disputed) or an acknowledgement
    (label: confirmed), with its text and the transcript around it."""
    rows = db.execute("""
        SELECT d.finding_id, d.decision, d.reason, d.reviewer, d.created_at, d.review_id, c.call_id, c.agent_id,
               c.path, c.sha256, f.type, f.category, f.speaker, f.start, f."end",
               (SELECT COUNT(*) FROM findings f2 WHERE f2.review_id = f.review_id AND f2.id < f.id) AS idx
        FROM finding_decisions d
        JOIN findings f ON f.id = d.finding_id JOIN calls c ON c.id = d.call_pk
        WHERE d.id = (SELECT MAX(id) FROM finding_decisions x WHERE x.finding_id = d.finding_id)
        ORDER BY d.review_id, d.finding_id""")
    cache: dict[int, dict] = {}
    for r in rows:
        review = cache.get(r["review_id"])
        if review is None:
            cache.clear()
            review = cache[r["review_id"]] = json.loads(
                db.execute("SELECT review_json FROM reviews WHERE id=?", (r["review_id"],)).fetchone()[0])
        found = (review.get("findings") or [])[r["idx"]]
        context = [{"speaker": u["speaker"], "start": u["start"], "end": u["end"], "text": u["text"]}
                   for u in review.get("utterances") or []
                   if u["end"] >= r["start"] - context_seconds and u["start"] <= r["end"] + context_seconds]
        yield {"label": "disputed" if r["decision"] == "dispute" else "confirmed",
               "type": r["type"], "category": r["category"], "speaker": r["speaker"],
               "text": found.get("evidence") or "", "message": found.get("message") or "",
               "start": r["start"], "end": r["end"], "context": context,
               "reason": r["reason"], "reviewer": r["reviewer"], "decided_at": r["created_at"],
               "call_id": r["call_id"], "agent_id": r["agent_id"], "audio_sha256": r["sha256"],
               "review_id": r["review_id"], "finding_id": r["finding_id"]}
