"""Empathy analysis: the pure logic, lexicon only (no model). The real-model checks (bars on the
labelled set, numpy port parity, batching cost) are in test_empathy_model.py."""
from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from audio_pipeline.analysis.empathy import (
    EMPATHY_CATEGORIES,
    analyze_empathy,
    classify_many,
    classify_utterance,
    empathy_metrics,
    load_lexicon,
)
from audio_pipeline.analysis.lexicon import normalise_text
from audio_pipeline.config import DEFAULT_CONFIG, ConfigError, EmpathyOptions, load_config
from audio_pipeline.types import Conversation, Utterance, Word

OPTS = load_config().empathy
LEX = load_lexicon(OPTS.lexicon_path)


@pytest.fixture(autouse=True)
def _no_disk_cache(monkeypatch: pytest.MonkeyPatch):
    # the fakes below must not leave exemplar vectors in the user's cache
    monkeypatch.setenv("AUDIO_PIPELINE_CACHE", "")


def utt(speaker: str, start: float, text: str, word_s: float = 0.3) -> Utterance:
    """An utterance with one Word per whitespace token, word_s seconds each."""
    words = tuple(Word(start + k * word_s, start + (k + 1) * word_s, tok) for k, tok in enumerate(text.split()))
    return Utterance(speaker, start, words[-1].end, text, words)  # type: ignore[arg-type]


def conv(*utts: Utterance) -> Conversation:
    return Conversation(tuple(utts), max(u.end for u in utts) + 1.0)


def kinds(text: str, speaker: str = "agent") -> set[tuple[str, str | None]]:
    return {(m.kind, m.category) for m in classify_utterance(text, speaker, LEX, None, OPTS)}


def types_of(findings) -> list[str]:
    return [f.type for f in findings]


# ------------------------------------------------------------------------------------------------
# configuration


def test_empathy_options_and_default_yaml_agree():
    section = yaml.safe_load(DEFAULT_CONFIG.read_text())["empathy"]
    assert set(section) == {f.name for f in fields(EmpathyOptions)}


def test_lexicon_categories_are_the_documented_ones():
    cats = {c.category for c in LEX.cues if c.kind == "empathy"}
    assert cats == set(EMPATHY_CATEGORIES)
    assert {c.kind for c in LEX.cues} == {"empathy", "dismissive", "sympathy", "distress"}


def test_bad_pattern_is_a_config_error(tmp_path: Path):
    bad = tmp_path / "lex.yaml"
    bad.write_text("dismissive:\n  patterns: ['calm (down']\n")
    with pytest.raises(ConfigError, match="bad pattern"):
        load_lexicon(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_lexicon(tmp_path / "missing.yaml")


# ------------------------------------------------------------------------------------------------
# categories and phrasing


@pytest.mark.parametrize("text, category", [
    ("I can only imagine how stressful that must have been.", "acknowledgement"),
    ("that sounds really frustrating", "acknowledgement"),
    ("I understand your frustration.", "acknowledgement"),
    ("It's completely understandable to feel upset about this.", "validation"),
    ("You have every right to be annoyed.", "validation"),
    ("I'd be frustrated too, honestly.", "validation"),
    ("I apologise you had to go through that.", "apology"),
    ("Sorry for the long wait today.", "apology"),
    ("We should have told you about the change, that was our mistake.", "apology"),
    ("Don't worry, we'll get this sorted for you.", "reassurance"),
    ("Leave it with me.", "reassurance"),
    ("So just to make sure I've got this right, you were billed twice?", "recap"),
    ("If I'm hearing you correctly the app crashes at login.", "recap"),
    ("Can you tell me a bit more about what happened?", "exploration"),
    ("When did you first notice it?", "exploration"),
    ("I'll call you back tomorrow to check it's working.", "follow_up"),
    ("I'll keep you in the loop.", "follow_up"),
])
def test_empathy_categories(text: str, category: str):
    assert ("empathy", category) in kinds(text)


@pytest.mark.parametrize("text", [
    "im sorry about that", "dont worry well sort it out", "ill call you back tomorrow",
    "i here you its been a nightmare", "i totally get why youre annoyed", "thats so frustrating honestly",
])
def test_asr_style_text_without_punctuation_or_apostrophes(text: str):
    assert any(k == "empathy" for k, _ in kinds(text))


def test_normalisation_folds_contractions_and_fillers():
    assert normalise_text("Um, I'm SORRY, you're right — it's not OK.") == "i am sorry you are right it is not okay"
    assert normalise_text("ill call you") == "i will call you"
    assert normalise_text("my mum is ill") == "my mum is ill"
    assert normalise_text("were going to fix it") == "we are going to fix it"
    assert normalise_text("were you the one") == "were you the one"


@pytest.mark.parametrize("text", [
    "Calm down, sir.", "There's nothing I can do about it.", "That's not my department.",
    "As I already told you, we can't do that.", "You should have read the terms.", "Like I said, no.",
    "please come down theres no need to shout",
])
def test_dismissive(text: str):
    assert ("dismissive", None) in kinds(text)


@pytest.mark.parametrize("text", ["I feel so sorry for you.", "Oh, poor you.", "That's too bad.", "What a shame."])
def test_sympathy_is_not_empathy(text: str):
    found = kinds(text)
    assert ("sympathy", None) in found
    assert not any(k == "empathy" for k, _ in found)


# ------------------------------------------------------------------------------------------------
# negation and sarcasm traps


@pytest.mark.parametrize("text", [
    "I don't understand why you'd do that.",
    "I'm not sorry to say it's fixed now.",
    "Sorry, could you repeat that?",
    "I understand you'd like to change your billing date.",
    "You should have a new router by Friday.",
    "There's nothing owing on the account.",
])
def test_neutral_look_alikes_are_not_cues(text: str):
    assert kinds(text) == set()


@pytest.mark.parametrize("text", [
    "I understand, but policy is policy.",
    "sorry but thats not my problem",
    "I hear you, but there's really nothing more we can do.",
    "I'm sorry you feel that way.",
    "Oh I'm sure that must be so hard for you.",
])
def test_polite_preface_to_a_brush_off_is_dismissive_only(text: str):
    found = kinds(text)
    assert ("dismissive", None) in found
    assert not any(k == "empathy" for k, _ in found), found


def test_apology_before_honest_bad_news_stays_an_apology():
    found = kinds("I'm sorry, but the refund can take up to five working days.")
    assert found == {("empathy", "apology")}


@pytest.mark.parametrize("text", [
    "I'm not worried about it, just curious.", "No worries, take your time.", "I'm not upset at all.",
    "Not a problem.", "I'm not angry with you, I know it's not your fault.",
])
def test_negated_distress_is_not_distress(text: str):
    assert kinds(text, "customer") == set()


@pytest.mark.parametrize("text, category", [
    ("This is the third time I've called about this!", "frustration"),
    ("oh great another hold just what i needed", "frustration"),
    ("If the internet's not back tomorrow I could lose my job.", "worry"),
    ("I want to speak to your manager.", "anger"),
    ("I've never been so angry in my life.", "anger"),
    ("I'm really disappointed, I expected better.", "disappointment"),
    ("I'm not happy with this at all.", "disappointment"),
    ("I'm confused, what is this charge?", "confusion"),
])
def test_customer_distress(text: str, category: str):
    assert ("distress", category) in kinds(text, "customer")


def test_roles_are_read_for_their_own_cues_only():
    assert kinds("calm down, this is ridiculous", "customer") == {("distress", "frustration")}
    assert kinds("This is ridiculous.", "agent") == set()
    assert kinds("I'm so sorry.", "other") == set()


# ------------------------------------------------------------------------------------------------
# findings, timestamps, evidence


def test_finding_is_narrowed_to_the_phrase_words():
    c = conv(utt("agent", 10.0, "Okay let me see. That sounds really stressful for you."))
    [f] = analyze_empathy(c, LEX, None, OPTS)
    assert f.type == "empathy" and f.category == "acknowledgement" and f.severity == "info"
    # "That" is token 4 -> 10 + 4 * 0.3
    assert f.start == pytest.approx(11.2)
    assert f.end < c.utterances[0].end
    assert f.evidence == "That sounds really stressful for you."
    assert f.rule.startswith('empathy.lexicon:"that sounds really stressful')
    assert f.extra == {}


def test_utterance_without_words_uses_its_own_span():
    u = Utterance("agent", 3.0, 6.0, "Calm down, please.")
    [f] = analyze_empathy(Conversation((u,), 7.0), LEX, None, OPTS)
    assert (f.type, f.start, f.end, f.severity) == ("dismissive", 3.0, 6.0, "critical")


def test_severities_come_from_options():
    opts = replace(OPTS, severity_dismissive="warning", severity_sympathy="warning")
    c = conv(utt("agent", 0.0, "Calm down. Oh, poor you."))
    assert {f.type: f.severity for f in analyze_empathy(c, LEX, None, opts)} == {
        "dismissive": "warning", "sympathy": "warning"}


def test_disabled_analysis_returns_nothing():
    c = conv(utt("agent", 0.0, "Calm down."))
    assert analyze_empathy(c, LEX, None, replace(OPTS, enabled=False)) == []


# ------------------------------------------------------------------------------------------------
# missed empathy


DISTRESS = "I've called three times about this and I'm so frustrated."


def test_missed_empathy_when_the_reply_ignores_the_distress():
    c = conv(utt("customer", 0.0, DISTRESS), utt("agent", 5.0, "Can I have your account number please?"))
    found = analyze_empathy(c, LEX, None, OPTS)
    assert types_of(found) == ["customer_distress", "missed_empathy"]
    cue, missed = found
    assert cue.speaker == "customer" and cue.category == "frustration" and cue.severity == "info"
    assert missed.speaker == "agent" and missed.severity == "warning" and missed.category == "frustration"
    assert (missed.start, missed.end) == (c.utterances[1].start, c.utterances[1].end)
    assert "so frustrated" in missed.evidence and "account number" in missed.evidence
    assert empathy_metrics(found)["missed_empathy"] == 1


def test_empathy_inside_the_window_clears_the_distress():
    c = conv(utt("customer", 0.0, DISTRESS),
             utt("agent", 5.0, "Can I have your account number please?"),
             utt("agent", 12.0, "I'm so sorry you've had to chase this."))
    assert "missed_empathy" not in types_of(analyze_empathy(c, LEX, None, OPTS))


def test_empathy_after_the_window_is_too_late():
    end_of_cue = utt("customer", 0.0, DISTRESS).end
    late = end_of_cue + OPTS.missed_window + 2.0
    c = conv(utt("customer", 0.0, DISTRESS),
             utt("agent", 5.0, "Can I have your account number please?"),
             utt("agent", late, "I'm so sorry you've had to chase this."))
    found = analyze_empathy(c, LEX, None, OPTS)
    assert types_of(found).count("missed_empathy") == 1
    [missed] = [f for f in found if f.type == "missed_empathy"]
    assert missed.end < late                       # placed on the replies inside the window only


def test_window_is_configurable():
    c = conv(utt("customer", 0.0, DISTRESS), utt("agent", 25.0, "I'm so sorry you've had to chase this."))
    assert "missed_empathy" in types_of(analyze_empathy(c, LEX, None, OPTS))
    assert "missed_empathy" not in types_of(analyze_empathy(c, LEX, None, replace(OPTS, missed_window=30.0)))


def test_sympathy_counts_as_acknowledging():
    c = conv(utt("customer", 0.0, DISTRESS), utt("agent", 4.0, "Oh, that's too bad. What's the postcode?"))
    found = analyze_empathy(c, LEX, None, OPTS)
    assert "sympathy" in types_of(found) and "missed_empathy" not in types_of(found)


def test_dismissive_reply_is_missed_empathy_too():
    c = conv(utt("customer", 0.0, DISTRESS), utt("agent", 3.0, "I understand, but policy is policy."))
    assert sorted(types_of(analyze_empathy(c, LEX, None, OPTS))) == ["customer_distress", "dismissive", "missed_empathy"]


def test_silent_agent_gets_a_window_after_the_cue():
    c = Conversation((utt("customer", 0.0, DISTRESS),), 60.0)
    [_, missed] = analyze_empathy(c, LEX, None, OPTS)
    cue_end = c.utterances[0].end
    assert (missed.start, missed.end) == (pytest.approx(cue_end), pytest.approx(cue_end + OPTS.missed_window))
    assert "nothing within" in missed.evidence


def test_one_missed_finding_per_distress_moment():
    # two cues in one customer turn (the agent only backchannels) are one moment; a cue after a
    # real agent reply is a second one
    c = conv(utt("customer", 0.0, "This is ridiculous."),
             utt("agent", 1.5, "mm hmm"),
             utt("customer", 2.5, "I'm so fed up with it."),
             utt("agent", 5.0, "Okay, what's the account number?"),
             utt("customer", 30.0, "I'm really worried the payment will bounce."),
             utt("agent", 33.0, "It's processed on Monday."))
    found = analyze_empathy(c, LEX, None, OPTS)
    assert types_of(found).count("customer_distress") == 3
    missed = [f for f in found if f.type == "missed_empathy"]
    assert [m.category for m in missed] == ["frustration", "worry"]
    # placed on the agent's reply, not on the "mm hmm" while the customer was still talking
    assert missed[0].start == 5.0


def test_missed_empathy_points_at_the_reply_not_a_backchannel():
    c = conv(utt("customer", 0.0, DISTRESS + " I work from home and lose my calls."),
             utt("agent", 2.0, "mm hmm"),
             utt("agent", 7.0, "Have you tried restarting the router?"))
    [missed] = [f for f in analyze_empathy(c, LEX, None, OPTS) if f.type == "missed_empathy"]
    assert (missed.start, missed.end) == (c.utterances[2].start, c.utterances[2].end)
    assert "restarting the router" in missed.evidence and "mm hmm" not in missed.evidence


def test_confusion_is_shown_but_wants_an_answer_not_empathy():
    c = conv(utt("customer", 0.0, "I'm confused, what is this charge?"),
             utt("agent", 3.0, "That's the premium channels from March."))
    found = analyze_empathy(c, LEX, None, OPTS)
    assert types_of(found) == ["customer_distress"]
    assert found[0].category == "confusion"


def test_metrics():
    c = conv(utt("customer", 0.0, DISTRESS),
             utt("agent", 3.0, "I'm so sorry. Calm down though."),
             utt("agent", 8.0, "Oh poor you. I'll call you back tomorrow."))
    m = empathy_metrics(analyze_empathy(c, LEX, None, OPTS))
    assert m == {"empathy_statements": 2, "empathy_by_category": {"apology": 1, "follow_up": 1},
                 "dismissive_statements": 1, "sympathy_statements": 1, "customer_distress": 1,
                 "missed_empathy": 0}


def test_empty_conversation():
    assert analyze_empathy(Conversation((), 0.0), LEX, None, OPTS) == []
    assert empathy_metrics([])["empathy_statements"] == 0


# ------------------------------------------------------------------------------------------------
# semantic plumbing (a counting fake; the real model is tested in test_empathy_model.py)


class CountingEmbedder:
    """Deterministic bag-of-words vectors; records every encode call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, texts):
        self.calls.append(len(texts))
        out = np.zeros((len(texts), 64), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in normalise_text(t).split():
                out[i, hash(w) % 64] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def test_one_encode_per_call_and_exemplars_cached():
    emb = CountingEmbedder()
    c = conv(utt("customer", 0.0, "hello I have a question about the thing on my account"),
             utt("agent", 4.0, "sure let me have a look at that for you right now"),
             utt("customer", 9.0, "it is the one from last tuesday with the long number"))
    analyze_empathy(c, LEX, emb, OPTS)
    first = list(emb.calls)
    assert len(first) == 3                     # the call's sentences, agent and customer exemplars
    assert first[0] == 3                       # all sentences of the call in one batch
    analyze_empathy(c, LEX, emb, OPTS)
    assert emb.calls[len(first):] == [3]       # exemplars are not encoded again


def test_long_unpunctuated_utterance_is_split_into_windows():
    emb = CountingEmbedder()
    words = ("so yeah the thing is we looked at the account and there is a payment and then another "
             "payment and then a third one and i am not sure which one you mean").split()
    classify_utterance(" ".join(words), "agent", LEX, emb, OPTS)
    n_windows = emb.calls[0]                   # the windows go first, then the exemplars
    assert len(words) > OPTS.max_sentence_words and n_windows >= 3


def test_semantic_off_never_calls_the_embedder():
    emb = CountingEmbedder()
    classify_many([("how are you doing today my friend", "agent")], LEX, emb, replace(OPTS, semantic=False))
    assert emb.calls == []
