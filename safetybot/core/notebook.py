"""What is inside a vault: draft parts, hash-chained records, and attachment files.

Everything is sealed *to* the vault's public key, so evidence that arrives while the vault is
locked (the next field of a note, a screenshot) is stored encrypted all the same; reading needs
the unlocked private key. Records form a hash chain (vault/evidence.py) so an export can prove
nothing was changed or removed afterwards. A deleted note leaves tombstones that keep the chain
whole.

Each space also has a sealed index (noteindex.py), written with every new record: the notes
list reads it alone; showing, editing or deleting a note opens only that note's records, found
through it; saving opens the chain head (the newest record). A space from before the index, or
whose index does not open or no longer matches its records, gets it rebuilt from every record,
once. The export, which must read every record, and a removal request still open them all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from safetybot.core.noteindex import Line, NoteIndex, shape_of
from safetybot.core.records import Records, Sealed, SpaceShape
from safetybot.core.vault import Session
from safetybot.errors import CryptoError
from safetybot.vault.crypto import open_box, seal_to, sha256_hex
from safetybot.vault.evidence import FIELDS, GENESIS, Kind, current_notes, make_record, tombstone
from safetybot.vault.export import AttachmentFile

__all__ = ["Draft", "Listing", "Notebook", "Opened"]

RECORDS, FILES, DRAFTS, INDEX = "records", "files", "drafts", "notes_index"
# Reading back from the newest record: batches grow, so a long walk takes few queries.
_FIRST_BATCH = 4
_BATCH_GROWTH = 4
# Opening a record costs an X25519 exchange; more than this many go off the event loop.
_INLINE_OPENS = 16


@dataclass(frozen=True)
class Opened:
    """A space's records, opened; `damaged` counts rows that would not open."""

    records: list[dict[str, Any]]
    row_ids: dict[int, int]  # seq -> row id
    damaged: int

    @property
    def notes(self) -> dict[int, dict[str, Any]]:
        """Each live note's latest version."""
        return current_notes(self.records)


@dataclass(frozen=True)
class Listing:
    """What the notes list shows: the live notes' numbers, each note's line on demand, and how
    many records would not open."""

    index: NoteIndex

    @property
    def numbers(self) -> list[int]:
        """The live notes' numbers, lowest first."""
        return self.index.numbers

    @property
    def damaged(self) -> int:
        """Records that would not open when the index was last rebuilt."""
        return self.index.damaged

    def line(self, number: int) -> Line:
        """A note's line in the list (an unreadable one shows its number alone)."""
        return self.index.line(number) or Line(number, "", "")


@dataclass(frozen=True)
class Draft:
    """A note being written: its fields, attachments and forwarded origin so far."""

    fields: dict[str, str]
    attachments: list[dict[str, Any]]
    forwarded: dict[str, str] | None
    edit_of: int | None

    @property
    def empty(self) -> bool:
        """Nothing entered yet."""
        return not self.fields and not self.attachments and self.edit_of is None


class Notebook:
    """Reads and writes one person's vault contents."""

    def __init__(self, records: Records) -> None:
        self._records = records

    async def add_part(
        self, pseudonym: bytes, public: bytes, space: bytes, part: Mapping[str, Any]
    ) -> None:
        """Append to the draft; works while the vault is locked."""
        sealed = seal_to(public, json.dumps(part).encode(), owner=pseudonym, purpose=DRAFTS)
        await self._records.add_sealed(DRAFTS, pseudonym, space, sealed)

    async def draft(self, pseudonym: bytes, session: Session) -> Draft:
        """Merge the draft's parts: later values win, attachments accumulate."""
        fields: dict[str, str] = {}
        attachments: list[dict[str, Any]] = []
        forwarded: dict[str, str] | None = None
        edit_of: int | None = None
        for row in await self._records.sealed(DRAFTS, pseudonym, session.space):
            part = self._open_json(session, row.sealed, pseudonym, DRAFTS)
            if part is None:
                continue
            if "edit_of" in part:
                edit_of = int(part["edit_of"])
                fields.update({k: str(v) for k, v in dict(part.get("fields", {})).items()})
            for name, value in dict(part.get("set", {})).items():
                if name in FIELDS:
                    fields[name] = str(value)
            for name, value in dict(part.get("append", {})).items():
                if name in FIELDS:
                    fields[name] = f"{fields[name]}\n{value}" if fields.get(name) else str(value)
            if "attachment" in part:
                attachments.append(dict(part["attachment"]))
            if "forwarded" in part and forwarded is None:
                forwarded = {str(k): str(v) for k, v in dict(part["forwarded"]).items()}
        return Draft(fields, attachments, forwarded, edit_of)

    async def clear_draft(self, pseudonym: bytes, space: bytes) -> None:
        """Drop the draft's parts (after saving it into a record)."""
        await self._records.delete_sealed(DRAFTS, pseudonym, space)

    async def discard_draft(self, pseudonym: bytes, session: Session) -> None:
        """Drop a cancelled draft and the files that were sent for it."""
        draft = await self.draft(pseudonym, session)
        ids = [int(a["id"]) for a in draft.attachments]
        if ids:
            await self._records.delete_sealed(FILES, pseudonym, session.space, ids)
        await self.clear_draft(pseudonym, session.space)

    async def store_file(
        self,
        pseudonym: bytes,
        public: bytes,
        space: bytes,
        data: bytes,
        *,
        name: str,
        mime: str,
        received_at: str,
    ) -> dict[str, Any]:
        """Seal an attachment's bytes; return what the note records about it."""
        sealed = seal_to(public, data, owner=pseudonym, purpose=FILES)
        file_id = await self._records.add_sealed(FILES, pseudonym, space, sealed)
        return {
            "id": file_id,
            "name": name,
            "type": mime,
            "size": len(data),
            "sha256": sha256_hex(data),
            "received_at": received_at,
        }

    async def open_space(self, pseudonym: bytes, session: Session) -> Opened:
        """Open every record of the session's space, in chain order (for the export)."""
        rows = await self._records.sealed(RECORDS, pseudonym, session.space)
        return _collect(rows, await self._open_rows(session, pseudonym, rows))

    async def listing(self, pseudonym: bytes, session: Session) -> Listing:
        """Every live note as the list shows it, read from the space's index alone."""
        return Listing(await self._index(pseudonym, session))

    async def note(self, pseudonym: bytes, session: Session, number: int) -> dict[str, Any] | None:
        """A note's latest version (with "versions"), or None if it never was or was deleted."""
        entry = (await self._index(pseudonym, session)).entry(number)
        if entry is None:
            return None
        rows = await self._records.sealed(RECORDS, pseudonym, session.space, list(entry.ids))
        opened = _collect(rows, await self._open_rows(session, pseudonym, rows))
        # Only this note's records count, whatever the index pointed at.
        return current_notes([r for r in opened.records if r.get("note") == number]).get(number)

    async def save(self, pseudonym: bytes, session: Session, draft: Draft, recorded_at: str) -> int:
        """Turn the draft into a record (a new note, or a new version of one); return its number."""
        index = await self._index(pseudonym, session)
        seq, prev = await self._head(pseudonym, session)
        if draft.edit_of is not None:
            note, kind = draft.edit_of, Kind.EDIT
        else:
            note, kind = index.top + 1, Kind.NOTE  # numbers are never reused
        record = make_record(
            seq=seq,
            prev=prev,
            note=note,
            kind=kind,
            recorded_at=recorded_at,
            fields=draft.fields,
            attachments=draft.attachments,
            forwarded=draft.forwarded,
        )
        await self._add_record(pseudonym, session, record, index)
        await self.clear_draft(pseudonym, session.space)
        return note

    async def delete_note(self, pseudonym: bytes, session: Session, note: int, when: str) -> bool:
        """Delete a note: its records become tombstones, its files go, the deletion is chained."""
        index = await self._index(pseudonym, session)
        entry = index.entry(note)
        if entry is None:
            return False
        rows = await self._records.sealed(RECORDS, pseudonym, session.space, list(entry.ids))
        opened = _collect(rows, await self._open_rows(session, pseudonym, rows))
        file_ids: list[int] = []
        for record in opened.records:
            if record.get("note") != note or record["kind"] not in (Kind.NOTE, Kind.EDIT):
                continue
            file_ids += [int(a["id"]) for a in record.get("attachments", [])]
            stone = tombstone(record, when)
            sealed = seal_to(
                session.public, json.dumps(stone).encode(), owner=pseudonym, purpose=RECORDS
            )
            await self._records.replace_sealed(
                RECORDS, pseudonym, opened.row_ids[int(record["seq"])], sealed
            )
        if file_ids:
            await self._records.delete_sealed(FILES, pseudonym, session.space, file_ids)
        # Cut short here, the tombstones change the records' shape: the index is rebuilt.
        seq, prev = await self._head(pseudonym, session)
        marker = make_record(seq=seq, prev=prev, note=note, kind=Kind.DELETE, recorded_at=when)
        await self._add_record(pseudonym, session, marker, index)
        await self._records.checkpoint()
        return True

    async def files(
        self, pseudonym: bytes, session: Session, metas: Sequence[Mapping[str, Any]]
    ) -> list[AttachmentFile]:
        """Open attachment files (a damaged one is left out; the export then flags it)."""
        wanted = {int(m["id"]): m for m in metas}
        found: list[AttachmentFile] = []
        if not wanted:
            return found
        for row in await self._records.sealed(FILES, pseudonym, session.space, list(wanted)):
            try:
                data = open_box(session.private, row.sealed, owner=pseudonym, purpose=FILES)
            except CryptoError:
                continue
            meta = wanted[row.id]
            found.append(AttachmentFile(row.id, str(meta["name"]), str(meta["type"]), data))
        return found

    async def _head(self, pseudonym: bytes, session: Session) -> tuple[int, str]:
        """The next record's `seq` and `prev`: from the newest record that opens."""
        limit, below = _FIRST_BATCH, None
        while True:
            batch = await self._records.newest_sealed(
                RECORDS, pseudonym, session.space, limit, below
            )
            for row in batch:  # newest first: usually the first one opens, and that is all
                record = self._open_json(session, row.sealed, pseudonym, RECORDS)
                if record is not None:
                    return int(record["seq"]) + 1, str(record["hash"])
            if len(batch) < limit:
                return 1, GENESIS
            limit, below = limit * _BATCH_GROWTH, batch[-1].id

    async def _index(self, pseudonym: bytes, session: Session) -> NoteIndex:
        """The space's index, rebuilt from every record if it is missing, does not open, or
        was made for records other than those there now."""
        sealed, shape = await self._records.note_index(pseudonym, session.space)
        if sealed is not None:
            try:
                found = NoteIndex.from_bytes(
                    open_box(session.private, sealed, owner=pseudonym, purpose=INDEX)
                )
            except CryptoError:
                found = None
            if found is not None and found.shape == shape:
                return found
        rows = await self._records.sealed(RECORDS, pseudonym, session.space)
        opened = _collect(rows, await self._open_rows(session, pseudonym, rows))
        index = NoteIndex.build(opened.records, opened.row_ids, opened.damaged, shape_of(rows))
        await self._records.save_index(
            pseudonym, session.space, _seal_index(session, pseudonym, index)
        )
        return index

    async def _open_rows(
        self, session: Session, pseudonym: bytes, rows: Sequence[Sealed]
    ) -> list[dict[str, Any] | None]:
        def open_all() -> list[dict[str, Any] | None]:
            return [self._open_json(session, row.sealed, pseudonym, RECORDS) for row in rows]

        if len(rows) <= _INLINE_OPENS:
            return open_all()
        # A thousand notes take a few hundred milliseconds to open: not on the event loop.
        return await asyncio.to_thread(open_all)

    async def _add_record(
        self, pseudonym: bytes, session: Session, record: Mapping[str, Any], index: NoteIndex
    ) -> None:
        """Store a record and, in the same transaction, the index that includes it."""
        sealed = seal_to(
            session.public, json.dumps(record).encode(), owner=pseudonym, purpose=RECORDS
        )

        def indexed(row_id: int, shape: SpaceShape) -> bytes:
            return _seal_index(session, pseudonym, index.with_record(record, row_id, shape))

        await self._records.add_indexed(pseudonym, session.space, sealed, indexed)

    def _open_json(
        self, session: Session, sealed: bytes, pseudonym: bytes, purpose: str
    ) -> dict[str, Any] | None:
        try:
            value = json.loads(open_box(session.private, sealed, owner=pseudonym, purpose=purpose))
        except (CryptoError, ValueError):
            return None
        return value if isinstance(value, dict) else None


def _collect(rows: Sequence[Sealed], opened: Sequence[dict[str, Any] | None]) -> Opened:
    records: list[dict[str, Any]] = []
    row_ids: dict[int, int] = {}
    damaged = 0
    for row, record in zip(rows, opened, strict=True):
        if record is None:
            damaged += 1  # reported to the person; every other note still opens
            continue
        records.append(record)
        row_ids[int(record["seq"])] = row.id
    records.sort(key=lambda r: int(r["seq"]))
    return Opened(records, row_ids, damaged)


def _seal_index(session: Session, pseudonym: bytes, index: NoteIndex) -> bytes:
    return seal_to(session.public, index.to_bytes(), owner=pseudonym, purpose=INDEX)
