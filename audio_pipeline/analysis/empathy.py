"""Empathy phrasing: empathy by category, dismissive language, sympathy (pity), customer distress and
missed empathy after distress.

Two matchers, per sentence of an utterance (and per overlapping word window when ASR gave a long
stretch without punctuation):
  * lexicon: regular expressions over normalised words (configs/empathy.yaml), with guards:
    negation ("I do NOT understand why you'd do that" is not empathy), blockers, and contrast
    ("I understand, BUT policy is policy": a dismissive clause after a contrast word cancels the
    polite clause before it — the customer hears the brush-off);
  * semantic: all-MiniLM-L6-v2 sentence embeddings against the lexicon's exemplar sentences — this
    is what catches paraphrases and misheard words no pattern lists. A sentence takes the label of
    its nearest exemplar if that similarity clears the option threshold AND beats the nearest
    neutral exemplar (procedural lines, negated look-alikes) by `semantic_margin`.
Agent utterances are read for empathy / dismissive / sympathy, customer utterances for distress.

Performance: the embedder is loaded lazily once per process (`load_embedder` caches it), every
candidate sentence of a call is encoded in ONE batch, exemplar vectors are computed once per
(embedder, lexicon) and kept in memory and on disk (AUDIO_PIPELINE_CACHE, default
~/.cache/audio_pipeline; set it to "" to disable the disk copy).
"""
from __future__ import annotations

import hashlib
import logging
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from audio_pipeline.analysis.embedder import CachedEmbedder, Embedder, load_embedder
from audio_pipeline.analysis.lexicon import (
    AGENT_KINDS,
    CUSTOMER_KINDS,
    Lexicon,
    load_lexicon,
    normalise_words,
)
from audio_pipeline.config import EmpathyOptions
from audio_pipeline.types import Conversation, Finding, Utterance

if TYPE_CHECKING:
    from audio_pipeline.phrasing.model import PhrasingModel

__all__ = [
    "EMPATHY_CATEGORIES", "Embedder", "PhraseMatch", "load_embedder", "load_lexicon", "embedder_for",
    "classify_utterance", "classify_many", "analyze_empathy", "empathy_metrics",
]

log = logging.getLogger(__name__)

EMPATHY_CATEGORIES = ("acknowledgement", "validation", "apology", "reassurance", "recap", "exploration",
                      "follow_up")
_MIN_SEMANTIC_WORDS = 4      # shorter sentences ("it's no bother") embed too noisily; the lexicon has them
_BACKCHANNEL_WORDS = 3       # an agent utterance this short does not end the customer's turn
_SENTENCE_END = (".", "?", "!", ";")

_MESSAGES = {
    "acknowledgement": "Agent acknowledged the customer's feelings",
    "validation": "Agent validated the customer's feelings",
    "apology": "Agent apologised",
    "reassurance": "Agent reassured the customer",
    "recap": "Agent recapped what the customer said (active listening)",
    "exploration": "Agent invited the customer to say more about the problem",
    "follow_up": "Agent committed to follow up",
}


# ---------------------------------------------------------------------------------------------
# data


@dataclass(frozen=True, slots=True)
class PhraseMatch:
    """One cue found in an utterance. Token indices refer to the utterance's words (or whitespace
    tokens of its text when it has no words); [first, last) is the phrase, `sentence` its sentence."""

    kind: str                       # empathy | dismissive | sympathy | distress
    category: str | None
    first: int
    last: int
    sentence: tuple[int, int]
    phrase: str                     # the words as spoken
    source: str                     # lexicon | semantic | model
    matched: str = ""               # lexicon (and model, as evidence): the words a pattern matched
    exemplar: str | None = None     # semantic: nearest exemplar sentence
    similarity: float | None = None
    confidence: float | None = None  # model: calibrated probability
    wants_empathy: float | None = None  # model, customer lines: how likely the line wants an acknowledgement


@dataclass(frozen=True, slots=True)
class _Unit:
    """A sentence or a window of one: normalised text plus a map from characters back to tokens."""

    first: int
    last: int
    norm: str
    char_token: tuple[int, ...]     # token index of every character of `norm`
    sentence: tuple[int, int]

    def tokens_of(self, start: int, end: int) -> tuple[int, int]:
        return self.char_token[start], self.char_token[max(start, end - 1)] + 1


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Everything about one utterance that does not need the embedder."""

    speaker: str
    tokens: tuple[str, ...]
    sentences: tuple[_Unit, ...]
    lexical: tuple[PhraseMatch, ...]
    blocked: tuple[tuple[str, int, int], ...]       # (kind, first, last) spans voided by blockers
    candidates: tuple[_Unit, ...]                   # units for the semantic matcher


@dataclass(frozen=True, slots=True)
class _Index:
    """Exemplar vectors of one speaker side, with their labels."""

    vectors: np.ndarray                             # (m, d)
    texts: tuple[str, ...]
    label_ids: np.ndarray                           # (m,) index into `distinct`
    distinct: tuple[tuple[str, str | None], ...]    # (kind, category); kind "neutral" = no cue


# ---------------------------------------------------------------------------------------------
# tokens, sentences, windows


def _unit(tokens: Sequence[str], first: int, last: int, sentence: tuple[int, int]) -> _Unit:
    words: list[str] = []
    char_token: list[int] = []
    for w, i in normalise_words(tokens[first:last]):
        if words:
            char_token.append(first + i)            # the joining space belongs to the next word
        words.append(w)
        char_token.extend([first + i] * len(w))
    return _Unit(first, last, " ".join(words), tuple(char_token), sentence)


def _sentence_spans(tokens: Sequence[str]) -> list[tuple[int, int]]:
    spans, start = [], 0
    for i, tok in enumerate(tokens):
        if tok.rstrip("\"')]").endswith(_SENTENCE_END):
            spans.append((start, i + 1))
            start = i + 1
    if start < len(tokens):
        spans.append((start, len(tokens)))
    return spans


def _windows(span: tuple[int, int], opts: EmpathyOptions) -> list[tuple[int, int]]:
    first, last = span
    if last - first <= opts.max_sentence_words:
        return [span]
    size, stride = max(opts.window_words, 2), max(opts.window_stride, 1)
    starts = list(range(first, max(last - size, first) + 1, stride))
    if starts[-1] + size < last:
        starts.append(last - size)                  # the tail is always covered
    return [(s, min(s + size, last)) for s in starts]


# ---------------------------------------------------------------------------------------------
# lexicon matching and guards


def _kinds(speaker: str) -> tuple[str, ...]:
    return AGENT_KINDS if speaker == "agent" else CUSTOMER_KINDS if speaker == "customer" else ()


def _negated(unit: _Unit, start: int, kind: str, lexicon: Lexicon) -> bool:
    """A negator shortly before the cue, with only scope-transparent words between ("I'm NOT
    really worried"); a negator in another clause ("if it's not back tomorrow I could lose my job")
    does not count."""
    negators = lexicon.guards.negators.get(kind)
    if not negators:
        return False
    before = unit.norm[:start].split()[-lexicon.guards.negation_window:]
    for k in range(len(before) - 1, -1, -1):
        if before[k] in negators:
            return all(w in lexicon.guards.negation_transparent for w in before[k + 1:])
    return False


def _lexical_matches(unit: _Unit, tokens: Sequence[str], kinds: tuple[str, ...], lexicon: Lexicon) -> list[PhraseMatch]:
    found = []
    for cue in lexicon.cues_of(kinds):
        for m in cue.regex.finditer(unit.norm):
            if m.end() == m.start() or _negated(unit, m.start(), cue.kind, lexicon):
                continue
            first, last = unit.tokens_of(m.start(), m.end())
            found.append(PhraseMatch(cue.kind, cue.category, first, last, unit.sentence,
                                     " ".join(tokens[first:last]), "lexicon", matched=m.group(0)))
    return found


def _blocked_spans(unit: _Unit, kinds: tuple[str, ...], lexicon: Lexicon) -> list[tuple[str, int, int]]:
    spans = []
    for kind in kinds:
        for rx in lexicon.guards.blockers.get(kind, ()):
            for m in rx.finditer(unit.norm):
                spans.append((kind, *unit.tokens_of(m.start(), max(m.end(), m.start() + 1))))
    return spans


def _near(a: tuple[int, int], b: tuple[int, int], reach: int) -> bool:
    return a[0] < b[1] + reach and b[0] < a[1] + reach


def _is_blocked(m: PhraseMatch, blocked: Iterable[tuple[str, int, int]], reach: int) -> bool:
    return any(kind == m.kind and _near((m.first, m.last), (f, l), reach) for kind, f, l in blocked)


def _prepare(tokens: Sequence[str], speaker: str, lexicon: Lexicon, opts: EmpathyOptions) -> _Prepared:
    kinds = _kinds(speaker)
    tokens = tuple(tokens)
    sentences = tuple(_unit(tokens, f, l, (f, l)) for f, l in _sentence_spans(tokens))
    lexical: list[PhraseMatch] = []
    blocked: list[tuple[str, int, int]] = []
    candidates: list[_Unit] = []
    if not kinds:
        return _Prepared(speaker, tokens, sentences, (), (), ())
    for sent in sentences:
        lexical += _lexical_matches(sent, tokens, kinds, lexicon)
        blocked += _blocked_spans(sent, kinds, lexicon)
    lexical = [m for m in lexical if not _is_blocked(m, blocked, lexicon.guards.blocker_reach)]
    for sent in sentences:
        for f, l in _windows(sent.sentence, opts):
            if l - f < _MIN_SEMANTIC_WORDS:
                continue
            # a span the lexicon already decided (or a blocker voided) is not second-guessed
            if any(m.first < l and f < m.last for m in lexical) or any(bf < l and f < bl for _, bf, bl in blocked):
                continue
            candidates.append(_unit(tokens, f, l, sent.sentence))
    return _Prepared(speaker, tokens, sentences, tuple(lexical), tuple(blocked), tuple(candidates))


# ---------------------------------------------------------------------------------------------
# semantic matching


# exemplar vectors per embedder: weak keys, so a dropped embedder takes its vectors with it
_INDEX_CACHE: "weakref.WeakKeyDictionary[object, dict[tuple[str, str], _Index]]" = weakref.WeakKeyDictionary()
_PINNED: dict[int, tuple[object, dict[tuple[str, str], _Index]]] = {}


def _cache_for(embedder: Embedder) -> dict[tuple[str, str], _Index]:
    try:
        return _INDEX_CACHE.setdefault(embedder, {})
    except TypeError:
        # not weak-referenceable (a slotted object): pin it so its id cannot be reused by another
        return _PINNED.setdefault(id(embedder), (embedder, {}))[1]


def _exemplar_index(embedder: Embedder, lexicon: Lexicon, speaker: str) -> _Index:
    """Exemplar vectors of one side, computed once per (embedder, lexicon content, side)."""
    cache = _cache_for(embedder)
    key = (lexicon.digest, speaker)
    if key not in cache:
        cache[key] = _build_index(embedder, lexicon, speaker)
    return cache[key]


def _build_index(embedder: Embedder, lexicon: Lexicon, speaker: str) -> _Index:
    exemplars = [e for e in lexicon.exemplars if e.speaker == speaker]
    labels = tuple((e.kind, e.category) for e in exemplars)
    distinct = tuple(dict.fromkeys(labels))
    texts = tuple(e.text for e in exemplars)
    return _Index(vectors=_exemplar_vectors(embedder, texts), texts=texts,
                  label_ids=np.array([distinct.index(lb) for lb in labels], dtype=np.int64), distinct=distinct)


def _exemplar_vectors(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Exemplar vectors, from the disk cache when this model has embedded these very sentences before:
    ~400 exemplars cost 1–3 s on 2 cores, more than a whole call, and a CLI review is one process."""
    if not texts:
        return np.zeros((0, 1), np.float32)
    path = _disk_cache_path(embedder, texts)
    if path is not None and path.is_file():
        try:
            cached = np.load(path)
            if cached.shape[0] == len(texts):
                return cached.astype(np.float32, copy=False)
        except (OSError, ValueError):
            pass                                      # unreadable: recompute and overwrite
    vectors = np.asarray(embedder.encode(list(texts)), dtype=np.float32)
    if path is not None:
        _save_quietly(path, vectors)
    return vectors


_PROBE = "Thank you for calling, how can I help you today?"


def _model_identity(embedder: Embedder) -> str:
    """Which model an embedder runs: its `name` when it has one, else a fingerprint of its vector for
    a fixed sentence (wrappers such as a lazy loader say nothing about the model behind them)."""
    name = getattr(embedder, "name", None)
    if name:
        return str(name)
    probe = np.asarray(embedder.encode([_PROBE]), dtype=np.float32)
    return "probe:" + hashlib.sha256(np.round(probe, 4).tobytes()).hexdigest()[:20]


def _disk_cache_path(embedder: Embedder, texts: Sequence[str]) -> Path | None:
    if os.environ.get("AUDIO_PIPELINE_CACHE", "unset") == "":
        return None                                   # disk cache switched off
    root = Path(os.environ.get("AUDIO_PIPELINE_CACHE") or Path.home() / ".cache" / "audio_pipeline")
    digest = hashlib.sha256("\n".join([_model_identity(embedder), *texts]).encode()).hexdigest()[:20]
    return root / "empathy" / f"exemplars-{digest}.npy"


def _save_quietly(path: Path, vectors: np.ndarray) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.save(fh, vectors)
        tmp.replace(path)                             # atomic: parallel workers never read half a file
    except OSError as exc:
        log.debug("exemplar vectors not cached (%s)", exc)


def _threshold(kind: str, opts: EmpathyOptions) -> float:
    return {"empathy": opts.similarity_empathy, "dismissive": opts.similarity_dismissive,
            "sympathy": opts.similarity_sympathy, "distress": opts.similarity_distress}[kind]


def _semantic_match(unit: _Unit, vec: np.ndarray, index: _Index, tokens: Sequence[str],
                    opts: EmpathyOptions) -> PhraseMatch | None:
    if not len(index.texts):
        return None
    sims = index.vectors @ vec
    best_per_label = np.full(len(index.distinct), -1.0, dtype=np.float32)
    np.maximum.at(best_per_label, index.label_ids, sims)
    neutral = max((float(best_per_label[i]) for i, lb in enumerate(index.distinct) if lb[0] == "neutral"), default=-1.0)
    order = np.argsort(-best_per_label)
    kind, category = index.distinct[int(order[0])]
    score = float(best_per_label[order[0]])
    if kind == "neutral" or score < _threshold(kind, opts) or score - neutral < opts.semantic_margin:
        return None
    members = np.flatnonzero(index.label_ids == order[0])
    exemplar = index.texts[int(members[np.argmax(sims[members])])]
    return PhraseMatch(kind, category, unit.first, unit.last, unit.sentence,
                       " ".join(tokens[unit.first:unit.last]), "semantic", exemplar=exemplar,
                       similarity=round(score, 3))


def _semantic_matches(prep: _Prepared, vectors: np.ndarray | None, index: _Index | None,
                      lexicon: Lexicon, opts: EmpathyOptions) -> list[PhraseMatch]:
    if vectors is None or index is None:
        return []
    found = []
    for unit, vec in zip(prep.candidates, vectors):
        m = _semantic_match(unit, vec, index, prep.tokens, opts)
        if m is not None and not _is_blocked(m, prep.blocked, 0):
            found.append(m)
    return _dedupe_windows(found)


def _dedupe_windows(found: list[PhraseMatch]) -> list[PhraseMatch]:
    # overlapping windows of one long sentence see the same words: keep the most similar per label
    kept: list[PhraseMatch] = []
    for m in sorted(found, key=lambda x: -(x.similarity or 0.0)):
        if not any(k.kind == m.kind and k.first < m.last and m.first < k.last for k in kept):
            kept.append(m)
    return sorted(kept, key=lambda x: x.first)


# ---------------------------------------------------------------------------------------------
# resolving conflicts between cues


def _contrast_positions(unit: _Unit, contrast: Sequence[str]) -> list[tuple[int, int]]:
    """Token spans of contrast connectives ("but", "having said that") in a sentence."""
    spans = []
    padded = f" {unit.norm} "
    for word in contrast:
        start = padded.find(f" {word} ")
        while start != -1:
            spans.append(unit.tokens_of(start, start + len(word)))
            start = padded.find(f" {word} ", start + 1)
    return spans


def _cancelled(polite: PhraseMatch, brushoffs: Sequence[PhraseMatch], contrasts: Sequence[tuple[int, int]],
               reach: int) -> bool:
    for d in brushoffs:
        if d.first < polite.last and polite.first < d.last:
            return True                              # "sorry you feel that way" holds "sorry"
        for cf, cl in contrasts:
            if polite.first < cf + 1 and cl <= d.first + 1 and d.first - cl <= reach and cf - polite.last <= reach:
                return True                          # "I understand, but policy is policy"
    return False


def _resolve(prep: _Prepared, matches: list[PhraseMatch], lexicon: Lexicon) -> list[PhraseMatch]:
    """Dismissive beats the polite phrase it cancels; sympathy beats the empathy it colours
    ("sorry for you" is pity, not an apology); one finding per (kind, category, sentence)."""
    reach = lexicon.guards.contrast_reach
    out: list[PhraseMatch] = []
    for sent in prep.sentences:
        here = [m for m in matches if m.sentence == sent.sentence]
        dismissive = [m for m in here if m.kind == "dismissive"]
        sympathy = [m for m in here if m.kind == "sympathy"]
        contrasts = _contrast_positions(sent, lexicon.guards.contrast)
        for m in here:
            if m.kind in ("empathy", "sympathy") and _cancelled(m, dismissive, contrasts, reach):
                continue
            if m.kind == "empathy" and _pitied(m, sympathy):
                continue
            out.append(m)
    return _one_per_sentence(out)


def _pitied(m: PhraseMatch, sympathy: Sequence[PhraseMatch]) -> bool:
    # "sorry for you" holds "sorry"; and "poor thing, that's awful": the pity frames the whole
    # sentence, so its acknowledgement reads as pity too
    if any(s.first < m.last and m.first < s.last for s in sympathy):
        return True
    return bool(sympathy) and m.category in ("acknowledgement", "validation")


def _one_per_sentence(matches: list[PhraseMatch]) -> list[PhraseMatch]:
    # lexicon first (its span is the phrase itself), then the earliest
    ordered = sorted(matches, key=lambda m: (m.source != "lexicon", m.first))
    seen: set[tuple[str, str | None, tuple[int, int]]] = set()
    kept = []
    for m in ordered:
        key = (m.kind, m.category if m.kind == "empathy" else None, m.sentence)
        if key not in seen:
            seen.add(key)
            kept.append(m)
    return sorted(kept, key=lambda m: (m.first, m.source != "lexicon"))


# ---------------------------------------------------------------------------------------------
# public API


def embedder_for(opts: EmpathyOptions, device: str = "cpu") -> Embedder | None:
    """The embedder the options ask for (None when semantic matching is off); loads lazily, once."""
    if not (opts.enabled and opts.semantic):
        return None
    model_dir = None if opts.semantic_model in ("", "auto") else Path(opts.semantic_model).expanduser()
    return load_embedder(model_dir, device)


def classify_utterance(text: str, speaker: str, lexicon: Lexicon, embedder: Embedder | None,
                       opts: EmpathyOptions) -> list[PhraseMatch]:
    """Cues in one utterance's text (whitespace tokens). Pure; `embedder=None` = lexicon only."""
    return classify_many([(text, speaker)], lexicon, embedder, opts)[0]


def classify_many(items: Sequence[tuple[str, str]], lexicon: Lexicon, embedder: Embedder | None,
                  opts: EmpathyOptions) -> list[list[PhraseMatch]]:
    """classify_utterance over many (text, speaker) pairs with ONE embedding batch."""
    preps = [_prepare(text.split(), speaker, lexicon, opts) for text, speaker in items]
    return _classify_all(preps, lexicon, embedder, opts)


def lexicon_evidence(items: Sequence[tuple[str, str]], lexicon: Lexicon,
                     opts: EmpathyOptions) -> list[list[tuple[str, str | None]]]:
    """(kind, category) of the lexicon's cues in each (text, speaker), guards applied: the
    phrasing model's evidence features."""
    return [[(m.kind, m.category) for m in found] for found in classify_many(items, lexicon, None, opts)]


def _text(prep: _Prepared, unit: _Unit) -> str:
    return " ".join(prep.tokens[unit.first:unit.last])


def _finish(prep: _Prepared, vectors: np.ndarray | None, index: _Index | None, lexicon: Lexicon,
            opts: EmpathyOptions) -> list[PhraseMatch]:
    semantic = _semantic_matches(prep, vectors, index, lexicon, opts)
    return _resolve(prep, list(prep.lexical) + semantic, lexicon)


def analyze_empathy(conv: Conversation, lexicon: Lexicon, embedder: Embedder | None,
                    opts: EmpathyOptions, model: "PhrasingModel | None" = None) -> list[Finding]:
    """empathy / dismissive / sympathy / customer_distress / missed_empathy findings of a call.
    With a trained phrasing `model` (and its embedder) the model decides; without one, the lexicon
    and the exemplar matcher do."""
    if not opts.enabled:
        return []
    utts = [u for u in conv.utterances if u.speaker in ("agent", "customer")]
    acknowledged: list[float] = []
    if model is not None and embedder is not None:
        from .classified import acknowledgement, decide, score

        # the model reads turns, as it was trained: ASR (or a live stream) cuts a turn into pieces
        # at pauses, and where it cuts must not change what the turn says
        utts = speaker_turns(utts, opts.turn_join)
        preps = [_prepare(_tokens(u), u.speaker, lexicon, opts) for u in utts]
        embedder = embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, 4096)
        scored = score(preps, embedder, model, opts)
        wider = wider_readings(utts, preps, lexicon, embedder, model, opts)
        matches = [decide(p, s, opts, w) for p, s, w in zip(preps, scored, wider)]
        acknowledged = [u.start for u, s in zip(utts, scored)
                        if u.speaker == "agent" and acknowledgement(s) >= opts.threshold_answered]
    else:
        preps = [_prepare(_tokens(u), u.speaker, lexicon, opts) for u in utts]
        matches = _classify_all(preps, lexicon, embedder, opts)
    findings: list[Finding] = []
    for utt, prep, found in zip(utts, preps, matches):
        findings += [_finding(utt, prep, m, opts) for m in found]
    findings += _missed_empathy(conv, findings, opts, acknowledged)
    return sorted(findings, key=lambda f: (f.start, f.end, f.type))


def _classify_all(preps: Sequence[_Prepared], lexicon: Lexicon, embedder: Embedder | None,
                  opts: EmpathyOptions) -> list[list[PhraseMatch]]:
    """All candidate sentences of the call go to the embedder in one batch."""
    texts = [_text(p, u) for p in preps for u in p.candidates]
    use = embedder is not None and opts.semantic and bool(texts)
    vectors = embedder.encode(texts) if use else None
    indexes = {s: _exemplar_index(embedder, lexicon, s) for s in ("agent", "customer")} if use else {}
    out, pos = [], 0
    for p in preps:
        n = len(p.candidates)
        chunk = vectors[pos:pos + n] if vectors is not None else None
        pos += n
        out.append(_finish(p, chunk, indexes.get(p.speaker), lexicon, opts))
    return out


def speaker_turns(utts: Sequence[Utterance], join: float) -> list[Utterance]:
    """Consecutive utterances of one speaker, nothing of the other party between them and less than
    `join` seconds apart, as one turn: the pieces ASR (or a live stream) cut a turn into at pauses."""
    return [_joined([utts[i] for i in group]) for group in speaker_groups(utts, join)]


def speaker_groups(utts: Sequence[Utterance], join: float, most: int = 0) -> list[list[int]]:
    """Indexes of the utterances `speaker_turns` joins, group by group (at most `most` a group; 0:
    no limit)."""
    groups: list[list[int]] = []
    for i, u in enumerate(utts):
        g = groups[-1] if groups else None
        t = utts[g[-1]] if g else None
        if t is not None and t.speaker == u.speaker and u.start - t.end < join and not 0 < most <= len(g):
            g.append(i)
        else:
            groups.append([i])
    return groups


def _joined(utts: Sequence[Utterance]) -> Utterance:
    if len(utts) == 1:
        return utts[0]
    text = utts[0].text
    for u in utts[1:]:
        text = f"{text} {u.text}".strip()
    words = tuple(w for u in utts for w in u.words) if all(u.words for u in utts) else ()
    return Utterance(utts[0].speaker, utts[0].start, max(u.end for u in utts), text, words)


def wider_readings(utts: Sequence[Utterance], preps: Sequence[_Prepared], lexicon: Lexicon, embedder: Embedder,
                   model: "PhrasingModel", opts: EmpathyOptions) -> list[dict[str, float] | None]:
    """Per turn, the model's probabilities for it read with the speaker's neighbouring turns (pieces
    under `empathy.turn_read_wide` seconds apart, nothing of the other party between, at most three),
    or None where it has none: ASR cuts a sentence at a pause, and a clause alone ("not when you
    mail it") can read blunter than the sentence it belongs to."""
    from .classified import score

    groups = speaker_groups(utts, opts.turn_read_wide, most=3) if opts.turn_read_wide > opts.turn_join else []
    if all(len(g) == 1 for g in groups):
        return [None] * len(utts)
    # a group of one is the turn itself, already prepared (`preps`: one per utterance of `utts`)
    wide = [preps[g[0]] if len(g) == 1 else _prepare(_tokens(u), u.speaker, lexicon, opts)
            for g in groups for u in [_joined([utts[i] for i in g])]]
    # only the agent's dismissive decisions read it; the rest are context
    scored = score(wide, embedder, model, opts, only=[len(g) > 1 and wide[k].speaker == "agent"
                                                      for k, g in enumerate(groups)])
    out: list[dict[str, float] | None] = [None] * len(utts)
    for g, units in zip(groups, scored):
        for i in g if units else ():
            out[i] = units[0].probs  # the whole of the wider turn
    return out


def _tokens(utt: Utterance) -> list[str]:
    if utt.words:
        return [w.text.strip() for w in utt.words]
    return utt.text.split()


# ---------------------------------------------------------------------------------------------
# findings


def _span(utt: Utterance, first: int, last: int) -> tuple[float, float]:
    if utt.words and 0 <= first < last <= len(utt.words):
        return utt.words[first].start, utt.words[last - 1].end
    return utt.start, utt.end


def _rule(m: PhraseMatch) -> str:
    if m.source == "model":
        return f'{m.kind}.model+lexicon:"{m.matched}"' if m.matched else f"{m.kind}.model"
    return f'{m.kind}.lexicon:"{m.matched}"' if m.source == "lexicon" else f"{m.kind}.semantic"


def _extra(m: PhraseMatch) -> dict:
    if m.source == "semantic":
        return {"exemplar": m.exemplar, "similarity": m.similarity}
    if m.source != "model":
        return {}
    return {"confidence": m.confidence} | ({} if m.wants_empathy is None else {"wants_empathy": round(m.wants_empathy, 3)})


def _finding(utt: Utterance, prep: _Prepared, m: PhraseMatch, opts: EmpathyOptions) -> Finding:
    start, end = _span(utt, m.first, m.last)
    evidence = " ".join(prep.tokens[m.sentence[0]:m.sentence[1]])
    extra = _extra(m)
    kind_info = {
        "empathy": ("empathy", "info", _MESSAGES.get(m.category or "", "Agent showed empathy")),
        "dismissive": ("dismissive", opts.severity_dismissive, "Agent used dismissive language"),
        "sympathy": ("sympathy", opts.severity_sympathy,
                     "Agent expressed pity (sympathy) rather than empathy; it can sound patronising"),
        "distress": ("customer_distress", "info", f"Customer expressed {m.category or 'distress'}"),
    }[m.kind]
    ftype, severity, message = kind_info
    return Finding(type=ftype, speaker=utt.speaker, start=start, end=end, severity=severity,  # type: ignore[arg-type]
                   message=message, evidence=evidence, rule=_rule(m), category=m.category, extra=extra)


@dataclass(frozen=True, slots=True)
class _Moment:
    """Consecutive distress cues of one customer turn: the agent owes one acknowledgement."""

    cues: tuple[Finding, ...]
    anchor: float                    # end of the customer's speech the reply window starts from


def _substantive(utt: Utterance) -> bool:
    return len(utt.text.split()) > _BACKCHANNEL_WORDS


def _moments(conv: Conversation, cues: Sequence[Finding]) -> list[_Moment]:
    agent_turns = [u for u in conv.utterances if u.speaker == "agent" and _substantive(u)]
    groups: list[list[Finding]] = []
    for cue in sorted(cues, key=lambda f: f.start):
        if groups and not any(groups[-1][-1].start < a.start <= cue.start for a in agent_turns):
            groups[-1].append(cue)
        else:
            groups.append([cue])
    moments = []
    for group in groups:
        last = group[-1]
        next_reply = min((a.start for a in agent_turns if a.start > last.start), default=float("inf"))
        # the customer may keep talking after the cue: the window opens when they stop
        stretch = [u.end for u in conv.utterances
                   if u.speaker == "customer" and u.start <= next_reply and u.end >= last.start]
        anchor = min(max(stretch, default=last.end), next_reply)
        moments.append(_Moment(tuple(group), max(anchor, last.end)))
    return moments


def _missed_empathy(conv: Conversation, findings: Sequence[Finding], opts: EmpathyOptions,
                    acknowledged: Sequence[float] = ()) -> list[Finding]:
    """`acknowledged`: starts of agent utterances the model reads as acknowledging the customer
    (empathy or sympathy, below the finding thresholds too) — an answer is not a finding."""
    wanted = set(opts.missed_categories)
    # the model says how likely a line wants empathy; the lexicon path has only the category
    cues = [f for f in findings if f.type == "customer_distress" and f.category in wanted
            and float(f.extra.get("wants_empathy", 1.0)) >= opts.threshold_missed]  # type: ignore[arg-type]
    acks = [f.start for f in findings if f.type in ("empathy", "sympathy")] + list(acknowledged)
    out = []
    for moment in _moments(conv, cues):
        opened, closes = moment.cues[0].start, moment.anchor + opts.missed_window
        if any(opened <= a <= closes for a in acks):
            continue
        replies = [u for u in conv.utterances if u.speaker == "agent" and opened < u.start <= closes]
        # an "mm hmm" while the customer is still talking is listening, not the reply the finding
        # points a supervisor to (as in `_moments`)
        replies = [u for u in replies if _substantive(u)] or replies
        out.append(_missed_finding(conv, moment, replies, closes, opts))
    return out


def _first_turn(conv: Conversation, replies: Sequence[Utterance]) -> list[Utterance]:
    """The agent's first reply turn: its utterances until the customer says something substantive
    (the finding is placed there, where a supervisor should listen)."""
    turn = [replies[0]]
    for u in replies[1:]:
        if any(c.speaker == "customer" and _substantive(c) and turn[-1].end <= c.start < u.start
               for c in conv.utterances):
            break
        turn.append(u)
    return turn


def _missed_finding(conv: Conversation, moment: _Moment, replies: Sequence[Utterance], closes: float,
                    opts: EmpathyOptions) -> Finding:
    said = " / ".join(c.evidence for c in moment.cues)
    if replies:
        turn = _first_turn(conv, replies)
        start, end = turn[0].start, turn[-1].end
        reply = " ".join(u.text.strip() for u in turn)
        where = "the agent's reply did not acknowledge it"
    else:
        # the window is clipped to the recording: a call cut off after the distress still ends there
        end = min(closes, conv.duration) if conv.duration > 0 else closes
        start = min(moment.anchor, end)
        reply = f"(nothing within {opts.missed_window:g} s)"
        where = "the agent said nothing to acknowledge it"
    category = moment.cues[0].category
    return Finding(type="missed_empathy", speaker="agent", start=start, end=end,
                   severity=opts.severity_missed,  # type: ignore[arg-type]
                   message=f"Customer expressed {category}; {where}",
                   evidence=f'customer: "{said}" / agent: "{reply}"',
                   rule=f"missed_empathy.no_ack_within:{opts.missed_window:g}s", category=category,
                   extra={"cue_start": moment.cues[0].start, "cue_end": moment.cues[-1].end})


def empathy_metrics(findings: Sequence[Finding]) -> dict:
    """Counts for types.Metrics: empathy_statements, empathy_by_category, dismissive_statements,
    sympathy_statements, customer_distress, missed_empathy."""
    by_category: dict[str, int] = {}
    for f in findings:
        if f.type == "empathy" and f.category:
            by_category[f.category] = by_category.get(f.category, 0) + 1

    def count(t: str) -> int:
        return sum(1 for f in findings if f.type == t)

    return {
        "empathy_statements": count("empathy"),
        "empathy_by_category": dict(sorted(by_category.items())),
        "dismissive_statements": count("dismissive"),
        "sympathy_statements": count("sympathy"),
        "customer_distress": count("customer_distress"),
        "missed_empathy": count("missed_empathy"),
    }
