"""Transcript input: review a call from an existing transcript instead of audio.

Accepted (DESIGN §2): a JSON object `{"utterances": [...], "duration": s?}` — the utterances of a
review.json are valid as they are —, a JSON list of utterances, or JSON Lines with one utterance
per line. An utterance: `speaker` (agent | customer | other), `start`, `end` (seconds), `text`,
optional `words` (`start`, `end`, `text` or `word`, optional `probability`). Without `duration`
the call ends with its last utterance. Everything is checked up front: a bad file is one clear
line naming where it is wrong."""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

from .audio import AudioError
from .types import Conversation, Utterance, Word

TRANSCRIPT_SUFFIXES = (".json", ".jsonl")
_ROLES = ("agent", "customer", "other")


class TranscriptError(AudioError):
    """The transcript file cannot be used (a user error: exit 2)."""


def is_transcript(path: Path) -> bool:
    return path.suffix.lower() in TRANSCRIPT_SUFFIXES


def _time(value: Any, where: str, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise TranscriptError(f"{where}: '{name}' must be a number of seconds ≥ 0, not {value!r}")
    return float(value)


def _word(d: Any, where: str) -> Word:
    if not isinstance(d, Mapping):
        raise TranscriptError(f"{where}: a word must be an object")
    text = d.get("text", d.get("word"))
    if not isinstance(text, str):
        raise TranscriptError(f"{where}: a word needs 'text'")
    start, end = _time(d.get("start"), where, "start"), _time(d.get("end"), where, "end")
    prob = d.get("probability", 1.0)
    return Word(start, max(start, end), text.strip(), float(prob) if isinstance(prob, (int, float)) else 1.0)


def _utterance(d: Any, where: str) -> Utterance:
    if not isinstance(d, Mapping):
        raise TranscriptError(f"{where}: an utterance must be an object with speaker, start, end, text")
    speaker = d.get("speaker")
    if speaker not in _ROLES:
        raise TranscriptError(f"{where}: speaker must be one of {', '.join(_ROLES)}, not {speaker!r}")
    text = d.get("text")
    if not isinstance(text, str):
        raise TranscriptError(f"{where}: 'text' must be a string")
    start, end = _time(d.get("start"), where, "start"), _time(d.get("end"), where, "end")
    if end < start:
        raise TranscriptError(f"{where}: end {end} is before start {start}")
    raw_words = d.get("words") or []
    if not isinstance(raw_words, list):
        raise TranscriptError(f"{where}: 'words' must be a list")
    words = tuple(_word(w, f"{where}, word {k + 1}") for k, w in enumerate(raw_words))
    return Utterance(speaker, start, end, text.strip(), words)


def _records(path: Path, raw: str) -> tuple[Iterable[tuple[str, Any]], float | None]:
    if path.suffix.lower() == ".jsonl":
        rows = []
        for n, line in enumerate(raw.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((f"{path}:{n}", json.loads(line)))
                except json.JSONDecodeError as exc:
                    raise TranscriptError(f"{path}:{n}: not JSON ({exc.msg})") from None
        return rows, None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, list):
        items, duration = data, None
    elif isinstance(data, Mapping) and isinstance(data.get("utterances"), list):
        items = data["utterances"]
        duration = data.get("duration", (data.get("audio") or {}).get("duration") if isinstance(data.get("audio"), Mapping) else None)
    else:
        raise TranscriptError(f"{path}: expected a list of utterances or an object with 'utterances'")
    if duration is not None:
        duration = _time(duration, str(path), "duration")
    return [(f"{path}, utterance {k + 1}", d) for k, d in enumerate(items)], duration


def load_transcript(path: str | Path) -> tuple[Conversation, str]:
    """The Conversation a transcript file describes, and the file's sha256."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise TranscriptError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        raw = blob.decode("utf-8")
    except UnicodeDecodeError:
        raise TranscriptError(f"{path}: not a UTF-8 text transcript") from None
    records, duration = _records(path, raw)
    utterances = sorted((_utterance(d, where) for where, d in records), key=lambda u: (u.start, u.end))
    last = max((u.end for u in utterances), default=0.0)
    if duration is not None and duration + 0.01 < last:
        raise TranscriptError(f"{path}: duration {duration} ends before the last utterance ({last})")
    return Conversation(tuple(utterances), duration if duration is not None else last), hashlib.sha256(blob).hexdigest()
