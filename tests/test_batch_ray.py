"""The Ray engine on a private local Ray instance (2 CPUs, no dashboard): real tiny.en actors, results
streamed back, bad files recorded, a worker-killing file isolated; start-up time is reported."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from audio_pipeline.batch import BatchRequest, run_batch
from audio_pipeline.config import load_config
from audio_pipeline.store import Store
from tests.batch_audio import write_bad_files, write_good_calls
from tests.test_batch import GOOD, fake_factory, make_calls

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")


def test_ray_engine_reviews_streams_and_records_errors(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    calls = tmp_path / "calls"
    good = write_good_calls(calls, 5)
    bad = write_bad_files(calls / "bad")[:3]
    for extra in write_bad_files(tmp_path / "unused"):
        extra.unlink()
    for path in (calls / "bad").iterdir():
        if path not in bad:
            path.unlink()
    cfg = load_config()
    request = BatchRequest(source=str(calls), db=tmp_path / "r.sqlite", engine="ray", workers=2,
                           out_dir=tmp_path / "out")
    started = time.perf_counter()
    summary = run_batch(request, cfg)
    wall = time.perf_counter() - started
    print(f"\nray: start-up (ray.init + 2 actors loading tiny.en) {summary.startup_seconds:.1f} s, "
          f"batch {wall:.1f} s for {len(good)} calls")
    assert not ray.is_initialized()  # the private instance is shut down with the batch
    assert (summary.reviewed, len(summary.failed), summary.workers, summary.engine) == (5, 3, 2, "ray")
    assert 0 < summary.startup_seconds < 180
    with Store(tmp_path / "r.sqlite") as store:
        assert store.count("reviews") == 5
        assert sorted(e.path for e in store.errors()) == sorted(map(str, bad))
        assert {e.kind for e in store.errors()} == {"input"}
    assert len(list((tmp_path / "out").glob("*.review.json"))) == 5
    # the same command again starts no Ray at all: nothing is left to do
    again = run_batch(request, cfg)
    assert (again.reviewed, again.already_done, again.startup_seconds) == (0, 5, 0.0)


def test_ray_worker_death_is_recorded_and_the_rest_goes_on(tmp_path: Path) -> None:
    calls = make_calls(tmp_path / "calls", {**dict(list(GOOD.items())[:4]), "boom.wav": b"CRASH"})
    request = BatchRequest(source=str(calls), db=tmp_path / "r.sqlite", engine="ray", workers=2)
    summary = run_batch(request, load_config(), factory=fake_factory)
    assert summary.reviewed == 4
    assert [(Path(f.path).name, "Ray worker process died" in f.message) for f in summary.failed] == [("boom.wav", True)]
