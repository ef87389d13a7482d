"""--redact: personal data masked in every written form (review.json, Markdown, the store), word
timing kept, the audio copy silenced where words were masked; the spoken-number rules on their own."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.export import review_to_dict, review_to_markdown
from audio_pipeline.privacy.engine import load_engine, mask
from audio_pipeline.privacy.redact import redact_review
from audio_pipeline.privacy.spoken import digit_runs, luhn, tokens
from audio_pipeline.types import AudioInfo, Finding, Metrics, ModelInfo, Review

from .conftest import ROOT, utt


@pytest.mark.parametrize("text, digits", [
    ("four four seven one two oh three nine", ["44712039"]),
    ("it's 4471 2039, 8812 double oh 45", ["4471203988120045"]),
    ("nineteen eighty five", ["1985"]),
    ("oh I see, twenty seven", ["27"]),
    ("I have two kids", ["2"]),
])
def test_digit_runs(text, digits):
    assert [r.digits for r in digit_runs(tokens(text))] == digits


def test_luhn():
    assert luhn("4111111111111111") and not luhn("4111111111111112")


@pytest.fixture(scope="module")
def engine():
    return load_engine()


PII = {
    "card": ("customer", "yeah it's four one one one, one one one one, one one one one, one one one one"),
    "email": ("customer", "it's jane dot doe at example dot com"),
    "name": ("agent", "Thank you for calling, my name is Priya Raman, how can I help?"),
}


def _review() -> Review:
    utterances = (utt("agent", 0.0, 3.0, "Can I take the long card number please?"),
                  utt(*PII["card"][:1], 3.5, 9.0, PII["card"][1]),
                  utt(*PII["email"][:1], 10.0, 13.0, PII["email"][1]),
                  utt(*PII["name"][:1], 14.0, 17.0, PII["name"][1]))
    finding = Finding("empathy", "agent", 14.0, 17.0, "info", "Agent introduced themselves",
                      evidence="my name is Priya Raman, how can I help?")
    return Review(AudioInfo("x.wav", "ab" * 32, 20.0, 8000, 2, "stereo"), ModelInfo("tiny.en", None, "cpu"),
                  utterances, (finding,), Metrics(), False, ())


def test_review_is_masked_everywhere_and_keeps_timing(engine):
    review = _review()
    red = redact_review(review, engine)
    text = json.dumps(review_to_dict(red.review)) + review_to_markdown(red.review)
    for secret in ("one one one one", "jane", "doe at", "Priya", "Raman"):
        assert secret not in text, secret
    assert "[CREDIT_CARD]" in text and "[EMAIL_ADDRESS]" in text and "[PERSON]" in text
    assert "Can I take the long card number please?" in text  # nothing else is touched
    for before, after in zip(review.utterances, red.review.utterances):
        assert [(w.start, w.end) for w in before.words] == [(w.start, w.end) for w in after.words]
    assert {e for _, _, e in red.spans} == {"CREDIT_CARD", "EMAIL_ADDRESS", "PERSON"}


def test_mask_replaces_spans(engine):
    text = "my sort code is 20-45-77 and the account number is 41234567"
    assert mask(text, engine.spans(text)) == "my sort code is [SORT_CODE] and the account number is [BANK_ACCOUNT]"


@pytest.mark.slow
def test_cli_redact_json_md_and_audio(tmp_path):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "audio_pipeline", "review", str(ROOT / "samples" / "demo_call.wav"),
                        "-o", str(out), "-q", "--redact-audio"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "presidio" not in r.stderr
    review = json.loads((out / "demo_call.review.json").read_text())
    md = (out / "demo_call.review.md").read_text()
    assert "Joe" not in json.dumps(review) + md  # "… my name is Joe, how can I help"
    masked = [w for u in review["utterances"] for w in u["words"] if w["text"] == "[PERSON]"]
    assert masked
    # logs never hold transcript text (without --verbose)
    assert not [u["text"] for u in review["utterances"] if len(u["text"]) > 15 and u["text"] in r.stderr]
    audio, rate = sf.read(out / "demo_call.redacted.wav", always_2d=True)
    original, _ = sf.read(ROOT / "samples" / "demo_call.wav", always_2d=True)
    assert audio.shape == original.shape
    w = masked[0]
    inside = audio[int(w["start"] * rate):int(w["end"] * rate)]
    assert np.abs(inside).max() == 0 and np.abs(original[int(w["start"] * rate):int(w["end"] * rate)]).max() > 0.01
    assert np.abs(audio[int((w["end"] + 1.0) * rate):]).max() > 0.01  # the rest is kept


def test_batch_store_and_files_are_redacted(tmp_path, engine):
    """The batch driver masks before it writes files or the store (the reviews come from a stand-in
    reviewer; the redaction is the real one)."""
    from audio_pipeline.batch import BatchRequest, run_batch
    from audio_pipeline.config import load_config

    (tmp_path / "calls").mkdir()
    (tmp_path / "calls" / "a.wav").write_bytes(b"call a")

    class PiiReviewer:
        def review(self, path):
            from dataclasses import replace

            return replace(_review(), audio=AudioInfo(str(path), "cd" * 32, 20.0, 8000, 2, "stereo"))

    db, out = tmp_path / "r.sqlite", tmp_path / "out"
    summary = run_batch(BatchRequest(source=str(tmp_path / "calls"), db=db, out_dir=out, formats=("json", "md"),
                                     workers=1), load_config(overrides={"privacy.redact": True}),
                        factory=lambda cfg, device: PiiReviewer())
    assert summary.reviewed == 1, summary.failed
    stored = sqlite3.connect(db).execute("SELECT review_json FROM reviews").fetchone()[0]
    written = "".join(p.read_text() for p in out.iterdir())
    for text in (stored, written):
        assert "[PERSON]" in text and "[CREDIT_CARD]" in text
        assert "Priya" not in text and "one one one one" not in text and "jane" not in text
