"""A small linear text classifier: folded text, hashed n-gram features, one score per class.

Used where word lists stop generalising (typos, missing accents, slang, look-alike letters):
reading what a person types (core/understanding.py) and "check a message" (checker.py). The
weights are compressed NumPy files shipped inside the package and made by `safetybot
train-intents` and `train-check` (training.py, scikit-learn); reading them needs only NumPy,
nothing is fetched, and nothing a person types is kept.

Features, the same in training and here: words, word pairs, the 3- to 5-letter pieces of each
word with its edges (so "borrar", "borra" and "boorrar" share most of them) and the 6-letter
pieces across a word boundary (bits of short phrases, however spelled). Each is hashed into a
fixed number of buckets: a 64-bit polynomial hash of its letters, its kind mixed in, then
SplitMix64's finalizer (`bucket_of` does one; `hashed` does a whole text at once with NumPy).
Counts are damped (1 + log) and the vector scaled to length 1. A class's score is the dot
product with its weights plus a bias.
"""

from __future__ import annotations

import functools
import json
import math
import re
import sys
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safetybot.guidance.lookalikes import translation as lookalike_letters

__all__ = [
    "BUCKETS",
    "MAX_CHARS",
    "Hashed",
    "LinearModel",
    "bucket_of",
    "features",
    "fold",
    "hashed",
    "hashed_words",
    "sigmoid",
    "softmax",
]

# A text's features: bucket numbers, and each one's weight.
Hashed = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
# 2**18 buckets: few collisions for the tens of thousands of features a training set has.
BUCKETS = 1 << 18
# Only the start of a very long text is read: what a person leads with decides, and the work
# stays bounded (a 4,096-character message costs the same as this).
MAX_CHARS = 1500
_CHAR_NGRAMS = (3, 4, 5)
_CROSS = 6

# Look-alike letters people (and spammers) use to get past word filters, read as the Latin
# letters they imitate (lookalikes.py), and the ligatures NFKD leaves whole.
_CONFUSABLES = {**lookalike_letters(), **str.maketrans({"æ": "ae", "œ": "oe"})}
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


@functools.cache
def _marks() -> npt.NDArray[np.bool_]:
    """For each code point up to the last mark, whether it has a combining class (accents and
    other marks); one more entry, False, stands for every code point after."""
    # Built from this Python's Unicode tables once (about 50 ms), so that dropping the marks
    # of a long text is a look-up in NumPy, not a Python loop over every letter (or a
    # character class in a regular expression, ten times slower than the look-up).
    codes = [code for code in range(sys.maxunicode + 1) if unicodedata.combining(chr(code))]
    table = np.zeros(codes[-1] + 2, np.bool_)
    table[codes] = True
    return table


def _unmarked(text: str) -> str:
    """The text without its combining marks."""
    table = _marks()
    points = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    marked = table[np.minimum(points, len(table) - 1)]
    if not marked.any():
        return text
    return points[~marked].tobytes().decode("utf-32-le", "surrogatepass")


# Whether a text has any: a set of its letters is made in C, far quicker than a regular
# expression over 800 characters would scan it.
_LOOKALIKES = frozenset(map(chr, _CONFUSABLES))


def fold(text: str, limit: int = MAX_CHARS) -> list[str]:
    """The words of a text as the model reads them: lower case, no accents, letters unmarked."""
    text = text[:limit]
    if not text.isascii() and not _LOOKALIKES.isdisjoint(text):
        # Before lower case, which loses the look: "Η" (eta) is an H, its "η" an n.
        text = text.translate(_CONFUSABLES)
    text = unicodedata.normalize("NFKD", text.casefold())
    if not text.isascii():
        text = _unmarked(text)
        # And after: a letter under an accent ("ӧ" is a Cyrillic "о" and a mark).
        if not _LOOKALIKES.isdisjoint(text):
            text = text.translate(_CONFUSABLES)
    text = text.replace("'", "").replace("\u2019", "")  # "don't" and "dont" are one word
    return [_fold_token(token) for token in _TOKEN.findall(text)]


def features(text: str, limit: int = MAX_CHARS) -> Iterator[str]:
    """Every feature of a text, as strings: for reading what a model sees (`hashed` is faster)."""
    words = fold(text, limit)
    for index, word in enumerate(words):
        yield "w:" + word
        if index:
            yield "b:" + words[index - 1] + " " + word
    plain = " " + " ".join(words) + " "
    for size in (*_CHAR_NGRAMS, _CROSS):
        for start in range(len(plain) - size + 1):
            piece = plain[start : start + size]
            if (" " in piece[1:-1]) == (size == _CROSS):
                yield ("x:" if size == _CROSS else "c:") + piece


def hashed(text: str, limit: int = MAX_CHARS) -> Hashed:
    """Bucket numbers and their weights: damped counts scaled to length 1 (training uses this).

    The same features as `features`, each hashed as `bucket_of` does, but all at once with
    NumPy rather than one string at a time (a text has about three features per letter).
    """
    return hashed_words(fold(text, limit))


def hashed_words(words: Sequence[str]) -> Hashed:
    """`hashed` of words already folded (the understanding step mends slips first)."""
    if not words:
        return np.zeros(0, np.int64), np.zeros(0, np.float32)
    plain = " " + " ".join(words) + " "
    points = np.frombuffer(plain.encode("utf-32-le"), np.uint32).astype(np.uint64)
    length = len(points)
    up, down = _powers(length + 1)
    # prefix[i] = sum of points[k] / P**k for k < i (mod 2**64), so that the polynomial hash
    # of plain[a:b], sum of points[k] * P**(b-1-k), is (prefix[b] - prefix[a]) * P**(b-1).
    prefix = np.concatenate((np.zeros(1, np.uint64), np.cumsum(points * down[:length])))

    def keys(starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        return (prefix[ends] - prefix[starts]) * up[ends - 1]  # type: ignore[no-any-return]

    gaps = np.flatnonzero(points == _SPACE)  # one before each word, and one after the last
    pieces = [
        _bucket(keys(gaps[:-1] + 1, gaps[1:]), _WORD),
        _bucket(keys(gaps[:-2] + 1, gaps[2:]), _PAIR),
    ]
    spaces = np.concatenate(([0], np.cumsum(points == _SPACE)))
    for size in (*_CHAR_NGRAMS, _CROSS):
        starts = np.arange(length - size + 1)
        inside = spaces[starts + size - 1] - spaces[starts + 1]  # spaces within the piece
        starts = starts[inside == 0] if size in _CHAR_NGRAMS else starts[inside > 0]
        pieces.append(_bucket(keys(starts, starts + size), size))
    # Each bucket once, with how often it occurs: sorted as 32-bit numbers (buckets have 18
    # bits), then cut where the number changes, which is quicker than np.unique for this.
    every = np.sort(np.concatenate(pieces).astype(np.uint32))
    first = np.flatnonzero(np.concatenate(([True], every[1:] != every[:-1])))
    buckets = every[first]
    counts = np.diff(np.append(first, len(every)))
    values = (1.0 + np.log(counts)).astype(np.float32)
    values /= np.float32(math.sqrt(float(np.dot(values, values))))
    return buckets.astype(np.int64), values


def bucket_of(feature: str) -> int:
    """The bucket of one feature string from `features`, the slow way (for checking `hashed`)."""
    kind, piece = feature[:2], feature[2:]
    key = 0
    for letter in piece:
        key = (key * int(_MULTIPLIER) + ord(letter)) % (1 << 64)
    tag = {"w:": _WORD, "b:": _PAIR}.get(kind, len(piece))
    return int(_bucket(np.array([key], np.uint64), tag)[0])


_SPACE = ord(" ")
_MULTIPLIER = np.uint64(0x100000001B3)  # FNV-1a's 64-bit prime: spreads each letter's bits
_INVERSE = np.uint64(pow(int(_MULTIPLIER), -1, 1 << 64))  # odd, so it has one mod 2**64
_WORD, _PAIR = 1, 2  # mixed into the hash like a piece's size (pieces have 3 to 6 letters)
_POWERS: list[tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]] = []


def _powers(count: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """P**i and P**-i (mod 2**64) for i below at least `count`, kept for the next text."""
    if not _POWERS or len(_POWERS[-1][0]) < count:
        size = max(count, 8192)
        up, down = np.full(size, _MULTIPLIER, np.uint64), np.full(size, _INVERSE, np.uint64)
        up[0] = down[0] = 1
        _POWERS.append(
            (np.cumprod(up), np.cumprod(down))
        )  # appended whole: another thread sees old or new, not half
    return _POWERS[-1]


def _bucket(keys: npt.NDArray[np.uint64], size: int) -> npt.NDArray[np.uint64]:
    """A bucket per piece: its size mixed in, then SplitMix64's finalizer, cut to BUCKETS."""
    keys = keys ^ np.uint64(size * 0x9E3779B97F4A7C15 % (1 << 64))
    keys = (keys ^ (keys >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    keys = (keys ^ (keys >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return (keys ^ (keys >> np.uint64(31))) & np.uint64(BUCKETS - 1)


@dataclass(frozen=True)
class LinearModel:
    """Class weights over hashed features, with the settings they were trained with."""

    classes: tuple[str, ...]
    rows: npt.NDArray[np.int32]  # for each bucket, its row in `weights`, or -1 (no weight)
    # rows x classes, as written (float16): widened to float32 row by row when read, which
    # gives the same numbers and holds half the memory.
    weights: npt.NDArray[np.float16]
    bias: npt.NDArray[np.float32]
    meta: dict[str, Any]
    # The words of the lines it was trained on, folded, and how often (the speller's; empty
    # for a model saved without them).
    vocabulary: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        """Read a weights file written by `save` (no pickles: plain arrays and JSON)."""
        with np.load(path, allow_pickle=False) as data:
            buckets = data["buckets"].astype(np.int64)
            weights = data["weights"].astype(np.float16)
            bias = data["bias"].astype(np.float32)
            meta = json.loads(str(data["meta"]))
            vocabulary: dict[str, int] = {}
            if "words" in data.files:
                words, counts = str(data["words"]).split("\n"), data["word_counts"]
                if len(words) != len(counts):
                    raise ValueError("weights file's words do not match their counts")
                vocabulary = dict(zip(words, map(int, counts), strict=True))
        classes = tuple(str(name) for name in meta["classes"])
        if weights.shape != (len(buckets), len(classes)) or bias.shape != (len(classes),):
            raise ValueError("weights file does not match its classes")
        if len(buckets) and (buckets.min() < 0 or buckets.max() >= BUCKETS):
            raise ValueError("weights file has buckets out of range")
        rows = np.full(BUCKETS, -1, np.int32)
        rows[buckets] = np.arange(len(buckets), dtype=np.int32)
        return cls(classes, rows, weights, bias, meta, vocabulary)

    @staticmethod
    def save(
        path: Path,
        classes: Sequence[str],
        dense: npt.NDArray[np.float64],
        bias: npt.NDArray[np.float64],
        meta: dict[str, Any],
        vocabulary: Mapping[str, int] | None = None,
    ) -> None:
        """Write weights (buckets x classes): only buckets with a weight, as float16; and the
        training lines' words with their counts, if given."""
        kept = np.flatnonzero(np.abs(dense).max(axis=1) >= 1e-4)
        arrays: dict[str, npt.NDArray[Any]] = {
            "buckets": kept.astype(np.int32),
            "weights": dense[kept].astype(np.float16),
            "bias": bias.astype(np.float32),
            "meta": np.array(json.dumps({**meta, "classes": list(classes)}, sort_keys=True)),
        }
        if vocabulary:
            words = sorted(vocabulary)
            arrays["words"] = np.array("\n".join(words))
            arrays["word_counts"] = np.array([vocabulary[w] for w in words], np.int32)
        savez: Any = np.savez_compressed  # its stubs type every keyword as allow_pickle's bool
        with path.open("wb") as out:
            savez(out, **arrays)

    def probabilities(self, text: str) -> dict[str, float]:
        """Each class's probability for a text (softmax of the scores)."""
        return self.probabilities_of(hashed(text))

    def _scores(self, hashed_features: Hashed) -> npt.NDArray[np.float32]:
        buckets, values = hashed_features
        rows = self.rows[buckets]
        known = rows >= 0  # buckets no training line used carry no weight
        used = self.weights[rows[known]].astype(np.float32)
        scores: npt.NDArray[np.float32] = values[known] @ used + self.bias
        return scores

    def probabilities_of(self, hashed_features: Hashed) -> dict[str, float]:
        """Each class's probability for features already hashed (`hashed`)."""
        return softmax(self.classes, self._scores(hashed_features))

    def each_probability_of(self, hashed_features: Hashed) -> dict[str, float]:
        """For a model of one yes/no decision per class (several may hold): each probability."""
        return sigmoid(self.classes, self._scores(hashed_features))

    def scores_of(self, hashed_features: Hashed) -> npt.NDArray[np.float32]:
        """Each class's raw score (before softmax or sigmoid), in the order of `classes`."""
        return self._scores(hashed_features)

    @classmethod
    def stacked(cls, *models: LinearModel) -> LinearModel:
        """One model giving the classes of several side by side: one look-up per text."""
        used = np.flatnonzero(np.any([model.rows >= 0 for model in models], axis=0))
        weights = np.zeros((len(used), sum(len(model.classes) for model in models)), np.float16)
        column = 0
        for model in models:
            rows = model.rows[used]
            known = rows >= 0
            weights[known, column : column + len(model.classes)] = model.weights[rows[known]]
            column += len(model.classes)
        rows_of = np.full(BUCKETS, -1, np.int32)
        rows_of[used] = np.arange(len(used), dtype=np.int32)
        classes = tuple(name for model in models for name in model.classes)
        bias = np.concatenate([model.bias for model in models])
        return cls(classes, rows_of, weights, bias, {"stacked": [m.meta for m in models]})


def softmax(classes: Sequence[str], scores: npt.NDArray[np.float32]) -> dict[str, float]:
    """Scores of classes of which one holds, as probabilities that add up to 1."""
    scores = np.exp(scores - scores.max())
    scores /= scores.sum()
    return {name: float(p) for name, p in zip(classes, scores, strict=True)}


def sigmoid(classes: Sequence[str], scores: npt.NDArray[np.float32]) -> dict[str, float]:
    """Scores of yes/no decisions, each as its own probability."""
    chances = 1.0 / (1.0 + np.exp(-scores))
    return {name: float(p) for name, p in zip(classes, chances, strict=True)}
