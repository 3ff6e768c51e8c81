"""The notebook opens only what a step needs: a save or a note shown does not open every note."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from safetybot.core import notebook as notebook_module
from safetybot.core.notebook import Draft, Notebook
from safetybot.core.records import Person
from safetybot.core.service import Service
from safetybot.core.vault import Session, Vaults
from safetybot.store import Store
from safetybot.vault import crypto
from safetybot.vault.evidence import verify_chain
from tests.conftest import FAST_VAULT, Chat, RecordingFrontEnd

PASS = "blue kettle morning"
WHEN = "2026-11-21T14:03:00Z"


class Opens:
    """Counts how many vault records are opened (decrypted), through the real `open_box`."""

    def __init__(self) -> None:
        self.records = 0

    def __call__(self, private: bytes, blob: bytes, *, owner: bytes, purpose: str) -> bytes:
        if purpose == notebook_module.RECORDS:
            self.records += 1
        return crypto.open_box(private, blob, owner=owner, purpose=purpose)


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[Opens]:
    counter = Opens()
    monkeypatch.setattr(notebook_module, "open_box", counter)
    yield counter


async def _vault(store: Store) -> tuple[bytes, Session]:
    pseudonym, data_key = os.urandom(32), crypto.new_data_key()
    await store.save_person(Person(pseudonym, b"w" * 60, None, None, 20000))
    session = await Vaults(store, FAST_VAULT).create(pseudonym, data_key, PASS)
    return pseudonym, session


def _draft(what: str, edit_of: int | None = None) -> Draft:
    return Draft({"what": what}, [], None, edit_of)


async def test_saving_and_showing_a_note_opens_the_newest_records_not_every_note(
    service: Service, front: RecordingFrontEnd, opens: Opens
) -> None:
    chat = Chat(service, front)
    await chat.turn_on_vault(PASS)
    for number in range(1, 41):
        await chat.command("note", f"note number {number}")
    opens.records = 0
    shown = await chat.command("note", "they wrote again from a new account")
    assert "41" in shown and "they wrote again from a new account" in shown
    # The chain head for the save and the new note for the view: never the 40 before them.
    assert 0 < opens.records <= 8


async def test_showing_a_recent_note_opens_only_the_newest_records(
    store: Store, opens: Opens
) -> None:
    notebook = Notebook(store)
    pseudonym, session = await _vault(store)
    for number in range(1, 61):
        await notebook.save(pseudonym, session, _draft(f"note {number}"), WHEN)
    opens.records = 0
    note = await notebook.note(pseudonym, session, 59)
    assert note is not None and note["fields"]["what"] == "note 59"
    assert opens.records <= 4
    opens.records = 0
    await notebook.save(pseudonym, session, _draft("a new version", edit_of=60), WHEN)
    assert opens.records <= 4


async def test_old_notes_edits_and_deletions_keep_the_chain_and_numbers_right(
    store: Store,
) -> None:
    notebook = Notebook(store)
    pseudonym, session = await _vault(store)
    for number in range(1, 31):
        assert await notebook.save(pseudonym, session, _draft(f"note {number}"), WHEN) == number
    assert await notebook.save(pseudonym, session, _draft("note 3, fixed", edit_of=3), WHEN) == 3
    assert await notebook.delete_note(pseudonym, session, 2, WHEN)
    # Deleting the newest notes leaves only tombstones and DELETE records at the chain's end:
    # the next number is still found, across several batches read back from the newest.
    for number in range(30, 24, -1):
        assert await notebook.delete_note(pseudonym, session, number, WHEN)
    assert not await notebook.delete_note(pseudonym, session, 30, WHEN)
    assert await notebook.save(pseudonym, session, _draft("after the deletions"), WHEN) == 31

    first = await notebook.note(pseudonym, session, 1)
    assert first is not None and first["fields"]["what"] == "note 1"
    third = await notebook.note(pseudonym, session, 3)
    assert third is not None and third["fields"]["what"] == "note 3, fixed"
    assert third["versions"] == 2
    for gone in (2, 25, 30, 32, 999):
        assert await notebook.note(pseudonym, session, gone) is None

    opened = await notebook.open_space(pseudonym, session)
    assert verify_chain(opened.records) == []
    assert sorted(opened.notes) == [1, 3, *range(4, 25), 31]
    assert opened.notes[3] == third


async def test_a_whole_space_opens_in_chain_order(store: Store) -> None:
    notebook = Notebook(store)
    pseudonym, session = await _vault(store)
    for number in range(1, 41):  # more than are opened on the event loop at once
        await notebook.save(pseudonym, session, _draft(f"note {number}"), WHEN)
    opened = await notebook.open_space(pseudonym, session)
    assert [r["seq"] for r in opened.records] == list(range(1, 41))
    assert opened.damaged == 0 and verify_chain(opened.records) == []


async def test_the_list_opens_no_record_and_an_old_note_only_its_own(
    service: Service, front: RecordingFrontEnd, opens: Opens
) -> None:
    chat = Chat(service, front)
    await chat.turn_on_vault(PASS)
    for number in range(1, 61):
        await chat.command("note", f"note number {number}")
    await chat.command("notes")  # the index is there from the first note on
    opens.records = 0
    home = await chat.command("notes")
    assert "Private notes: 60" in home and "note number 60" in home
    assert opens.records == 0  # the list reads the sealed index alone
    for page in range(2, 9):  # to the oldest page, as the person would
        await chat.press(f"v:p:{page}")
    assert opens.records == 0
    shown = await chat.press("v:n:1")
    assert "note number 1" in shown and "note number 2" not in shown
    assert opens.records == 1  # note 1's one version, not the 59 notes after it
