"""What is inside a vault: draft parts, hash-chained records, and attachment files.

Everything is sealed *to* the vault's public key, so evidence that arrives while the vault is
locked (the next field of a note, a screenshot) is stored encrypted all the same; reading needs
the unlocked private key. Records form a hash chain (evidence.py) so an export can prove nothing
was changed or removed afterwards. A deleted note leaves tombstones that keep the chain whole.

Records are appended in chain order, so row ids follow `seq`: saving a note, or showing, editing
or deleting one, opens records from the newest back only as far as it needs (the chain head, the
record that began the note). Only the list of every note and the export open them all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from safetybot.core.records import Records, Sealed
from safetybot.core.vault import Session
from safetybot.crypto import open_box, seal_to, sha256_hex
from safetybot.errors import CryptoError
from safetybot.evidence import FIELDS, GENESIS, Kind, current_notes, make_record, tombstone
from safetybot.export import AttachmentFile

__all__ = ["Draft", "Notebook", "Opened"]

RECORDS, FILES, DRAFTS = "records", "files", "drafts"
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
        """Open every record of the session's space, in chain order (for the list and export)."""
        rows = await self._records.sealed(RECORDS, pseudonym, session.space)
        return _collect(rows, await self._open_rows(session, pseudonym, rows))

    async def note(self, pseudonym: bytes, session: Session, number: int) -> dict[str, Any] | None:
        """A note's latest version (with "versions"), or None if it never was or was deleted."""
        tail = await self._tail(pseudonym, session, _begins_by(number))
        return tail.notes.get(number)

    async def save(self, pseudonym: bytes, session: Session, draft: Draft, recorded_at: str) -> int:
        """Turn the draft into a record (a new note, or a new version of one); return its number."""
        # An edit needs only the chain head; a new note also the last note begun, for its number.
        tail = await self._tail(
            pseudonym, session, _any if draft.edit_of is not None else _begins_note
        )
        seq = max((int(r["seq"]) for r in tail.records), default=0) + 1
        prev = str(tail.records[-1]["hash"]) if tail.records else GENESIS
        if draft.edit_of is not None:
            note, kind = draft.edit_of, Kind.EDIT
        else:
            note = max((int(r["note"]) for r in tail.records), default=0) + 1
            kind = Kind.NOTE
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
        await self._add_record(pseudonym, session, record)
        await self.clear_draft(pseudonym, session.space)
        return note

    async def delete_note(self, pseudonym: bytes, session: Session, note: int, when: str) -> bool:
        """Delete a note: its records become tombstones, its files go, the deletion is chained."""
        # Every record of a note comes after the one that began it, and so does the chain head.
        opened = await self._tail(pseudonym, session, _begins_by(note))
        if note not in opened.notes:
            return False
        file_ids: list[int] = []
        for record in opened.records:
            if int(record["note"]) != note or record["kind"] == Kind.DELETED.value:
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
        last = opened.records[-1]
        marker = make_record(
            seq=int(last["seq"]) + 1,
            prev=str(last["hash"]),
            note=note,
            kind=Kind.DELETE,
            recorded_at=when,
        )
        await self._add_record(pseudonym, session, marker)
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

    async def _tail(
        self, pseudonym: bytes, session: Session, far_enough: Callable[[Mapping[str, Any]], bool]
    ) -> Opened:
        """Open records from the newest back until one is `far_enough` (or none are left)."""
        rows: list[Sealed] = []
        opened: list[dict[str, Any] | None] = []
        limit, below = _FIRST_BATCH, None
        while True:
            batch = await self._records.newest_sealed(
                RECORDS, pseudonym, session.space, limit, below
            )
            records = await self._open_rows(session, pseudonym, batch)
            rows += batch
            opened += records
            if len(batch) < limit or any(r is not None and far_enough(r) for r in records):
                return _collect(rows, opened)
            limit, below = limit * _BATCH_GROWTH, batch[-1].id

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
        self, pseudonym: bytes, session: Session, record: Mapping[str, Any]
    ) -> None:
        sealed = seal_to(
            session.public, json.dumps(record).encode(), owner=pseudonym, purpose=RECORDS
        )
        await self._records.add_sealed(RECORDS, pseudonym, session.space, sealed)

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


def _any(record: Mapping[str, Any]) -> bool:
    return True


def _begins_note(record: Mapping[str, Any]) -> bool:
    # A tombstone of a NOTE record still holds the number that note took.
    kind = record.get("kind")
    return kind == Kind.NOTE or (kind == Kind.DELETED and record.get("was") == Kind.NOTE)


def _begins_by(number: int) -> Callable[[Mapping[str, Any]], bool]:
    # Notes are numbered in chain order: once a note at or below `number` began, every record
    # of note `number` has been read.
    def far_enough(record: Mapping[str, Any]) -> bool:
        note = record.get("note")
        return _begins_note(record) and isinstance(note, int) and note <= number

    return far_enough
