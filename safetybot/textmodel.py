"""A small linear text classifier: folded text, hashed n-gram features, one score per class.

Used where word lists stop generalising (typos, missing accents, slang, look-alike letters):
reading what a person types (core/understanding.py). The weights are a compressed NumPy file
shipped inside the package and made by `safetybot train-intents` (training.py, scikit-learn);
reading them needs only NumPy, nothing is fetched, and nothing a person types is kept.

Features, the same in training and here: words, word pairs, the 3- to 5-letter pieces of each
word with its edges (so "borrar", "borra" and "boorrar" share most of them) and the 6-letter
pieces across a word boundary (bits of short phrases, however spelled), each hashed
with CRC-32 into a fixed number of buckets; counts are damped (1 + log) and the vector scaled
to length 1. A class's score is the dot product with its weights plus a bias.
"""

from __future__ import annotations

import functools
import json
import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["BUCKETS", "MAX_CHARS", "LinearModel", "features", "fold", "hashed", "vector"]

# 2**18 buckets: few collisions for the tens of thousands of features a training set has.
BUCKETS = 1 << 18
# Only the start of a very long text is read: what a person leads with decides, and the work
# stays bounded (a 4,096-character message costs the same as this).
MAX_CHARS = 1500
_CHAR_NGRAMS = (3, 4, 5)
_CROSS = 6

# Look-alike letters people (and spammers) use to get past word filters, folded to Latin.
_CONFUSABLES = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
        "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p",
        "τ": "t", "υ": "u", "χ": "x", "ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l",
    }
)  # fmt: skip
# Digits and signs inside words ("n00ds", "h3lp", "d@ta"), read as the letters they imitate.
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_TOKEN = re.compile(r"[^\W_]+(?:[@$][^\W_]*)*|[@$][^\W_]+", re.UNICODE)
_REPEAT = re.compile(r"(.)\1{2,}")


@functools.lru_cache(maxsize=4096)
def _fold_token(token: str) -> str:
    if token.isdecimal():
        return "0" * min(len(token), 4)  # "in 10 minutes", "in 15 minutes": one shape
    if token[0].isalpha():
        token = token.translate(_LEET)  # "n00ds", not "10min"
    return _REPEAT.sub(r"\1\1", token)


def fold(text: str, limit: int = MAX_CHARS) -> list[str]:
    """The words of a text as the model reads them: lower case, no accents, letters unmasked."""
    text = unicodedata.normalize("NFKD", text[:limit].casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).translate(_CONFUSABLES)
    text = text.replace("'", "").replace("\u2019", "")  # "don't" and "dont" are one word
    return [_fold_token(token) for token in _TOKEN.findall(text)]


def features(text: str, limit: int = MAX_CHARS) -> Iterator[str]:
    """Every feature of a text, as strings (the training side counts the same ones)."""
    words = fold(text, limit)
    for index, word in enumerate(words):
        yield "w:" + word
        if index:
            yield "b:" + words[index - 1] + " " + word
        padded = f" {word} "
        for size in _CHAR_NGRAMS:
            for start in range(len(padded) - size + 1):
                yield "c:" + padded[start : start + size]
    # Pieces across a word boundary ("t to d", "me mat"): short phrases whatever their spelling.
    plain = " " + " ".join(words) + " "
    for start in range(len(plain) - _CROSS + 1):
        piece = plain[start : start + _CROSS]
        if " " in piece[1:-1]:
            yield "x:" + piece


def hashed(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Bucket numbers and their weights: damped counts scaled to length 1."""
    return vector(features(text))


def vector(names: Iterable[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Hash any features into buckets with their weights (damped counts, length 1)."""
    counts = Counter(zlib.crc32(name.encode()) & (BUCKETS - 1) for name in names)
    if not counts:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    buckets = np.fromiter(counts.keys(), np.int64, len(counts))
    values = 1.0 + np.log(np.fromiter(counts.values(), np.float32, len(counts)))
    values /= math.sqrt(float(np.dot(values, values)))
    return buckets, values.astype(np.float32)


@dataclass(frozen=True)
class LinearModel:
    """Class weights over hashed features, with the settings they were trained with."""

    classes: tuple[str, ...]
    rows: npt.NDArray[np.int32]  # for each bucket, its row in `weights`, or -1 (no weight)
    weights: npt.NDArray[np.float32]  # rows x classes
    bias: npt.NDArray[np.float32]
    meta: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a weights file written by `save` (no pickles: plain arrays and JSON)."""
        with np.load(path, allow_pickle=False) as data:
            buckets = data["buckets"].astype(np.int64)
            weights = data["weights"].astype(np.float32)
            bias = data["bias"].astype(np.float32)
            meta = json.loads(str(data["meta"]))
        classes = tuple(str(name) for name in meta["classes"])
        if weights.shape != (len(buckets), len(classes)) or bias.shape != (len(classes),):
            raise ValueError("weights file does not match its classes")
        if len(buckets) and (buckets.min() < 0 or buckets.max() >= BUCKETS):
            raise ValueError("weights file has buckets out of range")
        rows = np.full(BUCKETS, -1, np.int32)
        rows[buckets] = np.arange(len(buckets), dtype=np.int32)
        return cls(classes, rows, weights, bias, meta)

    @staticmethod
    def save(
        path: Path,
        classes: Sequence[str],
        dense: npt.NDArray[np.float64],
        bias: npt.NDArray[np.float64],
        meta: dict[str, Any],
    ) -> None:
        """Write weights (buckets x classes): only buckets with a weight, as float16."""
        kept = np.flatnonzero(np.abs(dense).max(axis=1) >= 1e-4)
        with path.open("wb") as out:
            np.savez_compressed(
                out,
                buckets=kept.astype(np.int32),
                weights=dense[kept].astype(np.float16),
                bias=bias.astype(np.float32),
                meta=np.array(json.dumps({**meta, "classes": list(classes)}, sort_keys=True)),
            )

    def probabilities(self, text: str) -> dict[str, float]:
        """Each class's probability for a text (softmax of the scores)."""
        return self.probabilities_of(hashed(text))

    def _scores(
        self, hashed_features: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
    ) -> npt.NDArray[np.float32]:
        buckets, values = hashed_features
        rows = self.rows[buckets]
        known = rows >= 0  # buckets no training line used carry no weight
        scores: npt.NDArray[np.float32] = values[known] @ self.weights[rows[known]] + self.bias
        return scores

    def probabilities_of(
        self, hashed_features: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
    ) -> dict[str, float]:
        """Each class's probability for features already hashed (`vector`)."""
        scores = self._scores(hashed_features)
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
        return {name: float(p) for name, p in zip(self.classes, scores, strict=True)}

    def each_probability_of(
        self, hashed_features: tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
    ) -> dict[str, float]:
        """For a model of one yes/no decision per class (several may hold): each probability."""
        chances = 1.0 / (1.0 + np.exp(-self._scores(hashed_features)))
        return {name: float(p) for name, p in zip(self.classes, chances, strict=True)}
