"""An export others can verify: the organization's signing key, a TSA's time stamp, the PDF
checked against the records, and the three attacks that passed before (issue 18, item 3)."""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import io
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdf
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetybot.cli import main
from safetybot.core.service import Service
from safetybot.errors import ConfigError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.ops.config import Config
from safetybot.store import Store
from safetybot.vault.evidence import GENESIS, Kind, make_record
from safetybot.vault.export import build_export, make_export, verify_export
from safetybot.vault.signing import (
    fingerprint,
    new_signing_key_file,
    public_bytes,
    shown_fingerprint,
)
from safetybot.vault.timestamps import request_timestamp
from tests.conftest import FAST_VAULT, Chat, RecordingFrontEnd
from tests.fake_tsa import FakeTSA, serve
from tests.test_export import EXPORTED, FILES, _chain, _labels, _members

KEY = Ed25519PrivateKey.generate()
PUBLIC = public_bytes(KEY)


@pytest.fixture
def labels(texts: Texts) -> Any:
    return _labels(texts, "en")


def _signed(labels: Any, records: list[dict[str, Any]] | None = None) -> bytes:
    chain = _chain() if records is None else records
    return build_export(chain, FILES, labels=labels, exported_at=EXPORTED, signing_key=KEY)


def _rezip(data: bytes, change: Callable[[dict[str, bytes]], None]) -> bytes:
    members = _members(data)
    change(members)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _manifest_again(members: dict[str, bytes]) -> None:
    """What a forger does after changing files: write MANIFEST.txt again to match them."""
    import hashlib

    lines = members["MANIFEST.txt"].decode().splitlines()
    again = []
    for line in lines:
        if line.startswith("chain-head "):
            head = json.loads(members["evidence.json"])["head"]
            again.append(f"chain-head {head}")
        else:
            name = line.split("  ", 1)[1]
            again.append(f"{hashlib.sha256(members[name]).hexdigest()}  {name}")
    members["MANIFEST.txt"] = ("\n".join(again) + "\n").encode()


def _pdf_text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


# -- the key --------------------------------------------------------------------------------------


def test_keygen_signing_writes_a_private_key_file_and_prints_what_to_publish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "signing.key"
    assert main(["keygen", "--signing", "--out", str(path)], env={}) == 0
    out = capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert f"SAFETYBOT_SIGNING_KEY_FILE={path}" in out
    # The same public key and fingerprint, printed again from the setting by `signing-key`.
    env = {"SAFETYBOT_SIGNING_KEY_FILE": str(path), "SAFETYBOT_DATA_DIR": str(tmp_path)}
    assert main(["signing-key"], env=env) == 0
    again = capsys.readouterr().out
    public = again.split("Public key (Ed25519, base64): ")[1].split()[0]
    assert public in out
    assert shown_fingerprint(fingerprint(base64.b64decode(public))) in again
    # An existing key is never replaced: its exports would stop checking.
    before = path.read_bytes()
    assert main(["keygen", "--signing", "--out", str(path)], env={}) == 1
    assert "already exists" in capsys.readouterr().err and path.read_bytes() == before


def test_keygen_signing_to_stdout_gives_the_key_alone_for_a_secrets_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keygen", "--signing", "--out", "-"], env={}) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("-----BEGIN PRIVATE KEY-----") and "Public key" in printed.err
    (tmp_path / "signing_key").write_text(printed.out)
    env = {"SAFETYBOT_SIGNING_KEY_FILE": "signing_key", "SAFETYBOT_DATA_DIR": str(tmp_path)}
    config = Config.from_mapping(env, cwd=tmp_path)
    assert config.vault.signing_key is not None
    public = base64.b64encode(public_bytes(config.vault.signing_key)).decode()
    assert public in printed.err


def test_signing_key_without_a_key_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["signing-key"], env={"SAFETYBOT_DATA_DIR": str(tmp_path)}) == 2
    assert "keygen --signing" in capsys.readouterr().err


def test_a_file_that_is_not_a_signing_key_stops_the_bot_naming_the_setting(
    tmp_path: Path,
) -> None:
    (tmp_path / "k").write_text("not a key\n")
    with pytest.raises(ConfigError, match="SAFETYBOT_SIGNING_KEY_FILE"):
        Config.from_mapping({"SAFETYBOT_SIGNING_KEY_FILE": "k"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="SAFETYBOT_TSA_URL"):
        Config.from_mapping({"SAFETYBOT_TSA_URL": "ftp://tsa.example"}, cwd=tmp_path)
    new_signing_key_file(tmp_path / "good.key")
    config = Config.from_mapping(
        {"SAFETYBOT_SIGNING_KEY_FILE": "good.key", "SAFETYBOT_TSA_URL": "http://tsa.example/"},
        cwd=tmp_path,
    )
    assert config.vault.signing_key is not None and config.vault.tsa_url
    assert "PRIVATE" not in repr(config) and "signing_key" not in repr(config.vault)


# -- signed exports -------------------------------------------------------------------------------


def test_a_signed_export_checks_against_the_organization_s_key(labels: Any) -> None:
    data = _signed(labels)
    members = _members(data)
    assert "MANIFEST.sig" in members
    signature = json.loads(members["MANIFEST.sig"])
    assert signature["fingerprint"] == fingerprint(PUBLIC)
    report = verify_export(data, public_key=PUBLIC)
    assert report.ok and report.key_checked and report.pdf_checked, report.problems
    # Without the key the signature is still checked, and its fingerprint given to compare.
    alone = verify_export(data)
    assert alone.ok and alone.signer == fingerprint(PUBLIC) and not alone.key_checked
    text = _pdf_text(members["evidence.pdf"])
    assert shown_fingerprint(fingerprint(PUBLIC)) in text
    assert "does not show that the events it describes happened" in text


def test_with_no_key_exports_work_as_before_and_say_they_are_not_signed(labels: Any) -> None:
    data = build_export(_chain(), FILES, labels=labels, exported_at=EXPORTED)
    assert "MANIFEST.sig" not in _members(data)
    report = verify_export(data)
    assert report.ok and report.pdf_checked and not report.signer
    assert "The export is not signed." in report.remarks
    assert "This export is not signed" in _pdf_text(_members(data)["evidence.pdf"])
    # Checked against an organization's key, an unsigned export fails.
    against = verify_export(data, public_key=PUBLIC)
    assert not against.ok and "the export is not signed" in against.problems[0]


def test_verify_export_takes_the_published_key_or_the_configured_one(
    labels: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.zip"
    path.write_bytes(_signed(labels))
    published = base64.b64encode(PUBLIC).decode()
    assert main(["verify-export", str(path), "--signing-key", published], env={}) == 0
    out = capsys.readouterr().out
    assert "Signed with the organization's key you gave" in out
    assert "No check can show that the events described happened" in out
    other = base64.b64encode(public_bytes(Ed25519PrivateKey.generate())).decode()
    assert main(["verify-export", str(path), "--signing-key", other], env={}) == 1
    assert "signed with another key" in capsys.readouterr().out
    assert main(["verify-export", str(path), "--signing-key", "nope"], env={}) == 2
    assert "not a public key" in capsys.readouterr().err
    key_file = tmp_path / "org.key"
    new_signing_key_file(key_file)  # the operator's own key is not the one that signed this
    env = {"SAFETYBOT_SIGNING_KEY_FILE": str(key_file), "SAFETYBOT_DATA_DIR": str(tmp_path)}
    assert main(["verify-export", str(path)], env=env) == 1
    assert "signed with another key" in capsys.readouterr().out


# -- the three attacks that passed before ---------------------------------------------------------


def test_a_swapped_pdf_with_a_recomputed_manifest_fails(labels: Any, texts: Texts) -> None:
    forged_pdf = _members(
        build_export([], [], labels=_labels(texts, "en"), exported_at=EXPORTED, signing_key=KEY)
    )["evidence.pdf"]

    def swap(members: dict[str, bytes]) -> None:
        members["evidence.pdf"] = forged_pdf  # a PDF that shows something else
        _manifest_again(members)

    unsigned = build_export(_chain(), FILES, labels=labels, exported_at=EXPORTED)
    report = verify_export(_rezip(unsigned, swap))
    assert not report.ok
    assert any("evidence.pdf is not the PDF these records make" in p for p in report.problems)
    signed = verify_export(_rezip(_signed(labels), swap), public_key=PUBLIC)
    assert not signed.ok
    assert any("does not match its signature" in p for p in signed.problems)
    assert any("evidence.pdf is not the PDF these records make" in p for p in signed.problems)


def test_a_made_up_back_dated_export_fails(labels: Any) -> None:
    # Someone writes a whole new chain, dated a year earlier, and builds an export of it with
    # the code anyone can download: consistent on its own, as before.
    records: list[dict[str, Any]] = []
    for seq in (1, 2):
        records.append(
            make_record(
                seq=seq,
                prev=records[-1]["hash"] if records else GENESIS,
                note=seq,
                kind=Kind.NOTE,
                recorded_at=f"2025-11-0{seq}T10:00:00Z",
                fields={"what": "words the person never wrote"},
            )
        )
    forger = Ed25519PrivateKey.generate()
    for key in (None, forger):
        made = build_export(
            records, [], labels=labels, exported_at="2025-11-03T10:00:00Z", signing_key=key
        )
        assert verify_export(made).ok  # the limit of a hash chain alone
        report = verify_export(made, public_key=PUBLIC)
        assert not report.ok
        said = "the export is not signed" if key is None else "signed with another key"
        assert said in report.problems[0]


def test_a_cut_tail_fails_without_head(labels: Any, texts: Texts) -> None:
    original = _signed(labels)

    def cut(members: dict[str, bytes]) -> None:
        document = json.loads(members["evidence.json"])
        document["records"] = document["records"][:2]  # the last records, gone
        document["head"] = document["records"][-1]["hash"]
        members["evidence.json"] = json.dumps(document, ensure_ascii=False, indent=2).encode()
        shorter = build_export(
            document["records"], FILES, labels=labels, exported_at=EXPORTED, signing_key=KEY
        )
        members["evidence.pdf"] = _members(shorter)["evidence.pdf"]
        _manifest_again(members)

    kept_signature = verify_export(_rezip(original, cut), public_key=PUBLIC)
    assert not kept_signature.ok
    assert "does not match its signature" in kept_signature.problems[0]
    dropped = verify_export(
        _rezip(original, lambda m: (cut(m), m.pop("MANIFEST.sig"))), public_key=PUBLIC
    )
    assert not dropped.ok and "the export is not signed" in dropped.problems[0]
    # With no key given, a dropped signature still shows: the PDF names the key that signed it.
    alone = verify_export(_rezip(original, lambda m: (cut(m), m.pop("MANIFEST.sig"))))
    assert any("the signature was removed" in p for p in alone.problems)


def test_labels_in_evidence_json_cannot_be_swapped_to_change_the_pdf(labels: Any) -> None:
    def relabel(members: dict[str, bytes]) -> None:
        document = json.loads(members["evidence.json"])
        document["pdf"]["labels"]["title"] = "Something else"
        members["evidence.json"] = json.dumps(document, ensure_ascii=False, indent=2).encode()
        _manifest_again(members)

    report = verify_export(_rezip(_signed(labels), relabel))
    assert not report.ok and any("evidence.pdf is not the PDF" in p for p in report.problems)
    damaged = verify_export(
        _rezip(
            _signed(labels),
            lambda m: m.update(
                {
                    "evidence.json": m["evidence.json"].replace(b'"labels"', b'"label"'),
                }
            ),
        )
    )
    assert not damaged.ok


# -- time stamps ----------------------------------------------------------------------------------


async def test_a_time_stamp_from_the_organization_s_tsa_is_checked(
    labels: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tsa = FakeTSA.make()
    async with serve(tsa) as url:
        made = await asyncio.to_thread(
            make_export,
            _chain(),
            FILES,
            labels=labels,
            exported_at=EXPORTED,
            signing_key=KEY,
            timestamp=lambda manifest: request_timestamp(url, manifest),
        )
    assert made.signed and made.stamped and not made.stamp_failed
    assert "MANIFEST.tsr" in _members(made.data)
    report = verify_export(made.data, public_key=PUBLIC, tsa_roots=[tsa.root])
    # EXPORTED is in the past: the stamp is later, never earlier, than the export's own time.
    assert report.ok and report.stamp is not None and report.stamp.trusted, report.problems
    path, root = tmp_path / "e.zip", tmp_path / "root.pem"
    path.write_bytes(made.data)
    root.write_bytes(tsa.root_pem())
    published = base64.b64encode(PUBLIC).decode()
    args = ["verify-export", str(path), "--signing-key", published]
    assert main([*args, "--tsa-ca", str(root)], env={}) == 0
    assert "Time stamp: it existed by" in capsys.readouterr().out
    assert main(args, env={}) == 0
    assert "give the service's root certificate with --tsa-ca" in capsys.readouterr().out
    stranger = tmp_path / "other.pem"
    stranger.write_bytes(FakeTSA.make().root_pem())
    assert main([*args, "--tsa-ca", str(stranger)], env={}) == 1
    assert "the time stamp (MANIFEST.tsr) does not check" in capsys.readouterr().out


async def test_a_time_stamp_for_another_manifest_or_a_back_dated_export_fails(
    labels: Any,
) -> None:
    tsa = FakeTSA.make()
    async with serve(tsa) as url:
        made = await asyncio.to_thread(
            make_export,
            _chain(),
            FILES,
            labels=labels,
            exported_at=EXPORTED,
            timestamp=lambda manifest: request_timestamp(url, manifest),
        )
    stamp = _members(made.data)["MANIFEST.tsr"]
    other = build_export(_chain()[:2], FILES, labels=labels, exported_at=EXPORTED)
    moved = _rezip(other, lambda m: m.update({"MANIFEST.tsr": stamp}))
    report = verify_export(moved, tsa_roots=[tsa.root])
    assert "the time stamp (MANIFEST.tsr) is for another manifest" in report.problems[0]
    # An export claiming a time after its time stamp: its date was moved.
    behind = dataclasses.replace(tsa, now=tsa.now.replace(year=tsa.now.year - 2))
    async with serve(behind) as url:
        stale = await asyncio.to_thread(
            make_export,
            _chain(),
            FILES,
            labels=labels,
            exported_at=EXPORTED,
            timestamp=lambda manifest: request_timestamp(url, manifest),
        )
    found = verify_export(stale.data).problems
    assert any("is older than the time the export says it was made" in p for p in found)


@pytest.mark.parametrize("mode", ["error", "garbage", "other", "slow"])
async def test_a_tsa_that_fails_leaves_a_complete_export_without_a_time_stamp(
    labels: Any, mode: str
) -> None:
    tsa = FakeTSA.make()
    tsa.mode = mode
    async with serve(tsa) as url:
        made = await asyncio.to_thread(
            make_export,
            _chain(),
            FILES,
            labels=labels,
            exported_at=EXPORTED,
            signing_key=KEY,
            timestamp=lambda manifest: request_timestamp(url, manifest, timeout=0.5),
        )
    assert made.stamp_failed and not made.stamped and made.signed
    assert "MANIFEST.tsr" not in _members(made.data)
    assert verify_export(made.data, public_key=PUBLIC).ok


# -- what the person reads ------------------------------------------------------------------------


async def _export_caption(
    store: Store,
    keyring: Any,
    texts: Texts,
    directory: Directory,
    front: RecordingFrontEnd,
    vault: Any,
    locale: str = "en",
) -> tuple[str, bytes]:
    service = Service(store, keyring, texts, directory, vault)
    chat = Chat(service, front)
    chat.language = locale
    await chat.turn_on_vault()
    await chat.press("v:new")
    await chat.say("He said he would post the video at 9pm")
    await chat.press("v:skip")
    await chat.say("Instagram")
    await chat.press("v:save")
    await chat.press("v:home")
    await chat.press("v:x")
    await chat.press("v:xn")
    document = front.calls[-1]
    assert document.kind == "document" and document.message and document.data
    caption = " ".join(render(document.message.markdown, Format.PLAIN))
    return caption, document.data


async def test_the_person_is_told_what_a_signed_time_stamped_export_shows(
    store: Store,
    keyring: Any,
    texts: Texts,
    directory: Directory,
    front: RecordingFrontEnd,
) -> None:
    tsa = FakeTSA.make()
    async with serve(tsa) as url:
        vault = dataclasses.replace(FAST_VAULT, signing_key=KEY, tsa_url=url)
        caption, data = await _export_caption(store, keyring, texts, directory, front, vault)
    assert "this service's bot made it, and nothing in it has changed since" in caption
    assert "confirmed that the file existed at this time" in caption
    assert "that what your notes describe happened, or who sent the messages" in caption
    assert verify_export(data, public_key=PUBLIC, tsa_roots=[tsa.root]).ok


async def test_a_failed_tsa_is_said_calmly_and_the_file_still_comes(
    store: Store,
    keyring: Any,
    texts: Texts,
    directory: Directory,
    front: RecordingFrontEnd,
) -> None:
    tsa = FakeTSA.make()
    tsa.mode = "error"
    async with serve(tsa) as url:
        vault = dataclasses.replace(FAST_VAULT, signing_key=KEY, tsa_url=url)
        caption, data = await _export_caption(store, keyring, texts, directory, front, vault)
    assert "didn't answer just now" in caption and "the file is complete" in caption
    assert verify_export(data, public_key=PUBLIC).ok


async def test_an_unsigned_export_says_so_in_spanish(
    store: Store,
    keyring: Any,
    texts: Texts,
    directory: Directory,
    front: RecordingFrontEnd,
) -> None:
    caption, _ = await _export_caption(store, keyring, texts, directory, front, FAST_VAULT, "es")
    assert "No está firmado" in caption
    assert "ni quién envió los mensajes" in caption


def test_the_records_are_not_changed_by_signing(labels: Any) -> None:
    records = _chain()
    before = copy.deepcopy(records)
    _signed(labels, records)
    assert records == before


@pytest.mark.parametrize(
    "signature",
    [b"", b"{}", b"[" * 5000, b'{"format": "safetybot-signature/1"}', b"\xff\xfe", b"x" * 10_000],
)
def test_a_damaged_signature_file_is_named_never_raised(labels: Any, signature: bytes) -> None:
    data = _rezip(_signed(labels), lambda m: m.update({"MANIFEST.sig": signature}))
    report = verify_export(data, public_key=PUBLIC)
    assert report.readable and not report.ok
    assert "MANIFEST.sig is damaged or is not an export's signature" in report.problems


def test_pdf_labels_of_the_wrong_shape_are_named(labels: Any) -> None:
    def relabel(members: dict[str, bytes]) -> None:
        document = json.loads(members["evidence.json"])
        document["pdf"]["labels"]["columns"] = ["not", "a", "mapping"]
        members["evidence.json"] = json.dumps(document, ensure_ascii=False, indent=2).encode()
        _manifest_again(members)

    report = verify_export(_rezip(_signed(labels), relabel))
    assert any("does not say how its PDF was made" in p for p in report.problems)
