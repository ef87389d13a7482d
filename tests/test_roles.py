"""Role assignment and word attribution for mono calls, on hand-built speech (no models)."""
from __future__ import annotations

import dataclasses

import pytest

from audio_pipeline.diarize import (UNHEARD, Diarization, SpeakerTurn, attribute_words, diarized_utterances,
                                    overlapped_utterances, speech_activity, split_utterances)
from audio_pipeline.roles import assign_roles
from audio_pipeline.transcribe import AsrSegment
from audio_pipeline.types import Utterance, Word

from .conftest import utt


@pytest.fixture
def opts(cfg):
    return cfg.diarization


def by_label(*utterances: Utterance) -> dict[str, list[Utterance]]:
    out: dict[str, list[Utterance]] = {}
    for u in utterances:
        out.setdefault(u.speaker, []).append(u)
    return out


# ----------------------------------------------------------------------------------------- roles


def test_greeting_by_second_speaker_makes_them_the_agent(opts):
    # the customer speaks first (an outbound call picked up), the agent introduces the company
    decision = assign_roles(by_label(
        utt("SPEAKER_00", 0.5, 1.2, "Hello?"),
        utt("SPEAKER_01", 1.8, 5.0, "Hi, this is Dana from Northwind Energy, am I speaking with Mr Lee?"),
        utt("SPEAKER_00", 5.5, 6.5, "Yes, that's me."),
        utt("SPEAKER_01", 7.0, 12.0, "Thank you for your time, I'm calling about your renewal offer."),
    ), opts)
    assert decision.mapping == {"SPEAKER_00": "customer", "SPEAKER_01": "agent"}
    assert decision.method in ("greeting", "introduction")
    assert 0.6 <= decision.confidence <= 1.0
    assert "SPEAKER_01" in decision.evidence and "from northwind" in decision.evidence


def test_inbound_greeting_beats_customer_introducing_themselves(opts):
    decision = assign_roles(by_label(
        utt("SPEAKER_01", 0.3, 4.0, "Thank you for calling Acme, my name is Sam, how can I help you today?"),
        utt("SPEAKER_00", 4.5, 9.0, "Hi, my name is John, I'm calling about my bill, it's wrong again."),
    ), opts)
    assert decision.mapping == {"SPEAKER_00": "customer", "SPEAKER_01": "agent"}
    assert decision.method == "greeting"
    assert decision.confidence > 0.8


def test_no_greeting_falls_back_to_first_speaker_and_talk_pattern(opts):
    decision = assign_roles(by_label(
        utt("SPEAKER_00", 0.5, 2.0, "Good morning."),
        utt("SPEAKER_01", 2.5, 6.0, "Morning. So the router keeps dropping the connection every evening."),
        utt("SPEAKER_00", 6.5, 8.0, "When did that start?"),
        utt("SPEAKER_01", 8.5, 10.0, "Last week."),
        utt("SPEAKER_00", 10.5, 12.0, "Have you restarted it?"),
    ), opts)
    assert decision.mapping == {"SPEAKER_00": "agent", "SPEAKER_01": "customer"}
    assert decision.method == "first_speaker"
    assert 0.5 <= decision.confidence < 0.9  # a fallback is never as sure as a greeting
    assert "spoke first" in decision.evidence


def test_talk_pattern_can_outvote_the_first_speaker(opts):
    # the customer blurts first; the other voice asks all the questions and talks more
    decision = assign_roles(by_label(
        utt("SPEAKER_00", 0.2, 1.0, "Yeah, hi."),
        utt("SPEAKER_01", 1.5, 4.0, "Could you tell me the account holder's full name please?"),
        utt("SPEAKER_00", 4.5, 5.5, "Maria Gomez."),
        utt("SPEAKER_01", 6.0, 8.0, "And what is the postcode on the account?"),
        utt("SPEAKER_00", 8.5, 9.0, "SW1."),
        utt("SPEAKER_01", 9.5, 12.0, "Is this about the delivery that was delayed yesterday?"),
    ), opts)
    assert decision.mapping["SPEAKER_01"] == "agent"
    assert decision.method == "talk_pattern"


def test_override_wins_over_phrases(opts):
    calls = by_label(utt("SPEAKER_00", 0.0, 3.0, "Thank you for calling, how can I help?"),
                     utt("SPEAKER_01", 3.5, 6.0, "Hi, my bill is wrong."))
    decision = assign_roles(calls, dataclasses.replace(opts, agent_speaker="SPEAKER_01"))
    assert decision.mapping == {"SPEAKER_00": "customer", "SPEAKER_01": "agent"}
    assert (decision.method, decision.confidence) == ("override", 1.0)


def test_override_naming_an_absent_label_is_ignored(opts):
    calls = by_label(utt("SPEAKER_00", 0.0, 3.0, "Thank you for calling, how can I help?"),
                     utt("SPEAKER_01", 3.5, 6.0, "Hi, my bill is wrong."))
    decision = assign_roles(calls, dataclasses.replace(opts, agent_speaker="SPEAKER_07"))
    assert decision.mapping["SPEAKER_00"] == "agent" and decision.method == "greeting"


def test_third_voice_is_kept_as_other_not_merged_into_customer(opts):
    decision = assign_roles(by_label(
        utt("SPEAKER_02", 0.0, 9.0, "Your call is important to us. Calls may be recorded for quality and "
                                    "training purposes. Please hold for the next available agent."),
        utt("SPEAKER_00", 12.0, 16.0, "Hi there, you're through to Acme support, my name is Kim."),
        utt("SPEAKER_01", 16.5, 24.0, "Hi Kim, I'm calling about a charge on my card I don't recognise."),
        utt("SPEAKER_00", 24.5, 30.0, "I'm sorry to hear that, let me check your account."),
        utt("SPEAKER_01", 30.5, 36.0, "Thanks, it's the one from the fourth of May."),
    ), opts)
    assert decision.mapping == {"SPEAKER_00": "agent", "SPEAKER_01": "customer", "SPEAKER_02": "other"}
    assert "SPEAKER_02 kept as other" in decision.evidence


def test_transferred_second_agent_is_other(opts):
    decision = assign_roles(by_label(
        utt("SPEAKER_00", 0.0, 4.0, "Thank you for calling Acme, how can I help?"),
        utt("SPEAKER_01", 4.5, 12.0, "I'd like to cancel my subscription, it's far too expensive for me."),
        utt("SPEAKER_00", 12.5, 15.0, "Let me transfer you to retentions."),
        utt("SPEAKER_02", 20.0, 25.0, "Hello, this is Priya in retentions, I see you want to cancel."),
        utt("SPEAKER_01", 25.5, 33.0, "Yes, please cancel it today, I've been trying for weeks now."),
    ), opts)
    assert decision.mapping == {"SPEAKER_00": "agent", "SPEAKER_01": "customer", "SPEAKER_02": "other"}


def test_tiny_third_cluster_is_merged_into_the_voice_it_sits_in(opts):
    decision = assign_roles(by_label(
        utt("SPEAKER_00", 0.0, 4.0, "Thank you for calling Acme, how can I help?"),
        utt("SPEAKER_01", 4.5, 20.0, "My parcel never arrived and the tracking page says it was delivered."),
        utt("SPEAKER_02", 20.1, 20.6, "yesterday"),  # a fragment of the customer, clustered apart
        utt("SPEAKER_01", 20.7, 30.0, "and nobody has called me back since, which is really frustrating."),
        utt("SPEAKER_00", 30.5, 40.0, "I'm sorry about that, let me look into it for you right away."),
    ), opts)
    assert decision.mapping["SPEAKER_02"] == "customer"
    assert decision.mapping["SPEAKER_00"] == "agent"
    assert "SPEAKER_02" in decision.evidence and "merged" in decision.evidence


def test_other_min_share_decides_between_merge_and_other(opts):
    calls = by_label(utt("SPEAKER_00", 0.0, 10.0, "Thank you for calling Acme, how can I help you today?"),
                     utt("SPEAKER_01", 10.5, 20.0, "My parcel never arrived and the tracking says delivered."),
                     utt("SPEAKER_02", 20.5, 21.5, "press one for sales"))
    assert assign_roles(calls, dataclasses.replace(opts, other_min_share=0.2)).mapping["SPEAKER_02"] != "other"
    assert assign_roles(calls, dataclasses.replace(opts, other_min_share=0.01)).mapping["SPEAKER_02"] == "other"


def test_no_speech_and_single_voice(opts):
    assert assign_roles({}, opts).method == "no_speech"
    one = assign_roles(by_label(utt("SPEAKER_00", 0, 5, "Hello, you've reached Acme, please leave a message.")), opts)
    assert one.mapping == {"SPEAKER_00": "agent"} and one.method == "single_speaker"


# -------------------------------------------------------------------------------- word attribution

A, C = "SPEAKER_00", "SPEAKER_01"


def words(start: float, end: float, text: str) -> list[Word]:
    return list(utt("x", start, end, text).words)


def test_words_go_to_the_turn_they_overlap_most():
    dia = Diarization.from_turns([SpeakerTurn(0.0, 3.0, A), SpeakerTurn(3.2, 6.0, C)])
    ws = [Word(0.5, 0.9, "hello"), Word(2.8, 3.4, "straddles"), Word(3.5, 3.9, "hi"), Word(7.0, 7.3, "late")]
    labels = [label for label, _ in attribute_words(ws, dia)]
    # "straddles": 0.2 s in A's turn, 0.2 s in C's -> tie, the later turn wins; "late": nearest turn
    assert labels == [A, C, C, C]


def test_word_in_overlap_goes_to_the_voice_that_cut_in():
    dia = Diarization.from_turns([SpeakerTurn(0.0, 5.0, C), SpeakerTurn(4.0, 8.0, A)])
    assert dia.overlap == ((4.0, 5.0),)
    labelled = attribute_words([Word(3.0, 3.5, "waiting"), Word(4.2, 4.6, "sorry"), Word(6.0, 6.5, "but")], dia)
    assert [label for label, _ in labelled] == [C, A, A]


def test_exclusive_turns_decide_overlapped_words_when_present():
    turns = [SpeakerTurn(0.0, 5.0, C), SpeakerTurn(4.0, 8.0, A)]
    exclusive = [SpeakerTurn(0.0, 5.0, C), SpeakerTurn(5.0, 8.0, A)]  # the customer dominates the overlap
    dia = Diarization.from_turns(turns, exclusive)
    assert [lb for lb, _ in attribute_words([Word(4.2, 4.6, "weeks")], dia)] == [C]


def test_split_at_speaker_change_gap_and_turn_in_between():
    dia = Diarization.from_turns([SpeakerTurn(0, 4, A), SpeakerTurn(4.2, 4.8, C), SpeakerTurn(5.0, 12, A)])
    labelled = [(A, w) for w in words(0.0, 4.0, "one two three four")]
    labelled += [(A, w) for w in words(5.0, 6.0, "five six")]  # 1 s pause: C spoke in it (no words)
    labelled += [(A, w) for w in words(9.0, 10.0, "seven eight")]  # 3 s pause > max_gap
    labelled += [(C, w) for w in words(10.0, 11.0, "nine ten")]
    parts = split_utterances(labelled, dia, max_gap=1.5)
    assert [(lb, " ".join(w.text for w in ws)) for lb, ws in parts] == [
        (A, "one two three four"), (A, "five six"), (A, "seven eight"), (C, "nine ten")]


def test_interruption_stays_visible_in_mono():
    """The agent cuts in at 14 s; the customer keeps talking to 15 s but the ASR gave those seconds'
    words to the agent. Both utterances must overlap in word timing for the turn analysis."""
    dia = Diarization.from_turns([SpeakerTurn(10.0, 15.0, C), SpeakerTurn(14.0, 18.0, A)])
    labelled = attribute_words(words(10.0, 14.0, "I have been waiting three weeks and")
                               + words(14.0, 18.0, "okay let me stop you there sir"), dia)
    utterances = overlapped_utterances(split_utterances(labelled, dia, 1.5), dia)
    cust, agent = sorted(utterances, key=lambda u: u.speaker != C)
    assert (cust.speaker, agent.speaker) == (C, A)
    assert cust.words[-1] == Word(14.0, 15.0, UNHEARD, 0.0) and cust.end == 15.0
    assert agent.words[0].start == 14.0 and agent.words[0].text == "okay"
    assert cust.text.endswith("and …")


def test_interruption_visible_when_the_asr_heard_the_interrupted_voice():
    # the customer's words run to 15 s; the agent's first transcribed word comes after the overlap
    dia = Diarization.from_turns([SpeakerTurn(10.0, 15.0, C), SpeakerTurn(14.0, 18.0, A)],
                                 [SpeakerTurn(10.0, 15.0, C), SpeakerTurn(15.0, 18.0, A)])
    labelled = attribute_words(words(10.0, 15.0, "I have been waiting three weeks now") + words(15.0, 18.0, "let me stop"), dia)
    utterances = overlapped_utterances(split_utterances(labelled, dia, 1.5), dia)
    agent = next(u for u in utterances if u.speaker == A)
    assert agent.words[0] == Word(14.0, 15.0, UNHEARD, 0.0) and agent.start == 14.0


def test_a_cut_in_whose_words_start_after_a_pause_keeps_its_overlapped_speech():
    # the customer cuts in at 14 s; every word of the overlap went to the agent, and the customer's
    # own first word comes 0.8 s after the overlap ends
    dia = Diarization.from_turns([SpeakerTurn(10.0, 15.5, A), SpeakerTurn(14.0, 15.2, C), SpeakerTurn(16.0, 19.0, C)],
                                 [SpeakerTurn(10.0, 15.5, A), SpeakerTurn(16.0, 19.0, C)])
    labelled = attribute_words(words(10.0, 15.5, "our engineers are on site and expect it back tonight")
                               + words(16.0, 19.0, "I work from home"), dia)
    utterances = overlapped_utterances(split_utterances(labelled, dia, 1.5), dia)
    cust = [u for u in utterances if u.speaker == C]
    assert [(u.start, u.end, u.text) for u in cust] == [(14.0, 15.2, UNHEARD), (16.0, 19.0, "I work from home")]


def test_a_blip_of_overlapped_speech_is_not_a_cut_in():
    dia = Diarization.from_turns([SpeakerTurn(10.0, 15.6, C), SpeakerTurn(15.05, 15.32, A), SpeakerTurn(15.9, 18.6, A)],
                                 [SpeakerTurn(10.0, 15.6, C), SpeakerTurn(15.9, 18.6, A)])
    labelled = attribute_words(words(10.0, 15.6, "my neighbours have not seen it either")
                               + words(15.9, 18.6, "what is the full name"), dia)
    utterances = overlapped_utterances(split_utterances(labelled, dia, 1.5), dia)
    assert all(w.text != UNHEARD for u in utterances for w in u.words)


def test_short_overlap_at_a_turn_change_is_not_padded():
    dia = Diarization.from_turns([SpeakerTurn(0.0, 4.1, C), SpeakerTurn(4.0, 8.0, A)])
    labelled = attribute_words(words(0.0, 4.0, "it broke again") + words(4.0, 8.0, "I see, let me check"), dia)
    utterances = overlapped_utterances(split_utterances(labelled, dia, 1.5), dia)
    assert all(w.text != UNHEARD for u in utterances for w in u.words)


def test_speech_activity_by_role():
    dia = Diarization.from_turns([SpeakerTurn(0, 2, A), SpeakerTurn(1.5, 4, C), SpeakerTurn(3, 5, A),
                                  SpeakerTurn(4.5, 6, "SPEAKER_02")])
    act = speech_activity(dia, {A: "agent", C: "customer", "SPEAKER_02": "customer"})
    assert act == {"agent": [(0, 2), (3, 5)], "customer": [(1.5, 4), (4.5, 6)]}


def test_diarized_utterances_end_to_end(cfg):
    dia = Diarization.from_turns([SpeakerTurn(0.0, 3.0, C), SpeakerTurn(3.5, 7.0, A)])
    segments = [AsrSegment(0.2, 3.0, "Thank you for calling Acme, how can I help?",
                           tuple(words(0.2, 3.0, "Thank you for calling Acme, how can I help?"))),
                AsrSegment(3.5, 7.0, "My bill is wrong.", tuple(words(3.5, 7.0, "My bill is wrong.")))]
    utterances, decision = diarized_utterances(segments, dia, cfg)
    assert [u.speaker for u in utterances] == ["agent", "customer"]
    assert decision.mapping == {C: "agent", A: "customer"}
    forced = diarized_utterances(segments, dia, cfg, agent_speaker=A)[1]
    assert forced.mapping == {C: "customer", A: "agent"} and forced.method == "override"


def test_customer_cut_in_found_by_the_turn_analysis_in_mono(cfg):
    """samples/sample_crosstalk.flac mixed to mono: the agent's turn resumes 0.3 s after its last
    transcribed word, under the customer who cut in; the ASR gave the overlapped words to the
    customer. The shared turn analysis must still report the customer's interruption."""
    from audio_pipeline.analysis.turns import analyze_turns
    from audio_pipeline.types import Conversation

    dia = Diarization.from_turns(
        [SpeakerTurn(19.5, 23.82, A), SpeakerTurn(24.06, 25.98, C), SpeakerTurn(24.09, 25.04, A),
         SpeakerTurn(26.41, 29.93, C)],
        [SpeakerTurn(19.5, 23.82, A), SpeakerTurn(24.06, 25.98, C), SpeakerTurn(26.41, 29.93, C)])
    segments = [AsrSegment(19.7, 24.08, "", tuple(words(19.7, 24.08, "so your visit was moved to this afternoon."))),
                AsrSegment(24.52, 29.84, "", tuple(words(24.52, 25.92, "thank you for holding me anything.")
                                                   + words(26.6, 29.84, "I am really frustrated.")))]
    utterances, _ = diarized_utterances(segments, dia, cfg, agent_speaker=A)
    agent = next(u for u in utterances if u.speaker == "agent")
    assert agent.words[-1] == Word(24.08, 25.04, UNHEARD, 0.0)
    found = analyze_turns(Conversation(tuple(utterances), 30.0), cfg.turns, cfg.severity).findings
    cut_ins = [f for f in found if f.type == "interruption"]
    assert [(f.speaker, round(f.start, 2)) for f in cut_ins] == [("customer", 24.06)]


def test_cut_in_whose_words_cover_most_of_the_overlap_is_still_found(cfg):
    """bench call_09: 0.59 s of overlap, but the agent's words reach 0.4 s into it; only 0.2 s of the
    agent's speech is left unworded. The whole overlap must count, not just the unworded part."""
    from audio_pipeline.analysis.turns import analyze_turns
    from audio_pipeline.types import Conversation

    dia = Diarization.from_turns([SpeakerTurn(38.24, 42.27, A), SpeakerTurn(41.68, 44.41, C),
                                  SpeakerTurn(44.92, 46.39, A)])
    segments = [AsrSegment(38.35, 42.07, "", tuple(words(38.35, 42.07, "because the hotel is fully booked for"))),
                AsrSegment(42.07, 44.33, "", tuple(words(42.07, 44.33, "a desk. So where are we supposed to sleep?"))),
                AsrSegment(44.95, 46.4, "", tuple(words(44.95, 46.4, "I'll make sure you have a room")))]
    utterances, _ = diarized_utterances(segments, dia, cfg, agent_speaker=A)
    found = analyze_turns(Conversation(tuple(utterances), 47.0), cfg.turns, cfg.severity).findings
    assert [(f.speaker, round(f.start, 2)) for f in found if f.type == "interruption"] == [("customer", 41.68)]
