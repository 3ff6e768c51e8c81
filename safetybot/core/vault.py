"""The evidence vault's lock: creating it, unlocking with lockout, duress, passphrase changes.

Keys (see crypto.py): a vault is an X25519 key pair. The private key is sealed with a key
derived from the passphrase, then with the person's data key, so a copy of the database plus the
master key still cannot open it. Unlocked keys live only in memory, for `unlock_minutes` after
the last use, and are gone after a restart.

Duress: a second passphrase opens a second, empty-looking space, or erases the real one and then
opens that empty space as the only vault. Both derivations run on every attempt, so the time
taken does not tell which passphrase was used.

Derivations run on one thread of their own, at a lower CPU priority, one at a time; others
queue. Argon2id holds ~19 MiB while it runs and glibc keeps that in the running thread's own
malloc arena afterwards, so one dedicated thread keeps one such copy instead of one per worker
of asyncio's default pool, and the event loop's thread wins the CPU while a derivation runs.
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

from safetybot.core.records import Records, VaultRow
from safetybot.crypto import (
    KdfParams,
    new_data_key,
    new_salt,
    new_vault_keys,
    passphrase_key,
    seal,
    unseal,
    vault_public_key,
)
from safetybot.errors import CryptoError

__all__ = ["DuressMode", "Session", "Unlock", "VaultSettings", "Vaults"]

MIN_PASSPHRASE = 6
_SPACE_BYTES = 16
# Waits after the 1st, 2nd, 3rd and 4th wrong passphrase; the 5th locks the vault for a while.
_DELAYS = (2, 5, 15, 30)
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
        await self._records.save_vault(row)
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
        now = int(self._clock())
        if row.retry_at > now:
            kind = (
                UnlockKind.LOCKED_OUT
                if row.failures >= self.settings.max_tries
                else UnlockKind.WAIT
            )
            return Unlock(kind, seconds=row.retry_at - now)
        params = KdfParams.from_text(row.kdf)
        real_key, duress_key = await asyncio.gather(
            self._derive(passphrase, row.salt, params, pseudonym),
            self._derive(passphrase, row.duress_salt, params, pseudonym),
        )
        private = _open_key(data_key, real_key, row.locked_key, pseudonym)
        if private is not None:
            await self._records.save_vault(replace(row, failures=0, retry_at=0))
            return Unlock(
                UnlockKind.OPENED,
                self._open(pseudonym, private, row.public_key, row.space, decoy=False),
            )
        duress = _open_duress(data_key, duress_key, row.duress_key, pseudonym)
        if duress is not None:
            mode, decoy_private = duress
            if mode is DuressMode.ERASE:
                return Unlock(
                    UnlockKind.OPENED,
                    await self._erase_real(row, data_key, duress_key, decoy_private),
                )
            await self._records.save_vault(replace(row, failures=0, retry_at=0))
            session = self._open(
                pseudonym, decoy_private, row.decoy_public, row.decoy_space, decoy=True
            )
            return Unlock(UnlockKind.OPENED, session)
        failures = row.failures + 1
        if failures >= self.settings.max_tries:
            retry_at = now + self.settings.lockout_minutes * 60
            await self._records.save_vault(replace(row, failures=failures, retry_at=retry_at))
            return Unlock(UnlockKind.LOCKED_OUT, seconds=retry_at - now)
        delay = _DELAYS[min(failures, len(_DELAYS)) - 1]
        await self._records.save_vault(replace(row, failures=failures, retry_at=now + delay))
        return Unlock(
            UnlockKind.WRONG, tries_left=self.settings.max_tries - failures, seconds=delay
        )

    async def _erase_real(
        self, row: VaultRow, data_key: bytes, duress_key: bytes, decoy_private: bytes
    ) -> Session:
        """Duress in erase mode: the real space goes; the decoy becomes the only vault."""
        for table in ("records", "files", "drafts"):
            await self._records.delete_sealed(table, row.pseudonym, row.space)
        _, spare_public = new_vault_keys()
        new_row = replace(
            row,
            public_key=row.decoy_public,
            space=row.decoy_space,
            # The duress passphrase now opens the vault as its normal passphrase.
            locked_key=_lock_key(data_key, duress_key, decoy_private, row.pseudonym),
            salt=row.duress_salt,
            duress_key=_lock_duress(
                data_key, new_data_key(), DuressMode.EMPTY, decoy_private, row.pseudonym
            ),
            duress_salt=new_salt(),
            decoy_public=spare_public,
            decoy_space=os.urandom(_SPACE_BYTES),
            failures=0,
            retry_at=0,
        )
        await self._records.save_vault(new_row)
        await self._records.checkpoint()
        return self._open(
            row.pseudonym, decoy_private, row.decoy_public, row.decoy_space, decoy=False
        )

    async def change_passphrase(
        self, pseudonym: bytes, data_key: bytes, session: Session, passphrase: str
    ) -> None:
        """Re-wrap the one private key under a new passphrase; no note is re-encrypted."""
        row = await self._records.vault(pseudonym)
        if row is None or session.decoy:
            return  # a duress session must look the same, and must not touch the real vault
        salt = new_salt()
        key = await self._derive(passphrase, salt, self.settings.kdf, pseudonym)
        locked = _lock_key(data_key, key, session.private, pseudonym)
        await self._records.save_vault(
            replace(row, locked_key=locked, salt=salt, kdf=self.settings.kdf.to_text())
        )

    async def set_duress(
        self, pseudonym: bytes, data_key: bytes, session: Session, passphrase: str, mode: DuressMode
    ) -> None:
        """Set (or replace) the duress passphrase and what it does."""
        row = await self._records.vault(pseudonym)
        if row is None or session.decoy:
            return
        decoy_private, decoy_public = new_vault_keys()
        salt = new_salt()
        key = await self._derive(passphrase, salt, KdfParams.from_text(row.kdf), pseudonym)
        for table in ("records", "files", "drafts"):  # a new decoy starts empty
            await self._records.delete_sealed(table, pseudonym, row.decoy_space)
        await self._records.save_vault(
            replace(
                row,
                duress_key=_lock_duress(data_key, key, mode, decoy_private, pseudonym),
                duress_salt=salt,
                decoy_public=decoy_public,
                decoy_space=os.urandom(_SPACE_BYTES),
            )
        )

    async def reset(self, pseudonym: bytes) -> None:
        """Erase the vault and everything in it (a forgotten passphrase has no other way out)."""
        self.lock(pseudonym)
        await self._records.delete_vault(pseudonym)


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
