"""Operator commands on the data folder: backup, restore, purge, stats, migrate.

Each prints counts and file names only: never an id, a pseudonym or anything about a person.
Backup, purge and stats work while the bot runs; restore and migrate take the run lock, so they
refuse while it does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

from safetybot.backup import RunLock, backup_database, describe_database, restore_database
from safetybot.config import Config
from safetybot.crypto import Keyring
from safetybot.errors import CryptoError, StoreError
from safetybot.store import MIGRATIONS, Store

__all__ = ["backup", "migrate", "purge", "restore", "stats"]

_DAY = 86_400


def backup(config: Config, target: Path, out: TextIO) -> int:
    """Copy the live database to `target` (a new file), still encrypted."""
    info = backup_database(config.database, target)
    print(
        f"Backed up {config.database} to {target} ({info.size} bytes, schema {info.schema}). "
        "It is as encrypted as the database: keep the master key apart from it.",
        file=out,
    )
    return 0


def restore(config: Config, source: Path, force: bool, out: TextIO) -> int:
    """Replace the database with a backup, after checking it; refuses while the bot runs."""
    info = describe_database(source)
    if info.ok and config.master_key is not None and info.pseudonym_key is not None:
        try:
            Keyring(config.master_key).with_stored_pseudonym_key(info.pseudonym_key)
        except CryptoError:
            raise StoreError(
                f"{source} was made under a different master key than SAFETYBOT_MASTER_KEY; "
                "nothing was changed"
            ) from None
    with RunLock(config.data_dir):
        restored = restore_database(source, config.database, force=force)
    print(f"Restored {source} to {config.database} (schema {restored.schema}).", file=out)
    if restored.schema < len(MIGRATIONS):
        print("Run `safetybot migrate` (or start the bot) to bring it up to date.", file=out)
    if config.master_key is None:
        print("SAFETYBOT_MASTER_KEY is not set, so the key was not checked against it.", file=out)
    return 0


async def purge(config: Config, out: TextIO, now: float | None = None) -> int:
    """Erase everyone inactive for longer than the retention limit, now."""
    store = await Store.open(config.database, create=False, migrate=False)
    try:
        today = int((time.time() if now is None else now) // _DAY)
        people = await store.inactive_people(today - config.retention_days)
        for pseudonym in people:
            await store.erase_person(pseudonym)  # shreds the wrapped key first
    finally:
        await store.close()
    print(
        f"Erased {len(people)} people inactive for more than {config.retention_days} days.",
        file=out,
    )
    return 0


async def stats(config: Config, out: TextIO, now: float | None = None) -> int:
    """Print counts only: people, active in the last 7 days, vaults, notes, files."""
    store = await Store.open(config.database, create=False, migrate=False)
    try:
        today = int((time.time() if now is None else now) // _DAY)
        counts = await store.counts(active_since_day=today - 6)
    finally:
        await store.close()
    rows = (
        ("people", counts["people"]),
        ("active in the last 7 days", counts["active"]),
        ("vaults (private notes turned on)", counts["vaults"]),
        ("notes (records, with edits and deletions)", counts["records"]),
        ("files in notes", counts["files"]),
    )
    for label, number in rows:
        print(f"{label}: {number}", file=out)
    return 0


async def migrate(config: Config, out: TextIO) -> int:
    """Apply the migrations the database lacks and print its schema version."""
    before = describe_database(config.database).schema if config.database.is_file() else 0
    with RunLock(config.data_dir):
        store = await Store.open(config.database)
        try:
            after = await store.schema_version()
        finally:
            await store.close()
    print(f"Schema version {after} ({after - before} migration(s) applied).", file=out)
    return 0
