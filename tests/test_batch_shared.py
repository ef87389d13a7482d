"""The `shared` batch engine (cross-call batching, batch_shared.py) with the real model on CPU:
the labelled sample calls reviewed by two threads around one model whose decoder takes clips
of both calls in the same batches; a bad file among them fails alone, with its one line."""
from __future__ import annotations

import logging
import re
import shutil

import pytest

from audio_pipeline.batch import BatchRequest, run_batch
from audio_pipeline.store import Store

from .conftest import SAMPLES

pytestmark = pytest.mark.slow


def test_shared_engine_reviews_calls_on_one_model_in_shared_batches(cfg, tmp_path, caplog):
    calls = tmp_path / "calls"
    calls.mkdir()
    for f in SAMPLES.glob("sample_*.flac"):
        shutil.copy(f, calls / f.name)
    (calls / "broken.wav").write_text("not audio at all")
    with caplog.at_level(logging.INFO, logger="audio_pipeline.batch_shared"):
        summary = run_batch(BatchRequest(source=str(calls), db=tmp_path / "r.sqlite", engine="shared", workers=2,
                                         device="cpu"), cfg)
    assert summary.reviewed == 2 and summary.workers == 2 and summary.exit_code == 1
    assert [f.path for f in summary.failed] == [str((calls / "broken.wav").absolute())]
    assert "\n" not in summary.failed[0].message
    with Store(tmp_path / "r.sqlite") as store:
        reviews = [store.review_json(i) for i in (1, 2)]
    for review in reviews:
        assert review["models"]["device"] == "cpu"
        assert {u["speaker"] for u in review["utterances"]} == {"agent", "customer"}
    # both calls' clips (2 channels each, first passes and retries) went through fewer model calls
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("shared decoder"))
    batches, requests = map(int, re.findall(r"\d+", line))
    assert batches < requests, line
