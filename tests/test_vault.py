"""The evidence vault: opt-in, passphrase-locked, lockout, duress, notes, files, export."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import sys
import threading
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from safetybot.cli import main
from safetybot.core import vault as vault_module
from safetybot.core.desk import ATTACH_STEP
from safetybot.core.events import Attachment, Forwarded, Pressed
from safetybot.core.records import SPACE_TABLES
from safetybot.core.service import Service
from safetybot.core.vault import DuressMode
from safetybot.errors import CryptoError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.store import Store
from safetybot.vault.crypto import (
    KdfParams,
    Keyring,
    new_master_key,
    open_box,
    passphrase_key,
    unseal,
)
from safetybot.vault.evidence import FIELDS
from safetybot.vault.export import verify_export
from tests.conftest import FAST_VAULT, Chat, RecordingFrontEnd, assert_absent

PASS = "blue kettle morning"
NOTE = "He said he would post the video at 9pm unless I paid"
USER = "7391028465"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(64)


class Clock:
    """Time the tests move by hand (delays, lockouts, auto-lock)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "data" / "safetybot.db")
    yield store
    await store.close()


def make_service(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> Service:
    return Service(store, keyring, texts, directory, FAST_VAULT, clock)


@pytest.fixture
def svc(db: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock) -> Service:
    return make_service(db, keyring, texts, directory, clock)


@pytest.fixture
def chat(svc: Service, front: RecordingFrontEnd) -> Chat:
    return Chat(svc, front, USER)


async def write_note(chat: Chat, what: str = NOTE, platform: str = "Instagram") -> str:
    await chat.press("v:new")
    await chat.say(what)
    await chat.press("v:skip")
    await chat.say(platform)
    return await chat.press("v:save")


DURESS = "sunny garden path"


async def set_duress(chat: Chat, mode: str = "empty", passphrase: str = DURESS) -> str:
    """From the vault's settings: a duress passphrase that opens an empty vault, or erases."""
    await chat.press("v:set")
    await chat.press("v:du")
    await chat.press(f"v:dm:{mode}")
    await chat.say(passphrase)
    return await chat.say(passphrase)


async def test_the_vault_is_off_until_turned_on_and_explains_itself(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    shown = await chat.command("notes")
    assert "forget the passphrase, the notes are lost" in shown
    assert "v:on" in chat.button_data()
    assert await db.vault(keyring.pseudonym("test", USER)) is None


async def test_turning_on_needs_a_long_enough_passphrase_typed_twice(
    chat: Chat, front: RecordingFrontEnd
) -> None:
    await chat.command("notes")
    await chat.press("v:on")
    assert "at least 12 characters, or 3 words" in await chat.say("short")
    assert "once more" in await chat.say(PASS)
    assert "did not match" in await chat.say(PASS + " typo")
    await chat.say(PASS)
    assert "ready" in await chat.say(PASS)
    # Every message that carried a passphrase was deleted right after it was read.
    # The five lines typed after /notes (ids above the bot's own, which start at 1001).
    typed = sorted(i for i in front.deleted if i not in {c.message_id for c in front.calls})
    assert len(typed) >= 5


async def test_a_note_is_saved_step_by_step_and_shown(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    shown = await write_note(chat)
    assert "Saved as note 1" in shown and NOTE in shown and "Instagram" in shown


async def test_a_note_in_one_message(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    shown = await chat.command("note", NOTE)
    assert "Saved as note 1" in shown and NOTE in shown


async def test_a_saved_note_that_says_self_harm_gets_a_warm_line_and_talk_to_someone(
    chat: Chat,
) -> None:
    await chat.turn_on_vault(PASS)
    # A note is the person's record, never answered as a message: it is saved as written...
    shown = await write_note(chat, "he told me to kill myself if i dont pay, i cant go on")
    assert "Saved as note 1" in shown and "kill myself" in shown
    # ...and the words get one warm line and Talk to someone now beside it.
    assert "sounds very heavy" in shown and "tk" in chat.button_data()
    # One press leads with the crisis lines, as the same words typed outside a note would.
    assert "Find A Helpline" in await chat.press("tk")
    # An ordinary note gets neither, in either language.
    plain = await chat.command("note", "me pidió 300 dólares por whatsapp")
    assert "Saved as note 2" in plain or "Guardada como nota 2" in plain
    assert "heavy" not in plain and "pesado" not in plain and "tk" not in chat.button_data()
    spanish = await chat.command("note", "me dijo que me matara, ya no quiero vivir")
    assert "tk" in chat.button_data() and ("heavy" in spanish or "pesado" in spanish)


async def test_skip_back_and_cancel_while_writing(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:new")
    assert "When did it happen" in await chat.say("first try")
    assert "Which app" in await chat.press("v:skip")
    assert "When did it happen" in await chat.press("v:back")
    back = await chat.press("v:back")
    assert "What happened" in back and "first try" in back  # the value so far is shown
    assert "not saved" in await chat.press("v:cancel")
    assert "Private notes: 0" in chat.front.texts[-1]


async def test_notes_cannot_be_opened_with_the_database_and_master_key_alone(
    chat: Chat, db: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    pseudonym = keyring.pseudonym("test", USER)
    person = await db.person(pseudonym)
    vault = await db.vault(pseudonym)
    assert person is not None and vault is not None
    data_key = keyring.unwrap(person.wrapped_key, pseudonym)
    inner = unseal(data_key, vault.locked_key, owner=pseudonym, purpose="vault-lock")
    # The master key gets this far; what is left is sealed under the passphrase.
    for key in (data_key, keyring.master, inner[-32:]):
        with pytest.raises(CryptoError):
            unseal(key, inner, owner=pseudonym, purpose="vault-private")
    for row in await db.sealed("records", pseudonym, vault.space):
        for key in (data_key, keyring.master):
            with pytest.raises(CryptoError):
                open_box(key, row.sealed, owner=pseudonym, purpose="records")
    # After a restart the vault is locked: the service asks for the passphrase.
    restarted = make_service(db, keyring, texts, directory, clock)
    fresh = Chat(restarted, RecordingFrontEnd(), USER)
    assert "Send your passphrase" in await fresh.command("notes")
    assert NOTE not in "".join(fresh.front.texts)


async def test_wrong_passphrases_slow_down_then_lock_out_even_after_a_restart(
    chat: Chat, db: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:lock")
    await chat.command("notes")
    assert "4 more tries" in await chat.say("wrong one 1")
    assert "wait" in await chat.say("wrong one 2")  # too soon: not even tried
    for attempt in range(2, 5):
        clock.advance(60)
        await chat.say(f"wrong one {attempt}")
    clock.advance(60)
    assert "locked for 15 minutes" in await chat.say("wrong one 5")
    # A restart does not reset the count.
    restarted = Chat(make_service(db, keyring, texts, directory, clock), chat.front, USER)
    await restarted.command("notes")
    assert "locked for" in await restarted.say(PASS)
    clock.advance(16 * 60)
    await restarted.command("notes")
    assert NOTE[:20] in await restarted.say(PASS)


async def test_two_unlocks_at_once_both_end_open(chat: Chat, svc: Service) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:lock")
    await chat.command("notes")
    await asyncio.gather(chat.say(PASS), chat.say(PASS))
    assert svc.vaults.session(Keyring.pseudonym(svc._keyring, "test", USER)) is not None
    assert "Private notes" in chat.front.texts[-1]


async def test_the_vault_locks_after_inactivity_and_views_are_deleted(
    chat: Chat, svc: Service, front: RecordingFrontEnd, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    shown_ids = [c.message_id for c in front.calls if c.message and NOTE in c.message.markdown]
    assert shown_ids
    clock.advance(11 * 60)
    await svc.tick(front)
    assert set(shown_ids) <= set(front.deleted)
    assert "Send your passphrase" in await chat.command("notes")


async def test_a_draft_survives_the_vault_locking_mid_entry(chat: Chat, clock: Clock) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:new")
    await chat.say(NOTE)
    clock.advance(11 * 60)
    locked = await chat.say("Snapchat, then WhatsApp")
    assert "What you sent is kept, encrypted" in locked
    resumed = await chat.say(PASS)
    assert f"Step 3 of {ATTACH_STEP}" in resumed
    saved = await chat.press("v:save")
    assert NOTE in saved and "Snapchat, then WhatsApp" in saved


async def test_files_are_fingerprinted_sealed_and_limited(
    chat: Chat, front: RecordingFrontEnd, db: Store, tmp_path: Path
) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:new")
    for _ in range(ATTACH_STEP):
        await chat.press("v:skip")
    assert "Never the intimate images" in front.texts[-2] + front.texts[-1]
    front.files["shot"] = PNG
    await chat.send(Attachment("document", len(PNG), "shot", "", "shot.png", "image/png"))
    assert hashlib.sha256(PNG).hexdigest() in front.texts[-2]
    assert "Kept" in front.texts[-2]
    front.files["big"] = b"x" * (FAST_VAULT.max_file_bytes + 1)
    big = Attachment("document", None, "big", "", "big.pdf", "application/pdf")
    await chat.send(big)
    assert "too large" in front.texts[-2]  # then the step's prompt again, with its buttons
    video = Attachment("video", 100, "v", "", "clip.mp4", "video/mp4")
    await chat.send(video)
    assert "not videos" in front.texts[-2]
    saved = await chat.press("v:save")
    assert "shot\\.png" in saved  # Markdown-escaped: shown literally
    assert_absent(tmp_path / "data", PNG[8:40], NOTE, USER)


# The tests' clock: 1_800_000_000 is 15 January 2027, 08:00:00 UTC.
@pytest.mark.parametrize(
    ("language", "listed", "recorded"),
    [
        ("en", "Jan 15, 2027, 8:00:00\u202fAM UTC", "recorded Jan 15, 2027, 8:00:00\u202fAM UTC"),
        ("es", "15 ene 2027, 8:00:00 UTC", "registrada el 15 ene 2027, 8:00:00 UTC"),
    ],
)
async def test_notes_show_their_dates_in_the_persons_language(
    chat: Chat, language: str, listed: str, recorded: str
) -> None:
    chat.language = language
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    home = await chat.press("v:home")
    assert f"**1.** {listed}: {NOTE[:20]}" in home.replace("\\", "")
    shown = await chat.press("v:n:1")
    assert recorded in shown
    assert "2027-01-15" not in home + shown  # not the machine format any more


@pytest.mark.parametrize(
    ("language", "first", "last"),
    [
        ("en", "You have 4 more tries before a pause.", "You have 1 more try before a pause."),
        ("es", "Te quedan 4 intentos más antes", "Te queda 1 intento más antes de una pausa."),
    ],
)
async def test_wrong_passphrases_count_down_to_one_more_try(
    chat: Chat, clock: Clock, language: str, first: str, last: str
) -> None:
    chat.language = language
    await chat.turn_on_vault(PASS)
    await chat.press("v:lock")
    await chat.command("notes")
    assert first in await chat.say("wrong one 1")
    for attempt in range(2, 5):
        clock.advance(60)
        shown = await chat.say(f"wrong one {attempt}")
    assert last in shown


async def test_a_forwarded_threat_keeps_its_origin(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:new")
    forwarded = Forwarded("pay 500 or everyone sees", "Max Stone, @max_x, id 99", "2026-11-20")
    await chat.send(forwarded)
    saved = await chat.press("v:save")
    assert "pay 500 or everyone sees" in saved and "@max\\_x" in saved
    assert "(November 20, 2026)" in saved  # the day the messenger gave, in words


async def test_many_notes_are_listed_a_page_at_a_time_newest_first(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    for number in range(1, 21):
        await write_note(chat, f"threat number {number} ok")
        await chat.press("v:home")

    def listed(shown: str) -> list[int]:
        return [n for n in range(1, 21) if f"threat number {n} ok" in shown]

    def note_buttons() -> list[str]:
        return [d for d in chat.button_data() if d.startswith(("v:n:", "v:p:"))]

    home = await chat.command("notes")
    assert "Private notes: 20" in home and "Page 1 of 3" in home
    assert listed(home) == list(range(13, 21))
    assert note_buttons() == [*(f"v:n:{n}" for n in range(13, 21)), "v:p:2"]
    older = await chat.press("v:p:2")
    assert "Page 2 of 3" in older and listed(older) == list(range(5, 13))
    assert note_buttons() == [*(f"v:n:{n}" for n in range(5, 13)), "v:p:3", "v:p:1"]
    oldest = await chat.press("v:p:3")
    assert "Page 3 of 3" in oldest and listed(oldest) == [1, 2, 3, 4]
    assert note_buttons() == ["v:n:1", "v:n:2", "v:n:3", "v:n:4", "v:p:2"]
    assert listed(await chat.press("v:p:2")) == list(range(5, 13))
    # Out of range (a stale or forged button): the nearest page.
    assert listed(await chat.send(Pressed("v:p:99"))) == [1, 2, 3, 4]
    assert listed(await chat.send(Pressed("v:p:0"))) == list(range(13, 21))
    # Eight notes or fewer: one page, nothing to turn.
    for number in range(1, 13):
        await chat.send(Pressed(f"v:dy:{number}"))
    home = await chat.command("notes")
    assert "Private notes: 8" in home and "Page" not in home
    assert note_buttons() == [f"v:n:{n}" for n in range(13, 21)]


async def _index_row(db: Store, keyring: Keyring) -> tuple[bytes, bytes, bytes | None]:
    """The person's pseudonym, their vault's space and its sealed index row (None if none)."""
    pseudonym = keyring.pseudonym("test", USER)
    vault = await db.vault(pseudonym)
    assert vault is not None
    sealed, _ = await db.note_index(pseudonym, vault.space)
    return pseudonym, vault.space, sealed


async def _notes_seen(chat: Chat) -> tuple[str, str, str]:
    """The list's first page, its last page and old note 1, as the person sees them."""
    first = await chat.command("notes")
    last = await chat.press("v:p:2")
    return first, last, await chat.press("v:n:1")


@pytest.mark.parametrize("harm", ["deleted", "damaged", "another space's"])
async def test_a_lost_or_damaged_notes_index_is_rebuilt_and_nothing_is_lost(
    chat: Chat, db: Store, keyring: Keyring, harm: str
) -> None:
    await chat.turn_on_vault(PASS)
    for number in range(1, 11):
        await write_note(chat, f"threat number {number} ok", platform=f"App {number}")
        await chat.press("v:home")
    await chat.press("v:p:2")
    await chat.press("v:n:1")
    await chat.press("v:e:1")
    await chat.say("threat number 1, corrected")
    await chat.press("v:save")
    await chat.send(Pressed("v:dy:5"))
    seen = await _notes_seen(chat)
    first, last, old = seen
    assert "Private notes: 9" in first and "threat number 10 ok" in first
    assert "threat number 1, corrected" in last and "threat number 5 ok" not in first
    assert "threat number 1, corrected" in old and "App 1" in old
    assert "Edited 1 time" in old
    pseudonym, space, sealed = await _index_row(db, keyring)
    assert sealed is not None and b"threat number" not in sealed  # sealed like the records
    if harm == "deleted":
        await db.delete_sealed("notes_index", pseudonym, space)
    elif harm == "damaged":
        await db.save_index(pseudonym, space, sealed[:40] + os.urandom(len(sealed) - 40))
    else:  # a row moved from elsewhere does not open with this vault's key
        await db.save_index(pseudonym, space, crypto_seal_to_stranger(pseudonym))
    assert await _notes_seen(chat) == seen
    assert (await _index_row(db, keyring))[2] not in (None, sealed)
    # Numbers go on from the highest ever used, the deleted note's included.
    await chat.press("v:home")
    assert "Saved as note 11" in await write_note(chat, "after the rebuild")
    assert "Private notes: 10" in await chat.press("v:home")


def crypto_seal_to_stranger(pseudonym: bytes) -> bytes:
    from safetybot.vault.crypto import new_vault_keys, seal_to

    _, public = new_vault_keys()
    return seal_to(public, b"{}", owner=pseudonym, purpose="notes_index")


async def test_notes_from_before_the_index_get_one_at_the_next_list(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    await write_note(chat, what="second incident")
    await chat.press("v:home")
    await chat.press("v:n:1")
    await chat.press("v:e:1")
    await chat.say("He said 10pm, not 9pm")
    await chat.press("v:save")
    pseudonym, space, _ = await _index_row(db, keyring)
    # A space as it was before the index existed: its records, no index row.
    await db.delete_sealed("notes_index", pseudonym, space)
    assert (await _index_row(db, keyring))[2] is None
    home = await chat.command("notes")
    assert "Private notes: 2" in home and "He said 10pm" in home and "second incident" in home
    assert (await _index_row(db, keyring))[2] is not None
    shown = await chat.press("v:n:1")
    assert "He said 10pm" in shown and "Edited 1 time" in shown


@pytest.mark.parametrize(
    "data",
    [
        "v:n:²",
        "v:e:¹",
        "v:d:٣",
        "v:d:3",
        "v:dy:²",
        "v:dy:3",
        "v:n:99999999999999999999",
        "v:n:-1",
        "v:n:",
        "v:zz:1",
    ],
)
async def test_forged_or_stale_vault_buttons_get_a_calm_answer_and_change_nothing(
    chat: Chat, data: str
) -> None:
    # Digits isdigit() accepts but int() does not, notes that do not exist, unknown actions.
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    shown = await chat.send(Pressed(data))  # not a button the bot offered
    assert "went wrong" not in shown and "deleted" not in shown and "Delete note" not in shown
    assert "Private notes: 1" in shown or "no longer active" in shown
    assert "Private notes: 1" in await chat.command("notes")


async def test_edit_keeps_the_earlier_version_and_delete_leaves_a_trace(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:e:1")
    await chat.say("He said 10pm, not 9pm")
    saved = await chat.press("v:save")
    assert "10pm" in saved and "Edited 1 time; the earlier version is kept" in saved
    await chat.press("v:d:1")
    home = await chat.press("v:dy:1")
    assert "Private notes: 0" in home


async def test_duress_passphrase_shows_an_empty_vault_and_hides_the_real_one(
    chat: Chat, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    assert "duress passphrase is set" in await set_duress(chat)
    await chat.press("v:lock")
    await chat.command("notes")
    opened = await chat.say("sunny garden path")
    assert "Private notes: 0" in opened and NOTE not in opened
    await chat.command("note", "decoy entry")
    await chat.press("v:lock")
    await chat.command("notes")
    real = await chat.say(PASS)
    assert NOTE[:20] in real and "decoy entry" not in real


async def test_duress_passphrase_in_erase_mode_erases_the_real_notes(
    chat: Chat, db: Store, keyring: Keyring, tmp_path: Path
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    pseudonym = keyring.pseudonym("test", USER)
    real = await db.vault(pseudonym)
    assert real is not None and (await db.note_index(pseudonym, real.space))[0] is not None
    await set_duress(chat, "erase")
    await chat.press("v:lock")
    await chat.command("notes")
    opened = await chat.say("sunny garden path")
    assert "Private notes: 0" in opened  # looks exactly like the empty mode
    await chat.press("v:lock")
    await chat.command("notes")
    assert "did not open" in await chat.say(PASS)  # the real vault is gone
    vault = await db.vault(pseudonym)
    assert vault is not None
    assert await db.sealed("records", pseudonym, vault.space) == []
    for table in SPACE_TABLES:  # the real space's index too: nothing of it is left
        assert await db.sealed(table, pseudonym, real.space) == []
    assert DuressMode.ERASE.value  # both modes exist


async def test_changing_the_passphrase_rewraps_one_key_not_the_notes(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    pseudonym = keyring.pseudonym("test", USER)
    vault = await db.vault(pseudonym)
    assert vault is not None
    before = await db.sealed("records", pseudonym, vault.space)
    await chat.press("v:home")
    await chat.press("v:set")
    await chat.press("v:cp")
    await chat.say("green window river")
    assert "passphrase is changed" in await chat.say("green window river")
    assert await db.sealed("records", pseudonym, vault.space) == before
    after = await db.vault(pseudonym)
    assert after is not None and after.locked_key != vault.locked_key
    await chat.press("v:lock")
    await chat.command("notes")
    assert "did not open" in await chat.say(PASS)
    chat_clock = chat.service._clock
    assert isinstance(chat_clock, Clock)
    chat_clock.advance(60)  # past the short wait after a wrong try
    assert NOTE[:20] in await chat.say("green window river")


async def test_export_is_a_verifiable_zip_with_a_pdf_that_holds_the_notes(
    chat: Chat, svc: Service, front: RecordingFrontEnd, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:x")
    assert "no notes to export" in await chat.press("v:xn")
    await write_note(chat, what="Él amenazó con publicar las fotos", platform="TikTok")
    await chat.press("v:home")
    await chat.press("v:x")
    await chat.press("v:xn")
    document = front.calls[-1]
    assert document.kind == "document" and document.data is not None
    report = verify_export(document.data)
    assert report.ok and report.notes == 1, report.problems
    with zipfile.ZipFile(io.BytesIO(document.data)) as archive:
        pdf = PdfReader(io.BytesIO(archive.read("evidence.pdf")))
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert "amenazó" in text and "TikTok" in text
    # The export leaves the chat after a few minutes unless kept.
    clock.advance(6 * 60)
    await svc.tick(front)
    assert document.message_id in front.deleted


async def test_a_kept_export_stays(
    chat: Chat, svc: Service, front: RecordingFrontEnd, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    await chat.press("v:x")
    await chat.press("v:xp")
    await chat.say("export pass 1")
    document = front.calls[-1]
    assert document.data is not None
    assert not verify_export(document.data).readable
    assert verify_export(document.data, "export pass 1").ok
    assert "leave the file" in await chat.press("v:keep")
    clock.advance(60 * 60)
    await svc.tick(front)
    assert document.message_id not in front.deleted


async def test_a_damaged_entry_is_reported_and_the_rest_still_open(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    await write_note(chat, what="second incident")
    pseudonym = keyring.pseudonym("test", USER)
    vault = await db.vault(pseudonym)
    assert vault is not None
    rows = await db.sealed("records", pseudonym, vault.space)
    await db.replace_sealed("records", pseudonym, rows[0].id, b"\x02" + os.urandom(80))
    home = await chat.press("v:home")
    assert "could not be opened" in home and "second incident" in home


async def test_forget_erases_the_vault_and_every_trace(
    chat: Chat, tmp_path: Path, front: RecordingFrontEnd
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.command("forget")
    await chat.press("fy")
    assert_absent(tmp_path / "data", NOTE, USER, PASS)
    assert "forget the passphrase" in await chat.command("notes")  # a stranger again


async def test_rotate_key_rewraps_and_the_old_key_stops_working(
    tmp_path: Path,
    texts: Texts,
    directory: Directory,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = new_master_key(), new_master_key()
    data = tmp_path / "data"
    env = {"SAFETYBOT_DATA_DIR": str(data), "SAFETYBOT_MASTER_KEY": old}
    # A person with a note, written through a service opened the way the CLI opens it.
    from safetybot.vault.crypto import parse_master_key
    from safetybot.wiring import open_keyring

    store = await Store.open(data / "safetybot.db")
    keyring = await open_keyring(store, parse_master_key(old, "x"))
    chat = Chat(make_service(store, keyring, texts, directory, clock), RecordingFrontEnd(), USER)
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await store.close()
    (tmp_path / "new.key").write_text(new)
    assert await asyncio.to_thread(main, ["rotate-key", str(tmp_path / "new.key")], env) == 0
    assert "Re-wrapped 1" in capsys.readouterr().out
    store = await Store.open(data / "safetybot.db")
    with pytest.raises(Exception, match="does not open"):
        await open_keyring(store, parse_master_key(old, "x"))
    keyring = await open_keyring(store, parse_master_key(new, "x"))
    again = Chat(make_service(store, keyring, texts, directory, clock), RecordingFrontEnd(), USER)
    await again.command("notes")
    assert NOTE[:20] in await again.say(PASS)  # same pseudonym, same notes
    await store.close()


async def test_a_menu_word_is_not_taken_as_a_new_passphrase(chat: Chat) -> None:
    await chat.command("notes")
    await chat.press("v:on")
    assert "cannot be a passphrase" in await chat.say("Cancel")
    assert "once more" in await chat.say(PASS)


async def test_each_messenger_says_honestly_what_happens_to_a_typed_secret(
    svc: Service, texts: Texts
) -> None:
    for transport, promise in (
        ("telegram", "I will delete your message"),
        ("signal", "cannot delete your messages"),
        ("console", "not shown on the screen"),
    ):
        front = RecordingFrontEnd(transport=transport)
        chat = Chat(svc, front, f"{USER}-{transport}")
        await chat.command("notes")
        assert promise in await chat.press("v:on"), transport
    assert texts.has("secret.note.signal")


class Derivations:
    """Records where each passphrase derivation ran, around the real `passphrase_key`."""

    def __init__(self) -> None:
        self.threads: set[str] = set()
        self.nice: set[int] = set()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def __call__(self, passphrase: str, salt: bytes, params: KdfParams, owner: bytes) -> bytes:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            if sys.platform.startswith("linux"):
                self.nice.add(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            return passphrase_key(passphrase, salt, params, owner)
        finally:
            with self._lock:
                self.running -= 1


async def test_derivations_queue_on_their_own_lower_priority_thread(
    svc: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    derivations = Derivations()
    monkeypatch.setattr(vault_module, "passphrase_key", derivations)
    chats = [Chat(svc, RecordingFrontEnd(), f"50{n}") for n in range(4)]
    await asyncio.gather(*(c.turn_on_vault(PASS) for c in chats))
    for c in chats:
        await c.press("v:lock")
        await c.command("notes")
    # Several people unlocking at once (two derivations each, one of them wrong): they queue.
    await asyncio.gather(*(c.say(PASS if n % 2 else "not it at all") for n, c in enumerate(chats)))
    for n, c in enumerate(chats):
        pseudonym = Keyring.pseudonym(svc._keyring, "test", c.user)
        assert (svc.vaults.session(pseudonym) is not None) == bool(n % 2)
    assert derivations.threads and all(t.startswith("safetybot-kdf") for t in derivations.threads)
    assert derivations.most_at_once <= vault_module._KDF_WORKERS
    if sys.platform.startswith("linux"):
        loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert derivations.nice == {min(19, loop_nice + 10)}


async def test_a_passphrase_typed_after_a_lockout_is_deleted_like_any_other(
    chat: Chat, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:lock")
    await chat.command("notes")
    for attempt in range(5):
        clock.advance(60)
        await chat.say(f"wrong one {attempt}")
    # Locked out; what they type next is still a passphrase: deleted, and not read as words.
    before = set(chat.front.deleted)
    assert "locked for" in await chat.say(PASS)
    bot_ids = {call.message_id for call in chat.front.calls}
    assert [i for i in set(chat.front.deleted) - before if i not in bot_ids]
    assert "I'm a bot" not in chat.front.texts[-1]


async def test_the_passphrase_typed_again_while_the_vault_is_open_leaves_the_chat(
    chat: Chat, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    clock.advance(5 * 60)  # long after unlocking, the vault still open
    await chat.command("menu")
    before = set(chat.front.deleted)
    shown = await chat.say(PASS)
    bot_ids = {call.message_id for call in chat.front.calls}
    assert [i for i in set(chat.front.deleted) - before if i not in bot_ids]
    assert NOTE[:20] in shown  # taken as "open my notes"


async def test_a_notes_words_and_files_leave_the_chat_once_sealed(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:new")
    before = set(chat.front.deleted)
    await chat.say(NOTE)
    bot_ids = {call.message_id for call in chat.front.calls}
    typed = [i for i in set(chat.front.deleted) - before if i not in bot_ids]
    assert len(typed) == 1  # the field's words, now sealed, are not left in the chat
    for _ in range(ATTACH_STEP - 1):
        await chat.press("v:skip")
    before = set(chat.front.deleted)
    chat.front.files["ref-1"] = b"\x89PNG\r\n\x1a\n" + b"shot" * 40
    await chat.send(Attachment("photo", 100, "ref-1", mime="image/png"))
    bot_ids = {call.message_id for call in chat.front.calls}
    assert [i for i in set(chat.front.deleted) - before if i not in bot_ids]  # the screenshot


async def test_words_too_long_to_keep_stay_in_the_chat(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:new")
    before = set(chat.front.deleted)
    assert "longer than i can take" in (await chat.say("x" * 5000)).lower()
    bot_ids = {call.message_id for call in chat.front.calls}
    assert not [i for i in set(chat.front.deleted) - before if i not in bot_ids]  # not lost


async def _swap_public_key(db: Store, pseudonym: bytes, *, strip_seal: bool) -> bytes:
    """What someone who can write the database could do: their key in place of the vault's."""
    from dataclasses import replace

    from safetybot.vault.crypto import new_vault_keys

    row = await db.vault(pseudonym)
    assert row is not None
    their_private, their_public = new_vault_keys()
    swapped = replace(row, public_key=their_public)
    await db.save_vault(replace(swapped, keys_seal=None) if strip_seal else swapped)
    return their_private


async def _openable_with(db: Store, pseudonym: bytes, private: bytes) -> int:
    row = await db.vault(pseudonym)
    assert row is not None
    opened = 0
    for table in ("records", "files", "drafts"):
        for found in await db.sealed(table, pseudonym, row.space):
            with contextlib.suppress(CryptoError):
                open_box(private, found.sealed, owner=pseudonym, purpose=table)
                opened += 1
    return opened


@pytest.mark.parametrize("strip_seal", [False, True])
async def test_a_swapped_public_key_gets_nothing_sealed_to_it_and_the_vault_says_so(
    chat: Chat, db: Store, keyring: Keyring, clock: Clock, strip_seal: bool
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    await chat.press("v:new")
    await chat.say("first words of a second note")
    clock.advance(11 * 60)  # the vault locks mid-entry; new words would be sealed to its key
    pseudonym = keyring.pseudonym("test", USER)
    theirs = await _swap_public_key(db, pseudonym, strip_seal=strip_seal)
    refused = await chat.say("He wants 300 in gift cards by Friday")
    assert "could not be kept safely" in refused and "It is still in this chat" in refused
    assert await _openable_with(db, pseudonym, theirs) == 0
    # The right passphrase does not open keys that were changed, and says what to do.
    opened = await chat.say(PASS)
    assert "something in how they are stored was changed" in opened
    assert NOTE not in opened
    assert await _openable_with(db, pseudonym, theirs) == 0


async def test_a_vault_from_before_keys_were_sealed_gets_its_seal_at_the_next_unlock(
    chat: Chat, db: Store, keyring: Keyring, clock: Clock
) -> None:
    from dataclasses import replace

    await chat.turn_on_vault(PASS)
    pseudonym = keyring.pseudonym("test", USER)
    row = await db.vault(pseudonym)
    assert row is not None and row.keys_seal is not None
    await db.save_vault(replace(row, keys_seal=None, anchor=None))  # as an older safetybot left it
    await chat.press("v:new")
    clock.advance(11 * 60)
    # Locked, with nothing to check its key against: not kept, and not lost from the chat.
    assert "could not be kept safely" in await chat.say(NOTE)
    assert f"Step 1 of {ATTACH_STEP}" in await chat.say(PASS)  # back where they were
    row = await db.vault(pseudonym)
    assert row is not None and row.keys_seal is not None  # checked against the private key
    clock.advance(11 * 60)
    # Now words typed while locked are kept again.
    assert "What you sent is kept, encrypted" in await chat.say(NOTE)


async def _data_key(db: Store, keyring: Keyring, pseudonym: bytes) -> bytes:
    person = await db.person(pseudonym)
    assert person is not None
    return keyring.unwrap(person.wrapped_key, pseudonym)


async def test_a_vault_sealed_before_versions_opens_and_is_versioned_from_then_on(
    chat: Chat, db: Store, keyring: Keyring, clock: Clock
) -> None:
    import json
    from dataclasses import replace

    from safetybot.vault.crypto import seal

    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:lock")
    pseudonym = keyring.pseudonym("test", USER)
    row = await db.vault(pseudonym)
    assert row is not None
    # As the previous safetybot left it: only the keys sealed, no version, no anchor.
    keys = {name: getattr(row, name).hex() for name in vault_module._KEY_FIELDS}
    data_key = await _data_key(db, keyring, pseudonym)
    old_seal = seal(data_key, json.dumps(keys).encode(), owner=pseudonym, purpose="vault-keys")
    await db.save_vault(replace(row, keys_seal=old_seal, anchor=None, decoy_levels=None))
    await chat.command("notes")
    assert NOTE in await chat.say(PASS)
    row = await db.vault(pseudonym)
    assert row is not None and row.anchor is not None
    # From now on, the old-style row is an older copy: put back, it is refused.
    await db.save_vault(replace(row, keys_seal=old_seal))
    await chat.press("v:lock")
    await chat.command("notes")
    assert "something in how they are stored was changed" in await chat.say(PASS)


async def test_an_older_copy_of_the_vault_put_back_does_not_bring_back_the_old_passphrase(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    from dataclasses import replace

    await chat.turn_on_vault(PASS)
    await write_note(chat)
    pseudonym = keyring.pseudonym("test", USER)
    before = await db.vault(pseudonym)
    assert before is not None
    # They change the passphrase (someone learned the old one).
    await chat.press("v:home")
    await chat.press("v:set")
    await chat.press("v:cp")
    await chat.say("quiet orange harbour")
    assert "passphrase is changed" in await chat.say("quiet orange harbour")
    await chat.press("v:lock")
    # Whoever can write to the database puts the old vault row back, as it was (the person's
    # own row, where the anchor is kept, stays as it is).
    after = await db.vault(pseudonym)
    assert after is not None
    await db.save_vault(replace(before, anchor=after.anchor))
    await chat.command("notes")
    refused = await chat.say(PASS)
    assert "something in how they are stored was changed" in refused and NOTE not in refused
    # Nor does the new passphrase open a row that is not the newest.
    assert NOTE not in await chat.say("quiet orange harbour")


async def test_lockout_counters_wiped_in_the_database_give_no_more_guesses(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    from dataclasses import replace

    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:lock")
    await chat.command("notes")
    assert "4 more tries" in await chat.say("wrong guess one")
    pseudonym = keyring.pseudonym("test", USER)
    row = await db.vault(pseudonym)
    assert row is not None and row.failures == 1
    await db.save_vault(replace(row, failures=0, retry_at=0))  # the anchor is unchanged
    answer = await chat.say(PASS)
    assert "something in how they are stored was changed" in answer and NOTE not in answer


async def test_changing_the_passphrase_in_a_duress_session_really_changes_the_decoys(
    chat: Chat, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    await set_duress(chat, "empty")
    await chat.press("v:lock")
    await chat.command("notes")
    await chat.say("sunny garden path")  # someone made them open it: the decoy
    await chat.command("note", "decoy entry")
    await chat.press("v:home")
    await chat.press("v:set")
    await chat.press("v:cp")
    await chat.say("quiet orange harbour")
    assert "passphrase is changed" in await chat.say("quiet orange harbour")
    await chat.press("v:lock")
    await chat.command("notes")
    # The new passphrase works, as it would on a real vault, and opens the same decoy.
    decoy = await chat.say("quiet orange harbour")
    assert "decoy entry" in decoy and NOTE[:20] not in decoy
    await chat.press("v:lock")
    await chat.command("notes")
    assert "did not open" in await chat.say("sunny garden path")  # the old one no longer
    clock.advance(60)
    real = await chat.say(PASS)  # the real vault and its passphrase are untouched
    assert NOTE[:20] in real and "decoy entry" not in real


async def test_a_stronger_setting_applies_to_a_changed_passphrase_and_keeps_the_other(
    db: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> None:
    from dataclasses import replace as changed

    chat = Chat(make_service(db, keyring, texts, directory, clock), RecordingFrontEnd(), USER)
    await chat.turn_on_vault(PASS)
    await set_duress(chat)
    # The organization raises the cost; the person then changes their passphrase.
    stronger = changed(FAST_VAULT, kdf=KdfParams(memory_kib=16, iterations=2, lanes=1))
    service = Service(db, keyring, texts, directory, stronger, clock)
    later = Chat(service, RecordingFrontEnd(), USER)
    await later.command("notes")
    await later.say(PASS)
    await later.press("v:set")
    await later.press("v:cp")
    await later.say("green window river")
    await later.say("green window river")
    row = await db.vault(keyring.pseudonym("test", USER))
    assert row is not None and "m=16,t=2" in row.kdf.split("|")[0]
    await later.press("v:lock")
    await later.command("notes")
    assert "Private notes: 0" in await later.say("sunny garden path")  # duress still opens
    await later.press("v:lock")
    await later.command("notes")
    assert "Private notes" in await later.say("green window river")


@pytest.mark.parametrize(
    ("passphrase", "kept"),
    [
        ("kettle", False),  # too short, one word
        ("two words", False),
        ("eleven char", False),
        ("blue kettle morning", True),  # three words
        ("twelve chars", True),  # twelve characters
        ("Password1234", False),  # on the list of common ones
        ("I love you forever", False),  # a common phrase, however it is spaced
        ("Te amo mucho", False),
        ("aaaaaaaaaaaaaa", False),  # one letter over and over
        ("123456789012345", False),  # a run
    ],
)
async def test_a_new_passphrase_must_be_long_and_not_a_common_one(
    chat: Chat, passphrase: str, kept: bool
) -> None:
    await chat.command("notes")
    await chat.press("v:on")
    answer = await chat.say(passphrase)
    assert ("once more" in answer) is kept, answer


async def test_each_lockout_after_the_first_is_twice_as_long_up_to_a_day(
    chat: Chat, clock: Clock
) -> None:
    await chat.turn_on_vault(PASS)
    await chat.press("v:lock")
    await chat.command("notes")
    waits = []
    for attempt in range(12):
        answer = await chat.say(f"wrong guess number {attempt}")
        if "locked for" in answer:
            waits.append(int(answer.split("locked for ")[1].split(" ")[0]))
        clock.advance(25 * 60 * 60)  # past any wait
    assert waits == [15, 30, 60, 120, 240, 480, 960, 1440]
    assert PASS not in "".join(chat.front.texts)
    assert "Private notes" in await chat.say(PASS)  # the right one still opens, once allowed


async def test_a_vault_changed_under_an_open_session_is_not_rewritten_over(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    from dataclasses import replace

    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    await chat.press("v:set")
    await chat.press("v:cp")
    pseudonym = keyring.pseudonym("test", USER)
    row = await db.vault(pseudonym)
    assert row is not None
    await db.save_vault(replace(row, failures=0, retry_at=1))  # edited while it is open
    await chat.say("quiet orange harbour")
    answer = await chat.say("quiet orange harbour")
    assert "something in how they are stored was changed" in answer
    assert "passphrase is changed" not in answer
    stored = await db.vault(pseudonym)
    assert stored is not None and stored.locked_key == row.locked_key  # not rewritten
    await chat.command("notes")
    assert NOTE not in await chat.say(PASS)  # it locked, and stays refused


async def _to_field(chat: Chat, name: str) -> str:
    """From a new note, skip to the step that asks for `name`; return its prompt."""
    shown = await chat.press("v:new")
    for _ in range(FIELDS.index(name)):
        shown = await chat.press("v:skip")
    return shown


async def test_a_note_keeps_what_a_removal_request_needs(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    prompt = await _to_field(chat, "content_urls")
    assert "exact web address (URL)" in prompt and "one a line" in prompt
    typed = "https://www.instagram.com/p/Cx1/\nhttp://example.org/a?b=1,"
    assert "Which site or app is it posted on" in await chat.say(typed)
    await chat.say("Instagram")
    assert "Were you under 18" in await chat.say("@the_account_42")
    assert {"v:u18:yes", "v:u18:no", "v:u18:unsure"} <= set(chat.button_data())
    assert "Send any screenshots" in await chat.press("v:u18:unsure")
    shown = await chat.press("v:save")
    # Kept as typed (the separating comma aside), each on its own line, with their labels.
    assert "https://www.instagram.com/p/Cx1/" in shown.replace("\\", "")
    assert "http://example.org/a?b=1" in shown.replace("\\", "")
    assert "Exact web addresses" in shown and "Account that posted it" in shown
    assert "@the\\_account\\_42" in shown or "@the_account_42" in shown
    assert "Under 18 when it was made: Not sure" in shown.replace("*", "").replace("_", "")


async def test_an_address_that_is_not_a_web_address_is_asked_for_again(chat: Chat) -> None:
    await chat.turn_on_vault(PASS)
    await _to_field(chat, "content_urls")
    for wrong in ("instagram.com/p/Cx1", "https://photos", "ftp://example.org/x", "see my pics"):
        again = await chat.say(f"https://example.org/ok {wrong}")
        assert "doesn't look like a full web address" in again
        assert "exact web address (URL)" in again  # the same step, asked again
        assert wrong not in again  # the typed words are not repeated back
    assert "Which site or app" in await chat.say("https://example.org/ok https://x.com/a/status/1")
    await chat.press("v:skip")
    await chat.press("v:skip")
    refused = await chat.say("yes")
    assert "Please answer with one of the buttons" in refused and "Were you under 18" in refused
    assert "v:u18:yes" in chat.button_data()


async def test_the_removal_fields_are_sealed_and_exported_in_both_languages(
    chat: Chat, front: RecordingFrontEnd, tmp_path: Path
) -> None:
    address = "https://www.reddit.com/r/example/comments/abc123/"
    chat.language = "es"
    await chat.turn_on_vault(PASS)
    await _to_field(chat, "content_urls")
    await chat.say(address)
    await chat.say("Reddit")
    assert "¿Tenías menos de 18 años" in await chat.say("u/someone_posting")
    await chat.press("v:u18:no")
    assert "Dónde está publicado" in await chat.press("v:save")
    assert_absent(tmp_path / "data", address, "someone_posting")
    await chat.press("v:home")
    await chat.press("v:x")
    await chat.press("v:xn")
    document = front.calls[-1]
    assert document.data is not None and verify_export(document.data).ok
    with zipfile.ZipFile(io.BytesIO(document.data)) as archive:
        evidence = json.loads(archive.read("evidence.json"))
        pdf = PdfReader(io.BytesIO(archive.read("evidence.pdf")))
    fields = evidence["records"][0]["fields"]
    assert fields["content_urls"] == address and fields["posted_by"] == "u/someone_posting"
    assert fields["minor_then"] == "no"  # the stored answer is the same in every language
    text = " ".join(page.extract_text() for page in pdf.pages)
    assert "Menor de 18 cuando se hizo" in text and "Direcciones web exactas" in text
    assert "reddit.com/r/example" in text


POSTED = "https://www.example.org/posts/8842"


async def _note_with_address(chat: Chat, address: str = POSTED) -> None:
    await _to_field(chat, "content_urls")
    await chat.say(address)
    await chat.say("Example Forum")
    await chat.say("@poster_account")
    await chat.press("v:u18:no")
    await chat.press("v:save")


async def test_a_removal_request_is_filled_from_notes_shown_first_and_never_kept(
    chat: Chat, front: RecordingFrontEnd, tmp_path: Path
) -> None:
    await chat.turn_on_vault(PASS)
    await chat.command("note", NOTE)  # a note with no address is not offered
    await chat.press("v:home")
    await _note_with_address(chat)
    await chat.press("v:home")
    shown = await chat.press("v:r")
    assert "never holds an image" in shown and "own form" in shown
    assert "v:rn:2" in chat.button_data() and "v:rn:1" not in chat.button_data()
    assert "Make one request for each site" in await chat.press("v:rp")
    assert {"v:rf:x", "v:rf:discord", "v:rf:other"} <= set(chat.button_data())
    assert "Which law" in await chat.press("v:rf:x")
    assert {"v:rl:us", "v:rl:uk", "v:rl:au", "v:rl:eu"} <= set(chat.button_data())
    asked = await chat.press("v:rl:us")
    assert "electronic signature" in asked and "sign the request" in asked
    before = set(front.deleted)
    assert "separate address" in await chat.say("Alex Rivera Test")
    preview = (await chat.say("alex.removals@example.net")).replace("\\", "")
    bot_ids = {call.message_id for call in front.calls}
    typed = [i for i in set(front.deleted) - before if i not in bot_ids]
    assert len(typed) == 2  # the name and the e-mail left the chat once read
    # Exactly what the request will say, before anything is made.
    assert "Nothing is made or sent until you press Make it" in preview
    for element in (
        POSTED,
        "@poster_account",
        "47 U.S.C. 223a",
        "good-faith belief",
        "X (Twitter)",
    ):
        assert element in preview, element
    assert "Electronic signature: /Alex Rivera Test/" in preview
    assert "alex.removals@example.net" in preview and "not attached any image" in preview
    await chat.press("v:ry")
    where = front.texts[-2].replace("\\", "")  # then the PDF, its caption last
    assert "help.x.com/forms/safety-and-sensitive-content/take-it-down" in where
    assert "Copy it now" in where and "save the PDF" in where
    document = front.calls[-1]
    assert document.kind == "document" and document.data is not None
    assert document.data.startswith(b"%PDF") and document.message is not None
    assert "It holds no image" in document.message.markdown
    assert_absent(tmp_path / "data", "Alex Rivera Test", "alex.removals@example.net")


async def test_a_removal_request_comes_in_spanish_and_in_english(
    chat: Chat, front: RecordingFrontEnd
) -> None:
    chat.language = "es"
    await chat.turn_on_vault(PASS)
    await _note_with_address(chat)
    await chat.press("v:home")
    await chat.press("v:r")  # one note: already chosen
    await chat.press("v:rp")
    await chat.press("v:rf:other")
    await chat.press("v:rl:eu")
    await chat.say("Alex Rivera Test")
    assert "no parece un correo" in await chat.say("not an address")
    await chat.say("alex@example.net")
    await chat.press("v:ry")
    texts = [t.replace("\\", "") for t in front.texts[-4:-1]]  # the PDF's caption last
    assert "artículo 16 de la Ley de Servicios Digitales" in texts[0]
    assert "Article 16 of the Digital Services Act" in texts[1] and POSTED in texts[1]
    assert "bona fide" in texts[1]
    assert "formulario de reportes del propio sitio" in texts[2]


def _pdf_text(data: bytes) -> tuple[str, PdfReader]:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages), reader


# What each law asks a request to hold (from issue 18), in the English and the Spanish PDF.
LAW_ELEMENTS = {
    "us": (
        ("47 U.S.C. 223a", "good-faith belief", "published without my consent"),
        ("47 U.S.C. 223a", "buena fe", "sin mi consentimiento"),
    ),
    "uk": (("Online Safety Act", "I declare that I am the person shown"), ("Declaro que soy",)),
    "au": (("eSafety", "I did not consent"), ("eSafety", "No di mi consentimiento")),
    "eu": (
        ("Article 16", "Why it is illegal", "bona fide belief", "accurate and complete"),
        ("artículo 16", "Por qué es ilícito", "buena fe", "exactas y completas"),
    ),
}


def _real_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("law", sorted(LAW_ELEMENTS))
async def test_the_removal_request_comes_as_a_pdf_in_both_languages_with_no_image(
    chat: Chat, front: RecordingFrontEnd, law: str
) -> None:
    chat.language = "es"
    await chat.turn_on_vault(PASS)
    await _to_field(chat, "content_urls")
    await chat.say(POSTED)
    await chat.say("Example Forum")
    await chat.say("@poster_account")
    await chat.press("v:u18:no")
    # A screenshot in the note: it stays in the vault, never in the request.
    screenshot = _real_png()
    front.files["shot"] = screenshot
    await chat.send(Attachment("photo", len(screenshot), "shot", "", "shot.png", "image/png"))
    await chat.press("v:save")
    await chat.press("v:home")
    await chat.press("v:r")
    await chat.press("v:rp")
    await chat.press("v:rf:x")
    await chat.press(f"v:rl:{law}")
    await chat.say("Alex Rivera Test")
    await chat.say("alex@example.net")
    await chat.press("v:ry")
    document = front.calls[-1]
    assert document.kind == "document" and document.data is not None
    assert document.message is not None and "en español y en inglés" in document.message.markdown
    assert not document.message.buttons  # no Keep: it goes when the notes lock
    text, reader = _pdf_text(document.data)
    flat = " ".join(text.split())
    english_elements, spanish_elements = LAW_ELEMENTS[law]
    for element in (*english_elements, *spanish_elements):
        assert element in flat, element
    for element in (POSTED, "@poster_account", "X (Twitter)", "alex@example.net"):
        assert flat.count(element) == 2, element  # once in each language
    assert "Electronic signature: /Alex Rivera Test/" in flat
    assert "Firma electrónica: /Alex Rivera Test/" in flat
    assert "not attached any image" in flat
    assert all(not page.images for page in reader.pages)
    assert b"/Subtype /Image" not in document.data
    # Like the texts, the PDF leaves the chat when the notes lock.
    await chat.press("v:home")
    await chat.press("v:lock")
    assert document.message_id in front.deleted


async def test_images_made_under_18_go_to_take_it_down_even_for_an_adult_now(
    chat: Chat, front: RecordingFrontEnd
) -> None:
    await chat.command("start")
    await chat.press("t")
    for data in ("t:c:GB", "t:d:no", "t:s:shared", "t:n:adult", "t:a:minor", "t:w:known"):
        await chat.press(data)
    await chat.press("t:p:no")
    await chat.turn_on_vault(PASS)
    await _to_field(chat, "content_urls")
    await chat.say(POSTED)
    await chat.say("Example Forum")
    await chat.say("@poster_account")
    await chat.press("v:u18:yes")
    await chat.press("v:save")
    await chat.press("v:home")
    await chat.press("v:r")
    shown = (await chat.press("v:rp")).replace("\\", "")
    assert "takeitdown.ncmec.org" in shown and "even if you are an adult now" in shown
    assert "iwf.org.uk/report" in shown and "It's not your fault" in shown
    assert "tell an adult" not in shown.lower() and "trusted adult" not in shown.lower()
    assert not any(d.startswith(("v:rf", "v:rl")) for d in chat.button_data())
    # A forged press further on is refused the same way: no name or e-mail is ever asked.
    for forged in ("v:rf:x", "v:rl:us", "v:ry"):
        answer = await chat.send(Pressed(forged))
        assert "takeitdown.ncmec.org" in answer and "electronic signature" not in answer


async def test_outside_the_uk_images_made_under_18_are_not_sent_to_the_iwf(chat: Chat) -> None:
    chat.language = "es"
    await chat.command("start")
    await chat.press("t")
    for data in ("t:c:US", "t:d:no", "t:s:shared", "t:n:adult", "t:a:minor", "t:w:known"):
        await chat.press(data)
    await chat.press("t:p:no")
    await chat.turn_on_vault(PASS)
    await _to_field(chat, "content_urls")
    await chat.say(POSTED)
    await chat.say("Foro")
    await chat.say("@alguien")
    await chat.press("v:u18:yes")
    await chat.press("v:save")
    await chat.press("v:home")
    await chat.press("v:r")
    shown = await chat.press("v:rp")
    assert "takeitdown.ncmec.org/es" in shown and "aunque hoy seas adulto" in shown
    assert "iwf.org.uk" not in shown


async def test_someone_under_18_is_sent_to_take_it_down_not_a_notice(chat: Chat) -> None:
    await chat.command("start")
    await chat.press("t")
    for data in ("t:c:GB", "t:d:no", "t:s:shared", "t:n:minor", "t:w:known"):
        await chat.press(data)
    await chat.press("t:p:no")
    await chat.turn_on_vault(PASS)
    await _note_with_address(chat)
    await chat.press("v:home")
    shown = await chat.press("v:r")
    assert "takeitdown.ncmec.org" in shown and "Report Remove" in shown
    assert "It's not your fault" in shown.replace("\\", "")
    assert not any(d.startswith("v:rn") or d.startswith("v:rl") for d in chat.button_data())
    # Typed words are never asked for: no name, no e-mail.
    assert "electronic signature" not in shown


# -- duress inside a decoy: further levels ------------------------------------------------

DEEPER = "copper fiddle north"
LEVELS = (DURESS, DEEPER, "violet canyon drum", "silver meadow fox")  # levels 1 to 4


async def _open_with(chat: Chat, keyring: Keyring, passphrase: str) -> str:
    """Lock the vault if it is open, then type a passphrase at the unlock prompt."""
    if chat.service.vaults.session(keyring.pseudonym("test", chat.user)) is not None:
        await chat.command("notes")  # the open vault's home, with its lock button
        await chat.press("v:lock")
    await chat.command("notes")
    return await chat.say(passphrase)


async def _decoy_chain(chat: Chat, keyring: Keyring, depth: int) -> None:
    """A real vault with one note, then `depth` decoy levels, each set from the one above and
    holding one note of its own ("level N entry"); it ends open at the deepest level."""
    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    for number, passphrase in enumerate(LEVELS[:depth], start=1):
        assert "duress passphrase is set" in await set_duress(chat, "empty", passphrase)
        assert "Private notes: 0" in await _open_with(chat, keyring, passphrase)
        await chat.command("note", f"level {number} entry")
        await chat.press("v:home")


async def test_a_duress_passphrase_set_in_a_decoy_opens_a_further_empty_level(
    chat: Chat, keyring: Keyring
) -> None:
    await _decoy_chain(chat, keyring, 1)
    # Someone made them open the decoy, and sets a duress passphrase there: it works.
    assert "duress passphrase is set" in await set_duress(chat, "empty", DEEPER)
    deeper = await _open_with(chat, keyring, DEEPER)
    assert "Private notes: 0" in deeper and "level 1 entry" not in deeper and NOTE not in deeper
    await chat.command("note", "deeper entry")
    decoy = await _open_with(chat, keyring, DURESS)
    assert "level 1 entry" in decoy and "deeper entry" not in decoy and NOTE[:20] not in decoy
    real = await _open_with(chat, keyring, PASS)
    assert NOTE[:20] in real and "level 1 entry" not in real and "deeper entry" not in real
    assert "deeper entry" in await _open_with(chat, keyring, DEEPER)


async def test_erase_mode_set_in_a_decoy_erases_the_decoy_and_leaves_the_real_notes(
    chat: Chat, db: Store, keyring: Keyring, clock: Clock
) -> None:
    await _decoy_chain(chat, keyring, 1)
    pseudonym = keyring.pseudonym("test", USER)
    decoy = chat.service.vaults.session(pseudonym)
    assert decoy is not None and await db.sealed("records", pseudonym, decoy.space) != []
    await set_duress(chat, "erase", DEEPER)
    opened = await _open_with(chat, keyring, DEEPER)
    assert "Private notes: 0" in opened and "level 1 entry" not in opened
    for table in SPACE_TABLES:  # the decoy's notes, files, drafts and index are gone
        assert await db.sealed(table, pseudonym, decoy.space) == []
    await chat.command("note", "after the erase")
    # The decoy's old passphrase no longer opens anything; the erasing one is the decoy's now.
    assert "did not open" in await _open_with(chat, keyring, DURESS)
    clock.advance(60)
    assert "after the erase" in await _open_with(chat, keyring, DEEPER)
    real = await _open_with(chat, keyring, PASS)  # the real vault is untouched
    assert NOTE[:20] in real and "after the erase" not in real


async def test_at_the_deepest_level_the_level_above_makes_room_and_nothing_else_changes(
    chat: Chat, db: Store, keyring: Keyring, clock: Clock
) -> None:
    await _decoy_chain(chat, keyring, vault_module.MAX_DECOYS)
    pseudonym = keyring.pseudonym("test", USER)
    before = await db.vault(pseudonym)
    third = await _open_with(chat, keyring, LEVELS[2])
    assert "level 3 entry" in third
    third_space = chat.service.vaults.session(pseudonym).space  # type: ignore[union-attr]
    await _open_with(chat, keyring, LEVELS[3])
    # One more, past the bound: it works as everywhere else.
    assert "duress passphrase is set" in await set_duress(chat, "empty", "hollow pine river")
    assert "Private notes: 0" in await _open_with(chat, keyring, "hollow pine river")
    assert "level 4 entry" in await _open_with(chat, keyring, LEVELS[3])  # still opens
    for number, passphrase in enumerate(LEVELS[:2], start=1):
        assert f"level {number} entry" in await _open_with(chat, keyring, passphrase)
    assert NOTE[:20] in await _open_with(chat, keyring, PASS)
    # Only the level above the deepest made room: its passphrase and its notes are gone.
    assert "did not open" in await _open_with(chat, keyring, LEVELS[2])
    for table in SPACE_TABLES:
        assert await db.sealed(table, pseudonym, third_space) == []
    # The row holds as many slots as before, whatever is set: the file does not tell.
    after = await db.vault(pseudonym)
    assert before is not None and before.decoy_levels is not None
    assert after is not None and after.decoy_levels is not None
    assert len(after.decoy_levels) == len(before.decoy_levels)
    clock.advance(60)


async def test_every_level_keeps_drafts_exports_and_is_erased_with_everything(
    chat: Chat, db: Store, keyring: Keyring, clock: Clock, front: RecordingFrontEnd
) -> None:
    await _decoy_chain(chat, keyring, 2)
    pseudonym = keyring.pseudonym("test", USER)
    # A note started at level 2, the vault locking mid-entry: its words go to level 2.
    await chat.press("v:new")
    await chat.say("started at the second level")
    clock.advance(11 * 60)
    assert "What you sent is kept, encrypted" in await chat.say("Snapchat, then WhatsApp")
    assert f"Step 3 of {ATTACH_STEP}" in await chat.say(DEEPER)
    saved = await chat.press("v:save")
    assert "started at the second level" in saved and "Snapchat, then WhatsApp" in saved
    await chat.press("v:home")
    spaces = [chat.service.vaults.session(pseudonym).space]  # type: ignore[union-attr]
    await chat.press("v:x")
    await chat.press("v:xn")
    document = front.calls[-1]
    assert document.kind == "document" and document.data is not None
    report = verify_export(document.data)
    assert report.ok and report.notes == 2, report.problems
    with zipfile.ZipFile(io.BytesIO(document.data)) as archive:
        evidence = archive.read("evidence.json").decode()
    assert "level 2 entry" in evidence and "level 1 entry" not in evidence
    assert NOTE not in evidence
    for passphrase in (DURESS, PASS):
        assert "did not open" not in await _open_with(chat, keyring, passphrase)
        spaces.append(chat.service.vaults.session(pseudonym).space)  # type: ignore[union-attr]
    # "Erase private notes" in the settings, from a decoy level: every level's rows go.
    await chat.press("v:set")
    await chat.press("v:reset")
    await chat.press("v:reset!")
    assert await db.vault(pseudonym) is None
    for space in spaces:
        for table in SPACE_TABLES:
            assert await db.sealed(table, pseudonym, space) == []


async def test_a_vault_row_from_before_levels_opens_and_takes_a_duress_set_in_its_decoy(
    chat: Chat, db: Store, keyring: Keyring
) -> None:
    from dataclasses import replace

    from safetybot.vault.crypto import seal

    await chat.turn_on_vault(PASS)
    await write_note(chat)
    await chat.press("v:home")
    await set_duress(chat, "empty", DURESS)
    await chat.press("v:lock")
    pseudonym = keyring.pseudonym("test", USER)
    row = await db.vault(pseudonym)
    assert row is not None and row.anchor is not None
    # As the previous safetybot left it: no decoy_levels column, every other column sealed
    # with the version the person's own row holds.
    data_key = await _data_key(db, keyring, pseudonym)
    version = unseal(data_key, row.anchor, owner=pseudonym, purpose="vault-version").decode()
    names = [name for name in vault_module._SEALED_FIELDS if name != "decoy_levels"]
    fields = {name: vault_module._field_text(getattr(row, name)) for name in names}
    payload = json.dumps({**fields, "version": int(version)}, sort_keys=True).encode()
    old_seal = seal(data_key, payload, owner=pseudonym, purpose="vault-keys")
    await db.save_vault(replace(row, keys_seal=old_seal, decoy_levels=None))
    assert NOTE[:20] in await _open_with(chat, keyring, PASS)
    assert "Private notes: 0" in await _open_with(chat, keyring, DURESS)
    assert "duress passphrase is set" in await set_duress(chat, "empty", DEEPER)
    assert "Private notes: 0" in await _open_with(chat, keyring, DEEPER)
    assert "Private notes: 0" in await _open_with(chat, keyring, DURESS)
    assert NOTE[:20] in await _open_with(chat, keyring, PASS)
    stored = await db.vault(pseudonym)
    assert stored is not None and stored.decoy_levels is not None


async def test_every_attempt_costs_the_same_derivations_however_deep_it_opens(
    chat: Chat, keyring: Keyring, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _decoy_chain(chat, keyring, 3)
    calls: list[bytes] = []

    def counted(passphrase: str, salt: bytes, params: KdfParams, owner: bytes) -> bytes:
        calls.append(salt)
        return passphrase_key(passphrase, salt, params, owner)

    monkeypatch.setattr(vault_module, "passphrase_key", counted)
    seen: dict[str, tuple[int, int, str]] = {}
    for passphrase in (PASS, *LEVELS[:3], "not any of them at all"):
        if chat.service.vaults.session(keyring.pseudonym("test", USER)) is not None:
            await chat.press("v:lock")
        await chat.command("notes")
        calls.clear()
        answer = await chat.say(passphrase)
        seen[passphrase] = (len(calls), len(set(calls)), answer)
        clock.advance(60)
    assert {count for count, _, _ in seen.values()} == {2}  # two derivations, two salts
    assert {salts for _, salts, _ in seen.values()} == {2}
    assert NOTE[:20] in seen[PASS][2]
    for number, passphrase in enumerate(LEVELS[:3], start=1):
        assert f"level {number} entry" in seen[passphrase][2]
    assert "did not open" in seen["not any of them at all"][2]
