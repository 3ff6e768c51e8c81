"""Menus for front ends without buttons (console, Signal): numbered choices, answered by typing.

A reply of a choice's number or its label (any case, with or without accents) presses it;
"/name args" is a command; anything else is text.
"""

from __future__ import annotations

from collections.abc import Sequence

from safetybot.core.events import Command, Event, Pressed, Text
from safetybot.core.signals import normalize

__all__ = ["Choice", "flatten", "numbered", "parse_line"]

Choice = tuple[str, str]  # (label, button data)


def flatten(rows: Sequence[Sequence[Choice]]) -> list[Choice]:
    """The buttons of a keyboard, row by row, as one list of choices."""
    return [button for row in rows for button in row]


def numbered(choices: Sequence[Choice]) -> list[str]:
    """One "1. Label" line per choice."""
    return [f"{number}. {label}" for number, (label, _) in enumerate(choices, 1)]


def parse_line(line: str, choices: Sequence[Choice]) -> Event:
    """A typed line as an event: a choice by number or label, a /command, or text."""
    stripped = line.strip()
    # isdecimal, not isdigit: "²" is a digit that int() refuses; the length keeps int() cheap.
    if stripped.isdecimal() and len(stripped) <= 4 and 1 <= int(stripped) <= len(choices):
        return Pressed(choices[int(stripped) - 1][1])
    # Folded as the service folds the labels a passphrase or a panic word may not be ("menú" is
    # "Menu", "guias" is "Guías"), so a word refused there is the only kind pressed here.
    typed = normalize(stripped) if stripped else ""
    for label, data in choices:
        if typed and typed == normalize(label):
            return Pressed(data)
    if stripped.startswith("/") and len(stripped) > 1:
        head, _, args = stripped.partition(" ")
        return Command(head[1:].lower(), args.strip())
    return Text(line.rstrip("\n"))
