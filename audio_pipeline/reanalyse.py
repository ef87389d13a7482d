"""Recompute a stored review from its own transcript, with the agent/customer roles swapped (a
supervisor's correction of a mono call's role decision). No audio, no re-transcription: the stored
utterances go through the same turn-taking and empathy analysis as in the pipeline."""
from __future__ import annotations

from typing import Any, Mapping

from .analysis.turns import analyze_turns
from .config import Config
from .review import build_review
from .types import AudioInfo, Conversation, Finding, ModelInfo, RoleDecision, Utterance, Word

_SWAP = {"agent": "customer", "customer": "agent"}
# findings that come from the audio, not from the transcript: carried over as they were
_AUDIO_FINDINGS = ("audio_layout",)


def _utterance(u: Mapping[str, Any]) -> Utterance:
    words = tuple(Word(float(w["start"]), float(w["end"]), w["text"], float(w.get("probability", 1.0)))
                  for w in u.get("words") or ())
    speaker = _SWAP.get(u["speaker"], u["speaker"])
    return Utterance(speaker=speaker, start=float(u["start"]), end=float(u["end"]), text=u.get("text", ""),
                     words=words)


def _finding(f: Mapping[str, Any]) -> Finding:
    core = {"type", "speaker", "start", "end", "severity", "message", "evidence", "rule", "category"}
    return Finding(type=f["type"], speaker=f.get("speaker"), start=float(f["start"]), end=float(f["end"]),
                   severity=f.get("severity", "info"), message=f.get("message", ""), evidence=f.get("evidence", ""),
                   rule=f.get("rule", ""), category=f.get("category"),
                   extra={k: v for k, v in f.items() if k not in core})


def swap_roles(review: Mapping[str, Any], cfg: Config, reviewer: str) -> dict[str, Any]:
    """review.json dict -> a new review.json dict with agent and customer exchanged."""
    from .export import review_to_dict
    from .language import LanguageAnalyzer

    a, m = review["audio"], review["models"]
    conv = Conversation(tuple(sorted((_utterance(u) for u in review.get("utterances") or []),
                                     key=lambda u: (u.start, u.end))), float(a["duration"]))
    ta = analyze_turns(conv, cfg.turns, cfg.severity)
    language, lang_metrics = [], None
    if cfg.empathy.enabled and conv.utterances:
        language, lang_metrics = LanguageAnalyzer(cfg.empathy).analyze(conv)
    kept = [_finding(f) for f in review.get("findings") or [] if f["type"] in _AUDIO_FINDINGS]
    old = review.get("roles") or {"mapping": {}, "confidence": 1.0}
    roles = RoleDecision(mapping={k: _SWAP.get(v, v) for k, v in (old.get("mapping") or {}).items()},
                         method="supervisor", confidence=1.0,
                         evidence=f"roles swapped by {reviewer} (was {old.get('method', 'unknown')}, "
                                  f"confidence {float(old.get('confidence', 0)):.2f})")
    info = AudioInfo(path=a["path"], sha256=a["sha256"], duration=float(a["duration"]),
                     sample_rate=int(a["sample_rate"]), channels=int(a["channels"]), mode=a["mode"])
    models = ModelInfo(asr=m["asr"], diarization=m.get("diarization"), device=m.get("device", "cpu"))
    return review_to_dict(build_review(info, models, conv, ta, cfg, language + kept, lang_metrics, roles))
