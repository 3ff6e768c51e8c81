"""The record chain: notes, edits and deletions link by hash, and every tamper is named."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from typing import Any

import pytest

from safetybot.vault.evidence import (
    FIELDS,
    GENESIS,
    Kind,
    canonical,
    current_notes,
    make_record,
    record_hash,
    timestamp,
    tombstone,
    verify_chain,
)

SHOT = b"\x89PNG screenshot bytes"
SHOT_SHA = hashlib.sha256(SHOT).hexdigest()


def _at(minute: int) -> str:
    return f"2026-11-21T14:{minute:02d}:00Z"


def _shot(ident: int = 7) -> dict[str, Any]:
    return {
        "id": ident,
        "name": "screenshot.png",
        "type": "image/png",
        "size": len(SHOT),
        "sha256": SHOT_SHA,
        "received_at": _at(0),
    }


class Vault:
    """Appends records the way the vault does, tombstones included."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, note: int, kind: Kind, **content: Any) -> dict[str, Any]:
        prev = self.records[-1]["hash"] if self.records else GENESIS
        seq = len(self.records) + 1
        record = make_record(
            seq=seq, prev=prev, note=note, kind=kind, recorded_at=_at(seq), **content
        )
        self.records.append(record)
        return record

    def delete(self, note: int) -> None:
        when = _at(len(self.records) + 1)
        self.records = [
            tombstone(r, when) if r["note"] == note and r["kind"] in ("note", "edit") else r
            for r in self.records
        ]
        self.add(note, Kind.DELETE)


def _story() -> Vault:
    vault = Vault()
    vault.add(1, Kind.NOTE, fields={"what": "He wants 500 in gift cards"}, attachments=[_shot()])
    vault.add(2, Kind.NOTE, fields={"platform": "Instagram", "other_person": "@fake_recruiter"})
    vault.add(
        1,
        Kind.EDIT,
        fields={"what": "He wants 500 in gift cards", "deadline": "midnight"},
        attachments=[_shot()],
    )
    vault.add(3, Kind.NOTE, fields={"what": "something I no longer want kept"})
    vault.delete(3)
    vault.add(4, Kind.NOTE, fields={"threat_words": "pay or I send it to everyone"})
    return vault


def _messages(records: list[dict[str, Any]], **kwargs: Any) -> list[str]:
    return [str(p) for p in verify_chain(records, **kwargs)]


def test_a_chain_of_notes_edits_and_a_deletion_verifies() -> None:
    records = _story().records
    assert [r["kind"] for r in records] == ["note", "note", "edit", "deleted", "delete", "note"]
    assert verify_chain(records) == []
    assert verify_chain(records, {7: SHOT_SHA}) == []
    assert verify_chain([]) == []


def test_a_record_keeps_only_known_filled_fields_in_a_fixed_order() -> None:
    record = make_record(
        seq=1,
        prev=GENESIS,
        note=1,
        kind=Kind.NOTE,
        recorded_at=_at(1),
        fields={"demand": "500 € in gift cards", "what": "threat", "links": ""},
        forwarded={"from": "Alex", "date": ""},
    )
    assert list(record["fields"]) == ["what", "demand"]
    assert record["forwarded"] == {"from": "Alex"}
    assert set(record) == {
        "v",
        "seq",
        "prev",
        "note",
        "kind",
        "recorded_at",
        "fields",
        "attachments",
        "forwarded",
        "salt",
        "hash",
    }
    with pytest.raises(ValueError, match="unknown field 'mood'"):
        make_record(
            seq=1, prev=GENESIS, note=1, kind=Kind.NOTE, recorded_at=_at(1), fields={"mood": "x"}
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"recorded_at": "2026-11-21T14:03:00.123+00:00"},
        {"prev": "abc"},
        {"seq": 0},
        {"note": True},
        {"kind": Kind.DELETE, "fields": {"what": "x"}},
        {"kind": Kind.DELETED},
        {"attachments": [{**_shot(), "caption": "hi"}]},
        {"attachments": [{**_shot(), "sha256": "nope"}]},
    ],
)
def test_malformed_records_are_refused_when_made(bad: dict[str, Any]) -> None:
    arguments: dict[str, Any] = {
        "seq": 1,
        "prev": GENESIS,
        "note": 1,
        "kind": Kind.NOTE,
        "recorded_at": _at(1),
    }
    with pytest.raises(ValueError):
        make_record(**{**arguments, **bad})


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_hash_covers_the_header_and_the_hash_of_the_content() -> None:
    record = make_record(
        seq=1, prev=GENESIS, note=1, kind=Kind.NOTE, recorded_at=_at(1), fields={"what": "niño"}
    )
    content = {k: record[k] for k in ("recorded_at", "fields", "attachments", "forwarded", "salt")}
    assert canonical(content) == json.dumps(
        content, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert "niño".encode() in canonical(content)
    header = {"v": 1, "seq": 1, "prev": GENESIS, "note": 1, "kind": "note"}
    expected = _sha(canonical({**header, "content": _sha(canonical(content))}))
    assert record["hash"] == expected == record_hash(record)


def test_the_same_words_twice_never_give_the_same_hash() -> None:
    # The salt: a deleted note's content hash cannot confirm a guess of what it said.
    first, second = (
        make_record(seq=1, prev=GENESIS, note=1, kind=Kind.NOTE, recorded_at=_at(1))
        for _ in range(2)
    )
    assert first["hash"] != second["hash"] and len(first["salt"]) == 32


def test_text_a_messenger_could_not_encode_is_kept_as_a_replacement_not_a_crash() -> None:
    record = make_record(
        seq=1, prev=GENESIS, note=1, kind=Kind.NOTE, recorded_at=_at(1), fields={"what": "a\ud800b"}
    )
    assert record["fields"]["what"] == "a?b"
    assert verify_chain([record]) == []


def test_a_tombstone_drops_the_content_but_keeps_the_chain_linked() -> None:
    vault = _story()
    stone = vault.records[3]
    assert stone == {
        "v": 1,
        "seq": 4,
        "prev": vault.records[2]["hash"],
        "note": 3,
        "kind": "deleted",
        "was": "note",
        "content": stone["content"],
        "hash": stone["hash"],
        "deleted_at": _at(5),
    }
    assert "no longer want" not in json.dumps(vault.records)
    assert vault.records[4]["prev"] == stone["hash"] == record_hash(stone)
    with pytest.raises(ValueError):
        tombstone(vault.records[4], _at(9))  # the DELETE record is the owner's proof


def _named(records: list[dict[str, Any]], **kwargs: Any) -> str:
    messages = _messages(records, **kwargs)
    assert messages, "the tamper went unnoticed"
    return " | ".join(messages)


def test_a_changed_field_names_the_record_and_note() -> None:
    records = _story().records
    records[2]["fields"]["what"] = "He wants 50 in gift cards"
    assert _named(records) == "record 3 (note 1) was changed after it was made"


def test_an_entry_added_to_a_record_is_named() -> None:
    # The hash covers the known entries only: an extra one could show words never recorded.
    records = _story().records
    records[0]["comment"] = "she agreed to everything"
    assert "record 1 (note 1) carries an entry its fingerprint does not cover" in _named(records)


def test_a_changed_link_names_the_record() -> None:
    records = _story().records
    records[1]["prev"] = GENESIS
    assert _named(records) == "record 2 (note 2) was changed after it was made"


def test_a_rewritten_record_with_a_fresh_hash_breaks_the_next_link() -> None:
    records = _story().records
    records[1]["fields"]["platform"] = "Snapchat"
    records[1]["hash"] = record_hash(records[1])  # and leave record 3's link as it was
    assert _named(records) == (
        "record 3 (note 1) does not link to record 2: one of them was changed or replaced"
    )


def _rehash_from(records: list[dict[str, Any]], start: int) -> None:
    for index in range(start, len(records)):
        if index:
            records[index]["prev"] = records[index - 1]["hash"]
        records[index]["hash"] = record_hash(records[index])


def test_rewriting_records_before_a_deletion_changes_the_head() -> None:
    honest = _story().records
    forged = json.loads(json.dumps(honest))
    forged[0]["fields"]["what"] = "He wants 50 in gift cards"
    _rehash_from(forged, 0)
    assert verify_chain(forged) == []  # consistent by itself: any chain can be rewritten whole
    assert forged[-1]["hash"] != honest[-1]["hash"]  # so a head kept elsewhere catches it
    assert forged[3]["kind"] == "deleted" and forged[3]["hash"] != honest[3]["hash"]


def test_a_tombstone_whose_link_was_changed_is_named() -> None:
    # The attack the spec's first tombstone allowed: rewrite up to a deletion, relink the
    # tombstone, keep its old fingerprint so everything after it (and the head) stays the same.
    records = _story().records
    records[0]["fields"]["what"] = "He wants 50 in gift cards"
    _rehash_from(records[:3], 0)
    records[3]["prev"] = records[2]["hash"]
    assert _named(records) == "record 4 (deleted note 3) was changed after it was made"


def test_a_removed_record_is_named_missing() -> None:
    records = _story().records
    assert _named(records[:2] + records[3:]) == "record 3 is missing"
    assert _named(records[:1] + records[3:]) == "records 2-3 are missing"


def test_a_reordered_record_is_named() -> None:
    records = _story().records
    records[1], records[2] = records[2], records[1]
    assert _named(records) == "record 2 (note 2) is out of order (after record 3)"


def test_a_changed_attachment_fingerprint_is_named() -> None:
    records = _story().records
    records[0]["attachments"][0]["sha256"] = "f" * 64
    assert "record 1 (note 1) was changed after it was made" in _named(records)


def test_attachment_bytes_that_differ_or_are_gone_are_named_with_their_note() -> None:
    records = _story().records
    assert _named(records, attachment_hashes={7: "0" * 64}) == (
        "attachment 7 of note 1 (screenshot.png) does not match its fingerprint"
    )
    assert _named(records, attachment_hashes={}) == (
        "attachment 7 of note 1 (screenshot.png) is missing"
    )


def test_a_blanked_record_without_a_deletion_is_named() -> None:
    records = _story().records
    records[1] = tombstone(records[1], _at(30))
    assert _named(records) == (
        "record 2 (deleted note 2) was removed, but no record says note 2 was deleted"
    )


def test_a_chain_that_does_not_start_at_genesis_is_named() -> None:
    records = _story().records
    assert _named(records[1:]) == "record 1 is missing"
    first = make_record(seq=1, prev="1" * 64, note=1, kind=Kind.NOTE, recorded_at=_at(1))
    assert _named([first]) == "record 1 (note 1) does not start the chain (its link was changed)"


def test_a_story_that_cannot_have_happened_is_named() -> None:
    vault = Vault()
    vault.add(1, Kind.NOTE, fields={"what": "x"})
    vault.add(2, Kind.EDIT, fields={"what": "y"})
    vault.add(1, Kind.NOTE, fields={"what": "z"})
    assert _messages(vault.records) == [
        "record 2 (note 2) refers to note 2, which does not exist yet",
        "record 3 (note 1) starts note 1, which already exists",
    ]


@pytest.mark.parametrize(
    ("hostile", "named"),
    [
        (["not a record"], "the record at position 1 is not a record"),
        ([{"v": 2, "seq": 1, "note": 1}], "record 1 (note 1) has an unknown format version"),
        ([{"v": 1, "seq": "1"}], "the record at position 1 has no valid record or note number"),
        (
            [{"v": 1, "seq": 1, "note": 1, "kind": "poem", "prev": GENESIS}],
            "record 1 (note 1) is of an unknown kind",
        ),
        (
            [{"v": 1, "seq": 1, "note": 1, "kind": "note", "prev": GENESIS, "hash": 5}],
            "record 1 (note 1) has a malformed fingerprint",
        ),
    ],
)
def test_hostile_records_are_problems_not_exceptions(hostile: list[Any], named: str) -> None:
    assert named in _messages(hostile)


def test_a_lone_surrogate_from_a_hostile_file_is_a_change_not_a_crash() -> None:
    records = _story().records
    records[0]["fields"]["what"] = "\udcff"
    assert _named(records) == "record 1 (note 1) was changed after it was made"


def test_a_huge_gap_is_one_problem() -> None:
    records = _story().records
    records[-1]["seq"] = 10**12
    assert "records 6-999999999999 are missing" in _named(records)


def test_current_notes_show_the_latest_version_and_hide_deleted_notes() -> None:
    notes = current_notes(_story().records)
    assert list(notes) == [1, 2, 4]
    assert notes[1]["fields"] == {"what": "He wants 500 in gift cards", "deadline": "midnight"}
    assert notes[1]["kind"] == "edit" and notes[1]["versions"] == 2
    assert notes[2]["versions"] == 1 and notes[2]["seq"] == 2
    assert notes[1]["attachments"][0]["sha256"] == SHOT_SHA


def test_current_notes_hides_a_deleted_note_even_when_its_content_was_kept() -> None:
    vault = Vault()
    vault.add(1, Kind.NOTE, fields={"what": "x"})
    vault.add(1, Kind.DELETE)
    assert current_notes(vault.records) == {}


def test_timestamps_are_utc_to_the_second() -> None:
    moment = dt.datetime(2026, 11, 21, 9, 3, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    assert timestamp(moment) == "2026-11-21T14:03:00Z"
    with pytest.raises(ValueError):
        timestamp(dt.datetime(2026, 11, 21))  # naive: no zone, refused


# -- property-style: random chains, random single tampers -----------------------------------------


def _random_chain(rng: random.Random) -> Vault:
    vault = Vault()
    live: list[int] = []
    next_note = 1
    for _ in range(rng.randint(1, 25)):
        action = rng.choice(["note", "note", "edit", "delete"]) if live else "note"
        fields = {rng.choice(FIELDS): rng.choice(["x", "ñandú", "😈", "a" * 300, "שלום"])}
        if action == "note":
            vault.add(next_note, Kind.NOTE, fields=fields)
            live.append(next_note)
            next_note += 1
        elif action == "edit":
            vault.add(rng.choice(live), Kind.EDIT, fields=fields)
        else:
            note = rng.choice(live)
            live.remove(note)
            vault.delete(note)
    return vault


@pytest.mark.parametrize("seed", range(12))
def test_random_chains_verify_and_any_single_tamper_is_caught(seed: int) -> None:
    rng = random.Random(seed)
    vault = _random_chain(rng)
    records = vault.records
    assert verify_chain(records) == []
    live_notes = {r["note"] for r in records if r["kind"] in ("note", "edit")} - {
        r["note"] for r in records if r["kind"] == "delete"
    }
    assert set(current_notes(records)) == live_notes

    tampered = json.loads(json.dumps(records))
    index = rng.randrange(len(tampered))
    target = tampered[index]
    how = rng.choice(["field", "prev", "remove", "swap", "time"])
    if how == "field" and target["kind"] in ("note", "edit"):
        target["fields"]["what"] = target["fields"].get("what", "") + "!"
    elif how == "prev":
        target["prev"] = hashlib.sha256(b"other").hexdigest()
    elif how == "remove" and len(tampered) > 1 and index < len(tampered) - 1:
        del tampered[index]  # removing the last record needs the export's head: see export tests
    elif how == "swap" and index + 1 < len(tampered):
        tampered[index], tampered[index + 1] = tampered[index + 1], tampered[index]
    elif "recorded_at" in target:
        target["recorded_at"] = _at(59)
    else:
        target["hash"] = hashlib.sha256(b"other").hexdigest()
    if tampered == records:
        return
    problems = verify_chain(tampered)
    assert problems, (seed, how, index)
    assert any(p.seq in (index + 1, index + 2) for p in problems), (seed, how, problems)
