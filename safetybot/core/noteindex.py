"""A vault space's index: what the notes list shows, and which records hold each note.

One row a space, sealed to the vault's public key like the records, and written in the same
transaction as each new record (store.add_indexed), so the notes list and opening a note read
it instead of opening every record. It names the shape of the records it was made for (count,
newest id, bytes): a row that does not open, or whose shape the records no longer have (a
space from before the index, a damaged record, a deletion cut short), is rebuilt from the
records (notebook.py). The records and their hash chain stay the evidence; this only points
into them. Pure: no I/O, no keys.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from safetybot.core.records import Sealed, SpaceShape
from safetybot.vault.evidence import Kind

__all__ = ["Entry", "Line", "NoteIndex", "shape_of"]

FORMAT = 1
# Longer than the list shows (60 characters, then "…"): cutting a line this long gives the
# same text as cutting the whole field.
SUMMARY_CHARS = 64
# The fields that stand for a note in the list, the first one filled in.
_SUMMARY_FIELDS = ("what", "platform", "threat_words")


@dataclass(frozen=True)
class Line:
    """A note as the list shows it: its number, when its latest version was recorded, a summary."""

    number: int
    recorded_at: str
    summary: str


@dataclass(frozen=True)
class Entry:
    """A live note: its latest version's date and summary, and the row ids of its versions."""

    recorded_at: str
    summary: str
    ids: tuple[int, ...]


@dataclass(frozen=True)
class NoteIndex:
    """Every live note of a space, the highest note number ever used, and damaged records.

    Stored as lines: a header (the shape, the numbers of the live notes) and one line a note,
    so that reading it parses the header and only the notes asked for, and adding a record
    rewrites one line.
    """

    shape: SpaceShape
    top: int
    damaged: int
    rows: Mapping[int, bytes]  # note number -> its line: JSON [recorded_at, summary, row ids]

    @classmethod
    def build(
        cls,
        records: Iterable[Mapping[str, Any]],
        row_ids: Mapping[int, int],
        damaged: int,
        shape: SpaceShape,
    ) -> NoteIndex:
        """The index of records opened in chain order (`row_ids`: seq -> row id)."""
        rows: dict[int, bytes] = {}
        top = 0
        gone: set[int] = set()
        for record in records:
            note = _apply(rows, record, row_ids[int(record["seq"])])
            top = max(top, note)
            if record.get("kind") in (Kind.DELETE, Kind.DELETED):
                gone.add(note)
        # A note deleted anywhere in the chain stays deleted (as evidence.current_notes has it).
        live = {n: line for n, line in rows.items() if n not in gone}
        return cls(shape, top, damaged, live)

    def with_record(self, record: Mapping[str, Any], row_id: int, shape: SpaceShape) -> NoteIndex:
        """The index once `record` (stored as row `row_id`, leaving `shape`) is added."""
        rows = dict(self.rows)
        top = max(self.top, _apply(rows, record, row_id))
        return replace(self, shape=shape, top=top, rows=rows)

    @property
    def numbers(self) -> list[int]:
        """The live notes' numbers, lowest first."""
        return sorted(self.rows)

    def entry(self, number: int) -> Entry | None:
        """A live note's entry; None if there is no such note (or its line is unreadable)."""
        line = self.rows.get(number)
        return None if line is None else _entry(line)

    def line(self, number: int) -> Line | None:
        """A live note as the list shows it."""
        entry = self.entry(number)
        return None if entry is None else Line(number, entry.recorded_at, entry.summary)

    def to_bytes(self) -> bytes:
        """The index as stored (before sealing)."""
        numbers = self.numbers
        header = {
            "v": FORMAT,
            "shape": [self.shape.count, self.shape.last, self.shape.size],
            "top": self.top,
            "damaged": self.damaged,
            "notes": numbers,
        }
        return b"\n".join([_dumps(header), *(self.rows[n] for n in numbers)])

    @classmethod
    def from_bytes(cls, data: bytes) -> NoteIndex | None:
        """An index read back; None if it is not one this code wrote (it is then rebuilt)."""
        header, *lines = data.split(b"\n")
        try:
            value = json.loads(header)
            if not isinstance(value, dict) or value.get("v") != FORMAT:
                return None
            count, last, size = (int(n) for n in value["shape"])
            numbers = [int(n) for n in value["notes"]]
            if len(numbers) != len(lines):
                return None
            return cls(
                SpaceShape(count, last, size),
                int(value["top"]),
                int(value["damaged"]),
                dict(zip(numbers, lines, strict=True)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def shape_of(rows: Iterable[Sealed]) -> SpaceShape:
    """The shape of a space's sealed records, as the store counts it."""
    listed = list(rows)
    return SpaceShape(
        len(listed), max((r.id for r in listed), default=0), sum(len(r.sealed) for r in listed)
    )


def _apply(rows: dict[int, bytes], record: Mapping[str, Any], row_id: int) -> int:
    """Apply one record to `rows`; return its note number (0 if it has none)."""
    note, kind = record.get("note"), record.get("kind")
    if not isinstance(note, int):
        return 0
    if kind in (Kind.NOTE, Kind.EDIT):
        before = rows.get(note)
        earlier = _entry(before) if before is not None else None
        ids = [*(earlier.ids if earlier else ()), row_id]
        rows[note] = _dumps([str(record.get("recorded_at", "")), _summary(record), ids])
    elif kind in (Kind.DELETE, Kind.DELETED):
        rows.pop(note, None)
    return note


def _entry(line: bytes) -> Entry | None:
    try:
        at, summary, ids = json.loads(line)
        return Entry(str(at), str(summary), tuple(int(i) for i in ids))
    except (TypeError, ValueError):
        return None


def _dumps(value: object) -> bytes:
    # One line: JSON escapes every newline inside a string.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _summary(record: Mapping[str, Any]) -> str:
    fields = record.get("fields")
    if not isinstance(fields, Mapping):
        return ""
    text = next((str(fields[name]) for name in _SUMMARY_FIELDS if fields.get(name)), "")
    return " ".join(text.split())[:SUMMARY_CHARS]
