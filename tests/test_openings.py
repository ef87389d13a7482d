"""Greetings and self-introductions in everyday forms; roles marked uncertain below the configured
confidence (pure logic, hand-written lines)."""
from __future__ import annotations

import dataclasses

import pytest

from audio_pipeline.openings import answering_shape
from audio_pipeline.roles import assign_roles, uncertain_finding

from .conftest import utt

AGENT_FIRST_LINES = [
    "Good afternoon, Acme Energy, Priya speaking.",
    "Northwind Telecom, this is Sam.",
    "You're through to the billing team, Jo speaking, how can I help?",
    "Hello, Brightside Insurance, how may I direct your call?",
    "Morning, Parcelnet, Dev here.",
    "Thanks for ringing Harbour Bank, it's Alex.",
    "You've reached customer support, my name is Lee.",
    "Hi there, you're speaking with Morgan at Greenleaf, what can I do for you today?",
    "Claims department, Ruth speaking.",
]
CUSTOMER_FIRST_LINES = [
    "Hi, yes, I'm ringing about my electricity bill.",
    "Hello, is that Acme Energy? I've got a problem with my meter.",
    "Yeah hi, I need some help with an order.",
    "Hi, my name is Tom Baker and I'm calling because my parcel never came.",
    "Oh hello, I was wondering if you could help me with my account.",
]


@pytest.mark.parametrize("line", ["Good afternoon, Acme Energy, Priya speaking.", "Northwind, this is Sam.",
                                  "Billing, Jo here.", "Hello. Harbour Bank. How can I help?"])
def test_answering_shape_finds_the_leading_name(line):
    assert answering_shape(line)


@pytest.mark.parametrize("line", ["Hi, I'm calling about my bill.", "Yes, hello, is that the bank?",
                                  "Hello?", "Okay, thanks.", "Sorry, I didn't catch that."])
def test_callers_lines_have_no_answering_shape(line):
    assert answering_shape(line) is None


@pytest.mark.parametrize("agent_line", AGENT_FIRST_LINES)
@pytest.mark.parametrize("customer_line", CUSTOMER_FIRST_LINES[:3])
def test_everyday_openings_make_the_agent_sure(cfg, agent_line, customer_line):
    # the two first lines in either label order: the decision must not depend on label names
    for a, c in (("SPEAKER_00", "SPEAKER_01"), ("SPEAKER_01", "SPEAKER_00")):
        decision = assign_roles({a: [utt(a, 0.4, 3.5, agent_line)], c: [utt(c, 4.0, 7.0, customer_line)]},
                                cfg.diarization)
        assert decision.mapping == {a: "agent", c: "customer"}, (agent_line, customer_line, decision)
        assert not decision.uncertain


def test_agent_found_when_the_caller_speaks_first(cfg):
    decision = assign_roles({
        "SPEAKER_00": [utt("SPEAKER_00", 0.3, 1.0, "Hello?")],
        "SPEAKER_01": [utt("SPEAKER_01", 1.5, 4.5, "Hi, Northwind Telecom, this is Sam, I'm returning your call.")],
    }, cfg.diarization)
    assert decision.mapping["SPEAKER_01"] == "agent"


def test_no_opening_cue_is_marked_uncertain_with_a_finding(cfg):
    decision = assign_roles({
        "SPEAKER_00": [utt("SPEAKER_00", 0.5, 2.0, "Okay."), utt("SPEAKER_00", 6.0, 9.0, "That was last Tuesday.")],
        "SPEAKER_01": [utt("SPEAKER_01", 2.5, 5.5, "And when did it arrive?")],
    }, cfg.diarization)
    assert decision.uncertain and decision.confidence < cfg.diarization.roles_min_confidence
    finding = uncertain_finding(decision, 10.0)
    assert finding.type == "roles_uncertain" and finding.severity == "warning"
    assert "--agent-speaker" in finding.message


def test_override_is_never_uncertain(cfg):
    opts = dataclasses.replace(cfg.diarization, agent_speaker="SPEAKER_01")
    decision = assign_roles({"SPEAKER_00": [utt("SPEAKER_00", 0.5, 2.0, "Okay.")],
                             "SPEAKER_01": [utt("SPEAKER_01", 2.5, 5.5, "And when did it arrive?")]}, opts)
    assert decision.mapping["SPEAKER_01"] == "agent" and not decision.uncertain


def test_threshold_comes_from_the_config(cfg):
    voices = {"SPEAKER_00": [utt("SPEAKER_00", 0.4, 3.0, "Acme Energy, Priya speaking.")],
              "SPEAKER_01": [utt("SPEAKER_01", 3.5, 6.0, "Hi, I'm ringing about my bill.")]}
    sure = assign_roles(voices, cfg.diarization)
    strict = assign_roles(voices, dataclasses.replace(cfg.diarization, roles_min_confidence=0.999))
    assert not sure.uncertain and strict.uncertain and strict.mapping == sure.mapping


def test_both_voices_introducing_themselves_is_uncertain(cfg):
    # an outbound call: the customer answers with their name, the agent introduces themselves with
    # the company; neither says anything only an answering agent says
    decision = assign_roles({
        "SPEAKER_00": [utt("SPEAKER_00", 0.3, 1.5, "Hello, Raj speaking."),
                       utt("SPEAKER_00", 7.0, 8.5, "Oh right, yes, go on.")],
        "SPEAKER_01": [utt("SPEAKER_01", 2.0, 6.5, "Hi Raj, it's Carla from Northgate Water, I'm ringing about "
                                                   "the leak report you made.")],
    }, cfg.diarization)
    assert decision.uncertain and decision.confidence < cfg.diarization.roles_min_confidence


def test_a_phrase_only_an_answering_agent_says_is_still_sure_against_a_callers_introduction(cfg):
    decision = assign_roles({
        "SPEAKER_00": [utt("SPEAKER_00", 0.3, 3.0, "Thanks for calling Harbour Bank, Alex speaking, how can I help?")],
        "SPEAKER_01": [utt("SPEAKER_01", 3.5, 7.0, "Hi Alex, it's Dana from the bakery on King Street.")],
    }, cfg.diarization)
    assert decision.mapping == {"SPEAKER_00": "agent", "SPEAKER_01": "customer"} and not decision.uncertain


@pytest.mark.parametrize("prompt", [
    "Hi, I'm Max, the virtual assistant for Brightline. In a few words, tell me what you're calling about.",
    "Welcome to Brightline. Please say or enter your account number, followed by the hash key.",
])
def test_recorded_prompts_that_name_themselves_are_not_the_agent(cfg, prompt):
    decision = assign_roles({
        "SPEAKER_02": [utt("SPEAKER_02", 0.0, 6.0, prompt)],
        "SPEAKER_01": [utt("SPEAKER_01", 6.5, 8.0, "Billing, please."),
                       utt("SPEAKER_01", 14.0, 18.0, "Hi, yes, I've been charged twice this month.")],
        "SPEAKER_00": [utt("SPEAKER_00", 10.0, 13.5, "Hello, you're through to billing, Sam speaking, how can I help?")],
    }, cfg.diarization)
    assert decision.mapping == {"SPEAKER_00": "agent", "SPEAKER_01": "customer", "SPEAKER_02": "other"}


def test_a_caller_first_vote_is_uncertain_when_the_other_voice_names_themselves(cfg):
    decision = assign_roles({
        "SPEAKER_00": [utt("SPEAKER_00", 0.3, 4.0, "Hi, it's Marcus, from number twelve? I rang on Monday about the boiler.")],
        "SPEAKER_01": [utt("SPEAKER_01", 4.5, 7.5, "Hello Marcus, I'm Steph, I've got your notes from Monday here.")],
    }, cfg.diarization)
    assert decision.uncertain, decision


def test_an_answering_greeting_met_by_calling_from_an_organisation_is_uncertain(cfg):
    # an outbound call to a business: the customer answers as their company would; the agent rings
    # on the supplier's behalf
    decision = assign_roles({
        "SPEAKER_00": [utt("SPEAKER_00", 0.3, 3.5, "Good morning, Lowe and Partners, Rachel speaking, how can I help?")],
        "SPEAKER_01": [utt("SPEAKER_01", 4.0, 9.0, "Hi Rachel, my name's Imran, I'm calling from Copyserve about your "
                                                   "photocopier lease.")],
    }, cfg.diarization)
    assert decision.uncertain and decision.confidence < cfg.diarization.roles_min_confidence, decision


def test_an_introduction_is_uncertain_when_the_other_voice_names_themselves(cfg):
    decision = assign_roles({
        "SPEAKER_00": [utt("SPEAKER_00", 0.3, 4.0, "Hello, is that Deirdre? It's Noreen Walsh here, I was in last week.")],
        "SPEAKER_01": [utt("SPEAKER_01", 4.5, 8.0, "Hi Noreen, no, it's Claire, Deirdre's off today. How are you getting on?")],
    }, cfg.diarization)
    assert decision.uncertain, decision
