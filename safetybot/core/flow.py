"""The conversation as a pure function: step(state, event) -> Outcome(state, replies, effects).

States are an explicit table (Mode). Effects name what the service must do with the store
(save a note, erase a person); the service turns their results into further replies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum

from safetybot.core import menus
from safetybot.core.events import (
    Attachment,
    Command,
    Event,
    Forwarded,
    Pressed,
    Text,
    Unsupported,
)
from safetybot.core.menus import Action, GuideId
from safetybot.core.replies import GuideText, Reply, T

__all__ = [
    "MAX_TEXT",
    "DeleteOrigin",
    "Effect",
    "Forget",
    "Mode",
    "Outcome",
    "SaveNote",
    "SendNotesFile",
    "ShowNotes",
    "State",
    "step",
]

# Telegram's own limit for one message; other messengers get the same, for one behaviour.
MAX_TEXT = 4096


class Mode(StrEnum):
    """Where a person is in the conversation."""

    IDLE = "idle"
    WRITING_NOTE = "writing_note"
    CONFIRM_FORGET = "confirm_forget"


@dataclass(frozen=True)
class State:
    """A person's conversation state; sealed by the service before it is stored."""

    mode: Mode = Mode.IDLE
    locale: str | None = None

    def to_bytes(self) -> bytes:
        """Serialize for sealing."""
        return json.dumps({"mode": self.mode.value, "locale": self.locale}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> State:
        """Deserialize; unknown or damaged fields fall back to a fresh state."""
        try:
            data = json.loads(raw)
            return cls(mode=Mode(data.get("mode", "idle")), locale=data.get("locale"))
        except (ValueError, TypeError, AttributeError):
            return cls()


@dataclass(frozen=True)
class SaveNote:
    """Seal and store a note."""

    text: str


@dataclass(frozen=True)
class ShowNotes:
    """List the person's notes."""

    in_place: bool


@dataclass(frozen=True)
class SendNotesFile:
    """Send the person's notes as a text file."""


@dataclass(frozen=True)
class Forget:
    """Delete every chat message still deletable, then erase everything about the person."""


@dataclass(frozen=True)
class DeleteOrigin:
    """Delete the message whose button was pressed."""


Effect = SaveNote | ShowNotes | SendNotesFile | Forget | DeleteOrigin


@dataclass(frozen=True)
class Outcome:
    """The new state, the replies to show, the effects to apply (in that order)."""

    state: State
    replies: tuple[Reply, ...] = ()
    effects: tuple[Effect, ...] = ()


def step(state: State, event: Event) -> Outcome:
    """Advance one person's conversation by one event."""
    if state.mode is Mode.WRITING_NOTE and isinstance(event, Text | Forwarded):
        return _note_text(state, event.text)
    if state.mode is Mode.CONFIRM_FORGET and event == Pressed(Action.FORGET_YES.value):
        return Outcome(replace(state, mode=Mode.IDLE), effects=(Forget(),))
    if isinstance(event, Attachment):
        # The person stays where they were (a note in progress is not lost).
        return Outcome(state, (Reply((T("attachment.not_kept"),), menus.main_menu()),))
    idle = replace(state, mode=Mode.IDLE)
    if isinstance(event, Command):
        return _command(idle, event)
    if isinstance(event, Pressed):
        return _pressed(idle, event.data)
    if isinstance(event, Unsupported):
        return Outcome(idle, (Reply((T("unsupported"),), menus.main_menu()),))
    # Free text or a forward outside the note flow: the bot does not read it.
    return Outcome(idle, (Reply((T("text.unexpected"),), menus.main_menu()),))


def _note_text(state: State, text: str) -> Outcome:
    stripped = text.strip()
    if not stripped:
        return Outcome(state, (Reply((T("note.empty"),), (menus.cancel_row(),)),))
    if len(stripped) > MAX_TEXT:
        too_long = T("text.too_long", {"length": len(stripped), "limit": MAX_TEXT})
        return Outcome(state, (Reply((too_long,), (menus.cancel_row(),)),))
    return Outcome(replace(state, mode=Mode.IDLE), effects=(SaveNote(stripped),))


def _menu(state: State, in_place: bool = False) -> Outcome:
    return Outcome(state, (Reply((T("menu.title"),), menus.main_menu(), in_place),))


def _guides(state: State, in_place: bool = False) -> Outcome:
    return Outcome(state, (Reply((T("guides.title"),), menus.guides_menu(), in_place),))


def _guide(state: State, guide: GuideId, in_place: bool = False) -> Outcome:
    return Outcome(state, (Reply((GuideText(guide.value),), (menus.back_row(),), in_place),))


def _start_note(state: State, args: str = "") -> Outcome:
    if args.strip():
        return _note_text(state, args)
    writing = replace(state, mode=Mode.WRITING_NOTE)
    return Outcome(writing, (Reply((T("note.prompt"),), (menus.cancel_row(),)),))


def _ask_forget(state: State) -> Outcome:
    confirming = replace(state, mode=Mode.CONFIRM_FORGET)
    return Outcome(confirming, (Reply((T("forget.confirm"),), menus.forget_confirm()),))


def _help(state: State, in_place: bool = False) -> Outcome:
    return Outcome(state, (Reply((T("help.text"),), menus.main_menu(), in_place),))


def _cancel(state: State, in_place: bool = False) -> Outcome:
    return Outcome(state, (Reply((T("cancelled"),), menus.main_menu(), in_place),))


_COMMANDS: dict[str, Callable[[State, str], Outcome]] = {
    "start": lambda s, _: Outcome(s, (Reply((T("start.intro"),), menus.main_menu()),)),
    "menu": lambda s, _: _menu(s),
    "help": lambda s, _: _help(s),
    "guides": lambda s, _: _guides(s),
    "now": lambda s, _: _guide(s, GuideId.RIGHT_NOW),
    "privacy": lambda s, _: _guide(s, GuideId.PRIVACY),
    "note": _start_note,
    "notes": lambda s, _: Outcome(s, effects=(ShowNotes(in_place=False),)),
    "forget": lambda s, _: _ask_forget(s),
    "cancel": lambda s, _: _cancel(s),
}

COMMAND_NAMES: tuple[str, ...] = tuple(_COMMANDS)


def _command(state: State, command: Command) -> Outcome:
    handler = _COMMANDS.get(command.name)
    if handler is None:
        return Outcome(state, (Reply((T("unknown_command"),), menus.main_menu()),))
    return handler(state, command.args)


def _pressed(state: State, data: str) -> Outcome:
    target = menus.parse_button(data)
    if isinstance(target, GuideId):
        return _guide(state, target, in_place=True)
    match target:
        case Action.MENU:
            return _menu(state, in_place=True)
        case Action.GUIDES:
            return _guides(state, in_place=True)
        case Action.NOTE:
            return _start_note(state)
        case Action.NOTES:
            return Outcome(state, effects=(ShowNotes(in_place=True),))
        case Action.NOTES_FILE:
            return Outcome(state, effects=(SendNotesFile(),))
        case Action.FORGET:
            return _ask_forget(state)
        case Action.HELP:
            return _help(state, in_place=True)
        case Action.CANCEL:
            return _cancel(state, in_place=True)
        case Action.DISMISS:
            return Outcome(state, effects=(DeleteOrigin(),))
    # Unknown data, or "yes, erase" pressed when no erase was asked for: stale or forged.
    return Outcome(state, (Reply((T("button.stale"),), menus.main_menu()),))
