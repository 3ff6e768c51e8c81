"""What goes out: texts by key, guides and documents, rendered later in the person's locale."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "Button",
    "CheckResult",
    "Contacts",
    "Document",
    "GuideText",
    "Keyboard",
    "Part",
    "PlanText",
    "Reply",
    "T",
]


@dataclass(frozen=True)
class T:
    """A localized text: a catalog key, its parameters, and optionally a fixed locale."""

    key: str
    params: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    # Set only where a text must appear in one language whatever the person's (a language name).
    locale: str | None = None


@dataclass(frozen=True)
class GuideText:
    """A whole guide, with its sources line."""

    guide_id: str


@dataclass(frozen=True)
class PlanText:
    """The plan made from a person's triage answers."""

    answers: Mapping[str, str]


@dataclass(frozen=True)
class Contacts:
    """Helplines for a country: for the crisis path (urgent only) or the whole list."""

    country: str
    urgent: bool
    # For someone in pain: the crisis lines before the emergency number.
    crisis_first: bool = False
    # On the danger screen: "emergency" (the number first, or where to find one), "crisis"
    # (the crisis lines after the checklist); None: both, emergency first.
    only: str | None = None
    # For someone helping another person: the lines speak of "someone", not "you".
    helper: bool = False


@dataclass(frozen=True)
class CheckResult:
    """What the questionnaire's yes answers add up to (rendered with the red-flag weights)."""

    yes: tuple[str, ...]


Part = T | GuideText | PlanText | Contacts | CheckResult


@dataclass(frozen=True)
class Button:
    """A button: a label (localized text or guide title) and opaque data."""

    label: T | GuideText
    data: str


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True)
class Reply:
    """One message to show. `in_place` asks to edit the menu message the person pressed."""

    parts: tuple[Part, ...]
    buttons: Keyboard = ()
    in_place: bool = False


@dataclass(frozen=True)
class Document:
    """A file to send, with a localized caption."""

    filename: str
    data: bytes
    caption: T
    # View only: the messenger stops it being saved or forwarded (where it can).
    protect: bool = False
    # More of the caption, after it: what the file shows and what it cannot.
    notes: tuple[T, ...] = ()
    # Shows vault contents (a removal request): it leaves the chat when the vault locks, with
    # no Keep button. An export instead stays for the export's minutes, or for good with Keep.
    until_lock: bool = False
