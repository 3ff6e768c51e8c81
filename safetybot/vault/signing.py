"""The organization's Ed25519 signing key: making it, reading it, and signing an export's manifest.

The private key is a PEM file (PKCS #8) only the bot's user can read, named by
SAFETYBOT_SIGNING_KEY_FILE. The public key is 32 bytes, shown as base64; its fingerprint is the
SHA-256 of those bytes in hex. The organization publishes both, so anyone can check that an
export was made by its bot and not changed since.

A signed export holds MANIFEST.sig beside MANIFEST.txt: a small JSON object naming the algorithm,
the public key, its fingerprint and the signature of MANIFEST.txt's exact bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from safetybot.errors import ConfigError

__all__ = [
    "SIGNATURE_FORMAT",
    "Signature",
    "fingerprint",
    "load_signing_key",
    "new_signing_key_file",
    "parse_public_key",
    "private_pem",
    "public_bytes",
    "read_signature",
    "shown_fingerprint",
    "sign_manifest",
]

SIGNATURE_FORMAT = "safetybot-signature/1"
_RAW = serialization.Encoding.Raw
_MAX_SIGNATURE_FILE = 4096


@dataclass(frozen=True)
class Signature:
    """What MANIFEST.sig says: the public key it names and the signature of MANIFEST.txt."""

    public_key: bytes
    signature: bytes

    @property
    def fingerprint(self) -> str:
        """The SHA-256 (hex) of the public key it names."""
        return fingerprint(self.public_key)

    def verifies(self, manifest: bytes) -> bool:
        """True when the signature is the named key's over exactly these bytes."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(self.signature, manifest)
        except (InvalidSignature, ValueError):
            return False
        return True


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    """The 32 bytes of a private key's public half."""
    return key.public_key().public_bytes(_RAW, serialization.PublicFormat.Raw)


def fingerprint(public: bytes) -> str:
    """A public key's fingerprint: the SHA-256 of its 32 bytes, in hex."""
    return hashlib.sha256(public).hexdigest()


def shown_fingerprint(hex_digest: str) -> str:
    """A fingerprint in groups of four, easier to read aloud and compare."""
    return " ".join(hex_digest[i : i + 4] for i in range(0, len(hex_digest), 4))


def new_signing_key_file(path: Path) -> Ed25519PrivateKey:
    """Write a new private key to `path` (a new file, 0600); refuse an existing one."""
    key = Ed25519PrivateKey.generate()
    pem = private_pem(key)
    # O_EXCL: a key already in use is never replaced by mistake (its exports would stop checking).
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


def private_pem(key: Ed25519PrivateKey) -> bytes:
    """A private key as its file holds it: PEM, PKCS #8, unencrypted (the file is 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_signing_key(data: bytes, name: str) -> Ed25519PrivateKey:
    """The private key in a PEM file's bytes; ConfigError naming `name` if it is not one."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise ConfigError(
            f"{name} is not a signing key (make one with `safetybot keygen --signing`)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"{name} is not an Ed25519 key (make one with `safetybot keygen --signing`)"
        )
    return key


def parse_public_key(text: str) -> bytes:
    """A public key as `signing-key` prints it (base64 or hex of 32 bytes), or PEM; ValueError."""
    value = text.strip()
    if value.startswith("-----BEGIN"):
        try:
            loaded = serialization.load_pem_public_key(value.encode("ascii", "replace"))
        except (ValueError, TypeError):
            raise ValueError("not a PEM public key") from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise ValueError("not an Ed25519 public key")
        return loaded.public_bytes(_RAW, serialization.PublicFormat.Raw)
    flat = "".join(value.split())
    raw: bytes | None = None
    if len(flat) == 64:
        try:
            raw = bytes.fromhex(flat)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(flat, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64 or hex") from None
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return raw


def sign_manifest(key: Ed25519PrivateKey, manifest: bytes) -> bytes:
    """MANIFEST.sig for a manifest's exact bytes."""
    public = public_bytes(key)
    body = {
        "format": SIGNATURE_FORMAT,
        "algorithm": "Ed25519",
        "signed": "MANIFEST.txt",
        "public_key": base64.b64encode(public).decode("ascii"),
        "fingerprint": fingerprint(public),
        "signature": base64.b64encode(key.sign(manifest)).decode("ascii"),
    }
    return (json.dumps(body, indent=2) + "\n").encode("ascii")


def read_signature(data: bytes) -> Signature | None:
    """MANIFEST.sig read from a possibly hostile file; None when it is not one."""
    if len(data) > _MAX_SIGNATURE_FILE:
        return None
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(body, dict) or body.get("format") != SIGNATURE_FORMAT:
        return None
    if body.get("algorithm") != "Ed25519" or body.get("signed") != "MANIFEST.txt":
        return None
    try:
        public = base64.b64decode(str(body.get("public_key")), validate=True)
        signature = base64.b64decode(str(body.get("signature")), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(public) != 32 or len(signature) != 64:
        return None
    if body.get("fingerprint") != fingerprint(public):
        return None
    return Signature(public, signature)
