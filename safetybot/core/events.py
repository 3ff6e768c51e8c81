"""What comes in: one event per thing a person does, in no messenger's vocabulary."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from safetybot.core.understanding import Understanding

__all__ = [
    "Attachment",
    "Command",
    "Edited",
    "Event",
    "Forwarded",
    "Incoming",
    "Pressed",
    "Text",
    "Unsupported",
    "UnsupportedKind",
]


@dataclass(frozen=True)
class Command:
    """A command such as /start, lower-cased, without the slash or a bot name."""

    name: str
    args: str = ""


@dataclass(frozen=True)
class Text:
    """Free text the person typed; `hints` (e.g. under 18) and `meaning` are what the service
    read in it (core/signals.py, core/understanding.py)."""

    text: str
    hints: frozenset[str] = frozenset()
    meaning: Understanding | None = None


@dataclass(frozen=True)
class Edited:
    """A message the person edited after sending it: its new words (or caption). Read for a
    crisis only: "hi" edited into "i want to die" must be answered, but an edit is not a new
    message, so ordinary edits get no reply. `hints` and `meaning` as for a Text."""

    text: str
    hints: frozenset[str] = frozenset()
    meaning: Understanding | None = None


@dataclass(frozen=True)
class Pressed:
    """A button press; `data` is the opaque button id, never user text."""

    data: str


@dataclass(frozen=True)
class Attachment:
    """A photo, video or file; `ref` is the messenger's opaque handle to fetch it later."""

    kind: str
    size: int | None = None
    ref: str | None = None
    caption: str = ""
    name: str | None = None
    mime: str | None = None
    # What the service read in the caption, as for a Text (never in the vault: a note's).
    hints: frozenset[str] = frozenset()
    meaning: Understanding | None = None


@dataclass(frozen=True)
class Forwarded:
    """A forwarded message: its text, and where it came from as the messenger says (evidence)."""

    text: str
    origin: str = ""
    date: str = ""


class UnsupportedKind(StrEnum):
    """Messages the bot cannot use, named so replies can be specific."""

    STICKER = "sticker"
    VOICE = "voice"
    LOCATION = "location"
    CONTACT = "contact"
    OTHER = "other"


@dataclass(frozen=True)
class Unsupported:
    """A sticker, voice note, location or anything else the bot does not read."""

    kind: UnsupportedKind


Event = Command | Text | Pressed | Attachment | Forwarded | Unsupported | Edited


@dataclass(frozen=True)
class Incoming:
    """An event with who sent it and where to answer.

    `user_id` and `address` are the messenger's raw identifiers: they are pseudonymized or
    sealed by the service and never stored or logged as they are.
    """

    transport: str
    user_id: str
    address: str
    event: Event
    message_id: int | None = None
    # For a button press: the bot message that holds the button (menus are edited in place).
    origin_id: int | None = None
    language: str | None = None
