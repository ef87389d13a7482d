"""Sentence embeddings for the empathy analysis: all-MiniLM-L6-v2, run in plain numpy.

Why not sentence-transformers at run time: importing torch + transformers + sentence-transformers
costs ~6 s on the 2-core review machine, more than the whole language analysis may add to a
5-minute review (≤ 10 % of 20–30 s). The model is a 6-layer BERT (22 M parameters); its forward
pass is a dozen matrix products, so numpy with the same weights (safetensors) and the same
WordPiece tokenizer (`tokenizers`, Rust) loads in ~0.2 s and gives the same vectors
(cosine > 0.9999 against sentence-transformers; tests/test_empathy_model.py checks it).
`load_embedder(backend="sentence-transformers")` keeps the reference implementation available
(torch; honours `device`). The numpy backend always runs on the CPU: it is cheap enough there.

Output contract (the `Embedder` protocol): `encode(texts) -> (n, 384)` float32, L2-normalised
(mean pooling over tokens, then normalisation — what the model's modules.json prescribes).
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Protocol, Sequence

import numpy as np

from ..memo import Memo

log = logging.getLogger(__name__)

_BATCH = 32           # sentences per forward pass; sorted by length so padding stays small
_MAX_TOKENS = 256     # the model's max_seq_length (sentence_bert_config.json)


class Embedder(Protocol):
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, d) float32, each row L2-normalised."""
        ...


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: np.ndarray     # (h, 3h): query, key and value projections fused into one product
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray
    up_b: np.ndarray
    down_w: np.ndarray
    down_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _gelu(x: np.ndarray) -> np.ndarray:
    # The model was trained with exact (erf) GELU; numpy has no erf and a polynomial erf costs 12x
    # the tanh form. The tanh form differs by < 5e-4 per activation and leaves the sentence
    # vectors at cosine > 0.9999 to the reference (checked in tests).
    inner = np.float32(0.7978845608) * (x + np.float32(0.044715) * x * x * x)
    return np.float32(0.5) * x * (np.float32(1.0) + np.tanh(inner))


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * g + b


class NumpyMiniLM:
    """BERT encoder + mean pooling + L2 normalisation, weights from a sentence-transformers folder."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        cfg = json.loads((model_dir / "config.json").read_text())
        weights = model_dir / "model.safetensors"
        stat = weights.stat()
        # names the exact weights (path, size, mtime): keys the on-disk cache of exemplar vectors
        self.name = f"minilm:{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
        self.identity = _identity(model_dir, stat.st_size)
        self._heads = int(cfg["num_attention_heads"])
        self._eps = float(cfg.get("layer_norm_eps", 1e-12))
        self._tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_padding()  # the shipped tokenizer pads every input to 128: we pad per batch
        self._tok.enable_truncation(_MAX_TOKENS)
        w = load_file(str(model_dir / "model.safetensors"))
        w = {k.removeprefix("bert."): v.astype(np.float32, copy=False) for k, v in w.items()}
        self._word = w["embeddings.word_embeddings.weight"]
        self._pos = w["embeddings.position_embeddings.weight"]
        self._types = w["embeddings.token_type_embeddings.weight"]
        self._emb_g, self._emb_b = w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]
        self._layers = tuple(_load_layer(w, i) for i in range(int(cfg["num_hidden_layers"])))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        dim = self._word.shape[1]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        if not texts:
            return out
        ids = [enc.ids for enc in self._tok.encode_batch(list(texts))]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        with _one_blas_thread():
            for s in range(0, len(order), _BATCH):
                chunk = order[s:s + _BATCH]
                out[chunk] = self._encode_batch([ids[i] for i in chunk])
        return out

    def _encode_batch(self, ids: list[list[int]]) -> np.ndarray:
        pooled = self.pooled(ids)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def pooled(self, ids: Sequence[Sequence[int]], types: Sequence[Sequence[int]] | None = None,
               layers: Sequence[_Layer] | None = None) -> np.ndarray:
        """Mean of the last hidden states over each sequence's tokens (one padded batch). `types`:
        segment ids of sentence pairs; `layers`: fine-tuned layers in place of the packaged ones
        (phrasing/pairs.py), over this model's embeddings."""
        n, length = len(ids), max(len(x) for x in ids)
        tok = np.zeros((n, length), dtype=np.int64)
        seg = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for i, row in enumerate(ids):
            tok[i, :len(row)] = row
            mask[i, :len(row)] = 1.0
            if types is not None:
                seg[i, :len(row)] = types[i]
        x = self._word[tok] + self._pos[:length] + self._types[seg]
        x = _layer_norm(x, self._emb_g, self._emb_b, self._eps)
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # padded keys get no attention
        for layer in layers or self._layers:
            x = self._block(x, bias, layer)
        return (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)

    def _block(self, x: np.ndarray, bias: np.ndarray, p: _Layer) -> np.ndarray:
        n, length, h = x.shape
        d = h // self._heads
        x = x.reshape(n * length, h)  # one GEMM per projection instead of one per sentence
        qkv = (x @ p.qkv_w + p.qkv_b).reshape(n, length, 3, self._heads, d).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]                                   # (n, heads, L, d)
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(d)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attn = scores / scores.sum(-1, keepdims=True)
        ctx = (attn @ v).transpose(0, 2, 1, 3).reshape(n * length, h)
        x = _layer_norm(x + ctx @ p.out_w + p.out_b, p.ln1_g, p.ln1_b, self._eps)
        ff = _gelu(x @ p.up_w + p.up_b) @ p.down_w + p.down_b
        return _layer_norm(x + ff, p.ln2_g, p.ln2_b, self._eps).reshape(n, length, h)


@functools.cache
def _blas_controller() -> object | None:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()                       # scans the loaded libraries once


def _one_blas_thread() -> contextlib.AbstractContextManager:
    # The products are small (32 sentences x ~20 tokens x 384): a second OpenBLAS thread gains
    # nothing, and on the shared 2-core review machine its spin-waiting made a call 1.5-4x slower
    # (0.27 s on one thread vs 0.4-1.3 s on two, measured while other work ran).
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")  # type: ignore[attr-defined]


def _load_layer(w: Mapping[str, np.ndarray], i: int) -> _Layer:
    pre = f"encoder.layer.{i}."

    def lin(name: str) -> tuple[np.ndarray, np.ndarray]:
        # torch Linear stores (out, in); transpose once here so every product is x @ W
        return np.ascontiguousarray(w[pre + name + ".weight"].T), w[pre + name + ".bias"]

    (qw, qb), (kw, kb), (vw, vb) = lin("attention.self.query"), lin("attention.self.key"), lin("attention.self.value")
    out_w, out_b = lin("attention.output.dense")
    up_w, up_b = lin("intermediate.dense")
    down_w, down_b = lin("output.dense")
    return _Layer(
        qkv_w=np.ascontiguousarray(np.concatenate([qw, kw, vw], axis=1)), qkv_b=np.concatenate([qb, kb, vb]),
        out_w=out_w, out_b=out_b,
        ln1_g=w[pre + "attention.output.LayerNorm.weight"], ln1_b=w[pre + "attention.output.LayerNorm.bias"],
        up_w=up_w, up_b=up_b, down_w=down_w, down_b=down_b,
        ln2_g=w[pre + "output.LayerNorm.weight"], ln2_b=w[pre + "output.LayerNorm.bias"],
    )


class SentenceTransformerEmbedder:
    """The reference implementation (torch); slower to load, used to check the numpy port."""

    def __init__(self, model_dir: Path, device: str = "cpu") -> None:
        _torchaudio_without_extension()
        from sentence_transformers import SentenceTransformer

        weights = model_dir / "model.safetensors"
        stat = weights.stat()
        self.name = f"minilm:{weights.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"  # same vectors as numpy
        self.identity = _identity(model_dir, stat.st_size)
        self._model = SentenceTransformer(str(model_dir), device=device)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vecs = self._model.encode(list(texts), batch_size=_BATCH, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vecs, dtype=np.float32)


def _identity(model_dir: Path, size: int) -> str:
    """Which weights, portably (no path): the architecture's shape and the weights file's size. A
    phrasing head trained on one encoder refuses another."""
    cfg = json.loads((model_dir / "config.json").read_text())
    return f"{cfg.get('model_type', 'enc')}-{cfg.get('num_hidden_layers')}x{cfg.get('hidden_size')}:{size}"


class CachedEmbedder:
    """`Embedder` with an LRU of sentence vectors: a live server shares one between its calls (the
    analysis re-reads the last minute every second); a review reads a turn again in a wider one."""

    def __init__(self, inner: Embedder, size: int = 20000):
        self.inner = inner
        self.name = getattr(inner, "name", None)  # exemplar caches key on the model, not the wrapper
        self.identity = getattr(inner, "identity", None)   # a phrasing head checks its encoder by this
        self._memo = Memo(size)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows = self._memo.rows(list(texts), self.inner.encode)
        return np.stack(rows) if rows else np.zeros((0, 384), dtype=np.float32)


def encoder_identity(embedder: Embedder) -> str:
    return str(getattr(embedder, "identity", None) or getattr(embedder, "name", "unknown"))


def _torchaudio_without_extension() -> None:
    # transformers imports torchaudio; the PyPI torchaudio wheel's compiled extension needs CUDA
    # libraries absent from the CPU torch build. Only pure-Python parts are used: skip the .so.
    import sys

    try:
        import torchaudio  # noqa: F401
    except OSError:
        sys.modules["torchaudio._extension.utils"]._load_lib = lambda lib: False  # type: ignore[attr-defined]
        import torchaudio  # noqa: F401


_CACHE: dict[tuple[str, str, str], Embedder] = {}
_CACHE_LOCK = threading.Lock()    # live monitoring may analyse calls from several threads


def load_embedder(model_dir: Path | None = None, device: str = "cpu", backend: str = "numpy") -> Embedder:
    """The MiniLM sentence embedder, loaded once per process (later calls return the same object).

    backend "numpy" (default; CPU, fast to load) or "sentence-transformers" (torch; honours `device`).
    """
    from audio_pipeline.models import find_sentence_model

    if backend not in ("numpy", "sentence-transformers"):
        raise ValueError(f"unknown embedder backend '{backend}' (numpy | sentence-transformers)")
    path = Path(model_dir) if model_dir is not None else find_sentence_model()
    key = (str(path.resolve()), "cpu" if backend == "numpy" else device, backend)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = NumpyMiniLM(path) if backend == "numpy" else SentenceTransformerEmbedder(path, device)
            log.debug("sentence embedder loaded: %s (%s)", path, backend)
        return _CACHE[key]
