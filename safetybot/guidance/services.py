"""Names in the texts that look like a helpline or service the resource directory lacks.

A text may send a person to a service only if the bot can also list it, sourced and dated, so a
guide never names a line that is not in the directory (or that an organization removed). The
rule, for `safetybot check` and `check-locales`:

- The services the texts may name are the directory's `name`s (shipped and the organization's
  own), the organization's name, and the route names: the bold name that opens each
  `route.<name>` text ("**Take It Down**").
- A phrase looks like a service when it is one to six capitalized words (or numbers) ending in
  a service word: Helpline, Hotline, Lifeline, Tipline, Line, Phone, Foundation, Initiative,
  Commissioner, Centre, Center, Network or Project ("Teen Safety Helpline", "988 Lifeline"); or,
  in Spanish, "Línea", "Fundación" or "Centro" followed by a capitalized word or a number
  ("Línea de la Vida", "Línea 024"). Lowercase words ("a helpline") are not names.
- Such a phrase is known when its own words, leaving out the service words and leading words
  such as "the", "call" or "la", all appear in one known name ("the Revenge Porn Helpline",
  "the 988 Lifeline" both match directory names). Otherwise it is reported, with its file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Mention", "known_services", "route_names", "unknown_services"]

_SERVICE_WORDS = (
    "Helpline|Hotline|Lifeline|Tipline|Line|Phone|Foundation|Initiative|Commissioner|"
    "Centre|Center|Network|Project"
)
_CAPITAL = r"[A-Z0-9][\w.'&-]*"
_LINK = r"(?:of|for|and|&|on|to)"
# "Teen Safety Helpline", "National Domestic Violence Hotline", "Crisis Text Line".
_ENGLISH = re.compile(rf"\b(?:{_CAPITAL}\s+(?:{_LINK}\s+)?){{1,5}}(?:{_SERVICE_WORDS})s?\b")
# "Línea de la Vida", "Línea 024", "Fundación ANAR", "Centro de Ayuda Digital".
_SPANISH = re.compile(
    r"\b(?:L[íi]nea|Fundaci[óo]n|Centro)(?:\s+(?:de|del|la|las|los|para)){0,2}"
    r"\s+[A-ZÁÉÍÓÚÑ0-9][\w.-]*(?:\s+[A-ZÁÉÍÓÚÑ0-9][\w.-]*)*"
)
# Words that carry no name: service words, links between words, and words a sentence starts with.
_NOT_NAME = frozenset(
    word.lower()
    for words in (
        _SERVICE_WORDS,
        "Helplines|Hotlines|Lines|Línea|Linea|Fundación|Fundacion|Centro",
        "of|for|and|&|on|to|de|del|la|las|los|para",
        "The|A|An|Your|Our|Their|This|That|Call|Text|Open|Try|Contact|Use",
        "El|Los|Las|Un|Una|Tu|Su|Llama|Escribe|Abre",
    )
    for word in words.split("|")
)
_WORD = re.compile(r"[\w.'-]+")
_BOLD_START = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class Mention:
    """A phrase in one text that looks like a service the directory lacks."""

    where: str
    phrase: str

    def __str__(self) -> str:
        return (
            f"{self.where}: names {self.phrase!r}, which looks like a helpline or service the "
            "resource directory does not list; add it to the directory (or the organization's "
            "resources file) with its source, or reword the text"
        )


def _words(text: str) -> frozenset[str]:
    return frozenset(word.lower().strip(".'-") for word in _WORD.findall(text))


def route_names(messages: Mapping[str, str]) -> list[str]:
    """The service names that open the `route.*` texts ("**Take It Down**")."""
    names = []
    for key, text in messages.items():
        if key.startswith("route."):
            found = _BOLD_START.search(text)
            if found is not None:
                names.append(found.group(1).rstrip(".:"))
    return names


def known_services(names: Iterable[str]) -> list[frozenset[str]]:
    """The known names, each as its set of words."""
    return [_words(name) for name in names if name.strip()]


def _is_known(phrase: str, known: list[frozenset[str]]) -> bool:
    own = _words(phrase) - _NOT_NAME
    if not own:
        return True  # only service words and a sentence start: "Call Helpline", not a name
    return any(own <= name for name in known)


def unknown_services(where: str, text: str, known: list[frozenset[str]]) -> list[Mention]:
    """The phrases in a text that look like services and match no known name."""
    found = (*_ENGLISH.finditer(text), *_SPANISH.finditer(text))
    phrases = [m.group(0).rstrip(".") for m in found]  # a full stop ends the sentence
    unknown = dict.fromkeys(p for p in phrases if not _is_known(p, known))
    return [Mention(where, phrase) for phrase in unknown]
