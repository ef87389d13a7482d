"""The nightly batch survives a hard kill: 53 files (44 distinct calls, 9 bad files), real tiny.en,
SIGKILL mid-run, the same command again → exactly one review per good file, one recorded error per
bad file, nothing else; every written review file is whole."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.batch_audio import write_bad_files, write_good_calls

pytestmark = pytest.mark.slow

N_GOOD = 44
KILL_AFTER = 10  # reviews in the store before the kill


def reviews_in(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return con.execute("SELECT COUNT(*) FROM reviews").fetchone()[0]
        finally:
            con.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def batch_command(calls: Path, db: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "audio_pipeline", "batch", str(calls), "--db", str(db), "--out", str(out),
            "--format", "json,md", "--workers", "2"]


def test_sigkill_then_resume_gives_one_review_per_good_file(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    calls = tmp_path / "calls"
    good = write_good_calls(calls, N_GOOD)
    bad = write_bad_files(calls / "incoming")
    db, out = tmp_path / "reviews.sqlite", tmp_path / "out"
    log = (tmp_path / "run1.log").open("w")

    # 1. start, wait for some reviews, then SIGKILL the whole job (driver and workers), as a
    #    scheduler or the OOM killer would
    proc = subprocess.Popen(batch_command(calls, db, out), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 150
    while reviews_in(db) < KILL_AFTER:
        assert proc.poll() is None, f"batch ended before the kill:\n{(tmp_path / 'run1.log').read_text()}"
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = reviews_in(db)
    assert KILL_AFTER <= killed_at < N_GOOD

    # 2. the same command again finishes the job
    second = subprocess.run(batch_command(calls, db, out), capture_output=True, text=True, timeout=400)
    assert second.returncode == 1, second.stdout + second.stderr  # 1: some files failed
    assert f"{killed_at} already reviewed" in second.stdout

    con = sqlite3.connect(db)
    per_call = con.execute("SELECT c.path, COUNT(*) FROM reviews r JOIN calls c ON c.id = r.call_pk "
                           "GROUP BY c.path").fetchall()
    assert sorted(per_call) == sorted((str(p), 1) for p in good)
    errors = con.execute("SELECT path, COUNT(*), MIN(kind) FROM errors GROUP BY path").fetchall()
    assert sorted(errors) == sorted((str(p), 1, "input") for p in bad)
    assert con.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == N_GOOD
    statuses = [r[0] for r in con.execute("SELECT status FROM runs ORDER BY id")]
    assert statuses == ["killed", "finished"]
    # findings belong to stored reviews only (one transaction per call: no half-written call)
    assert con.execute("SELECT COUNT(*) FROM findings WHERE review_id NOT IN (SELECT id FROM reviews)").fetchone()[0] == 0

    # every review file is whole; a temp file from the killed run may remain, never a torn review
    jsons = sorted(out.glob("*.review.json"))
    assert len(jsons) == N_GOOD and len(list(out.glob("*.review.md"))) == N_GOOD
    assert {json.loads(p.read_text())["audio"]["path"] for p in jsons} == {str(p) for p in good}
    assert all(p.name.endswith(".tmp") for p in out.iterdir() if not p.name.endswith((".review.json", ".review.md")))

    # 3. and once more: nothing left to do
    third = subprocess.run(batch_command(calls, db, out), capture_output=True, text=True, timeout=120)
    assert third.returncode == 1 and f"0 reviewed (0 flagged), {N_GOOD} already reviewed, {len(bad)} failed" in third.stdout
    assert con.execute("SELECT COUNT(*) FROM reviews").fetchone()[0] == N_GOOD
    assert con.execute("SELECT COUNT(*) FROM errors").fetchone()[0] == len(bad)


def test_sigkill_of_the_driver_alone_leaves_no_worker_behind(tmp_path: Path) -> None:
    """kill -9 of the batch's pid only: its pool workers notice and exit instead of idling forever."""
    pytest.importorskip("faster_whisper")
    calls = tmp_path / "calls"
    write_good_calls(calls, 8)
    db = tmp_path / "r.sqlite"
    proc = subprocess.Popen(batch_command(calls, db, tmp_path / "out"), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while reviews_in(db) < 1:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    children = _children(proc.pid)
    assert children, "no pool workers found"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
