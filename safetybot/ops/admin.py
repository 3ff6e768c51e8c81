"""Operator commands: backup, restore, purge, stats, migrate, rotate-key, keygen, check-locales
and verify-export.

Those on the data folder print counts and file names only: never an id, a pseudonym or anything
about a person. Backup, purge and stats work while the bot runs; restore, migrate and rotate-key
take the run lock, so they refuse while it does. Verify-export needs no settings: advocates run it
on an export they were given.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetybot.errors import CryptoError, StoreError
from safetybot.ops.backup import (
    KEYS_KEPT,
    RunLock,
    backup_database,
    describe_database,
    keys_file,
    restore_database,
)
from safetybot.ops.config import Config
from safetybot.ops.preflight import check_words
from safetybot.store import MIGRATIONS, Store
from safetybot.vault.crypto import Keyring, new_master_key, parse_master_key
from safetybot.wiring import open_keyring

if TYPE_CHECKING:
    from safetybot.vault.export import VerifyReport

__all__ = [
    "backup",
    "check_locales",
    "keygen",
    "keygen_signing",
    "migrate",
    "purge",
    "report",
    "restore",
    "rotate_key",
    "signing_key",
    "stats",
    "verify_export_file",
]

_DAY = 86_400


def backup(config: Config, target: Path, out: TextIO) -> int:
    """Copy the live database to `target` (a new file), still encrypted."""
    info = backup_database(config.database, target)
    print(
        f"Backed up {config.database} to {target} ({info.size} bytes, schema {info.schema}), "
        f"and its people's wrapped data keys to {keys_file(target)}. Restoring needs the newest "
        f"keys file; only the newest {KEYS_KEPT} are kept, so a person erased since is gone from "
        "every backup once that many more are made. Keep the master key apart from them.",
        file=out,
    )
    return 0


def restore(
    config: Config, source: Path, force: bool, out: TextIO, keys: Path | None = None
) -> int:
    """Replace the database with a backup, after checking it; refuses while the bot runs."""
    info = describe_database(source)
    if info.ok and config.master_key is not None and info.pseudonym_key is not None:
        try:
            Keyring(config.master_key).with_stored_pseudonym_key(info.pseudonym_key)
        except CryptoError:
            raise StoreError(
                f"{source} was made under a different master key than SAFETYBOT_MASTER_KEY; "
                "nothing was changed"
            ) from None
    with RunLock(config.data_dir):
        done = restore_database(source, config.database, force=force, keys=keys)
    restored = done.info
    print(f"Restored {source} to {config.database} (schema {restored.schema}).", file=out)
    if done.keys is not None:
        print(
            f"Data keys from {done.keys}; {done.left_out} people erased since the backup "
            "were left out.",
            file=out,
        )
    if restored.schema < len(MIGRATIONS):
        print("Run `safetybot migrate` (or start the bot) to bring it up to date.", file=out)
    if config.master_key is None:
        print("SAFETYBOT_MASTER_KEY is not set, so the key was not checked against it.", file=out)
    return 0


async def purge(config: Config, out: TextIO, now: float | None = None) -> int:
    """Erase everyone inactive for longer than the retention limit, now."""
    store = await Store.open(config.database, create=False, migrate=False)
    try:
        today = int((time.time() if now is None else now) // _DAY)
        people = await store.inactive_people(today - config.retention_days)
        for pseudonym in people:
            await store.erase_person(pseudonym)  # shreds the wrapped key first
    finally:
        await store.close()
    print(
        f"Erased {len(people)} people inactive for more than {config.retention_days} days.",
        file=out,
    )
    return 0


async def stats(config: Config, out: TextIO, now: float | None = None) -> int:
    """Print counts only: people, active in the last 7 days, vaults, notes, files."""
    store = await Store.open(config.database, create=False, migrate=False)
    try:
        today = int((time.time() if now is None else now) // _DAY)
        counts = await store.counts(active_since_day=today - 6)
    finally:
        await store.close()
    rows = (
        ("people", counts["people"]),
        ("active in the last 7 days", counts["active"]),
        ("vaults (private notes turned on)", counts["vaults"]),
        ("notes (records, with edits and deletions)", counts["records"]),
        ("files in notes", counts["files"]),
    )
    for label, number in rows:
        print(f"{label}: {number}", file=out)
    return 0


async def migrate(config: Config, out: TextIO) -> int:
    """Apply the migrations the database lacks and print its schema version."""
    before = describe_database(config.database).schema if config.database.is_file() else 0
    with RunLock(config.data_dir):
        store = await Store.open(config.database)
        try:
            after = await store.schema_version()
        finally:
            await store.close()
    print(f"Schema version {after} ({after - before} migration(s) applied).", file=out)
    return 0


async def rotate_key(config: Config, new_key_file: Path) -> int:
    """Re-wrap every data key and the pseudonym key under a new master key."""
    old = config.require_master_key()
    text = await asyncio.to_thread(new_key_file.read_text, encoding="ascii")
    new = parse_master_key(text, str(new_key_file))
    store = await Store.open(config.database)
    try:
        current = await open_keyring(store, old)
        rotated = Keyring(new, current.pseudonym_key)
        count = await store.rewrap(
            rotated.wrap_pseudonym_key(),
            lambda pseudonym, wrapped: rotated.wrap(current.unwrap(wrapped, pseudonym), pseudonym),
        )
    finally:
        await store.close()
    print(f"Re-wrapped {count} data key(s). Now set SAFETYBOT_MASTER_KEY to the new key.")
    return 0


def keygen(webhook_secret: bool) -> int:
    """Print a new master key (base64 of 32 bytes), or a webhook secret."""
    print(secrets.token_urlsafe(32) if webhook_secret else new_master_key())
    return 0


def keygen_signing(path: Path, out: TextIO) -> int:
    """Write a new export signing key to `path` (0600, never over an existing file); "-": out."""
    from safetybot.vault.signing import new_signing_key_file, private_pem, public_bytes

    if str(path) == "-":  # for `docker run … > secrets/signing_key`: the key alone on stdout
        made = Ed25519PrivateKey.generate()
        out.write(private_pem(made).decode("ascii"))
        _print_public(public_bytes(made), sys.stderr)
        return 0
    try:
        key = new_signing_key_file(path)
    except FileExistsError:
        print(
            f"safetybot: {path} already exists; it was left as it is. Exports signed with it "
            "check only against its public key, so a new key goes in a new file (--out).",
            file=sys.stderr,
        )
        return 1
    except OSError as error:
        print(f"safetybot: cannot write {path} ({error.strerror})", file=sys.stderr)
        return 1
    print(f"Wrote a new export signing key to {path} (readable by this user only).", file=out)
    print(f"Set SAFETYBOT_SIGNING_KEY_FILE={path} and restart the bot.", file=out)
    _print_public(public_bytes(key), out)
    return 0


def signing_key(config: Config, out: TextIO) -> int:
    """Print the signing key's public key and fingerprint, for the organization to publish."""
    from safetybot.vault.signing import public_bytes

    key = config.vault.signing_key
    if key is None:
        print(
            "safetybot: SAFETYBOT_SIGNING_KEY_FILE is not set, so exports are not signed; "
            "make a key with `safetybot keygen --signing`",
            file=sys.stderr,
        )
        return 2
    _print_public(public_bytes(key), out)
    return 0


def _print_public(public: bytes, out: TextIO) -> None:
    import base64

    from safetybot.vault.signing import fingerprint, shown_fingerprint

    encoded = base64.b64encode(public).decode("ascii")
    print(f"Public key (Ed25519, base64): {encoded}", file=out)
    print(f"Fingerprint (SHA-256): {shown_fingerprint(fingerprint(public))}", file=out)
    print(
        "Publish both where people can find them (your website), so anyone can check an "
        f"export with: safetybot verify-export FILE --signing-key {encoded}",
        file=out,
    )


def check_locales(config: Config) -> int:
    """`safetybot check-locales`: print every problem with texts, guides and resources; 1 if any."""
    problems = [str(p) for p in check_words(config)]
    return report(problems, "All texts, guides and resources are complete.")


def report(problems: list[str], all_well: str) -> int:
    """Print each problem and their count (exit status 1), or `all_well` (exit status 0)."""
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(all_well)
    return 0


def verify_export_file(
    path: Path,
    password_file: Path | None,
    head: str | None,
    public_key: bytes | None = None,
    tsa_ca: Path | None = None,
) -> int:
    """Check an export: 0 intact, 1 altered, 2 not an export or the password is wrong."""
    import getpass  # only this command asks for anything, and only at a terminal
    import re

    from cryptography import x509

    from safetybot.vault.export import MAX_READ, verify_export

    if head is not None and not re.fullmatch(r"[0-9a-f]{64}", head.strip().lower()):
        print("safetybot: --head must be a chain head: 64 hex digits", file=sys.stderr)
        return 2
    expected = head.strip().lower() if head is not None else None
    roots: list[x509.Certificate] = []
    try:
        if tsa_ca is not None:
            roots = x509.load_pem_x509_certificates(tsa_ca.read_bytes())
        if path.stat().st_size > MAX_READ:
            print(f"safetybot: {path} is larger than any export this checks", file=sys.stderr)
            return 2
        data = path.read_bytes()
        password = None
        if password_file is not None:
            password = password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        print(f"safetybot: {error.strerror}: {error.filename}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print("safetybot: the password file is not UTF-8 text", file=sys.stderr)
        return 2
    except ValueError:
        print(f"safetybot: {tsa_ca} holds no PEM certificate", file=sys.stderr)
        return 2
    report = verify_export(
        data, password, known_head=expected, public_key=public_key, tsa_roots=roots
    )
    if report.encrypted and not report.readable and password is None and sys.stdin.isatty():
        try:
            password = getpass.getpass("Export password: ")
        except EOFError:
            return 2
        report = verify_export(
            data, password, known_head=expected, public_key=public_key, tsa_roots=roots
        )
    if not report.readable:
        print(f"safetybot: {path}: {'; '.join(report.problems)}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(problem)
    if report.problems:
        print(f"ALTERED: {len(report.problems)} problem(s) found in {path.name}.")
        return 1
    print(
        f"Intact: every file matches MANIFEST.txt and the chain of {report.records} record(s) "
        f"links from first to last ({report.notes} note(s), {report.attachments} attachment(s))."
    )
    if report.pdf_checked:
        print("The PDF is exactly the one these records make.")
    _print_proofs(report)
    print(f"Chain head: {report.head}")
    if expected is None and not report.key_checked:
        print("To rule out a rewritten export, compare the chain head with one kept elsewhere.")
    return 0


def _print_proofs(report: VerifyReport) -> None:
    """What the signature and the time stamp show, and what was not checked."""
    from safetybot.vault.signing import shown_fingerprint

    if report.key_checked:
        print(
            "Signed with the organization's key you gave: its bot made this export, and nothing "
            "in it changed since."
        )
    elif report.signer:
        print(
            "Signed, but not checked against the organization's key: compare this fingerprint "
            "with the one the organization publishes, or give --signing-key."
        )
        print(f"Signing key fingerprint: {shown_fingerprint(report.signer)}")
    stamp = report.stamp
    if stamp is not None:
        when = f"{stamp.time:%Y-%m-%d %H:%M:%S} UTC"
        if stamp.trusted:
            print(f"Time stamp: it existed by {when} (signed by {stamp.tsa}, checked).")
        else:
            print(
                f"Time stamp: it says {when}, by {stamp.tsa or 'an unnamed service'}; who signed "
                "it was not checked: give the service's root certificate with --tsa-ca."
            )
    for remark in report.remarks:
        print(remark)
    print(
        "No check can show that the events described happened, or who sent the messages: "
        "only that this is the record as it was kept."
    )
