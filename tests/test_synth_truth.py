"""The synthetic calls' ground truth agrees with their audio and with itself.

Reads the committed samples (no TTS at test time). Point SYNTH_TRUTH_DIRS at other folders
(os.pathsep-separated) to check a generated set, e.g.
    SYNTH_TRUTH_DIRS=bench/.data/calls pytest tests/test_synth_truth.py

The checks are re-implemented here from the audio (10 ms frame energies) rather than imported
from the generator, so a generator bug cannot vouch for itself; the negative controls at the end
corrupt a truth file in known ways and require every checker to notice.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.analysis import timeline

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
FRAME_S = 0.01
CH = {"agent": 0, "customer": 1}
EMPATHIC = ("empathy:", "sympathy")

# Thresholds (dB) relative to each channel's own levels; see _levels() and _own().
SPEECH_BELOW = 12.0     # stray own speech: frames louder than the channel's speech level - this
VOICED_BELOW = 25.0     # a turn's frame is voiced above speech level - this (and floor + 6)
QUIET_ABOVE = 6.0       # labelled silence: frames must stay below the noise floor + this
ECHO_MARGIN = 15.0      # crosstalk sits 25-35 dB under the other channel: own speech does not
EDGE = 0.3              # a turn must reach its channel's floor + 6 dB this close to each edge


def _truth_dirs() -> list[Path]:
    env = os.environ.get("SYNTH_TRUTH_DIRS")
    return [Path(p) for p in env.split(os.pathsep) if p] if env else [SAMPLES]


def _truth_files() -> list[Path]:
    return sorted(p for d in _truth_dirs() for p in d.glob("*.truth.json"))


@dataclass
class Call:
    truth: dict
    audio: np.ndarray          # (2, n) float
    sr: int
    db: np.ndarray             # (2, frames) frame energy in dBFS
    floor: np.ndarray          # per channel noise floor (dBFS)
    speech: np.ndarray         # per channel speech level (dBFS)
    subtype: str               # soundfile subtype, e.g. PCM_16


def load_call(truth_path: Path, truth: dict | None = None) -> Call:
    truth = truth or json.loads(truth_path.read_text(encoding="utf-8"))
    audio_path = truth_path.parent / truth["audio"]
    data, sr = sf.read(str(audio_path), dtype="float64", always_2d=True)
    audio = data.T
    db = np.stack([_frame_db(ch, sr) for ch in audio])
    floor, speech = _levels(truth, db)
    return Call(truth, audio, sr, db, floor, speech, sf.info(str(audio_path)).subtype)


def _frame_db(x: np.ndarray, sr: int) -> np.ndarray:
    n = int(sr * FRAME_S)
    m = len(x) // n
    f = x[: m * n].reshape(m, n)
    return 10 * np.log10(np.mean(f * f, axis=1) + 1e-12)


def _frames(start: float, end: float) -> slice:
    return slice(int(np.ceil(start / FRAME_S)), int(np.floor(end / FRAME_S)))


def _levels(truth: dict, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise floor = 10th percentile of a channel's frames (digital silence clamps at -90 dBFS);
    speech level = 90th percentile of the frames inside that channel's own turns."""
    floor, speech = np.zeros(2), np.zeros(2)
    for spk, c in CH.items():
        floor[c] = max(float(np.percentile(db[c], 10)), -90.0)
        inside = np.concatenate([db[c][_frames(t["start"], t["end"])] for t in truth["turns"]
                                 if t["speaker"] == spk] or [db[c][:0]])
        speech[c] = float(np.percentile(inside, 90)) if inside.size else floor[c]
    return floor, speech


def _own(call: Call, c: int, above_db: np.ndarray | float) -> np.ndarray:
    """Frames of channel c above a level that are not just the other party's echo."""
    return (call.db[c] > above_db) & (call.db[c] > call.db[1 - c] - ECHO_MARGIN)


def _main(turns: list[dict]) -> list[dict]:
    return [t for t in turns if t["kind"] != "backchannel"]


def _empathic(t: dict) -> bool:
    return any(l.startswith(EMPATHIC) for l in t["labels"])


def _silences(turns: list[dict]) -> list[tuple[float, float]]:
    u = timeline.merge((t["start"], t["end"]) for t in turns)
    return [(a[1], b[0]) for a, b in zip(u, u[1:])]


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= 0.002


# ------------------------------------------------------------------------------------ checkers

def check_format(call: Call) -> list[str]:
    t, out = call.truth, []
    if t.get("schema") != "call-truth/1":
        out.append(f"schema {t.get('schema')!r}")
    if call.audio.shape[0] != 2 or t["channels"] != {"agent": 0, "customer": 1}:
        out.append("not a stereo agent=0/customer=1 call")
    if call.sr != t["sample_rate"]:
        out.append(f"sample rate {call.sr} != truth {t['sample_rate']}")
    if abs(call.audio.shape[1] / call.sr - t["duration"]) > 0.01:
        out.append(f"duration {call.audio.shape[1] / call.sr:.3f} != truth {t['duration']}")
    if call.subtype != "PCM_16":
        out.append(f"subtype {call.subtype}")
    return out


def check_turn_energy(call: Call) -> list[str]:
    """Every turn is voiced on its own channel, from its start to its end."""
    out = []
    for t in call.truth["turns"]:
        c = CH[t["speaker"]]
        voiced = _own(call, c, max(call.speech[c] - VOICED_BELOW, call.floor[c] + QUIET_ABOVE))
        audible = _own(call, c, call.floor[c] + QUIET_ABOVE)
        span = voiced[_frames(t["start"], t["end"])]
        head = audible[_frames(t["start"], t["start"] + EDGE)]
        tail = audible[_frames(t["end"] - EDGE, t["end"])]
        min_share = 0.3 if t["kind"] == "backchannel" else 0.35
        if span.size == 0 or span.mean() < min_share:
            out.append(f"{t['speaker']} turn at {t['start']} is mostly silent on its channel")
        elif not head.any() or not tail.any():
            out.append(f"{t['speaker']} turn at {t['start']}-{t['end']}: edges not on speech")
    return out


def check_no_speech_outside_turns(call: Call) -> list[str]:
    """Loud own-channel energy only inside that channel's turns (crosstalk/noise stay below)."""
    out = []
    for spk, c in CH.items():
        covered = np.zeros(call.db.shape[1], bool)
        for t in call.truth["turns"]:
            if t["speaker"] == spk:
                covered[_frames(t["start"] - 0.05, t["end"] + 0.05)] = True
        stray = np.flatnonzero(_own(call, c, call.speech[c] - SPEECH_BELOW) & ~covered)
        if stray.size >= 3:
            out.append(f"{spk} speech outside its turns near {stray[0] * FRAME_S:.2f} s")
    return out


def check_silences_quiet(call: Call) -> list[str]:
    """Dead air and slow-response gaps hold nothing but the noise floor, on both channels."""
    out = []
    for e in call.truth["events"]:
        if e["type"] not in ("dead_air", "slow_response"):
            continue
        for c in (0, 1):
            frames = call.db[c][_frames(e["start"] + 0.05, e["end"] - 0.05)]
            if frames.size and frames.max() > call.floor[c] + QUIET_ABOVE:
                out.append(f"{e['type']} at {e['start']}: channel {c} is not silent")
    return out


def check_interruptions(call: Call) -> list[str]:
    out = []
    turns = _main(call.truth["turns"])
    for e in (e for e in call.truth["events"] if e["type"] == "interruption"):
        by = [t for t in turns if t["speaker"] == e["speaker"] and _same(t["start"], e["start"])
              and t["kind"] == "interruption"]
        cut = [t for t in turns if t["speaker"] != e["speaker"] and t["kind"] == "interrupted"
               and t["start"] < e["start"] and _same(t["end"], e["end"])]
        if not by or not cut:
            out.append(f"interruption at {e['start']} does not match its two turns")
            continue
        if e["end"] - e["start"] < 0.5:
            out.append(f"interruption at {e['start']}: overlap {e['end'] - e['start']:.2f} s")
        if by[0]["end"] - by[0]["start"] < 2.0 or by[0]["end"] - e["end"] < 0.5:
            out.append(f"interrupter at {e['start']} does not take the floor")
        for c in (0, 1):   # both parties audibly talking during the overlap
            seg = call.db[c][_frames(e["start"], e["end"])]
            if seg.size == 0 or (seg > call.speech[c] - VOICED_BELOW).mean() < 0.3:
                out.append(f"interruption at {e['start']}: channel {c} quiet in the overlap")
    return out


def check_backchannels(call: Call) -> list[str]:
    out = []
    turns = call.truth["turns"]
    bcs = [t for t in turns if t["kind"] == "backchannel"]
    events = [e for e in call.truth["events"] if e["type"] == "backchannel"]
    if len(bcs) != len(events):
        out.append("backchannel turns and events differ in number")
    for e in events:
        if not any(_same(t["start"], e["start"]) and _same(t["end"], e["end"])
                   and t["speaker"] == e["speaker"] for t in bcs):
            out.append(f"backchannel event at {e['start']} has no backchannel turn")
        if e["end"] - e["start"] > 1.5:
            out.append(f"backchannel at {e['start']} longer than 1.5 s")
        if not any(t["speaker"] != e["speaker"] and t["start"] < e["start"]
                   and t["end"] - e["end"] >= 1.0 for t in _main(turns)):
            out.append(f"backchannel at {e['start']} is not inside the other party's turn")
    return out


def check_gaps(call: Call) -> list[str]:
    """dead_air / slow_response events sit exactly on silences, and every long silence is one."""
    out = []
    turns, events = call.truth["turns"], call.truth["events"]
    dead = [e for e in events if e["type"] == "dead_air"]
    slow = [e for e in events if e["type"] == "slow_response"]
    for s, e in _silences(turns):
        labelled = [x for x in dead + slow if _same(x["start"], s) and _same(x["end"], e)]
        if e - s >= 5.0 and not any(x["type"] == "dead_air" for x in labelled):
            out.append(f"{e - s:.1f} s silence at {s} is not a dead_air event")
        if 2.0 <= e - s < 5.0 and not labelled:
            out.append(f"{e - s:.1f} s silence at {s} is neither normal nor labelled")
    silences = _silences(turns)
    for x in dead + slow:
        if not any(_same(x["start"], s) and _same(x["end"], e) for s, e in silences):
            out.append(f"{x['type']} at {x['start']} is not a silence between turns")
    for x in dead:
        before = [t for t in _main(turns) if t["end"] <= x["start"] + 0.002]
        last = max(before, key=lambda t: t["end"]) if before else None
        hold = bool(last and last["speaker"] == "agent" and "hold_announcement" in last["labels"])
        if x["end"] - x["start"] < 5.0 or hold != x["announced"]:
            out.append(f"dead_air at {x['start']}: too short or wrong announced flag")
    for x in slow:
        after = [t for t in _main(turns) if _same(t["start"], x["end"])]
        before = [t for t in _main(turns) if _same(t["end"], x["start"])]
        if not (after and before and after[0]["speaker"] == "agent"
                and before[0]["speaker"] == "customer" and 2.5 <= x["end"] - x["start"] < 5.0):
            out.append(f"slow_response at {x['start']} is not a 2.5-5 s customer->agent gap")
    return out


def check_overlaps_labelled(call: Call) -> list[str]:
    """Every overlap of the parties' main turns >= 0.5 s is a labelled interruption."""
    out = []
    ints = [e for e in call.truth["events"] if e["type"] == "interruption"]
    main = _main(call.truth["turns"])
    for a in (t for t in main if t["speaker"] == "agent"):
        for b in (t for t in main if t["speaker"] == "customer"):
            ov = min(a["end"], b["end"]) - max(a["start"], b["start"])
            if ov >= 0.5 and not any(max(a["start"], b["start"]) - 0.002 <= e["start"]
                                     and e["end"] <= min(a["end"], b["end"]) + 0.002
                                     for e in ints):
                out.append(f"unlabelled {ov:.2f} s overlap at {max(a['start'], b['start'])}")
    return out


def check_monologues(call: Call) -> list[str]:
    out = []
    agent = sorted((t["start"], t["end"]) for t in call.truth["turns"] if t["speaker"] == "agent")
    stretches: list[list[float]] = []
    for s, e in agent:
        if stretches and s - stretches[-1][1] < 1.5:
            stretches[-1][1] = max(stretches[-1][1], e)
        else:
            stretches.append([s, e])
    mono = [e for e in call.truth["events"] if e["type"] == "long_monologue"]
    for s, e in stretches:
        labelled = any(_same(m["start"], s) and _same(m["end"], e) for m in mono)
        if e - s >= 30.0 and not labelled:
            out.append(f"{e - s:.1f} s agent stretch at {s} is not a long_monologue event")
        if labelled and e - s < 30.0:
            out.append(f"long_monologue at {s} is only {e - s:.1f} s")
    if len(mono) != sum(e - s >= 30.0 for s, e in stretches):
        out.append("long_monologue events do not match the agent's speech")
    return out


def check_missed_empathy(call: Call) -> list[str]:
    out = []
    turns = call.truth["turns"]
    missed = [e for e in call.truth["events"] if e["type"] == "missed_empathy"]
    expected = []
    for d in (t for t in turns if "distress" in t["labels"]):
        replies = [t for t in _main(turns) if t["speaker"] == "agent"
                   and d["start"] < t["start"] <= d["end"] + 15.0]
        if not replies:
            out.append(f"distress at {d['start']} gets no agent reply within 15 s")
        elif not any(_empathic(t) for t in replies):
            expected.append((replies[0]["start"], replies[0]["end"]))
    got = sorted((e["start"], e["end"]) for e in missed)
    if len(got) != len(expected) or not all(_same(a[0], b[0]) and _same(a[1], b[1])
                                            for a, b in zip(got, sorted(expected))):
        out.append(f"missed_empathy events {got} != expected {sorted(expected)}")
    return out


CHECKS = (check_format, check_turn_energy, check_no_speech_outside_turns, check_silences_quiet,
          check_interruptions, check_backchannels, check_gaps, check_overlaps_labelled,
          check_monologues, check_missed_empathy)


# --------------------------------------------------------------------------------------- tests

@pytest.fixture(scope="module", params=_truth_files(), ids=lambda p: p.name.split(".")[0])
def call(request) -> tuple[Path, Call]:
    return request.param, load_call(request.param)


def test_there_are_calls_to_check():
    assert _truth_files(), f"no *.truth.json in {_truth_dirs()}"


@pytest.mark.parametrize("check", CHECKS, ids=lambda f: f.__name__)
def test_truth_matches_audio(call, check):
    _, c = call
    assert check(c) == []


def test_generator_rules_hold(call):
    """The generator's own (stricter) unambiguity rules, re-run on the stored truth."""
    synth = _import_script("synth_calls")
    assert synth.check_truth(call[1].truth) == []


def test_turn_schema(call):
    kinds = {"turn", "backchannel", "interruption", "interrupted"}
    labels = {"empathy:acknowledgement", "empathy:validation", "empathy:apology",
              "empathy:reassurance", "empathy:recap", "empathy:exploration",
              "empathy:follow_up", "dismissive", "sympathy", "distress", "hold_announcement"}
    t = call[1].truth
    assert t["turns"][0]["speaker"] == "agent" and "my name is" in t["turns"][0]["text"].lower()
    for turn in t["turns"]:
        assert turn["kind"] in kinds and set(turn["labels"]) <= labels and turn["text"]
    starts = [turn["start"] for turn in t["turns"]]
    assert starts == sorted(starts)


# ------------------------------------------------------------------------- committed samples

def _sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.truth.json").read_text(encoding="utf-8"))


def test_demo_call_covers_every_finding():
    t = _sample("demo_call")
    info = sf.info(str(SAMPLES / t["audio"]))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (8000, 2, "PCM_16", "WAV")
    assert 55 <= info.duration <= 75
    assert t["conditions"]["agent_voice"] == "piper:joe"
    events = {(e["type"], e.get("speaker")) for e in t["events"]}
    for needed in [("interruption", "agent"), ("interruption", "customer"), ("slow_response",
                   "agent"), ("missed_empathy", "agent")]:
        assert needed in events, needed
    assert any(e["type"] == "backchannel" for e in t["events"])
    assert any(e["type"] == "dead_air" and e["announced"] for e in t["events"])
    labels = [l for turn in t["turns"] for l in turn["labels"]]
    assert any(l.startswith("empathy:") for l in labels)
    assert "dismissive" in labels and "distress" in labels


def test_other_samples():
    mono, cross = _sample("sample_monologue"), _sample("sample_crosstalk")
    assert any(e["type"] == "long_monologue" for e in mono["events"])
    assert any(turn["kind"] == "backchannel" and turn["speaker"] == "customer"
               and any(e["type"] == "long_monologue" and e["start"] < turn["start"] < e["end"]
                       for e in mono["events"]) for turn in mono["turns"])
    assert cross["conditions"]["crosstalk_db"] is not None
    assert cross["conditions"]["noise"] != "none"


def test_samples_stay_small():
    total = sum(p.stat().st_size for p in SAMPLES.iterdir() if p.is_file())
    assert total <= 3_000_000, f"samples/ is {total} bytes"
    readme = (SAMPLES / "README.md").read_text(encoding="utf-8")
    assert "scripts/synth_calls.py" in readme and "call-truth/1" in readme


def test_scripts_lint_clean():
    """Every scripted conversation labels what it says (no TTS needed)."""
    scripts = _import_script("call_scripts")
    problems = [p for s in scripts.ALL_SCRIPTS for p in scripts.lint_script(s)]
    assert problems == []
    assert len(scripts.BENCH_SCRIPTS) >= 12
    assert len({s.topic for s in scripts.BENCH_SCRIPTS}) == len(scripts.BENCH_SCRIPTS)


def test_lint_catches_unlabelled_empathy():
    scripts = _import_script("call_scripts")
    bad = scripts.CallScript("bad", "t", "Acme", (
        scripts.A(scripts.GREETING),
        scripts.C("My order never came and I need it for the weekend, please help me."),
        scripts.A("I'm so sorry about that, I can send another one out today for you."),
    ))
    assert any("not labelled empathy:apology" in p for p in scripts.lint_script(bad))


def _import_script(name: str):
    path = ROOT / "scripts" / f"{name}.py"
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -------------------------------------------------------------------------- negative controls
# Each corruption must be caught, or the checks above could be passing vacuously.

def _corrupt(truth: dict, how: str) -> dict:
    t = copy.deepcopy(truth)
    turns, events = t["turns"], t["events"]
    main = _main(turns)
    if how == "shift_turn_into_silence":
        dead = next(e for e in events if e["type"] == "dead_air")
        turn = next(x for x in main if _same(x["end"], dead["start"]))
        turn["start"], turn["end"] = dead["start"] + 1.0, dead["start"] + 3.0
    elif how == "drop_turn":
        turns.remove(next(x for x in main if x["kind"] == "turn" and x is not turns[0]))
    elif how == "dead_air_over_speech":
        dead = next(e for e in events if e["type"] == "dead_air")
        dead["start"], dead["end"] = turns[0]["start"], turns[0]["start"] + 7.0
    elif how == "short_interruption":
        e = next(e for e in events if e["type"] == "interruption")
        cut = next(x for x in turns if x["kind"] == "interrupted" and _same(x["end"], e["end"]))
        e["end"] = cut["end"] = e["start"] + 0.3
    elif how == "forget_missed_empathy":
        events.remove(next(e for e in events if e["type"] == "missed_empathy"))
    elif how == "late_turn_start":
        turn = next(x for x in main if x["speaker"] == "customer" and x["kind"] == "turn")
        turn["start"] = round(turn["start"] - 1.5, 3)
    elif how == "turn_end_too_late":
        dead = next(e for e in events if e["type"] == "dead_air")
        next(x for x in main if _same(x["end"], dead["start"]))["end"] += 0.6
        dead["start"] += 0.6
    elif how == "wrong_duration":
        t["duration"] += 0.5
    elif how == "slow_response_unlabelled":
        events.remove(next(e for e in events if e["type"] == "slow_response"))
    elif how == "empathy_added_to_missed_reply":
        e = next(e for e in events if e["type"] == "missed_empathy")
        next(x for x in main if _same(x["start"], e["start"]))["labels"].append("empathy:apology")
    return t


@pytest.mark.parametrize("how", ["shift_turn_into_silence", "drop_turn", "dead_air_over_speech",
                                 "short_interruption", "forget_missed_empathy", "late_turn_start",
                                 "turn_end_too_late",
                                 "wrong_duration", "slow_response_unlabelled",
                                 "empathy_added_to_missed_reply"])
def test_checks_catch_corruption(how):
    path = SAMPLES / "demo_call.truth.json"
    good = load_call(path)
    assert [p for check in CHECKS for p in check(good)] == []
    bad = load_call(path, _corrupt(good.truth, how))
    assert [p for check in CHECKS for p in check(bad)], f"{how} went unnoticed"
