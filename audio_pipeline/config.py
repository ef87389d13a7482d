"""Options, one frozen dataclass per stage: configs/default.yaml < user YAML < CLI overrides.

Every key in a user file must exist in the defaults, so a typo is an error, not a silent no-op.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

# a source checkout keeps configs/ beside the package; an installed wheel ships it inside
CONFIG_DIR = next((d for d in (Path(__file__).resolve().parent / "configs",
                               Path(__file__).resolve().parent.parent / "configs") if (d / "default.yaml").is_file()),
                  Path(__file__).resolve().parent.parent / "configs")
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"


class ConfigError(ValueError):
    """A configuration file or override a user must fix."""


@dataclass(frozen=True, slots=True)
class AudioOptions:
    sample_rate: int
    max_channels_without_mapping: int
    min_duration: float


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    agent: int
    customer: int
    same_mix_correlation: float
    silent_channel_dbfs: float
    echo_cancel: bool


@dataclass(frozen=True, slots=True)
class AsrOptions:
    model: str
    device: str
    compute_type: str
    language: str
    beam_size: int
    vad_filter: bool
    vad_min_silence_ms: int
    vad_speech_pad_ms: int
    vad_threshold: float
    no_speech_prob_max: float
    avg_logprob_min: float
    compression_ratio_max: float
    word_probability_min: float
    crosstalk_margin_db: float
    cpu_threads: int
    channel_workers: int
    decoder: str = "auto"
    batch_size: int = 16
    window_seconds: float = 120.0          # speech decoded per Whisper call: bounds a long call's memory
    stretched_word_min: float = 0.8        # a word longer than this and than stretched_word_per_letter …
    stretched_word_per_letter: float = 0.15  # … s a letter, over the party's voice, is decoded again
    retry_context: float = 3.0             # seconds of speech before a re-decoded stretch, heard with it
    invented_gap: float = 10.0            # hold_guard.py: no speech this long either side …
    invented_probability_max: float = 0.5  # … and a lone word this unsure (or a looping phrase): dropped


@dataclass(frozen=True, slots=True)
class TurnOptions:
    activity_join: float
    segment_join_gap: float
    floor_yield_share: float
    interruption_min_overlap: float
    backchannel_max_duration: float
    backchannel_max_words: int
    backchannel_phrases: tuple[str, ...]
    floor_taken_min_after: float
    dead_air_min: float
    dead_air_at_edges: bool
    long_hold_min: float
    hold_announce_window: float
    hold_phrases: tuple[str, ...]
    slow_response_min: float
    monologue_min: float
    monologue_pause_max: float


@dataclass(frozen=True, slots=True)
class SeverityOptions:
    interruption: str
    interruption_critical_count: int
    dead_air: str
    dead_air_announced: str
    dead_air_critical: float
    long_hold: str
    slow_response: str
    long_monologue: str
    long_monologue_critical: float


@dataclass(frozen=True, slots=True)
class FlagOptions:
    agent_interruptions_min: int
    dead_air_unannounced_min: int
    long_hold_min: int
    slow_responses_min: int
    long_monologues_min: int
    dismissive_min: int
    missed_empathy_min: int
    sympathy_min: int
    no_speech: bool


@dataclass(frozen=True, slots=True)
class EmpathyOptions:
    enabled: bool
    lexicon: str
    semantic: bool
    semantic_model: str
    model: str
    threshold_empathy: float
    threshold_dismissive: float
    threshold_sympathy: float
    threshold_distress: float
    threshold_answered: float
    threshold_missed: float
    threshold_second_category: float
    turn_join: float
    turn_read_wide: float
    similarity_empathy: float
    similarity_dismissive: float
    similarity_sympathy: float
    similarity_distress: float
    semantic_margin: float
    max_sentence_words: int
    window_words: int
    window_stride: int
    missed_window: float
    missed_categories: tuple[str, ...]
    severity_dismissive: str
    severity_sympathy: str
    severity_missed: str

    @property
    def lexicon_path(self) -> Path:
        p = Path(self.lexicon)
        return p if p.is_absolute() else CONFIG_DIR / p


@dataclass(frozen=True, slots=True)
class DiarizationOptions:
    min_speakers: int
    max_speakers: int
    num_speakers: int | None
    segmentation_step: float
    embedding_step: float
    embedding_exclude_overlap: bool
    min_duration_off: float
    clustering_threshold: float
    min_cluster_size: int
    embedding_batch_size: int
    torch_threads: int
    agent_speaker: str | None
    other_min_share: float
    refine: bool = True
    refine_window: float = 1.5
    refine_hop: float = 1.0
    refine_split: bool = True
    roles_min_confidence: float = 0.7


@dataclass(frozen=True, slots=True)
class ActivityOptions:
    """Voice activity from the signal (voice_activity.py): where anyone talks, worded or not."""

    enabled: bool
    band_low: float
    band_high: float
    vad_threshold: float
    min_speech: float
    min_silence: float


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """Nightly batch (audio_pipeline.batch). How files are run, never how a call is judged, so the
    batch section is left out of the review fingerprint (Config.fingerprint)."""

    engine: str
    workers: int
    address: str | None
    formats: tuple[str, ...]
    extensions: tuple[str, ...]
    in_flight_per_worker: int
    ray_num_cpus: float
    ray_num_gpus: float
    retry_failed: bool
    worker_memory_gb: float = 1.5


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """Live monitoring (audio_pipeline.stream): how a streamed call is decoded and when a live
    finding is final. The review rules themselves are the turns/empathy sections."""

    tick: float
    decode_interval: float
    decode_interval_max: float
    lag_high: float
    lag_low: float
    lag_max: float
    max_buffer: float
    voice_done: float
    hold_open: float
    trim_after: float
    context_seconds: float
    revise_speech: float
    revise_max: float
    energy_history: float
    analysis_window: float
    settle_turns: float
    settle_phrasing: float
    max_frame_bytes: int
    start_timeout: float
    decode_workers: int
    pass_seconds: float
    pass_gather: float
    status_every: float
    subscriber_queue: int
    formats: tuple[str, ...]
    record_audio: bool = True


@dataclass(frozen=True, slots=True)
class Config:
    audio: AudioOptions
    channels: ChannelOptions
    asr: AsrOptions
    turns: TurnOptions
    severity: SeverityOptions
    flags: FlagOptions
    empathy: EmpathyOptions
    diarization: DiarizationOptions
    batch: BatchOptions
    stream: StreamOptions
    activity: ActivityOptions
    raw: Mapping[str, Any]

    def fingerprint(self) -> str:
        """Stable hash of every setting that can change a review (batch skips on it). The batch
        section only says how files are run (workers, engine), so it is left out."""
        import hashlib
        import json

        raw = {k: v for k, v in self.raw.items() if k not in ("batch", "stream")}
        return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:16]

        return hashlib.sha256(json.dumps(self.raw, sort_keys=True, default=str).encode()).hexdigest()[:16]


_SECTIONS = {f.name: f.type for f in fields(Config) if f.name != "raw"}


def _merge(base: dict, override: Mapping[str, Any], where: str) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in out:
            raise ConfigError(f"unknown setting '{where}{key}'")
        if isinstance(out[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"setting '{where}{key}' must be a mapping")
            out[key] = _merge(out[key], value, f"{where}{key}.")
        else:
            out[key] = value
    return out


def read_yaml(path: Path, what: str) -> Any:
    """A settings file's YAML (empty file = {}); unreadable or malformed -> ConfigError naming it."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {what} is not valid YAML ({str(exc).splitlines()[0]})") from None


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections")
    return data


def _section(cls: type, data: Mapping[str, Any], name: str):
    kwargs = {}
    for f in fields(cls):
        value = data[f.name]
        if isinstance(value, list):
            value = tuple(str(v).lower() for v in value)
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"section '{name}': {exc}") from None


def dotted(overrides: Mapping[str, Any]) -> dict:
    """{'asr.model': 'base'} -> {'asr': {'model': 'base'}}; None values are dropped."""
    out: dict = {}
    for key, value in overrides.items():
        if value is None:
            continue
        node = out
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """["stream.context_seconds=0", ...] -> {"stream.context_seconds": 0}: values read as YAML, so
    numbers, booleans and lists keep their types."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"an override is KEY=VALUE, got {pair!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    data = _read_yaml(DEFAULT_CONFIG)
    if path is not None:
        data = _merge(data, _read_yaml(Path(path)), "")
    if overrides:
        data = _merge(data, dotted(overrides), "")
    _validate(data)
    sections = {name: _section(eval_type(tp), data[name], name) for name, tp in _SECTIONS.items()}
    return Config(**sections, raw=data)


def _validate(data: dict) -> None:
    """Every value checked up front (config_check.py), naming the bad one."""
    from .config_check import ConfigValueError, validate

    try:
        validate(data, _read_yaml(DEFAULT_CONFIG))
    except ConfigValueError as exc:
        raise ConfigError(str(exc)) from None
    lexicon = Path(str(data["empathy"]["lexicon"]))
    if not (lexicon if lexicon.is_absolute() else CONFIG_DIR / lexicon).is_file():
        raise ConfigError(f"setting 'empathy.lexicon': no such file {lexicon}")


def eval_type(tp: Any) -> type:
    # fields() gives string annotations under `from __future__ import annotations`
    return globals()[tp] if isinstance(tp, str) else tp
