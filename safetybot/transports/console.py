"""The same bot in a terminal: replies are printed, buttons become numbered choices.

Reads one line at a time, so a session can be scripted through standard input; exits cleanly at
the end of input. No token, no network.
"""

from __future__ import annotations

import asyncio
import getpass
import itertools
import mimetypes
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from safetybot.core.events import Attachment, Command, Event, Incoming, Pressed, Text
from safetybot.core.service import Deletion, Outgoing, Service
from safetybot.errors import FrontEndError
from safetybot.markup import Format, render
from safetybot.transports.choices import parse_line

__all__ = ["ConsoleFrontEnd", "parse_line", "run_console"]

TRANSPORT = "console"
USER_ID = "local"
_RULE = "-" * 40


class ConsoleFrontEnd:
    """Prints messages; remembers the latest buttons so a number can choose one."""

    transport = TRANSPORT

    def __init__(self, out: TextIO, exports_dir: Path | None = None) -> None:
        self._out = out
        self._exports_dir = exports_dir
        # Ids must not repeat across runs: a repeated id is taken for a redelivered message.
        self._ids = itertools.count(time.time_ns() // 1_000_000)
        self._shown: set[int] = set()
        # Files the bot "sent" (exports), by message id: deleting the message deletes the file.
        self._files: dict[int, Path] = {}
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
        for message_id in gone:
            path = self._files.pop(message_id, None)
            if path is not None:
                await asyncio.to_thread(path.unlink, True)
        if self.choices_message in gone:
            self.choices, self.choices_message = [], None
        return Deletion(deleted=gone)

    async def send_document(
        self, address: str, filename: str, data: bytes, caption: Outgoing
    ) -> list[int]:
        """Save the file (private to this user) in the exports folder and print where it is."""
        folder = self._exports_dir or Path.cwd()
        path = await asyncio.to_thread(_write_private, folder, filename, data)
        message_id = self._print(Outgoing(f"{caption.markdown}\n\n`{path}`", caption.buttons))
        self._files[message_id] = path
        return [message_id]

    async def download(self, ref: str, limit: int) -> bytes:
        """In the console an attachment is a file path the person typed."""
        return await asyncio.to_thread(_read_file, ref, limit)


def _write_private(folder: Path, filename: str, data: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stem, dot, suffix = Path(filename).name.rpartition(".")
    for number in itertools.count(1):
        name = filename if number == 1 else f"{stem}-{number}{dot}{suffix}"
        path = folder / Path(name).name
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            continue
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        return path
    raise AssertionError("unreachable")  # pragma: no cover


def attachment_from(line: str) -> Attachment | None:
    """`/attach PATH` becomes an attachment event (the console's way to send a file)."""
    head, _, rest = line.strip().partition(" ")
    if head.lower() != "/attach" or not rest.strip():
        return None
    path = _expand(Path(rest.strip()))
    try:
        size: int | None = path.stat().st_size
    except OSError:
        size = None
    mime, _ = mimetypes.guess_type(path.name)
    return Attachment("document", size, str(path), "", path.name, mime)


def _expand(path: Path) -> Path:
    try:
        return path.expanduser()
    except RuntimeError:  # ~name for an account this machine does not have: not found, later
        return path


def _read_file(ref: str, limit: int) -> bytes:
    path = _expand(Path(ref))
    try:
        if not path.is_file():
            raise FrontEndError("not a file")
        if path.stat().st_size > limit:
            raise FrontEndError("file too large")
        return path.read_bytes()
    except OSError:
        raise FrontEndError("file cannot be read") from None


async def run_console(
    service: Service,
    stdin: TextIO,
    stdout: TextIO,
    *,
    interactive: bool,
    language: str | None = None,
    greeting: Callable[[ConsoleFrontEnd], None] | None = None,
    exports_dir: Path | None = None,
) -> None:
    """Run the bot on a terminal or a pipe until end of input."""
    front = ConsoleFrontEnd(stdout, exports_dir)
    if greeting is not None:
        greeting(front)
    start = _incoming(Command("start"), None, language, front.next_id())
    await service.handle(start, front)
    ticks = asyncio.create_task(service.run_ticks(front))
    try:
        await _read_lines(service, front, stdin, stdout, interactive, language)
    finally:
        ticks.cancel()


async def _read_lines(
    service: Service,
    front: ConsoleFrontEnd,
    stdin: TextIO,
    stdout: TextIO,
    interactive: bool,
    language: str | None,
) -> None:
    while True:
        secret = await service.awaiting_secret(TRANSPORT, USER_ID)
        if interactive and secret:
            # A passphrase is typed without echo: a terminal cannot delete what it showed.
            line = await asyncio.to_thread(getpass.getpass, "* ")
            line = line + "\n" if line else "\n"
        else:
            if interactive:
                print("> ", end="", file=stdout, flush=True)
            line = await asyncio.to_thread(stdin.readline)
        if not line:
            if interactive:
                print(file=stdout)
            return
        if not line.strip():
            continue
        attachment = attachment_from(line)
        if secret:
            event: Event = Text(line.rstrip("\n"))  # never a button or a command
        elif attachment is not None:
            event = attachment
        else:
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
