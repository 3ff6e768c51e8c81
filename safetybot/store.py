"""The SQLite store: one connection (one writer), WAL, secure delete, numbered migrations.

Rows are keyed by a person's pseudonym and hold only sealed blobs, message ids and coarse
timestamps. The store never sees plaintext or keys: sealing happens in the service.

One transaction per update: inside `batch()` (the service opens one for each update) the small
writes an update makes (its state, message ids, scheduled deletions) are held in memory, for
that task only, and committed together in one transaction, one sync to disk, when the batch
ends or `flush()` is called. The store's lock is never held while they wait, so other people's
updates are not held up by this one's Bot API calls. Every other call first commits what is
held: a read then sees the update's own writes, and a vault write or an erase keeps its place
in the order (a note is on disk before the reply that says it was saved). The service flushes
once early, so the person's own message id is on disk before any reply goes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiosqlite

from safetybot.core.records import SPACE_TABLES, Person, Sealed, SpaceShape, VaultRow
from safetybot.errors import StoreError

__all__ = ["MIGRATIONS", "Store"]


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
    Migration(
        "evidence vault, scheduled deletions, stored pseudonym key; notes move into the vault",
        (
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID",
            # Duress columns always hold bytes (random when no duress passphrase is set), so
            # the file does not tell whether one exists.
            """CREATE TABLE vaults (
                pseudonym BLOB PRIMARY KEY REFERENCES people(pseudonym) ON DELETE CASCADE,
                public_key BLOB NOT NULL,
                space BLOB NOT NULL,
                locked_key BLOB NOT NULL,
                salt BLOB NOT NULL,
                kdf TEXT NOT NULL,
                duress_key BLOB NOT NULL,
                duress_salt BLOB NOT NULL,
                decoy_public BLOB NOT NULL,
                decoy_space BLOB NOT NULL,
                failures INTEGER NOT NULL DEFAULT 0,
                retry_at INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID""",
            *(
                f"""CREATE TABLE {table} (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    pseudonym BLOB NOT NULL REFERENCES people(pseudonym) ON DELETE CASCADE,
                    space BLOB NOT NULL,
                    sealed BLOB NOT NULL
                )"""
                for table in ("records", "files", "drafts")
            ),
            *(
                f"CREATE INDEX {table}_by_space ON {table}(pseudonym, space, id)"
                for table in ("records", "files", "drafts")
            ),
            # follows_lock: a message showing vault contents, deleted when the vault locks, so
            # its due time moves each time the vault is used.
            """CREATE TABLE scheduled (
                pseudonym BLOB NOT NULL REFERENCES people(pseudonym) ON DELETE CASCADE,
                message_id INTEGER NOT NULL,
                due_at INTEGER NOT NULL,
                follows_lock INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (pseudonym, message_id)
            ) WITHOUT ROWID""",
            "CREATE INDEX scheduled_by_time ON scheduled(due_at)",
            "DROP TABLE notes",
        ),
    ),
    Migration(
        "message direction; deletions still owed after a person is forgotten",
        (
            # own = 1 for the bot's messages: those can still be overwritten when too old.
            "ALTER TABLE messages ADD COLUMN own INTEGER NOT NULL DEFAULT 0",
            # After "forget me", ids still to delete (a transient Telegram error) are kept here,
            # not under the person's pseudonym, with the chat address sealed, until done or 48 h.
            """CREATE TABLE owed_deletions (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                address BLOB NOT NULL,
                message_id INTEGER NOT NULL,
                give_up_at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_at INTEGER NOT NULL DEFAULT 0
            )""",
        ),
    ),
    Migration(
        "vault keys authenticated with the person's data key",
        (
            # The public keys and space tags, sealed with the data key: a row whose clear keys
            # were swapped no longer matches, so nothing is sealed to a stranger's key. NULL in a
            # vault made before this step until its next unlock (core/vault.py).
            "ALTER TABLE vaults ADD COLUMN keys_seal BLOB",
        ),
    ),
    Migration(
        "auto-clear deadlines kept apart from the vault's lock time",
        (
            # A vault view follows the lock (its due time moves each time the vault is used),
            # but never past the person's auto-clear time for it: clear_by, NULL when none.
            "ALTER TABLE scheduled ADD COLUMN clear_by INTEGER",
            "UPDATE scheduled SET clear_by = due_at WHERE follows_lock = 0",
        ),
    ),
    Migration(
        "each vault's version kept with the person, apart from the vault row",
        (
            # Sealed with the person's data key and written with every vault row: an older
            # vault row put back alone carries an older version and is refused (core/vault.py).
            "ALTER TABLE people ADD COLUMN vault_anchor BLOB",
        ),
    ),
    Migration(
        "people found by the day they were last seen",
        (
            # The daily retention sweep (inactive_people) read every row of people; with
            # thousands of people that is a full scan a day, and it holds the store's lock.
            "CREATE INDEX people_by_last_seen ON people(last_seen_day)",
        ),
    ),
    Migration(
        "a sealed index of each vault space's notes",
        (
            # One row a space: what the notes list shows and which records hold each note,
            # sealed to the vault's key like the records (core/noteindex.py). The list and
            # opening a note read it instead of every record; it is rebuilt when missing.
            """CREATE TABLE notes_index (
                id INTEGER PRIMARY KEY,
                pseudonym BLOB NOT NULL REFERENCES people(pseudonym) ON DELETE CASCADE,
                space BLOB NOT NULL,
                sealed BLOB NOT NULL,
                UNIQUE (pseudonym, space)
            )""",
        ),
    ),
    Migration(
        "decoy levels past the first, for a duress passphrase set inside a decoy",
        (
            # The deeper decoy levels, sealed with the person's data key and covered by the
            # vault's seal and version (core/vault.py). NULL in a vault made before this step
            # (it has the first level only) until its next save.
            "ALTER TABLE vaults ADD COLUMN decoy_levels BLOB",
        ),
    ),
)

_SPACE_TABLES = SPACE_TABLES
_BUSY_TIMEOUT_MS = 5000
_CHECKPOINT_WAIT_MS = 200
_CHECKPOINT_TRIES = 5
_CHECKPOINT_PAUSE = 0.1  # seconds, longer each try
log = logging.getLogger("safetybot.store")

# A write held by a batch: SQL, its parameters, and whether they are many rows (executemany).
_Write = tuple[str, Sequence[Any], bool]


class Store:
    """Async access to the database file; every public method is one transaction, except the
    small writes made inside a `batch()`, which are one together."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        # aiosqlite runs one statement at a time; the lock keeps multi-statement
        # transactions from interleaving between coroutines.
        self._lock = asyncio.Lock()
        self.checkpoint_owed = False  # an erase left rows in the WAL: settle() finishes it
        # The writes held by the batch of the task running now (None: no batch, write at once).
        # A context variable, so each update (one task) sees only its own.
        self._held: contextvars.ContextVar[list[_Write] | None] = contextvars.ContextVar(
            f"safetybot_store_held_{id(self)}", default=None
        )
        # Batches waiting for the lock to be committed; whoever gets the lock commits them all.
        self._waiting: list[tuple[list[_Write], asyncio.Future[None]]] = []

    @classmethod
    async def open(cls, path: Path, *, create: bool = True, migrate: bool = True) -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date.

        With create=False a missing file is a StoreError; with migrate=False a schema that is
        not the current one is (operator commands that must not change the file's layout).
        """
        if not create and not await asyncio.to_thread(path.is_file):
            raise StoreError(f"there is no database at {path}")
        await asyncio.to_thread(_create_private, path)
        # Autocommit: each statement outside `_transaction()` commits and, with synchronous=FULL,
        # syncs on its own; `executemany` does so per row, so many-row writes open a transaction.
        connection = await aiosqlite.connect(path, isolation_level=None)
        store = cls(connection, path)
        try:
            await store._configure()
            if migrate:
                await store._migrate()
            elif (version := await store.schema_version()) != len(MIGRATIONS):
                raise StoreError(
                    f"{path.name} has schema {version}, this safetybot uses {len(MIGRATIONS)}: "
                    "run `safetybot migrate` (after a backup) with the matching version"
                )
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
        async with self._locked():
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
            f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}",
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
            async with self._transaction():
                for statement in migration.statements:
                    await self._db.execute(statement)
                # PRAGMA takes no parameters; `number` is an int we computed.
                await self._db.execute(f"PRAGMA user_version = {int(number)}")

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE, then COMMIT, or ROLLBACK on any error (the caller holds the lock)."""
        await self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            await self._db.execute("ROLLBACK")
            raise
        await self._db.execute("COMMIT")

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Hold this task's small writes and commit them in one transaction when it ends.

        They are committed even when the body raises: what was sent must stay on record. A
        batch inside a batch joins the outer one.
        """
        if self._held.get() is not None:
            yield
            return
        token = self._held.set([])
        try:
            yield
        finally:
            held = self._held.get() or []
            self._held.reset(token)
            await self._commit(held)

    async def flush(self) -> None:
        """Commit the writes this task's batch holds now (one transaction), and go on holding."""
        held = self._held.get()
        if held:
            writes = held[:]
            held.clear()
            await self._commit(writes)

    async def _commit(self, writes: list[_Write]) -> None:
        """Run writes in one transaction, in one trip to the database thread; return once they
        are on disk.

        A group commit: batches that arrive while another commit runs wait for the lock, and
        the first to get it commits every waiting batch in one transaction (one trip, one sync),
        each inside its own savepoint, so a batch that fails is rolled back alone and only its
        caller sees the error.
        """
        if not writes:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((writes, done))
        async with self._lock:
            if not done.done():
                group, self._waiting = self._waiting, []
                # Through aiosqlite's own queue (its public methods are one statement a trip,
                # and each trip waits for the database thread): the whole group in one.
                apply = functools.partial(_apply_group, self._db._conn, [w for w, _ in group])
                trip = asyncio.ensure_future(self._db._execute(apply))  # type: ignore[no-untyped-call]
                # Each waiting caller learns its own outcome from the trip itself, even if the
                # caller that started it is cancelled meanwhile.
                trip.add_done_callback(functools.partial(_settle, group))
                await asyncio.shield(trip)
        await done

    async def _write(self, sql: str, params: Sequence[Any], many: bool = False) -> None:
        """One write: held by this task's batch if there is one, else committed now."""
        held = self._held.get()
        if held is not None:
            held.append((sql, params, many))
            return
        if many:
            async with self._lock, self._transaction():
                await self._db.executemany(sql, params)
        else:
            async with self._lock:
                await self._db.execute(sql, params)

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        """The store's lock, after committing what this task's batch holds (so a read sees
        the update's own writes, and a write keeps its place after them)."""
        await self.flush()
        async with self._lock:
            yield

    async def schema_version(self) -> int:
        """Return the number of migrations applied."""
        async with self._db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _select(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """One query, run and read in a single trip to the database thread.

        Every trip waits for that thread to get the interpreter back, which under load costs
        far more than the query: the hot paths (a person, their message ids) make one trip.
        """
        async with self._locked():
            return list(await self._db.execute_fetchall(sql, params))

    async def person(self, pseudonym: bytes) -> Person | None:
        """Return a person's row, or None for a stranger."""
        rows = await self._select(
            "SELECT pseudonym, wrapped_key, address, state, last_seen_day"
            " FROM people WHERE pseudonym = ?",
            (pseudonym,),
        )
        if not rows:
            return None
        row = rows[0]
        return Person(bytes(row[0]), bytes(row[1]), _opt(row[2]), _opt(row[3]), int(row[4]))

    async def save_person(self, person: Person) -> None:
        """Insert or update a person's row."""
        await self._write(
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

    async def remember_messages(
        self, pseudonym: bytes, ids: Iterable[int], at: int, own: bool = False
    ) -> None:
        """Record chat message ids (the bot's own, or the person's) so erasing can delete them."""
        rows = [(pseudonym, int(message_id), at, int(own)) for message_id in ids]
        if not rows:
            return
        sql = (
            "INSERT OR IGNORE INTO messages (pseudonym, message_id, sent_at, own)"
            " VALUES (?, ?, ?, ?)"
        )
        if len(rows) == 1:  # one statement is one transaction already: one trip, not three
            await self._write(sql, rows[0])
        else:
            await self._write(sql, rows, many=True)

    async def message_ids(self, pseudonym: bytes) -> list[tuple[int, int]]:
        """Return (message id, unix time) pairs recorded for a person, oldest first."""
        rows = await self._select(
            "SELECT message_id, sent_at FROM messages WHERE pseudonym = ? ORDER BY message_id",
            (pseudonym,),
        )
        return [(int(row[0]), int(row[1])) for row in rows]

    async def remember_incoming(self, pseudonym: bytes, message_id: int, at: int) -> bool:
        """Record a message the person sent; False if it was already recorded (a redelivery)."""
        if self._held.get() is not None:
            # In a batch: looked up now (one read), written with the update's other writes.
            if await self._select(
                "SELECT 1 FROM messages WHERE pseudonym = ? AND message_id = ?",
                (pseudonym, int(message_id)),
            ):
                return False
            await self.remember_messages(pseudonym, [message_id], at)
            return True
        async with self._locked():
            cursor = await self._db.execute(
                "INSERT OR IGNORE INTO messages (pseudonym, message_id, sent_at, own)"
                " VALUES (?, ?, ?, 0)",
                (pseudonym, int(message_id), at),
            )
            fresh = cursor.rowcount == 1
            await cursor.close()
        return fresh

    async def own_message_ids(self, pseudonym: bytes) -> set[int]:
        """The ids of the bot's own messages to a person."""
        rows = await self._select(
            "SELECT message_id FROM messages WHERE pseudonym = ? AND own = 1", (pseudonym,)
        )
        return {int(row[0]) for row in rows}

    async def owe_deletions(self, rows: Sequence[tuple[bytes, int, int]]) -> range:
        """Keep (sealed address, message id, give-up time) rows until the deletion is done;
        return their row ids."""
        if not rows:
            return range(0)
        async with self._locked(), self._transaction():
            await self._db.executemany(
                "INSERT INTO owed_deletions (address, message_id, give_up_at) VALUES (?, ?, ?)",
                rows,
            )
            # One statement inside one write transaction: the new ids follow each other.
            last = int(next(iter(await self._db.execute_fetchall("SELECT last_insert_rowid()")))[0])
        return range(last - len(rows) + 1, last + 1)

    async def owed_deletions(
        self, now: int, ids: range | None = None
    ) -> list[tuple[int, bytes, int, int]]:
        """Owed deletions due for an attempt: (row id, sealed address, message id, attempts);
        only those among `ids` when given."""
        first, last = (ids.start, ids.stop - 1) if ids is not None else (0, 2**63 - 1)
        async with self._locked():
            cursor = await self._db.execute(
                "SELECT id, address, message_id, attempts FROM owed_deletions"
                " WHERE next_at <= ? AND id BETWEEN ? AND ? ORDER BY id",
                (now, first, last),
            )
            rows = await cursor.fetchall()
            await cursor.close()
        return [(int(r[0]), bytes(r[1]), int(r[2]), int(r[3])) for r in rows]

    async def settle_deletions(
        self, done: Sequence[int], retry: Sequence[tuple[int, int]], now: int
    ) -> None:
        """Drop settled rows and those past their time; put retries off until their next time."""
        async with self._locked(), self._transaction():
            await self._db.executemany(
                "DELETE FROM owed_deletions WHERE id = ?", [(int(i),) for i in done]
            )
            await self._db.executemany(
                "UPDATE owed_deletions SET attempts = attempts + 1, next_at = ? WHERE id = ?",
                [(int(when), int(i)) for i, when in retry],
            )
            await self._db.execute("DELETE FROM owed_deletions WHERE give_up_at <= ?", (now,))

    async def inactive_people(self, before_day: int) -> list[bytes]:
        """Pseudonyms of people last seen before `before_day` (for the retention limit)."""
        async with self._locked():
            cursor = await self._db.execute(
                "SELECT pseudonym FROM people WHERE last_seen_day < ?", (before_day,)
            )
            rows = await cursor.fetchall()
            await cursor.close()
        return [bytes(row[0]) for row in rows]

    async def forget_messages(self, pseudonym: bytes, ids: Sequence[int]) -> None:
        """Drop recorded message ids (once they are deleted or can never be)."""
        if not ids:
            return
        await self._write(
            "DELETE FROM messages WHERE pseudonym = ? AND message_id = ?",
            [(pseudonym, int(message_id)) for message_id in ids],
            many=True,
        )

    async def erase_person(self, pseudonym: bytes) -> None:
        """Erase a person: shred the wrapped key, delete every row, truncate the WAL."""
        async with self._locked():
            # Crypto-shredding first: once the wrapped key is gone, every sealed blob left
            # anywhere (a backup, a free page) is unreadable, even if what follows is cut off.
            await self._db.execute(
                "UPDATE people SET wrapped_key = zeroblob(length(wrapped_key)) WHERE pseudonym = ?",
                (pseudonym,),
            )
            async with self._transaction():
                tables = ("vaults", *_SPACE_TABLES, "scheduled", "messages", "people")
                for table in tables:
                    # Table names come from the tuple above, never from input.
                    await self._db.execute(
                        f"DELETE FROM {table} WHERE pseudonym = ?",  # noqa: S608
                        (pseudonym,),
                    )
        # Copy the zeroed pages into the main file and empty the WAL, which still holds the
        # old page images until it is checkpointed and truncated.
        await self.checkpoint()

    async def pseudonym_key(self, make: Callable[[], bytes]) -> bytes:
        """The stored (wrapped) pseudonym key, stored from `make()` on first use."""
        async with self._locked():
            async with self._db.execute(
                "SELECT value FROM meta WHERE name = 'pseudonym_key'"
            ) as cursor:
                row = await cursor.fetchone()
            if row is not None:
                return bytes(row[0])
            wrapped = make()
            await self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('pseudonym_key', ?)", (wrapped,)
            )
            return wrapped

    async def rewrap(
        self, pseudonym_key: bytes, rewrap_person: Callable[[bytes, bytes], bytes]
    ) -> int:
        """Replace the wrapped pseudonym key and every wrapped data key in one transaction."""
        async with self._locked(), self._transaction():
            async with self._db.execute("SELECT pseudonym, wrapped_key FROM people") as cur:
                rows = list(await cur.fetchall())
            for pseudonym, wrapped in rows:
                await self._db.execute(
                    "UPDATE people SET wrapped_key = ? WHERE pseudonym = ?",
                    (rewrap_person(bytes(pseudonym), bytes(wrapped)), pseudonym),
                )
            await self._db.execute(
                "UPDATE meta SET value = ? WHERE name = 'pseudonym_key'", (pseudonym_key,)
            )
        return len(rows)

    async def vault(self, pseudonym: bytes) -> VaultRow | None:
        """A person's vault keys and lockout counters, or None if they have no vault."""
        async with (
            self._locked(),
            self._db.execute(
                f"SELECT {', '.join('v.' + name for name in _VAULT_COLUMNS)}, p.vault_anchor "  # noqa: S608
                "FROM vaults AS v LEFT JOIN people AS p ON p.pseudonym = v.pseudonym "
                "WHERE v.pseudonym = ?",
                (pseudonym,),
            ) as cursor,
        ):
            row = await cursor.fetchone()
        if row is None:
            return None
        b = [
            _blob(value) if index not in (5, 10, 11, 12, 13, 14) else b""
            for index, value in enumerate(row)
        ]
        return VaultRow(
            pseudonym=b[0],
            public_key=b[1],
            space=b[2],
            locked_key=b[3],
            salt=b[4],
            kdf=str(row[5]),
            duress_key=b[6],
            duress_salt=b[7],
            decoy_public=b[8],
            decoy_space=b[9],
            failures=int(row[10]),
            retry_at=int(row[11]),
            keys_seal=_opt(row[12]),
            decoy_levels=_opt(row[13]),
            anchor=_opt(row[14]),
        )

    async def save_vault(self, vault: VaultRow) -> None:
        """Insert or replace a person's vault row, and its anchor beside the person, at once."""
        names = ", ".join(_VAULT_COLUMNS)
        marks = ", ".join("?" for _ in _VAULT_COLUMNS)
        async with self._locked(), self._transaction():
            await self._db.execute(
                f"INSERT OR REPLACE INTO vaults ({names}) VALUES ({marks})",  # noqa: S608
                tuple(getattr(vault, name) for name in _VAULT_COLUMNS),
            )
            await self._db.execute(
                "UPDATE people SET vault_anchor = ? WHERE pseudonym = ?",
                (vault.anchor, vault.pseudonym),
            )

    async def add_sealed(self, table: str, pseudonym: bytes, space: bytes, sealed: bytes) -> int:
        """Store a sealed vault record, file or draft part; return its id."""
        checked = _space_table(table)
        async with self._locked():
            cursor = await self._db.execute(
                f"INSERT INTO {checked} (pseudonym, space, sealed) VALUES (?, ?, ?)",  # noqa: S608
                (pseudonym, space, sealed),
            )
            row_id = cursor.lastrowid
            await cursor.close()
        if row_id is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise StoreError("row was not stored")
        return row_id

    async def add_indexed(
        self,
        pseudonym: bytes,
        space: bytes,
        sealed: bytes,
        index: Callable[[int, SpaceShape], bytes],
    ) -> int:
        """Store a sealed record and, in the same transaction, the space's index `index` makes
        from the new record's id and the space's shape; return the record's id."""
        async with self._locked(), self._transaction():
            cursor = await self._db.execute(
                "INSERT INTO records (pseudonym, space, sealed) VALUES (?, ?, ?)",
                (pseudonym, space, sealed),
            )
            row_id = cursor.lastrowid
            await cursor.close()
            if row_id is None:  # pragma: no cover - sqlite always sets it after an INSERT
                raise StoreError("row was not stored")
            rows = await self._db.execute_fetchall(_SHAPE, (pseudonym, space))
            shape = _shape(next(iter(rows)))
            await self._db.execute(_SAVE_INDEX, (pseudonym, space, index(row_id, shape)))
        return row_id

    async def note_index(self, pseudonym: bytes, space: bytes) -> tuple[bytes | None, SpaceShape]:
        """A space's sealed index (None if it has none) and the shape of its records now."""
        # One trip: the shape is counted from records_by_space and the rows' lengths alone.
        query = _SHAPE.replace(
            " FROM records",
            ", (SELECT sealed FROM notes_index WHERE pseudonym = ?1 AND space = ?2) FROM records",
        )
        row = (await self._select(query, (pseudonym, space)))[0]
        return _opt(row[3]), _shape(row)

    async def save_index(self, pseudonym: bytes, space: bytes, sealed: bytes) -> None:
        """Store a space's sealed index (a rebuilt one)."""
        async with self._locked():
            await self._db.execute(_SAVE_INDEX, (pseudonym, space, sealed))

    async def sealed(
        self, table: str, pseudonym: bytes, space: bytes, ids: Sequence[int] | None = None
    ) -> list[Sealed]:
        """Sealed rows of one space, oldest first (only `ids`, if given)."""
        checked = _space_table(table)
        query = f"SELECT id, sealed FROM {checked} WHERE pseudonym = ? AND space = ?"  # noqa: S608
        params: list[object] = [pseudonym, space]
        if ids is not None:
            query += f" AND id IN ({', '.join('?' for _ in ids)})"
            params += [int(i) for i in ids]
        async with self._locked(), self._db.execute(query + " ORDER BY id", params) as cursor:
            rows = await cursor.fetchall()
        return [Sealed(int(row[0]), bytes(row[1])) for row in rows]

    async def newest_sealed(
        self, table: str, pseudonym: bytes, space: bytes, limit: int, below: int | None = None
    ) -> list[Sealed]:
        """Up to `limit` sealed rows of one space, newest first (only ids below `below`)."""
        checked = _space_table(table)
        query = f"SELECT id, sealed FROM {checked} WHERE pseudonym = ? AND space = ?"  # noqa: S608
        params: list[object] = [pseudonym, space]
        if below is not None:
            query += " AND id < ?"
            params.append(int(below))
        params.append(int(limit))
        async with (
            self._locked(),
            self._db.execute(query + " ORDER BY id DESC LIMIT ?", params) as cursor,
        ):
            rows = await cursor.fetchall()
        return [Sealed(int(row[0]), bytes(row[1])) for row in rows]

    async def replace_sealed(
        self, table: str, pseudonym: bytes, row_id: int, sealed: bytes
    ) -> None:
        """Overwrite one sealed row in place (a record becoming a tombstone)."""
        checked = _space_table(table)
        async with self._locked():
            await self._db.execute(
                f"UPDATE {checked} SET sealed = ? WHERE pseudonym = ? AND id = ?",  # noqa: S608
                (sealed, pseudonym, row_id),
            )

    async def delete_sealed(
        self, table: str, pseudonym: bytes, space: bytes, ids: Sequence[int] | None = None
    ) -> None:
        """Delete rows of one space (only `ids`, if given)."""
        checked = _space_table(table)
        query = f"DELETE FROM {checked} WHERE pseudonym = ? AND space = ?"  # noqa: S608
        params: list[object] = [pseudonym, space]
        if ids is not None:
            query += f" AND id IN ({', '.join('?' for _ in ids)})"
            params += [int(i) for i in ids]
        async with self._locked():
            await self._db.execute(query, params)

    async def delete_vault(self, pseudonym: bytes) -> None:
        """Erase a vault and everything in it, then truncate the WAL."""
        async with self._locked(), self._transaction():
            for table in ("vaults", *_SPACE_TABLES):
                await self._db.execute(
                    f"DELETE FROM {table} WHERE pseudonym = ?",  # noqa: S608
                    (pseudonym,),
                )
            await self._db.execute(
                "UPDATE people SET vault_anchor = NULL WHERE pseudonym = ?", (pseudonym,)
            )
        await self.checkpoint()

    async def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it (after erasing something).

        Another connection reading the file (`safetybot backup`, `stats`) keeps the WAL from
        being emptied: erased rows would linger there. So it is tried again, a few times now,
        then at every `settle()` (the service's tick) until it completes. True when done.
        """
        for attempt in range(_CHECKPOINT_TRIES):
            if await self._checkpoint_once():
                if self.checkpoint_owed:
                    log.info("checkpoint_completed")
                self.checkpoint_owed = False
                return True
            await asyncio.sleep(_CHECKPOINT_PAUSE * (attempt + 1))
        if not self.checkpoint_owed:
            log.warning("checkpoint_incomplete reason=reader_open")
        self.checkpoint_owed = True
        return False

    async def settle(self) -> bool:
        """Finish a checkpoint a reader held up, if one is owed; True when none is owed."""
        if not self.checkpoint_owed:
            return True
        if await self._checkpoint_once():
            self.checkpoint_owed = False
            log.info("checkpoint_completed")
            return True
        return False

    async def _checkpoint_once(self) -> bool:
        # Held under the lock for a short wait only: a reader may keep the file for minutes.
        async with self._locked():
            await self._db.execute(f"PRAGMA busy_timeout = {_CHECKPOINT_WAIT_MS}")
            try:
                async with self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
                    row = await cursor.fetchone()
            finally:
                await self._db.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        # (busy, frames in the WAL, frames copied): busy 0 means the WAL was emptied.
        return row is not None and int(row[0]) == 0

    async def schedule_deletion(
        self, pseudonym: bytes, ids: Sequence[int], due_at: int, follows_lock: bool = False
    ) -> None:
        """Ask for chat messages to be deleted at `due_at` (survives a restart)."""
        if not ids:
            return
        clear_by = None if follows_lock else due_at  # a deadline the lock must not move
        await self._write(
            "INSERT INTO scheduled (pseudonym, message_id, due_at, follows_lock, clear_by)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (pseudonym, message_id) DO UPDATE SET"
            # Two reasons to delete one message: the earlier time wins.
            " due_at = min(due_at, excluded.due_at),"
            " follows_lock = max(follows_lock, excluded.follows_lock),"
            " clear_by = coalesce("
            "min(clear_by, excluded.clear_by), clear_by, excluded.clear_by)",
            [(pseudonym, int(i), due_at, int(follows_lock), clear_by) for i in ids],
            many=True,
        )

    async def retime_lock_deletions(self, pseudonym: bytes, due_at: int) -> None:
        """Move the deletion of vault views to the vault's new lock time (never past their
        auto-clear time)."""
        await self._write(
            "UPDATE scheduled SET due_at = min(?, coalesce(clear_by, ?))"
            " WHERE pseudonym = ? AND follows_lock = 1",
            (due_at, due_at, pseudonym),
        )

    async def cancel_deletion(self, pseudonym: bytes, ids: Sequence[int]) -> None:
        """Keep messages that were scheduled for deletion."""
        if not ids:
            return
        await self._write(
            "DELETE FROM scheduled WHERE pseudonym = ? AND message_id = ?",
            [(pseudonym, int(i)) for i in ids],
            many=True,
        )

    async def due_deletions(self, now: int) -> dict[bytes, list[int]]:
        """Scheduled deletions that are due, by person."""
        async with (
            self._locked(),
            self._db.execute(
                "SELECT pseudonym, message_id FROM scheduled WHERE due_at <= ? ORDER BY due_at",
                (now,),
            ) as cursor,
        ):
            rows = await cursor.fetchall()
        due: dict[bytes, list[int]] = {}
        for pseudonym, message_id in rows:
            due.setdefault(bytes(pseudonym), []).append(int(message_id))
        return due

    async def ping(self) -> bool:
        """Whether the database answers a query (for the readiness check)."""
        try:
            async with self._locked(), self._db.execute("SELECT 1") as cursor:
                return await cursor.fetchone() is not None
        except (ValueError, aiosqlite.Error):  # closed, or the file is unusable
            return False

    async def counts(self, active_since_day: int) -> dict[str, int]:
        """Aggregate counts for `safetybot stats`: never an id, never anything per person."""
        queries = {
            "people": "SELECT count(*) FROM people",
            "active": "SELECT count(*) FROM people WHERE last_seen_day >= ?",
            "vaults": "SELECT count(*) FROM vaults",
            "records": "SELECT count(*) FROM records",
            "files": "SELECT count(*) FROM files",
        }
        found: dict[str, int] = {}
        async with self._locked():
            for name, query in queries.items():
                params = (active_since_day,) if "?" in query else ()
                async with self._db.execute(query, params) as cursor:
                    row = await cursor.fetchone()
                found[name] = int(row[0]) if row else 0
        return found

    async def count_people(self) -> int:
        """Return how many people are on record."""
        async with self._locked(), self._db.execute("SELECT count(*) FROM people") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0


_VAULT_COLUMNS: Final[tuple[str, ...]] = (
    "pseudonym",
    "public_key",
    "space",
    "locked_key",
    "salt",
    "kdf",
    "duress_key",
    "duress_salt",
    "decoy_public",
    "decoy_space",
    "failures",
    "retry_at",
    "keys_seal",
    "decoy_levels",
)


# A space's shape: its records' count, newest id and sealed bytes (see SpaceShape).
_SHAPE = (
    "SELECT count(*), coalesce(max(id), 0), CAST(total(length(sealed)) AS INTEGER)"
    " FROM records WHERE pseudonym = ?1 AND space = ?2"
)
_SAVE_INDEX = (
    "INSERT INTO notes_index (pseudonym, space, sealed) VALUES (?, ?, ?)"
    " ON CONFLICT (pseudonym, space) DO UPDATE SET sealed = excluded.sealed"
)


def _shape(row: Sequence[Any]) -> SpaceShape:
    return SpaceShape(int(row[0]), int(row[1]), int(row[2]))


def _space_table(table: str) -> str:
    # Table names are never interpolated from input: only the space tables are accepted.
    if table not in _SPACE_TABLES:
        raise StoreError(f"unknown table {table!r}")
    return table


def _settle(group: Sequence[tuple[list[_Write], asyncio.Future[None]]], trip: Any) -> None:
    """Give every caller of a group commit its outcome: its own error, or the COMMIT's."""
    for index, (_, waiting) in enumerate(group):
        if waiting.done():
            continue
        if trip.cancelled():
            waiting.cancel()
        elif trip.exception() is not None:  # the COMMIT itself: nothing of the group holds
            waiting.set_exception(trip.exception())
        elif trip.result()[index] is not None:
            waiting.set_exception(trip.result()[index])
        else:
            waiting.set_result(None)


def _apply_group(
    connection: sqlite3.Connection, groups: Sequence[Sequence[_Write]]
) -> list[Exception | None]:
    """BEGIN IMMEDIATE, each group in a savepoint, COMMIT: what failed, group by group (on the
    database thread). A failing group is rolled back to its savepoint; the others stay."""
    if len(groups) == 1:
        try:
            _apply(connection, groups[0])
        except Exception as error:
            return [error]
        return [None]
    errors: list[Exception | None] = []
    connection.execute("BEGIN IMMEDIATE")
    try:
        for writes in groups:
            connection.execute("SAVEPOINT batch")
            try:
                for sql, params, many in writes:
                    if many:
                        connection.executemany(sql, params)
                    else:
                        connection.execute(sql, params)
            except Exception as error:
                connection.execute("ROLLBACK TO batch")
                errors.append(error)
            else:
                errors.append(None)
            connection.execute("RELEASE batch")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return errors


def _apply(connection: sqlite3.Connection, writes: Sequence[_Write]) -> None:
    """BEGIN IMMEDIATE, the writes, COMMIT; ROLLBACK if one fails (on the database thread)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        for sql, params, many in writes:
            if many:
                connection.executemany(sql, params)
            else:
                connection.execute(sql, params)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Create the file ourselves so it is private from its first byte.
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))


def _blob(value: object) -> bytes:
    if isinstance(value, bytes | memoryview):
        return bytes(value)
    raise StoreError("a stored row is damaged")


def _opt(value: object) -> bytes | None:
    return None if value is None else bytes(value)  # type: ignore[call-overload]
