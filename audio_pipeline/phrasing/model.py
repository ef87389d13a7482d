"""The phrasing head: per speaker, a linear (or one-hidden-layer) multi-label classifier over
`features.assemble` vectors, with per-head Platt calibration fitted on out-of-fold scores, so a
probability of 0.8 means about 8 in 10 such lines carry the label. numpy only: a review never
imports the training stack."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from .labels import heads
from .ngrams import NgramVectorizer

FORMAT = "phrasing-head/1"


@dataclass(frozen=True)
class SpeakerHead:
    heads: tuple[str, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]   # (W, b) per layer; relu between layers
    cal_a: np.ndarray                                    # Platt slope per head
    cal_b: np.ndarray                                    # Platt offset per head

    def scores(self, x: np.ndarray) -> np.ndarray:
        h = x
        for i, (w, b) in enumerate(self.layers):
            h = h @ w + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(n, heads) calibrated probabilities."""
        z = self.cal_a * self.scores(x) + self.cal_b
        return (1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))).astype(np.float32)


@dataclass(frozen=True)
class PhrasingModel:
    encoder: str                 # identity of the sentence encoder the head was trained on
    dim: int                     # feature width the head expects
    sides: Mapping[str, SpeakerHead]
    meta: Mapping[str, object]
    ngrams: tuple[NgramVectorizer, ...] = ()    # n-gram blocks appended to every row
    pair_refs: Mapping[str, Mapping] | None = None  # speaker -> the pair model it averages with: file, digest, Platt
    pairs: Mapping[str, object] | None = None       # speaker -> that PairModel, once attached (language.py)

    def inputs(self, dense: np.ndarray, texts: list[str]) -> np.ndarray:
        """Full input rows: the `features.assemble` block, then the texts' n-gram blocks."""
        if not self.ngrams:
            return dense
        return np.hstack([dense, *(v.transform(texts) for v in self.ngrams)])

    def probabilities(self, speaker: str, dense: np.ndarray, texts: list[str], rows: int = 256,
                      contexts: list[list[str]] | None = None) -> dict[str, np.ndarray]:
        """predict over inputs built `rows` at a time: the n-gram blocks are dense and ~50k wide
        (200 KB a row), so a long call's thousands of turns at once would take gigabytes. With a
        pair model of that speaker attached and the lines' `contexts` (the turns before each), the
        probabilities are the mean of the head's and the pair model's."""
        parts = [self.predict(speaker, self.inputs(dense[s:s + rows], texts[s:s + rows]))
                 for s in range(0, len(texts), rows)] or [self.predict(speaker, dense[:0])]
        out = {h: np.concatenate([p[h] for p in parts]) for h in parts[0]}
        pairs = (self.pairs or {}).get(speaker)
        if pairs is None or contexts is None or not texts:
            return out
        paired = self.pair_probabilities(speaker, pairs.logits(texts, contexts))
        return {h: (p + paired[h]) / 2 if h in paired else p for h, p in out.items()}

    def pair_probabilities(self, speaker: str, logits: np.ndarray) -> dict[str, np.ndarray]:
        """Calibrated probabilities from a pair model's raw scores (Platt, fitted in training)."""
        ref = (self.pair_refs or {})[speaker]
        a, b = np.asarray(ref["cal_a"], np.float32), np.asarray(ref["cal_b"], np.float32)
        prob = 1.0 / (1.0 + np.exp(-np.clip(a * logits + b, -40, 40)))
        return {h: prob[:, i].astype(np.float32) for i, h in enumerate(ref["heads"])}

    def with_pairs(self, pairs: Mapping[str, object]) -> "PhrasingModel":
        """This head with the pair models its calibration was fitted for attached."""
        for speaker, ref in (self.pair_refs or {}).items():
            found = pairs.get(speaker)
            if found is None or found.digest != ref.get("digest") or tuple(found.heads) != tuple(ref.get("heads", ())):
                raise PhrasingModelError(f"the phrasing head was calibrated for {speaker} pair model {ref.get('digest')}, "
                                         f"not {getattr(found, 'digest', None)}: retrain the head (make train-phrasing)")
        return replace(self, pairs=dict(pairs))

    def predict(self, speaker: str, x: np.ndarray) -> dict[str, np.ndarray]:
        """head name -> (n,) probabilities for rows of one speaker's features."""
        side = self.sides[speaker]
        probs = side.predict(x) if len(x) else np.zeros((0, len(side.heads)), np.float32)
        return {h: probs[:, i] for i, h in enumerate(side.heads)}

    def save(self, path: Path) -> None:
        arrays: dict[str, np.ndarray] = {}
        for speaker, side in self.sides.items():
            for i, (w, b) in enumerate(side.layers):
                arrays[f"{speaker}.w{i}"], arrays[f"{speaker}.b{i}"] = w.astype(np.float32), b.astype(np.float32)
            arrays[f"{speaker}.cal_a"], arrays[f"{speaker}.cal_b"] = side.cal_a, side.cal_b
        header = {"format": FORMAT, "encoder": self.encoder, "dim": self.dim, "meta": dict(self.meta),
                  "pairs": dict(self.pair_refs) if self.pair_refs else None,
                  "layers": {s: len(side.layers) for s, side in self.sides.items()},
                  "heads": {s: list(side.heads) for s, side in self.sides.items()}}
        for i, v in enumerate(self.ngrams):
            arrays.update(v.to_arrays(f"ngrams{i}"))
        save_weights(path, arrays, header)


class PhrasingModelError(ValueError):
    """The head file is missing, unreadable or was trained for another encoder."""


def save_weights(path: Path, arrays: dict[str, np.ndarray], header: dict) -> None:
    """arrays and a JSON header as one compressed npz, written atomically."""
    arrays = {**arrays, "header": np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    tmp.replace(path)


def open_weights(path: Path, fmt: str, what: str, error: type[ValueError]) -> tuple[object, dict]:
    """(the npz, its JSON header) of a weights file of format `fmt`, or `error` saying why not."""
    try:
        data = np.load(path)
        header = json.loads(bytes(data["header"]).decode())
    except (OSError, ValueError, KeyError) as exc:
        raise error(f"{what} {path}: cannot read it ({exc})") from None
    if header.get("format") != fmt:
        raise error(f"{what} {path}: format {header.get('format')!r}, expected {fmt}")
    return data, header


def load(path: Path) -> PhrasingModel:
    data, header = open_weights(path, FORMAT, "phrasing model", PhrasingModelError)
    sides = {}
    for speaker, names in header["heads"].items():
        if tuple(names) != heads(speaker):
            raise PhrasingModelError(f"phrasing model {path}: {speaker} heads {names} differ from this version's")
        layers = tuple((data[f"{speaker}.w{i}"], data[f"{speaker}.b{i}"]) for i in range(header["layers"][speaker]))
        sides[speaker] = SpeakerHead(tuple(names), layers, data[f"{speaker}.cal_a"], data[f"{speaker}.cal_b"])
    ngrams = tuple(NgramVectorizer.from_arrays(data, f"ngrams{i}") for i in range(8) if f"ngrams{i}.terms" in data)
    return PhrasingModel(header["encoder"], int(header["dim"]), sides, header.get("meta", {}), ngrams,
                         header.get("pairs"))
