"""Menus, guides and button ids as named, stable data.

Button data is short and opaque ("n", "g:right_now"): it names an action, never carries text a
person typed, and stays valid across restarts. Anything else pressed is treated as stale.
"""

from __future__ import annotations

from enum import StrEnum

from safetybot.core.replies import Button, GuideText, Keyboard, T

__all__ = [
    "GUIDE_ORDER",
    "Action",
    "GuideId",
    "guide_button",
    "guides_menu",
    "main_menu",
    "parse_button",
]


class GuideId(StrEnum):
    """Every guide; the value is the guide's file name in locales/<code>/guides/."""

    RIGHT_NOW = "right_now"
    SPOTTING_SEXTORTION = "spotting_sextortion"
    SOMEONE_YOU_KNOW = "someone_you_know"
    IMAGES_SHARED = "images_shared"
    DOCUMENTING = "documenting"
    UNDER_18 = "under_18"
    SUPPORT = "support"
    ABOUT_IBSA = "about_ibsa"
    DEEPFAKES = "deepfakes"
    SEXTING_SAFETY = "sexting_safety"
    PRIVACY = "privacy"


# The order people see: the urgent and the most asked-for first.
GUIDE_ORDER: tuple[GuideId, ...] = tuple(GuideId)


class Action(StrEnum):
    """Button ids other than guides."""

    MENU = "m"
    GUIDES = "gl"
    NOTE = "n"
    NOTES = "ns"
    NOTES_FILE = "nf"
    FORGET = "f"
    FORGET_YES = "fy"
    CANCEL = "c"
    HELP = "h"
    DISMISS = "x"


_GUIDE_PREFIX = "g:"


def guide_button(guide: GuideId) -> Button:
    """A button that opens a guide, labelled with the guide's title."""
    return Button(GuideText(guide.value), f"{_GUIDE_PREFIX}{guide.value}")


def parse_button(data: str) -> Action | GuideId | None:
    """Map button data back to what it names; None for anything unknown (stale or forged)."""
    if data.startswith(_GUIDE_PREFIX):
        try:
            return GuideId(data[len(_GUIDE_PREFIX) :])
        except ValueError:
            return None
    try:
        return Action(data)
    except ValueError:
        return None


def _button(key: str, action: Action) -> Button:
    return Button(T(key), action.value)


def main_menu() -> Keyboard:
    """The menu shown at /start and after most actions."""
    return (
        (guide_button(GuideId.RIGHT_NOW),),
        (_button("button.guides", Action.GUIDES),),
        (_button("button.note", Action.NOTE), _button("button.notes", Action.NOTES)),
        (_button("button.help", Action.HELP), _button("button.forget", Action.FORGET)),
    )


def guides_menu() -> Keyboard:
    """One button per guide, then a way back."""
    rows: list[tuple[Button, ...]] = [(guide_button(guide),) for guide in GUIDE_ORDER]
    rows.append((_button("button.menu", Action.MENU),))
    return tuple(rows)


def back_row() -> tuple[Button, ...]:
    """Back to the guides and to the main menu."""
    return (_button("button.guides", Action.GUIDES), _button("button.menu", Action.MENU))


def cancel_row() -> tuple[Button, ...]:
    """A single cancel button."""
    return (_button("button.cancel", Action.CANCEL),)


def forget_confirm() -> Keyboard:
    """The one confirmation before erasing everything."""
    return (
        (_button("button.forget_yes", Action.FORGET_YES),),
        (_button("button.forget_no", Action.CANCEL),),
    )


def notes_menu(has_notes: bool) -> Keyboard:
    """Under the notes list: add one, download them, back."""
    rows: list[tuple[Button, ...]] = [(_button("button.note", Action.NOTE),)]
    if has_notes:
        rows.append((_button("button.notes_file", Action.NOTES_FILE),))
    rows.append((_button("button.menu", Action.MENU),))
    return tuple(rows)


def dismiss() -> Keyboard:
    """A single button that deletes the message it is on."""
    return ((_button("button.dismiss", Action.DISMISS),),)
