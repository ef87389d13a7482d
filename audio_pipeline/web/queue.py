"""The review queue: filters, sort orders and keyset paging over `queue_items` (decisions.py).

Every sort order is an index (see decisions.migrate); a page continues from the last row's sort key
(a row-value comparison the index answers), so page 2,000 costs what page 1 costs.
"""
from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Sequence

# name -> (sort columns, descending?)
SORTS: dict[str, tuple[tuple[str, ...], bool]] = {
    "severity": (("q.sev_key", "q.started_at", "q.call_pk"), True),
    "newest": (("q.started_at", "q.call_pk"), True),
    "oldest": (("q.started_at", "q.call_pk"), False),
    "longest": (("q.duration", "q.call_pk"), True),
}
SEVERITIES = ("warning", "critical")
# the finding types of the review contract a supervisor filters on (a DISTINCT over all findings would
# read the whole table on every queue page)
FINDING_TYPES = ("interruption", "dead_air", "slow_response", "long_monologue", "dismissive", "sympathy",
                 "missed_empathy", "customer_distress", "empathy", "no_speech", "audio_layout")


@dataclass(frozen=True, slots=True)
class QueueFilter:
    since: str | None = None      # bounds from store.parse_when: since inclusive, until exclusive
    until: str | None = None
    agent: str | None = None
    queue: str | None = None
    finding_type: str | None = None
    severity: str | None = None   # warning = a warning or critical finding; critical = a critical one
    reviewed: bool | None = None
    disputed: bool | None = None
    text: str | None = None       # full-text search in the transcript
    flagged_only: bool = False
    sort: str = "severity"


@dataclass(frozen=True, slots=True)
class QueueRow:
    call_pk: int
    review_id: int
    call_id: str | None
    path: str
    agent_id: str | None
    queue: str | None
    started_at: str
    duration: float
    flagged: bool
    critical: int
    warning: int
    reviewed: bool
    disputed: int
    score: float | None
    flag_reasons: tuple[str, ...]
    finding_types: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    next_cursor: str | None


def fts_query(text: str) -> str | None:
    """User words as an FTS5 query that matches them all, with no FTS syntax of the user's own."""
    words = [w for w in text.replace('"', " ").split() if w]
    return " ".join(f'"{w}"' for w in words) or None


def _where(flt: QueueFilter) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []

    def add(sql: str, *values: Any) -> None:
        where.append(sql)
        args.extend(values)

    if flt.since:
        add("q.started_at >= ?", flt.since)
    if flt.until:
        add("q.started_at < ? AND q.started_at != ''", flt.until)
    if flt.agent:
        add("q.agent_id = ?", flt.agent)
    if flt.queue:
        add("q.queue = ?", flt.queue)
    if flt.flagged_only:
        add("q.flagged = 1")
    if flt.severity == "critical":
        add("q.critical > 0")
    elif flt.severity == "warning":
        add("q.critical + q.warning > 0")
    if flt.reviewed is not None:
        add("q.reviewed = ?", int(flt.reviewed))
    if flt.disputed is not None:
        add("q.disputed > 0" if flt.disputed else "q.disputed = 0")
    if flt.finding_type:
        # the reviews with such a finding, once, from the (type, review_id) index
        add("q.review_id IN (SELECT f.review_id FROM findings f WHERE f.type = ?)", flt.finding_type)
    match = fts_query(flt.text or "")
    if match:
        add("q.review_id IN (SELECT rowid FROM transcripts WHERE transcripts MATCH ?)", match)
    return where, args


def encode_cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode().rstrip("=")


def decode_cursor(text: str, width: int) -> list[Any] | None:
    """None for a cursor that is not one of ours (a stale or edited link starts again at page 1)."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(values, list) or len(values) != width:
        return None
    if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in values):
        return None
    return values


def queue_page(db: sqlite3.Connection, flt: QueueFilter, cursor: str | None = None, limit: int = 50,
               count_cap: int = 10_000) -> QueuePage:
    """One page of the queue; `total` counts matches up to count_cap + 1 (an exact count of a
    large match would cost a full scan on every page)."""
    columns, desc = SORTS.get(flt.sort, SORTS["severity"])
    where, args = _where(flt)
    cond = " AND ".join(where) or "1"
    total = int(db.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM queue_items q WHERE {cond} LIMIT ?)",
                           (*args, count_cap + 1)).fetchone()[0])
    after = decode_cursor(cursor, len(columns)) if cursor else None
    page_where, page_args = list(where), list(args)
    if after is not None:
        page_where.append(f"({', '.join(columns)}) {'<' if desc else '>'} ({', '.join('?' * len(columns))})")
        page_args += after
    direction = " DESC" if desc else ""
    # the sort runs over queue_items alone; the page's other columns are read for its rows only
    # (reviews.flag_reasons sits behind the review's JSON in the row: reading it costs the whole review)
    keys = db.execute(
        f"SELECT q.call_pk, q.review_id, q.agent_id, q.queue, q.started_at, q.duration, q.flagged, q.critical,"
        f" q.warning, q.reviewed, q.disputed, q.score, q.sev_key FROM queue_items q"
        f" WHERE {' AND '.join(page_where) or '1'}"
        f" ORDER BY {', '.join(c + direction for c in columns)} LIMIT ?", (*page_args, limit + 1)).fetchall()
    more = len(keys) > limit
    keys = keys[:limit]
    details = _details(db, [k[0] for k in keys])
    types = finding_types(db, [k[1] for k in keys])
    rows = [QueueRow(k[0], k[1], details[k[0]][0], details[k[0]][1], k[2], k[3], k[4], k[5], bool(k[6]), k[7], k[8],
                     bool(k[9]), k[10], k[11], tuple(json.loads(details[k[0]][2])), types.get(k[1], {}))
            for k in keys]
    next_cursor = None
    if more and keys:
        last = keys[-1]
        key = {"q.sev_key": last[12], "q.started_at": last[4], "q.call_pk": last[0], "q.duration": last[5]}
        next_cursor = encode_cursor([key[c] for c in columns])
    return QueuePage(rows, total, next_cursor)


def _details(db: sqlite3.Connection, call_pks: Sequence[int]) -> dict[int, tuple[str | None, str, str]]:
    """call pk -> (call_id, path, flag_reasons JSON) of its current review."""
    if not call_pks:
        return {}
    marks = ",".join("?" * len(call_pks))
    return {r[0]: (r[1], r[2], r[3]) for r in db.execute(
        f"SELECT q.call_pk, c.call_id, c.path, r.flag_reasons FROM queue_items q JOIN calls c ON c.id = q.call_pk"
        f" JOIN reviews r ON r.id = q.review_id WHERE q.call_pk IN ({marks})", list(call_pks))}


def finding_types(db: sqlite3.Connection, review_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """review id -> {type: count} of its warning/critical findings."""
    out: dict[int, dict[str, int]] = {}
    if not review_ids:
        return out
    marks = ",".join("?" * len(review_ids))
    for rid, ftype, n in db.execute(
            f"SELECT review_id, type, COUNT(*) FROM findings WHERE review_id IN ({marks}) AND severity_rank > 0"
            f" GROUP BY review_id, type ORDER BY review_id, COUNT(*) DESC, type", list(review_ids)):
        out.setdefault(rid, {})[ftype] = n
    return out


def choices(db: sqlite3.Connection) -> dict[str, list[str]]:
    """Values for the filter drop-downs: the distinct agents and queues, each found by hopping from
    one value to the next through its index (a plain DISTINCT reads every call)."""
    def distinct(column: str) -> list[str]:
        rows = db.execute(f"""
            WITH RECURSIVE v(x) AS (
                SELECT MIN({column}) FROM queue_items
                UNION ALL
                SELECT (SELECT MIN({column}) FROM queue_items WHERE {column} > v.x) FROM v WHERE v.x IS NOT NULL)
            SELECT x FROM v WHERE x IS NOT NULL""")
        return [r[0] for r in rows]

    return {"agents": distinct("agent_id"), "queues": distinct("queue"), "types": list(FINDING_TYPES)}
