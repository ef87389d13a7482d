"""Silence findings need the signal silent, not just the words absent (hand-built calls, pure logic);
the mono RTTM comes from the diarization's speech turns."""
from __future__ import annotations

from dataclasses import replace

from audio_pipeline.analysis.turns import analyze_turns, waiting_silence
from audio_pipeline.export import review_to_rttm
from audio_pipeline.types import AudioInfo, Metrics, ModelInfo, Review

from .conftest import conv, utt


def _types(ta, kind):
    return [(round(f.start, 2), round(f.end, 2)) for f in ta.findings if f.type == kind]


def test_words_missing_but_voice_active_is_not_dead_air(cfg):
    call = conv(utt("agent", 0.0, 3.0, "how can I help you today"),
                utt("agent", 14.0, 16.0, "sorry could you repeat that"), duration=20.0)
    assert _types(analyze_turns(call, cfg.turns, cfg.severity), "dead_air") == [(3.0, 14.0)]
    heard = replace(call, speech=((0.0, 3.0), (3.6, 13.2), (14.0, 16.0)))  # the customer talked, unworded
    assert _types(analyze_turns(heard, cfg.turns, cfg.severity), "dead_air") == []


def test_dead_air_is_where_the_signal_is_silent_too(cfg):
    call = conv(utt("agent", 0.0, 3.0, "let me check that for you"),
                utt("agent", 14.0, 16.0, "thanks for waiting"), duration=20.0,)
    signal = replace(call, speech=((0.0, 3.0), (5.0, 6.0), (14.0, 16.0)))  # a cough-length burst at 5 s
    assert _types(analyze_turns(signal, cfg.turns, cfg.severity), "dead_air") == [(6.0, 14.0)]


def test_slow_response_is_measured_from_the_last_speech_before_the_reply(cfg):
    call = conv(utt("customer", 0.0, 4.0, "my router keeps dropping the line"),
                utt("agent", 7.0, 9.0, "when did that start"), duration=10.0)
    assert _types(analyze_turns(call, cfg.turns, cfg.severity), "slow_response") == [(4.0, 7.0)]
    # the customer went on talking (no words) until 5.5 s: the agent replied 1.5 s later
    late = replace(call, speech=((0.0, 5.5), (7.0, 9.0)))
    assert _types(analyze_turns(late, cfg.turns, cfg.severity), "slow_response") == []
    assert waiting_silence(4.0, 7.0, late.speech) == (5.5, 7.0)
    assert waiting_silence(4.0, 7.0, None) == (4.0, 7.0)
    assert waiting_silence(4.0, 7.0, ((3.0, 7.2),)) is None
    # an unworded first word, then a short pause before the worded reply: the wait ends at the word
    assert waiting_silence(4.0, 7.0, ((3.0, 4.2), (6.5, 6.9)), min_pause=0.4) == (4.2, 6.5)
    assert waiting_silence(4.0, 7.0, ((3.0, 4.2), (6.5, 6.9))) == (6.9, 7.0)


def test_mono_rttm_comes_from_speech_turns_not_words():
    review = Review(audio=AudioInfo("call one.wav", "x", 10.0, 16000, 1, "mono-diarized"),
                    models=ModelInfo("tiny.en", "pyannote", "cpu"),
                    utterances=(utt("agent", 1.0, 3.0, "hello there"),), findings=(), metrics=Metrics(),
                    flagged=False, flag_reasons=(),
                    speaker_turns=((1.0, 3.2, "agent"), (3.1, 3.6, "customer"), (4.0, 6.0, "customer")))
    lines = review_to_rttm(review).splitlines()
    assert lines == ["SPEAKER call_one 1 1.000 2.200 <NA> <NA> agent <NA> <NA>",
                     "SPEAKER call_one 1 3.100 0.500 <NA> <NA> customer <NA> <NA>",
                     "SPEAKER call_one 1 4.000 2.000 <NA> <NA> customer <NA> <NA>"]
    stereo = replace(review, speaker_turns=())
    assert review_to_rttm(stereo).splitlines() == ["SPEAKER call_one 1 1.000 2.000 <NA> <NA> agent <NA> <NA>"]


def test_drawn_out_vocalisations_are_backchannels(cfg):
    call = conv(utt("customer", 0.0, 6.0, "the whole amount shows up twice on my statement again"),
                utt("agent", 2.0, 2.4, "MMMM."), utt("agent", 7.0, 9.0, "let me look at that"))
    ta = analyze_turns(call, cfg.turns, cfg.severity)
    assert _types(ta, "backchannel") == [(2.0, 2.4)] and not _types(ta, "interruption")


def test_cut_in_over_the_holders_unworded_last_words_is_an_interruption(cfg):
    # the customer's last words (8.0-9.2 s) got no word timing; the signal has them under the cut-in
    call = conv(utt("customer", 2.0, 8.0, "I restart it every single night and still"),
                utt("agent", 8.2, 12.0, "as I already told you it needs a full reset"), duration=13.0)
    assert not _types(analyze_turns(call, cfg.turns, cfg.severity), "interruption")
    heard = replace(call, voices=(("customer", 2.0, 9.2), ("agent", 8.2, 12.0)))
    assert _types(analyze_turns(heard, cfg.turns, cfg.severity), "interruption") == [(8.2, 9.2)]
    # the holder's later, separate speech is not part of the overlap
    later = replace(call, voices=(("customer", 2.0, 8.0), ("customer", 10.0, 11.0), ("agent", 8.2, 12.0)))
    assert not _types(analyze_turns(later, cfg.turns, cfg.severity), "interruption")


def test_cut_in_whose_first_words_got_no_timing_starts_at_its_voice(cfg):
    call = conv(utt("customer", 10.0, 12.7, "sure it's seven three nine five five one"),
                utt("agent", 13.05, 14.7, "and the email on file is still correct"), duration=16.0)
    heard = replace(call, voices=(("customer", 10.0, 13.2), ("agent", 12.27, 14.7)))
    assert _types(analyze_turns(heard, cfg.turns, cfg.severity), "interruption") == [(12.27, 13.2)]
