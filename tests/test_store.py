"""The SQLite store: migrations, privacy of the file, erasing with secure delete."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from safetybot.core.records import Person
from safetybot.errors import StoreError
from safetybot.store import MIGRATIONS, Store


def _person(name: bytes = b"p" * 32) -> Person:
    return Person(name, b"w" * 60, None, None, 20000)


async def test_migrations_run_once_and_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = await Store.open(path)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.save_person(_person())
    await store.close()
    reopened = await Store.open(path)  # a second open must not re-run step 1
    assert await reopened.count_people() == 1
    await reopened.close()


async def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer"):
        await Store.open(path)


async def test_database_is_private_wal_and_secure_delete(tmp_path: Path) -> None:
    path = tmp_path / "data" / "db.sqlite"
    store = await Store.open(path)
    await store.save_person(_person())
    mode = stat.S_IMODE(path.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    await store.close()


async def test_message_ids_are_recorded_once_and_forgotten(store: Store) -> None:
    person = _person()
    await store.save_person(person)
    await store.remember_messages(person.pseudonym, [5, 6, 6, 7], at=100)
    assert [m for m, _ in await store.message_ids(person.pseudonym)] == [5, 6, 7]
    await store.forget_messages(person.pseudonym, [6])
    assert [m for m, _ in await store.message_ids(person.pseudonym)] == [5, 7]


async def test_erase_removes_every_row_and_leaves_no_bytes_behind(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = await Store.open(path)
    marker = b"MARKER-" * 20
    keep, gone = _person(b"k" * 32), _person(b"g" * 32)
    for person in (keep, gone):
        await store.save_person(person)
        await store.remember_messages(person.pseudonym, [1, 2], at=1)
    space = b"s" * 16
    for table in ("records", "files", "drafts"):
        await store.add_sealed(table, gone.pseudonym, space, marker)
        await store.add_sealed(table, keep.pseudonym, space, b"other")
    await store.schedule_deletion(gone.pseudonym, [1], due_at=5)
    await store.erase_person(gone.pseudonym)
    assert await store.person(gone.pseudonym) is None
    for table in ("records", "files", "drafts"):
        assert await store.sealed(table, gone.pseudonym, space) == []
        assert len(await store.sealed(table, keep.pseudonym, space)) == 1
    assert await store.message_ids(gone.pseudonym) == []
    assert await store.due_deletions(10) == {}
    assert await store.person(keep.pseudonym) is not None
    # Secure delete and the truncated WAL leave no copy of the erased row in any file.
    for file in tmp_path.iterdir():
        content = file.read_bytes()
        assert marker not in content, file.name
        assert b"g" * 32 not in content, file.name
    await store.close()


async def test_scheduled_deletions_survive_a_reopen_and_follow_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    store = await Store.open(path)
    person = _person()
    await store.save_person(person)
    await store.schedule_deletion(person.pseudonym, [7], due_at=100)
    await store.schedule_deletion(person.pseudonym, [8, 9], due_at=100, follows_lock=True)
    await store.close()
    store = await Store.open(path)
    await store.retime_lock_deletions(person.pseudonym, 500)
    assert await store.due_deletions(200) == {person.pseudonym: [7]}
    assert sorted(await store.due_deletions(600)) == [person.pseudonym]
    assert sorted((await store.due_deletions(600))[person.pseudonym]) == [7, 8, 9]
    await store.cancel_deletion(person.pseudonym, [7, 8, 9])
    assert await store.due_deletions(600) == {}
    await store.close()


async def test_only_the_vault_tables_can_be_named(store: Store) -> None:
    with pytest.raises(StoreError):
        await store.add_sealed("people; DROP TABLE people", b"p", b"s", b"x")
