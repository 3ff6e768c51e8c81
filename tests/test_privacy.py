"""The privacy scan: one person uses the capabilities over Telegram; then every file in the data
folder (the database, its -wal and -shm) and every log line are searched for anything that
could identify them or repeat their words.

Searched while their notes are still kept (all of it must be sealed), and again after "forget
me" (nothing of theirs may remain). Ids are searched as text and in the binary forms SQLite
and Python write integers in, so an id stored as a number would be found too.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from safetybot.core.desk import ATTACH_STEP
from safetybot.core.menus import Action
from safetybot.core.records import SPACE_TABLES
from safetybot.ops import logs
from safetybot.ops.backup import backup_database
from safetybot.vault.export import verify_export
from tests.conftest import data_files, reset_logging
from tests.test_telegram_e2e import CHAT, TOKEN, Harness, harness

__all__ = ["harness"]

FIRST_NAME = "Zephyrine"
LAST_NAME = "Okonkwo-Lindqvist"
USERNAME = "zeph_priv_4417"
PASSPHRASE = "amber lantern harbour"
WRONG_PASSPHRASE = "amber lantern harbor"
EXPORT_PASSWORD = "velvet compass dawn"
PANIC_WORD = "marmalade"
NOTE = "Talked to Quillon on the bus, his number is +44 7700 900123"
EDITED = "Quillon wrote again from quillon.fake@example.org"
CAPTION = "screenshot of the Corvalis threat"
FILE_NAME = "threat-from-corvalis.png"
SCREENSHOT = b"\x89PNG\r\n\x1a\n" + b"corvalis-screenshot-bytes" * 40
LETTER_NAME = "letter-from-corvalis.pdf"
LETTER = b"%PDF-1.4\n" + b"corvalis-letter-bytes" * 40
CHECKED = "Pay 300 in bitcoin within 2 hours or I send your pics to all your friends, Marisol"
FORWARDED = "Send 500 in gift cards by tonight or Pellegrino posts your nudes to your family"
FORWARDER_ID = 5550001234
FORWARDER_FIRST = "Maximilian"
FORWARDER_USERNAME = "mx_forwarder_99"
# Typed words the understanding step reads, one of each kind, each naming someone.
TYPED = (
    "I want to die since Roderigo saw them",
    "Bartholomew says he will post my nudes in 10 minutes",
    "my ex Fenwick posted my nudes on a forum",
    "my son Anselmo is being blackmailed with photos",
    "how do i delete this chat, Octavia might see it",
    "hello, Wenceslas here",
)
PASTED = "Ximena here: pay 400 in gift cards or your photos go to Thaddeus"
# An image outside a note: its caption is read as typed words are.
IMAGE_CAPTION = "Leopoldina sent this to my whole class, i want to die"
HELD_NOTE = "Ignatius wants 700 by friday"
# A message edited after it was sent: its new words are read for a crisis.
EDITED_MESSAGE = "hello, Evangelina"
EDITED_INTO = "Evangelina, i want to end my life"

WORDS = (
    FIRST_NAME,
    LAST_NAME,
    USERNAME,
    PASSPHRASE,
    WRONG_PASSPHRASE,
    EXPORT_PASSWORD,
    PANIC_WORD,
    NOTE,
    "Quillon",
    "+44 7700 900123",
    "7700 900123",
    EDITED,
    "quillon.fake@example.org",
    CAPTION,
    "Corvalis",
    FILE_NAME,
    LETTER_NAME,
    CHECKED,
    "Marisol",
    FORWARDED,
    "Pellegrino",
    FORWARDER_FIRST,
    FORWARDER_USERNAME,
    TOKEN.split(":")[1],
    *TYPED,
    "Roderigo",
    "Bartholomew",
    "Fenwick",
    "Anselmo",
    "Octavia",
    "Wenceslas",
    PASTED,
    IMAGE_CAPTION,
    "Leopoldina",
    EDITED_MESSAGE,
    EDITED_INTO,
    "Evangelina",
    "Ximena",
    "Thaddeus",
    HELD_NOTE,
    "Ignatius",
)


def _id_forms(number: int) -> list[bytes]:
    """An id as text, and as the big- and little-endian integers SQLite and struct write."""
    forms = [str(number).encode()]
    for size in (6, 8):  # SQLite's record format: 6 bytes up to 2**47, else 8, big-endian
        forms.append(number.to_bytes(size, "big"))
    forms.append(number.to_bytes(8, "little"))
    return forms


NEEDLES: list[bytes] = [
    *(w.encode() for w in WORDS),
    *(w.encode("utf-16-le") for w in (NOTE, PASSPHRASE, FIRST_NAME)),
    *_id_forms(CHAT),
    *_id_forms(FORWARDER_ID),
    SCREENSHOT[8:40],
    LETTER[9:40],
    hashlib.sha256(SCREENSHOT).hexdigest().encode(),
    hashlib.sha256(LETTER).hexdigest().encode(),
]


@pytest.fixture
def json_log(tmp_path: Path) -> Iterator[Path]:
    """Every log line, at DEBUG, as JSON (which carries exception stacks too)."""
    path = tmp_path / "bot.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        logs.setup("DEBUG", stream, "json")
        yield path
        reset_logging()


def _found(content: bytes) -> list[bytes]:
    lowered = content.lower()
    return [n for n in NEEDLES if n in content or n.lower() in lowered]


def _scan(data_dir: Path, log: Path) -> dict[str, list[bytes]]:
    """Each file (database, -wal, -shm, the log) that holds any needle, with what it holds."""
    files = data_files(data_dir)
    names = {path.name for path in files}
    assert "safetybot.db" in names and "safetybot.db-wal" in names
    found = {path.name: _found(path.read_bytes()) for path in [*files, log]}
    return {name: needles for name, needles in found.items() if needles}


async def _every_capability(harness: Harness) -> None:
    """Guides, triage, crisis, language, typed words, checking, the vault in full, settings,
    the panic word."""
    fake = harness.fake
    user = {
        "first_name": FIRST_NAME,
        "last_name": LAST_NAME,
        "username": USERNAME,
        "language_code": "en",
    }
    await harness.say("/start", **user)
    await harness.press(Action.GUIDES.value)
    await harness.press("g:spotting_sextortion")
    await harness.say("/triage")
    menu = harness.last_bot()
    triage = ["t:c:GB", "t:d:no", "t:s:threat", "t:n:adult", "t:a:adult", "t:w:stranger", "t:p:no"]
    for data in triage:
        await harness.press(data, menu)
    await harness.say("/now")
    assert "Samaritans" in (harness.last_bot().text or "")
    await harness.press(Action.LANGUAGE.value)
    await harness.press("l:es")
    await harness.say("/language")
    await harness.press("l:en")

    # Check a message, typed and forwarded; the questionnaire.
    await harness.say("/check")
    await harness.say(CHECKED)
    assert "bitcoin" in (harness.last_bot().text or "")
    await harness.press(Action.CHECK_QUESTIONS.value)
    await harness.press("kq:0:y")

    # Typed words of every kind, the plan they propose, a pasted message checked on request.
    for words in TYPED:
        await harness.say(words)
    await harness.say("my ex Fenwick posted my nudes on a forum")
    await harness.press(Action.TRIAGE_PROPOSED.value)
    await harness.say(PASTED)
    await harness.press(Action.CHECK_TYPED.value)
    assert "gift cards" in (harness.last_bot().text or "")
    before = len(fake.calls)
    image = fake.add_file(SCREENSHOT, FILE_NAME)
    fake.user_sends_update(CHAT, {"photo": fake.photo_sizes(image), "caption": IMAGE_CAPTION})
    await fake.wait_for(lambda: any(c.method == "sendMessage" for c in fake.calls[before:]), 30)
    await harness.settle()
    assert "glad you wrote" in (harness.last_bot().text or "")  # the caption was read
    greeting = await harness.say(EDITED_MESSAGE)
    await harness.edit(greeting, EDITED_INTO)
    assert "glad you wrote" in (harness.last_bot().text or "")  # the edit was read

    # The vault: a note typed before it existed (held, then saved), a note, a screenshot with a
    # caption, a file, an edit, a forwarded threat saved from the check, a deletion, both
    # exports, a lock and a wrong passphrase.
    await harness.say(f"/note {HELD_NOTE}")
    await harness.say("/notes")
    await harness.press("v:on")
    await harness.say(PASSPHRASE)
    await harness.say(PASSPHRASE)
    assert "Saved the note you typed earlier as note 1" in (harness.last_bot().text or "")
    await harness.press("v:new")
    await harness.say(NOTE)
    await harness.press("v:save")
    await harness.press("v:new")
    await harness.say("the screenshot")
    for _ in range(ATTACH_STEP - 1):  # past the questions to where files are taken
        await harness.press("v:skip")
    before = len(fake.calls)
    shot = fake.add_file(SCREENSHOT, FILE_NAME)
    fake.user_sends_update(CHAT, {"photo": fake.photo_sizes(shot), "caption": CAPTION})
    await fake.wait_for(lambda: any(c.method == "sendMessage" for c in fake.calls[before:]), 30)
    await harness.settle()
    before = len(fake.calls)
    letter = {
        **fake.document_dict(fake.add_file(LETTER, LETTER_NAME)),
        "mime_type": "application/pdf",
    }
    fake.user_sends_update(CHAT, {"document": letter})
    await fake.wait_for(lambda: any(c.method == "sendMessage" for c in fake.calls[before:]), 30)
    await harness.settle()
    await harness.press("v:save")
    await harness.press("v:e:2")
    await harness.say(EDITED)
    await harness.press("v:save")
    before = len(fake.calls)
    fake.user_sends_update(
        CHAT,
        {
            "text": FORWARDED,
            "forward_origin": {
                "type": "user",
                "date": 1795000000,
                "sender_user": {
                    "id": FORWARDER_ID,
                    "is_bot": False,
                    "first_name": FORWARDER_FIRST,
                    "username": FORWARDER_USERNAME,
                },
            },
        },
    )
    await fake.wait_for(lambda: any(c.method == "sendMessage" for c in fake.calls[before:]), 30)
    await harness.settle()
    await harness.press(Action.CHECK_SAVE.value)
    assert "Saved as note 4" in (harness.last_bot().text or "")
    await harness.press("v:d:1")
    await harness.press("v:dy:1")
    await harness.press("v:x")
    await harness.press("v:xn")
    await fake.wait_for(lambda: any(m.document for m in fake.bot_messages(CHAT)), timeout=30)
    await harness.settle()
    exported = [m for m in fake.bot_messages(CHAT) if m.document]
    assert verify_export(exported[-1].file_bytes).ok  # the export holds what was saved
    await harness.say("/notes")
    await harness.press("v:x")
    await harness.press("v:xp")
    await harness.say(EXPORT_PASSWORD)
    await fake.wait_for(lambda: len([m for m in fake.bot_messages(CHAT) if m.document]) > 1, 30)
    await harness.settle()
    await harness.say("/notes")
    await harness.press("v:lock")
    await harness.say("/notes")
    await harness.say(WRONG_PASSPHRASE)
    harness.advance(hours=0.1)  # past the pause a wrong passphrase costs
    await harness.say(PASSPHRASE)
    assert "Private notes: 3" in (harness.last_bot().text or "")

    # Settings: auto-clear, a panic word that clears the chat, then the word itself; Clear chat.
    await harness.say("/settings")
    await harness.press(Action.AUTO_CLEAR.value)
    await harness.press("ac:300")
    await harness.say("/settings")
    await harness.press(Action.PANIC.value)
    await harness.press("pm:clear")
    await harness.say(PANIC_WORD)
    before = len(fake.calls)
    fake.user_sends(CHAT, PANIC_WORD)
    await fake.wait_for(
        lambda: any(c.method == "deleteMessages" for c in fake.calls[before:]), timeout=30
    )
    await harness.settle()
    await harness.say("/clear")


async def test_every_capability_leaves_nothing_that_names_the_person_in_files_or_logs(
    harness: Harness, json_log: Path, tmp_path: Path
) -> None:
    await _every_capability(harness)
    database = harness.data_dir / "safetybot.db"
    with sqlite3.connect(database) as connection:  # the vault holds the notes, sealed
        assert connection.execute("SELECT count(*) FROM records").fetchone()[0] >= 4
        assert connection.execute("SELECT count(*) FROM files").fetchone()[0] >= 2
    connection.close()
    assert _scan(harness.data_dir, json_log) == {}
    # A backup of the live database holds nothing readable either.
    copy = tmp_path / "backup.db"
    backup_database(database, copy)
    assert _found(copy.read_bytes()) == []

    # Erasing while another connection reads the file (a backup, `stats`): finished once it
    # is gone, at the bot's next tick.
    reader = sqlite3.connect(database)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM people").fetchone()
    await harness.say("/forget")
    await harness.press(Action.FORGET_YES.value)
    reader.rollback()
    reader.close()
    await harness.service.tick(harness.bot.front)
    assert not harness.store.checkpoint_owed
    assert _scan(harness.data_dir, json_log) == {}
    with sqlite3.connect(database) as connection:
        tables = ("people", "vaults", "scheduled", "messages", *SPACE_TABLES)
        for table in tables:
            assert connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table  # noqa: S608
    connection.close()
    events = [json.loads(line)["event"] for line in json_log.read_text().splitlines()]
    for expected in ("vault_exported", "person_forgotten", "event_handled"):
        assert expected in events  # the log was written all along: its silence means something


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    # An id stored as a number, a name in a -wal file, a word in a log: each would be found.
    database = tmp_path / "safetybot.db"
    connection = sqlite3.connect(database)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (id INTEGER, name TEXT)")
    with connection:
        connection.execute("INSERT INTO t VALUES (?, ?)", (CHAT, FIRST_NAME))
    log = tmp_path / "bot.jsonl"
    log.write_text(json.dumps({"event": "oops", "text": PASSPHRASE}) + "\n")
    found = _scan(tmp_path, log)
    connection.close()
    assert CHAT.to_bytes(6, "big") in found["safetybot.db-wal"]
    assert FIRST_NAME.encode() in found["safetybot.db-wal"]
    assert found["bot.jsonl"] == [PASSPHRASE.encode()]
