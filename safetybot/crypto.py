"""Sealing, key wrapping and pseudonyms: the only module that touches cryptographic primitives.

Every key is 32 bytes. The master key never encrypts data itself: purpose-labelled subkeys are
derived from it with HKDF-SHA256. Each person has a random data key, stored only wrapped
(AES-256-GCM) by the master wrapping subkey, with the person's pseudonym and the purpose bound in
as associated data, so a wrapped key or a sealed blob copied to another row does not open.

Sealed format: version byte 0x01 | 12-byte random nonce | AES-GCM ciphertext and tag.
Every failure (wrong key, wrong owner, wrong purpose, truncated or altered blob) raises CryptoError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from safetybot.errors import ConfigError, CryptoError

__all__ = [
    "KEY_BYTES",
    "Keyring",
    "new_data_key",
    "new_master_key",
    "parse_master_key",
    "seal",
    "unseal",
]

KEY_BYTES = 32
_VERSION = b"\x01"
_NONCE_BYTES = 12


def new_master_key() -> str:
    """Return a fresh master key as base64 text."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def new_data_key() -> bytes:
    """Return a fresh random 32-byte data key."""
    return os.urandom(KEY_BYTES)


def parse_master_key(text: str, setting: str) -> bytes:
    """Decode a base64 master key, naming `setting` in the error if it is not 32 bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{setting} is not valid base64 (run `safetybot keygen`)") from None
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"{setting} must be base64 of {KEY_BYTES} bytes (run `safetybot keygen`)")
    return raw


def _aad(purpose: str, owner: bytes) -> bytes:
    # Length-prefix the purpose so (purpose, owner) pairs can never collide.
    label = purpose.encode("utf-8")
    return _VERSION + len(label).to_bytes(2, "big") + label + owner


def seal(key: bytes, plaintext: bytes, *, owner: bytes, purpose: str) -> bytes:
    """Encrypt `plaintext` under `key`, bound to `owner` and `purpose`."""
    _check_key(key)
    nonce = os.urandom(_NONCE_BYTES)
    return _VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(purpose, owner))


def unseal(key: bytes, blob: bytes, *, owner: bytes, purpose: str) -> bytes:
    """Verify and decrypt a sealed blob; raise CryptoError on any mismatch."""
    _check_key(key)
    if len(blob) < 1 + _NONCE_BYTES + 16 or blob[:1] != _VERSION:
        raise CryptoError("sealed data is malformed")
    nonce, body = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, body, _aad(purpose, owner))
    except InvalidTag:
        raise CryptoError("sealed data does not open") from None


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise CryptoError("key must be 32 bytes")


def _derive(master: bytes, label: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode("ascii")
    ).derive(master)


@dataclass(frozen=True)
class Keyring:
    """Purpose-labelled keys derived from the master key."""

    master: bytes = field(repr=False)
    _pseudonym_key: bytes = field(init=False, repr=False)
    _wrap_key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_key(self.master)
        object.__setattr__(self, "_pseudonym_key", _derive(self.master, "safetybot/pseudonym/v1"))
        object.__setattr__(self, "_wrap_key", _derive(self.master, "safetybot/wrap/v1"))

    def pseudonym(self, transport: str, user_id: str) -> bytes:
        """Return the keyed pseudonym (HMAC-SHA256) of a person on a transport."""
        message = f"{transport}\x00{user_id}".encode()
        return hmac.new(self._pseudonym_key, message, hashlib.sha256).digest()

    def wrap(self, data_key: bytes, owner: bytes) -> bytes:
        """Wrap a person's data key under the master wrapping key."""
        return seal(self._wrap_key, data_key, owner=owner, purpose="data-key")

    def unwrap(self, wrapped: bytes, owner: bytes) -> bytes:
        """Unwrap a person's data key; raise CryptoError if it does not belong to `owner`."""
        key = unseal(self._wrap_key, wrapped, owner=owner, purpose="data-key")
        _check_key(key)
        return key
