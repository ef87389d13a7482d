"""Mono calls end to end with the real models: the demo call mixed to one channel, and stereo files
whose channels carry one mix, or one silent channel."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.evaluation import score
from audio_pipeline.export import review_to_dict
from audio_pipeline.pipeline import Reviewer

from .conftest import SAMPLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def reviewer(cfg):
    return Reviewer(cfg, device="cpu")


@pytest.fixture(scope="module")
def demo():
    data, sr = sf.read(SAMPLES / "demo_call.wav", dtype="float32", always_2d=True)
    truth = json.loads((SAMPLES / "demo_call.truth.json").read_text())
    return data, sr, truth


@pytest.fixture(scope="module")
def mono_review(reviewer, demo, tmp_path_factory):
    data, sr, _ = demo
    path = tmp_path_factory.mktemp("mono") / "demo_mono.wav"
    sf.write(path, data.mean(axis=1), sr, subtype="PCM_16")
    return review_to_dict(reviewer.review(path))


def test_mono_call_is_diarized_and_roles_assigned(mono_review, demo):
    _, _, truth = demo
    r = mono_review
    assert r["audio"]["mode"] == "mono-diarized" and r["audio"]["channels"] == 1
    assert r["models"]["diarization"]
    assert set(r["roles"]["mapping"].values()) >= {"agent", "customer"}
    assert r["roles"]["confidence"] > 0.5
    first_agent = next(u for u in r["utterances"] if u["speaker"] == "agent")
    assert "calling" in first_agent["text"].lower()  # the greeting landed on the agent
    # speaker-time agreement with the truth: most agent words fall inside agent turns
    agent_turns = [(t["start"] - 0.3, t["end"] + 0.3) for t in truth["turns"] if t["speaker"] == "agent"]
    words = [w for u in r["utterances"] if u["speaker"] == "agent" for w in u["words"] if w["text"] != "…"]
    inside = sum(any(a <= (w["start"] + w["end"]) / 2 <= b for a, b in agent_turns) for w in words)
    assert inside / len(words) >= 0.9


def test_mono_call_keeps_turn_findings(mono_review, demo):
    _, _, truth = demo
    for kind in ("dead_air", "slow_response"):
        tally = score(mono_review["findings"], truth["events"], kind)
        assert tally.f1 == 1.0, (kind, tally.misses)
    found = score(mono_review["findings"], truth["events"], "interruption")
    assert found.tp >= 1, found.misses


def test_same_mix_in_both_channels_is_reviewed_as_mono(reviewer, demo, tmp_path):
    data, sr, _ = demo
    mix = data.mean(axis=1)
    sf.write(tmp_path / "dual.wav", np.stack([mix, mix], axis=1), sr, subtype="PCM_16")
    r = review_to_dict(reviewer.review(tmp_path / "dual.wav"))
    assert r["audio"]["mode"] == "mono-diarized"
    assert any(f["type"] == "audio_layout" and "same mix" in f["message"] for f in r["findings"])


def test_silent_channel_is_reported(reviewer, demo, tmp_path):
    data, sr, _ = demo
    sf.write(tmp_path / "onesided.wav", np.stack([data.mean(axis=1), np.zeros(len(data))], axis=1), sr,
             subtype="PCM_16")
    r = review_to_dict(reviewer.review(tmp_path / "onesided.wav"))
    assert any(f["type"] == "audio_layout" and "customer channel is silent" in f["message"] for f in r["findings"])
