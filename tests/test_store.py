"""Store unit tests: migrations, idempotent writes, the supervisors' queue order, agent aggregates."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from audio_pipeline.store import MIGRATIONS, CallMeta, FileStat, RunCounts, Store, StoreError, parse_when


def review_dict(sha: str, *, findings: list[tuple[str, str]] = (), flagged: bool = False,
                reasons: tuple[str, ...] = (), duration: float = 60.0, **metrics: float) -> dict:
    """A minimal call-review/1 dict; findings as (type, severity)."""
    return {
        "schema": "call-review/1",
        "audio": {"path": f"/calls/{sha}.wav", "sha256": sha, "duration": duration, "sample_rate": 8000,
                  "channels": 2, "mode": "stereo"},
        "models": {"asr": "tiny.en", "diarization": None, "device": "cpu"},
        "utterances": [],
        "findings": [{"type": t, "speaker": "agent", "start": float(i), "end": float(i) + 1, "severity": s,
                      "message": t, "evidence": "", "rule": "", "category": None}
                     for i, (t, s) in enumerate(findings)],
        "metrics": {"interruptions_by_agent": 0, "empathy_statements": 0, "dead_air_count": 0,
                    "dead_air_seconds": 0.0, "missed_empathy": 0, "dismissive_statements": 0, **metrics},
        "flagged": flagged,
        "flag_reasons": list(reasons),
    }


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "reviews.sqlite") as s:
        yield s


def save(store: Store, review: dict, **meta: str) -> bool:
    return store.save_review(review, model="tiny.en", config_fp="fp1", run_id=None, meta=CallMeta(**meta))


def test_migrates_empty_db_to_latest(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    with Store(path) as s:
        assert s.version == len(MIGRATIONS)
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in s.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"calls", "reviews", "findings", "runs", "errors"} <= tables
        indexes = {r[0] for r in s.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert {"findings_type", "findings_severity", "findings_agent", "findings_date"} <= indexes
    with Store(path) as s:  # reopening applies nothing twice
        assert s.version == len(MIGRATIONS)


def test_later_migration_applies_once_on_existing_db(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with Store(path) as s:
        save(s, review_dict("a"))
    calls: list[int] = []

    def v2(db: sqlite3.Connection) -> None:
        calls.append(1)
        db.execute("ALTER TABLE calls ADD COLUMN language TEXT")

    with Store(path, migrations=(*MIGRATIONS, v2)) as s:
        assert s.version == len(MIGRATIONS) + 1
        assert s.count("reviews") == 1  # data survives
    with Store(path, migrations=(*MIGRATIONS, v2)):
        pass
    assert calls == [1]


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    Store(path).close()

    def broken(db: sqlite3.Connection) -> None:
        db.execute("CREATE TABLE half (x)")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Store(path, migrations=(*MIGRATIONS, broken))
    with Store(path) as s:
        assert s.version == len(MIGRATIONS)
        assert s.db.execute("SELECT 1 FROM sqlite_master WHERE name='half'").fetchone() is None


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 5}")
    db.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(path)


def test_save_review_is_idempotent(store: Store) -> None:
    r = review_dict("a", findings=[("interruption", "warning"), ("empathy", "info")])
    assert save(store, r) is True
    assert save(store, r) is False
    assert (store.count("calls"), store.count("reviews"), store.count("findings")) == (1, 1, 2)
    assert store.reviewed_hashes("tiny.en", "fp1") == {"a"}
    assert store.reviewed_hashes("tiny.en", "other") == set()
    # another settings fingerprint is another review of the same call
    assert store.save_review(r, model="tiny.en", config_fp="fp2", run_id=None) is True
    assert (store.count("calls"), store.count("reviews")) == (1, 2)
    rid = store.db.execute("SELECT id FROM reviews ORDER BY id LIMIT 1").fetchone()[0]
    assert store.review_json(rid) == r  # the whole review.json comes back, no audio needed


def test_metadata_is_kept_and_updated(store: Store, tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"x")
    stat = FileStat.of(wav)
    store.save_review(review_dict("a", findings=[("dead_air", "warning")]), model="m", config_fp="f", run_id=None,
                      meta=CallMeta(agent_id="ann", extra={"campaign": "x"}), stat=stat)
    row = store.db.execute("SELECT * FROM calls").fetchone()
    assert row["agent_id"] == "ann" and row["started_at"] == stat.mtime_iso  # mtime when no manifest date
    assert json.loads(row["metadata"]) == {"campaign": "x"}
    assert store.known_hashes()[row["path"]] == (stat.size, stat.mtime_ns, "a")
    store.update_call_meta("a", CallMeta(agent_id="bob", started_at="2026-01-02T03:04:05"))
    row = store.db.execute("SELECT * FROM calls").fetchone()
    assert (row["agent_id"], row["started_at"], json.loads(row["metadata"])) == ("bob", "2026-01-02T03:04:05",
                                                                                {"campaign": "x"})
    f = store.db.execute("SELECT agent_id, call_date FROM findings").fetchone()
    assert tuple(f) == ("bob", "2026-01-02T03:04:05")


def test_flagged_order_and_filters(store: Store) -> None:
    save(store, review_dict("calm"), agent_id="ann", started_at="2026-11-20T10:00:00")  # not flagged
    save(store, review_dict("w1", findings=[("dead_air", "warning")], flagged=True, reasons=("dead air",)),
         agent_id="ann", started_at="2026-11-21T10:00:00")
    save(store, review_dict("w2r2", findings=[("dead_air", "warning")], flagged=True, reasons=("a", "b")),
         agent_id="bob", started_at="2026-11-21T11:00:00")
    save(store, review_dict("c1", findings=[("dismissive", "critical")], flagged=True, reasons=("x",)),
         agent_id="bob", started_at="2026-11-19T09:00:00")
    save(store, review_dict("w3", flagged=True, reasons=("i",), findings=[("interruption", "warning")] * 3),
         agent_id="ann", started_at="2026-11-22T09:00:00")
    order = [Path(c.path).stem for c in store.flagged()]
    assert order == ["c1", "w3", "w2r2", "w1"]
    top = store.flagged(limit=1)[0]
    assert (top.critical, top.flag_reasons, dict(top.finding_types)) == (1, ("x",), {"dismissive": 1})
    assert [Path(c.path).stem for c in store.flagged(agent="ann")] == ["w3", "w1"]
    assert [Path(c.path).stem for c in store.flagged(finding_type="interruption")] == ["w3"]
    assert [Path(c.path).stem for c in store.flagged(since=parse_when("2026-11-21"))] == ["w3", "w2r2", "w1"]
    assert [Path(c.path).stem for c in store.flagged(until=parse_when("2026-11-21", end_of_day=True))] == \
        ["c1", "w2r2", "w1"]


def test_flagged_reads_newest_review_of_a_call(store: Store) -> None:
    store.save_review(review_dict("a", flagged=True, reasons=("old",)), model="m", config_fp="1", run_id=None)
    store.save_review(review_dict("a", flagged=False), model="m", config_fp="2", run_id=None)
    assert store.flagged() == []


def test_agents_aggregates(store: Store) -> None:
    save(store, review_dict("a1", interruptions_by_agent=2, empathy_statements=3, dead_air_count=1,
                            dead_air_seconds=7.5, missed_empathy=1, flagged=True, duration=1800),
         agent_id="ann", started_at="2026-11-20T10:00:00")
    save(store, review_dict("a2", interruptions_by_agent=0, empathy_statements=1, duration=1800),
         agent_id="ann", started_at="2026-11-21T10:00:00")
    save(store, review_dict("b1", interruptions_by_agent=1), agent_id="bob", started_at="2026-11-21T10:00:00")
    save(store, review_dict("x1"), started_at="2026-11-21T10:00:00")  # no agent known
    stats = {s.agent_id: s for s in store.agents()}
    ann = stats["ann"]
    assert (ann.calls, ann.audio_hours, ann.interruptions_per_call, ann.empathy_per_call) == (2, 1.0, 1.0, 2.0)
    assert (ann.dead_air_per_call, ann.dead_air_seconds_per_call, ann.missed_empathy_per_call,
            ann.flagged_share) == (0.5, 3.75, 0.5, 0.5)
    assert stats["bob"].calls == 1 and stats[None].calls == 1
    assert [s.agent_id for s in store.agents()] == ["ann", "bob", None]
    period = store.agents(since=parse_when("2026-11-21"), until=parse_when("2026-11-21", end_of_day=True))
    assert {s.agent_id: s.calls for s in period} == {"ann": 1, "bob": 1, None: 1}


def test_runs_errors_and_known_bad(store: Store) -> None:
    run = store.start_run(engine="local", workers=2, model="m", config_fp="f", source="dir")
    store.record_error(run_id=run, path="/x/bad.wav", sha256="s", model="m", config_fp="f", kind="input",
                       message="bad.wav: not audio")
    store.record_error(run_id=run, path="/x/boom.wav", sha256="t", model="m", config_fp="f", kind="crash",
                       message="worker died")
    store.finish_run(run, RunCounts(total=2, failed=2))
    assert store.known_bad("m", "f") == {("/x/bad.wav", "s"): "bad.wav: not audio"}  # crashes are retried
    assert store.known_bad("m", "other") == {}
    assert [e.path for e in store.errors(run)] == ["/x/bad.wav", "/x/boom.wav"]
    (row,) = store.runs()
    assert (row["status"], row["failed"], row["finished_at"] is not None) == ("finished", 2, True)


def test_a_killed_run_is_marked(store: Store) -> None:
    run = store.start_run(engine="local", workers=1, model="m", config_fp="f", source="d")
    store.db.execute("UPDATE runs SET pid = 2147483000 WHERE id=?", (run,))  # a pid nobody has
    store.start_run(engine="local", workers=1, model="m", config_fp="f", source="d")
    assert [r["status"] for r in store.runs()] == ["killed", "running"]


def test_parse_when() -> None:
    assert parse_when("2026-11-23") == "2026-11-23T00:00:00"
    assert parse_when("2026-11-23", end_of_day=True) == "2026-11-24T00:00:00"
    assert parse_when("2026-11-23T10:00:00+02:00") == "2026-11-23T08:00:00"
    with pytest.raises(ValueError, match="not a date"):
        parse_when("yesterday")
