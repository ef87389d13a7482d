"""Retention: remove every trace of calls older than a date — their reviews, findings and errors
from the store, the review files written for them, optionally the recordings — and make sure the
deleted rows do not linger in the database file (secure_delete, WAL truncated).

Works on the existing schema (no migration): a call's date is `started_at` (manifest, else the
file's modification time), or when it was first stored if that is unknown.
"""
from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .batch import CallInput, output_stem
from .store import CallMeta, Store, StoreError

CALL_DATE = "COALESCE(started_at, created_at)"


@dataclass(frozen=True, slots=True)
class PurgeResult:
    calls: int
    reviews: int
    findings: int
    errors: int
    files: tuple[Path, ...] = ()
    file_failures: tuple[str, ...] = field(default=())


def _stale_calls(db: sqlite3.Connection, before: str) -> list[sqlite3.Row]:
    return db.execute(f"SELECT id, sha256, path, call_id FROM calls WHERE {CALL_DATE} < ?", (before,)).fetchall()


def _files_of(call: sqlite3.Row, out_dir: Path | None, audio: bool) -> list[Path]:
    files = []
    if out_dir is not None:
        stem = output_stem(CallInput(Path(call["path"]), CallMeta(call_id=call["call_id"])), call["sha256"])
        files += sorted(p for p in out_dir.glob(f"{stem}.*") if p.is_file())
    if audio and Path(call["path"]).is_file():
        files.append(Path(call["path"]))
    return files


def purge(store: Store, before: str, out_dir: Path | None = None, delete_audio: bool = False,
          dry_run: bool = False) -> PurgeResult:
    """Delete calls dated before `before` (ISO text, as store.parse_when gives) and everything of them."""
    db = store.db
    calls = _stale_calls(db, before)
    ids = [c["id"] for c in calls]
    marks = ",".join("?" * len(ids))
    shas = [c["sha256"] for c in calls]
    count = lambda sql, args: int(db.execute(sql, args).fetchone()[0]) if ids else 0  # noqa: E731
    reviews = count(f"SELECT COUNT(*) FROM reviews WHERE call_pk IN ({marks})", ids)
    findings = count(f"SELECT COUNT(*) FROM findings WHERE call_pk IN ({marks})", ids)
    errors = count(f"SELECT COUNT(*) FROM errors WHERE sha256 IN ({marks})", shas)
    files = [f for c in calls for f in _files_of(c, out_dir, delete_audio)]
    if dry_run or not ids:
        return PurgeResult(len(ids), reviews, findings, errors, tuple(files))
    db.execute("PRAGMA secure_delete=ON")  # freed pages are overwritten, not left readable in the file
    try:
        with store.transaction():
            db.execute(f"DELETE FROM findings WHERE call_pk IN ({marks})", ids)
            db.execute(f"DELETE FROM reviews WHERE call_pk IN ({marks})", ids)
            db.execute(f"DELETE FROM errors WHERE sha256 IN ({marks})", shas)
            db.execute(f"DELETE FROM calls WHERE id IN ({marks})", ids)
    except sqlite3.IntegrityError as exc:
        raise StoreError(f"{store.path}: cannot remove the calls, another table still refers to them ({exc})") from None
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL would otherwise keep copies of the old pages
    failures = []
    removed = []
    for f in files:
        try:
            f.unlink()
            removed.append(f)
        except FileNotFoundError:
            pass
        except OSError as exc:
            failures.append(f"{f}: {exc.strerror or exc}")
    return PurgeResult(len(ids), reviews, findings, errors, tuple(removed), tuple(failures))
