"""The pair models: MiniLM fine-tuned on one speaker's labelled lines (phrasing/finetune.py), reading
a line together with the turn before it, run in numpy over the packaged model's embeddings and
tokenizer. Their calibrated probabilities are averaged with the head's (phrasing/model.py): on
authors none had read, the average beat either alone (BENCHMARKS.md, phrasing). numpy only."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..memo import Memo

FORMAT = "phrasing-pairs/1"
MAX_TOKENS = 96           # line + context (95 % of dev pairs are shorter); longer ones lose words
CONTEXT = 1               # turns before the line that it is read with (two cost 1.45x the tokens)
_BATCH = 32


def context_text(context: Sequence[str]) -> str:
    """The pair's second segment: the last CONTEXT turns before the line."""
    return " ".join(t for t in context[-CONTEXT:] if t)


def quantize(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(out, in) float weights -> int8 and one fp32 scale per output unit."""
    scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
    return np.round(w / scale[:, None]).astype(np.int8), scale.astype(np.float32)


def dequantize(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * scale[:, None]


@dataclass(frozen=True)
class PairModel:
    encoder: str                        # identity of the packaged encoder whose embeddings it reads
    speaker: str                        # whose lines it reads (agent | customer)
    heads: tuple[str, ...]
    digest: str                         # names these weights; the head's calibration refers to it
    layers: tuple                       # embedder._Layer per transformer layer
    head_w: np.ndarray                  # (hidden, heads)
    head_b: np.ndarray
    tok: object                         # its own tokenizer: pairs truncate at MAX_TOKENS
    embedder: object                    # the packaged NumpyMiniLM: embeddings and forward pass
    memo: Memo = field(default_factory=Memo, compare=False, repr=False)

    def logits(self, texts: Sequence[str], contexts: Sequence[Sequence[str]]) -> np.ndarray:
        """(n, heads) raw scores of each line read with its context (the turns before it). Memoised:
        a live call's analysis reads the same lines again every second."""
        if not texts:
            return np.zeros((0, len(self.heads)), np.float32)
        keys = [(t, context_text(c)) for t, c in zip(texts, contexts)]
        return np.stack(self.memo.rows(keys, self._compute))

    def _compute(self, keys: list[tuple[str, str]]) -> np.ndarray:
        from ..analysis.embedder import _one_blas_thread

        encs = self.tok.encode_batch([(t, c) if c else t for t, c in keys])
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        out = np.zeros((len(keys), len(self.heads)), np.float32)
        with _one_blas_thread():
            for s in range(0, len(order), _BATCH):
                chunk = order[s:s + _BATCH]
                pooled = self.embedder.pooled([encs[i].ids for i in chunk], [encs[i].type_ids for i in chunk], self.layers)
                out[chunk] = pooled @ self.head_w + self.head_b
        return out


def tokenizer(model_dir: Path):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    return tok


class PairModelError(ValueError):
    """The pair weights are missing, unreadable or for another encoder."""


def load(path: Path, model_dir: Path) -> PairModel:
    """The weights at `path`, over the packaged encoder in `model_dir` (its tokenizer)."""
    from ..analysis.embedder import NumpyMiniLM, _load_layer, encoder_identity, load_embedder
    from .model import open_weights

    data, header = open_weights(path, FORMAT, "phrasing pair model", PairModelError)
    weights = layer_weights(data)
    n_layers = 1 + max(int(k.split(".")[2]) for k in weights)
    layers = tuple(_load_layer(weights, i) for i in range(n_layers))
    embedder = load_embedder(model_dir)
    if not isinstance(embedder, NumpyMiniLM) or encoder_identity(embedder) != header["encoder"]:
        raise PairModelError(f"phrasing pair model {path}: trained over encoder {header['encoder']}, "
                             f"not {encoder_identity(embedder)}: retrain it (make train-phrasing-pairs)")
    return PairModel(header["encoder"], header.get("speaker", "agent"), tuple(header["heads"]),
                     header.get("digest", ""), layers, data["head.w"].astype(np.float32),
                     data["head.b"].astype(np.float32), tokenizer(model_dir), embedder)


def layer_weights(data) -> dict[str, np.ndarray]:
    """The fine-tuned layers' float32 weights, named and laid out as in the packaged model's file."""
    weights: dict[str, np.ndarray] = {}
    for key in data.files:
        if key.startswith("enc.") and key.endswith(".q"):
            weights["encoder." + key[4:-2]] = dequantize(data[key], data[key[:-2] + ".scale"])
        elif key.startswith("enc.") and not key.endswith(".scale"):
            weights["encoder." + key[4:]] = data[key].astype(np.float32)
    return weights


def out_of_fold(path: Path) -> tuple[list[str], np.ndarray, dict]:
    """The example ids and out-of-fold logits stored with the weights, and their header (training
    reads these)."""
    from .model import open_weights

    data, header = open_weights(path, FORMAT, "phrasing pair model", PairModelError)
    with data:
        return json.loads(bytes(data["oof.ids"]).decode()), data["oof.logits"].astype(np.float32), header
