"""Crash test: `safetybot console` killed with SIGKILL while it saves notes, again and again.

After every kill: each note the person was told was saved ("Saved as note N" reached stdout)
is in the vault exactly once and opens, and SQLite's integrity check passes. Two data folders
are crashed side by side (one per core) so that 50 kills fit in well under a minute.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from safetybot.core.events import Command, Incoming, Pressed, Text
from safetybot.core.notebook import Notebook
from safetybot.core.service import Service
from safetybot.core.vault import UnlockKind
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.ops.config import default_locales_dir
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.conftest import FAST_VAULT, RecordingFrontEnd

pytestmark = [pytest.mark.crash, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parent.parent
PASS = "crash test passphrase"
KILLS_PER_FOLDER = 25
NOTES_PER_RUN = 40
RULE = "-" * 40
TOKEN = re.compile(r"crash-\d+-\d+-\d+")


async def _keyring(store: Store, master: bytes) -> Keyring:
    first = Keyring(master)
    return first.with_stored_pseudonym_key(await store.pseudonym_key(first.wrap_pseudonym_key))


async def _turn_on_vault(data: Path, master: bytes) -> None:
    """The person (the console's one user) turns private notes on, before any crash."""
    locales = default_locales_dir()
    texts = Texts.load(locales)
    directory = Directory.load(locales / "resources.toml", locales=texts.locales)
    store = await Store.open(data / "safetybot.db")
    service = Service(store, await _keyring(store, master), texts, directory, FAST_VAULT)
    front = RecordingFrontEnd(transport="console")
    for number, event in enumerate(
        (Command("notes"), Pressed("v:on"), Text(PASS), Text(PASS)), start=1
    ):
        message_id = None if isinstance(event, Pressed) else number
        incoming = Incoming("console", "local", "local", event, message_id, None, "en")
        await service.handle(incoming, front)
    await service.close()


async def _notes_in_vault(data: Path, master: bytes) -> tuple[Counter[str], int]:
    """Open the vault with the passphrase; count each crash token among the notes."""
    store = await Store.open(data / "safetybot.db")
    try:
        keyring = await _keyring(store, master)
        pseudonym = keyring.pseudonym("console", "local")
        person = await store.person(pseudonym)
        assert person is not None, "the person is gone"
        data_key = keyring.unwrap(person.wrapped_key, pseudonym)
        service = Service(store, keyring, _TEXTS, _DIRECTORY, FAST_VAULT)
        unlocked = await service.vaults.unlock(pseudonym, data_key, PASS)
        assert unlocked.kind is UnlockKind.OPENED and unlocked.session is not None
        opened = await Notebook(store).open_space(pseudonym, unlocked.session)
        found: Counter[str] = Counter()
        for note in opened.notes.values():
            found.update(TOKEN.findall(str(note.get("fields", {}).get("what", ""))))
        return found, opened.damaged
    finally:
        await store.close()


_TEXTS = Texts.load(default_locales_dir())
_DIRECTORY = Directory.load(default_locales_dir() / "resources.toml", locales=_TEXTS.locales)


def _integrity(database: Path) -> str:
    connection = sqlite3.connect(database)
    try:
        return str(connection.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        connection.close()


def _run_and_kill(folder: int, cycle: int, env: dict[str, str], rng: random.Random) -> set[str]:
    """Start the console, unlock, save notes, kill -9 at a random moment; return the tokens
    of the notes it said were saved."""
    lines = ["/notes", PASS] + [
        f"/note crash-{folder}-{cycle}-{n} he sent the threat again" for n in range(NOTES_PER_RUN)
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "safetybot", "console"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    output: list[str] = []
    first_save = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if "Saved as note" in line:
                first_save.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    process.stdin.write("\n".join(lines) + "\n")
    process.stdin.flush()
    # Mostly while notes are being saved; now and then before the first one is.
    if rng.random() < 0.1:
        time.sleep(rng.uniform(0.3, 1.0))
    else:
        first_save.wait(timeout=20)
        time.sleep(rng.uniform(0.0, 0.25))
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    reader.join(timeout=10)
    told: set[str] = set()
    for block in "".join(output).split(RULE):
        if "Saved as note" in block:
            told.update(TOKEN.findall(block))
    return told


def _crash_folder(folder: int, data: Path, master: bytes, problems: list[str]) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SAFETYBOT_")},
        "SAFETYBOT_DATA_DIR": str(data),
        "SAFETYBOT_MASTER_KEY": base64.b64encode(master).decode(),
        "SAFETYBOT_LOG_LEVEL": "ERROR",
    }
    rng = random.Random(1000 + folder)
    told_ever: set[str] = set()
    for cycle in range(KILLS_PER_FOLDER):
        told_ever |= _run_and_kill(folder, cycle, env, rng)
        integrity = _integrity(data / "safetybot.db")
        if integrity != "ok":
            problems.append(f"folder {folder} kill {cycle}: integrity_check says {integrity}")
            return
        found, damaged = asyncio.run(_notes_in_vault(data, master))
        missing = sorted(told_ever - set(found))
        twice = sorted(token for token, count in found.items() if count > 1)
        if missing or twice or damaged:
            problems.append(
                f"folder {folder} kill {cycle}: missing {missing[:5]}, saved twice {twice[:5]},"
                f" {damaged} records that do not open"
            )
            return
    if len(told_ever) < KILLS_PER_FOLDER:
        problems.append(f"folder {folder}: only {len(told_ever)} notes were saved at all")


def test_notes_survive_fifty_kill_minus_nine_crashes(tmp_path: Path) -> None:
    master = os.urandom(32)
    folders = [tmp_path / f"data{n}" for n in range(2)]
    for data in folders:
        asyncio.run(_turn_on_vault(data, master))
    problems: list[str] = []
    workers = [
        threading.Thread(target=_crash_folder, args=(n, data, master, problems))
        for n, data in enumerate(folders)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not problems, "\n".join(problems)
