"""The evidence vault's lock: creating it, unlocking with lockout, duress, passphrase changes.

Keys (see vault/crypto.py): a vault is an X25519 key pair. The private key is sealed with a key
derived from the passphrase, then with the person's data key, so a copy of the database plus the
master key still cannot open it. Unlocked keys live only in memory, for `unlock_minutes` after
the last use, and are gone after a restart.

Duress: a second passphrase opens a second, empty-looking space, or erases the real one and then
opens that empty space as the only vault. Inside such a decoy space the same settings work on the
decoy: a duress passphrase set there opens a further level (or erases the decoy), up to
MAX_DECOYS levels. Every decoy level shares one salt, so an attempt always costs two derivations
(the real salt and the decoy salt), tried against every level's wrap; the time taken does not
tell which passphrase was used, nor how deep it goes.

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
# Decoy levels past the real one. Every row holds this many slots (unused ones are noise), so
# the file does not tell how many are set; see `set_duress` for what happens at the bound.
MAX_DECOYS = 4
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
    """An unlocked vault: its private key, which space it shows, and its level (0: the real one)."""

    private: bytes
    public: bytes
    space: bytes
    level: int
    expires: float

    @property
    def decoy(self) -> bool:
        """Whether a duress passphrase opened it."""
        return self.level > 0


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
    # Each decoy level's public key and space tag, the first level first.
    decoys: tuple[tuple[bytes, bytes], ...]

    def at(self, level: int) -> tuple[bytes, bytes] | None:
        """The public key and space tag of a level (0: the real one), or None if none."""
        if level == 0:
            return self.public, self.space
        if 0 < level <= len(self.decoys):
            return self.decoys[level - 1]
        return None


@dataclass(frozen=True)
class _Level:
    """One decoy level: its private key locked under the decoy passphrase (with the mode)."""

    locked: bytes
    public: bytes
    space: bytes


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
        # Until a duress passphrase is set, every decoy slot is noise that nothing opens.
        noise = _noise(data_key, pseudonym)
        row = VaultRow(
            pseudonym=pseudonym,
            public_key=public,
            space=space,
            locked_key=_lock_key(data_key, key, private, pseudonym),
            salt=salt,
            kdf=params.to_text(),
            duress_key=noise.locked,
            duress_salt=new_salt(),
            decoy_public=noise.public,
            decoy_space=noise.space,
        )
        await self._records.save_vault(_sealed(_with_levels(row, data_key, []), data_key, 0))
        return self._open(pseudonym, private, public, space, level=0)

    def _open(
        self, pseudonym: bytes, private: bytes, public: bytes, space: bytes, *, level: int
    ) -> Session:
        session = Session(private, public, space, level, 0.0)
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
            levels = _levels(row, data_key)
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
        # Always both, whatever the passphrase turns out to be: the same time for each.
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
                self._open(pseudonym, private, keys.public, keys.space, level=0),
            )
        found = _find_level(data_key, duress_key, levels, pseudonym)
        if found is not None:
            index, mode, decoy_private = found
            if vault_public_key(decoy_private) != levels[index].public:
                return Unlock(UnlockKind.TAMPERED)
            if mode is DuressMode.ERASE and index == 0:
                return Unlock(
                    UnlockKind.OPENED,
                    await self._erase_real(row, data_key, duress_key, decoy_private, version),
                )
            if mode is DuressMode.ERASE:
                erased = await self._erase_level(
                    row, data_key, levels, index, duress_key, decoy_private, version
                )
                return Unlock(UnlockKind.OPENED, erased)
            await self._save(replace(row, failures=0, retry_at=0), data_key, version)
            level = levels[index]
            session = self._open(
                pseudonym, decoy_private, level.public, level.space, level=index + 1
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
        await self._empty(row.pseudonym, row.space)
        # Deeper levels hang off the first one, which is now the real vault: a new chain starts
        # empty, under a new salt (nothing can re-derive theirs without their passphrases).
        for level in _levels(row, data_key)[1:]:
            await self._empty(row.pseudonym, level.space)
        new_row = replace(
            row,
            public_key=row.decoy_public,
            space=row.decoy_space,
            # The duress passphrase now opens the vault as its normal passphrase.
            locked_key=_lock_key(data_key, duress_key, decoy_private, row.pseudonym),
            salt=row.duress_salt,
            kdf=_kdf_text(_params(row.kdf)[1], _params(row.kdf)[1]),
            duress_salt=new_salt(),
            failures=0,
            retry_at=0,
        )
        await self._records.save_vault(
            _sealed(_with_levels(new_row, data_key, []), data_key, version)
        )
        await self._records.checkpoint()
        return self._open(row.pseudonym, decoy_private, row.decoy_public, row.decoy_space, level=0)

    async def _erase_level(
        self,
        row: VaultRow,
        data_key: bytes,
        levels: list[_Level],
        index: int,
        duress_key: bytes,
        decoy_private: bytes,
        version: int,
    ) -> Session:
        """Erase mode one level down: the level above this one goes, this one takes its place.

        As `_erase_real` does for the real vault: the erased level's space is emptied, this
        passphrase opens its slot from now on (its old passphrase no longer does), and the
        levels past it start empty. The real vault and every level above are untouched.
        """
        owner = row.pseudonym
        await self._empty(owner, levels[index - 1].space)
        for level in levels[index + 1 :]:
            await self._empty(owner, level.space)
        moved = levels[index]
        locked = _lock_duress(data_key, duress_key, DuressMode.EMPTY, decoy_private, owner)
        kept = [*levels[: index - 1], _Level(locked, moved.public, moved.space)]
        new_row = _with_levels(replace(row, failures=0, retry_at=0), data_key, kept)
        await self._records.save_vault(_sealed(new_row, data_key, version))
        await self._records.checkpoint()
        return self._open(owner, decoy_private, moved.public, moved.space, level=len(kept))

    async def _empty(self, pseudonym: bytes, space: bytes) -> None:
        """Delete every row of one space (its notes, files, drafts and index)."""
        for table in SPACE_TABLES:
            await self._records.delete_sealed(table, pseudonym, space)

    async def change_passphrase(
        self, pseudonym: bytes, data_key: bytes, session: Session, passphrase: str
    ) -> None:
        """Re-wrap the open space's private key under a new passphrase; no note is re-encrypted.

        In a duress session that is the decoy's key: the new passphrase then opens the decoy,
        as it would open a real vault, and the real passphrase is untouched. It keeps the decoy
        levels' shared salt and cost, which the other levels' passphrases need. VaultTampered
        if the stored row was changed since it was sealed.
        """
        current = await self._current(pseudonym, data_key)
        if current is None:
            return
        row, version = current
        _, duress_params = _params(row.kdf)
        if session.decoy:
            # The same salt and cost as every other level: their passphrases must still open.
            levels = _levels(row, data_key)
            index = _level_of(levels, session.public)
            key = await self._derive(passphrase, row.duress_salt, duress_params, pseudonym)
            locked = _lock_duress(data_key, key, DuressMode.EMPTY, session.private, pseudonym)
            levels[index] = replace(levels[index], locked=locked)
            await self._save(_with_levels(row, data_key, levels), data_key, version)
            return
        params, salt = self.settings.kdf, new_salt()
        key = await self._derive(passphrase, salt, params, pseudonym)
        locked = _lock_key(data_key, key, session.private, pseudonym)
        kdf = _kdf_text(params, duress_params)
        await self._save(replace(row, locked_key=locked, salt=salt, kdf=kdf), data_key, version)

    async def set_duress(
        self, pseudonym: bytes, data_key: bytes, session: Session, passphrase: str, mode: DuressMode
    ) -> None:
        """Set (or replace) the duress passphrase of the open level and what it does.

        From the real vault it replaces the first decoy level, and every level past it goes.
        From a decoy level it does the same one level down, so the decoy behaves like a real
        vault. At the deepest level (MAX_DECOYS) the level above this one makes room: this
        level moves up into its slot (its passphrase still opens it) and the new one comes
        last; only the dropped level's passphrase stops working. VaultTampered as above.
        """
        current = await self._current(pseudonym, data_key)
        if current is None:
            return
        row, version = current
        real_params, duress_params = _params(row.kdf)
        levels = _levels(row, data_key)
        if not session.decoy:
            # A new chain: a new salt and today's cost, since no other level has to keep working.
            salt = new_salt()
            key = await self._derive(passphrase, salt, self.settings.kdf, pseudonym)
            row = replace(row, duress_salt=salt, kdf=_kdf_text(real_params, self.settings.kdf))
            kept: list[_Level] = []
            dropped = levels
        else:
            index = _level_of(levels, session.public)
            key = await self._derive(passphrase, row.duress_salt, duress_params, pseudonym)
            if index + 1 < MAX_DECOYS:
                kept, dropped = levels[: index + 1], levels[index + 1 :]
            else:
                kept = [*levels[: index - 1], levels[index]]
                dropped = [levels[index - 1]]
        for level in dropped:  # a new level starts empty, and what hung off the old one goes
            await self._empty(pseudonym, level.space)
        decoy_private, decoy_public = new_vault_keys()
        locked = _lock_duress(data_key, key, mode, decoy_private, pseudonym)
        new = _Level(locked, decoy_public, os.urandom(_SPACE_BYTES))
        await self._save(_with_levels(row, data_key, [*kept, new]), data_key, version)
        session.level = len(kept) if session.decoy else 0

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
        return _keys_of(row, data_key)

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
    "decoy_levels",
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


def _keys_of(row: VaultRow, data_key: bytes) -> VaultKeys:
    decoys = tuple((level.public, level.space) for level in _levels(row, data_key))
    return VaultKeys(row.public_key, row.space, decoys)


def _levels(row: VaultRow, data_key: bytes) -> list[_Level]:
    """Every decoy slot, the first level first (VaultTampered if the deeper ones do not open).

    The first level lives in the row's own duress columns (as before levels), the deeper ones
    in `decoy_levels`, sealed with the data key; a row from before levels has only the first.
    """
    first = _Level(row.duress_key, row.decoy_public, row.decoy_space)
    if row.decoy_levels is None:
        return [first]
    owner = row.pseudonym
    try:
        raw = json.loads(unseal(data_key, row.decoy_levels, owner=owner, purpose="vault-levels"))
        deeper = [
            _Level(*(bytes.fromhex(item[name]) for name in ("locked", "public", "space")))
            for item in raw
        ]
    except (CryptoError, ValueError, KeyError, TypeError) as error:
        raise VaultTampered("the vault's decoy levels do not open") from error
    return [first, *deeper]


def _with_levels(row: VaultRow, data_key: bytes, levels: list[_Level]) -> VaultRow:
    """The row holding these decoy levels, and noise in every slot past them."""
    owner = row.pseudonym
    full = [*levels, *(_noise(data_key, owner) for _ in range(MAX_DECOYS - len(levels)))]
    first, deeper = full[0], full[1:]
    items = [
        {"locked": level.locked.hex(), "public": level.public.hex(), "space": level.space.hex()}
        for level in deeper
    ]
    sealed = seal(data_key, json.dumps(items).encode(), owner=owner, purpose="vault-levels")
    return replace(
        row,
        duress_key=first.locked,
        decoy_public=first.public,
        decoy_space=first.space,
        decoy_levels=sealed,
    )


def _noise(data_key: bytes, owner: bytes) -> _Level:
    """A decoy slot nothing opens, the same size as a set one (a key locked under a random key)."""
    private, public = new_vault_keys()
    locked = _lock_duress(data_key, new_data_key(), DuressMode.EMPTY, private, owner)
    return _Level(locked, public, os.urandom(_SPACE_BYTES))


def _find_level(
    data_key: bytes, key: bytes, levels: list[_Level], owner: bytes
) -> tuple[int, DuressMode, bytes] | None:
    """The first level the decoy key opens: its index, mode and private key."""
    found: tuple[int, DuressMode, bytes] | None = None
    # Every slot is tried, whichever opens: the same few AES-GCM tries for every passphrase.
    for index, level in enumerate(levels):
        opened = _open_duress(data_key, key, level.locked, owner)
        if opened is not None and found is None:
            found = (index, *opened)
    return found


def _level_of(levels: list[_Level], public: bytes) -> int:
    """The index of the level with this public key (VaultTampered if none: the row changed)."""
    for index, level in enumerate(levels):
        if level.public == public:
            return index
    raise VaultTampered("the open decoy level is no longer in the vault")


def _field_text(value: bytes | str | int | None) -> str | None:
    if value is None:
        return None
    return value.hex() if isinstance(value, bytes) else str(value)


def _sealed(row: VaultRow, data_key: bytes, version: int) -> VaultRow:
    """The row as the next version: every column sealed with the data key, and the version
    sealed again beside the person (`anchor`), so that this row alone cannot be put back."""
    if row.decoy_levels is None:
        # A row from before levels gets its noise now, so that every row looks the same.
        row = _with_levels(row, data_key, _levels(row, data_key))
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
    row: VaultRow, data_key: bytes, *, private: bytes | None = None
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
        # It may hold decoy levels (set in a decoy session before its first real unlock):
        # they are sealed with the data key on their own, and sealed with the row at that unlock.
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
                anchored = row.anchor is None and row.decoy_levels is None
                names = _KEY_FIELDS
            # A row versioned before decoy levels has none sealed: its column must be empty.
            matches = anchored and all(
                sealed.get(name) == _field_text(getattr(row, name)) for name in names
            )
        except (CryptoError, ValueError, KeyError, TypeError):
            matches = False
        if not matches:
            raise VaultTampered("the vault does not match its seal")
    if private is not None and vault_public_key(private) != row.public_key:
        raise VaultTampered("the vault's public key is not its private key's")
    return _keys_of(row, data_key), version


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
