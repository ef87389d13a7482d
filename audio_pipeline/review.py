"""Findings + metrics + the flag decision → a Review. Pure: no models, no I/O."""
from __future__ import annotations

from dataclasses import replace
from typing import Mapping, Sequence

from .analysis import timeline
from .analysis.turns import TurnAnalysis, response_gaps, stretches
from .config import Config, FlagOptions, TurnOptions
from .types import AudioInfo, Conversation, Finding, Metrics, ModelInfo, Review, RoleDecision


def turn_metrics(conv: Conversation, ta: TurnAnalysis, opts: TurnOptions) -> Metrics:
    duration = max(conv.duration, 1e-9)
    agent_talk, customer_talk = (timeline.total(ta.activity[s]) for s in ("agent", "customer"))
    overlap = timeline.total(timeline.intersect(ta.activity["agent"], ta.activity["customer"]))
    of = lambda kind: [f for f in ta.findings if f.type == kind]  # noqa: E731
    latencies = [max(gap, 0.0) for _, _, gap in response_gaps(ta.turns) if gap < opts.dead_air_min]
    monologue = max((g[-1].end - g[0].start for g in stretches(ta.turns["agent"], opts.monologue_pause_max)),
                    default=0.0)
    return Metrics(
        agent_talk_ratio=agent_talk / duration, customer_talk_ratio=customer_talk / duration,
        overlap_seconds=overlap,
        interruptions_by_agent=sum(f.speaker == "agent" for f in of("interruption")),
        interruptions_by_customer=sum(f.speaker == "customer" for f in of("interruption")),
        backchannels=len(of("backchannel")),
        dead_air_count=len(of("dead_air")),
        dead_air_seconds=sum(f.end - f.start for f in of("dead_air")),
        mean_response_latency=sum(latencies) / len(latencies) if latencies else None,
        slow_responses=len(of("slow_response")),
        longest_agent_monologue=monologue,
        agent_words_per_minute=_wpm(conv, "agent", agent_talk),
        customer_words_per_minute=_wpm(conv, "customer", customer_talk))


def _wpm(conv: Conversation, speaker: str, talk: float) -> float:
    words = sum(len(u.words) or len(u.text.split()) for u in conv.of(speaker))
    return 60.0 * words / talk if talk > 0 else 0.0


def flag_reasons(findings: Sequence[Finding], metrics: Metrics, flags: FlagOptions) -> list[str]:
    """Each rule that fires is one human-readable reason; a call is flagged when any fires."""
    count = lambda kind, pred=lambda f: True: sum(1 for f in findings if f.type == kind and pred(f))  # noqa: E731
    unannounced = count("dead_air", lambda f: not f.extra.get("announced") and not f.extra.get("long_hold"))
    holds = count("dead_air", lambda f: bool(f.extra.get("long_hold")))
    rules = [
        (metrics.interruptions_by_agent, flags.agent_interruptions_min, "agent interruption"),
        (unannounced, flags.dead_air_unannounced_min, "unannounced dead air"),
        (holds, flags.long_hold_min, "long hold"),
        (metrics.slow_responses, flags.slow_responses_min, "slow response"),
        (count("long_monologue"), flags.long_monologues_min, "long agent monologue"),
        (metrics.dismissive_statements, flags.dismissive_min, "dismissive statement"),
        (metrics.sympathy_statements, flags.sympathy_min, "pity/sympathy statement"),
        (metrics.missed_empathy, flags.missed_empathy_min, "missed empathy after customer distress"),
    ]
    reasons = [f"{n} {label}{'s' if n != 1 and not label.endswith('distress') else ''}"
               for n, minimum, label in rules if minimum > 0 and n >= minimum]
    if flags.no_speech and count("no_speech"):
        reasons.append("no speech in the recording")
    return reasons


def no_speech_finding(duration: float) -> Finding:
    return Finding(type="no_speech", speaker=None, start=0.0, end=duration, severity="warning",
                   message="No speech was found in the recording", evidence="",
                   rule="no_speech.no_words_transcribed")


def build_review(audio: AudioInfo, models: ModelInfo, conv: Conversation, ta: TurnAnalysis,
                 cfg: Config, language: Sequence[Finding] = (),
                 language_metrics: Mapping[str, object] | None = None,
                 roles: RoleDecision | None = None) -> Review:
    findings = list(ta.findings) + list(language)
    if not conv.utterances:
        findings.append(no_speech_finding(conv.duration))
    metrics = turn_metrics(conv, ta, cfg.turns)
    if language_metrics:
        metrics = replace(metrics, **language_metrics)
    findings.sort(key=lambda f: (f.start, f.end, f.type))
    reasons = flag_reasons(findings, metrics, cfg.flags)
    return Review(audio=audio, models=models, utterances=conv.utterances, findings=tuple(findings),
                  metrics=metrics, flagged=bool(reasons), flag_reasons=tuple(reasons), roles=roles)
