"""The guards that keep invented words out of a review, on hand-built segments and energies."""
from __future__ import annotations

import numpy as np
import pytest

from audio_pipeline.config import ConfigError, load_config
from audio_pipeline.transcribe import (AsrSegment, channel_energy, clean_segments, is_hallucination,
                                       resolve_compute_type, resolve_device, to_utterances)
from audio_pipeline.types import Word

SR = 16000


def seg(start, end, text, **kw):
    tokens = text.split()
    step = (end - start) / len(tokens)
    words = tuple(Word(start + i * step, start + (i + 1) * step, t, 0.9) for i, t in enumerate(tokens))
    return AsrSegment(start, end, text, words, **kw)


def test_whisper_silence_rule_and_repetition_loops(cfg):
    assert is_hallucination(seg(0, 2, "thank you", no_speech_prob=0.9, avg_logprob=-1.5), cfg.asr)
    assert not is_hallucination(seg(0, 2, "thank you", no_speech_prob=0.9, avg_logprob=-0.3), cfg.asr)
    assert is_hallucination(seg(0, 9, "go " * 30, compression_ratio=3.1), cfg.asr)
    assert not is_hallucination(seg(0, 2, "my order is late"), cfg.asr)


def test_crosstalk_words_are_dropped(cfg):
    """Customer speech leaks into the agent channel at -30 dB: those words are the customer's."""
    t = np.arange(SR * 4) / SR
    customer = np.where(t >= 2, 0.3 * np.sin(2 * np.pi * 200 * t), 0).astype(np.float32)
    agent = np.where(t < 2, 0.3 * np.sin(2 * np.pi * 150 * t), 0.03 * customer / 0.3 * 0.1).astype(np.float32)
    segments = [seg(0.1, 1.9, "hello how can I help"), seg(2.1, 3.9, "echo of the customer")]
    kept = clean_segments(segments, cfg.asr, channel_energy(agent, customer, SR))
    assert [s.text for s in kept] == ["hello how can I help"]


def test_overlapping_speech_is_not_crosstalk(cfg):
    t = np.arange(SR * 2) / SR
    agent = (0.2 * np.sin(2 * np.pi * 150 * t)).astype(np.float32)
    customer = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    kept = clean_segments([seg(0.1, 1.9, "sorry to cut in")], cfg.asr, channel_energy(agent, customer, SR))
    assert len(kept) == 1


def test_utterances_split_at_long_pauses():
    s = AsrSegment(0, 6, "a b c d", (Word(0, 0.5, "a"), Word(0.6, 1.0, "b"), Word(3.0, 3.5, "c"), Word(3.6, 4.0, "d")))
    utts = to_utterances([s], "agent", max_gap=1.5)
    assert [(u.start, u.end, u.text) for u in utts] == [(0, 1.0, "a b"), (3.0, 4.0, "c d")]


def test_device_resolution_falls_back_to_cpu_int8():
    device = resolve_device("auto")
    assert device in ("cpu", "cuda")
    assert resolve_device("cpu") == "cpu"
    assert resolve_compute_type("default", "cpu") == "int8"
    assert resolve_compute_type("default", "cuda") == "float16"
    assert resolve_compute_type("int8_float32", "cpu") == "int8_float32"


def test_config_layers(tmp_path):
    user = tmp_path / "u.yaml"
    user.write_text("turns:\n  dead_air_min: 8\nasr:\n  model: base\n")
    cfg = load_config(user, {"asr.model": "tiny.en", "asr.device": None})
    assert cfg.turns.dead_air_min == 8 and cfg.asr.model == "tiny.en" and cfg.asr.device == "auto"
    assert cfg.fingerprint() != load_config().fingerprint()
    user.write_text("turns: 3\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(user)


def test_quiet_party_talking_over_a_loud_one_is_kept(cfg):
    """Channel levels differ between parties: a quiet agent cutting in over a loud customer is
    still the agent, since the echo coupling (-40 dB) is far below the level difference (-20 dB)."""
    t = np.arange(SR * 6) / SR
    customer = np.where(t < 5, 0.3 * np.sin(2 * np.pi * 220 * t), 0).astype(np.float32)
    agent = (0.01 * customer).astype(np.float32)                        # echo only ...
    agent[3 * SR:5 * SR] += (0.03 * np.sin(2 * np.pi * 150 * t[3 * SR:5 * SR])).astype(np.float32)  # ... then speech
    energy = channel_energy(agent, customer, SR)
    assert energy.coupling_db == pytest.approx(-40, abs=1)
    kept = clean_segments([seg(0.5, 2.0, "echo words"), seg(3.2, 4.8, "quiet agent words")], cfg.asr, energy)
    assert [s.text for s in kept] == ["quiet agent words"]


def test_joined_speech_maps_words_back_inside_their_region():
    from audio_pipeline.transcribe import join_speech

    samples = np.ones(SR * 100, dtype=np.float32)
    joined, layout = join_speech(samples, [(SR * 10, SR * 12), (SR * 50, SR * 53)], gap=SR // 2)
    assert len(joined) == SR * 6  # 2 s + 0.5 s gap + 3 s + 0.5 s gap
    assert layout.word_to_track(0.5, 1.0, SR) == (10.5, 11.0)
    assert layout.word_to_track(2.6, 3.0, SR) == pytest.approx((50.1, 50.5))
    # a word Whisper stretched across the joining gap stays inside the region of its middle
    start, end = layout.word_to_track(1.8, 2.9, SR)
    assert (start, end) == pytest.approx((11.8, 12.0))


def test_unheard_speech_finds_clear_speech_without_words():
    from audio_pipeline.transcribe import unheard_speech

    mask = np.zeros(1000, dtype=bool)  # 10 s of 10 ms frames
    mask[100:300] = True   # 1-3 s: transcribed
    mask[500:620] = True   # 5-6.2 s: no words
    mask[800:850] = True   # 8-8.5 s: too short to retry
    assert unheard_speech([seg(1.1, 2.9, "we heard this")], mask) == [pytest.approx((5.0, 6.2))]


def test_a_stray_squeezed_word_is_not_an_utterance(cfg):
    squeezed = AsrSegment(4.25, 4.28, "you", (Word(4.25, 4.28, "you", 0.6),))
    assert clean_segments([squeezed, seg(5.0, 5.3, "yes")], cfg.asr) == [seg(5.0, 5.3, "yes")]


def test_snap_moves_edges_to_the_channel_energy():
    from audio_pipeline.transcribe import snap_to_energy

    mask = np.zeros(1000, dtype=bool)
    mask[200:400] = True   # speech from 2.0 to 4.0 s
    early = AsrSegment(1.5, 3.9, "x y", (Word(1.5, 2.5, "x"), Word(2.6, 3.9, "y")))   # starts early, ends early
    late = AsrSegment(2.3, 4.6, "x y", (Word(2.3, 2.5, "x"), Word(2.6, 4.6, "y")))    # starts late, ends late
    (a,), (b,) = snap_to_energy([early], mask), snap_to_energy([late], mask)
    assert (a.start, a.end) == pytest.approx((2.0, 4.0))
    assert (b.start, b.end) == pytest.approx((2.0, 4.0))


def test_snap_handles_each_stretch_of_a_segment_that_spans_two_regions():
    from audio_pipeline.transcribe import snap_to_energy

    mask = np.zeros(1000, dtype=bool)
    mask[100:200] = True   # first stretch 1.0-2.0 s
    mask[500:700] = True   # second stretch 5.0-7.0 s; Whisper put its first word 0.4 s late
    joined = AsrSegment(1.0, 7.0, "a b c d", (Word(1.0, 1.5, "a"), Word(1.5, 2.0, "b"),
                                              Word(5.4, 6.0, "c"), Word(6.0, 7.0, "d")))
    first, second = snap_to_energy([joined], mask)
    assert (first.start, first.end) == pytest.approx((1.0, 2.0), abs=0.02)
    assert (second.start, second.end) == pytest.approx((5.0, 7.0), abs=0.02)
    assert second.text == "c d"


def test_decoding_regions_keep_only_the_partys_own_speech():
    from audio_pipeline.transcribe import own_regions

    sr = 16000
    own = np.zeros(1000, dtype=bool)
    own[300:400] = True                       # the party talks 3-4 s; 0-2.5 s is the other's echo
    regions = [(0, 2 * sr), (int(2.5 * sr), 6 * sr)]
    assert own_regions(regions, own, sr, pad=0.3) == [(int(2.7 * sr), int(4.3 * sr))]


def test_short_breaks_in_own_speech_are_closed_but_pauses_stay():
    from audio_pipeline.transcribe import close_gaps

    mask = np.zeros(100, dtype=bool)
    mask[10:20] = True
    mask[25:40] = True     # 5-frame break: a stop closure
    mask[60:70] = True     # 20-frame break: a pause
    closed = close_gaps(mask, 10)
    assert closed[10:40].all() and not closed[40:60].any() and not closed[:10].any()


def test_snapped_neighbours_never_reach_into_each_others_words():
    from audio_pipeline.transcribe import snap_to_energy

    mask = np.zeros(1000, dtype=bool)
    mask[100:400] = True   # one stretch of speech 1-4 s that Whisper cut into two segments
    one = AsrSegment(1.2, 2.0, "there's nothing", (Word(1.2, 1.5, "there's"), Word(1.5, 2.0, "nothing")))
    two = AsrSegment(2.1, 3.8, "I can do", (Word(2.1, 2.5, "I"), Word(2.5, 3.0, "can"), Word(3.0, 3.8, "do")))
    a, b = snap_to_energy([one, two], mask)
    assert a.start == pytest.approx(1.0) and b.end == pytest.approx(4.0, abs=0.02)
    assert a.end <= b.start == pytest.approx(2.1)


def test_a_sentence_broken_across_segments_is_one_utterance():
    one = seg(10.0, 10.8, "there's nothing")
    two = seg(11.0, 12.5, "I can do about it.")
    three = seg(12.7, 13.5, "Sorry.")
    utts = to_utterances([one, two, three], "agent", max_gap=1.5)
    assert [u.text for u in utts] == ["there's nothing I can do about it.", "Sorry."]


def test_a_wordless_mm_hmm_inside_the_other_partys_talk_is_kept_as_a_placeholder():
    from audio_pipeline.transcribe import unheard_acknowledgements
    from audio_pipeline.types import UNHEARD, Utterance

    own_speech = np.zeros(2000, dtype=bool)
    own_speech[520:560] = True    # 5.2-5.6 s: a short burst, no words (an "mm hmm")
    own_speech[1200:1210] = True  # 12.0-12.1 s: a click, too short
    own_speech[1500:1560] = True  # 15.0-15.6 s: a burst with nobody else talking
    customer = [Utterance("customer", 2.0, 8.0, "a long complaint",
                          tuple(Word(2.0 + i * 0.5, 2.4 + i * 0.5, "w", 0.9) for i in range(12))),
                Utterance("customer", 11.0, 13.0, "more", (Word(11.0, 11.9, "more"), Word(12.2, 13.0, "words")))]
    agent = [Utterance("agent", 17.5, 19.0, "right let me check", (Word(17.5, 19.0, "check"),))]
    found = unheard_acknowledgements(own_speech, agent, customer, "agent", reach=1.5)
    assert [(u.start, u.end, u.text) for u in found] == [(pytest.approx(5.2), pytest.approx(5.6), UNHEARD)]


def test_a_burst_next_to_the_partys_own_words_is_not_added():
    from audio_pipeline.transcribe import unheard_acknowledgements
    from audio_pipeline.types import Utterance

    own_speech = np.zeros(2000, dtype=bool)
    own_speech[520:560] = True
    customer = [Utterance("customer", 2.0, 8.0, "talk", tuple(Word(2.0 + i * 0.5, 2.4 + i * 0.5, "w") for i in range(12)))]
    agent = [Utterance("agent", 6.5, 9.0, "can you confirm", (Word(6.5, 9.0, "confirm"),))]  # 0.9 s later
    assert unheard_acknowledgements(own_speech, agent, customer, "agent", reach=1.5) == []


def test_a_word_stretched_over_the_partys_voice_is_found():
    """"I heard[1.1 s] a beep" with the party talking all along: "heard" hides skipped words. A long
    word over silence (Whisper stretching the last word to a pause) or a long word whose letters
    allow it is not."""
    from audio_pipeline.transcribe import stretched_words

    words = (Word(10.5, 10.6, "I"), Word(10.6, 11.8, "heard"), Word(11.8, 11.9, "a"), Word(11.9, 12.2, "beep."),
             Word(13.0, 14.2, "originally"), Word(15.0, 16.2, "well"))
    own = np.zeros(2000, dtype=bool)
    own[1040:1450] = True            # voice from 10.4 s to 14.5 s; silence under "well"
    found = stretched_words([AsrSegment(10.5, 16.2, "", words)], own, 0.8, 0.15)
    assert [w.text for w in found] == ["heard"]
    assert stretched_words([AsrSegment(10.5, 16.2, "", words)], own, 0.0, 0.15) == []


def test_replacing_a_stretched_word_keeps_its_neighbours_once():
    from audio_pipeline.transcribe import replace_words

    words = (Word(10.5, 10.6, "I"), Word(10.6, 11.8, "heard"), Word(11.9, 12.2, "beep."))
    found = [Word(10.5, 10.6, "I"), Word(10.7, 10.9, "thought"), Word(11.0, 11.3, "you"), Word(11.3, 11.5, "know,"),
             Word(11.5, 11.7, "heard"), Word(11.8, 12.0, "beep")]
    out = replace_words(AsrSegment(10.5, 12.2, "I heard beep.", words), {id(words[1]): found[1:]})
    assert out.text == "I thought you know, heard beep."
    assert (out.start, out.end) == (10.5, 12.2)
    # the first new word repeats the kept one before it: dropped too
    out = replace_words(AsrSegment(10.5, 12.2, "I heard beep.", words), {id(words[1]): found[:5]})
    assert out.text == "I thought you know, heard beep."


def test_overrides_from_the_command_line_keep_their_types():
    from audio_pipeline.config import parse_overrides

    assert parse_overrides(["stream.context_seconds=0", "asr.model=base", "activity.enabled=false"]) == {
        "stream.context_seconds": 0, "asr.model": "base", "activity.enabled": False}
    with pytest.raises(ConfigError):
        parse_overrides(["stream.context_seconds"])
