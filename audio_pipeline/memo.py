"""A bounded, thread-safe memo of per-item results: the live analysis re-reads the last minute of
a call every second, and each of its sentences should go through a model once, not once a second."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable, Sequence

import numpy as np


class Memo:
    """LRU of row vectors keyed by item; `rows(keys, compute)` computes only the missing ones."""

    def __init__(self, size: int = 20000):
        self.size = size
        self._memo: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._memo)

    def rows(self, keys: Sequence[Hashable], compute: Callable[[list], np.ndarray]) -> list[np.ndarray]:
        with self._lock:
            missing = list(dict.fromkeys(k for k in keys if k not in self._memo))
        if missing:
            computed = np.asarray(compute(missing), dtype=np.float32)
            with self._lock:
                for k, v in zip(missing, computed):
                    self._memo[k] = v
                while len(self._memo) > self.size:
                    self._memo.popitem(last=False)
        with self._lock:
            out = []
            for k in keys:
                v = self._memo.get(k)
                if v is None:  # evicted between the two locks by another call's burst
                    v = np.asarray(compute([k]), dtype=np.float32)[0]
                else:
                    self._memo.move_to_end(k)
                out.append(v)
        return out
