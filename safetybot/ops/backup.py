"""Operator tasks on the database file: online backup, checked restore, and the run lock.

A backup is a page-by-page copy made through SQLite's backup API in one step: one consistent
snapshot, taken while the bot keeps writing (in WAL mode a reader never blocks the writer). It
holds what the database holds: sealed blobs and pseudonyms, still encrypted, and useless without
the master key (and, for notes, each person's passphrase). It is written 0600.

Erasing shreds a person's wrapped data key; a backup made before would still hold it. So each
person's wrapped key is taken out of the copy (zeroed, then the file vacuumed) and written to a
keys file beside it, `<backup>.keys`; a backup prunes the keys files in its folder to the newest
KEYS_KEPT. A restore takes the newest keys file: someone who was erased after the copy was made
is no longer in it, and is left out of what is restored. Once KEYS_KEPT more backups are made
after an erase, no file on the server can bring that person back.

The run lock is an exclusive `flock` on `<data dir>/safetybot.lock`, held while `run` runs;
restore, migrate and rotate-key take it too, so they refuse to touch a live database.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from safetybot.errors import StoreError
from safetybot.store import MIGRATIONS

__all__ = [
    "KEYS_KEPT",
    "DatabaseInfo",
    "Restored",
    "RunLock",
    "backup_database",
    "describe_database",
    "keys_file",
    "restore_database",
]

KEYS_KEPT = 2  # keys files kept in a backup folder: the newest, and one before it
_KEYS_FORMAT = "safetybot-keys/1"

_TABLES = frozenset(
    {"people", "messages", "meta", "vaults", "records", "files", "drafts", "notes_index"}
)


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
    keys = keys_file(target)
    try:
        _create_new(keys)
    except StoreError:
        target.unlink(missing_ok=True)
        raise
    try:
        _copy(source, target)
        _move_keys_out(target, keys)
    except BaseException:
        target.unlink(missing_ok=True)
        keys.unlink(missing_ok=True)
        raise
    info = describe_database(target)
    if not info.ok:
        raise StoreError(f"the copy in {target} {info.problem}; the database may be damaged")
    _prune_keys(target.parent)
    return info


def keys_file(backup: Path) -> Path:
    """Where a backup's wrapped data keys are written: beside it, with `.keys` added."""
    return backup.with_name(backup.name + ".keys")


def _move_keys_out(target: Path, keys: Path) -> None:
    """Write the copy's wrapped keys to `keys`, then zero them in the copy and vacuum it."""
    with contextlib.closing(sqlite3.connect(target)) as db:
        rows = db.execute("SELECT pseudonym, wrapped_key FROM people").fetchall()
        payload = {
            "format": _KEYS_FORMAT,
            "backup": target.name,
            "keys": {bytes(p).hex(): bytes(w).hex() for p, w in rows},
        }
        with keys.open("w", encoding="ascii") as out:
            json.dump(payload, out)
            out.flush()
            os.fsync(out.fileno())
        db.execute("PRAGMA secure_delete=ON")
        with db:
            db.execute("UPDATE people SET wrapped_key = zeroblob(length(wrapped_key))")
        db.execute("VACUUM")  # no page of the copy keeps a key from before


def _prune_keys(folder: Path) -> None:
    """Keep the newest KEYS_KEPT keys files in a backup folder; delete the older ones."""
    found = sorted(folder.glob("*.keys"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in [p for p in found if _is_keys_file(p)][KEYS_KEPT:]:
        old.unlink(missing_ok=True)


def _is_keys_file(path: Path) -> bool:
    try:
        with path.open(encoding="ascii") as handle:
            return bool(json.load(handle).get("format") == _KEYS_FORMAT)
    except (OSError, ValueError, AttributeError):
        return False


def _read_keys(path: Path) -> dict[bytes, bytes]:
    try:
        with path.open(encoding="ascii") as handle:
            payload = json.load(handle)
        if payload.get("format") != _KEYS_FORMAT:
            raise ValueError(payload.get("format"))
        return {bytes.fromhex(p): bytes.fromhex(w) for p, w in payload["keys"].items()}
    except (OSError, ValueError, KeyError, AttributeError, TypeError):
        raise StoreError(f"{path} is not a safetybot keys file; nothing was changed") from None


def _newest_keys(folder: Path) -> Path | None:
    found = [p for p in folder.glob("*.keys") if _is_keys_file(p)]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None


@dataclass(frozen=True)
class Restored:
    """What a restore did."""

    info: DatabaseInfo
    keys: Path | None  # the keys file used; None for a backup made before keys files
    left_out: int  # people in the backup erased since (their key is in no newer keys file)


def restore_database(
    backup: Path, database: Path, *, force: bool, keys: Path | None = None
) -> Restored:
    """Replace the database with a checked copy of `backup` (stop the bot first: RunLock).

    Each person's wrapped key comes from `keys`, or else the newest keys file beside the backup;
    people whose key is in neither were erased since, and are left out.
    """
    info = describe_database(backup)
    if not info.ok:
        raise StoreError(f"{backup}: {info.problem}; nothing was changed")
    needs_keys = _keys_taken_out(backup)
    if needs_keys and keys is None:
        keys = _newest_keys(backup.parent)
        if keys is None:
            raise StoreError(
                f"{backup} holds no data keys and there is no keys file beside it "
                "(give one with --keys); nothing was changed"
            )
    wrapped = _read_keys(keys) if needs_keys and keys is not None else None
    if database.is_file() and database.stat().st_size > 0 and not force:
        raise StoreError(
            f"{database} already holds a database; to replace it, back it up first and add --force"
        )
    database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    staging = database.with_name(database.name + ".restoring")
    staging.unlink(missing_ok=True)
    _create_new(staging)
    left_out = 0
    try:
        _copy(backup, staging)
        if wrapped is not None:
            left_out = _put_keys_back(staging, wrapped)
        # A WAL left by the old database would be replayed into the restored one.
        for suffix in ("-wal", "-shm"):
            database.with_name(database.name + suffix).unlink(missing_ok=True)
        os.replace(staging, database)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return Restored(describe_database(database), keys if wrapped is not None else None, left_out)


def _keys_taken_out(backup: Path) -> bool:
    """Whether the backup's keys were moved to a keys file (every wrapped key is zeroes)."""
    with contextlib.closing(sqlite3.connect(backup)) as db:
        total, zeroed = db.execute(
            "SELECT count(*), count(CASE WHEN wrapped_key = zeroblob(length(wrapped_key)) "
            "THEN 1 END) FROM people"
        ).fetchone()
    return bool(total) and total == zeroed


def _put_keys_back(staging: Path, wrapped: dict[bytes, bytes]) -> int:
    """Give each person their key back; erase those without one. Return how many."""
    with contextlib.closing(sqlite3.connect(staging)) as db:
        db.execute("PRAGMA foreign_keys=ON")  # a person's rows go with them
        db.execute("PRAGMA secure_delete=ON")
        people = [bytes(row[0]) for row in db.execute("SELECT pseudonym FROM people")]
        gone = [p for p in people if p not in wrapped]
        with db:
            for pseudonym in people:
                if pseudonym in wrapped:
                    db.execute(
                        "UPDATE people SET wrapped_key = ? WHERE pseudonym = ?",
                        (wrapped[pseudonym], pseudonym),
                    )
                else:
                    db.execute("DELETE FROM people WHERE pseudonym = ?", (pseudonym,))
        db.execute("VACUUM")
    return len(gone)


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
