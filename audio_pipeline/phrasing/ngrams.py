"""N-gram TF-IDF features of an utterance, as scikit-learn's TfidfVectorizer computes them (word
n-grams of tokens of two or more word characters, or character n-grams inside word boundaries;
lowercase, sublinear tf, l2 norm), reimplemented in plain Python + numpy so a review never imports
scikit-learn. Sentence embeddings blur stance ("that's not my problem" sits near "that's not a
problem"); word n-grams keep it, and character n-grams still see it through ASR misspellings."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SPACES = re.compile(r"\s\s+")


@dataclass(frozen=True)
class NgramVectorizer:
    vocabulary: Mapping[str, int]
    idf: np.ndarray
    ngram_range: tuple[int, int] = (1, 2)
    analyzer: str = "word"           # word | char_wb

    @property
    def size(self) -> int:
        return len(self.idf)

    def _ngrams(self, text: str) -> list[str]:
        lo, hi = self.ngram_range
        if self.analyzer == "char_wb":
            return _char_wb(_SPACES.sub(" ", text.lower()), lo, hi)
        tokens = _TOKEN.findall(text.lower())
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
                f"{prefix}.range": np.array(self.ngram_range, dtype=np.int64),
                f"{prefix}.analyzer": np.frombuffer(self.analyzer.encode(), dtype=np.uint8)}

    @classmethod
    def from_arrays(cls, data: Mapping[str, np.ndarray], prefix: str) -> "NgramVectorizer":
        terms = bytes(data[f"{prefix}.terms"]).decode().split("\n")
        lo, hi = (int(v) for v in data[f"{prefix}.range"])
        analyzer = bytes(data[f"{prefix}.analyzer"]).decode() if f"{prefix}.analyzer" in data else "word"
        return cls({t: i for i, t in enumerate(terms)}, np.asarray(data[f"{prefix}.idf"], np.float32), (lo, hi), analyzer)

    @classmethod
    def from_sklearn(cls, tv) -> "NgramVectorizer":
        return cls(dict(tv.vocabulary_), tv.idf_.astype(np.float32), tuple(tv.ngram_range), tv.analyzer)


def _char_wb(text: str, lo: int, hi: int) -> list[str]:
    # scikit-learn's _char_wb_ngrams: each word padded with one space, a word shorter than n once
    grams = []
    for w in text.split():
        w = f" {w} "
        for n in range(lo, hi + 1):
            offset = 0
            grams.append(w[offset:offset + n])
            while offset + n < len(w):
                offset += 1
                grams.append(w[offset:offset + n])
            if offset == 0:
                break
    return grams
