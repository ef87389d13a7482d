"""Word n-gram TF-IDF features of an utterance, as scikit-learn's TfidfVectorizer computes them
(lowercase, tokens of two or more word characters, sublinear tf, l2 norm), reimplemented in plain
Python + numpy so a review never imports scikit-learn. Sentence embeddings blur stance ("that's
not my problem" sits near "that's not a problem"); n-grams keep it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@dataclass(frozen=True)
class NgramVectorizer:
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    ngram_range: tuple[int, int] = (1, 2)

    @property
    def size(self) -> int:
        return len(self.idf)

    def _ngrams(self, text: str) -> list[str]:
        tokens = _TOKEN.findall(text.lower())
        lo, hi = self.ngram_range
        return [" ".join(tokens[i:i + n]) for n in range(lo, hi + 1) for i in range(len(tokens) - n + 1)]

    def transform(self, texts: Sequence[str]) -> np.ndarray:
        """(n, size) float32 rows: (1 + log tf) * idf, l2-normalised."""
        out = np.zeros((len(texts), self.size), dtype=np.float32)
        for row, text in enumerate(texts):
            counts: dict[int, int] = {}
            for g in self._ngrams(text):
                j = self.vocabulary.get(g)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if counts:
                idx = np.fromiter(counts, dtype=np.int64)
                tf = 1.0 + np.log(np.fromiter(counts.values(), dtype=np.float64))
                vals = tf * self.idf[idx]
                out[row, idx] = vals / np.linalg.norm(vals)
        return out

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        terms = sorted(self.vocabulary, key=self.vocabulary.get)
        return {f"{prefix}.terms": np.frombuffer("\n".join(terms).encode(), dtype=np.uint8),
                f"{prefix}.idf": self.idf.astype(np.float32),
                f"{prefix}.range": np.array(self.ngram_range, dtype=np.int64)}

    @classmethod
    def from_arrays(cls, data: Mapping[str, np.ndarray], prefix: str) -> "NgramVectorizer":
        terms = bytes(data[f"{prefix}.terms"]).decode().split("\n")
        lo, hi = (int(v) for v in data[f"{prefix}.range"])
        return cls({t: i for i, t in enumerate(terms)}, np.asarray(data[f"{prefix}.idf"], np.float32), (lo, hi))

    @classmethod
    def from_sklearn(cls, tv) -> "NgramVectorizer":
        return cls(dict(tv.vocabulary_), tv.idf_.astype(np.float32), tuple(tv.ngram_range))
