"""Sealing, wrapping and pseudonyms: round trips, tampering, binding, key parsing."""

from __future__ import annotations

import base64
import os

import pytest

from safetybot.errors import ConfigError, CryptoError
from safetybot.vault.crypto import (
    Keyring,
    new_data_key,
    new_master_key,
    parse_master_key,
    seal,
    unseal,
)


def test_seal_round_trips_and_hides_the_plaintext() -> None:
    key = new_data_key()
    blob = seal(key, b"the exact words of the threat", owner=b"p1", purpose="note")
    assert b"threat" not in blob
    assert unseal(key, blob, owner=b"p1", purpose="note") == b"the exact words of the threat"


def test_each_seal_uses_a_fresh_nonce() -> None:
    key = new_data_key()
    assert seal(key, b"same", owner=b"p", purpose="note") != seal(
        key, b"same", owner=b"p", purpose="note"
    )


@pytest.mark.parametrize("position", [0, 1, 13, -1])
def test_any_changed_byte_fails_to_open(position: int) -> None:
    key = new_data_key()
    blob = bytearray(seal(key, b"evidence", owner=b"p", purpose="note"))
    blob[position] ^= 0x01
    with pytest.raises(CryptoError):
        unseal(key, bytes(blob), owner=b"p", purpose="note")


def test_a_sealed_blob_does_not_open_for_another_owner_purpose_or_key() -> None:
    key = new_data_key()
    blob = seal(key, b"evidence", owner=b"alice", purpose="note")
    for owner, purpose, other_key in (
        (b"bob", "note", key),
        (b"alice", "state", key),
        (b"alice", "note", new_data_key()),
    ):
        with pytest.raises(CryptoError):
            unseal(other_key, blob, owner=owner, purpose=purpose)


def test_truncated_blobs_fail_cleanly() -> None:
    key = new_data_key()
    blob = seal(key, b"x", owner=b"p", purpose="note")
    for cut in (0, 1, 12, len(blob) - 1):
        with pytest.raises(CryptoError):
            unseal(key, blob[:cut], owner=b"p", purpose="note")


def test_wrapped_key_is_bound_to_its_owner(keyring: Keyring) -> None:
    data_key = new_data_key()
    wrapped = keyring.wrap(data_key, b"alice")
    assert data_key not in wrapped
    assert keyring.unwrap(wrapped, b"alice") == data_key
    with pytest.raises(CryptoError):
        keyring.unwrap(wrapped, b"bob")
    with pytest.raises(CryptoError):
        Keyring(os.urandom(32)).unwrap(wrapped, b"alice")


def test_pseudonyms_are_stable_keyed_and_distinct(keyring: Keyring) -> None:
    first = keyring.pseudonym("telegram", "7391028465")
    assert first == keyring.pseudonym("telegram", "7391028465")
    assert first != keyring.pseudonym("console", "7391028465")
    assert first != keyring.pseudonym("telegram", "7391028466")
    assert first != Keyring(os.urandom(32)).pseudonym("telegram", "7391028465")
    assert b"7391028465" not in first and len(first) == 32


def test_master_keys_parse_and_bad_ones_name_the_setting() -> None:
    assert len(parse_master_key(new_master_key(), "SAFETYBOT_MASTER_KEY")) == 32
    short = base64.b64encode(os.urandom(16)).decode()
    for bad in ("not base64!", short, ""):
        with pytest.raises(ConfigError, match="SAFETYBOT_MASTER_KEY"):
            parse_master_key(bad, "SAFETYBOT_MASTER_KEY")


def test_keys_of_the_wrong_size_are_refused() -> None:
    with pytest.raises(CryptoError):
        seal(b"short", b"x", owner=b"p", purpose="note")
    with pytest.raises(CryptoError):
        Keyring(b"short")
