"""The shapes the service reads and writes, and the store interface it needs.

The core depends on this Protocol, not on SQLite: store.py implements it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

__all__ = ["SPACE_TABLES", "Person", "Records", "Sealed", "SpaceShape", "VaultRow"]

# Every table whose rows belong to one space of a vault: erasing a space empties each of them.
SPACE_TABLES = ("records", "files", "drafts", "notes_index")


@dataclass(frozen=True)
class Person:
    """A person's row: everything sealed except the pseudonym and a day number."""

    pseudonym: bytes
    wrapped_key: bytes
    address: bytes | None
    state: bytes | None
    last_seen_day: int


@dataclass(frozen=True)
class Sealed:
    """A sealed row (vault record, file or draft part) and its id."""

    id: int
    sealed: bytes


@dataclass(frozen=True)
class SpaceShape:
    """A space's records as the database sees them: how many, the newest id, their bytes.

    An index of the space keeps the shape it was made for; records added, removed or changed
    behind its back (damage, a deletion cut short) give another shape, and it is rebuilt.
    """

    count: int
    last: int
    size: int


@dataclass(frozen=True)
class VaultRow:
    """A person's vault: public keys and space tags in clear, private keys sealed twice.

    `locked_key` opens with the data key and then the passphrase key; `duress_key` likewise with
    the duress passphrase (random bytes when none is set). `failures` and `retry_at` (unix
    seconds) persist the lockout across restarts. `keys_seal` holds the public keys and space
    tags sealed with the data key, so that swapped clear keys are noticed (None in a vault made
    before it existed, until its next unlock); since versions, every other column and a version
    number too. `anchor` is that version sealed again and kept with the person, not in this row:
    a vault row put back from an older copy (an old passphrase, no failures) does not match it.
    The duress columns hold the first decoy level; `decoy_levels` the deeper ones (each a key
    locked under the shared `duress_salt`, a public key and a space tag), sealed with the data
    key, always as many slots as allowed (None in a vault from before levels, until it is saved).
    """

    pseudonym: bytes
    public_key: bytes
    space: bytes
    locked_key: bytes
    salt: bytes
    kdf: str
    duress_key: bytes
    duress_salt: bytes
    decoy_public: bytes
    decoy_space: bytes
    failures: int = 0
    retry_at: int = 0
    keys_seal: bytes | None = None
    anchor: bytes | None = None
    decoy_levels: bytes | None = None


class Records(Protocol):
    """What the service needs from storage."""

    def batch(self) -> AbstractAsyncContextManager[None]:
        """Hold this task's small writes (state, message ids, scheduled deletions) and commit
        them in one transaction when the block ends; any other call commits them first."""

    async def flush(self) -> None:
        """Commit the writes the running batch holds now."""

    async def person(self, pseudonym: bytes) -> Person | None:
        """Return a person's row, or None for a stranger."""

    async def save_person(self, person: Person) -> None:
        """Insert or update a person's row."""

    async def remember_messages(
        self, pseudonym: bytes, ids: Iterable[int], at: int, own: bool = False
    ) -> None:
        """Record chat message ids so that erasing can delete them."""

    async def remember_incoming(self, pseudonym: bytes, message_id: int, at: int) -> bool:
        """Record a message the person sent; False if it was already recorded."""

    async def own_message_ids(self, pseudonym: bytes) -> set[int]:
        """The ids of the bot's own messages to a person."""

    async def owe_deletions(self, rows: Sequence[tuple[bytes, int, int]]) -> range:
        """Keep deletions still owed after a person is forgotten; return their row ids."""

    async def owed_deletions(
        self, now: int, ids: range | None = None
    ) -> list[tuple[int, bytes, int, int]]:
        """Owed deletions due for an attempt (only those among `ids` when given)."""

    async def settle_deletions(
        self, done: Sequence[int], retry: Sequence[tuple[int, int]], now: int
    ) -> None:
        """Drop settled owed deletions; put retries off."""

    async def inactive_people(self, before_day: int) -> list[bytes]:
        """People last seen before a day."""

    async def message_ids(self, pseudonym: bytes) -> list[tuple[int, int]]:
        """Return (message id, unix time) pairs recorded for a person."""

    async def forget_messages(self, pseudonym: bytes, ids: Sequence[int]) -> None:
        """Drop recorded message ids."""

    async def erase_person(self, pseudonym: bytes) -> None:
        """Erase everything about a person."""

    async def close(self) -> None:
        """Flush and close."""

    async def vault(self, pseudonym: bytes) -> VaultRow | None:
        """A person's vault, or None."""

    async def save_vault(self, vault: VaultRow) -> None:
        """Insert or replace a person's vault row."""

    async def add_sealed(self, table: str, pseudonym: bytes, space: bytes, sealed: bytes) -> int:
        """Store a sealed vault row; return its id."""

    async def add_indexed(
        self,
        pseudonym: bytes,
        space: bytes,
        sealed: bytes,
        index: Callable[[int, SpaceShape], bytes],
    ) -> int:
        """Store a sealed record and, in the same transaction, the space's index `index` makes
        from the new record's id and the space's shape; return the record's id."""

    async def note_index(self, pseudonym: bytes, space: bytes) -> tuple[bytes | None, SpaceShape]:
        """A space's sealed index (None if it has none) and the shape of its records now."""

    async def save_index(self, pseudonym: bytes, space: bytes, sealed: bytes) -> None:
        """Store a space's sealed index (a rebuilt one)."""

    async def sealed(
        self, table: str, pseudonym: bytes, space: bytes, ids: Sequence[int] | None = None
    ) -> list[Sealed]:
        """Sealed rows of one space, oldest first."""

    async def newest_sealed(
        self, table: str, pseudonym: bytes, space: bytes, limit: int, below: int | None = None
    ) -> list[Sealed]:
        """Up to `limit` sealed rows of one space, newest first (only ids below `below`)."""

    async def replace_sealed(
        self, table: str, pseudonym: bytes, row_id: int, sealed: bytes
    ) -> None:
        """Overwrite one sealed row."""

    async def delete_sealed(
        self, table: str, pseudonym: bytes, space: bytes, ids: Sequence[int] | None = None
    ) -> None:
        """Delete rows of one space."""

    async def delete_vault(self, pseudonym: bytes) -> None:
        """Erase a vault and everything in it."""

    async def checkpoint(self) -> bool:
        """Truncate the WAL; False if a reader held it up (settle() finishes it later)."""

    async def settle(self) -> bool:
        """Finish a truncation a reader held up; True when none is owed."""

    async def schedule_deletion(
        self, pseudonym: bytes, ids: Sequence[int], due_at: int, follows_lock: bool = False
    ) -> None:
        """Ask for chat messages to be deleted later."""

    async def retime_lock_deletions(self, pseudonym: bytes, due_at: int) -> None:
        """Move the deletion of vault views to the vault's new lock time."""

    async def cancel_deletion(self, pseudonym: bytes, ids: Sequence[int]) -> None:
        """Keep messages that were scheduled for deletion."""

    async def due_deletions(self, now: int) -> dict[bytes, list[int]]:
        """Scheduled deletions that are due, by person."""
