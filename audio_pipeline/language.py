"""The review's language stage: empathy phrasing over a Conversation, with the sentence-embedding
model loaded on first use and kept for the life of the process."""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

from .config import EmpathyOptions
from .types import Conversation, Finding


class LazyEmbedder:
    """Loads the embedding model the first time something needs an embedding."""

    def __init__(self, device: str = "cpu"):
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            if self._model is None:
                from .analysis.empathy import load_embedder

                self._model = load_embedder(device=self.device)
        return self._model.encode(texts)


class LanguageAnalyzer:
    def __init__(self, opts: EmpathyOptions, device: str = "cpu"):
        from .analysis.empathy import load_lexicon

        self.opts = opts
        self.lexicon = load_lexicon(opts.lexicon_path)
        self.embedder = LazyEmbedder("cuda" if device == "cuda" else "cpu") if opts.semantic else None

    def analyze(self, conv: Conversation) -> tuple[list[Finding], dict]:
        from .analysis.empathy import analyze_empathy, empathy_metrics

        findings = analyze_empathy(conv, self.lexicon, self.embedder, self.opts)
        return findings, empathy_metrics(findings)
