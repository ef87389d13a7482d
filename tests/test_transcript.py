"""Reviews from an existing transcript: the formats accepted, one clear line for a bad file, and
the same analysis as for audio (a review.json's utterances reviewed again give its findings)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from audio_pipeline.transcript import TranscriptError, load_transcript

from .conftest import ROOT

CALL = [
    {"speaker": "agent", "start": 0.5, "end": 3.0, "text": "Thanks for calling Northwind, this is Sam."},
    {"speaker": "customer", "start": 3.4, "end": 9.0,
     "text": "Hi. My boiler's been off since Monday and I've got a newborn in the house, I'm really worried."},
    {"speaker": "agent", "start": 9.5, "end": 11.5, "text": "What's your postcode please?"},
    {"speaker": "customer", "start": 19.0, "end": 20.5, "text": "It's LS6 2AB."},
    {"speaker": "agent", "start": 21.0, "end": 24.0, "text": "Right, there's nothing I can do today, you'll have to wait."},
]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "audio_pipeline", *map(str, args)], capture_output=True,
                          text=True, cwd=ROOT, timeout=600)


def test_json_object_list_and_jsonl_give_the_same_conversation(tmp_path: Path):
    (tmp_path / "a.json").write_text(json.dumps({"utterances": CALL, "duration": 30}))
    (tmp_path / "b.json").write_text(json.dumps(list(reversed(CALL))))
    (tmp_path / "c.jsonl").write_text("".join(json.dumps(u) + "\n" for u in CALL))
    a, _ = load_transcript(tmp_path / "a.json")
    b, _ = load_transcript(tmp_path / "b.json")
    c, _ = load_transcript(tmp_path / "c.jsonl")
    assert a.duration == 30 and b.duration == c.duration == 24.0      # without duration: the last end
    assert a.utterances == b.utterances == c.utterances                 # sorted by time
    assert [u.speaker for u in a.utterances][:2] == ["agent", "customer"]


def test_words_are_optional_and_kept(tmp_path: Path):
    rows = [dict(CALL[0], words=[{"start": 0.5, "end": 0.9, "word": " Thanks", "probability": 0.8}])]
    (tmp_path / "w.json").write_text(json.dumps({"utterances": rows}))
    conv, digest = load_transcript(tmp_path / "w.json")
    assert conv.utterances[0].words[0].text == "Thanks" and len(digest) == 64


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not JSON"),
    ('{"turns": []}', "expected a list of utterances"),
    ('[{"speaker": "bot", "start": 0, "end": 1, "text": "hi"}]', "speaker must be one of"),
    ('[{"speaker": "agent", "start": 2, "end": 1, "text": "hi"}]', "is before start"),
    ('[{"speaker": "agent", "start": "x", "end": 1, "text": "hi"}]', "'start' must be a number"),
    ('[{"speaker": "agent", "start": 0, "end": 1}]', "'text' must be a string"),
    ('{"utterances": [{"speaker": "agent", "start": 0, "end": 9, "text": "hi"}], "duration": 3}', "ends before"),
])
def test_bad_transcripts_name_the_fault(tmp_path: Path, content: str, fragment: str):
    path = tmp_path / "t.json"
    path.write_text(content)
    with pytest.raises(TranscriptError, match=fragment):
        load_transcript(path)


def test_cli_bad_transcript_is_one_line_exit_2(tmp_path: Path):
    path = tmp_path / "broken.jsonl"
    path.write_text('{"speaker": "agent", "start": 0, "end": 1, "text": "hi"}\n{oops\n')
    r = cli("review", path, "-o", tmp_path / "out")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert "broken.jsonl:2" in r.stderr


def test_cli_reviews_a_transcript_and_its_own_review_again(tmp_path: Path):
    path = tmp_path / "call.json"
    path.write_text(json.dumps({"utterances": CALL, "duration": 30}))
    r = cli("review", path, "-o", tmp_path / "out", "--format", "json,md")
    assert r.returncode == 0, r.stderr
    review = json.loads((tmp_path / "out" / "call.review.json").read_text())
    assert review["audio"]["mode"] == "transcript"
    types = {f["type"] for f in review["findings"]}
    assert "slow_response" in types or "dead_air" in types      # 7.5 s of nobody speaking after the question
    assert "dismissive" in types
    assert all("confidence" in f for f in review["findings"]
               if f["type"] in ("empathy", "dismissive", "sympathy", "customer_distress"))
    # a review.json is a valid transcript: reviewing it again gives the same findings
    again = cli("review", tmp_path / "out" / "call.review.json", "-o", tmp_path / "again", "--format", "json")
    assert again.returncode == 0, again.stderr
    second = json.loads((tmp_path / "again" / "call.review.review.json").read_text())
    strip = lambda fs: [(f["type"], f["start"], f["end"], f.get("category")) for f in fs]  # noqa: E731
    assert strip(second["findings"]) == strip(review["findings"])
