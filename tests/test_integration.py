"""Real tiny.en on the labelled calls in samples/: findings against the ground truth, WER,
crosstalk, determinism. One Reviewer (one model load) for the module."""
from __future__ import annotations

import json
from pathlib import Path

import jiwer
import pytest

from audio_pipeline.evaluation import Tally, normalise_text, score
from audio_pipeline.export import review_to_dict, write_outputs
from audio_pipeline.pipeline import Reviewer

from .conftest import SAMPLES

TRUTHS = sorted(SAMPLES.glob("*.truth.json"))
TURN_TYPES = [("interruption", "agent"), ("interruption", "customer"), ("dead_air", None),
              ("slow_response", None), ("long_monologue", None)]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reviewer(cfg):
    return Reviewer(cfg, device="cpu")


@pytest.fixture(scope="module")
def reviews(reviewer):
    out = {}
    for truth_path in TRUTHS:
        truth = json.loads(truth_path.read_text())
        out[truth_path.name] = (truth, review_to_dict(reviewer.review(truth_path.parent / truth["audio"])))
    return out


def test_samples_exist():
    assert len(TRUTHS) >= 3, "samples/ must hold labelled calls"
    assert (SAMPLES / "demo_call.wav").exists()


def test_turn_findings_match_truth(reviews):
    tallies = {row: Tally() for row in TURN_TYPES}
    for name, (truth, review) in reviews.items():
        for row in TURN_TYPES:
            score(review["findings"], truth["events"], *row, tally=tallies[row], name=name)
    report = {f"{k}/{s}": (t.tp, t.fp, t.fn, t.misses) for (k, s), t in tallies.items()}
    for (kind, speaker), t in tallies.items():
        assert t.f1 >= 0.9, f"{kind}/{speaker}: F1 {t.f1:.2f} {report}"


def test_backchannels_never_reported_as_interruptions(reviews):
    for name, (truth, review) in reviews.items():
        for bc in (e for e in truth["events"] if e["type"] == "backchannel"):
            hits = [f for f in review["findings"] if f["type"] == "interruption" and f["speaker"] == bc["speaker"]
                    and f["start"] <= bc["end"] and f["end"] >= bc["start"]]
            assert not hits, f"{name}: backchannel {bc} reported as {hits}"


def test_word_error_rate_per_speaker(reviews):
    for role in ("agent", "customer"):
        refs = [normalise_text(" ".join(t["text"] for t in truth["turns"] if t["speaker"] == role))
                for truth, _ in reviews.values()]
        hyps = [normalise_text(" ".join(u["text"] for u in review["utterances"] if u["speaker"] == role))
                for _, review in reviews.values()]
        assert jiwer.wer(refs, hyps) < 0.35, role


def test_no_words_on_the_wrong_speaker(reviews):
    """Echo of one party on the other's channel must not become words: every hypothesis word lies
    where the truth has its speaker talking (with slack for timestamp error)."""
    slack = 0.6
    for name, (truth, review) in reviews.items():
        for u in review["utterances"]:
            own = [(t["start"] - slack, t["end"] + slack) for t in truth["turns"] if t["speaker"] == u["speaker"]]
            stray = [w for w in u["words"] if not any(s <= w["start"] and w["end"] <= e for s, e in own)]
            assert len(stray) <= 1, f"{name}: {u['speaker']} words outside their turns: {stray}"


def test_same_input_same_review(reviewer, reviews, tmp_path):
    truth, first = reviews["demo_call.truth.json"]
    again = review_to_dict(reviewer.review(SAMPLES / truth["audio"]))
    assert json.dumps(again, sort_keys=True) == json.dumps(first, sort_keys=True)


def test_outputs_written(reviewer, tmp_path):
    review = reviewer.review(SAMPLES / "demo_call.wav")
    paths = write_outputs(review, tmp_path, ["json", "md"])
    assert [p.name for p in paths] == ["demo_call.review.json", "demo_call.review.md"]
    data = json.loads(paths[0].read_text())
    assert set(data) >= {"schema", "audio", "models", "utterances", "findings", "metrics", "flagged", "flag_reasons"}
    assert data["schema"] == "call-review/1" and data["audio"]["mode"] == "stereo"
    md = paths[1].read_text()
    assert "## Findings" in md and "## Transcript" in md and "agent:" in md
    assert not list(Path(tmp_path).glob("*.tmp"))
