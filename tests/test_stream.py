"""Live monitoring end to end: a real server on 127.0.0.1 (uvicorn), real WebSocket clients, real
tiny.en on the labelled sample calls. Replayed calls must produce live alerts and a final review
whose findings agree with the offline review of the same file; protocol errors must end one call
cleanly and leave the server serving; a client that hangs up early gets a partial review."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.request
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from audio_pipeline.evaluation import Tally, score
from audio_pipeline.export import review_to_dict
from audio_pipeline.pipeline import Reviewer
from audio_pipeline.stream.client import feed_recording, load_call, send_call, watch

from .conftest import SAMPLES
from .live_server import live_server

pytestmark = pytest.mark.slow
CALLS = ("demo_call.wav", "sample_crosstalk.flac")
SPEED = 4.0


@pytest.fixture(scope="module")
def server(cfg, tmp_path_factory):
    out = tmp_path_factory.mktemp("stream")
    with live_server(cfg, out) as (service, base):
        yield SimpleNamespace(service=service, base=base, out=out)


def calls_in_progress(server) -> list:
    with urllib.request.urlopen(f"http://{server.base}/v1/calls", timeout=10) as r:
        return json.loads(r.read())["calls"]


async def raw_session(url: str, *messages) -> tuple[list[dict], int | None]:
    """Send each message (str or bytes) in turn; collect the server's messages until it closes."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    got = []
    async with connect(url) as ws:
        try:
            for m in messages:
                await ws.send(m)
            while True:
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
        except ConnectionClosed:
            pass
        return got, ws.close_code


START = {"type": "start", "call_id": "bad-1", "sample_rate": 8000, "encoding": "pcm16", "channels": 2}


def test_protocol_errors_close_one_call_cleanly(server):
    url = f"ws://{server.base}/v1/calls"
    cases = [
        ((b"\x00\x00" * 160,), "audio_before_start", 1008),
        ((json.dumps({**START, "sample_rate": 44100}),), "bad_format", 1008),
        ((json.dumps({**START, "channels": 1}),), "unsupported_layout", 1008),
        (("hello",), "bad_message", 1008),
        ((json.dumps(START), bytes(server.service.opts.max_frame_bytes + 4)), "frame_too_large", 1009),
        ((json.dumps({**START, "call_id": "bad-2"}), b"\x01\x02\x03"), "bad_frame", 1008),
        ((json.dumps({**START, "call_id": "bad-3"}), json.dumps({"type": "pause"})), "unexpected_message", 1008),
    ]
    for messages, code, close in cases:
        got, close_code = asyncio.run(raw_session(url, *messages))
        errors = [m for m in got if m["type"] == "error"]
        assert [e["code"] for e in errors] == [code], got
        assert close_code == close, (code, close_code)
        if any(m["type"] == "started" for m in got):  # the call had begun: its partial review is saved
            review = [m for m in got if m["type"] == "review"]
            assert review and review[0]["complete"] is False and review[0]["reason"].startswith(code)
    assert calls_in_progress(server) == []  # nothing left behind; the server still answers


async def replay_two_calls(server) -> tuple[dict, list[dict]]:
    events: list[dict] = []
    ready = asyncio.Event()
    watcher = asyncio.create_task(watch(f"ws://{server.base}/v1/events", events.append, ready=ready))
    await asyncio.wait_for(ready.wait(), 30)
    results = await asyncio.gather(*(
        send_call(load_call(SAMPLES / name), f"ws://{server.base}/v1/calls", name.split(".")[0],
                  agent_id="A17", speed=SPEED) for name in CALLS))
    deadline = time.monotonic() + 30
    while sum(e["type"] == "call_ended" for e in events) < len(CALLS) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    watcher.cancel()
    return dict(zip(CALLS, results)), events


@pytest.fixture(scope="module")
def replayed(server):
    return asyncio.run(replay_two_calls(server))


@pytest.fixture(scope="module")
def offline(server, cfg):
    reviewer = Reviewer(cfg, transcriber=server.service.transcriber)
    return {name: review_to_dict(reviewer.review(SAMPLES / name)) for name in CALLS}


def test_two_concurrent_calls_complete(server, replayed):
    results, _ = replayed
    for name, result in results.items():
        assert result["type"] == "review" and result["complete"] is True, result
        data = json.loads((server.out / "reviews" / f"{name.split('.')[0]}.review.json").read_text())
        assert data["schema"] == "call-review/1" and data["audio"]["mode"] == "stereo"
        assert data["stream"]["complete"] is True and data["stream"]["agent_id"] == "A17"
        assert abs(data["audio"]["duration"] - result["received_seconds"]) < 0.05
    with sqlite3.connect(server.out / "reviews.sqlite") as db:
        rows = db.execute("SELECT call_id, agent_id, metadata FROM calls").fetchall()
    streamed = {r[0]: r for r in rows}
    for name in CALLS:
        call_id = name.split(".")[0]
        assert streamed[call_id][1] == "A17" and json.loads(streamed[call_id][2])["complete"] == "true"


# Phrasing findings are read from the words, and a live decode's words differ from the offline
# decode's from run to run (decode timing follows the machine's load): their agreement with the
# offline review is measured in bench/stream.py and BENCHMARKS.md (0.75-0.85 here; the bar of 0.9
# is not met yet), not gated. Turn-taking findings come from the signal and must agree.
PHRASING = {"empathy", "dismissive", "sympathy", "customer_distress", "missed_empathy"}


def findings_f1(streamed: dict, offline: dict) -> Tally:
    """Every turn-taking finding type (backchannels are not alerts; see README) matched one to one
    by span."""
    kinds = {f["type"] for f in streamed["findings"] + offline["findings"]} - {"backchannel"} - PHRASING
    tally = Tally()
    for kind in sorted(kinds):
        score(streamed["findings"], offline["findings"], kind, tally=tally, name=kind)
    return tally


def test_final_review_agrees_with_offline(server, replayed, offline):
    for name in CALLS:
        streamed = json.loads((server.out / "reviews" / f"{name.split('.')[0]}.review.json").read_text())
        tally = findings_f1(streamed, offline[name])
        assert tally.f1 >= 0.9, f"{name}: F1 {tally.f1:.2f}, misses {tally.misses}"


def test_live_alerts_carry_call_time_and_evidence(server, replayed):
    _, events = replayed
    alerts = [e for e in events if e["type"] == "alert"]
    for name in CALLS:
        call_id = name.split(".")[0]
        mine = [a for a in alerts if a["call_id"] == call_id]
        assert {e["type"] for e in events if e.get("call_id") == call_id} >= {"call_started", "alert", "call_ended"}
        for a in mine:
            assert a["agent_id"] == "A17" and a["start"] <= a["end"] + 1e-6 and a["time"] >= a["start"] - 1e-6
            assert a["kind"] and a["message"]
        final = json.loads((server.out / "reviews" / f"{call_id}.review.json").read_text())
        # every finding of the final review that is an alert type was sent, live or at hang-up
        sent = [a for a in mine if a["phase"] == "final"]
        for f in final["findings"]:
            if f["type"] in ("interruption", "dead_air", "slow_response", "empathy", "dismissive",
                             "missed_empathy", "customer_distress"):
                assert any(a["kind"] == f["type"] and a["speaker"] == f["speaker"]
                           and (min(a["end"], f["end"]) - max(a["start"], f["start"]) > -0.5
                                or abs(a["start"] - f["start"]) < 1.0) for a in sent), (name, f, sent)
        assert final["stream"]["live_alerts"] + final["stream"]["late_alerts"] == len(sent)
        started = [a for a in mine if a["kind"] == "dead_air" and a["phase"] == "started"]
        ended = [a for a in mine if a["kind"] == "dead_air" and a["phase"] == "ended"]
        assert len(started) == len(ended) >= 1, mine
        assert all(a["evidence"] for a in mine if a["kind"] in ("interruption", "slow_response", "empathy",
                                                                 "dismissive", "missed_empathy"))


def test_disconnect_mid_call_saves_partial_review(server):
    result = asyncio.run(send_call(load_call(SAMPLES / "sample_monologue.flac"), f"ws://{server.base}/v1/calls",
                                   "hangup-1", speed=SPEED, disconnect_after=20.0))
    assert result["type"] == "disconnected"
    path = server.out / "reviews" / "hangup-1.review.json"
    deadline = time.monotonic() + 120
    # the server notices the hang-up, finishes the call, writes the files and the store row
    while not path.exists() or any(c["call_id"] == "hangup-1" for c in calls_in_progress(server)):
        assert time.monotonic() < deadline, "no partial review written"
        time.sleep(0.2)
    data = json.loads(path.read_text())
    assert data["stream"]["complete"] is False and data["stream"]["reason"] == "client disconnected"
    assert 19.5 <= data["audio"]["duration"] <= 21.0
    assert data["utterances"] and all(u["end"] <= data["audio"]["duration"] + 0.05 for u in data["utterances"])
    with sqlite3.connect(server.out / "reviews.sqlite") as db:
        meta = db.execute("SELECT metadata FROM calls WHERE call_id='hangup-1'").fetchone()
    assert json.loads(meta[0])["complete"] == "false"


def test_hold_silence_and_noise_give_no_words(server):
    """A call that is all line noise and a tone-free hold: nothing decoded, nothing invented."""
    from audio_pipeline.stream.client import CallAudio

    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.003, (8000 * 30, 2))  # ≈ −50 dBFS line noise on both channels
    audio = CallAudio(np.round(noise * 32767).astype(np.int16), 8000)
    result = asyncio.run(send_call(audio, f"ws://{server.base}/v1/calls", "hold-1", speed=8.0))
    assert result["type"] == "review" and result["complete"] is True
    data = json.loads((server.out / "reviews" / "hold-1.review.json").read_text())
    assert data["utterances"] == []
    assert [f["type"] for f in data["findings"]] == ["no_speech"]


def replay_monitor(service, name: str, interval: float | None = None, step: float = 0.1):
    """A call fed to a CallMonitor in `step` s chunks with no clock, decoding whenever due (every
    `interval` s when given): the streaming policy alone. Returns (review, live alerts, summary)."""
    from audio_pipeline.stream.monitor import CallMonitor
    from audio_pipeline.stream.protocol import parse_start

    audio = load_call(SAMPLES / name)
    cfg = service.cfg
    if interval is not None:
        cfg = replace(cfg, stream=replace(cfg.stream, decode_interval=interval, decode_interval_max=interval))
    start = parse_start({"type": "start", "call_id": name.split(".")[0], "sample_rate": audio.sample_rate,
                         "encoding": "pcm16", "channels": 2})
    monitor = CallMonitor(start, cfg, service.transcriber, service.lexicon, service.embedder, service.phrasing)
    alerts = feed_recording(monitor, audio, step)
    review, _, summary = monitor.finish(True)
    return review, alerts, summary


@pytest.mark.parametrize("interval", [2.9, 4.0])
def test_decode_schedule_leaves_turn_taking_unchanged(server, offline, interval):
    """When a live decode runs depends on the machine's load; the turn-taking findings must not.
    At a decode every 2.9 s the echo path had been measured from 1 s of the customer's speech only,
    and the customer's echo on the agent channel became an agent word and a false interruption."""
    review, _, _ = replay_monitor(server.service, "sample_crosstalk.flac", interval)
    tally = findings_f1(review_to_dict(review), offline["sample_crosstalk.flac"])
    assert tally.f1 == 1.0, tally.misses


def test_turn_taking_alerts_within_two_seconds(server, offline):
    """An interruption is decidable once the interrupter has kept talking
    `turns.floor_taken_min_after` past the other's last word, a slow response once the reply
    starts. Waiting for committed words took up to 6 s (two agreeing decodes, then settling); the
    voice activity of the audio about to be decoded says who talks when at once, so the alert
    comes within 2 s of audio (processing time aside), and the words confirm it."""
    floor = server.service.cfg.turns.floor_taken_min_after
    seen = 0
    for name in CALLS:
        review, alerts, summary = replay_monitor(server.service, name, step=0.25)
        for f in offline[name]["findings"]:
            if f["type"] not in ("interruption", "slow_response"):
                continue
            moment = f["end"] + (floor if f["type"] == "interruption" else 0.0)
            sent = [a for a in alerts if a.kind == f["type"] and a.speaker == f["speaker"]
                    and min(a.end, f["end"]) + 1.0 >= max(a.start, f["start"])]
            assert sent, f"{name}: no live alert for {f}"
            assert sent[0].at - moment <= 2.0, f"{name}: {f['type']} at {f['start']:.1f} s sent {sent[0].at - moment:.1f} s late"
            seen += 1
        # early turn-taking alerts are confirmed by the words; a phrasing alert the rest of its
        # turn overturned is a measured, open cost (BENCHMARKS, live monitoring), not this test's
        undone = set(summary["retracted_kinds"]) & {"interruption", "slow_response", "dead_air"}
        assert not undone, f"{name}: a live {sorted(undone)} alert the words did not confirm"
    assert seen >= 4
