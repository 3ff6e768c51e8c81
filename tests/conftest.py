"""Shared fixtures: real keys, real SQLite files in tmp_path, the shipped locales."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from safetybot.core.events import Command, Event, Incoming, Pressed, Text
from safetybot.core.service import Deletion, Outgoing, Service
from safetybot.core.vault import VaultSettings
from safetybot.errors import FrontEndError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.ops import logs
from safetybot.ops.config import default_locales_dir
from safetybot.store import Store
from safetybot.vault.crypto import KdfParams, Keyring

LOCALES = default_locales_dir()


@dataclass
class Sent:
    """One call a front end received."""

    kind: str
    address: str
    message_id: int
    message: Outgoing | None = None
    data: bytes | None = None


@dataclass
class RecordingFrontEnd:
    """A messenger stand-in that records what the service asks of it."""

    transport: str = "test"
    calls: list[Sent] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)
    too_old: set[int] = field(default_factory=set)
    files: dict[str, bytes] = field(default_factory=dict)
    next_id: int = 1000

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    async def send(self, address: str, message: Outgoing) -> list[int]:
        sent = Sent("send", address, self._id(), message)
        self.calls.append(sent)
        return [sent.message_id]

    async def edit(self, address: str, message_id: int, message: Outgoing) -> bool:
        self.calls.append(Sent("edit", address, message_id, message))
        return True

    async def delete(self, address: str, message_ids: Sequence[int]) -> Deletion:
        old = tuple(i for i in message_ids if i in self.too_old)
        gone = tuple(i for i in message_ids if i not in self.too_old)
        self.deleted += gone
        return Deletion(deleted=gone, too_old=old)

    async def send_document(
        self, address: str, filename: str, data: bytes, caption: Outgoing
    ) -> list[int]:
        sent = Sent("document", address, self._id(), caption, data)
        self.calls.append(sent)
        return [sent.message_id]

    async def download(self, ref: str, limit: int) -> bytes:
        data = self.files[ref]
        if len(data) > limit:
            raise FrontEndError("file too large")
        return data

    @property
    def texts(self) -> list[str]:
        """The Markdown of every message sent or edited, in order."""
        return [c.message.markdown for c in self.calls if c.message is not None]

    @property
    def last(self) -> Outgoing:
        message = self.calls[-1].message
        assert message is not None
        return message


@pytest.fixture
def master_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def keyring(master_key: bytes) -> Keyring:
    return Keyring(master_key)


@pytest.fixture(scope="session")
def texts() -> Texts:
    return Texts.load(LOCALES)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "data" / "safetybot.db")
    yield opened
    await opened.close()


@pytest.fixture
def front() -> RecordingFrontEnd:
    return RecordingFrontEnd()


@pytest.fixture(scope="session")
def directory(texts: Texts) -> Directory:
    return Directory.load(LOCALES / "resources.toml", locales=texts.locales)


# Real Argon2id, at its smallest cost, so the suite stays fast (production: ops/config.py).
FAST_VAULT = VaultSettings(kdf=KdfParams(memory_kib=8, iterations=1, lanes=1))


@pytest.fixture
def service(store: Store, keyring: Keyring, texts: Texts, directory: Directory) -> Service:
    return Service(store, keyring, texts, directory, FAST_VAULT)


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Route logs through the production set-up at DEBUG into a file; restore afterwards."""
    path = tmp_path / "bot.log"
    with path.open("w", encoding="utf-8") as stream:
        logs.setup("DEBUG", stream)
        yield path
        reset_logging()


def reset_logging() -> None:
    """Undo logs.setup: no handlers, levels as Python leaves them."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    for name in (*logs.QUIET_LOGGERS, "safetybot"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    ours = logging.getLogger("safetybot")
    for handler in list(ours.handlers):
        ours.removeHandler(handler)


def data_files(folder: Path) -> list[Path]:
    """Every file under a data folder; or, given a database path, it and its -wal and -shm."""
    if folder.suffix == ".db":
        return [p for p in folder.parent.glob(folder.name + "*") if p.is_file()]
    return [p for p in folder.rglob("*") if p.is_file()]


def assert_absent(folder: Path, *needles: str | bytes) -> None:
    """Fail if any file under `folder` contains any of the needles (as UTF-8 or raw bytes)."""
    files = data_files(folder)
    assert files, f"no files under {folder}"
    for path in files:
        content = path.read_bytes()
        for needle in needles:
            raw = needle.encode() if isinstance(needle, str) else needle
            assert raw not in content, f"{path.name} contains {needle!r}"


# Message ids unique across Chat objects: a repeated id is a redelivery, and is ignored.
_MESSAGE_IDS = itertools.count(1)


class Chat:
    """One person talking to the service through a recording front end."""

    def __init__(self, service: Service, front: RecordingFrontEnd, user: str = "7391028465"):
        self.service, self.front, self.user = service, front, user
        self.language = "en"
        self._ids = _MESSAGE_IDS

    def _incoming(self, event: Event, origin: int | None = None) -> Incoming:
        message_id = None if isinstance(event, Pressed) else next(self._ids) + 10_000
        return Incoming("test", self.user, self.user, event, message_id, origin, self.language)

    async def send(self, event: Event) -> str:
        """Send an event; return the text of what the bot showed last."""
        await self.service.handle(self._incoming(event, self._last_buttons_id()), self.front)
        return self.front.texts[-1] if self.front.texts else ""

    async def say(self, text: str) -> str:
        return await self.send(Text(text))

    async def command(self, name: str, args: str = "") -> str:
        return await self.send(Command(name, args))

    async def press(self, data: str) -> str:
        assert data in self.button_data(), f"{data!r} not offered: {self.button_data()}"
        return await self.send(Pressed(data))

    def button_data(self) -> list[str]:
        for call in reversed(self.front.calls):
            if call.message is not None and call.message.buttons:
                return [d for row in call.message.buttons for _, d in row]
        return []

    def _last_buttons_id(self) -> int | None:
        for call in reversed(self.front.calls):
            if call.message is not None and call.message.buttons:
                return call.message_id
        return None

    async def turn_on_vault(self, passphrase: str = "blue kettle morning") -> str:  # noqa: S107
        await self.command("notes")
        await self.press("v:on")
        await self.say(passphrase)
        return await self.say(passphrase)
