"""Live monitoring, pure parts: the start message, audio frames, μ-law, local agreement, the
embedding memo, and the stream CLI's exit codes (no model, no server)."""
from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audio_pipeline.stream.agreement import after, agreed_prefix, pause_after
from audio_pipeline.analysis.embedder import CachedEmbedder
from audio_pipeline.stream.protocol import (ProtocolError, decode_frame, encode_mulaw, parse_json, parse_start)
from audio_pipeline.types import Word

from .conftest import ROOT

GOOD = {"type": "start", "call_id": "c-1", "agent_id": "A17", "sample_rate": 8000, "encoding": "pcm16",
        "channels": 2}


def code_of(fn, *args) -> str:
    with pytest.raises(ProtocolError) as info:
        fn(*args)
    return info.value.code


def test_start_message_defaults_and_layout():
    start = parse_start(GOOD)
    assert (start.call_id, start.sample_rate, start.channels, start.layout) == ("c-1", 8000, 2, ("agent", "customer"))
    swapped = parse_start({**GOOD, "layout": ["customer", "agent"], "encoding": "mulaw", "sample_rate": 16000})
    assert swapped.layout == ("customer", "agent") and swapped.frame_bytes == 2
    assert parse_start({**GOOD, "channels": 1}).layout == ("mix",)


@pytest.mark.parametrize("change, code", [
    ({"type": "audio"}, "expected_start"),
    ({"call_id": ""}, "bad_start"),
    ({"call_id": "../etc/passwd"}, "bad_start"),
    ({"agent_id": 17}, "bad_start"),
    ({"sample_rate": 44100}, "bad_format"),
    ({"sample_rate": True}, "bad_format"),
    ({"encoding": "opus"}, "bad_format"),
    ({"channels": 3}, "bad_format"),
    ({"layout": ["agent", "agent"]}, "bad_format"),
])
def test_bad_start_messages(change, code):
    assert code_of(parse_start, {**GOOD, **change}) == code


def test_bad_json():
    assert code_of(parse_json, "{not json") == "bad_message"
    assert code_of(parse_json, "[1, 2]") == "bad_message"
    assert parse_json('{"type": "end"}')["type"] == "end"


def test_pcm16_frames_deinterleave():
    start = parse_start(GOOD)
    pcm = np.array([[1000, -2000], [3000, -4000]], dtype="<i2")
    x = decode_frame(pcm.tobytes(), start, 1024)
    assert x.shape == (2, 2)
    assert np.allclose(x[:, 0] * 32768, [1000, 3000]) and np.allclose(x[:, 1] * 32768, [-2000, -4000])
    assert code_of(decode_frame, pcm.tobytes()[:-1], start, 1024) == "bad_frame"   # half a sample
    assert code_of(decode_frame, pcm.tobytes()[:2], start, 1024) == "bad_frame"    # one channel of a frame
    assert code_of(decode_frame, b"", start, 1024) == "bad_frame"
    assert code_of(decode_frame, bytes(2048), start, 1024) == "frame_too_large"


def test_mulaw_round_trip():
    t = np.linspace(0, 1, 8000, dtype=np.float32)
    x = 0.5 * np.sin(2 * np.pi * 440 * t)
    start = parse_start({**GOOD, "encoding": "mulaw", "channels": 1})
    y = decode_frame(encode_mulaw(x), start, 1 << 20)[:, 0]
    # G.711 keeps ~38 dB SNR on a loud tone; silence decodes to exactly zero
    snr = 10 * np.log10(np.sum(x ** 2) / np.sum((x - y) ** 2))
    assert snr > 30
    assert decode_frame(encode_mulaw(np.zeros(4)), start, 64).tolist() == [[0.0]] * 4


def w(text: str, start: float) -> Word:
    return Word(start, start + 0.3, text)


def test_local_agreement():
    before = [w("I", 0), w("can", 0.4), w("help", 0.8)]
    now = [w("I", 0.02), w("can", 0.41), w("help,", 0.8), w("you", 1.2)]
    agreed = agreed_prefix(before, now)
    assert [x.text for x in agreed] == ["I", "can", "help,"]
    assert agreed[0].start == 0.02                    # the newer decode's timing is kept
    assert agreed_prefix(before, [w("Hi", 0)] + now[1:]) == []
    assert agreed_prefix([], now) == []
    assert [x.text for x in after(now, 0.5)] == ["can", "help,", "you"]  # by the word's middle


def test_buffer_is_cut_only_in_a_pause_after_committed_words():
    w = lambda a, b, t: Word(a, b, t)  # noqa: E731
    committed = [w(0.0, 0.4, "I"), w(0.4, 0.8, "see"), w(1.1, 1.5, "that"), w(1.55, 1.9, "the")]
    following = [w(2.3, 2.7, "parcel")]
    assert pause_after(committed, following, 0.12) == pytest.approx(2.1)    # the last pause after a committed word
    assert pause_after(committed[:3], [w(1.52, 1.9, "the")], 0.12) == pytest.approx(0.95)  # "that the" runs on
    assert pause_after(committed[:2], [], 0.12) is None                      # nothing after: a word may be starting
    assert pause_after([], following, 0.12) is None


def test_embedding_memo_encodes_each_sentence_once():
    calls = []

    class Inner:
        name = "fake"

        def encode(self, texts):
            calls.append(list(texts))
            return np.array([[len(t), 1.0] for t in texts], dtype=np.float32)

    memo = CachedEmbedder(Inner(), size=3)
    first = memo.encode(["a", "bb", "a"])
    assert calls == [["a", "bb"]] and first[:, 0].tolist() == [1, 2, 1]
    memo.encode(["bb", "ccc"])
    assert calls[-1] == ["ccc"]
    memo.encode(["dddd", "eeeee"])                      # evicts the least recently used
    memo.encode(["a"])
    assert calls[-1] == ["a"] and memo.name == "fake"
    assert len(memo._memo) == 3                        # bounded; bench/stream_memory.py reports it


def cli(*args):
    return subprocess.run([sys.executable, "-m", "audio_pipeline", "stream", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def one_line(result, code, fragment):
    assert result.returncode == code, result.stderr
    lines = [l for l in result.stderr.strip().splitlines() if l.strip()]
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_cli_send_errors(tmp_path):
    one_line(cli("send", tmp_path / "nope.wav"), 2, "no such file")
    mono = tmp_path / "mono.wav"
    sf.write(mono, np.zeros(8000, dtype=np.float32), 8000)
    one_line(cli("send", mono), 2, "stereo")
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.zeros((8000, 2), dtype=np.float32), 8000)
    one_line(cli("send", stereo, "--speed", "0"), 2, "--speed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    one_line(cli("send", stereo, "--url", f"ws://127.0.0.1:{port}/v1/calls"), 1, "cannot connect")
    one_line(cli("watch", "--url", f"ws://127.0.0.1:{port}/v1/events"), 1, "cannot connect")


def test_stream_settings_are_checked_but_not_part_of_the_review_fingerprint(cfg):
    from audio_pipeline.config import ConfigError, load_config

    assert load_config(overrides={"stream.decode_interval": 2.0}).fingerprint() == cfg.fingerprint()
    with pytest.raises(ConfigError):
        load_config(overrides={"stream.decode_intervall": 2.0})
    with pytest.raises(ConfigError, match="hold_open"):  # a held region must never fill the buffer
        load_config(overrides={"stream.hold_open": 12.0})


def test_context_keeps_the_latest_worded_speech_only():
    """Trimmed audio leaves its worded stretches as the next decode's context: silence and the
    other party's time are left out, stretches are kept apart by a short pause, oldest first out."""
    from audio_pipeline.stream.monitor import CONTEXT_GAP, SR, _speech_context

    audio = np.arange(10 * SR, dtype=np.float32)            # call time 5-15 s; value = sample index
    words = [(6.0, 6.4), (6.5, 7.0), (11.0, 11.5)]          # two stretches: 6.0-7.0 (joined) and 11.0-11.5
    ctx = _speech_context(np.zeros(0, dtype=np.float32), audio, 5.0, words, 3.0)
    first, second = (1.0 - 0.1) * SR, (6.0 - 0.1) * SR     # 0.1 s margin each side
    assert len(ctx) == int(1.2 * SR) + int(CONTEXT_GAP * SR) + int(0.7 * SR)
    assert ctx[0] == first and ctx[-1] == second + 0.7 * SR - 1
    older = _speech_context(ctx, audio, 5.0, [(13.0, 14.5)], 2.0)  # past the limit: the oldest goes
    assert len(older) == 2 * SR and older[-1] == (9.6 - 0.0) * SR - 1


def test_context_words_are_heard_but_not_kept():
    """A pass holds each part after its context; words heard in the context belong to no part."""
    from audio_pipeline.stream.monitor import SR, Part, transcribe_parts
    from audio_pipeline.transcribe import AsrSegment

    class Echoing:  # pure stand-in: one word per second of the audio it is given, at that second
        def transcribe(self, samples, sample_rate, own_speech=None, regions=None, recover=True, context=(), loops=True):
            self.seen, self.recover, self.context = len(samples) / sample_rate, recover, list(context)
            words = tuple(Word(t + 0.1, t + 0.5, f"w{t}", 0.9) for t in range(int(self.seen)))
            return [AsrSegment(words[0].start, words[-1].end, "", words)]

    fake = Echoing()
    part = Part(np.zeros(2 * SR, np.float32), np.ones(200, bool), np.zeros(3 * SR, np.float32))
    out = transcribe_parts(fake, [part])
    assert fake.seen == 3 + 0.2 + 2 + 1          # context, its pause, the part, the closing gap
    assert fake.context == [(0, 3 * SR)]          # told which speech is context: never decoded again
    # w0-w2 were heard in the context; w3 (its middle 0.1 s into the part) and w4 are the part's,
    # in the part's own time
    assert [w.text for w in out[0][0].words] == ["w3", "w4"]
    assert out[0][0].words[1].start == pytest.approx(0.9)
    assert fake.recover                           # a part of a call that keeps up is worth recovering
    behind = Part(np.zeros(2 * SR, np.float32), np.ones(200, bool), recover=False)
    transcribe_parts(fake, [behind, behind])
    assert not fake.recover                       # a pass of calls that are all behind skips the extra passes
    transcribe_parts(fake, [behind, part])
    assert fake.recover


@pytest.mark.parametrize("name", ["demo_call.wav", "sample_crosstalk.flac"])
def test_live_own_speech_measured_once_a_second_agrees_with_every_tick(name, monkeypatch):
    """The live own-speech mask re-measures thresholds and echo paths once a second and applies
    them to the frames in between: on the sample calls it must agree with measuring at every
    0.25 s tick (as the offline guards would on that window) on ≥ 99 % of frames, per party."""
    import threading

    import soxr

    from audio_pipeline.stream import monitor

    x, rate = sf.read(ROOT / "samples" / name, dtype="float32", always_2d=True)
    x = soxr.resample(x, rate, monitor.SR) if rate != monitor.SR else x
    masks = {}
    for every in (1, monitor.REMEASURE):
        monkeypatch.setattr(monitor, "REMEASURE", every)
        energy = monitor.Energy(120.0, threading.Lock())
        for i in range(0, len(x), monitor.SR // 4):
            energy.add({"agent": x[i:i + monitor.SR // 4, 0], "customer": x[i:i + monitor.SR // 4, 1]}, 10.0)
        masks[every] = {r: energy.full_mask(r) for r in monitor.ROLES}
    for r in monitor.ROLES:
        tick, second = masks[1][r], masks[monitor.REMEASURE][r]
        assert second.sum() > 500 and (tick == second).mean() >= 0.99, r


def test_second_pass_keeps_at_most_revise_max_of_committed_audio():
    """Committed audio waits for the second pass in one contiguous stretch; past `revise_max` the
    oldest leaves (its first-pass words stand), however long the call."""
    import threading

    from audio_pipeline.stream.monitor import SR, Track

    track = Track("customer", threading.Lock(), revise_max=2.5)
    for second in range(6):
        track.append(np.full(SR, second, dtype=np.float32))
        track.trim(second + 1.0)
    start, audio = track.unrevised
    assert start == pytest.approx(3.5) and len(audio) == int(2.5 * SR)
    assert audio[0] == 3 and audio[-1] == 5            # the newest 2.5 s, in call time order
    off = Track("customer", threading.Lock())
    off.append(np.ones(SR, dtype=np.float32))
    off.trim(1.0)
    assert len(off.unrevised[1]) == 0                 # no second pass: nothing kept


def test_second_pass_words_replace_the_first_pass_only_in_their_span():
    import threading

    from audio_pipeline.stream.monitor import SR, Track
    from audio_pipeline.transcribe import AsrSegment

    def seg(*words):
        ws = tuple(Word(a, b, t, 0.9) for a, b, t in words)
        return AsrSegment(ws[0].start, ws[-1].end, " ".join(w.text for w in ws), ws)

    track = Track("customer", threading.Lock(), revise_max=30.0)
    track.append(np.zeros(8 * SR, dtype=np.float32))
    for first_pass in (seg((0.5, 0.9, "before"), (2.2, 2.6, "cat")), seg((3.0, 3.4, "sad"), (6.5, 7.0, "after"))):
        track.commit([first_pass], list(first_pass.words))
    track.trim(8.0)
    track.revised(2.0, 5.0, [seg((2.1, 2.6, "can't"), (3.0, 3.5, "said"), (5.2, 5.6, "outside"))], 3.0)
    assert [w.text for p in track.pieces for w in p.words] == ["before", "can't", "said", "after"]
    assert track.unrevised[0] == pytest.approx(5.0) and len(track.unrevised[1]) == 3 * SR
    assert len(track.revise_context) > 0             # the revised speech is heard before the next stretch


def test_alerts_the_second_pass_no_longer_supports_are_withdrawn():
    """After a second pass rewrote call times 35-55 s, an alert there that the rules no longer find
    is sent again as withdrawn; one they still find, and one outside the rewritten span, stand."""
    from audio_pipeline.stream.monitor import Alert, CallMonitor
    from audio_pipeline.types import Finding

    def finding(kind, start, end, category=None):
        return Finding(kind, "agent", start, end, "warning", kind, "words", category=category)

    gone, kept, later = finding("dismissive", 40.0, 42.0), finding("empathy", 45.0, 47.0, "validation"), \
        finding("dismissive", 70.0, 72.0)
    monitor = CallMonitor.__new__(CallMonitor)  # pure state: no models needed for this step
    monitor._emitted = [Alert.of(f, f.end + 1.0) for f in (gone, kept, later)]
    monitor._withdrawn, monitor._revised_span = [], (35.0, 55.0)
    out = monitor._withdraw([kept, later], window=0.0, at=80.0)
    assert [(a.kind, a.start, a.phase, a.at) for a in out] == [("dismissive", 40.0, "withdrawn", 80.0)]
    assert [a.start for a in monitor._emitted] == [45.0, 70.0] and monitor._revised_span is None
    assert monitor._withdraw([], window=0.0, at=81.0) == []   # nothing rewritten since: nothing withdrawn


def test_a_live_job_holds_one_second_pass_stretch_the_oldest():
    """Both parties are due a second pass: live, one job takes the older stretch only (both made a
    pass of two encoder windows); at hang-up, everything left is taken."""
    import threading
    from dataclasses import replace

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.monitor import SR, CallMonitor, Track
    from audio_pipeline.transcribe import AsrSegment

    cfg = load_config()
    monitor = CallMonitor.__new__(CallMonitor)  # pure state: VAD off, so no model is needed
    monitor.cfg = replace(cfg, asr=replace(cfg.asr, vad_filter=False))
    monitor.opts = cfg.stream
    monitor.tracks = {}
    for role, start in (("agent", 10.0), ("customer", 5.0)):
        track = Track(role, threading.Lock(), revise_max=60.0)
        words = tuple(Word(start + i, start + i + 0.9, "word", 0.9) for i in range(18))
        track.commit([AsrSegment(words[0].start, words[-1].end, "", words)], list(words))
        track.unrevised = (start, np.zeros(20 * SR, np.float32))
        monitor.tracks[role] = track
    masks = {r: np.ones(4000, bool) for r in ("agent", "customer")}
    live = monitor._revisions(0.0, masks, False)
    assert [(r.role, r.start) for r, _ in live] == [("customer", 5.0)]
    assert {r.role for r, _ in monitor._revisions(0.0, masks, True)} == {"agent", "customer"}


def test_second_pass_stretches_hold_at_most_a_window_of_speech_and_never_split_a_region():
    from audio_pipeline.stream.monitor import HOP, _stretches

    regions = [(0, 1000 * HOP), (1200 * HOP, 2000 * HOP), (2600 * HOP, 3000 * HOP)]
    spans = _stretches(regions, 3100 * HOP, 1000 * HOP)
    assert [(x // HOP, y // HOP) for x, y, _ in spans] == [(0, 1100), (1100, 2300), (2300, 3100)]
    assert [len(t) for _, _, t in spans] == [1, 1, 1]
    whole = _stretches(regions, 3100 * HOP, 10_000 * HOP)
    assert [(x // HOP, y // HOP, len(t)) for x, y, t in whole] == [(0, 3100, 3)]
    assert _stretches([], 500 * HOP, 100) == [(0, 500 * HOP, [])]


def test_a_phrasing_alert_on_one_partys_line_does_not_wait_for_the_others_open_turn():
    """The customer's distressed line ended at 20 s; the customer's words are settled to 22 s, the
    agent, replying at 20.3 s and still talking, only to 20.5 s. Distress is decided (what the agent
    says next does not change it); an empathy finding on the agent's reply is not yet, and neither is
    a turn-taking finding, which needs both parties settled past it."""
    import threading

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.monitor import CallMonitor, Track
    from audio_pipeline.types import Finding

    monitor = CallMonitor.__new__(CallMonitor)  # pure state: no models needed for this step
    monitor.cfg = load_config()
    monitor.opts = monitor.cfg.stream
    monitor.tracks = {r: Track(r, threading.Lock()) for r in ("agent", "customer")}
    monitor.tracks["customer"].settled, monitor.tracks["agent"].settled = 22.0, 20.5
    distress = Finding("customer_distress", "customer", 15.0, 20.0, "warning", "worry", "words")
    reply = Finding("empathy", "agent", 20.3, 21.0, "info", "empathy", "words", category="acknowledgement")
    cut_in = Finding("interruption", "agent", 19.8, 20.3, "warning", "interruption", "words")
    frontier = min(t.settled for t in monitor.tracks.values())
    assert monitor._ready(distress, frontier)
    assert not monitor._ready(reply, frontier)
    assert not monitor._ready(cut_in, frontier)
    monitor.tracks["agent"].settled = 19.0             # the agent's words before the line's end not yet in
    assert not monitor._ready(distress, min(t.settled for t in monitor.tracks.values()))


def test_the_other_partys_voice_in_an_open_region_does_not_hold_the_channel_unsettled():
    """An open VAD region on the agent's channel from 15 s: the customer's voice bleeding in opens it
    as readily as the agent's own. Until the agent's own voice shows, nothing before the buffer's
    end (less speech too fresh to show) can still get words; once it shows, words can start up to
    Whisper's pad before it."""
    from audio_pipeline.stream.monitor import _UNHEARD_ONSET, _own_onset
    from audio_pipeline.transcribe import FRAME, OWN_PAD

    first, end = 10.0, 20.0
    mask = np.zeros(int(round((end - first) / FRAME)), dtype=bool)
    mask[int(round(2.0 / FRAME)):int(round(3.0 / FRAME))] = True     # 12-13 s: the agent, before the region
    assert _own_onset(mask, first, 15.0, end) == pytest.approx(end - _UNHEARD_ONSET)
    mask[int(round(8.0 / FRAME)):] = True                            # 18 s on: the agent talks
    assert _own_onset(mask, first, 15.0, end) == pytest.approx(18.0 - OWN_PAD)
    assert _own_onset(mask, first, 17.9, end) == pytest.approx(17.9)  # never before the region itself
    mask[int(round(6.0 / FRAME)):int(round(6.02 / FRAME))] = True    # a 20 ms peak of bleed at 16 s is no onset
    assert _own_onset(mask, first, 15.0, end) == pytest.approx(18.0 - OWN_PAD)
    mask[:] = False
    mask[-5:] = True                                                 # 50 ms at the very end: maybe a word starting
    assert _own_onset(mask, first, 15.0, end) == pytest.approx(end - 0.05 - OWN_PAD)


def test_words_are_committed_once_the_party_has_stopped_though_the_region_stays_open():
    """The customer talked 1-8 s; the agent's reply, bleeding in, holds the VAD region open. Two
    decodes of a hard voice never agree; once the customer has been quiet `stream.voice_done`, the
    latest decode's words are committed (no waiting for the region to close) and their audio leaves
    the buffer. While the customer may still be talking, they wait for agreement."""
    import threading

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.monitor import SR, CallMonitor, StreamStats, Track
    from audio_pipeline.transcribe import FRAME, AsrSegment

    def monitor_at(end: float, voice_until: float):
        m = CallMonitor.__new__(CallMonitor)  # pure state: the commit step, models not needed
        m.cfg = load_config()
        m.opts, m.stats = m.cfg.stream, StreamStats()
        m._to_call_time = lambda segments, start, energy, mask, first: list(segments)
        track = Track("customer", threading.Lock())
        track.audio = (0.0, np.zeros(int(end * SR), np.float32))
        track.hypothesis = [Word(1.0, 1.5, "high", 0.5), Word(1.6, 2.0, "my", 0.5)]
        mask = np.zeros(int(end / FRAME), bool)
        mask[int(1.0 / FRAME):int(voice_until / FRAME)] = True
        words = (Word(1.0, 1.4, "Hi,", 0.6), Word(1.5, 1.9, "I'm", 0.6), Word(5.0, 5.5, "so", 0.6),
                 Word(5.5, 6.2, "worried.", 0.6))
        m._commit(track, track.audio, [AsrSegment(1.0, 6.2, "", words)], (None, 0.5), None, mask, 0.0, False)
        return m, track

    _, track = monitor_at(end=10.0, voice_until=8.0)                 # quiet for 2 s
    assert [w.text for w in track.hypothesis] == []
    assert track.committed_until == pytest.approx(6.2)
    assert track.buf_start == pytest.approx(8.0 + 0.3)               # its speech (and Whisper's pad) has left
    m, track = monitor_at(end=8.5, voice_until=8.0)                  # quiet for 0.5 s: may be a pause
    assert track.committed_until == 0.0 and len(track.hypothesis) == 4
    assert m.stats.forced_commits == 0


def test_a_part_with_none_of_its_partys_speech_carries_no_context():
    """Context is the party's own speech, decoded again to help its new speech; a part holding
    only the other party's bleed gets none (behind it, the next part in the pass looped)."""
    import threading

    from audio_pipeline.stream.monitor import SR, Track, _part
    from audio_pipeline.transcribe import FRAME

    track = Track("agent", threading.Lock())
    track.context = np.ones(3 * SR, np.float32)
    track.regions = ((1 * SR, 4 * SR),)
    snap = (10.0, np.zeros(5 * SR, np.float32))
    bleed = np.zeros(int(5 / FRAME), bool)                           # the VAD hears speech; none is the agent's
    assert len(_part(snap, bleed, 10.0, track, True).context) == 0
    own = bleed.copy()
    own[int(2 / FRAME):int(3 / FRAME)] = True                        # the agent talks at 12-13 s
    assert len(_part(snap, own, 10.0, track, True).context) == 3 * SR
    assert len(_part(snap, own, 10.0, track, False).context) == 0    # behind: no context at all


def test_while_others_wait_an_open_region_is_decoded_once_it_closes():
    """A loaded server (another call waiting for a decoder) leaves a young open region out of the
    decode: each decode of it would be redone at the next. The closed speech before it is decoded;
    a channel holding only an open region is not decoded at all, yet counts as heard (its own-speech
    runs stand for it); an open region older than `stream.hold_open` is decoded as before."""
    import threading

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.monitor import _HELD, SR, CallMonitor, Track, _part, _settle_held
    from audio_pipeline.transcribe import FRAME, OWN_PAD

    m = CallMonitor.__new__(CallMonitor)  # pure state: the plan step, models not needed
    m.cfg = load_config()
    m.opts = m.cfg.stream
    n = int(m.opts.hold_open) + 5                                    # seconds of buffer
    closed, young, old = (1 * SR, 3 * SR), ((n - 3) * SR, n * SR), ((n - int(m.opts.hold_open) - 1) * SR, n * SR)

    def plan(regions, hold):
        m._speech_regions = lambda samples: list(regions)
        track = Track("agent", threading.Lock())
        snap = (0.0, np.zeros(n * SR, np.float32))
        return m._plan(track, snap, False, hold), track, snap

    p, track, _ = plan([closed, young], hold=False)
    assert p == (3.0, n - 3.0) and track.regions == (closed, young)
    p, track, snap = plan([closed, young], hold=True)
    assert p == (3.0, n - 3.0) and track.regions == (closed,) and track.decoded_to == n
    own = np.ones(int(n / FRAME), bool)
    part = _part(snap, own, 0.0, track, True)
    held = int((n - 3) / FRAME)
    assert part.own[:held].all() and not part.own[held:].any()      # nothing there to recover
    p, track, _ = plan([young], hold=True)
    assert p == _HELD and track.decoded_to == n
    voice = np.zeros(int(n / FRAME), bool)
    voice[int((n - 2) / FRAME):] = True                              # its own voice from n - 2 s
    _settle_held(track, voice, 0.0, n)                               # the other party need not wait
    assert track.settled == pytest.approx(n - 2 - OWN_PAD)
    p, track, _ = plan([old], hold=True)
    assert p == (None, old[0] / SR) and track.regions == (old,) and track.held_from is None


def test_context_is_never_decoded_again(cfg):
    """A pass that loops over a part's context and its speech decodes only the speech again (with
    the context in front, the retry failed as the first decode had), and unheard context is not
    recovered: its words would be dropped."""
    from audio_pipeline.transcribe import AsrSegment, WhisperTranscriber

    class Recording(WhisperTranscriber):  # the real recovery logic; a stand-in decoder
        def __init__(self, opts):
            self.opts, self.calls = opts, []

        def _transcribe(self, samples, sample_rate, regions, retry=False):
            self.calls.append((list(regions), retry))
            if retry:
                return []
            loop = tuple(Word(0.1 + i, 0.5 + i, "thanks", 0.9) for i in range(9))
            return [AsrSegment(0.1, 9.5, "thanks " * 9, loop, compression_ratio=20.0)]

    sr = 16000
    asr = Recording(cfg.asr)
    asr.transcribe(np.zeros(10 * sr, np.float32), sr, np.ones(1000, bool), [(0, 10 * sr)], context=[(0, 3 * sr)])
    (first, _), (again, retry) = asr.calls
    assert first == [(0, 10 * sr)] and retry
    assert again and all(a >= 3 * sr for a, _ in again)
    asr.calls.clear()
    asr.transcribe(np.zeros(10 * sr, np.float32), sr, np.ones(1000, bool), [(0, 10 * sr)])
    assert asr.calls[1][0][0][0] == 0                                 # no context: all of it again, as before


def test_a_loop_is_left_for_later_when_asked_not_decoded_again(cfg):
    """`loops=False`: the looping speech is not decoded again in the pass (the retry, a second
    Whisper pass, made the slowest passes of a loaded server); it comes back as a wordless segment
    over its speech regions (context excluded), and is not "recovered" as unheard speech either."""
    from audio_pipeline.transcribe import AsrSegment, WhisperTranscriber

    class Recording(WhisperTranscriber):  # the real retry logic; a stand-in decoder
        def __init__(self, opts):
            self.opts, self.calls = opts, []

        def _transcribe(self, samples, sample_rate, regions, retry=False):
            self.calls.append((list(regions), retry))
            if not regions:
                return []
            words = (Word(0.5, 0.9, "hello", 0.9), Word(1.0, 1.4, "there", 0.9))
            loop = tuple(Word(4.1 + i * 0.5, 4.4 + i * 0.5, "thanks", 0.9) for i in range(9))
            return [AsrSegment(0.5, 1.4, "hello there", words),
                    AsrSegment(4.1, 8.4, "thanks " * 9, loop, compression_ratio=20.0)]

    sr = 16000
    asr = Recording(cfg.asr)
    regions = [(0, 2 * sr), (4 * sr, 9 * sr)]
    own = np.zeros(1000, bool)
    own[40:150] = own[400:900] = True                                # the party talks in both regions
    out = asr.transcribe(np.zeros(10 * sr, np.float32), sr, own, regions, loops=False)
    assert [retry for regions, retry in asr.calls if regions] == [False]  # one pass: no retry, no recovery
    assert [s.text for s in out] == ["hello there", ""]
    assert (out[1].start, out[1].end, out[1].words) == (4.0, 9.0, ())
    out = asr.transcribe(np.zeros(10 * sr, np.float32), sr, own, regions, context=[(4 * sr, 6 * sr)], loops=False)
    assert (out[1].start, out[1].end) == (6.0, 9.0)                  # context is never left to decode later
    asr.calls.clear()
    out = asr.transcribe(np.zeros(10 * sr, np.float32), sr, own, regions)
    assert asr.calls[1] == ([(4 * sr, 9 * sr)], True)               # asked: decoded again at once, as before
    assert all(s.words for s in out)


def test_a_loop_left_for_later_reaches_its_part_and_holds_its_channel():
    """The wordless loop goes to the part it overlaps, in the part's time; the channel commits only
    the words before it, keeps its audio (and all after it) in the buffer, is not settled past it,
    and asks its next part to decode a loop again in the same pass."""
    import threading

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.monitor import SR, CallMonitor, Part, StreamStats, Track, _part, transcribe_parts
    from audio_pipeline.transcribe import FRAME, AsrSegment

    class Looping:  # pure stand-in: a pass whose second part's speech looped
        def transcribe(self, samples, sample_rate, own_speech=None, regions=None, recover=True, context=(),
                       loops=True):
            self.loops = loops
            return [AsrSegment(0.2, 0.8, "", (Word(0.2, 0.8, "yes", 0.9),)), AsrSegment(4.5, 6.0, "", ())]

    fake = Looping()
    parts = [Part(np.zeros(2 * SR, np.float32), np.ones(200, bool), loops=False) for _ in range(2)]
    out = transcribe_parts(fake, parts)                              # part 2 spans 3-5 s of the pass
    assert not fake.loops
    assert [w.text for w in out[0][0].words] == ["yes"]
    assert (out[1][0].start, out[1][0].end, out[1][0].words) == (1.5, 2.0, ())
    transcribe_parts(fake, [parts[0], Part(np.zeros(2 * SR, np.float32), np.ones(200, bool))])
    assert fake.loops                                                # one part that asks is enough

    m = CallMonitor.__new__(CallMonitor)  # pure state: the commit step, models not needed
    m.cfg = load_config()
    m.opts, m.stats = m.cfg.stream, StreamStats()
    m._to_call_time = lambda segments, start, energy, mask, first: [
        AsrSegment(s.start + start, s.end + start, s.text,
                   tuple(Word(w.start + start, w.end + start, w.text, w.probability) for w in s.words))
        for s in segments]
    track = Track("agent", threading.Lock())
    track.audio = (10.0, np.zeros(8 * SR, np.float32))
    mask = np.zeros(int(18 / FRAME), bool)
    segs = [AsrSegment(0.5, 1.5, "", (Word(0.5, 1.0, "I", 0.9), Word(1.0, 1.5, "see", 0.9))),
            AsrSegment(3.0, 5.0, "", ()), AsrSegment(5.5, 6.0, "", (Word(5.5, 6.0, "later", 0.9),))]
    m._commit(track, track.audio, segs, (16.5, None), None, mask, 0.0, False)   # all closed: all would be final
    assert [w.text for p in track.pieces for w in p.words] == ["I", "see"]
    assert track.buf_start <= 13.0 and track.settled <= 13.0
    assert track.looped and m.stats.deferred_loops == 1
    track.regions = ((0, 8 * SR),)
    assert _part(track.audio, mask, 0.0, track, True, loops=False).loops  # next time: decoded again at once
    m._commit(track, track.audio, segs[:1], (16.5, None), None, mask, 0.0, False)
    assert not track.looped


def test_a_job_counts_the_speech_whisper_hears_not_its_buffers():
    """10 s of buffer holding 2 s of speech in two regions, after 3 s of context: the pass hears
    context, speech and the short gaps joining them, not the silence."""
    from audio_pipeline.stream.monitor import CONTEXT_GAP, SR, Part

    regions = ((1 * SR, 2 * SR), (6 * SR, 7 * SR))
    part = Part(np.zeros(10 * SR, np.float32), np.zeros(1000, bool), np.zeros(3 * SR, np.float32), regions)
    assert part.heard == pytest.approx(3 + 2 + 3 * CONTEXT_GAP)
    unplanned = Part(np.zeros(10 * SR, np.float32), np.zeros(1000, bool))
    assert unplanned.heard == pytest.approx(10 + CONTEXT_GAP)        # regions unknown: all of it is heard


def test_jobs_arriving_during_a_pass_share_the_next_one():
    """Under load (a pass running), a free worker waits up to `stream.pass_gather` for other calls'
    jobs and packs them into one pass; with no pass running, a job starts at once."""
    import asyncio
    import time
    from dataclasses import replace
    from types import SimpleNamespace

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.monitor import SR, Part
    from audio_pipeline.stream.server import StreamService

    class Slow:  # pure stand-in for Whisper: each pass takes 0.4 s and is recorded
        passes: list[float] = []

        def transcribe(self, samples, sample_rate, own_speech=None, regions=None, recover=True, context=(), loops=True):
            self.passes.append(len(samples) / sample_rate)
            time.sleep(0.4)
            return []

    cfg = load_config()
    cfg = replace(cfg, stream=replace(cfg.stream, decode_workers=2, pass_gather=0.3))
    fake = Slow()
    service = StreamService(cfg, transcriber=fake)

    def job():
        part = Part(np.zeros(SR, np.float32), np.zeros(100, bool), regions=((0, SR),))
        return SimpleNamespace(seconds=part.heard, parts=(part,))

    async def submit(loop):
        future = loop.create_future()
        service._jobs.append((job(), future))
        service._jobs_ready.set()
        return await future

    async def scenario():
        loop = asyncio.get_running_loop()
        service._start_passes()
        first = asyncio.ensure_future(submit(loop))
        await asyncio.sleep(0.05)                  # its pass is running: the next jobs come while it does
        second = asyncio.ensure_future(submit(loop))
        await asyncio.sleep(0.1)
        third = asyncio.ensure_future(submit(loop))
        await asyncio.gather(first, second, third)

    try:
        asyncio.run(scenario())
    finally:
        service.close()
    assert len(fake.passes) == 2                   # the second and third jobs shared one pass
    assert fake.passes[1] > fake.passes[0]


def test_a_hang_ups_second_pass_waits_behind_live_jobs():
    """A call hanging up queues its second pass as `later` jobs: a live call's job that comes after
    them still goes first (in one long pass, the rest of a hang-up held a decoder while every live
    call waited)."""
    import asyncio
    import time
    from dataclasses import replace
    from types import SimpleNamespace

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.monitor import SR, Part
    from audio_pipeline.stream.server import StreamService

    class Slow:  # pure stand-in for Whisper: each pass takes 0.3 s; records the audio it heard
        passes: list[float] = []

        def transcribe(self, samples, sample_rate, own_speech=None, regions=None, recover=True, context=(),
                       loops=True):
            self.passes.append(round(len(samples) / sample_rate))
            time.sleep(0.3)
            return []

    cfg = load_config()
    service = StreamService(replace(cfg, stream=replace(cfg.stream, decode_workers=1, pass_gather=0.0)),
                            transcriber=Slow())

    def job(seconds: int):  # too big to share a pass with another
        part = Part(np.zeros(seconds * SR, np.float32), np.zeros(seconds * 100, bool), regions=((0, seconds * SR),))
        return SimpleNamespace(seconds=20.0, parts=(part,))

    async def scenario():
        running = asyncio.ensure_future(service._pass(job(2)))
        await asyncio.sleep(0.05)                                   # its pass is running
        rest = asyncio.ensure_future(service._pass(job(6), later=True))
        await asyncio.sleep(0.05)
        live = asyncio.ensure_future(service._pass(job(4)))
        await asyncio.gather(running, rest, live)

    try:
        asyncio.run(scenario())
    finally:
        service.close()
    assert Slow.passes == [3, 5, 7]                                 # each part + 1 s of closing gap


def test_second_pass_waits_while_other_calls_wait_for_a_decoder():
    """The server lets a call's optional second-pass work into a pass only when no other call's job
    is waiting and a decoder is free."""
    import asyncio
    from types import SimpleNamespace

    from audio_pipeline.config import load_config
    from audio_pipeline.stream.server import StreamService

    class Monitor:  # stand-in for a call's state: records what the server told it before preparing
        spare = None

        def prepare(self, final=False):
            self.seen = self.spare
            return SimpleNamespace(alerts=(), parts=())

        def complete(self, job, segments):
            return []

    service = StreamService(load_config(), transcriber=object())
    call = SimpleNamespace(monitor=Monitor())
    try:
        asyncio.run(service._decode(call))
        assert call.monitor.seen is True
        service._jobs.append((SimpleNamespace(seconds=5.0, parts=()), None))   # another call waits
        asyncio.run(service._decode(call))
        assert call.monitor.seen is False
        service._jobs.clear()
        service._later.append((SimpleNamespace(seconds=5.0, parts=()), None))  # a hang-up's second pass waits
        asyncio.run(service._decode(call))
        assert call.monitor.seen is False
        service._later.clear()
        service._running = service._workers                                    # every decoder busy
        asyncio.run(service._decode(call))
        assert call.monitor.seen is False
    finally:
        service.close()

