"""Validate every configuration value before any work starts, with a message naming the value.

Types come from configs/default.yaml (a setting keeps its default's type); ranges and choices for
the settings that have them are listed here. A setting added to default.yaml later is type-checked
without any change here.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SEVERITIES = ("info", "warning", "critical")
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
COMPUTE_TYPES = ("default", "auto", "int8", "int8_float16", "int8_float32", "int8_bfloat16", "int16",
                 "float16", "float32", "bfloat16")

# dotted key -> rule: ("choice", options) | ("range", low, high) (None = open) | ("regex", pattern, hint)
RULES: dict[str, tuple] = {
    "audio.sample_rate": ("choice", (16000,)),
    "audio.max_channels_without_mapping": ("range", 1, 2),
    "audio.min_duration": ("range", 0.0, None),
    "channels.agent": ("range", 0, None),
    "channels.customer": ("range", 0, None),
    "channels.same_mix_correlation": ("range", 0.0, 1.0),
    "channels.silent_channel_dbfs": ("range", None, 0.0),
    "turns.floor_yield_share": ("range", 0.0, 1.0),
    "asr.device": ("regex", DEVICE, "auto, cpu, cuda or cuda:N"),
    "asr.compute_type": ("choice", COMPUTE_TYPES),
    "asr.beam_size": ("range", 1, None),
    "asr.vad_threshold": ("range", 0.0, 1.0),
    "asr.no_speech_prob_max": ("range", 0.0, 1.0),
    "asr.word_probability_min": ("range", 0.0, 1.0),
    "asr.cpu_threads": ("range", 0, None),
    "asr.channel_workers": ("range", 1, None),
    "asr.invented_gap": ("range", 0.0, None),
    "asr.window_seconds": ("range", 30.0, None),
    "asr.stretched_word_min": ("range", 0.0, None),
    "asr.stretched_word_per_letter": ("range", 0.0, None),
    "asr.retry_context": ("range", 0.0, 25.0),
    "asr.invented_probability_max": ("range", 0.0, 1.0),
    "diarization.min_speakers": ("range", 1, None),
    "diarization.max_speakers": ("range", 1, None),
    "diarization.other_min_share": ("range", 0.0, 1.0),
    "batch.engine": ("choice", ("local", "ray")),
    "batch.workers": ("range", 0, None),
    "batch.in_flight_per_worker": ("range", 1, None),
    "batch.worker_memory_gb": ("range", 0.0, None),
    "stream.trim_after": ("range", 1.0, None),
    "stream.voice_done": ("range", 0.3, None),
    "stream.hold_open": ("range", 0.0, None),
    "empathy.turn_read_wide": ("range", 0.0, 10.0),
    "stream.context_seconds": ("range", 0.0, 25.0),
    "stream.revise_speech": ("range", 0.0, 25.0),
    "stream.revise_max": ("range", 0.0, None),
    "privacy.audio_margin": ("range", 0.0, 2.0),
    "privacy.score_min": ("range", 0.0, 1.0),
}
# every key under these sections whose name matches is checked the same way
PATTERN_RULES: tuple[tuple[re.Pattern, tuple], ...] = (
    (re.compile(r"^severity\.(?!.*(_count|_critical)$)"), ("choice", SEVERITIES)),
    (re.compile(r"^empathy\.severity_"), ("choice", SEVERITIES)),
    (re.compile(r"^empathy\.similarity_"), ("range", -1.0, 1.0)),
    (re.compile(r"^empathy\.threshold_"), ("range", 0.0, 1.0)),
    (re.compile(r"^(turns|flags|severity)\..*(_min|_max|_count|_critical|_window|_join|_gap|_after|_overlap|"
                r"_duration|_words)$"), ("range", 0, None)),
)


class ConfigValueError(ValueError):
    pass


def _leaves(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        out += _leaves(value, name + ".") if isinstance(value, Mapping) else [(name, value)]
    return out


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "text", list: "a list"}.get(
        type(value), type(value).__name__)


def _check_type(key: str, value: Any, default: Any) -> None:
    if default is None or value is None and key.endswith(("num_speakers", "agent_speaker", "address")):
        return
    ok = {bool: lambda v: isinstance(v, bool),
          int: lambda v: isinstance(v, int) and not isinstance(v, bool),
          float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
          str: lambda v: isinstance(v, str),
          list: lambda v: isinstance(v, list) and all(isinstance(x, (str, int, float)) for x in v)}.get(type(default))
    if ok is not None and not ok(value):
        raise ConfigValueError(f"setting '{key}' must be {_type_name(default)}, got {value!r}")


def _check_rule(key: str, value: Any, rule: tuple) -> None:
    kind = rule[0]
    if kind == "choice" and value not in rule[1]:
        raise ConfigValueError(f"setting '{key}' must be one of {', '.join(map(str, rule[1]))}, got {value!r}")
    if kind == "regex" and not (isinstance(value, str) and rule[1].match(value)):
        raise ConfigValueError(f"setting '{key}' must be {rule[2]}, got {value!r}")
    if kind == "range" and isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = rule[1], rule[2]
        if value != value or (low is not None and value < low) or (high is not None and value > high):
            bounds = (f"between {low} and {high}" if low is not None and high is not None
                      else f"at least {low}" if low is not None else f"at most {high}")
            raise ConfigValueError(f"setting '{key}' must be {bounds}, got {value!r}")


def _rule_for(key: str) -> tuple | None:
    if key in RULES:
        return RULES[key]
    return next((rule for pattern, rule in PATTERN_RULES if pattern.search(key)), None)


def validate(data: Mapping[str, Any], defaults: Mapping[str, Any]) -> None:
    """Raise ConfigValueError naming the first bad setting of the merged `data`."""
    flat_defaults = dict(_leaves(defaults))
    for key, value in _leaves(data):
        _check_type(key, value, flat_defaults.get(key))
        rule = _rule_for(key)
        if rule is not None:
            _check_rule(key, value, rule)
    _check_relations(data)


def _check_relations(data: Mapping[str, Any]) -> None:
    from .export import FORMATS

    ch = data.get("channels", {})
    if ch.get("agent") == ch.get("customer") and ch.get("agent") is not None:
        raise ConfigValueError(f"settings 'channels.agent' and 'channels.customer' are both {ch['agent']}")
    formats = data.get("batch", {}).get("formats", [])
    bad = [f for f in formats if str(f).lower() not in FORMATS]
    if bad:
        raise ConfigValueError(f"setting 'batch.formats' holds unknown format {bad[0]!r}; "
                               f"choose from {', '.join(FORMATS)}")
    dia = data.get("diarization", {})
    if isinstance(dia.get("min_speakers"), int) and isinstance(dia.get("max_speakers"), int) \
            and dia["min_speakers"] > dia["max_speakers"]:
        raise ConfigValueError("setting 'diarization.min_speakers' is larger than 'diarization.max_speakers'")
    st = data.get("stream", {})
    if isinstance(st.get("hold_open"), (int, float)) and isinstance(st.get("max_buffer"), (int, float)) \
            and st["hold_open"] > st["max_buffer"] / 2:
        # a held region's buffer must never reach max_buffer, past which uncommitted audio is let go
        raise ConfigValueError("setting 'stream.hold_open' is more than half of 'stream.max_buffer'")
