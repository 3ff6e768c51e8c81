"""The same bot in a terminal: replies are printed, buttons become numbered choices.

Reads one line at a time, so a session can be scripted through standard input; exits cleanly at
the end of input. No token, no network.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from safetybot.core.events import Command, Event, Incoming, Pressed, Text
from safetybot.core.service import Deletion, Outgoing, Service
from safetybot.errors import FrontEndError
from safetybot.markup import Format, render

__all__ = ["ConsoleFrontEnd", "parse_line", "run_console"]

TRANSPORT = "console"
USER_ID = "local"
_RULE = "-" * 40


class ConsoleFrontEnd:
    """Prints messages; remembers the latest buttons so a number can choose one."""

    transport = TRANSPORT

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._ids = itertools.count(1)
        self._shown: set[int] = set()
        # The buttons of the newest message that has any, and that message's id.
        self.choices: list[tuple[str, str]] = []
        self.choices_message: int | None = None

    def next_id(self) -> int:
        """A new message id (the person's lines get ids too, as in a messenger)."""
        return next(self._ids)

    def _print(self, message: Outgoing) -> int:
        message_id = self.next_id()
        self._shown.add(message_id)
        text = "\n\n".join(render(message.markdown, Format.PLAIN))
        lines = [_RULE, text]
        flat = [button for row in message.buttons for button in row]
        if flat:
            lines.append("")
            lines += [f"  [{number}] {label}" for number, (label, _) in enumerate(flat, 1)]
            self.choices = flat
            self.choices_message = message_id
        print("\n".join(lines), file=self._out, flush=True)
        return message_id

    async def send(self, address: str, message: Outgoing) -> list[int]:
        """Print a message."""
        return [self._print(message)]

    async def edit(self, address: str, message_id: int, message: Outgoing) -> bool:
        """A terminal cannot change what it printed: print the new version instead."""
        return False

    async def delete(self, address: str, message_ids: Sequence[int]) -> Deletion:
        """Forget printed messages; the terminal's scrollback is the person's to clear."""
        gone = tuple(i for i in message_ids if i in self._shown)
        self._shown.difference_update(gone)
        if self.choices_message in gone:
            self.choices, self.choices_message = [], None
        return Deletion(deleted=gone)

    async def send_document(
        self, address: str, filename: str, data: bytes, caption: Outgoing
    ) -> list[int]:
        """Print the caption and the file's content, since there is no file to hand over."""
        body = data.decode("utf-8", errors="replace")
        return [self._print(Outgoing(f"{caption.markdown}\n\n```\n{body}\n```", caption.buttons))]


    async def download(self, ref: str, limit: int) -> bytes:
        """In the console an attachment is a file path the person typed."""
        return await asyncio.to_thread(_read_file, ref, limit)


def _read_file(ref: str, limit: int) -> bytes:
    path = Path(ref).expanduser()
    try:
        if not path.is_file():
            raise FrontEndError("not a file")
        if path.stat().st_size > limit:
            raise FrontEndError("file too large")
        return path.read_bytes()
    except OSError:
        raise FrontEndError("file cannot be read") from None


def parse_line(line: str, choices: Sequence[tuple[str, str]]) -> Event:
    """A typed line as an event: a choice by number or label, a /command, or text."""
    stripped = line.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(choices):
        return Pressed(choices[int(stripped) - 1][1])
    for label, data in choices:
        if stripped and stripped.casefold() == label.casefold():
            return Pressed(data)
    if stripped.startswith("/") and len(stripped) > 1:
        head, _, args = stripped.partition(" ")
        return Command(head[1:].lower(), args.strip())
    return Text(line.rstrip("\n"))


async def run_console(
    service: Service,
    stdin: TextIO,
    stdout: TextIO,
    *,
    interactive: bool,
    language: str | None = None,
    greeting: Callable[[ConsoleFrontEnd], None] | None = None,
) -> None:
    """Run the bot on a terminal or a pipe until end of input."""
    front = ConsoleFrontEnd(stdout)
    if greeting is not None:
        greeting(front)
    start = _incoming(Command("start"), None, language, front.next_id())
    await service.handle(start, front)
    while True:
        if interactive:
            print("> ", end="", file=stdout, flush=True)
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            if interactive:
                print(file=stdout)
            return
        if not line.strip():
            continue
        event = parse_line(line, front.choices)
        origin = front.choices_message if isinstance(event, Pressed) else None
        message_id = None if isinstance(event, Pressed) else front.next_id()
        await service.handle(_incoming(event, origin, language, message_id), front)


def _incoming(
    event: Event, origin: int | None, language: str | None, message_id: int | None
) -> Incoming:
    return Incoming(
        transport=TRANSPORT,
        user_id=USER_ID,
        address=USER_ID,
        event=event,
        message_id=message_id,
        origin_id=origin,
        language=language,
    )
