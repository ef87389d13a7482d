"""A bounded memo in front of the sentence embedder: the live analysis re-reads the last minute of
conversation every second, and its sentences should be embedded once, not once a second."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np

from ..analysis.embedder import Embedder


class CachedEmbedder:
    """`Embedder` with an LRU of sentence vectors (shared by every call of a server)."""

    def __init__(self, inner: Embedder, size: int = 20000):
        self.inner, self.size = inner, size
        self.name = getattr(inner, "name", None)  # exemplar caches key on the model, not the wrapper
        self.identity = getattr(inner, "identity", None)   # a phrasing head checks its encoder by this
        self._memo: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            vectors = np.asarray(self.inner.encode(missing), dtype=np.float32)
            with self._lock:
                for t, v in zip(missing, vectors):
                    self._memo[t] = v
                while len(self._memo) > self.size:
                    self._memo.popitem(last=False)
        with self._lock:
            rows = []
            for t in texts:
                v = self._memo.get(t)
                if v is None:  # evicted between the two locks by another call's burst
                    v = np.asarray(self.inner.encode([t]), dtype=np.float32)[0]
                if t in self._memo:
                    self._memo.move_to_end(t)
                rows.append(v)
        return np.stack(rows) if rows else np.zeros((0, 384), dtype=np.float32)
