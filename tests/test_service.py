"""Core flows as plain async calls, with a recording front end and a real store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from safetybot.core.events import Command, Event, Incoming, Pressed, Text
from safetybot.core.menus import Action
from safetybot.core.service import Service
from safetybot.crypto import Keyring
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.resources import Directory
from safetybot.store import Store
from tests.conftest import RecordingFrontEnd, assert_absent

USER = "7391028465"
_ids = iter(range(1, 10_000))


def said(user: str, event: Event, origin: int | None = None) -> Incoming:
    message_id = None if isinstance(event, Pressed) else next(_ids)
    return Incoming("test", user, user, event, message_id, origin, "en")


async def test_start_greets_with_the_menu(service: Service, front: RecordingFrontEnd) -> None:
    await service.handle(said(USER, Command("start")), front)
    assert "not your fault" in front.texts[0]
    labels = [label for row in front.last.buttons for label, _ in row]
    assert "Erase everything" in labels and "Guides" in labels


async def test_a_note_is_saved_encrypted_and_listed(
    service: Service, front: RecordingFrontEnd, store: Store, tmp_path: Path
) -> None:
    await service.handle(said(USER, Command("note")), front)
    await service.handle(said(USER, Text("He wants $500 in gift cards by 9pm")), front)
    assert "1 private note" in front.texts[-1]
    await service.handle(said(USER, Command("notes")), front)
    assert "He wants $500 in gift cards by 9pm" in front.texts[-1]
    assert_absent(tmp_path / "data", "gift cards", USER)


async def test_notes_of_one_person_are_not_shown_to_another(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(said(USER, Command("note", "mine only")), front)
    await service.handle(said("1111", Command("notes")), front)
    assert "mine only" not in front.texts[-1]
    assert "no private notes" in front.texts[-1]


async def test_note_text_that_looks_like_markup_is_shown_literally(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(said(USER, Command("note", "**bold** [x](https://e.example) <b>")), front)
    await service.handle(said(USER, Command("notes")), front)
    shown = "\n".join(render(front.texts[-1], Format.PLAIN))
    assert "**bold** [x](https://e.example) <b>" in shown


async def test_notes_file_holds_every_note(service: Service, front: RecordingFrontEnd) -> None:
    for text in ("first thing", "second thing"):
        await service.handle(said(USER, Command("note", text)), front)
    await service.handle(said(USER, Pressed(Action.NOTES_FILE.value)), front)
    document = front.calls[-1]
    assert document.kind == "document" and document.data is not None
    assert b"first thing" in document.data and b"second thing" in document.data


async def test_forget_deletes_recorded_messages_and_erases_everything(
    service: Service, front: RecordingFrontEnd, store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    await service.handle(said(USER, Command("start")), front)
    await service.handle(said(USER, Command("note", "the secret note")), front)
    await service.handle(said(USER, Command("forget")), front)
    confirm = front.calls[-1].message_id
    sent_before = [c.message_id for c in front.calls]
    await service.handle(said(USER, Pressed(Action.FORGET_YES.value), origin=confirm), front)
    # Every bot message and every message the person sent is deleted.
    assert set(sent_before) <= set(front.deleted)
    assert len(front.deleted) == len(sent_before) + 3  # plus /start, /note and /forget
    pseudonym = keyring.pseudonym("test", USER)
    assert await store.person(pseudonym) is None
    assert await store.message_ids(pseudonym) == []
    assert "erased" in front.texts[-1]
    assert_absent(tmp_path / "data", "the secret note", USER)
    # The person is a stranger now: /notes finds nothing.
    await service.handle(said(USER, Command("notes")), front)
    assert "no private notes" in front.texts[-1]


async def test_forget_reports_what_it_could_not_delete(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(said(USER, Command("start")), front)
    front.too_old = {front.calls[0].message_id}
    await service.handle(said(USER, Command("forget")), front)
    await service.handle(said(USER, Pressed(Action.FORGET_YES.value)), front)
    assert "could not be deleted" in front.texts[-1]


async def test_the_report_can_remove_itself_without_a_record(
    service: Service, front: RecordingFrontEnd, store: Store
) -> None:
    await service.handle(said(USER, Pressed(Action.DISMISS.value), origin=42), front)
    assert front.deleted == [42]
    assert await store.count_people() == 0


async def test_a_damaged_note_is_reported_and_the_others_still_open(
    service: Service, front: RecordingFrontEnd, store: Store, keyring: Keyring
) -> None:
    for text in ("note one", "note two"):
        await service.handle(said(USER, Command("note", text)), front)
    notes = await store.notes(keyring.pseudonym("test", USER))
    # Corrupt the first sealed note in place, as a damaged disk page would.
    await store._db.execute(  # test-only access to the connection
        "UPDATE notes SET sealed = ? WHERE id = ?", (b"\x01" + b"\x00" * 40, notes[0].id)
    )
    await service.handle(said(USER, Command("notes")), front)
    assert "could not be opened" in front.texts[-1]
    assert "note two" in front.texts[-1]


async def test_an_internal_failure_gets_a_calm_reply_and_no_details(
    tmp_path: Path,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = await Store.open(tmp_path / "own.db")
    service = Service(store, keyring, texts, directory)
    front = RecordingFrontEnd()
    await store.close()  # the database goes away under the bot
    caplog.set_level(logging.INFO)
    await service.handle(said(USER, Command("note", "private words")), front)
    assert "something went wrong" in front.texts[-1]
    assert "private words" not in caplog.text and USER not in caplog.text
    assert "event_failed" in caplog.text


async def test_one_persons_updates_are_handled_in_order(
    service: Service, front: RecordingFrontEnd, store: Store, keyring: Keyring
) -> None:
    # Sent together, as a burst arrives from Telegram: the text must land as the note.
    await asyncio.gather(
        service.handle(said(USER, Command("note")), front),
        service.handle(said(USER, Text("burst note")), front),
    )
    assert await store.count_notes(keyring.pseudonym("test", USER)) == 1


async def test_state_survives_a_restart(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, front: RecordingFrontEnd
) -> None:
    await Service(store, keyring, texts, directory).handle(said(USER, Command("note")), front)
    # A new service (as after a restart) continues the note the person started.
    await Service(store, keyring, texts, directory).handle(said(USER, Text("after restart")), front)
    assert "1 private note" in front.texts[-1]
