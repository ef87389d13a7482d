"""`audio-pipeline purge`: older calls' reviews, findings, errors and files go, newer ones stay, and
the removed text is gone from the database file itself."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from audio_pipeline.batch import CallInput, output_stem
from audio_pipeline.store import CallMeta, Store

from .conftest import ROOT
from .test_store import review_dict


def cli(*args):
    return subprocess.run([sys.executable, "-m", "audio_pipeline", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def _store(tmp_path: Path) -> tuple[Path, Path]:
    db, out = tmp_path / "r.sqlite", tmp_path / "out"
    out.mkdir()
    with Store(db) as store:
        run = store.start_run(engine="local", workers=1, model="m", config_fp="f", source="x")
        for sha, day in (("oldcall" * 4, "2026-01-10"), ("midcall" * 4, "2026-05-31"), ("newcall" * 4, "2026-11-01")):
            review = review_dict(sha, findings=[("dead_air", "warning"), ("interruption", "critical")])
            review["utterances"] = [{"speaker": "customer", "start": 0, "end": 1, "text": f"secret of {sha[:7]}",
                                     "words": []}]
            store.save_review(review, model="m", config_fp="f", run_id=run,
                              meta=CallMeta(started_at=f"{day}T09:00:00"))
            stem = output_stem(CallInput(Path(f"/calls/{sha}.wav")), sha)
            for suffix in (".review.json", ".review.md"):
                (out / f"{stem}{suffix}").write_text(f"secret of {sha[:7]}")
        store.record_error(run_id=run, path="/calls/x.wav", sha256="oldcall" * 4, model="m", config_fp="f",
                           kind="internal", message="boom")
    return db, out


def test_purge_removes_older_calls_and_their_files(tmp_path):
    db, out = _store(tmp_path)
    dry = cli("purge", "--db", db, "--before", "2026-06-01", "--out", out, "--dry-run")
    assert dry.returncode == 0 and "would remove 2 call(s)" in dry.stdout, dry.stderr
    assert len(list(out.iterdir())) == 6
    r = cli("purge", "--db", db, "--before", "2026-06-01", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "removed 2 call(s)" in r.stdout and "4 finding(s)" in r.stdout and "4 file(s)" in r.stdout
    with Store(db) as store:
        assert [row[0] for row in store.db.execute("SELECT sha256 FROM calls")] == ["newcall" * 4]
        assert store.count("reviews") == 1 and store.count("findings") == 2 and store.count("errors") == 0
    assert sorted(p.name.split("-")[0] for p in out.iterdir()) == ["newcall" * 4] * 2
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("r.sqlite*"))
    assert b"secret of oldcall" not in raw and b"secret of midcall" not in raw and b"secret of newcall" in raw


def test_purge_bad_input_is_one_line(tmp_path):
    db, _ = _store(tmp_path)
    for args, fragment in ((("--db", db, "--before", "last week"), "is not a date"),
                           (("--db", tmp_path / "none.sqlite", "--before", "2026-01-01"), "no such review database"),
                           (("--db", db), "needs --db FILE and --before DATE")):
        r = cli("purge", *args)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 2 and len(lines) == 1 and fragment in lines[0], r.stderr
