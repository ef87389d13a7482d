"""The labelled phrasing corpus (data/phrasing): dialogues of labelled turns, read as one example
per turn with the turns before it as context. Splits are by batch (splits.json), so one author's
near-duplicates never straddle train and test."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .labels import AGENT_HEADS, CUSTOMER_HEADS, DISTRESS_KINDS

CONTEXT_TURNS = 2          # turns before the utterance that the model reads with it
_VALID = {"agent": {h for h in AGENT_HEADS if h != "empathy"}, "customer": set(DISTRESS_KINDS)}


@dataclass(frozen=True, slots=True)
class Example:
    id: str
    dialogue: str
    batch: str
    speaker: str
    text: str
    context: tuple[str, ...]       # the turns before it, oldest first (at most CONTEXT_TURNS)
    labels: frozenset[str]
    variant: str = "text"          # text | asr (the line as tiny.en heard it)


def read_dialogues(root: Path, pattern: str = "batches/*/part-*.jsonl",
                   batches: set[str] | None = None) -> Iterator[dict]:
    for path in sorted(root.glob(pattern)):
        if batches is not None and path.parent.name not in batches:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{n}: {exc}") from None


def examples(dialogue: dict) -> list[Example]:
    out, history = [], []
    variant = dialogue.get("variant", "text")
    tag = "" if variant == "text" else f":{variant}"
    for i, turn in enumerate(dialogue["turns"]):
        speaker, text = turn["speaker"], turn["text"].strip()
        labels = frozenset(lb for lb in turn.get("labels", []) if lb in _VALID.get(speaker, ()))
        if speaker in _VALID and text:
            out.append(Example(f"{dialogue['id']}:{i}{tag}", dialogue["id"], dialogue.get("batch", dialogue["id"].split("-")[0]),
                               speaker, text, tuple(history[-CONTEXT_TURNS:]), labels, variant))
        history.append(text)
    return out


def load(root: Path, asr: bool = True, batches: set[str] | None = None) -> list[Example]:
    """Every turn of every dialogue; with `asr`, also the noisy copies (asr/<batch>/part-*.jsonl:
    the same dialogues, ids and labels, each line as tiny.en transcribed its TTS rendering)."""
    found = [ex for d in read_dialogues(root, batches=batches) for ex in examples(d)]
    if asr:
        found += [ex for d in read_dialogues(root, "asr/*/part-*.jsonl", batches) for ex in examples(d)]
    return found


def has_label(dialogue: dict, wanted: set[str]) -> bool:
    """Whether a line of the dialogue carries one of `wanted` (a category counts as its label:
    "empathy:recap" is "empathy")."""
    return any(label.split(":")[0] in wanted for t in dialogue["turns"] for label in t["labels"])


def split_of(root: Path) -> dict[str, str]:
    """batch -> dev | test."""
    return json.loads((root / "splits.json").read_text())["batches"]
