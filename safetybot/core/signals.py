"""Signals in free text: words that call for the crisis path, or that show someone is under 18.

The words are data in every locale's catalog (`match.crisis`, `match.minor`, `match.minor_age`,
and `match.not_age`: unit words after a number that make it not an age),
so translators and organizations can extend them. Every locale's words are matched whatever the
person's language, since people mix languages. Nothing is stored or logged: a match only adds a
hint to the event.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from safetybot.core.flow import HINT_CRISIS, HINT_MINOR
from safetybot.i18n import Texts

__all__ = ["Signals", "normalize"]

# Ages that bring the under-18 guidance forward when someone states them.
_MINOR_AGES = range(10, 18)


def normalize(text: str) -> str:
    """Lower-case, strip accents and apostrophes, collapse spaces: 'I’m 15' -> 'im 15'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = re.sub(r"['’`´]", "", bare)
    return re.sub(r"\s+", " ", bare).strip()


def _pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    cleaned = sorted({normalize(p) for p in phrases if p.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    # Whole words only: "help" must not match "helpful".
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in cleaned) + r")(?!\w)")


def _phrases(texts: Texts, key: str) -> list[str]:
    found: list[str] = []
    for locale in texts.locales:
        raw = texts.raw(locale, key) or ""
        found += [part.strip() for part in raw.split(",")]
    return found


class Signals:
    """Finds hints in free text with the words every locale ships."""

    def __init__(
        self,
        crisis: Iterable[str],
        minor: Iterable[str],
        ages: Iterable[str] = (),
        not_ages: Iterable[str] = (),
    ) -> None:
        self._crisis = _pattern(crisis)
        self._minor = _pattern(minor)
        # "im 15" is an age, "im 15 minutes away" is not: an age phrase must not be
        # followed by a unit word.
        units = sorted({normalize(u) for u in not_ages if u.strip()}, key=len, reverse=True)
        unit_guard = "(?!\\s+(?:" + "|".join(map(re.escape, units)) + ")(?!\\w))" if units else ""
        age_pattern = _pattern(ages)
        self._age = re.compile(age_pattern.pattern + unit_guard) if age_pattern else None

    @classmethod
    def from_texts(cls, texts: Texts) -> Signals:
        """Build from the catalogs: crisis words, under-18 words, age phrases and units."""
        ages = [
            template.replace("{age}", str(age))
            for template in _phrases(texts, "match.minor_age")
            for age in _MINOR_AGES
        ]
        return cls(
            _phrases(texts, "match.crisis"),
            _phrases(texts, "match.minor"),
            ages,
            _phrases(texts, "match.not_age"),
        )

    def hints(self, text: str) -> frozenset[str]:
        """The hints a text carries."""
        if len(text) > 2000:
            text = text[:2000]  # a cry for help is short; bound the work on huge input
        plain = normalize(text)
        found = set()
        if self._crisis is not None and self._crisis.search(plain):
            found.add(HINT_CRISIS)
        if any(p is not None and p.search(plain) for p in (self._minor, self._age)):
            found.add(HINT_MINOR)
        return frozenset(found)
