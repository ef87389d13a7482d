"""Batch driver with a fake Reviewer (no models): discovery, manifests, skipping, the process pool,
a file that kills its worker, Ctrl-C, and the batch/flagged/agents commands."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from audio_pipeline import batch as batch_mod
from audio_pipeline.audio import AudioError, sha256_of
from audio_pipeline.batch import (BatchAbort, BatchInputError, BatchRequest, CallInput, discover,
                                  output_stem, plan_batch, ray_placement, read_manifest,
                                  run_batch)
from audio_pipeline.cli_batch import register
from audio_pipeline.config import load_config
from audio_pipeline.fingerprint import review_fingerprint
from audio_pipeline.store import CallMeta, Store
from audio_pipeline.types import AudioInfo, Finding, Metrics, ModelInfo, Review

EXTS = ("wav", "flac", "mp3")


# -- a fake Reviewer: what a file holds decides what happens -------------------------------------

class FakeReviewer:
    """b'BAD…' → AudioError, b'CRASH' → the process dies, b'INTERRUPT' → Ctrl-C, b'FLAG…' → a flagged
    review with one critical interruption; anything else → a clean review."""

    def review(self, path: str | Path) -> Review:
        p = Path(path)
        data = p.read_bytes()
        if data.startswith(b"BAD"):
            raise AudioError(f"{p}: not a readable audio file")
        if data.startswith(b"CRASH"):
            os._exit(3)  # a segfault in a decoder looks like this to the pool
        if data.startswith(b"INTERRUPT"):
            raise KeyboardInterrupt
        flagged = data.startswith(b"FLAG")
        findings = (Finding("interruption", "agent", 1.0, 2.0, "critical", "cut in"),) if flagged else ()
        return Review(AudioInfo(str(p), sha256_of(p), 60.0, 8000, 2, "stereo"), ModelInfo("fake", None, "cpu"),
                      (), findings, Metrics(interruptions_by_agent=len(findings)), flagged,
                      ("1 agent interruption",) if flagged else ())


def fake_factory(cfg, device):
    return FakeReviewer()


def broken_factory(cfg, device):
    raise RuntimeError("weights corrupt")


def make_calls(folder: Path, contents: dict[str, bytes]) -> Path:
    for name, data in contents.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def cfg():
    return load_config()


def request(tmp_path: Path, source: Path | str, **kw) -> BatchRequest:
    return BatchRequest(source=str(source), db=tmp_path / "r.sqlite", **kw)


def counts(db: Path) -> tuple[int, int]:
    with Store(db) as s:
        return s.count("reviews"), s.count("errors")


# -- discovery --------------------------------------------------------------------------------

def test_discover_folder_recursively_by_extension(tmp_path: Path) -> None:
    make_calls(tmp_path, {"a.wav": b"1", "x/b.FLAC": b"2", "x/y/c.mp3": b"3", "notes.txt": b"", "x/d.json": b""})
    found = [c.path.relative_to(tmp_path).as_posix() for c in discover(str(tmp_path), EXTS)]
    assert found == ["a.wav", "x/b.FLAC", "x/y/c.mp3"]


def test_discover_glob(tmp_path: Path) -> None:
    make_calls(tmp_path, {"a.wav": b"1", "x/b.wav": b"2", "x/c.mp3": b"3", "x/n.txt": b""})
    found = [c.path.name for c in discover(f"{tmp_path}/**/*.wav", EXTS)]
    assert found == ["a.wav", "b.wav"]
    assert [c.path.name for c in discover(f"{tmp_path}/x*", EXTS)] == ["b.wav", "c.mp3"]  # a matched folder is searched


@pytest.mark.parametrize("source, message", [("missing-dir", "no such folder"), ("empty", "no audio files"),
                                             ("*.nothing", "no audio files"), ("file.txt", "not a folder")])
def test_discover_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(BatchInputError, match=message):
        discover(source, EXTS)


def test_manifest_metadata(tmp_path: Path) -> None:
    make_calls(tmp_path, {"calls/a.wav": b"1"})
    manifest = tmp_path / "m.csv"
    manifest.write_text("\ufeffPath,call_id,agent_id,queue,started_at,campaign\n"
                        "calls/a.wav,C1,ann,billing,2026-11-23T09:15:00+01:00,spring\n"
                        "calls/a.wav,C2,bob,,,\n"
                        f"{tmp_path}/calls/missing.wav,,,,,\n")
    a, missing = read_manifest(manifest)
    assert a.path == (tmp_path / "calls/a.wav").absolute()
    assert a.meta == CallMeta("C1", "ann", "billing", "2026-11-23T08:15:00")
    assert dict(a.meta.extra) == {"campaign": "spring"}
    assert missing.meta == CallMeta()


@pytest.mark.parametrize("text, message", [("file,agent\nx.wav,a\n", "needs a 'path' column"),
                                           ("path,started_at\nx.wav,yesterday\n", "line 2: started_at"),
                                           ("path\n", "lists no calls")])
def test_manifest_errors(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(BatchInputError, match=message):
        discover(str(tmp_path / "m.csv"), EXTS)


def test_output_stem_is_unique_and_safe(tmp_path: Path) -> None:
    assert output_stem(CallInput(Path("/x/call 1.wav")), "abcdef0123") == "call_1-abcdef01"
    assert output_stem(CallInput(Path("/x/a.wav"), CallMeta(call_id="Q/7")), "ff" * 8) == "Q_7-ffffffff"


def test_batch_section_is_not_part_of_the_fingerprint(cfg) -> None:
    other = load_config(overrides={"batch.workers": 7, "batch.engine": "ray"})
    assert other.fingerprint() == cfg.fingerprint()
    assert load_config(overrides={"turns.dead_air_min": 9.0}).fingerprint() != cfg.fingerprint()


# -- planning ---------------------------------------------------------------------------------

def test_plan_skips_done_and_known_bad(tmp_path: Path, cfg) -> None:
    calls_dir = make_calls(tmp_path / "calls", {"a.wav": b"A", "b.wav": b"B", "bad.wav": b"BAD"})
    calls = discover(str(calls_dir), EXTS) + [CallInput(tmp_path / "calls" / "gone.wav")]
    with Store(tmp_path / "r.sqlite") as store:
        run = store.start_run(engine="local", workers=1, model="m", config_fp="f", source="x")
        plan = plan_batch(calls, store, "m", "f")
        assert [Path(t.path).name for t in plan.todo] == ["a.wav", "b.wav", "bad.wav"]
        assert [Path(f.path).name for f in plan.unreadable] == ["gone.wav"]
        assert plan.unreadable[0].message.endswith("no such file")
        review = FakeReviewer().review(calls_dir / "a.wav")
        from audio_pipeline.export import review_to_dict

        store.save_review(review_to_dict(review), model="m", config_fp="f", run_id=run)
        bad = str(calls_dir / "bad.wav")
        store.record_error(run_id=run, path=bad, sha256=sha256_of(Path(bad)), model="m", config_fp="f",
                           kind="input", message="bad")
        store.record_error(run_id=run, path=str(calls[-1].path), sha256=None, model="m", config_fp="f", kind="input",
                           message="no such file")
        plan = plan_batch(calls, store, "m", "f")
        assert [Path(t.path).name for t in plan.todo] == ["b.wav"]
        assert (plan.already_done, [Path(f.path).name for f in plan.known_bad]) == (1, ["bad.wav", "gone.wav"])
        assert plan.unreadable == ()
        assert [Path(t.path).name for t in plan_batch(calls, store, "m", "f", retry_failed=True).todo] == \
            ["b.wav", "bad.wav"]
        # the bad file was fixed: new bytes, new hash, reviewed again
        (calls_dir / "bad.wav").write_bytes(b"GOOD NOW")
        assert [Path(t.path).name for t in plan_batch(calls, store, "m", "f").todo] == ["b.wav", "bad.wav"]
        make_calls(calls_dir, {"gone.wav": b"HERE NOW"})  # the missing file arrived
        assert [Path(t.path).name for t in plan_batch(calls, store, "m", "f").todo] == ["b.wav", "bad.wav", "gone.wav"]
        assert plan_batch(calls, store, "m", "other").already_done == 0


def test_plan_reuses_stored_hash_of_unchanged_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cfg) -> None:
    calls_dir = make_calls(tmp_path / "calls", {"a.wav": b"A"})
    run_batch(request(tmp_path, calls_dir, workers=1), cfg, factory=fake_factory)
    hashed: list[Path] = []
    monkeypatch.setattr(batch_mod, "sha256_of", lambda p: hashed.append(p) or "x")
    with Store(tmp_path / "r.sqlite") as store:
        plan = plan_batch(discover(str(calls_dir), EXTS), store, cfg.asr.model, review_fingerprint(cfg))
    assert (plan.already_done, hashed) == (1, [])


# -- running ------------------------------------------------------------------------------------

GOOD = {f"g{i:02d}.wav": f"call {i}".encode() for i in range(8)}


@pytest.mark.parametrize("workers", [1, 2])
def test_run_reviews_once_records_errors_and_resumes(tmp_path: Path, cfg, workers: int) -> None:
    calls_dir = make_calls(tmp_path / "calls", {**GOOD, "f.wav": b"FLAG 1", "bad.wav": b"BAD", "empty.mp3": b"BAD2",
                                                "same.wav": b"call 0"})  # same bytes as g00
    out = tmp_path / "out"
    s = run_batch(request(tmp_path, calls_dir, workers=workers, out_dir=out, formats=("json", "md")), cfg,
                  factory=fake_factory)
    assert (s.total, s.reviewed, s.duplicates, s.flagged, len(s.failed), s.exit_code) == (12, 9, 1, 1, 2, 1)
    assert counts(tmp_path / "r.sqlite") == (9, 2)
    assert len(list(out.glob("*.review.json"))) == 10 and len(list(out.glob("*.review.md"))) == 10
    again = run_batch(request(tmp_path, calls_dir, workers=workers), cfg, factory=fake_factory)
    assert (again.reviewed, again.already_done, len(again.failed), len(again.known_bad)) == (0, 10, 0, 2)
    assert again.exit_code == 1
    assert counts(tmp_path / "r.sqlite") == (9, 2)


def test_all_good_exits_zero(tmp_path: Path, cfg) -> None:
    s = run_batch(request(tmp_path, make_calls(tmp_path / "c", GOOD), workers=2), cfg, factory=fake_factory)
    assert (s.reviewed, s.exit_code, s.workers) == (8, 0, 2)


def test_a_file_that_kills_its_worker_is_isolated(tmp_path: Path, cfg) -> None:
    calls_dir = make_calls(tmp_path / "calls", {**GOOD, "boom.wav": b"CRASH"})
    s = run_batch(request(tmp_path, calls_dir, workers=2), cfg, factory=fake_factory)
    assert s.reviewed == 8
    assert [(Path(f.path).name, "worker process died" in f.message) for f in s.failed] == [("boom.wav", True)]
    with Store(tmp_path / "r.sqlite") as store:
        assert [e.kind for e in store.errors()] == ["crash"]
        assert store.known_bad(cfg.asr.model, cfg.fingerprint()) == {}  # a crash is retried next time


def test_workers_that_cannot_load_models_abort(tmp_path: Path, cfg) -> None:
    calls_dir = make_calls(tmp_path / "calls", GOOD)
    with pytest.raises(BatchAbort, match="could not load the models: RuntimeError: weights corrupt"):
        run_batch(request(tmp_path, calls_dir, workers=2), cfg, factory=broken_factory)
    with Store(tmp_path / "r.sqlite") as store:
        assert [r["status"] for r in store.runs()] == ["failed"]


def test_ctrl_c_keeps_finished_reviews(tmp_path: Path, cfg) -> None:
    calls_dir = make_calls(tmp_path / "calls", {"a.wav": b"A", "b.wav": b"INTERRUPT", "c.wav": b"C"})
    s = run_batch(request(tmp_path, calls_dir, workers=1), cfg, factory=fake_factory)
    assert (s.interrupted, s.reviewed, s.exit_code) == (True, 1, 130)
    with Store(tmp_path / "r.sqlite") as store:
        assert [r["status"] for r in store.runs()] == ["interrupted"]
    (calls_dir / "b.wav").write_bytes(b"B")
    s = run_batch(request(tmp_path, calls_dir, workers=1), cfg, factory=fake_factory)
    assert (s.reviewed, s.already_done, s.exit_code) == (2, 1, 0)


def test_ray_placement() -> None:
    gpu = ray_placement({"CPU": 16, "GPU": 2}, 0, "auto", 1.0, 0.25, 100)
    assert (gpu.actors, gpu.num_gpus, gpu.device) == (8, 0.25, "cuda")
    cpu = ray_placement({"CPU": 6}, 0, "auto", 2.0, 0.25, 100)
    assert (cpu.actors, cpu.num_gpus, cpu.device) == (3, 0.0, "cpu")
    assert ray_placement({"CPU": 6, "GPU": 1}, 0, "cpu", 1.0, 0.25, 100).num_gpus == 0.0
    assert ray_placement({"CPU": 64}, 0, "auto", 1.0, 0.25, 5).actors == 5  # never more actors than calls
    assert ray_placement({"CPU": 64}, 3, "auto", 1.0, 0.25, 50).actors == 3
    assert ray_placement({"CPU": 2}, 8, "auto", 1.0, 0.25, 50).actors == 2  # more would never be placed
    with pytest.raises(BatchAbort, match="no GPUs"):
        ray_placement({"CPU": 4}, 0, "cuda", 1.0, 0.25, 10)


def test_ray_is_not_imported_by_the_cli_or_the_local_engine() -> None:
    code = ("import sys, audio_pipeline.cli, audio_pipeline.batch, audio_pipeline.store;"
            "sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# -- commands -----------------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(batch_mod, "default_reviewer", fake_factory)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [str(a) for a in args])


def test_batch_command_exit_codes(tmp_path: Path, cli) -> None:
    good = make_calls(tmp_path / "good", GOOD)
    db = tmp_path / "r.sqlite"
    r = cli("batch", good, "--db", db, "--workers", "1")
    assert r.exit_code == 0, r.output
    assert "8 reviewed" in r.output and "[8/8] reviewed" in r.output  # a log line per file when not a TTY
    make_calls(good, {"z.wav": b"BAD"})
    r = cli("batch", good, "--db", db, "--workers", "1")
    assert r.exit_code == 1 and "failed: " in r.output and "8 already reviewed" in r.output


@pytest.mark.parametrize("args, message", [
    (("batch", "{tmp}/nope", "--db", "{tmp}/r.sqlite"), "no such folder"),
    (("batch", "{tmp}", "--db", "{tmp}/r.sqlite", "--engine", "spark"), "--engine must be local or ray"),
    (("batch", "{tmp}"), "missing --db"),
    (("batch", "{tmp}", "--db", "{tmp}/no/dir/r.sqlite"), "does not exist"),
    (("batch", "{tmp}", "--db", "{tmp}/r.sqlite", "--format", "md"), "--format needs --out"),
    (("batch", "{tmp}", "--db", "{tmp}/r.sqlite", "--model", "nonexistent-model"), "not available offline"),
    (("batch", "{tmp}", "--db", "{tmp}/r.sqlite", "--engine", "ray", "--address", "127.0.0.1:9"),
     "cannot reach the Ray cluster at 127.0.0.1:9"),
    (("flagged", "--db", "{tmp}/none.sqlite"), "no such review database"),
    (("flagged", "--db", "{tmp}/r.sqlite", "--since", "yesterday"), "not a date"),
    (("agents", "--db", "{tmp}/r.sqlite", "--format", "xml"), "--format must be one of"),
])
def test_user_errors_are_one_line_exit_2(tmp_path: Path, cli, args: tuple[str, ...], message: str) -> None:
    make_calls(tmp_path, {"a.wav": b"A"})
    Store(tmp_path / "r.sqlite").close()
    r = cli(*(a.format(tmp=tmp_path) for a in args))
    assert r.exit_code == 2, r.output
    assert message in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_flagged_and_agents_commands(tmp_path: Path, cli) -> None:
    calls_dir = make_calls(tmp_path / "calls", {"a.wav": b"A", "f.wav": b"FLAG", "g.wav": b"FLAG 2"})
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,call_id,agent_id,started_at\ncalls/a.wav,C-A,ann,2026-11-20T10:00:00\n"
                        "calls/f.wav,C-F,ann,2026-11-21T10:00:00\ncalls/g.wav,C-G,bob,2026-11-22T10:00:00\n")
    db = tmp_path / "r.sqlite"
    assert cli("batch", manifest, "--db", db, "--workers", "1").exit_code == 0
    r = cli("flagged", "--db", db, "--format", "json")
    assert [c["call_id"] for c in json.loads(r.output)] == ["C-G", "C-F"]  # equal severity: newest first
    r = cli("flagged", "--db", db, "--format", "json", "--agent", "ann", "--type", "interruption")
    assert [c["call_id"] for c in json.loads(r.output)] == ["C-F"]
    r = cli("flagged", "--db", db, "--format", "csv", "--since", "2026-11-22")
    assert r.output.splitlines()[0].startswith("review_id,path,call_id") and len(r.output.splitlines()) == 2
    r = cli("flagged", "--db", db)
    assert r.exit_code == 0 and "C-G" in r.output
    r = cli("agents", "--db", db, "--format", "json", "--until", "2026-11-21")
    assert [(a["agent_id"], a["calls"], a["flagged_share"]) for a in json.loads(r.output)] == [("ann", 2, 0.5)]
    r = cli("agents", "--db", db)
    assert r.exit_code == 0 and "ann" in r.output and "bob" in r.output
