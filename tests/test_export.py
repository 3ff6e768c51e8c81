"""The export: a PDF people can read, JSON and a manifest anyone can check, and the check itself."""

from __future__ import annotations

import copy
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdf
import pytest
from PIL import Image

from safetybot.cli import main
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.vault.evidence import FIELDS, GENESIS, Kind, make_record, record_hash, tombstone
from safetybot.vault.export import AttachmentFile, Labels, build_export, verify_export

EXPORTED = "2026-11-21T15:00:00Z"
FIELD_LABELS = {
    "en": {name: name.replace("_", " ").capitalize() for name in FIELDS},
    "es": {name: f"Campo {name}" for name in FIELDS},
}


def _png(width: int = 40, height: int = 80) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (180, 20, 20)).save(out, "PNG")
    return out.getvalue()


SHOT = _png()
RECEIPT = b"%PDF-1.4 a bank receipt, not an image"


def _meta(ident: int, name: str, data: bytes, kind: str) -> dict[str, Any]:
    return {
        "id": ident,
        "name": name,
        "type": kind,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "received_at": "2026-11-21T14:00:00Z",
    }


def _labels(texts: Texts, locale: str) -> Labels:
    def plain(key: str) -> str:
        return "\n\n".join(render(texts.text(locale, key), Format.PLAIN))

    return Labels.from_catalog(plain, FIELD_LABELS[locale])


def _build_chain() -> list[dict[str, Any]]:
    shot = _meta(5, "captura.png", SHOT, "image/png")
    receipt = _meta(6, "../recibo.pdf", RECEIPT, "application/pdf")
    records: list[dict[str, Any]] = []

    def add(note: int, kind: Kind, **content: Any) -> None:
        prev = records[-1]["hash"] if records else GENESIS
        seq = len(records) + 1
        recorded_at = f"2026-11-21T14:{seq:02d}:00Z"
        records.append(
            make_record(
                seq=seq, prev=prev, note=note, kind=kind, recorded_at=recorded_at, **content
            )
        )

    add(
        1,
        Kind.NOTE,
        fields={
            "what": "Me amenazó con publicar las fotos",
            "platform": "Instagram",
            "other_person": "@señor_extorsión",
            "demand": "500 dólares en tarjetas regalo",
        },
        attachments=[shot],
        forwarded={"from": "Álex Pérez", "date": "2026-11-20 22:10"},
    )
    add(2, Kind.NOTE, fields={"what": "Me escribió de nuevo"}, attachments=[receipt])
    add(
        1,
        Kind.EDIT,
        fields={"what": "Me amenazó con publicar las fotos", "deadline": "a medianoche"},
        attachments=[shot],
    )
    add(3, Kind.NOTE, fields={"what": "texto que borré"})
    for index, record in enumerate(records):
        if record["note"] == 3:
            records[index] = tombstone(record, "2026-11-21T14:05:00Z")
    add(3, Kind.DELETE)
    return records


CHAIN = _build_chain()  # records are salted: build once, copy for each test


def _chain() -> list[dict[str, Any]]:
    return copy.deepcopy(CHAIN)


FILES = [
    AttachmentFile(5, "captura.png", "image/png", SHOT),
    AttachmentFile(6, "../recibo.pdf", "application/pdf", RECEIPT),
]


@pytest.fixture
def export(texts: Texts) -> bytes:
    return build_export(_chain(), FILES, labels=_labels(texts, "es"), exported_at=EXPORTED)


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _rezip(data: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    """The same export with its files changed by `change`, written as a valid ZIP again."""
    members = _members(data)
    change(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _pdf_text(data: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(_members(data)["evidence.pdf"]))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


# -- a fresh export ------------------------------------------------------------------------------


def test_a_fresh_export_verifies_and_counts_what_it_holds(export: bytes) -> None:
    report = verify_export(export)
    assert report.ok and report.readable and not report.encrypted
    assert report.problems == ()
    assert (report.notes, report.records, report.attachments) == (2, 5, 2)
    assert report.head == _chain()[-1]["hash"]


def test_the_zip_holds_json_pdf_attachments_and_a_manifest(export: bytes) -> None:
    members = _members(export)
    assert sorted(members) == [
        "MANIFEST.txt",
        "attachments/5-captura.png",
        "attachments/6-recibo.pdf",
        "evidence.json",
        "evidence.pdf",
    ]
    assert members["attachments/5-captura.png"] == SHOT
    document = json.loads(members["evidence.json"])
    assert document["format"] == "safetybot-evidence/2"
    assert document["exported_at"] == EXPORTED
    assert document["records"] == _chain()
    assert document["head"] == _chain()[-1]["hash"]
    assert document["attachments"][1] == {
        "id": 6,
        "name": "../recibo.pdf",
        "type": "application/pdf",
        "size": len(RECEIPT),
        "sha256": hashlib.sha256(RECEIPT).hexdigest(),
        "file": "attachments/6-recibo.pdf",
    }
    lines = members["MANIFEST.txt"].decode().splitlines()
    assert lines[0] == f"{hashlib.sha256(members['evidence.json']).hexdigest()}  evidence.json"
    assert lines[1].endswith("  evidence.pdf") and len(lines) == 5
    assert lines[-1] == f"chain-head {document['head']}"


def test_the_pdf_holds_every_entry_the_fingerprints_and_the_chain_head(export: bytes) -> None:
    text = _pdf_text(export)
    for words in (
        "Registro de pruebas",
        "Me amenazó con publicar las fotos",
        "@señor_extorsión",
        "500 dólares en tarjetas regalo",
        "a medianoche",
        "Me escribió de nuevo",
        "Álex Pérez",
        "Campo deadline",
        "safetybot verify-export FILE",
        "Notas eliminadas",
        "attachments/6-recibo.pdf",
    ):
        assert words in text, words
    dense = "".join(text.split())
    for data in (SHOT, RECEIPT):
        assert hashlib.sha256(data).hexdigest() in dense
    for record in _chain():
        assert record["hash"] in dense  # deleted notes too: the chain can still be followed
    assert "texto que borré" not in text


def test_the_pdf_speaks_the_person_s_language(texts: Texts) -> None:
    english = build_export(_chain(), FILES, labels=_labels(texts, "en"), exported_at=EXPORTED)
    text = _pdf_text(english)
    assert "Evidence log" in text and "Deleted notes" in text
    assert "Registro de pruebas" not in text


def test_png_and_jpeg_attachments_are_embedded_as_images(texts: Texts) -> None:
    photo = io.BytesIO()
    Image.new("RGB", (60, 30), (0, 90, 200)).save(photo, "JPEG")
    jpeg = photo.getvalue()
    record = make_record(
        seq=1,
        prev=GENESIS,
        note=1,
        kind=Kind.NOTE,
        recorded_at="2026-11-21T14:01:00Z",
        attachments=[_meta(1, "a.png", SHOT, "image/png"), _meta(2, "b.jpg", jpeg, "image/jpeg")],
    )
    files = [
        AttachmentFile(1, "a.png", "image/png", SHOT),
        AttachmentFile(2, "b.jpg", "image/jpeg", jpeg),
    ]
    data = build_export([record], files, labels=_labels(texts, "en"), exported_at=EXPORTED)
    reader = pypdf.PdfReader(io.BytesIO(_members(data)["evidence.pdf"]))
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 2
    assert verify_export(data).ok


# -- tampering -----------------------------------------------------------------------------------


def _verify_changed(export: bytes, change: Callable[[dict[str, bytes]], None]) -> list[str]:
    report = verify_export(_rezip(export, change))
    assert report.readable and not report.ok
    return list(report.problems)


def test_one_changed_byte_in_a_note_s_text_names_the_note(export: bytes) -> None:
    def change(members: dict[str, bytes]) -> None:
        raw = members["evidence.json"]
        at = raw.index("500 dólares".encode())
        members["evidence.json"] = raw[:at] + b"9" + raw[at + 1 :]

    problems = _verify_changed(export, change)
    assert "record 1 (note 1) was changed after it was made" in problems
    assert "evidence.json does not match its fingerprint in MANIFEST.txt" in problems


def test_one_changed_byte_of_an_attachment_names_it_and_its_note(export: bytes) -> None:
    def change(members: dict[str, bytes]) -> None:
        raw = members["attachments/5-captura.png"]
        members["attachments/5-captura.png"] = raw[:-1] + bytes([raw[-1] ^ 1])

    problems = _verify_changed(export, change)
    assert "attachment 5 of note 1 (captura.png) does not match its fingerprint" in problems
    assert "attachments/5-captura.png does not match its fingerprint in MANIFEST.txt" in problems


def _edit_json(members: dict[str, bytes], edit: Callable[[dict[str, Any]], None]) -> None:
    document = json.loads(members["evidence.json"])
    edit(document)
    members["evidence.json"] = json.dumps(document, ensure_ascii=False, indent=2).encode()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda m: _edit_json(m, lambda d: d["records"].pop(1)),
            "record 2 is missing",
        ),
        (
            lambda m: _edit_json(m, lambda d: d["records"].pop()),
            "the chain head in evidence.json is not the last record's fingerprint: "
            "records were removed from or added to the end",
        ),
        (
            lambda m: _edit_json(m, lambda d: d["records"].insert(0, d["records"].pop(1))),
            "record 1 (note 1) is out of order (after record 2)",
        ),
        (
            lambda m: m.pop("attachments/6-recibo.pdf"),
            "attachment 6 of note 2 (../recibo.pdf) is missing",
        ),
        (
            lambda m: m.pop("attachments/6-recibo.pdf"),
            "attachments/6-recibo.pdf is listed in MANIFEST.txt but missing from the ZIP",
        ),
        (
            lambda m: m.update(
                {
                    "MANIFEST.txt": b"\n".join(
                        [*(lines := m["MANIFEST.txt"].split(b"\n"))[1::-1], *lines[2:]]
                    )
                }
            ),
            "MANIFEST.txt lists its files in a changed order",
        ),
        (
            lambda m: m.update({"attachments/9-extra.png": b"planted"}),
            "attachments/9-extra.png is in the ZIP but not in MANIFEST.txt: it was added",
        ),
        (
            lambda m: m.update(
                {"evidence.pdf": m["evidence.pdf"].replace(b"/Title", b"/Titl\x65") + b" "}
            ),
            "evidence.pdf does not match its fingerprint in MANIFEST.txt",
        ),
        (lambda m: m.pop("MANIFEST.txt"), "MANIFEST.txt is missing"),
        (
            lambda m: m.update(
                {"evidence.json": m["evidence.json"].replace(b'"seq": 3', b'"seq" 3')}
            ),
            "evidence.json is damaged inside record 2",
        ),
    ],
)
def test_each_kind_of_tampering_is_named(
    export: bytes, change: Callable[[dict[str, bytes]], None], named: str
) -> None:
    assert named in _verify_changed(export, change)


def test_a_consistently_rewritten_export_is_caught_by_a_head_kept_elsewhere(
    texts: Texts,
) -> None:
    honest = _chain()
    head = honest[-1]["hash"]
    forged = _chain()
    forged[0]["fields"]["demand"] = "50 dólares"
    for index, record in enumerate(forged):  # a forger re-hashes everything after the change
        if index:
            record["prev"] = forged[index - 1]["hash"]
        record["hash"] = record_hash(record)  # tombstones too: their hash can be recomputed
    labels = _labels(texts, "en")
    data = build_export(forged, FILES, labels=labels, exported_at=EXPORTED)
    assert verify_export(data).ok  # consistent on its own: the limit of any hash chain
    report = verify_export(data, known_head=head)
    assert not report.ok and "the chain was rewritten" in report.problems[0]
    honest_export = build_export(honest, FILES, labels=labels, exported_at=EXPORTED)
    # A head the person saw earlier (after record 3) is still in the chain: nothing before it moved.
    assert verify_export(honest_export, known_head=honest[2]["hash"]).ok


# -- passwords -----------------------------------------------------------------------------------


def test_a_password_export_needs_its_password_and_then_verifies(texts: Texts) -> None:
    data = build_export(
        _chain(),
        FILES,
        labels=_labels(texts, "en"),
        exported_at=EXPORTED,
        password="kaleidoscope 7",
    )
    assert "Me amenazó".encode() not in data and SHOT not in data
    assert b"captura" not in data  # file names show without a password, so they are left out
    without = verify_export(data)
    assert not without.readable and without.encrypted and "password" in without.problems[0]
    wrong = verify_export(data, "kaleidoscope 8")
    assert not wrong.readable and "password" in wrong.problems[0]
    right = verify_export(data, "kaleidoscope 7")
    assert right.ok and right.encrypted and right.attachments == 2
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert all(info.flag_bits & 0x1 for info in archive.infolist())
        assert "attachments/5-file.png" in archive.namelist()
        with pytest.raises(RuntimeError):
            archive.read("evidence.json")  # the standard library cannot read AES: it is AES


# -- the command ---------------------------------------------------------------------------------


def test_verify_export_exits_0_when_intact_1_when_altered_2_when_not_an_export(
    export: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad, junk = tmp_path / "good.zip", tmp_path / "bad.zip", tmp_path / "junk.zip"
    good.write_bytes(export)
    bad.write_bytes(_rezip(export, lambda m: _edit_json(m, lambda d: d["records"].pop(1))))
    junk.write_bytes(b"PK\x03\x04 not really")
    assert main(["verify-export", str(good)], env={}) == 0
    out = capsys.readouterr().out
    assert out.startswith("Intact:") and f"Chain head: {_chain()[-1]['hash']}" in out
    assert main(["verify-export", str(bad)], env={}) == 1
    lines = capsys.readouterr().out.splitlines()
    assert "record 2 is missing" in lines and lines[-1].startswith("ALTERED:")
    assert main(["verify-export", str(junk)], env={}) == 2
    assert "not a ZIP" in capsys.readouterr().err
    assert main(["verify-export", str(tmp_path / "absent.zip")], env={}) == 2


def test_verify_export_reads_the_password_from_a_file(
    texts: Texts, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = build_export(
        _chain(), FILES, labels=_labels(texts, "en"), exported_at=EXPORTED, password="s3cret!"
    )
    path, secret, wrong = tmp_path / "e.zip", tmp_path / "pw", tmp_path / "wrong"
    path.write_bytes(data)
    secret.write_text("s3cret!\n")
    wrong.write_text("guess\n")
    assert main(["verify-export", str(path)], env={}) == 2  # stdin is not a terminal here
    assert "password" in capsys.readouterr().err
    assert main(["verify-export", str(path), "--password-file", str(wrong)], env={}) == 2
    assert "password is wrong" in capsys.readouterr().err
    assert main(["verify-export", str(path), "--password-file", str(secret)], env={}) == 0


def test_verify_export_checks_a_head_kept_elsewhere(
    export: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.zip"
    path.write_bytes(export)
    head = _chain()[1]["hash"]
    assert main(["verify-export", str(path), "--head", head.upper()], env={}) == 0
    assert main(["verify-export", str(path), "--head", "ab" * 32], env={}) == 1
    assert main(["verify-export", str(path), "--head", "nope"], env={}) == 2
    capsys.readouterr()


# -- edges and hostile input ---------------------------------------------------------------------


def test_an_export_of_no_notes_builds_and_verifies(texts: Texts) -> None:
    data = build_export([], [], labels=_labels(texts, "en"), exported_at=EXPORTED)
    report = verify_export(data)
    assert report.ok and report.head == GENESIS and (report.notes, report.records) == (0, 0)
    assert "There are no notes in this export." in _pdf_text(data)


def test_a_deleted_note_s_files_never_leave_the_vault(texts: Texts) -> None:
    records = _chain()
    planted = AttachmentFile(99, "old.png", "image/png", b"from a deleted note")
    data = build_export(
        records, [*FILES, planted], labels=_labels(texts, "en"), exported_at=EXPORTED
    )
    assert b"from a deleted note" not in b"".join(_members(data).values())


def test_a_missing_attachment_file_still_exports_and_is_reported(texts: Texts) -> None:
    data = build_export(_chain(), FILES[:1], labels=_labels(texts, "en"), exported_at=EXPORTED)
    assert "could not be opened from the vault" in _pdf_text(data)
    assert verify_export(data).problems == ("attachment 6 of note 2 (../recibo.pdf) is missing",)


HOSTILE_TEXT = (
    "مرحبا، سأنشر الصور | שלום | 你好 | 😈❤️👍🏽 | e\u0301 | \x00\x07\x1b[31m | {nb} {zz} | "
    + "a" * 3000
    + " | \u202eevil\u202c | 𝕏"
)


def test_text_a_person_typed_can_never_break_the_export(texts: Texts) -> None:
    fields = dict.fromkeys(FIELDS, HOSTILE_TEXT)
    record = make_record(
        seq=1,
        prev=GENESIS,
        note=1,
        kind=Kind.NOTE,
        recorded_at="2026-11-21T14:01:00Z",
        fields=fields,
        attachments=[_meta(1, "\u202egnp.exe\x00/../..", SHOT, "image/png")],
        forwarded={"from": HOSTILE_TEXT},
    )
    files = [AttachmentFile(1, "\u202egnp.exe\x00/../..", "image/png", SHOT)]
    data = build_export([record], files, labels=_labels(texts, "en"), exported_at=EXPORTED)
    assert verify_export(data).ok
    text = _pdf_text(data)
    assert "{nb}" in text  # a person's braces are never taken for the page count
    assert "[U+4F60][U+597D]" in text  # no glyph in DejaVu Sans: shown as code points
    assert json.loads(_members(data)["evidence.json"])["records"][0]["fields"]["what"] == (
        HOSTILE_TEXT
    )
    names = [n for n in _members(data) if n.startswith("attachments/")]
    assert len(names) == 1 and "/" not in names[0][len("attachments/") :]
    assert ".." not in names[0] and "\x00" not in names[0]


def test_a_damaged_image_is_listed_instead_of_embedded(texts: Texts) -> None:
    broken = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50
    record = make_record(
        seq=1,
        prev=GENESIS,
        note=1,
        kind=Kind.NOTE,
        recorded_at="2026-11-21T14:01:00Z",
        attachments=[_meta(1, "x.png", broken, "image/png")],
    )
    files = [AttachmentFile(1, "x.png", "image/png", broken)]
    data = build_export([record], files, labels=_labels(texts, "en"), exported_at=EXPORTED)
    assert "attachments/1-x.png" in _pdf_text(data)
    assert verify_export(data).ok


def _zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "not a ZIP"),
        (b"hello, this is not a zip at all", "not a ZIP"),
        (_zip_of({"photo.jpg": b"x"}), "not a safetybot export"),
    ],
)
def test_what_is_not_an_export_is_reported_as_such(data: bytes, said: str) -> None:
    report = verify_export(data)
    assert not report.readable and not report.ok and said in report.problems[0]


@pytest.mark.parametrize(
    "json_text",
    [b"{not json", b"[]", b'{"records": 5, "attachments": []}', b"[" * 100_000, b"\xff\xfe"],
)
def test_broken_json_is_reported_not_raised(json_text: bytes) -> None:
    report = verify_export(_zip_of({"evidence.json": json_text, "MANIFEST.txt": b"garbage\n"}))
    assert report.readable and not report.ok and report.problems


def test_a_zip_bomb_is_stopped_at_the_reading_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("safetybot.vault.export.MAX_READ", 1_000_000)
    bomb = _zip_of({"evidence.json": b"{}", "attachments/1-x": b"\x00" * 5_000_000})
    assert len(bomb) < 100_000
    report = verify_export(bomb)
    assert not report.readable and "MB this check reads" in report.problems[0]


def _declare_sizes(export: bytes, size: bytes) -> bytes:
    raw = bytearray(export)
    at = raw.find(b"PK\x01\x02")  # each central-directory entry: uncompressed size at +24
    while at != -1:
        raw[at + 24 : at + 28] = size
        at = raw.find(b"PK\x01\x02", at + 4)
    return bytes(raw)


def test_declared_sizes_are_never_trusted(export: bytes) -> None:
    # Nothing is allocated from a declared size: 2 GB declared, the real bytes are read.
    assert verify_export(_declare_sizes(export, b"\xff\xff\xff\x7f")).ok
    # Declared smaller than the real file: reading stops there and the damage is named.
    report = verify_export(_declare_sizes(export, b"\x05\x00\x00\x00"))
    assert report.readable and not report.ok
    assert "evidence.json cannot be read: it was damaged or changed" in report.problems


def test_one_flipped_byte_anywhere_in_the_file_never_crashes_the_check(export: bytes) -> None:
    for at in range(0, len(export), max(1, len(export) // 300)):
        raw = bytearray(export)
        raw[at] ^= 0x55
        report = verify_export(bytes(raw))
        assert isinstance(report.ok, bool)
        if report.ok:  # only bytes no reader looks at (e.g. a ZIP's timestamps) may pass
            assert report.head == _chain()[-1]["hash"]


def test_every_label_exists_in_every_shipped_locale(texts: Texts) -> None:
    for locale in texts.locales:
        labels = Labels.from_catalog(
            lambda key, loc=locale: texts.raw(loc, key) or pytest.fail(f"{loc}: no {key}"),
            FIELD_LABELS["en"],
        )
        assert labels.title
    with pytest.raises(ValueError, match="no label for field"):
        Labels.from_catalog(lambda key: "x", {"what": "What"})
