"""Operator tasks on the database file: online backup, checked restore, and the run lock.

A backup is a page-by-page copy made through SQLite's backup API in one step: one consistent
snapshot, taken while the bot keeps writing (in WAL mode a reader never blocks the writer). It
holds exactly what the database holds: sealed blobs and pseudonyms, still encrypted, and useless
without the master key (and, for notes, each person's passphrase). It is written 0600.

The run lock is an exclusive `flock` on `<data dir>/safetybot.lock`, held while `run` runs;
restore, migrate and rotate-key take it too, so they refuse to touch a live database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from safetybot.errors import StoreError
from safetybot.store import MIGRATIONS

__all__ = ["DatabaseInfo", "RunLock", "backup_database", "describe_database", "restore_database"]

_TABLES = frozenset({"people", "messages", "meta", "vaults", "records", "files", "drafts"})


@dataclass(frozen=True)
class DatabaseInfo:
    """What a database file is: its schema version, whether it is intact, its size."""

    schema: int
    problem: str | None
    size: int
    pseudonym_key: bytes | None  # wrapped: lets a master key be checked against the file

    @property
    def ok(self) -> bool:
        """Intact and of a schema this safetybot can use."""
        return self.problem is None


def describe_database(path: Path) -> DatabaseInfo:
    """Open a database file read-only and check it: integrity, schema version, tables."""
    if not path.is_file():
        raise StoreError(f"there is no database at {path}")
    try:
        with contextlib.closing(sqlite3.connect(path)) as db:  # only reads
            integrity = db.execute("PRAGMA quick_check").fetchone()
            schema = int(db.execute("PRAGMA user_version").fetchone()[0])
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            key = None
            if "meta" in tables:
                row = db.execute("SELECT value FROM meta WHERE name = 'pseudonym_key'").fetchone()
                key = bytes(row[0]) if row else None
    except sqlite3.DatabaseError as error:
        return DatabaseInfo(0, f"not a safetybot database ({error})", path.stat().st_size, None)
    problem = None
    if integrity is None or integrity[0] != "ok":
        problem = "fails SQLite's integrity check"
    elif schema == 0 or "people" not in tables:
        problem = "not a safetybot database (no schema)"
    elif schema > len(MIGRATIONS):
        problem = (
            f"written by a newer safetybot (schema {schema}, this one knows {len(MIGRATIONS)})"
        )
    elif schema == len(MIGRATIONS) and not tables >= _TABLES:
        problem = "not a safetybot database (tables are missing)"
    return DatabaseInfo(schema, problem, path.stat().st_size, key)


def backup_database(source: Path, target: Path) -> DatabaseInfo:
    """Copy a (possibly live) database to a new file, then check the copy."""
    if not source.is_file():
        raise StoreError(f"there is no database at {source}")
    _create_new(target)
    try:
        _copy(source, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    info = describe_database(target)
    if not info.ok:
        raise StoreError(f"the copy in {target} {info.problem}; the database may be damaged")
    return info


def restore_database(backup: Path, database: Path, *, force: bool) -> DatabaseInfo:
    """Replace the database with a checked copy of `backup` (stop the bot first: RunLock)."""
    info = describe_database(backup)
    if not info.ok:
        raise StoreError(f"{backup}: {info.problem}; nothing was changed")
    if database.is_file() and database.stat().st_size > 0 and not force:
        raise StoreError(
            f"{database} already holds a database; to replace it, back it up first and add --force"
        )
    database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = database.with_name(database.name + ".restoring")
    staging.unlink(missing_ok=True)
    _create_new(staging)
    try:
        _copy(backup, staging)
        # A WAL left by the old database would be replayed into the restored one.
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        os.replace(staging, database)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return describe_database(database)


def _create_new(path: Path) -> None:
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        raise StoreError(f"{path} already exists; choose a new file name") from None
    except OSError as error:
        raise StoreError(f"cannot create {path} ({error.strerror})") from None


def _copy(source: Path, target: Path) -> None:
    """One backup step over every page: a single consistent snapshot of the source."""
    with (
        contextlib.closing(sqlite3.connect(source)) as src,  # only read
        contextlib.closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
        # A self-contained file: no -wal beside it to lose when it is copied elsewhere.
        dst.execute("PRAGMA journal_mode=DELETE")


class RunLock:
    """An exclusive lock on a data folder, held while the bot runs."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "safetybot.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise StoreError naming the folder if something holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreError(
                f"safetybot is running with the data folder {self.path.parent}: stop it first"
            ) from None
        self._fd = fd

    def release(self) -> None:
        """Let go of the lock."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.release()
