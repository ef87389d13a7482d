"""SQLite store of call reviews: the batch writes it, supervisors' queries and the web UI read it.

One file, WAL mode (readers never block the writer), one transaction per call, so a batch killed at
any instant leaves whole reviews or nothing. Reading needs only this file, never the audio: the full
review.json text is kept, plus the columns the queries filter and sort on.

The schema is versioned with `PRAGMA user_version` = number of MIGRATIONS applied; add a function
to MIGRATIONS to change it, never edit one that shipped.
"""
from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .types import SEVERITY_RANK


class StoreError(RuntimeError):
    """The database cannot be used (newer schema, not a database); the message says why."""


# ---------------------------------------------------------------------------------------------
# schema

def _execute_script(db: sqlite3.Connection, script: str) -> None:
    """Statement by statement: executescript() would COMMIT the migration's transaction first."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement: {statement.strip()[:60]}")


def _v1_initial(db: sqlite3.Connection) -> None:
    _execute_script(db, """
    CREATE TABLE calls (
        id          INTEGER PRIMARY KEY,
        sha256      TEXT NOT NULL UNIQUE,     -- a call is its audio: the same bytes are one call
        path        TEXT NOT NULL,            -- where it was last seen
        size        INTEGER,
        mtime_ns    INTEGER,                  -- with size: re-runs skip re-hashing unchanged files
        call_id     TEXT,                     -- metadata from a manifest (all optional)
        agent_id    TEXT,
        queue       TEXT,
        started_at  TEXT,                     -- ISO 8601 (UTC when the source had a zone); manifest, else file mtime
        duration    REAL,
        metadata    TEXT NOT NULL DEFAULT '{}',  -- other manifest columns, JSON
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    );
    CREATE INDEX calls_agent_started ON calls(agent_id, started_at);
    CREATE INDEX calls_started ON calls(started_at);
    CREATE INDEX calls_path ON calls(path);

    CREATE TABLE runs (
        id            INTEGER PRIMARY KEY,
        started_at    TEXT NOT NULL,
        finished_at   TEXT,
        status        TEXT NOT NULL,          -- running | finished | interrupted | killed
        engine        TEXT NOT NULL,
        workers       INTEGER,
        model         TEXT NOT NULL,
        config_fp     TEXT NOT NULL,
        source        TEXT,
        host          TEXT,
        pid           INTEGER,
        total         INTEGER NOT NULL DEFAULT 0,
        reviewed      INTEGER NOT NULL DEFAULT 0,
        skipped       INTEGER NOT NULL DEFAULT 0,
        failed        INTEGER NOT NULL DEFAULT 0,
        audio_seconds REAL NOT NULL DEFAULT 0,
        wall_seconds  REAL NOT NULL DEFAULT 0
    );

    CREATE TABLE reviews (
        id            INTEGER PRIMARY KEY,
        call_pk       INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        run_id        INTEGER REFERENCES runs(id),
        model         TEXT NOT NULL,
        config_fp     TEXT NOT NULL,
        schema        TEXT NOT NULL,
        review_json   TEXT NOT NULL,          -- the whole review.json, as exported
        flagged       INTEGER NOT NULL,
        flag_reasons  TEXT NOT NULL,          -- JSON list
        n_reasons     INTEGER NOT NULL,
        critical      INTEGER NOT NULL,
        warning       INTEGER NOT NULL,
        interruptions INTEGER NOT NULL,       -- by the agent
        empathy       INTEGER NOT NULL,
        dismissive    INTEGER NOT NULL,
        missed_empathy INTEGER NOT NULL,
        dead_air      INTEGER NOT NULL,
        dead_air_seconds REAL NOT NULL,
        created_at    TEXT NOT NULL,
        UNIQUE (call_pk, model, config_fp)    -- idempotence: one review per audio, model, settings
    );

    -- agent_id and call_date are copies of the call's, so the supervisors' filters hit one index
    CREATE TABLE findings (
        id            INTEGER PRIMARY KEY,
        review_id     INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
        call_pk       INTEGER NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
        type          TEXT NOT NULL,
        speaker       TEXT,
        severity      TEXT NOT NULL,
        severity_rank INTEGER NOT NULL,
        start         REAL NOT NULL,
        "end"         REAL NOT NULL,
        category      TEXT,
        message       TEXT,
        agent_id      TEXT,
        call_date     TEXT
    );
    CREATE INDEX findings_review ON findings(review_id);
    CREATE INDEX findings_type ON findings(type, severity_rank);
    CREATE INDEX findings_severity ON findings(severity_rank);
    CREATE INDEX findings_agent ON findings(agent_id, call_date);
    CREATE INDEX findings_date ON findings(call_date);

    CREATE TABLE errors (
        id          INTEGER PRIMARY KEY,
        run_id      INTEGER NOT NULL REFERENCES runs(id),
        path        TEXT NOT NULL,
        sha256      TEXT,                     -- null when the file could not even be read
        model       TEXT NOT NULL,
        config_fp   TEXT NOT NULL,
        kind        TEXT NOT NULL,            -- input (the file is bad) | crash | internal
        message     TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE INDEX errors_run ON errors(run_id);
    CREATE INDEX errors_key ON errors(sha256, model, config_fp);

    -- a call reviewed under several models/settings is read through its newest review
    CREATE VIEW current_reviews AS
        SELECT r.* FROM reviews r
        WHERE r.id = (SELECT MAX(r2.id) FROM reviews r2 WHERE r2.call_pk = r.call_pk);
    """)


def _v2_supervision(db: sqlite3.Connection) -> None:
    """Review queue, transcript search and reviewers' decisions (decisions.py)."""
    from .decisions import migrate

    migrate(db)


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: tuple[Migration, ...] = (_v1_initial, _v2_supervision)


# ---------------------------------------------------------------------------------------------
# plain data in and out

@dataclass(frozen=True, slots=True)
class CallMeta:
    """What a manifest may say about a call. None = unknown (an existing value is kept)."""

    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    started_at: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class FileStat:
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> "FileStat":
        st = path.stat()
        return cls(st.st_size, st.st_mtime_ns)

    @property
    def mtime_iso(self) -> str:
        return datetime.fromtimestamp(self.mtime_ns / 1e9, timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class RunCounts:
    total: int = 0
    reviewed: int = 0
    skipped: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int | None = None  # how many really ran (the request may say 0 = auto)


@dataclass(frozen=True, slots=True)
class FlaggedCall:
    review_id: int
    path: str
    call_id: str | None
    agent_id: str | None
    queue: str | None
    started_at: str | None
    duration: float | None
    critical: int
    warning: int
    flag_reasons: tuple[str, ...]
    finding_types: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {"review_id": self.review_id, "path": self.path, "call_id": self.call_id,
                "agent_id": self.agent_id, "queue": self.queue, "started_at": self.started_at,
                "duration": self.duration, "critical": self.critical, "warning": self.warning,
                "flag_reasons": list(self.flag_reasons), "finding_types": dict(self.finding_types)}


@dataclass(frozen=True, slots=True)
class AgentStats:
    agent_id: str | None
    calls: int
    audio_hours: float
    interruptions_per_call: float
    empathy_per_call: float
    dismissive_per_call: float
    missed_empathy_per_call: float
    dead_air_per_call: float
    dead_air_seconds_per_call: float
    flagged_share: float

    def as_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    run_id: int
    path: str
    kind: str
    message: str


# ---------------------------------------------------------------------------------------------
# dates

def parse_when(text: str, *, end_of_day: bool = False) -> str:
    """A user's date or datetime as the ISO text the store compares. `end_of_day`: a bare date
    means up to the end of that day (for --until), so the bound is the next midnight, exclusive."""
    try:
        if len(text.strip()) == 10:
            d = date.fromisoformat(text.strip())
            return (d + timedelta(days=1) if end_of_day else d).isoformat() + "T00:00:00"
        return normalize_time(text)
    except ValueError:
        raise ValueError(f"'{text}' is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])") from None


def normalize_time(text: str) -> str:
    """ISO 8601 text, seconds precision; a time with a zone is converted to UTC and the zone dropped,
    so that plain string comparison orders it with the others."""
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.isoformat(timespec="seconds")


def _now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------
# review.json -> columns

def _review_columns(review: Mapping[str, Any]) -> dict[str, Any]:
    findings = review.get("findings") or []
    metrics = review.get("metrics") or {}
    severities = [f.get("severity") for f in findings]
    reasons = list(review.get("flag_reasons") or [])
    return {
        "schema": review.get("schema", ""),
        "flagged": int(bool(review.get("flagged"))),
        "flag_reasons": json.dumps(reasons),
        "n_reasons": len(reasons),
        "critical": severities.count("critical"),
        "warning": severities.count("warning"),
        "interruptions": int(metrics.get("interruptions_by_agent") or 0),
        "empathy": int(metrics.get("empathy_statements") or 0),
        "dismissive": int(metrics.get("dismissive_statements") or 0),
        "missed_empathy": int(metrics.get("missed_empathy") or 0),
        "dead_air": int(metrics.get("dead_air_count") or 0),
        "dead_air_seconds": float(metrics.get("dead_air_seconds") or 0.0),
    }


# ---------------------------------------------------------------------------------------------

class Store:
    """A review database. Not thread-safe: one Store per thread/process (the batch driver alone writes)."""

    def __init__(self, path: str | Path, migrations: Sequence[Migration] = MIGRATIONS) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        try:
            # autocommit mode: transactions are explicit (BEGIN IMMEDIATE … COMMIT) below
            self.db = sqlite3.connect(str(self.path), isolation_level=None, timeout=30.0)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across app kills
            self.db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a review database ({exc})") from None
        self._migrate(migrations)

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: a concurrent writer waits instead of failing later
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self, migrations: Sequence[Migration]) -> None:
        current = self.version
        if current > len(migrations):
            raise StoreError(f"{self.path}: schema version {current} is newer than this audio_pipeline "
                             f"understands ({len(migrations)}); upgrade the package")
        for number, migration in enumerate(migrations[current:], start=current + 1):
            # DDL is transactional in SQLite: a failed migration leaves the previous version intact
            with self.transaction() as db:
                migration(db)
                db.execute(f"PRAGMA user_version = {number}")

    # -- runs ------------------------------------------------------------------------------

    def start_run(self, *, engine: str, workers: int, model: str, config_fp: str, source: str) -> int:
        with self.transaction() as db:
            self._mark_dead_runs(db)
            cur = db.execute(
                "INSERT INTO runs (started_at, status, engine, workers, model, config_fp, source, host, pid)"
                " VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
                (_now(), engine, workers, model, config_fp, source, socket.gethostname(), os.getpid()))
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, counts: RunCounts, status: str = "finished") -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished_at=?, status=?, total=?, reviewed=?, skipped=?, failed=?,"
                " audio_seconds=?, wall_seconds=?, workers=COALESCE(?, workers) WHERE id=?",
                (_now(), status, counts.total, counts.reviewed, counts.skipped, counts.failed,
                 counts.audio_seconds, counts.wall_seconds, counts.workers, run_id))

    @staticmethod
    def _mark_dead_runs(db: sqlite3.Connection) -> None:
        """A run still 'running' whose process on this host is gone was killed (SIGKILL, power)."""
        host = socket.gethostname()
        for row in db.execute("SELECT id, pid FROM runs WHERE status='running' AND host=?", (host,)).fetchall():
            if not _pid_alive(row["pid"]):
                db.execute("UPDATE runs SET status='killed' WHERE id=?", (row["id"],))

    def runs(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM runs ORDER BY id").fetchall()

    # -- what is already done ----------------------------------------------------------------

    def reviewed_hashes(self, model: str, config_fp: str) -> set[str]:
        rows = self.db.execute(
            "SELECT c.sha256 FROM reviews r JOIN calls c ON c.id = r.call_pk WHERE r.model=? AND r.config_fp=?",
            (model, config_fp))
        return {r[0] for r in rows}

    def known_bad(self, model: str, config_fp: str) -> dict[tuple[str, str], str]:
        """(path, sha256) -> message for files whose bytes already failed as bad input under these
        settings; retrying them would only record the same error again. sha256 is None for a file
        that could not be read at all (missing): it is retried once it has bytes."""
        rows = self.db.execute(
            "SELECT path, sha256, message FROM errors WHERE kind='input' AND model=? AND config_fp=? ORDER BY id",
            (model, config_fp))
        return {(r["path"], r["sha256"]): r["message"] for r in rows}

    def known_hashes(self) -> dict[str, tuple[int, int, str]]:
        """path -> (size, mtime_ns, sha256) of files seen before, to skip hashing unchanged ones."""
        rows = self.db.execute("SELECT path, size, mtime_ns, sha256 FROM calls WHERE size IS NOT NULL")
        return {r["path"]: (r["size"], r["mtime_ns"], r["sha256"]) for r in rows}

    # -- writes ------------------------------------------------------------------------------

    def save_review(self, review: Mapping[str, Any], *, model: str, config_fp: str, run_id: int | None,
                    meta: CallMeta = CallMeta(), stat: FileStat | None = None) -> bool:
        """Store one review.json dict with its call, in one transaction. False when this audio
        already has a review under the same model and settings (nothing is written then)."""
        audio = review["audio"]
        with self.transaction() as db:
            call_pk = self._upsert_call(db, audio, meta, stat)
            cols = _review_columns(review)
            cur = db.execute(
                f"INSERT INTO reviews (call_pk, run_id, model, config_fp, review_json, created_at, {', '.join(cols)})"
                f" VALUES (?, ?, ?, ?, ?, ?, {', '.join('?' * len(cols))})"
                " ON CONFLICT (call_pk, model, config_fp) DO NOTHING",
                (call_pk, run_id, model, config_fp, json.dumps(review, ensure_ascii=False), _now(), *cols.values()))
            if cur.rowcount == 0:
                return False
            self._insert_findings(db, int(cur.lastrowid), call_pk, review.get("findings") or [])
        return True

    @staticmethod
    def _upsert_call(db: sqlite3.Connection, audio: Mapping[str, Any], meta: CallMeta,
                     stat: FileStat | None) -> int:
        now = _now()
        params = {
            "sha256": audio["sha256"], "path": audio["path"], "duration": audio.get("duration"),
            "size": stat.size if stat else None, "mtime_ns": stat.mtime_ns if stat else None,
            "call_id": meta.call_id, "agent_id": meta.agent_id, "queue": meta.queue,
            "started_at": meta.started_at, "fallback_started": stat.mtime_iso if stat else None,
            "metadata": json.dumps(dict(meta.extra), ensure_ascii=False) if meta.extra else None, "now": now,
        }
        # metadata the caller does not know (None) keeps what an earlier manifest said
        row = db.execute("""
            INSERT INTO calls (sha256, path, size, mtime_ns, call_id, agent_id, queue, started_at, duration,
                               metadata, created_at, updated_at)
            VALUES (:sha256, :path, :size, :mtime_ns, :call_id, :agent_id, :queue,
                    COALESCE(:started_at, :fallback_started), :duration, COALESCE(:metadata, '{}'), :now, :now)
            ON CONFLICT (sha256) DO UPDATE SET
                path = excluded.path, size = COALESCE(excluded.size, size),
                mtime_ns = COALESCE(excluded.mtime_ns, mtime_ns), duration = COALESCE(excluded.duration, duration),
                call_id = COALESCE(:call_id, call_id), agent_id = COALESCE(:agent_id, agent_id),
                queue = COALESCE(:queue, queue), started_at = COALESCE(:started_at, started_at),
                metadata = COALESCE(:metadata, metadata), updated_at = :now
            RETURNING id, agent_id, started_at""", params).fetchone()
        # keep the findings' copies of agent/date in step with the call
        db.execute("UPDATE findings SET agent_id=?, call_date=? WHERE call_pk=? AND "
                   "(agent_id IS NOT ? OR call_date IS NOT ?)",
                   (row["agent_id"], row["started_at"], row["id"], row["agent_id"], row["started_at"]))
        return int(row["id"])

    @staticmethod
    def _insert_findings(db: sqlite3.Connection, review_id: int, call_pk: int,
                         findings: Sequence[Mapping[str, Any]]) -> None:
        agent, when = db.execute("SELECT agent_id, started_at FROM calls WHERE id=?", (call_pk,)).fetchone()
        db.executemany(
            'INSERT INTO findings (review_id, call_pk, type, speaker, severity, severity_rank, start, "end",'
            " category, message, agent_id, call_date) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [(review_id, call_pk, f["type"], f.get("speaker"), f.get("severity", "info"),
              SEVERITY_RANK.get(f.get("severity", "info"), 0), f.get("start", 0.0), f.get("end", 0.0),
              f.get("category"), f.get("message"), agent, when) for f in findings])

    def update_call_meta(self, sha256: str, meta: CallMeta) -> None:
        """Apply (newer) manifest metadata to an already reviewed call."""
        with self.transaction() as db:
            row = db.execute("SELECT path, duration FROM calls WHERE sha256=?", (sha256,)).fetchone()
            if row is not None:
                self._upsert_call(db, {"sha256": sha256, "path": row["path"], "duration": row["duration"]}, meta, None)

    def record_error(self, *, run_id: int, path: str, sha256: str | None, model: str, config_fp: str,
                     kind: str, message: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO errors (run_id, path, sha256, model, config_fp, kind, message, created_at)"
                       " VALUES (?,?,?,?,?,?,?,?)", (run_id, path, sha256, model, config_fp, kind, message, _now()))

    # -- reads -------------------------------------------------------------------------------

    def errors(self, run_id: int | None = None) -> list[ErrorRecord]:
        sql, args = "SELECT run_id, path, kind, message FROM errors", ()
        if run_id is not None:
            sql, args = sql + " WHERE run_id=?", (run_id,)
        return [ErrorRecord(*r) for r in self.db.execute(sql + " ORDER BY id", args)]

    def review_json(self, review_id: int) -> dict[str, Any]:
        row = self.db.execute("SELECT review_json FROM reviews WHERE id=?", (review_id,)).fetchone()
        if row is None:
            raise KeyError(review_id)
        return json.loads(row[0])

    def count(self, table: str) -> int:
        if table not in {"calls", "reviews", "findings", "runs", "errors"}:
            raise ValueError(table)
        return int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    def flagged(self, *, since: str | None = None, until: str | None = None, agent: str | None = None,
                finding_type: str | None = None, limit: int | None = 50) -> list[FlaggedCall]:
        """The supervisors' queue: flagged calls, most severe first (critical findings, then
        warnings, then flag reasons; newest first among equals)."""
        where, args = ["r.flagged = 1"], []
        _date_filter(where, args, "c.started_at", since, until)
        if agent is not None:
            where.append("c.agent_id = ?")
            args.append(agent)
        if finding_type is not None:
            where.append("EXISTS (SELECT 1 FROM findings f WHERE f.review_id = r.id AND f.type = ?)")
            args.append(finding_type)
        sql = (f"SELECT r.id, c.path, c.call_id, c.agent_id, c.queue, c.started_at, c.duration, r.critical,"
               f" r.warning, r.flag_reasons FROM current_reviews r JOIN calls c ON c.id = r.call_pk"
               f" WHERE {' AND '.join(where)}"
               f" ORDER BY r.critical DESC, r.warning DESC, r.n_reasons DESC, c.started_at DESC, r.id DESC")
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        rows = self.db.execute(sql, args).fetchall()
        types = self._finding_types([r["id"] for r in rows])
        return [FlaggedCall(r["id"], r["path"], r["call_id"], r["agent_id"], r["queue"], r["started_at"],
                            r["duration"], r["critical"], r["warning"], tuple(json.loads(r["flag_reasons"])),
                            types.get(r["id"], {})) for r in rows]

    def _finding_types(self, review_ids: Sequence[int]) -> dict[int, dict[str, int]]:
        """review id -> {type: count} of its warning/critical findings (what a supervisor will see)."""
        out: dict[int, dict[str, int]] = {}
        if not review_ids:
            return out
        marks = ",".join("?" * len(review_ids))
        rows = self.db.execute(
            f"SELECT review_id, type, COUNT(*) FROM findings WHERE review_id IN ({marks}) AND severity_rank > 0"
            f" GROUP BY review_id, type ORDER BY review_id, COUNT(*) DESC, type", list(review_ids))
        for rid, ftype, n in rows:
            out.setdefault(rid, {})[ftype] = n
        return out

    def agents(self, *, since: str | None = None, until: str | None = None) -> list[AgentStats]:
        """Per-agent aggregates over calls started in [since, until)."""
        where, args = ["1=1"], []
        _date_filter(where, args, "c.started_at", since, until)
        rows = self.db.execute(f"""
            SELECT c.agent_id, COUNT(*) AS calls, COALESCE(SUM(c.duration), 0) / 3600.0 AS hours,
                   AVG(r.interruptions), AVG(r.empathy), AVG(r.dismissive), AVG(r.missed_empathy),
                   AVG(r.dead_air), AVG(r.dead_air_seconds), AVG(r.flagged)
            FROM current_reviews r JOIN calls c ON c.id = r.call_pk
            WHERE {' AND '.join(where)}
            GROUP BY c.agent_id ORDER BY c.agent_id IS NULL, c.agent_id""", args).fetchall()
        return [AgentStats(r[0], r[1], round(r[2], 3), *(round(float(v), 3) for v in tuple(r)[3:])) for r in rows]


def _date_filter(where: list[str], args: list[Any], column: str, since: str | None, until: str | None) -> None:
    """since/until are bounds from parse_when: since inclusive, until exclusive."""
    if since is not None:
        where.append(f"{column} >= ?")
        args.append(since)
    if until is not None:
        where.append(f"{column} < ?")
        args.append(until)


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True
