"""The live server's sentence memo: `CachedEmbedder` (analysis/embedder.py), one per server, shared
by its calls, so each sentence is embedded once, not once a second."""
from __future__ import annotations

from ..analysis.embedder import CachedEmbedder

__all__ = ["CachedEmbedder"]
