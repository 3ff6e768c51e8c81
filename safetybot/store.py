"""The SQLite store: one connection (one writer), WAL, secure delete, numbered migrations.

Rows are keyed by a person's pseudonym and hold only sealed blobs, message ids and coarse
timestamps. The store never sees plaintext or keys: sealing happens in the service.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiosqlite

from safetybot.core.records import Note, Person
from safetybot.errors import StoreError

__all__ = ["MIGRATIONS", "Note", "Person", "Store"]


@dataclass(frozen=True)
class Migration:
    """One named schema step, applied once inside a transaction."""

    name: str
    statements: tuple[str, ...]


# Append only: a step, once released, is never edited; PRAGMA user_version counts applied steps.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        "create people, notes and message ids",
        (
            """CREATE TABLE people (
                pseudonym BLOB PRIMARY KEY,
                wrapped_key BLOB NOT NULL,
                address BLOB,
                state BLOB,
                last_seen_day INTEGER NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE notes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                pseudonym BLOB NOT NULL REFERENCES people(pseudonym) ON DELETE CASCADE,
                sealed BLOB NOT NULL
            )""",
            "CREATE INDEX notes_by_person ON notes(pseudonym, id)",
            """CREATE TABLE messages (
                pseudonym BLOB NOT NULL REFERENCES people(pseudonym) ON DELETE CASCADE,
                message_id INTEGER NOT NULL,
                sent_at INTEGER NOT NULL,
                PRIMARY KEY (pseudonym, message_id)
            ) WITHOUT ROWID""",
        ),
    ),
)


class Store:
    """Async access to the database file; every public method is one transaction."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        # aiosqlite runs one statement at a time; the lock keeps multi-statement
        # transactions from interleaving between coroutines.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        await asyncio.to_thread(_create_private, path)
        connection = await aiosqlite.connect(path, isolation_level=None)
        store = cls(connection, path)
        try:
            await store._configure()
            await store._migrate()
        except BaseException:
            await connection.close()
            raise
        return store

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def close(self) -> None:
        """Checkpoint the WAL into the main file and close the connection."""
        async with self._lock:
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            await self._db.close()

    async def _configure(self) -> None:
        for pragma in (
            "PRAGMA journal_mode=WAL",
            # Deleted content is overwritten with zeros instead of lingering in free pages.
            "PRAGMA secure_delete=ON",
            "PRAGMA foreign_keys=ON",
            # Evidence must survive a power cut, not only a process crash.
            "PRAGMA synchronous=FULL",
            "PRAGMA busy_timeout=5000",
        ):
            await self._db.execute(pragma)

    async def _migrate(self) -> None:
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = int(row[0]) if row else 0
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self._path.name} was written by a newer safetybot (schema {version}); upgrade"
            )
        for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for statement in migration.statements:
                    await self._db.execute(statement)
                # PRAGMA takes no parameters; `number` is an int we computed.
                await self._db.execute(f"PRAGMA user_version = {int(number)}")
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise

    async def schema_version(self) -> int:
        """Return the number of migrations applied."""
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def person(self, pseudonym: bytes) -> Person | None:
        """Return a person's row, or None for a stranger."""
        async with (
            self._lock,
            self._db.execute(
                "SELECT pseudonym, wrapped_key, address, state, last_seen_day"
                " FROM people WHERE pseudonym = ?",
                (pseudonym,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        return Person(bytes(row[0]), bytes(row[1]), _opt(row[2]), _opt(row[3]), int(row[4]))

    async def save_person(self, person: Person) -> None:
        """Insert or update a person's row."""
        async with self._lock:
            await self._db.execute(
                "INSERT INTO people (pseudonym, wrapped_key, address, state, last_seen_day)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT(pseudonym) DO UPDATE SET"
                " wrapped_key = excluded.wrapped_key, address = excluded.address,"
                " state = excluded.state, last_seen_day = excluded.last_seen_day",
                (
                    person.pseudonym,
                    person.wrapped_key,
                    person.address,
                    person.state,
                    person.last_seen_day,
                ),
            )

    async def add_note(self, pseudonym: bytes, sealed: bytes) -> int:
        """Store a sealed note and return its id."""
        async with self._lock:
            cursor = await self._db.execute(
                "INSERT INTO notes (pseudonym, sealed) VALUES (?, ?)", (pseudonym, sealed)
            )
            note_id = cursor.lastrowid
            await cursor.close()
        if note_id is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise StoreError("note was not stored")
        return note_id

    async def count_notes(self, pseudonym: bytes) -> int:
        """Return how many notes a person has."""
        async with (
            self._lock,
            self._db.execute(
                "SELECT count(*) FROM notes WHERE pseudonym = ?", (pseudonym,)
            ) as cursor,
        ):
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def notes(self, pseudonym: bytes) -> list[Note]:
        """Return a person's sealed notes, oldest first."""
        async with (
            self._lock,
            self._db.execute(
                "SELECT id, sealed FROM notes WHERE pseudonym = ? ORDER BY id", (pseudonym,)
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [Note(int(row[0]), bytes(row[1])) for row in rows]

    async def remember_messages(self, pseudonym: bytes, ids: Iterable[int], at: int) -> None:
        """Record chat message ids (sent or received) so that erasing can delete them."""
        rows = [(pseudonym, int(message_id), at) for message_id in ids]
        if not rows:
            return
        async with self._lock:
            await self._db.executemany(
                "INSERT OR IGNORE INTO messages (pseudonym, message_id, sent_at) VALUES (?, ?, ?)",
                rows,
            )

    async def message_ids(self, pseudonym: bytes) -> list[tuple[int, int]]:
        """Return (message id, unix time) pairs recorded for a person, oldest first."""
        async with (
            self._lock,
            self._db.execute(
                "SELECT message_id, sent_at FROM messages WHERE pseudonym = ? ORDER BY message_id",
                (pseudonym,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        return [(int(row[0]), int(row[1])) for row in rows]

    async def forget_messages(self, pseudonym: bytes, ids: Sequence[int]) -> None:
        """Drop recorded message ids (once they are deleted or can never be)."""
        if not ids:
            return
        async with self._lock:
            await self._db.executemany(
                "DELETE FROM messages WHERE pseudonym = ? AND message_id = ?",
                [(pseudonym, int(message_id)) for message_id in ids],
            )

    async def erase_person(self, pseudonym: bytes) -> None:
        """Erase a person: shred the wrapped key, delete every row, truncate the WAL."""
        async with self._lock:
            # Crypto-shredding first: once the wrapped key is gone, every sealed blob left
            # anywhere (a backup, a free page) is unreadable, even if what follows is cut off.
            await self._db.execute(
                "UPDATE people SET wrapped_key = zeroblob(length(wrapped_key)) WHERE pseudonym = ?",
                (pseudonym,),
            )
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                for table in ("notes", "messages", "people"):
                    # Table names come from the tuple above, never from input.
                    await self._db.execute(
                        f"DELETE FROM {table} WHERE pseudonym = ?",  # noqa: S608
                        (pseudonym,),
                    )
                await self._db.execute("COMMIT")
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            # Copy the zeroed pages into the main file and empty the WAL, which still
            # holds the old page images until it is checkpointed and truncated.
            await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def count_people(self) -> int:
        """Return how many people are on record."""
        async with self._lock, self._db.execute("SELECT count(*) FROM people") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Create the file ourselves so it is private from its first byte.
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _opt(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]
