"""The SQLite store: migrations, privacy of the file, erasing with secure delete."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from safetybot.core.events import Command, Event, Incoming, Pressed, Text
from safetybot.core.records import SPACE_TABLES, Person
from safetybot.core.rendering import Outgoing
from safetybot.core.service import Service
from safetybot.errors import FrontEndError, StoreError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.store import MIGRATIONS, Store
from safetybot.vault.crypto import Keyring
from tests.conftest import FAST_VAULT, RecordingFrontEnd


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
    for table in SPACE_TABLES:
        await store.add_sealed(table, gone.pseudonym, space, marker)
        await store.add_sealed(table, keep.pseudonym, space, b"other")
    await store.schedule_deletion(gone.pseudonym, [1], due_at=5)
    await store.erase_person(gone.pseudonym)
    assert await store.person(gone.pseudonym) is None
    for table in SPACE_TABLES:
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


class Commits:
    """Counts the transactions a store commits, from SQLite's statement trace.

    A write that runs while the connection is in autocommit mode is a transaction of its own
    (and, with synchronous=FULL, a sync to disk); writes between BEGIN and COMMIT are one.
    """

    def __init__(self, store: Store) -> None:
        self._db = store._db
        self.count = 0
        self.writes: list[str] = []

    async def __aenter__(self) -> Commits:
        await self._db.set_trace_callback(self._trace)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._db.set_trace_callback(None)

    def _trace(self, sql: str) -> None:
        # Runs on aiosqlite's thread, before the statement: autocommit shows as no transaction.
        word = sql.lstrip().split(None, 1)[0].upper()
        if word == "COMMIT":
            self.count += 1
        elif word in ("INSERT", "UPDATE", "DELETE"):
            self.writes.append(" ".join(sql.split()))
            if not self._db._conn.in_transaction:
                self.count += 1


IDS = list(range(1, 1001))


async def test_remembering_a_thousand_message_ids_is_one_transaction(store: Store) -> None:
    person = _person()
    await store.save_person(person)
    async with Commits(store) as commits:
        await store.remember_messages(person.pseudonym, IDS, at=100, own=True)
    assert commits.count == 1
    assert len(await store.message_ids(person.pseudonym)) == len(IDS)
    async with Commits(store) as commits:
        await store.forget_messages(person.pseudonym, IDS[:500])
    assert commits.count == 1
    assert len(await store.message_ids(person.pseudonym)) == len(IDS) - 500


async def test_scheduling_and_cancelling_many_deletions_is_one_transaction_each(
    store: Store,
) -> None:
    person = _person()
    await store.save_person(person)
    async with Commits(store) as commits:
        await store.schedule_deletion(person.pseudonym, IDS, due_at=50)
    assert commits.count == 1
    assert len((await store.due_deletions(60))[person.pseudonym]) == len(IDS)
    async with Commits(store) as commits:
        await store.cancel_deletion(person.pseudonym, IDS)
    assert commits.count == 1
    assert await store.due_deletions(60) == {}


async def test_owing_and_settling_many_deletions_is_one_transaction_each(store: Store) -> None:
    async with Commits(store) as commits:
        await store.owe_deletions([(b"address", i, 1_000) for i in IDS])
    assert commits.count == 1
    owed = await store.owed_deletions(now=10)
    assert len(owed) == len(IDS)
    row_ids = [row[0] for row in owed]
    async with Commits(store) as commits:
        await store.settle_deletions(row_ids[:600], [(i, 20) for i in row_ids[600:]], now=10)
    assert commits.count == 1
    assert [attempts for *_, attempts in await store.owed_deletions(now=20)] == [1] * 400


async def test_erasing_commits_the_shredded_key_first_then_everything_else_once(
    store: Store,
) -> None:
    person = _person()
    await store.save_person(person)
    await store.remember_messages(person.pseudonym, IDS, at=1)
    await store.schedule_deletion(person.pseudonym, IDS, due_at=5)
    async with Commits(store) as commits:
        await store.erase_person(person.pseudonym)
    # The shredded key is committed on its own first, so a crash after it leaves nothing readable.
    assert commits.count == 2
    assert commits.writes[0].startswith("UPDATE people SET wrapped_key = zeroblob")
    assert await store.person(person.pseudonym) is None
    assert await store.message_ids(person.pseudonym) == []


async def test_an_erase_with_a_reader_open_is_finished_once_the_reader_leaves(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "db.sqlite"
    store = await Store.open(path)
    marker = b"MARKER-" * 20
    gone = _person(b"g" * 32)
    await store.save_person(gone)
    await store.add_sealed("records", gone.pseudonym, b"s" * 16, marker)
    # A backup or `stats` reading the file in another connection, its read still open.
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM people").fetchone()
    with caplog.at_level("INFO", logger="safetybot"):
        await store.erase_person(gone.pseudonym)
        assert store.checkpoint_owed  # the WAL could not be emptied, and that is known
        assert "checkpoint_incomplete" in caplog.text
        assert not await store.settle()  # still held up
        # Meanwhile the erased row's old page is still in the WAL: why it must be finished.
        assert any(marker in file.read_bytes() for file in tmp_path.iterdir())
        reader.rollback()
        reader.close()
        assert await store.settle()
        assert "checkpoint_completed" in caplog.text
    assert not store.checkpoint_owed
    for file in tmp_path.iterdir():
        content = file.read_bytes()
        assert marker not in content, file.name
        assert b"g" * 32 not in content, file.name
    await store.close()


async def test_the_retention_sweep_finds_people_by_an_index_not_a_full_scan(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bot.db"
    store = await Store.open(path)
    for day in range(200):
        await store.save_person(
            Person(bytes([day % 256, day // 256]) * 16, b"k" * 60, None, None, day)
        )
    assert len(await store.inactive_people(before_day=50)) == 50
    await store.close()
    with sqlite3.connect(path) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT pseudonym FROM people WHERE last_seen_day < ?", (50,)
        ).fetchall()
    assert any("people_by_last_seen" in str(row) for row in plan), plan


class SnapshotFront(RecordingFrontEnd):
    """A front end that copies the database files as they are on disk at each send: what a
    crash (kill -9, a power cut) at that moment, in the middle of the update, would leave."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.snapshots: list[Path] = []

    async def send(self, address: str, message: Outgoing) -> list[int]:
        copy = self.folder / f"crash{len(self.snapshots)}"
        copy.mkdir()
        for name in ("db.sqlite", "db.sqlite-wal"):
            if (self.folder / name).exists():
                shutil.copyfile(self.folder / name, copy / name)
        self.snapshots.append(copy / "db.sqlite")
        return await super().send(address, message)


def _said(event: Event, message_id: int | None) -> Incoming:
    return Incoming("test", "7391028465", "7391028465", event, message_id, None, "en")


async def test_an_update_commits_the_persons_message_first_and_the_rest_once_after_replying(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> None:
    store = await Store.open(tmp_path / "db.sqlite")
    # Auto-clear on: each update also schedules the deletion of what it received and sent.
    service = Service(store, keyring, texts, directory, FAST_VAULT, auto_clear_default=3600)
    front = SnapshotFront(tmp_path)
    pseudonym = keyring.pseudonym("test", "7391028465")
    await service.handle(_said(Command("start"), 1), front)
    person = await store.person(pseudonym)
    assert person is not None
    for event, message_id in ((Command("help"), 2), (Pressed("t"), None), (Text("hello"), 3)):
        async with Commits(store) as commits:
            await service.handle(_said(event, message_id), front)
        if message_id is None:
            # A press carries no message of the person's: state, the ids sent and their
            # scheduled deletions, one commit, one sync.
            assert commits.count == 1, (event, commits.writes)
        else:
            # The person's message and its scheduled deletion first, before any reply; then
            # state, the ids sent and their deletions together.
            assert commits.count == 2, (event, commits.writes)
            assert commits.writes[0].startswith("INSERT"), commits.writes
        assert len(commits.writes) >= 3, commits.writes
    recorded = {message_id for message_id, _ in await store.message_ids(pseudonym)}
    assert {1, 2, 3} <= recorded
    assert set(front.deleted) == {1, 2}  # the commands, tidied away after the commit
    await store.close()


async def test_a_crash_in_the_middle_of_an_update_keeps_the_persons_message_and_nothing_else(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> None:
    store = await Store.open(tmp_path / "db.sqlite")
    service = Service(store, keyring, texts, directory, FAST_VAULT, auto_clear_default=3600)
    front = SnapshotFront(tmp_path)
    pseudonym = keyring.pseudonym("test", "7391028465")
    await service.handle(_said(Command("start"), 1), front)
    before = await store.person(pseudonym)
    # Triage: the state changes, the command and the reply are recorded and scheduled.
    await service.handle(_said(Command("help"), 2), front)
    after = await store.person(pseudonym)
    assert before is not None and after is not None and after.state != before.state
    await store.close()
    # The files as a crash during that update's reply would have left them: the person's
    # /help is on record (an erase finds it), the state and the reply's records are not.
    crashed = await Store.open(front.snapshots[-1], migrate=False)
    assert await crashed.person(pseudonym) == before
    first_reply = front.calls[0].message_id
    assert [m for m, _ in await crashed.message_ids(pseudonym)] == [1, 2, first_reply]
    assert sorted((await crashed.due_deletions(10**10))[pseudonym]) == [1, 2, first_reply]
    await crashed.close()


async def test_an_update_that_fails_still_commits_the_ids_an_erase_needs(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> None:
    store = await Store.open(tmp_path / "db.sqlite")
    service = Service(store, keyring, texts, directory, FAST_VAULT)
    front = RecordingFrontEnd()
    pseudonym = keyring.pseudonym("test", "7391028465")
    await service.handle(_said(Command("start"), 1), front)

    async def broken(address: str, message: Outgoing) -> list[int]:
        raise FrontEndError("send failed")

    front.send = broken  # type: ignore[method-assign]
    await service.handle(_said(Command("help"), 2), front)
    # No reply went out, but the person's /help is in the chat: erasing must find it.
    assert 2 in {m for m, _ in await store.message_ids(pseudonym)}
    await store.close()


async def test_owed_deletions_name_their_rows_so_an_erase_reads_only_its_own(store: Store) -> None:
    # Another person's erase still owes 300 deletions (Telegram was down); this one owes 5.
    theirs = await store.owe_deletions([(b"their chat", i, 1_000) for i in range(300)])
    mine = await store.owe_deletions([(b"my chat", i, 1_000) for i in range(5)])
    assert len(theirs) == 300 and len(mine) == 5 and not set(theirs) & set(mine)
    rows = await store.owed_deletions(now=10, ids=mine)
    assert [(address, message_id) for _, address, message_id, _ in rows] == [
        (b"my chat", i) for i in range(5)
    ]
    assert len(await store.owed_deletions(now=10)) == 305
    assert await store.owe_deletions([]) == range(0)


async def test_updates_committing_at_once_share_one_sync_and_a_failing_one_loses_only_its_own(
    store: Store,
) -> None:
    people = [Person(bytes([n]) * 32, b"key", None, None, 1) for n in range(1, 21)]

    async def update(person: Person, fails: bool) -> None:
        async with store.batch():
            await store.save_person(person)
            # A message of someone not on record breaks the foreign key: this update fails.
            owner = b"\xff" * 32 if fails else person.pseudonym
            await store.remember_messages(owner, [7], at=1)

    async with Commits(store) as commits:
        outcomes = await asyncio.gather(
            *(update(person, n == 5) for n, person in enumerate(people)), return_exceptions=True
        )
    # Twenty updates ending together: far fewer syncs than twenty, and all but one kept.
    assert commits.count < len(people) // 2
    assert [n for n, outcome in enumerate(outcomes) if outcome is not None] == [5]
    assert isinstance(outcomes[5], sqlite3.IntegrityError)
    for n, person in enumerate(people):
        kept = await store.person(person.pseudonym)
        assert (kept is None) == (n == 5)
        assert (await store.message_ids(person.pseudonym) == [(7, 1)]) == (n != 5)
