"""The shapes the service reads and writes, and the store interface it needs.

The core depends on this Protocol, not on SQLite: store.py implements it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Note", "Person", "Records"]


@dataclass(frozen=True)
class Person:
    """A person's row: everything sealed except the pseudonym and a day number."""

    pseudonym: bytes
    wrapped_key: bytes
    address: bytes | None
    state: bytes | None
    last_seen_day: int


@dataclass(frozen=True)
class Note:
    """A sealed note and its row id."""

    id: int
    sealed: bytes


class Records(Protocol):
    """What the service needs from storage."""

    async def person(self, pseudonym: bytes) -> Person | None:
        """Return a person's row, or None for a stranger."""

    async def save_person(self, person: Person) -> None:
        """Insert or update a person's row."""

    async def add_note(self, pseudonym: bytes, sealed: bytes) -> int:
        """Store a sealed note and return its id."""

    async def count_notes(self, pseudonym: bytes) -> int:
        """Return how many notes a person has."""

    async def notes(self, pseudonym: bytes) -> list[Note]:
        """Return a person's sealed notes, oldest first."""

    async def remember_messages(self, pseudonym: bytes, ids: Iterable[int], at: int) -> None:
        """Record chat message ids so that erasing can delete them."""

    async def message_ids(self, pseudonym: bytes) -> list[tuple[int, int]]:
        """Return (message id, unix time) pairs recorded for a person."""

    async def forget_messages(self, pseudonym: bytes, ids: Sequence[int]) -> None:
        """Drop recorded message ids."""

    async def erase_person(self, pseudonym: bytes) -> None:
        """Erase everything about a person."""

    async def close(self) -> None:
        """Flush and close."""
