"""Signals in free text: what the words are about, and whether they show someone under 18.

The words are data in every locale's catalog, so translators and organizations can extend them:
`match.minor`, `match.minor_age` and `match.not_age` (unit words after a number that make it not
an age) for the under-18 hint; `match.self_harm`, `match.everyday`, `match.cry`,
`match.deadline`, `match.erase`, `match.paid`, `match.known`, `match.stranger`,
`match.feature.*` and `match.negations` for the understanding step (core/understanding.py),
which also reads the shipped model. Every locale's words are matched whatever the person's
language, since people mix languages. Nothing is stored or logged: a match only adds a hint or
a meaning to the event.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from safetybot.core.flow import HINT_MINOR
from safetybot.core.understanding import FEATURES, Understander, Understanding, WordLists
from safetybot.guidance.lookalikes import translation as lookalike_letters
from safetybot.guidance.textmodel import LinearModel
from safetybot.i18n import Texts

__all__ = ["MODEL_FILE", "Signals", "load_model", "normalize"]

# Ages that bring the under-18 guidance forward when someone states them.
_MINOR_AGES = range(10, 18)
# The intent model shipped with the package (made by `safetybot train-intents`).
MODEL_FILE = Path(__file__).resolve().parent.parent / "models" / "intents.npz"


def normalize(text: str) -> str:
    """Lower-case, strip accents and apostrophes, collapse spaces: 'I’m 15' -> 'im 15'."""
    if not text.isascii():  # "tengo 15 аños" with a Cyrillic а; before lower case too
        text = text.translate(lookalike_letters())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    if not bare.isascii():  # and after NFKD, which may bare one under an accent
        bare = bare.translate(lookalike_letters())
    bare = re.sub(r"['’`´]", "", bare)
    return re.sub(r"\s+", " ", bare).strip()


@functools.lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> LinearModel:
    """The intent model, read once per process (it is the same for every service)."""
    return LinearModel.load(path)


def _pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({normalize(p) for p in phrases if p.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    # Whole words only: "minor" must not match "minority".
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in cleaned) + r")(?!\w)")


def _phrases(texts: Texts, key: str) -> list[str]:
    found: list[str] = []
    for locale in texts.locales:
        raw = texts.raw(locale, key) or ""
        found += [part.strip() for part in raw.split(",") if part.strip()]
    return found


class Signals:
    """Finds hints and meaning in free text with the words every locale ships."""

    def __init__(
        self,
        minor: Iterable[str],
        ages: Iterable[str] = (),
        not_ages: Iterable[str] = (),
        understander: Understander | None = None,
    ) -> None:
        self._minor = _pattern(minor)
        # "im 15" is an age, "im 15 minutes away" is not: an age phrase must not be
        # followed by a unit word.
        units = sorted({normalize(u) for u in not_ages if u.strip()}, key=len, reverse=True)
        unit_guard = "(?!\\s+(?:" + "|".join(map(re.escape, units)) + ")(?!\\w))" if units else ""
        age_pattern = _pattern(ages)
        self._age = re.compile(age_pattern.pattern + unit_guard) if age_pattern else None
        self._understander = understander or Understander(WordLists(), None)

    @classmethod
    def from_texts(cls, texts: Texts, model: LinearModel | None = None) -> Signals:
        """Build from the catalogs' word lists and the intent model (the shipped one if None)."""
        ages = [
            template.replace("{age}", str(age))
            for template in _phrases(texts, "match.minor_age")
            for age in _MINOR_AGES
        ]
        words = WordLists(
            **{
                name: tuple(_phrases(texts, f"match.{name}"))
                for name in (
                    "self_harm",
                    "everyday",
                    "cry",
                    "greeting",
                    "deadline",
                    "erase",
                    "paid",
                    "known",
                    "stranger",
                    "danger",
                    "numbers",
                    "someone_else",
                    "mine",
                    "my_images",
                    "fake_account",
                    "faked_images",
                    "negations",
                    "push_self_harm",
                    "shorthand",
                )
            },
            features={name: tuple(_phrases(texts, f"match.feature.{name}")) for name in FEATURES},
        )
        understander = Understander(words, model or load_model())
        return cls(
            _phrases(texts, "match.minor"),
            ages,
            _phrases(texts, "match.not_age"),
            understander,
        )

    def hints(self, text: str) -> frozenset[str]:
        """The hints a text carries."""
        if len(text) > 2000:
            text = text[:2000]  # bound the work on huge input
        plain = normalize(text)
        if any(p is not None and p.search(plain) for p in (self._minor, self._age)):
            return frozenset({HINT_MINOR})
        return frozenset()

    def understand(self, text: str) -> Understanding:
        """What a typed text is about (core/understanding.py)."""
        return self._understander.understand(text)

    def says_self_harm(self, text: str) -> bool:
        """Whether the catalogs' self-harm phrases are in a text (never the model's guess)."""
        return self._understander.self_harm_words(text)

    def self_harm_in_message(self, text: str) -> str | None:
        """What a checked message says of self-harm: urging it, its writer's own, or None."""
        return self._understander.self_harm_in_message(text)

    def is_crisis_word(self, text: str) -> bool:
        """Whether the catalogs' own crisis words decide this text (never the model's guess)."""
        return self._understander.crisis_words(text)
