"""The trained phrasing model: its file format, the corpus reader, the decision rules over its
probabilities (pure), and the shipped head on lines written here (not in the corpus)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from audio_pipeline.analysis import empathy as emp
from audio_pipeline.analysis.classified import Scored, acknowledgement, decide
from audio_pipeline.config import load_config
from audio_pipeline.language import load_phrasing_model
from audio_pipeline.models import ModelNotFound
from audio_pipeline.phrasing import corpus, moments
from audio_pipeline.phrasing.features import LEXICON_FLAGS, assemble, context_vector, flags
from audio_pipeline.phrasing.labels import AGENT_HEADS, CUSTOMER_HEADS, targets
from audio_pipeline.phrasing.model import PhrasingModel, PhrasingModelError, SpeakerHead, load

from tests.conftest import ROOT, conv, utt

OPTS = load_config().empathy
LEX = emp.load_lexicon(OPTS.lexicon_path)
DATA = ROOT / "data" / "phrasing"


# ------------------------------------------------------------------------------- format, corpus

def _random_model(dim: int = 20, seed: int = 0) -> PhrasingModel:
    rng = np.random.default_rng(seed)
    sides = {}
    for speaker, names in (("agent", AGENT_HEADS), ("customer", CUSTOMER_HEADS)):
        layers = ((rng.normal(size=(dim, 8)).astype(np.float32), rng.normal(size=8).astype(np.float32)),
                  (rng.normal(size=(8, len(names))).astype(np.float32), rng.normal(size=len(names)).astype(np.float32)))
        sides[speaker] = SpeakerHead(names, layers, np.full(len(names), 0.7, np.float32), np.zeros(len(names), np.float32))
    return PhrasingModel("enc:test", dim, sides, {"trained": "today"})


def test_model_file_round_trip(tmp_path: Path):
    model = _random_model()
    model.save(tmp_path / "head.npz")
    again = load(tmp_path / "head.npz")
    x = np.random.default_rng(1).normal(size=(5, 20)).astype(np.float32)
    for speaker in ("agent", "customer"):
        a, b = model.predict(speaker, x), again.predict(speaker, x)
        assert set(a) == set(b)
        for h in a:
            np.testing.assert_allclose(a[h], b[h], rtol=1e-6)
            assert np.all((a[h] >= 0) & (a[h] <= 1))
    assert again.encoder == "enc:test" and again.meta["trained"] == "today"


def test_unreadable_model_file_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "head.npz"
    bad.write_text("not a model")
    with pytest.raises(PhrasingModelError, match="cannot read"):
        load(bad)


def test_head_for_another_encoder_is_refused():
    embedder = type("E", (), {"identity": "other-encoder:1"})()
    with pytest.raises(ModelNotFound, match="trained on encoder"):
        load_phrasing_model(OPTS, embedder)


def test_missing_model_names_the_fix(tmp_path: Path):
    embedder = type("E", (), {"identity": "x"})()
    with pytest.raises(ModelNotFound, match="make train-phrasing"):
        load_phrasing_model(replace(OPTS, model=str(tmp_path / "none.npz")), embedder)
    assert load_phrasing_model(replace(OPTS, model="none"), embedder) is None


def test_examples_carry_the_turns_before_them_and_valid_labels_only():
    d = {"id": "z-0001", "batch": "z", "turns": [
        {"speaker": "agent", "text": "Hello, Acme.", "labels": []},
        {"speaker": "customer", "text": "My heating's off and my dad's ninety.", "labels": ["worry", "empathy:recap"]},
        {"speaker": "agent", "text": "Oh no, let's get someone out today.", "labels": ["empathy:reassurance"]},
        {"speaker": "ivr", "text": "Please hold.", "labels": []}]}
    ex = corpus.examples(d)
    assert [e.speaker for e in ex] == ["agent", "customer", "agent"]
    assert ex[1].labels == frozenset({"worry"})          # an agent label on a customer turn is dropped
    assert ex[2].context == ("Hello, Acme.", "My heating's off and my dad's ninety.")
    assert targets("agent", ex[2].labels)[0] == 1         # the "any empathy" head
    assert targets("customer", ex[1].labels)[0] == 1


def test_splits_keep_each_batch_and_dialogue_on_one_side():
    split = corpus.split_of(DATA)
    batches = {p.parent.name for p in DATA.glob("batches/*/part-*.jsonl")}
    assert batches and batches <= set(split), f"batches without a split: {batches - set(split)}"
    sides: dict[str, set[str]] = {"dev": set(), "test": set()}
    for d in corpus.read_dialogues(DATA):
        sides[split[d["batch"]]].add(d["id"])
    assert sides["dev"] and sides["test"] and not sides["dev"] & sides["test"]



def test_second_readings_are_the_corpus_dialogues_and_are_never_trained_on():
    # the agreement bench compares them turn by turn with the authors'; training reads batches/ only
    authored = {d["id"]: d for d in corpus.read_dialogues(DATA)}
    readings = [json.loads(line) for f in sorted(DATA.glob("agreement/*.jsonl")) for line in f.read_text().splitlines()]
    assert readings
    for r in readings:
        assert [t["text"] for t in r["turns"]] == [t["text"] for t in authored[r["id"]]["turns"]], r["id"]
    ids = [d["id"] for d in corpus.read_dialogues(DATA)]
    assert len(ids) == len(set(ids))    # the corpus reader (training's) does not read them a second time


def test_a_dialogue_has_a_label_when_one_line_carries_it_or_its_category():
    d = {"turns": [{"speaker": "agent", "text": "Oh you poor thing.", "labels": ["sympathy"]},
                   {"speaker": "agent", "text": "So the parcel came back to us.", "labels": ["empathy:recap"]}]}
    assert corpus.has_label(d, {"sympathy"}) and corpus.has_label(d, {"empathy", "dismissive"})
    assert not corpus.has_label(d, {"dismissive"}) and not corpus.has_label(d, {"recap"})


def test_asr_copies_keep_their_dialogues_speakers_and_labels():
    # a copy changes only the text (what tiny.en heard); it sits in its dialogue's batch, so it is
    # on the same side of the split; a turn tiny.en heard nothing of keeps an empty text, but most
    # turns are heard
    authored = {d["id"]: d for d in corpus.read_dialogues(DATA)}
    copies = list(corpus.read_dialogues(DATA, "asr/*/part-*.jsonl"))
    assert copies
    for c in copies:
        d = authored[c["id"]]
        assert c["batch"] == d["batch"] and c["variant"] == "asr"
        assert [(t["speaker"], t["labels"]) for t in c["turns"]] == [(t["speaker"], t["labels"]) for t in d["turns"]]
        assert sum(bool(t["text"].strip()) for t in c["turns"]) >= len(d["turns"]) // 2, c["id"]


def test_features_layout():
    u = np.eye(4, dtype=np.float32)[:2]
    c = np.stack([context_vector([], 4), context_vector([np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]], 4)])
    assert not c[0].any() and abs(np.linalg.norm(c[1]) - 1) < 1e-6 and c[1][1] > c[1][0]   # newest counts more
    f = np.stack([flags([("dismissive", None)]), flags([])])
    x = assemble(u, c, f)
    assert x.shape == (2, 4 * 3 + len(LEXICON_FLAGS))
    assert x[0, 12 + LEXICON_FLAGS.index("dismissive")] == 1.0


# ------------------------------------------------------------------------------- decisions (pure)

def _probs(**given: float) -> dict[str, float]:
    base = {h: 0.0 for h in AGENT_HEADS + CUSTOMER_HEADS}
    base.update({k.replace("__", ":"): v for k, v in given.items()})
    return base


def _prep(text: str, speaker: str = "agent"):
    return emp._prepare(text.split(), speaker, LEX, OPTS)


def test_thresholds_decide_and_confidence_is_kept():
    prep = _prep("I am so sorry about that, I will fix it now.")
    n = len(prep.tokens)
    low = decide(prep, [Scored(0, n, _probs(empathy=OPTS.threshold_empathy - 0.01, empathy__apology=0.9))], OPTS)
    assert low == []
    high = decide(prep, [Scored(0, n, _probs(empathy=0.91, empathy__apology=0.9, empathy__reassurance=0.2))], OPTS)
    assert [(m.kind, m.category, m.confidence) for m in high] == [("empathy", "apology", 0.91)]


def test_a_second_category_needs_its_own_probability():
    prep = _prep("I am so sorry, I will sort it out today.")
    n = len(prep.tokens)
    two = decide(prep, [Scored(0, n, _probs(empathy=0.9, empathy__apology=0.8,
                                            empathy__reassurance=OPTS.threshold_second_category))], OPTS)
    assert {m.category for m in two} == {"apology", "reassurance"}


def test_the_best_unit_is_the_evidence():
    prep = _prep("Okay. Can I have your postcode please? That must have been really upsetting for you.")
    n = len(prep.tokens)
    units = [Scored(0, n, _probs(empathy=0.6, empathy__acknowledgement=0.9)),
             Scored(7, n, _probs(empathy=0.95, empathy__acknowledgement=0.9))]
    (m,) = decide(prep, units, OPTS)
    assert m.sentence == (7, n) and m.confidence == 0.95


def test_dismissive_needs_the_wider_reading_to_agree():
    """A clause ASR cut off ("not when you mail it") reads blunter alone than in its sentence: the
    lower of the piece's and the wider turn's probabilities decides; empathy and pity keep the
    piece's."""
    prep = _prep("Not when you mail it.")
    n = len(prep.tokens)
    alone = _probs(dismissive=0.8, sympathy=0.7, empathy=0.9, empathy__reassurance=0.9)
    assert {m.kind for m in decide(prep, [Scored(0, n, alone)], OPTS)} == {"dismissive", "sympathy", "empathy"}
    wide = _probs(dismissive=OPTS.threshold_dismissive - 0.01, sympathy=0.1)
    found = decide(prep, [Scored(0, n, alone)], OPTS, wide)
    assert {m.kind for m in found} == {"sympathy", "empathy"}
    assert next(m.confidence for m in found if m.kind == "sympathy") == 0.7


def test_a_speakers_pieces_group_only_when_close_alone_and_at_most_three():
    pieces = [utt("agent", 0, 1, "a"), utt("agent", 1.4, 2, "b"), utt("agent", 2.3, 3, "c"),
              utt("agent", 3.2, 4, "d"), utt("customer", 4.1, 5, "e"), utt("agent", 5.2, 6, "f"),
              utt("agent", 8.0, 9, "g")]
    assert emp.speaker_groups(pieces, 1.5, most=3) == [[0, 1, 2], [3], [4], [5], [6]]
    assert emp.speaker_groups(pieces, 0.5) == [[0, 1, 2, 3], [4], [5], [6]]
    assert [u.text for u in emp.speaker_turns(pieces, 0.5)] == ["a b c d", "e", "f", "g"]


def test_customer_distress_takes_the_most_likely_kind():
    prep = _prep("I've rung four times and nobody calls back.", "customer")
    n = len(prep.tokens)
    (m,) = decide(prep, [Scored(0, n, _probs(distress=0.8, frustration=0.7, worry=0.2))], OPTS)
    assert (m.kind, m.category) == ("distress", "frustration")


def test_a_line_that_wants_empathy_takes_a_kind_that_wants_it():
    # the kind heads lean to confusion, but the line wants an acknowledgement: it opens a moment
    prep = _prep("I don't know how I'm meant to pay the rent now.", "customer")
    n = len(prep.tokens)
    (m,) = decide(prep, [Scored(0, n, _probs(distress=0.5, wants_empathy=OPTS.threshold_missed,
                                             confusion=0.6, worry=0.4))], OPTS)
    assert (m.category, m.wants_empathy) == ("worry", OPTS.threshold_missed)
    # distress that does not want empathy keeps its likeliest kind and says how little it wants it
    (m,) = decide(prep, [Scored(0, n, _probs(distress=0.9, wants_empathy=OPTS.threshold_missed - 0.2,
                                             confusion=0.6, worry=0.4))], OPTS)
    assert m.category == "confusion" and m.wants_empathy < OPTS.threshold_missed


def test_a_distress_cue_that_does_not_want_empathy_opens_no_moment():
    cue = emp.Finding(type="customer_distress", speaker="customer", start=0, end=3, severity="info",
                      message="", evidence="x", rule="distress.model", category="worry",
                      extra={"confidence": 0.9, "wants_empathy": OPTS.threshold_missed - 0.01})
    call = conv(utt("customer", 0, 3, "I have no idea when it will come."),
                utt("agent", 4, 6, "Can I take the order number?"), duration=30)
    assert emp._missed_empathy(call, [cue], OPTS) == []
    wanted = replace(cue, extra={"confidence": 0.9, "wants_empathy": OPTS.threshold_missed})
    assert [f.type for f in emp._missed_empathy(call, [wanted], OPTS)] == ["missed_empathy"]


def test_missed_moments_from_labels():
    turns = [("customer", "I've been waiting three weeks for this.", ["frustration"]),
             ("customer", "And nobody ever rings me back about it.", ["anger"]),     # same moment
             ("agent", "Okay.", []),
             ("agent", "Can I take your reference?", []),
             ("customer", "It's AB12 3CD, for what it's worth.", []),               # closes it unanswered
             ("customer", "I'm worried the money's gone for good.", ["worry"]),
             ("agent", "I can hear how worrying that is.", ["empathy:acknowledgement"]),  # answered
             ("customer", "Sorry, what does pending mean?", ["confusion"])]          # wants an answer only
    assert moments.unanswered(turns) == [[0, 1]]
    assert moments.agreement([[0, 1], [5]], [[1], [0], [7]]) == (1, 2, 1)


def test_in_audio_an_acknowledgement_within_the_window_answers_a_moment():
    """The guide's audio truth: an acknowledging agent turn within the window of the moment's end
    answers it, even after the customer's next substantive turn; a later one does not."""
    turns = [("customer", "I've been waiting three weeks for this.", ["frustration"]),
             ("agent", "Can I take your reference?", []),
             ("customer", "It's AB12 3CD, for what it's worth.", []),
             ("agent", "Three weeks is far too long, I'm sorry.", ["empathy:apology"])]
    assert moments.unanswered(turns) == [[0]]
    assert moments.unanswered(turns, [(0, 3), (4, 6), (7, 10), (11, 14)], 15.0) == []
    assert moments.unanswered(turns, [(0, 3), (4, 6), (7, 10), (19, 22)], 15.0) == [[0]]


def test_a_cue_starting_in_the_padding_before_its_turn_is_on_that_turn():
    turns = [("agent", 0.5, 2.0), ("customer", 2.8, 6.0), ("agent", 6.9, 9.0), ("customer", 9.6, 12.0)]
    assert moments.cue_turn(3.1, turns) == 1
    assert moments.cue_turn(9.3, turns) == 3          # 0.3 s early: the VAD's padding
    assert moments.cue_turn(8.0, turns) is None       # inside the agent's turn
    assert moments.cue_turn(2.1, turns) is None       # too early for any customer turn


def test_acknowledgement_reads_empathy_or_sympathy():
    assert acknowledgement([Scored(0, 1, _probs(empathy=0.2, sympathy=0.6))]) == 0.6
    assert acknowledgement([]) == 0.0


# ------------------------------------------------------------------------------- the shipped head

@pytest.fixture(scope="module")
def shipped():
    embedder = emp.embedder_for(OPTS)
    return embedder, load_phrasing_model(OPTS, embedder)


def _types(conversation, shipped) -> list[tuple[str, str | None]]:
    embedder, model = shipped
    return [(f.type, f.category) for f in emp.analyze_empathy(conversation, LEX, embedder, OPTS, model)]


def test_shipped_model_separates_clear_cases(shipped):
    call = conv(utt("customer", 0, 4, "The engineer never turned up and I took the whole day off work for it."),
                utt("agent", 5, 9, "I'm really sorry, that's a wasted day off and it's our fault."),
                utt("customer", 10, 12, "It is, yes."),
                utt("agent", 13, 16, "Can you confirm the first line of your address?"),
                utt("customer", 17, 19, "Twelve Mill Lane."),
                utt("agent", 20, 24, "Look, that's not my department, you'll have to ring someone else."))
    found = _types(call, shipped)
    assert ("empathy", "apology") in found
    assert ("dismissive", None) in found
    assert ("customer_distress", "frustration") in found or ("customer_distress", "anger") in found
    # the verification question makes no finding of its own
    embedder, model = shipped
    neutral = [f for f in emp.analyze_empathy(call, LEX, embedder, OPTS, model) if 13 <= f.start < 16]
    assert neutral == []


def test_the_wider_reading_is_the_agents_pieces_read_together(shipped):
    """Wired to the shipped model: an agent sentence cut at a pause gets one wider reading for both
    pieces, equal to the model's reading of the whole sentence after the same context; a lone
    piece and the customer's pieces get none."""
    from audio_pipeline.analysis.classified import score

    embedder, model = shipped
    pieces = [utt("customer", 0, 3, "I posted it back on the ninth."),
              utt("agent", 4, 6, "The return date is when we receive it."),
              utt("agent", 7, 8, "Not when you mail it."),
              utt("customer", 9, 10, "Oh."), utt("customer", 10.8, 11.5, "Right."),
              utt("agent", 13, 15, "Is there anything else?")]
    preps = [emp._prepare(emp._tokens(u), u.speaker, LEX, OPTS) for u in pieces]
    wider = emp.wider_readings(pieces, preps, LEX, embedder, model, OPTS)
    assert wider[0] is None and wider[3] is None and wider[4] is None and wider[5] is None
    assert wider[1] is not None and wider[1] is wider[2]
    whole = [pieces[0], emp.speaker_turns(pieces[1:3], 2.0)[0]]
    preps = [emp._prepare(emp._tokens(u), u.speaker, LEX, OPTS) for u in whole]
    assert wider[1]["dismissive"] == pytest.approx(score(preps, embedder, model, OPTS)[1][0].probs["dismissive"], abs=1e-5)


def test_missed_empathy_depends_on_the_reply_in_context(shipped):
    worry = "My mum is eighty and she has had no heating for three days, I am scared she will get ill."
    ignored = conv(utt("customer", 0, 6, worry), utt("agent", 7, 10, "What is the account number please?"),
                   duration=30)
    answered = conv(utt("customer", 0, 6, worry),
                    utt("agent", 7, 12, "That must be really frightening with her on her own, I'm booking an engineer for this morning."),
                    duration=30)
    assert ("missed_empathy", "worry") in [(t, c) for t, c in _types(ignored, shipped)] or \
        any(t == "missed_empathy" for t, _ in _types(ignored, shipped))
    assert not any(t == "missed_empathy" for t, _ in _types(answered, shipped))


def test_findings_carry_calibrated_confidence(shipped):
    embedder, model = shipped
    call = conv(utt("customer", 0, 3, "They cut my phone off while I was waiting for a hospital call."),
                utt("agent", 4, 8, "I completely understand how upsetting this must be for you."))
    found = [f for f in emp.analyze_empathy(call, LEX, embedder, OPTS, model) if f.type == "empathy"]
    assert found and all(0.0 <= f.extra["confidence"] <= 1.0 for f in found)
    assert all(f.rule.startswith("empathy.model") for f in found)


def test_ngram_features_equal_scikit_learns():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from audio_pipeline.phrasing.ngrams import NgramVectorizer

    train = ["That's not my problem, mate.", "I'm so sorry, that's not good enough from us.",
             "Can I take the postcode?", "not my department", "so sorry about the wait"]
    tv = TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True).fit(train)
    ours = NgramVectorizer.from_sklearn(tv)
    again = NgramVectorizer.from_arrays(ours.to_arrays("ng"), "ng")
    texts = ["Honestly that's NOT my problem, not my problem at all", "nothing known here", ""]
    np.testing.assert_allclose(ours.transform(texts), tv.transform(texts).toarray(), atol=1e-6)
    np.testing.assert_allclose(again.transform(texts), ours.transform(texts))


def test_character_ngrams_equal_scikit_learns():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from audio_pipeline.phrasing.ngrams import NgramVectorizer

    train = ["That's not my problem, mate.", "so sorry  about\tthe wait", "ok", "I hear you, but rules are rules"]
    tv = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), min_df=1, sublinear_tf=True).fit(train)
    ours = NgramVectorizer.from_arrays(NgramVectorizer.from_sklearn(tv).to_arrays("c"), "c")
    texts = ["thats not my problm", "Rules ARE rules, ok?", "a", ""]
    np.testing.assert_allclose(ours.transform(texts), tv.transform(texts).toarray(), atol=1e-6)


def test_probabilities_in_row_chunks_equal_one_pass(shipped):
    """A long call's turns go through the head a few hundred at a time (the n-gram rows are dense):
    the chunking must not change a single probability."""
    _, model = shipped
    texts = ["I'm so sorry, that must have been awful.", "Can I take the postcode?", "That's not my problem.",
             "Oh no, poor you.", "I'll ring you back myself at four.", "Right."] * 3
    rng = np.random.default_rng(0)
    dense = rng.standard_normal((len(texts), model.dim - sum(v.size for v in model.ngrams))).astype(np.float32)
    whole = model.predict("agent", model.inputs(dense, texts))
    chunked = model.probabilities("agent", dense, texts, rows=4)
    for head, p in whole.items():
        np.testing.assert_allclose(chunked[head], p, atol=1e-5)  # float32 BLAS: summation order only


# ------------------------------------------------------------------------------- the pair model

def test_quantized_weights_stay_within_half_a_step():
    from audio_pipeline.phrasing.pairs import dequantize, quantize

    w = np.random.default_rng(1).standard_normal((48, 32)).astype(np.float32) * np.linspace(0.01, 3, 48)[:, None]
    q, scale = quantize(w)
    assert q.dtype == np.int8 and scale.shape == (48,)
    assert np.all(np.abs(dequantize(q, scale) - w) <= scale[:, None] / 2 + 1e-7)


def test_shipped_head_averages_with_its_pair_model(shipped):
    _, model = shipped
    assert model.pairs and "agent" in model.pairs, "the shipped head names a pair model (make train-phrasing-pairs)"
    texts = ["I'm so sorry, that must have been awful.", "That's not my problem, ring someone else."]
    contexts = [["My dad died last week and you've cut his phone off."], ["The fee is wrong again."]]
    dense = np.random.default_rng(2).standard_normal((2, model.dim - sum(v.size for v in model.ngrams))).astype(np.float32)
    head = model.probabilities("agent", dense, texts)
    both = model.probabilities("agent", dense, texts, contexts=contexts)
    paired = model.pair_probabilities("agent", model.pairs["agent"].logits(texts, contexts))
    for h in head:
        np.testing.assert_allclose(both[h], (head[h] + paired[h]) / 2, atol=1e-6)
    assert paired["empathy"][0] > 0.5 > paired["empathy"][1]
    assert paired["dismissive"][1] > 0.5 > paired["dismissive"][0]
    worried = model.pair_probabilities("customer", model.pairs["customer"].logits(
        ["I'm terrified they'll take the house, I can't sleep.", "Yes, it's 14 Mill Lane."],
        [["Is there anything else?"], ["Can I take the first line of your address?"]]))
    assert worried["wants_empathy"][0] > 0.5 > worried["wants_empathy"][1]


def test_pair_model_for_other_weights_is_refused(shipped):
    _, model = shipped
    with pytest.raises(PhrasingModelError, match="calibrated for agent pair model"):
        model.with_pairs({**model.pairs, "agent": replace(model.pairs["agent"], digest="0" * 16)})


def test_numpy_pair_model_equals_torch(shipped):
    """The numpy forward pass (segment ids, swapped layers) against transformers' BertModel loaded
    with the same dequantized weights."""
    import torch

    from audio_pipeline.analysis.embedder import _torchaudio_without_extension
    from audio_pipeline.models import find_phrasing_model, find_phrasing_pairs, find_sentence_model
    from audio_pipeline.phrasing.pairs import layer_weights

    _torchaudio_without_extension()
    from transformers import BertModel

    _, model = shipped
    bert = BertModel.from_pretrained(str(find_sentence_model()), add_pooling_layer=False).eval()
    data = np.load(find_phrasing_pairs(find_phrasing_model(), model.pair_refs)["agent"])
    state = {k.removeprefix("encoder."): torch.from_numpy(v) for k, v in layer_weights(data).items()}
    bert.encoder.load_state_dict(state)
    texts, contexts = ["Rules are rules, I'm afraid.", "Oh you poor love."], [["Why was I charged twice?"], []]
    pairs = model.pairs["agent"]
    encs = [pairs.tok.encode(t, c[0]) if c else pairs.tok.encode(t) for t, c in zip(texts, contexts)]
    ours = pairs.logits(texts, contexts)
    for enc, row in zip(encs, ours):
        with torch.no_grad():
            x = bert(input_ids=torch.tensor([enc.ids]), token_type_ids=torch.tensor([enc.type_ids])).last_hidden_state
        ref = x.mean(1).numpy() @ pairs.head_w + pairs.head_b
        np.testing.assert_allclose(row, ref[0], atol=2e-2)      # tanh-GELU in numpy, erf in torch


def test_blend_averages_with_the_pair_model_where_it_scored():
    """Training: the pair model's out-of-fold logits are calibrated on the rows it scored and
    averaged with the head's probabilities there; the head's context-free copies keep its own."""
    from audio_pipeline.phrasing.train import Matrix, blend

    rng = np.random.default_rng(3)
    n, k = 400, len(AGENT_HEADS)
    y = (rng.random((n, k)) < 0.3).astype(np.int8)
    ids = np.array([f"d{i}:1" if i < 300 else f"d{i}:1:noctx" for i in range(n)])
    variants = np.array(["text"] * 300 + ["noctx"] * 100)
    m = Matrix(np.zeros((n, 1)), y, np.array(["b1"] * n), variants, ids)
    head = np.clip(y * 0.6 + rng.random((n, k)) * 0.4, 0, 1)
    logits = (y[:300] * 4.0 - 2.0 + rng.standard_normal((300, k))).astype(np.float32)
    pairs = ([str(i) for i in ids[:300]], logits, {"file": "phrasing-pairs-agent.npz", "digest": "abc"})
    mixed, ref, alone = blend(head, m, "agent", pairs)
    np.testing.assert_array_equal(mixed[300:], head[300:])
    a, b = np.array(ref["cal_a"]), np.array(ref["cal_b"])
    np.testing.assert_allclose(mixed[:300], (head[:300] + 1 / (1 + np.exp(-(a * logits + b)))) / 2, rtol=1e-5)
    assert (a > 0).all() and ref["heads"] == list(AGENT_HEADS) and ref["digest"] == "abc"
    assert set(alone) == {"head", "pairs", "mean"} and set(alone["mean"]) == {"empathy", "dismissive", "sympathy"}
