"""Turn-taking rules on hand-built conversations, including the threshold edge cases."""
from __future__ import annotations

from dataclasses import replace

import pytest

from audio_pipeline.analysis import timeline
from audio_pipeline.analysis.turns import analyze_turns
from audio_pipeline.review import build_review
from audio_pipeline.types import AudioInfo, ModelInfo

from .conftest import conv, utt

LONG = "so what happened was the package never arrived and I waited at home all day for it"


def kinds(findings, kind):
    return [f for f in findings if f.type == kind]


def run(cfg, c, **turn_overrides):
    opts = replace(cfg.turns, **turn_overrides) if turn_overrides else cfg.turns
    return analyze_turns(c, opts, cfg.severity)


def test_timeline_arithmetic():
    a = timeline.merge([(0, 1), (0.5, 2), (3, 4)])
    assert a == [(0, 2), (3, 4)]
    assert timeline.intersect(a, [(1.5, 3.5)]) == [(1.5, 2), (3, 3.5)]
    assert timeline.gaps(a, 0, 5) == [(2, 3), (4, 5)]
    assert timeline.merge([(0, 1), (1.2, 2)], max_gap=0.25) == [(0, 2)]


def test_agent_interruption_takes_floor(cfg):
    c = conv(utt("customer", 0.0, 6.0, LONG),
             utt("agent", 4.8, 9.0, "okay I understand let me stop you there and explain the delivery policy"))
    found = kinds(run(cfg, c).findings, "interruption")
    assert len(found) == 1
    f = found[0]
    assert f.speaker == "agent" and f.start == pytest.approx(4.8)
    assert f.end - f.start == pytest.approx(1.2, abs=0.05)
    assert "customer" in f.evidence


def test_cut_ins_both_ways_across_a_short_pause(cfg):
    # the customer talks over the agent's last words; the agent pauses 0.7 s while the customer
    # talks on, then cuts back in: the floor changed hands twice, so two interruptions
    c = conv(utt("agent", 19.1, 21.85, "right so the estimate came in higher than usual this month"),
             utt("customer", 21.0, 23.5, "that is a relief thanks for sorting it out for me"),
             utt("agent", 22.58, 25.0, "is there anything else I can help with today"))
    found = kinds(run(cfg, c).findings, "interruption")
    assert [(f.speaker, round(f.start, 2)) for f in found] == [("customer", 21.0), ("agent", 22.58)]
    # the same pause with nobody talking through it stays inside the agent's turn
    quiet = conv(utt("agent", 19.1, 21.85, "right so the estimate came in higher than usual this month"),
                 utt("agent", 22.58, 25.0, "is there anything else I can help with today"))
    assert len(run(cfg, quiet).turns["agent"]) == 1


def test_an_interrupter_pausing_while_the_holder_finishes_keeps_one_turn(cfg):
    # "Five days? ... I really need it": the customer cuts in, waits 0.5 s for the agent to finish,
    # then goes on; the agent's talk in that pause is the end of the turn they were already in
    c = conv(utt("agent", 56.8, 67.2, "your laptop is still under warranty so the repair is free and it takes about five days"),
             utt("customer", 66.0, 66.65, "five days"),
             utt("customer", 67.17, 70.8, "I really need it for revising is there any way to get it back sooner"))
    result = run(cfg, c)
    assert len(result.turns["customer"]) == 1
    assert [(f.speaker, f.start) for f in kinds(result.findings, "interruption")] == [("customer", 66.0)]


def test_a_backchannel_in_a_pause_does_not_end_the_turn(cfg):
    c = conv(utt("customer", 0.0, 3.0, "so I rang them on monday and"),
             utt("agent", 3.1, 3.4, "mm hmm"),
             utt("customer", 3.6, 7.0, "they said it would be sorted by friday"))
    result = run(cfg, c)
    assert len(result.turns["customer"]) == 1 and not kinds(result.findings, "interruption")


def test_customer_interruption_is_attributed_to_customer(cfg):
    c = conv(utt("agent", 0.0, 8.0, "our records show the payment was received on the fifth and processed on time"),
             utt("customer", 6.5, 10.0, "no no that is not what happened at all I paid late"))
    found = kinds(run(cfg, c).findings, "interruption")
    assert [f.speaker for f in found] == ["customer"]


def test_overlap_exactly_at_threshold_counts(cfg):
    # customer speech ends at 6.0; the agent starts at 5.5: exactly 0.5 s of overlap
    c = conv(utt("customer", 0.0, 6.0, LONG), utt("agent", 5.5, 9.0, "right so here is what we will do for you today"))
    assert len(kinds(run(cfg, c).findings, "interruption")) == 1


def test_overlap_just_below_threshold_is_not_interruption(cfg):
    c = conv(utt("customer", 0.0, 6.0, LONG), utt("agent", 5.6, 9.0, "right so here is what we will do for you today"))
    assert kinds(run(cfg, c).findings, "interruption") == []


def test_backchannel_is_never_an_interruption(cfg):
    c = conv(utt("customer", 0.0, 10.0, LONG + " and nobody called"), utt("agent", 3.0, 3.8, "mm hmm"),
             utt("agent", 6.0, 6.6, "right"))
    ta = run(cfg, c)
    assert kinds(ta.findings, "interruption") == []
    assert [f.evidence for f in kinds(ta.findings, "backchannel")] == ["mm hmm", "right"]


def test_a_wordless_vocalisation_inside_the_others_turn_is_a_backchannel(cfg):
    from audio_pipeline.types import UNHEARD

    c = conv(utt("customer", 0.0, 10.0, LONG + " and nobody called"), utt("agent", 3.0, 3.5, UNHEARD),
             utt("agent", 6.0, 8.0, UNHEARD))  # 2 s is longer than a backchannel
    found = kinds(run(cfg, c).findings, "backchannel")
    assert [(f.start, f.end) for f in found] == [(3.0, 3.5)]
    assert kinds(run(cfg, c).findings, "interruption") == []


def test_long_overlap_that_keeps_the_floor_of_other_is_not_interruption(cfg):
    # agent talks over the customer but stops while the customer keeps going: floor not taken
    c = conv(utt("customer", 0.0, 12.0, LONG + " and then again the next day"),
             utt("agent", 3.0, 5.0, "but the courier said he knocked"))
    assert kinds(run(cfg, c).findings, "interruption") == []


def test_backchannel_during_monologue_does_not_break_it(cfg):
    agent = [utt("agent", 0.0 + 8 * i, 7.0 + 8 * i, "let me walk you through every step of the new billing process")
             for i in range(5)]  # 39 s with 1 s pauses
    c = conv(*agent, utt("customer", 15.2, 15.7, "okay"), utt("customer", 24.3, 24.9, "mm hmm"))
    ta = run(cfg, c)
    mono = kinds(ta.findings, "long_monologue")
    assert len(mono) == 1 and mono[0].end - mono[0].start == pytest.approx(39.0, abs=0.01)
    assert len(kinds(ta.findings, "backchannel")) == 2


def test_pause_breaks_monologue(cfg):
    c = conv(utt("agent", 0, 20, "a " * 40), utt("agent", 22, 42, "b " * 40))
    assert kinds(run(cfg, c).findings, "long_monologue") == []


def test_dead_air_and_announced_hold(cfg):
    c = conv(utt("customer", 0, 3, "can you check my order status"),
             utt("agent", 3.5, 6.0, "sure let me check that one moment"),
             utt("agent", 14.0, 17.0, "thanks for waiting it ships today"),
             utt("customer", 17.5, 19.0, "great thanks"),
             utt("customer", 26.0, 28.0, "hello are you still there"))
    dead = kinds(run(cfg, c).findings, "dead_air")
    assert [(round(f.start, 1), round(f.end, 1)) for f in dead] == [(6.0, 14.0), (19.0, 26.0)]
    assert [f.extra["announced"] for f in dead] == [True, False]
    assert dead[0].severity == "info" and dead[1].severity == "warning"


def test_silence_at_start_and_end_is_not_dead_air(cfg):
    c = conv(utt("agent", 8.0, 10.0, "thank you for calling"), utt("customer", 10.5, 12.0, "hi there"),
             duration=30.0)
    ta = run(cfg, c)
    assert kinds(ta.findings, "dead_air") == []
    edges = run(cfg, c, dead_air_at_edges=True)
    assert len(kinds(edges.findings, "dead_air")) == 2


def test_long_hold(cfg):
    c = conv(utt("agent", 0, 3, "please hold while I transfer you"), utt("agent", 133, 135, "thanks for holding"))
    dead = kinds(run(cfg, c).findings, "dead_air")
    assert len(dead) == 1 and dead[0].extra["long_hold"] is True


def test_slow_response_and_dead_air_never_describe_one_silence(cfg):
    c = conv(utt("customer", 0, 3, "my card was charged twice"), utt("agent", 6.0, 8.0, "I see that here"),
             utt("customer", 8.5, 10.0, "so can you fix it"), utt("agent", 16.0, 18.0, "yes I can refund it"))
    ta = run(cfg, c)
    slow = kinds(ta.findings, "slow_response")
    dead = kinds(ta.findings, "dead_air")
    assert [(f.start, f.end) for f in slow] == [(3.0, 6.0)]
    assert [(f.start, f.end) for f in dead] == [(10.0, 16.0)]


def test_slow_response_threshold(cfg):
    fast = conv(utt("customer", 0, 3, "is it refunded"), utt("agent", 5.4, 7, "yes it is"))
    slow = conv(utt("customer", 0, 3, "is it refunded"), utt("agent", 5.5, 7, "yes it is"))
    assert kinds(run(cfg, fast).findings, "slow_response") == []
    assert len(kinds(run(cfg, slow).findings, "slow_response")) == 1


def test_agent_to_customer_gap_is_not_slow_response(cfg):
    c = conv(utt("agent", 0, 3, "what is your account number"), utt("customer", 7, 9, "one moment"))
    assert kinds(run(cfg, c).findings, "slow_response") == []


def _review(cfg, c):
    info = AudioInfo("x.wav", "0" * 64, c.duration, 8000, 2, "stereo")
    return build_review(info, ModelInfo("tiny.en", None, "cpu"), c, analyze_turns(c, cfg.turns, cfg.severity), cfg)


def test_metrics_and_flag(cfg):
    c = conv(utt("agent", 0, 4, "thank you for calling how can I help"),
             utt("customer", 4.5, 10, LONG),
             utt("agent", 8.0, 12, "sorry to cut in what is your order number please"),
             utt("customer", 12.5, 20, LONG),
             utt("agent", 18.5, 22, "wait I need the order number first please"), duration=22.0)
    r = _review(cfg, c)
    m = r.metrics
    assert m.interruptions_by_agent == 2 and m.interruptions_by_customer == 0
    assert m.overlap_seconds == pytest.approx(3.5, abs=0.1)
    assert 0.5 < m.agent_talk_ratio < 0.6
    assert m.mean_response_latency == pytest.approx(0.0)  # both replies cut in: latency 0
    assert r.flagged and r.flag_reasons == ("2 agent interruptions",)


def test_no_speech_review_is_valid(cfg):
    r = _review(cfg, conv(duration=12.0))
    assert [f.type for f in r.findings] == ["no_speech"]
    assert r.flagged and r.metrics.agent_talk_ratio == 0 and r.metrics.mean_response_latency is None


def test_quiet_call_is_not_flagged(cfg):
    c = conv(utt("agent", 0, 3, "thank you for calling"), utt("customer", 3.4, 6, "hi I need a receipt"),
             utt("agent", 6.5, 9, "sure I will email it now"))
    r = _review(cfg, c)
    assert not r.flagged and r.flag_reasons == ()
