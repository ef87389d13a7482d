"""Domain types shared by every stage. Frozen and slotted: stages pass plain data, never mutate it.

Times are float seconds from the start of the audio. Rounding happens only in `export`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

UNHEARD = "…"  # placeholder word: this voice spoke here, but no word of it was transcribed

Role = Literal["agent", "customer", "other"]
Severity = Literal["info", "warning", "critical"]
SEVERITY_RANK: Mapping[str, int] = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Utterance:
    """One stretch of speech by one party (a faster-whisper segment, split at speaker changes)."""

    speaker: Role
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Conversation:
    """A whole call: utterances of every party, sorted by start time."""

    utterances: tuple[Utterance, ...]
    duration: float
    # where the signal carries speech by voice activity (any party), whether or not the ASR worded
    # it; None when only words are known (a transcript reviewed without audio)
    speech: tuple[tuple[float, float], ...] | None = None
    # each party's own speech by the signal, (speaker, start, end): stereo from its channel's
    # echo-guarded energy, mono from the diarization's turns; None when only words are known
    voices: tuple[tuple[str, float, float], ...] | None = None

    def of(self, speaker: str) -> tuple[Utterance, ...]:
        return tuple(u for u in self.utterances if u.speaker == speaker)


@dataclass(frozen=True, slots=True)
class Finding:
    """One timestamped observation. `speaker` is who did it; `extra` holds type-specific fields
    (`announced` for dead_air, `similarity`/`exemplar` for semantic empathy matches) that are
    written as top-level keys of the finding in review.json."""

    type: str
    speaker: Role | None
    start: float
    end: float
    severity: Severity
    message: str
    evidence: str = ""
    rule: str = ""
    category: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Metrics:
    agent_talk_ratio: float = 0.0
    customer_talk_ratio: float = 0.0
    overlap_seconds: float = 0.0
    interruptions_by_agent: int = 0
    interruptions_by_customer: int = 0
    backchannels: int = 0
    dead_air_count: int = 0
    dead_air_seconds: float = 0.0
    mean_response_latency: float | None = None
    slow_responses: int = 0
    longest_agent_monologue: float = 0.0
    agent_words_per_minute: float = 0.0
    customer_words_per_minute: float = 0.0
    empathy_statements: int = 0
    empathy_by_category: Mapping[str, int] = field(default_factory=dict, hash=False, compare=False)
    dismissive_statements: int = 0
    sympathy_statements: int = 0
    customer_distress: int = 0
    missed_empathy: int = 0


@dataclass(frozen=True, slots=True)
class AudioInfo:
    path: str
    sha256: str
    duration: float
    sample_rate: int
    channels: int
    mode: Literal["stereo", "mono-diarized", "transcript"]


@dataclass(frozen=True, slots=True)
class ModelInfo:
    asr: str
    diarization: str | None
    device: str


@dataclass(frozen=True, slots=True)
class RoleDecision:
    """How diarized speakers became roles (mono calls only): label -> role, why, how sure."""

    mapping: Mapping[str, Role]
    method: str
    confidence: float
    evidence: str = ""
    uncertain: bool = False  # confidence below diarization.roles_min_confidence: do not trust the mapping


@dataclass(frozen=True, slots=True)
class Review:
    audio: AudioInfo
    models: ModelInfo
    utterances: tuple[Utterance, ...]
    findings: tuple[Finding, ...]
    metrics: Metrics
    flagged: bool
    flag_reasons: tuple[str, ...]
    roles: RoleDecision | None = None
    # mono: the diarization's speech turns as (start, end, role), worded or not (RTTM is written from
    # them); empty when the parties come from channels
    speaker_turns: tuple[tuple[float, float, str], ...] = ()
