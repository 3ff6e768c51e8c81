"""Core flows as plain async calls, with a recording front end and a real store."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from safetybot.core.events import Command, Event, Incoming, Pressed
from safetybot.core.menus import Action
from safetybot.core.service import Service
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.conftest import Chat, RecordingFrontEnd, assert_absent

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


async def test_one_persons_vault_is_not_shown_to_another(
    service: Service, front: RecordingFrontEnd
) -> None:
    alice = Chat(service, front, USER)
    await alice.turn_on_vault("alice passphrase")
    await alice.command("note", "mine only")
    bob = Chat(service, front, "1111")
    shown = await bob.command("notes")
    assert "mine only" not in shown and "v:on" in bob.button_data()


async def test_note_text_that_looks_like_markup_is_shown_literally(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, USER)
    await chat.turn_on_vault("a long passphrase")
    shown = await chat.command("note", "**bold** [x](https://e.example) <b>")
    plain = "\n".join(render(shown, Format.PLAIN))
    assert "**bold** [x](https://e.example) <b>" in plain


async def test_forget_deletes_recorded_messages_and_erases_everything(
    service: Service, front: RecordingFrontEnd, store: Store, keyring: Keyring, tmp_path: Path
) -> None:
    chat = Chat(service, front, USER)
    await chat.command("start")
    await chat.turn_on_vault("a long passphrase")
    await chat.command("note", "the secret note")
    await chat.command("forget")
    sent_before = {c.message_id for c in front.calls}
    await chat.press("fy")
    # Every bot message and every message the person sent is deleted.
    assert sent_before <= set(front.deleted)
    person_messages = {i for i in front.deleted if i > 10_000}
    assert len(person_messages) >= 4  # /start, /notes, /note …, /forget (passphrases went earlier)
    pseudonym = keyring.pseudonym("test", USER)
    assert await store.person(pseudonym) is None
    assert await store.message_ids(pseudonym) == []
    assert "erased" in front.texts[-1]
    assert_absent(tmp_path / "data", "the secret note", USER)
    # The person is a stranger now: private notes are off again.
    assert "v:on" in (await chat.command("notes") and chat.button_data())


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
    await service.handle(said(USER, Command("start", "private words")), front)
    assert "something went wrong" in front.texts[-1]
    assert "private words" not in caplog.text and USER not in caplog.text
    assert "event_failed" in caplog.text


async def test_one_persons_updates_are_handled_in_order(
    service: Service, front: RecordingFrontEnd, store: Store, keyring: Keyring
) -> None:
    # Sent together, as a burst arrives from Telegram: the confirmation must follow the question.
    await asyncio.gather(
        service.handle(said(USER, Command("forget")), front),
        service.handle(said(USER, Pressed(Action.FORGET_YES.value)), front),
    )
    assert "erased" in front.texts[-1]
    assert await store.person(keyring.pseudonym("test", USER)) is None


async def test_state_survives_a_restart(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, front: RecordingFrontEnd
) -> None:
    await Service(store, keyring, texts, directory).handle(said(USER, Pressed("t")), front)
    await Service(store, keyring, texts, directory).handle(said(USER, Pressed("t:c:GB")), front)
    # A new service (as after a restart) continues the triage where the person left it.
    restarted = Service(store, keyring, texts, directory)
    await restarted.handle(said(USER, Pressed("t:d:no")), front)
    assert "What is happening?" in front.texts[-1]


async def test_only_texts_without_a_persons_words_are_marked_for_remembered_rendering(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front)
    await chat.command("start")
    await chat.command("help")
    assert all(call.message.static for call in front.calls if call.message is not None)
    await chat.turn_on_vault()
    await chat.command("note", "He said 9pm tonight")
    await chat.command("notes")
    shown = [c.message for c in front.calls if c.message and "9pm tonight" in c.message.markdown]
    assert shown and not any(message.static for message in shown)


async def test_a_plan_and_the_helplines_are_rendered_once_for_everyone(
    service: Service, front: RecordingFrontEnd
) -> None:
    # The two longest messages are made of the catalog's and the directory's words alone.
    chat = Chat(service, front)
    await chat.command("start")
    for data in ("t", "t:c:US", "t:d:no", "t:s:threat", "t:n:adult", "t:a:adult", "t:w:stranger"):
        await chat.press(data)
    await chat.press("t:p:no")
    plan = front.calls[-1].message
    assert plan is not None and "not your fault" in plan.markdown and plan.static
    await chat.command("helplines")
    helplines = front.calls[-1].message
    assert helplines is not None and "988" in helplines.markdown and helplines.static
