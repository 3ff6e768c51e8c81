"""The export a person hands to an advocate, lawyer or police, and its verification.

An export is a ZIP (optionally AES-256 encrypted, which 7-Zip, WinZip and Keka open) holding:

    evidence.pdf                 the log for people to read (see pdf.py)
    evidence.json                {"format", "exported_at", "head", "records", "attachments", "pdf"}
    attachments/<id>-<name>      the original bytes of each attachment
    MANIFEST.txt                 "<sha256>  <path>" per file, then "chain-head <hash>"
    MANIFEST.sig                 the organization's Ed25519 signature of MANIFEST.txt (signing.py)
    MANIFEST.tsr                 a TSA's RFC 3161 time stamp on MANIFEST.txt (timestamps.py)

The last two are there only when the organization set a signing key and a TSA. "pdf" in
evidence.json holds what the PDF was made with (its labels, the signer), so a checker can make
the PDF again from the records and compare it byte for byte: a PDF swapped for another cannot
pass, even with a manifest made again for it.

`verify_export` checks the manifest against the files, the record chain, every attachment's
bytes against the fingerprint recorded when it was received, the signature (against the
organization's public key, when given), the time stamp, and the PDF, and names what was altered.
It reads hostile files: every failure becomes a line in the report, and it reads at most
`MAX_READ` bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetybot.vault.evidence import GENESIS, Kind, current_notes, verify_chain
from safetybot.vault.pdf import COLUMNS, Labels, render_pdf
from safetybot.vault.signing import fingerprint, public_bytes, read_signature, sign_manifest
from safetybot.vault.timestamps import Stamp, TimestampError, check_timestamp

__all__ = [
    "FORMAT",
    "MAX_READ",
    "AttachmentFile",
    "Export",
    "Labels",
    "VerifyReport",
    "build_export",
    "make_export",
    "verify_export",
]

FORMAT = "safetybot-evidence/2"
OLD_FORMAT = "safetybot-evidence/1"  # before signatures and the PDF check: still read
MAX_READ = 200 * 1024 * 1024  # bytes read from one export, compressed or not
COMMAND = "safetybot verify-export"
JSON_NAME, PDF_NAME, MANIFEST_NAME = "evidence.json", "evidence.pdf", "MANIFEST.txt"
SIGNATURE_NAME, STAMP_NAME = "MANIFEST.sig", "MANIFEST.tsr"
# Read from the installed metadata, so that fpdf2 itself loads only when a PDF is made.
RENDERER = f"fpdf2 {metadata.version('fpdf2')}"
# A time stamp this much older than the export's own time says the export was back-dated.
_CLOCK_SLACK = dt.timedelta(minutes=10)
_MAX_JSON = 64 * 1024 * 1024
_MAX_FILES = 10_000
_MAX_PROBLEMS = 200
_AFTER = (SIGNATURE_NAME, STAMP_NAME)  # made from MANIFEST.txt, so not listed in it
_SMALL = frozenset({JSON_NAME, MANIFEST_NAME, SIGNATURE_NAME, STAMP_NAME})
_STAMP = re.compile(r"\A(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z\Z")
_MANIFEST_LINE = re.compile(r"\A([0-9a-f]{64})  (\S.*)\Z")
_HEAD_LINE = re.compile(r"\Achain-head ([0-9a-f]{64})\Z")
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_UNSAFE_SHOWN = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


@dataclass(frozen=True)
class AttachmentFile:
    """The original bytes of one attachment, as the vault holds them."""

    id: int
    name: str
    type: str
    data: bytes


@dataclass(frozen=True)
class VerifyReport:
    """What `verify_export` found; `readable` is False when nothing could be checked."""

    ok: bool
    problems: tuple[str, ...]
    notes: int
    records: int
    attachments: int
    head: str
    readable: bool = True
    encrypted: bool = False
    signer: str = ""  # the fingerprint of a valid signature's key; "" when there is none
    key_checked: bool = False  # that key is the one the checker was given
    stamp: Stamp | None = None
    pdf_checked: bool = False  # the PDF was made again from the records and is the same
    remarks: tuple[str, ...] = ()  # what was not checked, and why (not problems)


@dataclass(frozen=True)
class Export:
    """An export's bytes, and what proves it: a signature, a time stamp, or a TSA that failed."""

    data: bytes
    signed: bool = False
    stamped: bool = False
    stamp_failed: bool = False


def build_export(
    records: Sequence[Mapping[str, Any]],
    attachments: Sequence[AttachmentFile],
    *,
    labels: Labels,
    exported_at: str,
    password: str | None = None,
    signing_key: Ed25519PrivateKey | None = None,
) -> bytes:
    """The export ZIP for a chain (see make_export), signed when a key is given."""
    made = make_export(
        records,
        attachments,
        labels=labels,
        exported_at=exported_at,
        password=password,
        signing_key=signing_key,
    )
    return made.data


def make_export(
    records: Sequence[Mapping[str, Any]],
    attachments: Sequence[AttachmentFile],
    *,
    labels: Labels,
    exported_at: str,
    password: str | None = None,
    signing_key: Ed25519PrivateKey | None = None,
    timestamp: Callable[[bytes], bytes] | None = None,
) -> Export:
    """The export ZIP for a chain; files no live record lists (a deleted note's) are left out.

    `timestamp` asks a TSA for a time stamp on MANIFEST.txt's bytes; when it raises
    TimestampError the export is made all the same, without one.
    """
    when = _STAMP.match(exported_at)
    if when is None:
        raise ValueError("exported_at must look like 2026-11-21T14:03:00Z")
    if password == "":
        raise ValueError("an export password cannot be empty")
    head = str(records[-1]["hash"]) if records else GENESIS
    listed = {
        item["id"]
        for record in records
        if record.get("kind") in (Kind.NOTE, Kind.EDIT)
        for item in record.get("attachments", ())
    }
    kept = sorted((a for a in attachments if a.id in listed), key=lambda a: a.id)
    # File names show without the password, so an encrypted export keeps them inside only.
    paths = {a.id: _path(a, hide_name=password is not None) for a in kept}
    contents = {a.id: a.data for a in kept}
    signer = fingerprint(public_bytes(signing_key)) if signing_key is not None else ""
    pdf = render_pdf(
        records,
        contents,
        paths,
        labels=labels,
        exported_at=exported_at,
        head=head,
        command=COMMAND,
        signer=signer,
    )
    document = {
        "format": FORMAT,
        "exported_at": exported_at,
        "head": head,
        "records": [dict(r) for r in records],
        "pdf": {"renderer": RENDERER, "signer": signer, "labels": dataclasses.asdict(labels)},
        "attachments": [
            {
                "id": a.id,
                "name": a.name,
                "type": a.type,
                "size": len(a.data),
                "sha256": hashlib.sha256(a.data).hexdigest(),
                "file": paths[a.id],
            }
            for a in kept
        ],
    }
    members = [(JSON_NAME, _json_bytes(document)), (PDF_NAME, pdf)]
    members += [(paths[a.id], a.data) for a in kept]
    manifest = [f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in members]
    manifest.append(f"chain-head {head}")
    manifest_bytes = ("\n".join(manifest) + "\n").encode("utf-8")
    members.append((MANIFEST_NAME, manifest_bytes))
    if signing_key is not None:
        members.append((SIGNATURE_NAME, sign_manifest(signing_key, manifest_bytes)))
    stamped = failed = False
    if timestamp is not None:
        try:
            members.append((STAMP_NAME, timestamp(manifest_bytes)))
            stamped = True
        except TimestampError:
            failed = True  # the export matters more than its time stamp: made without one
    stamp = (
        int(when[1]),
        int(when[2]),
        int(when[3]),
        int(when[4]),
        int(when[5]),
        int(when[6]),
    )
    return Export(
        _zip(members, stamp, password),
        signed=signing_key is not None,
        stamped=stamped,
        stamp_failed=failed,
    )


def verify_export(
    data: bytes,
    password: str | None = None,
    *,
    known_head: str | None = None,
    public_key: bytes | None = None,
    tsa_roots: Sequence[x509.Certificate] = (),
) -> VerifyReport:
    """Check an export; `known_head` is a chain head recorded elsewhere that it must contain.

    `public_key` is the organization's published signing key (32 bytes): the export must be
    signed with it. `tsa_roots` are certificates a time stamp's signer must lead to.
    """
    try:
        archive = _read(data, password)
    except _Unreadable as error:
        return VerifyReport(
            ok=False,
            problems=(str(error),),
            notes=0,
            records=0,
            attachments=0,
            head="",
            readable=False,
            encrypted=error.encrypted,
        )
    check = _Check(archive)
    check.run(known_head, public_key, tsa_roots)
    problems = list(dict.fromkeys(archive.problems + check.problems))  # same line once
    if len(problems) > _MAX_PROBLEMS:
        rest = len(problems) - _MAX_PROBLEMS
        problems = [*problems[:_MAX_PROBLEMS], f"… and {rest} more problems"]
    return VerifyReport(
        ok=not problems,
        problems=tuple(problems),
        notes=check.notes,
        records=check.records,
        attachments=check.attachments,
        head=check.head,
        readable=True,
        encrypted=archive.encrypted,
        signer=check.signer,
        key_checked=check.key_checked,
        stamp=check.stamp,
        pdf_checked=check.pdf_checked,
        remarks=tuple(check.remarks),
    )


# -- building -----------------------------------------------------------------------------------


def _path(attachment: AttachmentFile, *, hide_name: bool) -> str:
    base = re.split(r"[/\\]", attachment.name)[-1]
    name = _UNSAFE.sub("_", base).strip().lstrip(".")
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    if not (suffix.isalnum() and len(suffix) <= 10):
        stem, suffix = name, ""
    if hide_name:
        stem = "file"
    stem = stem[:80].rstrip(". ") or "file"
    return f"attachments/{attachment.id}-{stem}" + (f".{suffix}" if suffix else "")


def _json_bytes(document: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in old data: escapes are still exact JSON
        return json.dumps(document, ensure_ascii=True, indent=2).encode("ascii")


def _zip(
    members: Sequence[tuple[str, bytes]],
    stamp: tuple[int, int, int, int, int, int],
    password: str | None,
) -> bytes:
    buffer = io.BytesIO()
    archive: zipfile.ZipFile
    entry: type[zipfile.ZipInfo] = zipfile.ZipInfo
    if password is None:
        archive = zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED)
    else:
        import pyzipper  # AES ZIP: loaded only for a password-protected export

        aes = pyzipper.AESZipFile(
            buffer, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES
        )
        aes.setpassword(password.encode("utf-8"))
        aes.setencryption(pyzipper.WZ_AES, nbits=256)
        archive, entry = aes, aes.zipinfo_cls  # pyzipper needs its own entry type
    with archive:
        for name, content in members:
            info = entry(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o600 << 16
            archive.writestr(info, content)
    return buffer.getvalue()


# -- reading ------------------------------------------------------------------------------------


class _Unreadable(Exception):
    """Nothing in the file can be checked: not a ZIP, no export, password missing or wrong."""

    def __init__(self, message: str, *, encrypted: bool = False) -> None:
        super().__init__(message)
        self.encrypted = encrypted


@dataclass
class _Archive:
    """What was read: every file's SHA-256, the small files' bytes, and reading problems."""

    hashes: dict[str, str] = field(default_factory=dict)
    texts: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    encrypted: bool = False


def _read(data: bytes, password: str | None) -> _Archive:
    if len(data) > MAX_READ:
        raise _Unreadable(f"the file is larger than the {MAX_READ // 2**20} MB this check reads")
    import pyzipper  # reads plain and AES ZIPs alike; loaded only when an export is checked

    try:
        opened = pyzipper.AESZipFile(io.BytesIO(data))
        infos = [i for i in opened.infolist() if not i.filename.endswith("/")]
    except Exception:  # zipfile raises many types (BadZipFile, ValueError, …) for one cause
        raise _Unreadable("the file is not a ZIP archive, or it is damaged") from None
    result = _Archive(encrypted=any(i.flag_bits & 0x1 for i in infos))
    names = {i.filename for i in infos}
    if len(infos) > _MAX_FILES:
        raise _Unreadable(f"the ZIP holds more than {_MAX_FILES} files; it is not an export")
    if not names & {JSON_NAME, MANIFEST_NAME}:
        raise _Unreadable("the file is not a safetybot export (no evidence.json or MANIFEST.txt)")
    if result.encrypted and password is None:
        raise _Unreadable(
            "the export is protected by a password: give it with --password-file",
            encrypted=True,
        )
    secret = password.encode("utf-8") if password is not None else None
    budget = MAX_READ
    first_locked = True
    with opened:
        for info in infos:
            name = info.filename
            if name in result.hashes:
                result.problems.append(f"the ZIP holds two files named {_shown(name)}")
                continue
            locked = bool(info.flag_bits & 0x1)
            try:
                digest, kept, budget = _digest(opened, info, secret, budget)
            except _Unreadable:
                raise
            except Exception as error:  # bad CRC, HMAC or deflate stream: many types, one cause
                # pyzipper refuses a wrong password with RuntimeError when the file is opened.
                if locked and first_locked and isinstance(error, RuntimeError):
                    raise _Unreadable("the password is wrong", encrypted=True) from None
                result.problems.append(f"{_shown(name)} cannot be read: it was damaged or changed")
                result.hashes[name] = "unreadable"
                continue
            finally:
                first_locked = first_locked and not locked
            result.hashes[name] = digest
            if kept is not None:
                result.texts[name] = kept
    return result


def _digest(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, secret: bytes | None, budget: int
) -> tuple[str, bytes | None, int]:
    # Declared sizes can lie: count what decompression really yields and stop at the budget.
    digest = hashlib.sha256()
    small = info.filename in _SMALL
    # Attachments are kept too: the PDF is made again from them (images are drawn in it).
    keep = small or info.filename.startswith("attachments/")
    kept = bytearray()
    with archive.open(info, pwd=secret) as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            budget -= len(chunk)
            if budget < 0:
                raise _Unreadable(
                    f"the export holds more than the {MAX_READ // 2**20} MB this check reads "
                    f"(at {info.filename})"
                )
            digest.update(chunk)
            if keep:
                kept += chunk
                if small and len(kept) > _MAX_JSON:
                    raise _Unreadable(f"{info.filename} is too large to be an export's")
    return digest.hexdigest(), (bytes(kept) if keep else None), budget


# -- checking -----------------------------------------------------------------------------------


class _Check:
    """The checks of one archive, collecting problems and what was counted."""

    def __init__(self, archive: _Archive) -> None:
        self.archive = archive
        self.problems: list[str] = []
        self.notes = 0
        self.records = 0
        self.attachments = 0
        self.head = ""
        self.signer = ""
        self.key_checked = False
        self.stamp: Stamp | None = None
        self.pdf_checked = False
        self.remarks: list[str] = []
        self.manifest_hashes: dict[str, str] = {}

    def run(
        self,
        known_head: str | None,
        public_key: bytes | None = None,
        tsa_roots: Sequence[x509.Certificate] = (),
    ) -> None:
        """Manifest, signature and time stamp, then evidence.json and its chain, heads and PDF."""
        manifest_head = self.manifest()
        self.signature(public_key)
        document = self.document()
        self.timestamp(tsa_roots, document)
        if document is None:
            return
        records = document.get("records")
        listed = document.get("attachments")
        if not isinstance(records, list) or not isinstance(listed, list):
            self.problems.append("evidence.json has no list of records and attachments")
            return
        hashes = self.attachment_hashes(listed)
        before = len(self.problems)
        self.problems += [str(p) for p in verify_chain(records, hashes)]
        entries = [r for r in records if isinstance(r, Mapping)]
        self.records = len(records)
        self.notes = len(current_notes(entries))
        last = entries[-1].get("hash") if entries else GENESIS
        head = document.get("head")
        self.head = head if isinstance(head, str) else ""
        if head != last:
            self.problems.append(
                "the chain head in evidence.json is not the last record's fingerprint: "
                "records were removed from or added to the end"
            )
        if manifest_head is not None and manifest_head != head:
            self.problems.append("the chain head in MANIFEST.txt differs from evidence.json's")
        if known_head is not None and not any(r.get("hash") == known_head for r in entries):
            self.problems.append(
                f"no record has the fingerprint {known_head}: the chain was rewritten, "
                "or this export is from another vault"
            )
        if len(self.problems) == before:  # the PDF is made again from sound records only
            self.pdf(document, entries, listed)

    def signature(self, public_key: bytes | None) -> None:
        """Check MANIFEST.sig against MANIFEST.txt, and its key against the one given."""
        raw = self.archive.texts.get(SIGNATURE_NAME)
        manifest = self.archive.texts.get(MANIFEST_NAME)
        if raw is None:
            if public_key is not None:
                self.problems.append(
                    "the export is not signed (it has no MANIFEST.sig), so nothing shows that "
                    "the organization's bot made it: it may have been made or rebuilt elsewhere"
                )
            else:
                self.remarks.append("The export is not signed.")
            return
        signature = read_signature(raw)
        if signature is None:
            self.problems.append("MANIFEST.sig is damaged or is not an export's signature")
            return
        if manifest is None or not signature.verifies(manifest):
            self.problems.append(
                "MANIFEST.txt does not match its signature (MANIFEST.sig): files were changed, "
                "added or removed after the export was signed"
            )
            return
        self.signer = signature.fingerprint  # a valid signature: whose key is checked next
        if public_key is not None and signature.public_key != public_key:
            self.problems.append(
                f"the export was signed with another key (fingerprint {signature.fingerprint}), "
                f"not the one given (fingerprint {fingerprint(public_key)}): that organization's "
                "bot did not make it"
            )
            return
        self.key_checked = public_key is not None

    def timestamp(
        self, roots: Sequence[x509.Certificate], document: Mapping[str, Any] | None
    ) -> None:
        """Check MANIFEST.tsr against MANIFEST.txt, and against the export's own time."""
        raw = self.archive.texts.get(STAMP_NAME)
        manifest = self.archive.texts.get(MANIFEST_NAME)
        if raw is None or manifest is None:
            return
        stamp = check_timestamp(raw, manifest, roots)
        if stamp.problem is not None:
            self.problems.append(stamp.problem)
            return
        self.stamp = stamp
        made = _moment(document.get("exported_at") if document is not None else None)
        if made is not None and stamp.time < made - _CLOCK_SLACK:
            self.problems.append(
                f"the time stamp ({stamp.time:%Y-%m-%d %H:%M:%S} UTC) is older than the time "
                "the export says it was made: its time was changed"
            )

    def pdf(
        self,
        document: Mapping[str, Any],
        records: Sequence[Mapping[str, Any]],
        listed: Sequence[object],
    ) -> None:
        """Make the PDF again from the records and compare it with evidence.pdf."""
        if document.get("format") == OLD_FORMAT:
            self.remarks.append(
                "This export was made by an older safetybot: its PDF was not compared with "
                "the records."
            )
            return
        present = self.archive.hashes.get(PDF_NAME)
        if present is None or present != self.manifest_hashes.get(PDF_NAME, present):
            return  # already named: missing, unreadable or not the manifest's
        made = document.get("pdf")
        labels = _labels(made.get("labels")) if isinstance(made, Mapping) else None
        signer = made.get("signer") if isinstance(made, Mapping) else None
        exported_at = document.get("exported_at")
        if labels is None or not isinstance(signer, str) or not isinstance(exported_at, str):
            self.problems.append(
                "evidence.json does not say how its PDF was made, so the PDF cannot be compared "
                "with the records: it was changed"
            )
            return
        if signer and SIGNATURE_NAME not in self.archive.hashes:
            self.problems.append(
                "the PDF says the export was signed, but it has no signature (MANIFEST.sig): "
                "the signature was removed"
            )
        contents: dict[int, bytes] = {}
        paths: dict[int, str] = {}
        for item in listed:
            if isinstance(item, Mapping) and isinstance(item.get("id"), int):
                path = item.get("file")
                if isinstance(path, str) and path in self.archive.texts:
                    contents[item["id"]] = self.archive.texts[path]
                    paths[item["id"]] = path
        try:
            again = render_pdf(
                records,
                contents,
                paths,
                labels=labels,
                exported_at=exported_at,
                head=str(document.get("head")),
                command=COMMAND,
                signer=signer,
            )
        except Exception:  # hostile labels or records the bot never writes: cannot be made
            again = b""
        if hashlib.sha256(again).hexdigest() == self.archive.hashes[PDF_NAME]:
            self.pdf_checked = True
            return
        problem = (
            "evidence.pdf is not the PDF these records make: it was replaced or changed, so "
            "what it shows may differ from the records"
        )
        renderer = made.get("renderer") if isinstance(made, Mapping) else None
        if renderer != RENDERER:
            problem += f" (it says it was made with {_shown(str(renderer))}; this check has "
            problem += f"{RENDERER}: check it with that version too)"
        self.problems.append(problem)

    def manifest(self) -> str | None:
        """Check every file against MANIFEST.txt; return the chain head it states."""
        hashes = self.archive.hashes
        raw = self.archive.texts.get(MANIFEST_NAME)
        if raw is None:
            self.problems.append("MANIFEST.txt is missing")
            return None
        listed: dict[str, str] = {}
        head: str | None = None
        lines = raw.decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for number, line in enumerate(lines, start=1):
            entry, chain = _MANIFEST_LINE.match(line), _HEAD_LINE.match(line)
            if entry and entry[2] not in listed and head is None:
                listed[entry[2]] = entry[1]
            elif chain and head is None and number == len(lines):
                head = chain[1]
            else:
                self.problems.append(f"MANIFEST.txt line {number} is not as the export wrote it")
        self.manifest_hashes = listed
        if head is None:
            self.problems.append("MANIFEST.txt has no chain-head line at its end")
        for path, expected in listed.items():
            if path not in hashes:
                self.problems.append(
                    f"{_shown(path)} is listed in MANIFEST.txt but missing from the ZIP"
                )
            elif hashes[path] != expected and hashes[path] != "unreadable":
                self.problems.append(
                    f"{_shown(path)} does not match its fingerprint in MANIFEST.txt"
                )
        for path in sorted(set(hashes) - set(listed) - {MANIFEST_NAME, *_AFTER}):
            self.problems.append(
                f"{_shown(path)} is in the ZIP but not in MANIFEST.txt: it was added"
            )
        for required in (JSON_NAME, PDF_NAME):
            if required not in listed and required not in hashes:
                self.problems.append(f"{required} is missing")
        order = list(listed)
        if order != sorted(order, key=_manifest_order):
            self.problems.append("MANIFEST.txt lists its files in a changed order")
        return head

    def document(self) -> dict[str, Any] | None:
        """evidence.json parsed, or None after naming why it cannot be."""
        raw = self.archive.texts.get(JSON_NAME)
        if raw is None:
            if JSON_NAME not in self.archive.hashes:
                self.problems.append("evidence.json is missing")
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.problems.append("evidence.json is not valid UTF-8: it was changed")
            text = raw.decode("utf-8", "replace")  # still check the chain, to name the entry
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            self.problems.append(f"evidence.json is damaged {_near(text, error.pos)}")
            return None
        except (ValueError, RecursionError):  # absurd numbers or nesting: hostile, not ours
            self.problems.append("evidence.json is not an export's JSON")
            return None
        if not isinstance(document, dict):
            self.problems.append("evidence.json is not an export's JSON")
            return None
        if document.get("format") not in (FORMAT, OLD_FORMAT):
            self.problems.append(f"evidence.json is not in the format {FORMAT}")
        return document

    def attachment_hashes(self, listed: Sequence[object]) -> dict[int, str]:
        """Attachment id -> SHA-256 of the bytes present, for the chain check."""
        present: dict[int, str] = {}
        files: set[str] = set()
        for item in listed:
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), int):
                self.problems.append("evidence.json lists an attachment in an unknown form")
                continue
            path = item.get("file")
            if isinstance(path, str) and path in self.archive.hashes:
                present[item["id"]] = self.archive.hashes[path]
                files.add(path)
        stray = [p for p in self.archive.hashes if p.startswith("attachments/") and p not in files]
        self.problems += [f"{_shown(p)} is not listed in evidence.json" for p in sorted(stray)]
        self.attachments = len(files)
        return present


def _labels(value: object) -> Labels | None:
    """Labels as evidence.json keeps them, or None when they are not in that form."""
    if not isinstance(value, Mapping):
        return None
    names = [f.name for f in dataclasses.fields(Labels)]
    if set(value) != set(names):
        return None
    columns, fields = value.get("columns"), value.get("fields")
    if not isinstance(columns, Mapping) or set(columns) != set(COLUMNS):
        return None
    answers = value.get("answers")
    if not isinstance(fields, Mapping) or not isinstance(answers, Mapping):
        return None
    flat = [value[n] for n in names if n not in ("columns", "fields", "answers")]
    words = [*flat, *columns.values(), *fields.keys(), *fields.values()]
    words += [*answers.keys(), *answers.values()]
    if not all(isinstance(word, str) for word in words):
        return None
    return Labels(**{n: value[n] for n in names})


def _moment(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or _STAMP.match(value) is None:
        return None
    return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def _manifest_order(path: str) -> tuple[int, int, str]:
    if path == JSON_NAME:
        return (0, 0, path)
    if path == PDF_NAME:
        return (1, 0, path)
    number = re.match(r"attachments/(\d+)-", path)
    return (2, int(number[1]) if number else 0, path)


def _near(text: str, position: int) -> str:
    # Name the record the damage is in, found from the last record number before it.
    numbers = re.findall(r'"seq":\s*(\d+)', text[:position])
    if numbers:
        return f"inside record {numbers[-1]}"
    line = text.count("\n", 0, position) + 1
    return f"at line {line}"


def _shown(path: str) -> str:
    # ZIP entry names come from the file: one line, bounded, whatever they hold.
    flat = _UNSAFE_SHOWN.sub("?", path)
    return flat if len(flat) <= 120 else flat[:119] + "…"
