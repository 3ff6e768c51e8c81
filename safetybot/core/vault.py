"""The evidence vault's lock: creating it, unlocking with lockout, duress, passphrase changes.

Keys (see vault/crypto.py): a vault is an X25519 key pair. The private key is sealed with a key
derived from the passphrase, then with the person's data key, so a copy of the database plus the
master key still cannot open it. Unlocked keys live only in memory, for `unlock_minutes` after
the last use, and are gone after a restart.

Duress: a second passphrase opens a second, empty-looking space, or erases the real one and then
opens that empty space as the only vault. Both derivations run on every attempt, so the time
taken does not tell which passphrase was used.

Derivations run on one thread of their own, at a lower CPU priority, one at a time; others
queue. Argon2id holds 64 MiB (the default) while it runs and glibc keeps that in the running
thread's own malloc arena afterwards, so one dedicated thread keeps one such copy instead of one
per worker of asyncio's default pool, and the event loop's thread wins the CPU while a
derivation runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetybot.core.records import SPACE_TABLES, Records, VaultRow
from safetybot.errors import CryptoError
from safetybot.vault.crypto import (
    KdfParams,
    new_data_key,
    new_salt,
    new_vault_keys,
    passphrase_key,
    seal,
    unseal,
    vault_public_key,
)

__all__ = [
    "DuressMode",
    "Session",
    "Unlock",
    "VaultKeys",
    "VaultSettings",
    "VaultTampered",
    "Vaults",
]

MIN_PASSPHRASE = 6
_SPACE_BYTES = 16
# Waits after the 1st, 2nd, 3rd and 4th wrong passphrase; the 5th locks the vault for a while.
_DELAYS = (2, 5, 15, 30)
_MAX_LOCKOUT_MINUTES = 24 * 60
_KDF_WORKERS = 1
_KDF_NICE = 10  # added to the process's own niceness
_MAX_NICE = 19


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority (Linux; elsewhere it keeps the normal one)."""
    # Only Linux takes a thread id for PRIO_PROCESS and renices that thread alone; elsewhere
    # the id could name some other process.
    if not sys.platform.startswith("linux"):
        return
    # A sandbox may forbid it: derivations then still run, at normal priority.
    with contextlib.suppress(OSError):
        thread = threading.get_native_id()
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(_MAX_NICE, nice + _KDF_NICE))


# One per process, shared by every Vaults: its thread starts on first use and is joined when
# the interpreter exits (concurrent.futures does that), so there is nothing to close.
_KDF_POOL = ThreadPoolExecutor(
    max_workers=_KDF_WORKERS, thread_name_prefix="safetybot-kdf", initializer=_lower_priority
)


class DuressMode(StrEnum):
    """What a duress passphrase does."""

    EMPTY = "empty"
    ERASE = "erase"


@dataclass(frozen=True)
class VaultSettings:
    """Operator-set vault behaviour."""

    kdf: KdfParams = field(default_factory=KdfParams)
    unlock_minutes: int = 10
    max_tries: int = 5
    lockout_minutes: int = 15
    max_file_bytes: int = 10 * 1024 * 1024
    export_keep_minutes: int = 5
    # The organization's key that signs exports, and the TSA that time-stamps them (optional).
    signing_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    tsa_url: str | None = None


@dataclass
class Session:
    """An unlocked vault: its private key and which space it shows."""

    private: bytes
    public: bytes
    space: bytes
    decoy: bool
    expires: float


class UnlockKind(StrEnum):
    """How an unlock attempt ended."""

    OPENED = "opened"
    WRONG = "wrong"
    WAIT = "wait"
    LOCKED_OUT = "locked_out"
    TAMPERED = "tampered"  # the stored vault was changed or put back: nothing opens


class VaultTampered(CryptoError):
    """The vault's stored row does not match its seal, its version or its private key."""


@dataclass(frozen=True)
class VaultKeys:
    """A vault's public keys and space tags, as checked against their seal."""

    public: bytes
    space: bytes
    decoy_public: bytes
    decoy_space: bytes


@dataclass(frozen=True)
class Unlock:
    """The result of an unlock attempt."""

    kind: UnlockKind
    session: Session | None = None
    tries_left: int = 0
    seconds: int = 0


class Vaults:
    """Creates, unlocks and re-keys vaults; keeps unlocked sessions in memory."""

    def __init__(
        self,
        records: Records,
        settings: VaultSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records = records
        self.settings = settings
        self._clock = clock
        self._sessions: dict[bytes, Session] = {}

    def session(self, pseudonym: bytes) -> Session | None:
        """The unlocked session, or None if locked (an expired session is dropped)."""
        found = self._sessions.get(pseudonym)
        if found is not None and found.expires <= self._clock():
            del self._sessions[pseudonym]
            return None
        return found

    def touch(self, session: Session) -> float:
        """Keep a session open for another `unlock_minutes`; return when it will lock."""
        session.expires = self._clock() + self.settings.unlock_minutes * 60
        return session.expires

    def lock(self, pseudonym: bytes) -> None:
        """Forget the unlocked key."""
        self._sessions.pop(pseudonym, None)

    async def row(self, pseudonym: bytes) -> VaultRow | None:
        """The stored vault, or None if the person has not turned it on."""
        return await self._records.vault(pseudonym)

    async def _derive(self, passphrase: str, salt: bytes, params: KdfParams, owner: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _KDF_POOL, passphrase_key, passphrase, salt, params, owner
        )

    async def create(self, pseudonym: bytes, data_key: bytes, passphrase: str) -> Session:
        """Turn the vault on with a passphrase; it starts unlocked."""
        params = self.settings.kdf
        salt = new_salt()
        key = await self._derive(passphrase, salt, params, pseudonym)
        private, public = new_vault_keys()
        space = os.urandom(_SPACE_BYTES)
        decoy_private, decoy_public = new_vault_keys()
        del decoy_private  # until a duress passphrase is set, the decoy is never opened
        row = VaultRow(
            pseudonym=pseudonym,
            public_key=public,
            space=space,
            locked_key=_lock_key(data_key, key, private, pseudonym),
            salt=salt,
            kdf=params.to_text(),
            duress_key=_lock_duress(data_key, new_data_key(), DuressMode.EMPTY, private, pseudonym),
            duress_salt=new_salt(),
            decoy_public=decoy_public,
            decoy_space=os.urandom(_SPACE_BYTES),
        )
        await self._records.save_vault(_sealed(row, data_key, 0))
        return self._open(pseudonym, private, public, space, decoy=False)

    def _open(
        self, pseudonym: bytes, private: bytes, public: bytes, space: bytes, *, decoy: bool
    ) -> Session:
        session = Session(private, public, space, decoy, 0.0)
        self.touch(session)
        self._sessions[pseudonym] = session
        return session

    async def unlock(self, pseudonym: bytes, data_key: bytes, passphrase: str) -> Unlock:
        """Try a passphrase, counting failures in the database (they survive a restart)."""
        row = await self._records.vault(pseudonym)
        if row is None:
            raise CryptoError("no vault")
        try:
            # Before the lockout counters are believed: a row edited or put back from an older
            # copy (its old passphrase, no failures) is refused, whatever passphrase was typed.
            _, version = _checked(row, data_key)
        except VaultTampered:
            return Unlock(UnlockKind.TAMPERED)
        now = int(self._clock())
        if row.retry_at > now:
            kind = (
                UnlockKind.LOCKED_OUT
                if row.failures >= self.settings.max_tries
                else UnlockKind.WAIT
            )
            return Unlock(kind, seconds=row.retry_at - now)
        real_params, duress_params = _params(row.kdf)
        real_key, duress_key = await asyncio.gather(
            self._derive(passphrase, row.salt, real_params, pseudonym),
            self._derive(passphrase, row.duress_salt, duress_params, pseudonym),
        )
        private = _open_key(data_key, real_key, row.locked_key, pseudonym)
        if private is not None:
            try:
                keys, _ = _checked(row, data_key, private=private)
            except VaultTampered:
                return Unlock(UnlockKind.TAMPERED)
            # A vault made before keys were sealed gets its seal now, from the private key.
            await self._records.save_vault(
                _sealed(replace(row, failures=0, retry_at=0), data_key, version)
            )
            return Unlock(
                UnlockKind.OPENED,
                self._open(pseudonym, private, keys.public, keys.space, decoy=False),
            )
        duress = _open_duress(data_key, duress_key, row.duress_key, pseudonym)
        if duress is not None:
            mode, decoy_private = duress
            try:
                keys, _ = _checked(row, data_key, decoy_private=decoy_private)
            except VaultTampered:
                return Unlock(UnlockKind.TAMPERED)
            if mode is DuressMode.ERASE:
                return Unlock(
                    UnlockKind.OPENED,
                    await self._erase_real(row, data_key, duress_key, decoy_private, version),
                )
            await self._save(replace(row, failures=0, retry_at=0), data_key, version)
            session = self._open(
                pseudonym, decoy_private, keys.decoy_public, keys.decoy_space, decoy=True
            )
            return Unlock(UnlockKind.OPENED, session)
        failures = row.failures + 1
        if failures >= self.settings.max_tries:
            # Each further miss doubles the wait, up to a day: one guess every 15 minutes
            # forever was about 96 a day; this is a handful, then one a day.
            doubled = self.settings.lockout_minutes * 2 ** min(
                failures - self.settings.max_tries, 16
            )
            retry_at = now + min(doubled, _MAX_LOCKOUT_MINUTES) * 60
            await self._save(replace(row, failures=failures, retry_at=retry_at), data_key, version)
            return Unlock(UnlockKind.LOCKED_OUT, seconds=retry_at - now)
        delay = _DELAYS[min(failures, len(_DELAYS)) - 1]
        await self._save(replace(row, failures=failures, retry_at=now + delay), data_key, version)
        return Unlock(
            UnlockKind.WRONG, tries_left=self.settings.max_tries - failures, seconds=delay
        )

    async def _save(self, row: VaultRow, data_key: bytes, version: int) -> None:
        """Store a row sealed as the next version; a row from before seals, unchecked, as is."""
        if row.keys_seal is None:
            # Its keys are not checked yet (no seal, no passphrase): sealing them now would
            # vouch for keys that may have been swapped. The right passphrase seals it.
            await self._records.save_vault(row)
            return
        await self._records.save_vault(_sealed(row, data_key, version))

    async def _current(self, pseudonym: bytes, data_key: bytes) -> tuple[VaultRow, int] | None:
        """The stored row and its version, checked (VaultTampered if it was changed)."""
        row = await self._records.vault(pseudonym)
        if row is None:
            return None
        return row, _checked(row, data_key)[1]

    async def _erase_real(
        self,
        row: VaultRow,
        data_key: bytes,
        duress_key: bytes,
        decoy_private: bytes,
        version: int,
    ) -> Session:
        """Duress in erase mode: the real space goes; the decoy becomes the only vault."""
        for table in SPACE_TABLES:
            await self._records.delete_sealed(table, row.pseudonym, row.space)
        _, spare_public = new_vault_keys()
        new_row = replace(
            row,
            public_key=row.decoy_public,
            space=row.decoy_space,
            # The duress passphrase now opens the vault as its normal passphrase.
            locked_key=_lock_key(data_key, duress_key, decoy_private, row.pseudonym),
            salt=row.duress_salt,
            kdf=_kdf_text(_params(row.kdf)[1], _params(row.kdf)[1]),
            duress_key=_lock_duress(
                data_key, new_data_key(), DuressMode.EMPTY, decoy_private, row.pseudonym
            ),
            duress_salt=new_salt(),
            decoy_public=spare_public,
            decoy_space=os.urandom(_SPACE_BYTES),
            failures=0,
            retry_at=0,
        )
        await self._records.save_vault(_sealed(new_row, data_key, version))
        await self._records.checkpoint()
        return self._open(
            row.pseudonym, decoy_private, row.decoy_public, row.decoy_space, decoy=False
        )

    async def change_passphrase(
        self, pseudonym: bytes, data_key: bytes, session: Session, passphrase: str
    ) -> None:
        """Re-wrap the open space's private key under a new passphrase; no note is re-encrypted.

        In a duress session that is the decoy's key: the new passphrase then opens the decoy,
        as it would open a real vault, and the real passphrase is untouched. VaultTampered if
        the stored row was changed since it was sealed.
        """
        current = await self._current(pseudonym, data_key)
        if current is None:
            return
        row, version = current
        real_params, duress_params = _params(row.kdf)
        params, salt = self.settings.kdf, new_salt()
        key = await self._derive(passphrase, salt, params, pseudonym)
        if session.decoy:
            locked = _lock_duress(data_key, key, DuressMode.EMPTY, session.private, pseudonym)
            kdf = _kdf_text(real_params, params)
            await self._save(
                replace(row, duress_key=locked, duress_salt=salt, kdf=kdf), data_key, version
            )
            return
        locked = _lock_key(data_key, key, session.private, pseudonym)
        kdf = _kdf_text(params, duress_params)
        await self._save(replace(row, locked_key=locked, salt=salt, kdf=kdf), data_key, version)

    async def set_duress(
        self, pseudonym: bytes, data_key: bytes, session: Session, passphrase: str, mode: DuressMode
    ) -> None:
        """Set (or replace) the duress passphrase and what it does (VaultTampered as above)."""
        current = await self._current(pseudonym, data_key)
        if current is None or session.decoy:
            return
        row, version = current
        decoy_private, decoy_public = new_vault_keys()
        salt = new_salt()
        real_params, _ = _params(row.kdf)
        key = await self._derive(passphrase, salt, self.settings.kdf, pseudonym)
        for table in SPACE_TABLES:  # a new decoy starts empty
            await self._records.delete_sealed(table, pseudonym, row.decoy_space)
        await self._records.save_vault(
            _sealed(
                replace(
                    row,
                    duress_key=_lock_duress(data_key, key, mode, decoy_private, pseudonym),
                    duress_salt=salt,
                    decoy_public=decoy_public,
                    decoy_space=os.urandom(_SPACE_BYTES),
                    kdf=_kdf_text(real_params, self.settings.kdf),
                ),
                data_key,
                version,
            )
        )

    async def keys(
        self, pseudonym: bytes, data_key: bytes, session: Session | None
    ) -> VaultKeys | None:
        """The vault's keys to seal new evidence to, checked; None if they cannot be checked.

        They are checked against their seal (made with the data key, which the database alone
        does not give). A vault made before keys were sealed can only be checked against an open
        session's private key; locked, it has nothing to check against, so None: nothing is
        sealed to a key that may have been swapped. VaultTampered if they were changed.
        """
        row = await self._records.vault(pseudonym)
        if row is None:
            return None
        if row.keys_seal is not None or row.anchor is not None:
            return _checked(row, data_key)[0]
        if session is None or session.decoy or session.public != row.public_key:
            return None
        await self._records.save_vault(_sealed(row, data_key, 0))
        return _keys_of(row)

    async def reset(self, pseudonym: bytes) -> None:
        """Erase the vault and everything in it (a forgotten passphrase has no other way out)."""
        self.lock(pseudonym)
        await self._records.delete_vault(pseudonym)


_KEY_FIELDS = ("public_key", "space", "decoy_public", "decoy_space")
# Every column a change or a put-back copy could use: the passphrase wrappings and their costs
# (an old passphrase), the lockout counters (more guesses), the keys (notes sealed to others).
_SEALED_FIELDS = (
    *_KEY_FIELDS,
    "locked_key",
    "salt",
    "kdf",
    "duress_key",
    "duress_salt",
    "failures",
    "retry_at",
)


def _params(text: str) -> tuple[KdfParams, KdfParams]:
    """The real and the duress passphrase's Argon2id costs (one value: both the same)."""
    real, _, duress = text.partition("|")
    return KdfParams.from_text(real), KdfParams.from_text(duress or real)


def _kdf_text(real: KdfParams, duress: KdfParams) -> str:
    # Each passphrase keeps the cost it was derived with, so a stronger setting applies to a
    # passphrase as it is set or changed without breaking the other one.
    if real == duress:
        return real.to_text()
    return f"{real.to_text()}|{duress.to_text()}"


def _keys_of(row: VaultRow) -> VaultKeys:
    return VaultKeys(row.public_key, row.space, row.decoy_public, row.decoy_space)


def _field_text(value: bytes | str | int) -> str:
    return value.hex() if isinstance(value, bytes) else str(value)


def _sealed(row: VaultRow, data_key: bytes, version: int) -> VaultRow:
    """The row as the next version: every column sealed with the data key, and the version
    sealed again beside the person (`anchor`), so that this row alone cannot be put back."""
    version += 1
    fields = {name: _field_text(getattr(row, name)) for name in _SEALED_FIELDS}
    payload = json.dumps({**fields, "version": version}, sort_keys=True).encode()
    owner = row.pseudonym
    return replace(
        row,
        keys_seal=seal(data_key, payload, owner=owner, purpose="vault-keys"),
        anchor=seal(data_key, str(version).encode(), owner=owner, purpose="vault-version"),
    )


def _checked(
    row: VaultRow,
    data_key: bytes,
    *,
    private: bytes | None = None,
    decoy_private: bytes | None = None,
) -> tuple[VaultKeys, int]:
    """The row's keys and version if it matches its seal, its anchor and the private key
    given; else VaultTampered.

    Three ages of row are read: sealed whole with a version (this one), keys only sealed (a
    vault from before versions, resealed at its next save) and not sealed at all (older; only
    its private key can vouch for it). The older two are believed only while no anchor exists:
    once a row was versioned, a row without a version is one put back from an older copy.
    """
    version = 0
    names: tuple[str, ...]
    if row.keys_seal is None:
        if row.anchor is not None:
            raise VaultTampered("the vault's seal was removed")
    else:
        try:
            sealed = json.loads(
                unseal(data_key, row.keys_seal, owner=row.pseudonym, purpose="vault-keys")
            )
            if "version" in sealed:
                version = int(sealed["version"])
                anchored = (
                    row.anchor is not None
                    and unseal(data_key, row.anchor, owner=row.pseudonym, purpose="vault-version")
                    == str(version).encode()
                )
                names = _SEALED_FIELDS
            else:
                anchored, names = row.anchor is None, _KEY_FIELDS
            matches = anchored and all(
                sealed[name] == _field_text(getattr(row, name)) for name in names
            )
        except (CryptoError, ValueError, KeyError, TypeError):
            matches = False
        if not matches:
            raise VaultTampered("the vault does not match its seal")
    if private is not None and vault_public_key(private) != row.public_key:
        raise VaultTampered("the vault's public key is not its private key's")
    if decoy_private is not None and vault_public_key(decoy_private) != row.decoy_public:
        raise VaultTampered("the decoy's public key is not its private key's")
    return _keys_of(row), version


def _lock_key(data_key: bytes, key: bytes, private: bytes, owner: bytes) -> bytes:
    inner = seal(key, private, owner=owner, purpose="vault-private")
    return seal(data_key, inner, owner=owner, purpose="vault-lock")


def _open_key(data_key: bytes, key: bytes, locked: bytes, owner: bytes) -> bytes | None:
    try:
        inner = unseal(data_key, locked, owner=owner, purpose="vault-lock")
        private = unseal(key, inner, owner=owner, purpose="vault-private")
        vault_public_key(private)  # checks it is a usable key
    except CryptoError:
        return None
    return private


def _lock_duress(
    data_key: bytes, key: bytes, mode: DuressMode, private: bytes, owner: bytes
) -> bytes:
    # Same size whatever the mode, so the blob says nothing; with a random `key` it is noise.
    payload = json.dumps({"mode": mode.value.ljust(5), "private": private.hex()}).encode()
    inner = seal(key, payload, owner=owner, purpose="vault-duress")
    return seal(data_key, inner, owner=owner, purpose="vault-lock")


def _open_duress(
    data_key: bytes, key: bytes, locked: bytes, owner: bytes
) -> tuple[DuressMode, bytes] | None:
    try:
        inner = unseal(data_key, locked, owner=owner, purpose="vault-lock")
        payload = json.loads(unseal(key, inner, owner=owner, purpose="vault-duress"))
        private = bytes.fromhex(payload["private"])
        vault_public_key(private)
        return DuressMode(payload["mode"].strip()), private
    except (CryptoError, ValueError, KeyError, TypeError):
        return None
