"""Sealing, key wrapping and pseudonyms: the only module that touches cryptographic primitives.

Every key is 32 bytes. The master key never encrypts data itself: purpose-labelled subkeys are
derived from it with HKDF-SHA256. Each person has a random data key, stored only wrapped
(AES-256-GCM) by the master wrapping subkey, with the person's pseudonym and the purpose bound in
as associated data, so a wrapped key or a sealed blob copied to another row does not open.

Sealed format: version byte 0x01 | 12-byte random nonce | AES-GCM ciphertext and tag.

A person's evidence vault has an X25519 key pair. Anything can be sealed *to* the vault's public
key at any time (so evidence sent while the vault is locked is still encrypted for it), and only
the private key opens it. The private key is stored wrapped twice: first under a key derived from
the passphrase (Argon2id), then under the person's data key (itself wrapped by the master key).
So the database and the master key together still cannot open a vault without the passphrase.
Box format: version byte 0x02 | 32-byte ephemeral public key | 12-byte nonce | AES-GCM ciphertext.

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from safetybot.errors import ConfigError, CryptoError

__all__ = [
    "KEY_BYTES",
    "KdfParams",
    "Keyring",
    "new_data_key",
    "new_master_key",
    "new_salt",
    "new_vault_keys",
    "open_box",
    "parse_master_key",
    "passphrase_key",
    "seal",
    "seal_to",
    "sha256_hex",
    "unseal",
    "vault_public_key",
]

KEY_BYTES = 32
_VERSION = b"\x01"
_BOX_VERSION = b"\x02"
_NONCE_BYTES = 12
_SALT_BYTES = 16


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


def sha256_hex(data: bytes) -> str:
    """The SHA-256 fingerprint of `data`, as hex."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost; stored with each vault so later config changes do not lock anyone out.

    The default is RFC 9106's second recommended option (64 MiB, 3 passes, 4 lanes): a guess
    costs an attacker 64 MiB for a while, which a list of common passphrases no longer gets past
    in seconds. Vaults made before keep the cost they were made with until a passphrase changes.
    """

    memory_kib: int = 65_536
    iterations: int = 3
    lanes: int = 4

    def to_text(self) -> str:
        """Serialize for storage."""
        return f"argon2id:m={self.memory_kib},t={self.iterations},p={self.lanes}"

    @classmethod
    def from_text(cls, text: str) -> KdfParams:
        """Parse what `to_text` wrote; CryptoError if it is not ours."""
        try:
            name, _, rest = text.partition(":")
            values = dict(part.split("=", 1) for part in rest.split(","))
            if name != "argon2id":
                raise ValueError(name)
            return cls(int(values["m"]), int(values["t"]), int(values["p"]))
        except (ValueError, KeyError):
            raise CryptoError("unknown key derivation") from None


def new_salt() -> bytes:
    """A fresh random salt for a passphrase."""
    return os.urandom(_SALT_BYTES)


def passphrase_key(passphrase: str, salt: bytes, params: KdfParams, owner: bytes) -> bytes:
    """Derive a 32-byte key from a passphrase (Argon2id, then HKDF bound to the owner).

    Deliberately slow: call it off the event loop.
    """
    stretched = Argon2id(
        salt=salt,
        length=KEY_BYTES,
        iterations=params.iterations,
        lanes=params.lanes,
        memory_cost=params.memory_kib,
    ).derive(passphrase.encode("utf-8"))
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=b"safetybot/vault-passphrase/v1" + owner,
    ).derive(stretched)


def new_vault_keys() -> tuple[bytes, bytes]:
    """A fresh vault key pair: (private, public), 32 raw bytes each."""
    private = X25519PrivateKey.generate()
    return _raw_private(private), _raw_public(private.public_key())


def vault_public_key(private: bytes) -> bytes:
    """The public key that belongs to a private vault key."""
    return _raw_public(_load_private(private).public_key())


def seal_to(public: bytes, plaintext: bytes, *, owner: bytes, purpose: str) -> bytes:
    """Encrypt for the holder of the vault's private key; no secret is needed to do it."""
    try:
        recipient = X25519PublicKey.from_public_bytes(public)
    except ValueError:
        raise CryptoError("vault key is malformed") from None
    ephemeral = X25519PrivateKey.generate()
    ephemeral_public = _raw_public(ephemeral.public_key())
    key = _box_key(ephemeral.exchange(recipient), ephemeral_public, public)
    return _BOX_VERSION + ephemeral_public + seal(key, plaintext, owner=owner, purpose=purpose)[1:]


def open_box(private: bytes, blob: bytes, *, owner: bytes, purpose: str) -> bytes:
    """Open what `seal_to` sealed; CryptoError on any mismatch."""
    if len(blob) < 1 + 32 + _NONCE_BYTES + 16 or blob[:1] != _BOX_VERSION:
        raise CryptoError("sealed data is malformed")
    ephemeral_public, body = blob[1:33], blob[33:]
    secret = _load_private(private)
    try:
        shared = secret.exchange(X25519PublicKey.from_public_bytes(ephemeral_public))
    except ValueError:
        raise CryptoError("sealed data does not open") from None
    key = _box_key(shared, ephemeral_public, _raw_public(secret.public_key()))
    return unseal(key, _VERSION + body, owner=owner, purpose=purpose)


def _box_key(shared: bytes, ephemeral_public: bytes, recipient_public: bytes) -> bytes:
    # Both public keys go into the derivation so a box cannot be re-targeted.
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_BYTES,
        salt=None,
        info=b"safetybot/vault-box/v1" + ephemeral_public + recipient_public,
    ).derive(shared)


def _load_private(private: bytes) -> X25519PrivateKey:
    try:
        return X25519PrivateKey.from_private_bytes(private)
    except ValueError:
        raise CryptoError("vault key is malformed") from None


def _raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise CryptoError("key must be 32 bytes")


def _derive(master: bytes, label: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=label.encode("ascii")
    ).derive(master)


@dataclass(frozen=True)
class Keyring:
    """Purpose-labelled keys derived from the master key.

    The pseudonym key is random and stored wrapped by the master key (see store.py), so that
    rotating the master key keeps every pseudonym; without one it is derived from the master.
    """

    master: bytes = field(repr=False)
    pseudonym_key: bytes | None = field(default=None, repr=False)
    _pseudonym: bytes = field(init=False, repr=False)
    _wrap_key: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_key(self.master)
        chosen = self.pseudonym_key or _derive(self.master, "safetybot/pseudonym/v1")
        _check_key(chosen)
        object.__setattr__(self, "_pseudonym", chosen)
        object.__setattr__(self, "_wrap_key", _derive(self.master, "safetybot/wrap/v1"))

    def pseudonym(self, transport: str, user_id: str) -> bytes:
        """Return the keyed pseudonym (HMAC-SHA256) of a person on a transport."""
        message = f"{transport}\x00{user_id}".encode()
        return hmac.new(self._pseudonym, message, hashlib.sha256).digest()

    def wrap(self, data_key: bytes, owner: bytes) -> bytes:
        """Wrap a person's data key under the master wrapping key."""
        return seal(self._wrap_key, data_key, owner=owner, purpose="data-key")

    def unwrap(self, wrapped: bytes, owner: bytes) -> bytes:
        """Unwrap a person's data key; raise CryptoError if it does not belong to `owner`."""
        key = unseal(self._wrap_key, wrapped, owner=owner, purpose="data-key")
        _check_key(key)
        return key

    def seal_address(self, address: str) -> bytes:
        """Seal a chat address under the master key (deletions owed after "forget me")."""
        return seal(self._wrap_key, address.encode(), owner=b"", purpose="owed-address")

    def open_address(self, sealed: bytes) -> str:
        """Open what `seal_address` sealed."""
        return unseal(self._wrap_key, sealed, owner=b"", purpose="owed-address").decode()

    def wrap_pseudonym_key(self) -> bytes:
        """The pseudonym key, wrapped for storage beside the data it names."""
        return seal(self._wrap_key, self._pseudonym, owner=b"", purpose="pseudonym-key")

    def with_stored_pseudonym_key(self, wrapped: bytes) -> Keyring:
        """This keyring with the pseudonym key read from storage (CryptoError: wrong master)."""
        key = unseal(self._wrap_key, wrapped, owner=b"", purpose="pseudonym-key")
        return Keyring(self.master, key)
