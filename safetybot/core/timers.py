"""Timers: auto-clear, scheduled deletions, the retention limit, and the tick that runs them.

A mixin of `Service`: it works on the service's store, keyring and vaults, declared below.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from safetybot.core.erasing import Deletion
from safetybot.core.flow import Context, State
from safetybot.core.records import Records
from safetybot.core.vault import Vaults
from safetybot.vault.crypto import Keyring, unseal

if TYPE_CHECKING:
    from safetybot.core.service import FrontEnd, _Context

__all__ = ["Timers"]

log = logging.getLogger("safetybot.service")

_DAY = 86_400


class Timers:
    """What happens later, on a timer (part of `Service`)."""

    # What it uses of the service.
    _records: Records
    _keyring: Keyring
    _clock: Callable[[], float]
    _context: Context
    _last_retention_day: int
    retention_days: int
    vaults: Vaults

    def _lock_for(self, pseudonym: bytes) -> asyncio.Lock:
        raise NotImplementedError  # Service's

    def _prune_held(self, now: float) -> None:
        raise NotImplementedError  # Service's

    def _drop_held(self, pseudonym: bytes) -> None:
        raise NotImplementedError  # Service's

    async def _run_owed(self, front: FrontEnd, only: range | None = None) -> Deletion:
        raise NotImplementedError  # Erasing's

    def _auto_clear_seconds(self, state: State) -> int:
        default = self._context.auto_clear_default
        return default if state.auto_clear is None else state.auto_clear

    async def _auto_clear(self, ctx: _Context, ids: Sequence[int], at: float) -> None:
        seconds = self._auto_clear_seconds(ctx.state)
        if seconds and ids:
            await self._records.schedule_deletion(ctx.pseudonym, ids, int(at) + seconds)

    async def _reschedule(self, ctx: _Context) -> None:
        """A new auto-clear timer applies to the messages already in the chat, too."""
        seconds = self._auto_clear_seconds(ctx.state)
        if not seconds:
            return  # turning it off stops new messages being scheduled; nothing is un-deleted
        for message_id, sent_at in await self._records.message_ids(ctx.pseudonym):
            await self._records.schedule_deletion(ctx.pseudonym, [message_id], sent_at + seconds)

    async def tick(self, front: FrontEnd) -> None:
        """Carry out what is due: scheduled and owed deletions, and the retention limit."""
        self._prune_held(self._clock())
        await self._run_owed(front)
        await self._records.settle()  # erased rows a reader kept in the WAL
        await self._retention()
        due = await self._records.due_deletions(int(self._clock()))
        for pseudonym in due:
            async with self._lock_for(pseudonym), self._records.batch():
                try:
                    await self._run_due(pseudonym, front)
                except Exception as error:  # one person's failure must not stop the others
                    log.error("scheduled_delete_failed error=%s", type(error).__name__)

    async def _retention(self) -> None:
        """Once a day: erase everyone inactive for longer than the retention limit."""
        today = int(self._clock() // _DAY)
        if today == self._last_retention_day:
            return
        self._last_retention_day = today
        for pseudonym in await self._records.inactive_people(today - self.retention_days):
            async with self._lock_for(pseudonym):
                self.vaults.lock(pseudonym)
                self._drop_held(pseudonym)
                await self._records.erase_person(pseudonym)
            log.info("retention_erased")

    async def run_ticks(self, front: FrontEnd, every: float = 10.0) -> None:
        """Call `tick` forever (a background task of each front end's runner)."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.tick(front)
            except Exception as error:
                log.error("tick_failed error=%s", type(error).__name__)

    async def _run_due(
        self, pseudonym: bytes, front: FrontEnd, only_for: _Context | None = None
    ) -> None:
        due = (await self._records.due_deletions(int(self._clock()))).get(pseudonym, [])
        if not due:
            return
        if only_for is not None:
            address = only_for.incoming.address
        else:
            person = await self._records.person(pseudonym)
            if person is None or person.address is None:
                return
            data_key = self._keyring.unwrap(person.wrapped_key, pseudonym)
            address = unseal(data_key, person.address, owner=pseudonym, purpose="address").decode()
        deletion = await front.delete(address, due)
        gone = [*deletion.deleted, *deletion.too_old, *deletion.not_allowed]
        await self._records.cancel_deletion(pseudonym, gone)
        await self._records.forget_messages(pseudonym, gone)
        log.info("scheduled_deleted count=%d", len(deletion.deleted))
