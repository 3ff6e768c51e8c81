"""The evidence record chain: notes, edits and deletions, each linked by SHA-256 to the one before.

A person's vault is a list of records, numbered 1..n (`seq`). Each record holds the hash of the
record before it (`prev`; `GENESIS` for the first) and its own hash, so a changed, removed or
reordered record breaks the chain where it happened:

    NOTE     a new note, numbered `note` (numbers are never reused)
    EDIT     a full new version of note `note`; the earlier version stays in the chain
    DELETE   the person deleted note `note`; it holds no content and is never removed itself
    deleted  a tombstone: what is kept of a NOTE or EDIT whose note was deleted

A record's hash covers its header (v, seq, prev, note, kind) and the hash of its content
(recorded_at, fields, attachments, forwarded and a random salt). A tombstone keeps the header and
the content hash, so its own hash can still be recomputed and its link checked: rewriting
records before a deletion changes the head. The salt keeps a deleted note's content hash from
confirming a guess of what it said.

A chain only proves that it is consistent. Anyone can write a new consistent chain, so a check
against a head hash recorded elsewhere (shown to the person, written down by an advocate) is what
proves that nothing was rewritten. Pure: no I/O, no clock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Any

__all__ = [
    "FIELDS",
    "GENESIS",
    "ChainProblem",
    "Kind",
    "canonical",
    "current_notes",
    "make_record",
    "record_hash",
    "timestamp",
    "tombstone",
    "verify_chain",
]

GENESIS = "0" * 64
FIELDS: tuple[str, ...] = (
    "what",
    "when",
    "platform",
    "first_contact",
    "moved_to",
    "other_person",
    "links",
    "threat_words",
    "demand",
    "deadline",
    "reports",
    # What a removal request (takedown notice) needs; older records simply lack them.
    "content_urls",  # exact http(s) addresses, one a line, as typed
    "posted_on",  # the site or app where it is posted or threatened
    "posted_by",  # the account that posted it
    "minor_then",  # under 18 when it was made: one of notices.MINOR_ANSWERS
)
VERSION = 1

_STAMP = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\Z")
_HEX64 = re.compile(r"\A[0-9a-f]{64}\Z")
_ATTACHMENT_KEYS = frozenset({"id", "name", "type", "size", "sha256", "received_at"})
_TOMBSTONE_KEYS = frozenset(
    {"v", "seq", "prev", "note", "kind", "was", "content", "hash", "deleted_at"}
)
_CONTENT_KEYS = ("recorded_at", "fields", "attachments", "forwarded", "salt")
_RECORD_KEYS = frozenset({"v", "seq", "prev", "note", "kind", "hash", *_CONTENT_KEYS})


class Kind(StrEnum):
    """What a record says happened to its note."""

    NOTE = "note"
    EDIT = "edit"
    DELETE = "delete"
    DELETED = "deleted"


@dataclass(frozen=True)
class ChainProblem:
    """One thing wrong with a chain, in plain English, naming the record and note."""

    seq: int | None
    note: int | None
    message: str

    def __str__(self) -> str:
        return self.message


def canonical(value: object) -> bytes:
    """The one byte form that is hashed: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a record's header and content hash; a tombstone gives its original's."""
    deleted = record.get("kind") == Kind.DELETED
    header = {
        "v": record.get("v"),
        "seq": record.get("seq"),
        "prev": record.get("prev"),
        "note": record.get("note"),
        "kind": record.get("was") if deleted else record.get("kind"),
        "content": record.get("content") if deleted else _content_hash(record),
    }
    return _sha256(canonical(header))


def timestamp(moment: dt.datetime) -> str:
    """A moment as records hold it: ISO 8601 UTC to the second, e.g. 2026-11-21T14:03:00Z."""
    if moment.tzinfo is None:
        raise ValueError("timestamp needs a timezone-aware datetime")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_record(
    *,
    seq: int,
    prev: str,
    note: int,
    kind: Kind,
    recorded_at: str,
    fields: Mapping[str, str] | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    forwarded: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Return a new record, hashed; ValueError names anything malformed."""
    if kind is Kind.DELETED:
        raise ValueError("a deleted record is made with tombstone(), not make_record()")
    _require(_positive(seq), "seq must be a whole number from 1")
    _require(_positive(note), "note must be a whole number from 1")
    _require(_is_hash(prev), "prev must be 64 lowercase hex digits")
    _require(_is_stamp(recorded_at), "recorded_at must look like 2026-11-21T14:03:00Z")
    kept: dict[str, str] = {}
    for name, value in (fields or {}).items():
        if name not in FIELDS:
            raise ValueError(f"unknown field {name!r}")
        if value:
            kept[name] = _clean(value)
    # Field order is fixed so every reader shows them the same way; the hash ignores order.
    ordered = {name: kept[name] for name in FIELDS if name in kept}
    files = [_attachment(a) for a in attachments]
    origin = {str(k): _clean(v) for k, v in (forwarded or {}).items() if v} or None
    if kind is Kind.DELETE and (ordered or files or origin):
        raise ValueError("a DELETE record holds no fields, attachments or origin")
    record: dict[str, Any] = {
        "v": VERSION,
        "seq": seq,
        "prev": prev,
        "note": note,
        "kind": str(kind),
        "recorded_at": recorded_at,
        "fields": ordered,
        "attachments": files,
        "forwarded": origin,
        "salt": secrets.token_hex(16),
    }
    record["hash"] = record_hash(record)
    return record


def tombstone(record: Mapping[str, Any], deleted_at: str) -> dict[str, Any]:
    """What is kept of a NOTE or EDIT record whose note the person deleted."""
    if record.get("kind") not in (Kind.NOTE, Kind.EDIT):
        # A DELETE record is the proof that the owner deleted the note: it stays as it is.
        raise ValueError("only NOTE and EDIT records are replaced by a tombstone")
    _require(_is_stamp(deleted_at), "deleted_at must look like 2026-11-21T14:03:00Z")
    return {
        "v": record["v"],
        "seq": record["seq"],
        "prev": record["prev"],
        "note": record["note"],
        "kind": str(Kind.DELETED),
        "was": record["kind"],
        "content": _content_hash(record),
        "hash": record["hash"],
        "deleted_at": deleted_at,
    }


def verify_chain(
    records: Sequence[Mapping[str, Any]], attachment_hashes: Mapping[int, str] | None = None
) -> list[ChainProblem]:
    """Every problem in a chain (records in seq order); an empty list means it is intact.

    `attachment_hashes` maps attachment id to the SHA-256 of the bytes actually present; when
    given, every attachment a live record lists must be there with its recorded fingerprint.
    Records may come from a hostile file: anything malformed is a problem, never an exception.
    """
    problems: list[ChainProblem] = []
    valid: list[Mapping[str, Any]] = []
    for position, record in enumerate(records, start=1):
        shape = _shape_problem(record)
        if shape is None:
            valid.append(record)
        else:
            seq, note = _ids(record)
            problems.append(ChainProblem(seq, note, f"{_name_at(record, position)} {shape}"))
    order = _order_problems(valid)
    problems += order
    problems += _link_and_content_problems(valid)
    if not order:  # with a record missing, the story has a hole that is already named
        problems += _story_problems(valid)
    if attachment_hashes is not None:
        problems += _attachment_problems(valid, attachment_hashes)
    return problems


def current_notes(records: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """Note number -> its latest live version plus "versions" (how many), deleted notes left out."""
    latest: dict[int, dict[str, Any]] = {}
    versions: dict[int, int] = {}
    deleted: set[int] = set()
    for record in records:
        note, kind = record.get("note"), record.get("kind")
        if not isinstance(note, int):
            continue
        if kind in (Kind.DELETE, Kind.DELETED):
            deleted.add(note)
        elif kind in (Kind.NOTE, Kind.EDIT):
            latest[note] = dict(record)
            versions[note] = versions.get(note, 0) + 1
    return {
        note: {**latest[note], "versions": versions[note]}
        for note in sorted(latest)
        if note not in deleted
    }


# -- checks -------------------------------------------------------------------------------------


def _shape_problem(record: object) -> str | None:
    # Only what the later checks rely on; content is covered by the hash.
    if not isinstance(record, Mapping):
        return "is not a record"
    if record.get("v") != VERSION:
        return "has an unknown format version"
    if not _positive(record.get("seq")) or not _positive(record.get("note")):
        return "has no valid record or note number"
    if record.get("kind") not in tuple(Kind):
        return "is of an unknown kind"
    if not _is_hash(record.get("prev")) or not _is_hash(record.get("hash")):
        return "has a malformed fingerprint"
    if record["kind"] == Kind.DELETED:
        if set(record) - _TOMBSTONE_KEYS:
            return "is marked deleted but still carries content"
        if record.get("was") not in (Kind.NOTE, Kind.EDIT) or not _is_hash(record.get("content")):
            return "is marked deleted but is not a tombstone"
    elif set(record) - _RECORD_KEYS:
        # Its fingerprint would not cover the extra entry, so a reader could be shown words
        # that were never recorded.
        return "carries an entry its fingerprint does not cover (added after it was made)"
    return None


def _order_problems(records: Sequence[Mapping[str, Any]]) -> list[ChainProblem]:
    problems: list[ChainProblem] = []
    for before, after in pairwise(records):
        if after["seq"] < before["seq"]:
            problems.append(_problem(after, f"is out of order (after record {before['seq']})"))
    counts = Counter(r["seq"] for r in records)
    problems += [
        ChainProblem(seq, None, f"record {seq} appears more than once")
        for seq, count in sorted(counts.items())
        if count > 1
    ]
    expected = 1
    for seq in sorted(counts):
        if seq > expected:
            gap = f"record {expected}" if seq == expected + 1 else f"records {expected}-{seq - 1}"
            problems.append(
                ChainProblem(expected, None, f"{gap} {_is_are(seq - expected)} missing")
            )
        expected = seq + 1
    return problems


def _link_and_content_problems(records: Sequence[Mapping[str, Any]]) -> list[ChainProblem]:
    problems: list[ChainProblem] = []
    by_seq = {r["seq"]: r for r in records}
    changed: set[int] = set()
    for record in records:
        if _hash_of(record) != record["hash"]:
            changed.add(record["seq"])
            problems.append(_problem(record, "was changed after it was made"))
    for record in records:
        seq = record["seq"]
        if seq == 1 and record["prev"] != GENESIS:
            problems.append(_problem(record, "does not start the chain (its link was changed)"))
        before = by_seq.get(seq - 1)
        # A record already named as changed explains its own broken link and the next one's.
        if before is None or seq in changed or seq - 1 in changed:
            continue
        if record["prev"] != before["hash"]:
            problems.append(
                _problem(
                    record,
                    f"does not link to record {seq - 1}: one of them was changed or replaced",
                )
            )
    return problems


def _story_problems(records: Sequence[Mapping[str, Any]]) -> list[ChainProblem]:
    # A rewritten chain can be consistent by hash; it must still tell a possible story.
    problems: list[ChainProblem] = []
    deleted_at = {r["note"]: r["seq"] for r in records if r["kind"] == Kind.DELETE}
    seen: set[int] = set()
    gone: set[int] = set()
    for record in sorted(records, key=lambda r: int(r["seq"])):
        note, kind = record["note"], record["kind"]
        if note in gone:
            problems.append(_problem(record, f"comes after note {note} was deleted"))
        elif kind == Kind.NOTE and note in seen:
            problems.append(_problem(record, f"starts note {note}, which already exists"))
        elif kind in (Kind.EDIT, Kind.DELETE) and note not in seen:
            problems.append(_problem(record, f"refers to note {note}, which does not exist yet"))
        elif kind == Kind.DELETED and deleted_at.get(note, 0) < record["seq"]:
            problems.append(
                _problem(record, f"was removed, but no record says note {note} was deleted")
            )
        seen.add(note)
        if kind == Kind.DELETE:
            gone.add(note)
    return problems


def _attachment_problems(
    records: Sequence[Mapping[str, Any]], present: Mapping[int, str]
) -> list[ChainProblem]:
    problems: list[ChainProblem] = []
    named: set[int] = set()
    for record in records:
        if record["kind"] == Kind.DELETED:
            continue
        listed = record.get("attachments")
        for item in listed if isinstance(listed, list) else ():
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), int):
                problems.append(_problem(record, "lists an attachment this check cannot read"))
                continue
            ident = item["id"]
            if ident in named:  # an edit lists its note's attachments again
                continue
            named.add(ident)
            label = f"attachment {ident} of note {record['note']} ({_shown(item.get('name'))})"
            if ident not in present:
                problems.append(ChainProblem(record["seq"], record["note"], f"{label} is missing"))
            elif present[ident] != item.get("sha256"):
                message = f"{label} does not match its fingerprint"
                problems.append(ChainProblem(record["seq"], record["note"], message))
    return problems


# -- helpers ------------------------------------------------------------------------------------


def _content_hash(record: Mapping[str, Any]) -> str:
    return _sha256(canonical({key: record.get(key) for key in _CONTENT_KEYS}))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_of(record: Mapping[str, Any]) -> str | None:
    try:
        return record_hash(record)
    except (TypeError, ValueError):  # e.g. a lone surrogate from a hostile file cannot be encoded
        return None


def _problem(record: Mapping[str, Any], what: str) -> ChainProblem:
    return ChainProblem(record["seq"], record["note"], f"{_name(record)} {what}")


def _name(record: Mapping[str, Any]) -> str:
    deleted = "deleted " if record["kind"] == Kind.DELETED else ""
    return f"record {record['seq']} ({deleted}note {record['note']})"


def _name_at(record: object, position: int) -> str:
    seq, note = _ids(record)
    if seq is None:
        return f"the record at position {position}"
    return f"record {seq}" + (f" (note {note})" if note is not None else "")


def _ids(record: object) -> tuple[int | None, int | None]:
    if not isinstance(record, Mapping):
        return None, None
    seq, note = record.get("seq"), record.get("note")
    return (seq if _positive(seq) else None), (note if _positive(note) else None)


def _attachment(item: Mapping[str, Any]) -> dict[str, Any]:
    keys = set(item)
    if keys != _ATTACHMENT_KEYS:
        wrong = sorted(keys ^ _ATTACHMENT_KEYS)
        raise ValueError(f"an attachment needs exactly {sorted(_ATTACHMENT_KEYS)}; check {wrong}")
    _require(_positive(item["id"]), "attachment id must be a whole number from 1")
    _require(isinstance(item["name"], str), "attachment name must be text")
    _require(isinstance(item["type"], str), "attachment type must be text")
    _require(_positive(item["size"]) or item["size"] == 0, "attachment size must be >= 0")
    _require(_is_hash(item["sha256"]), "attachment sha256 must be 64 lowercase hex digits")
    _require(_is_stamp(item["received_at"]), "received_at must look like 2026-11-21T14:03:00Z")
    return {
        "id": item["id"],
        "name": _clean(item["name"]),
        "type": _clean(item["type"]),
        "size": item["size"],
        "sha256": item["sha256"],
        "received_at": item["received_at"],
    }


def _shown(name: object) -> str:
    # A name from a hostile file: one line, bounded.
    flat = " ".join(str(name).split()) if isinstance(name, str) else "?"
    return flat if len(flat) <= 60 else flat[:59] + "…"


def _clean(value: object) -> str:
    # A lone surrogate (possible in text a messenger decoded) cannot be written as UTF-8.
    return str(value).encode("utf-8", "replace").decode("utf-8")


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and _HEX64.match(value) is not None


def _is_stamp(value: object) -> bool:
    return isinstance(value, str) and _STAMP.match(value) is not None


def _is_are(count: int) -> str:
    return "is" if count == 1 else "are"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)
