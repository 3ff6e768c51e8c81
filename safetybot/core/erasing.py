"""Erasing: "forget me", clearing the chat, and the deletions owed after a forget.

A mixin of `Service`: it works on the service's store, keyring and vaults, declared below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from safetybot.core import menus
from safetybot.core.records import Records
from safetybot.core.rendering import Outgoing
from safetybot.core.replies import Part, Reply, T
from safetybot.core.vault import Vaults
from safetybot.errors import CryptoError
from safetybot.i18n import Texts
from safetybot.vault.crypto import Keyring

if TYPE_CHECKING:
    from safetybot.core.service import FrontEnd, _Context

__all__ = ["Deletion", "Erasing"]

log = logging.getLogger("safetybot.service")

# Telegram lets a bot delete a message for 48 hours; after that a deletion can never succeed.
_DELETE_WINDOW = 48 * 3600


@dataclass(frozen=True)
class Deletion:
    """What a front end managed to delete.

    `too_old`: past the messenger's deletion window; `not_allowed`: the messenger never lets a
    bot delete these (on Signal, the person's own messages); `failed`: any other refusal.
    """

    deleted: tuple[int, ...] = ()
    too_old: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    not_allowed: tuple[int, ...] = ()

    @property
    def remaining(self) -> int:
        """How many messages are still in the chat."""
        return len(self.too_old) + len(self.failed) + len(self.not_allowed)


class Erasing:
    """Deleting messages and erasing people (part of `Service`)."""

    # What it uses of the service.
    _records: Records
    _keyring: Keyring
    _texts: Texts
    _clock: Callable[[], float]
    vaults: Vaults

    def _render(self, locale: str, reply: Reply, silent: bool = False) -> Outgoing:
        raise NotImplementedError  # Service's

    def _drop_held(self, pseudonym: bytes) -> None:
        raise NotImplementedError  # Service's

    async def _send_all(self, ctx: _Context, replies: list[Reply], front: FrontEnd) -> None:
        raise NotImplementedError  # Service's

    async def _remember_sent(self, ctx: _Context) -> None:
        raise NotImplementedError  # Service's

    async def _delete_now(
        self, ctx: _Context, front: FrontEnd, ids: Sequence[int | None], forget: bool = True
    ) -> None:
        """Delete messages now. The person's own ids stay on record (forget=False): a
        redelivered update is then still recognised, and an erase finds them already gone."""
        wanted = [i for i in ids if i is not None]
        if not wanted:
            return
        deletion = await front.delete(ctx.incoming.address, wanted)
        if forget:
            await self._records.forget_messages(ctx.pseudonym, deletion.deleted)

    async def _forget(self, ctx: _Context, front: FrontEnd, report: bool = True) -> None:
        """Erase everything about the person, and delete every chat message still deletable.

        The ids still to delete are first written, with the chat address sealed, to a table not
        keyed by the person; then the person is erased (crypto-shredding first); then the
        deletions run. A crash or a Telegram outage in between loses nothing: `tick` retries.
        """
        locale = ctx.state.locale or self._texts.default
        recorded = await self._records.message_ids(ctx.pseudonym)
        own = await self._records.own_message_ids(ctx.pseudonym)
        sealed_address = self._keyring.seal_address(ctx.incoming.address)
        owed = await self._records.owe_deletions(
            [
                (sealed_address, message_id, sent_at + _DELETE_WINDOW)
                for message_id, sent_at in recorded
            ]
        )
        self.vaults.lock(ctx.pseudonym)
        self._drop_held(ctx.pseudonym)
        await self._records.erase_person(ctx.pseudonym)
        # Only this erase's rows: scanning every owed row (and opening each sealed address)
        # made each erase cost as much as all the erasures still pending.
        deletion = await self._run_owed(front, only=owed)
        await self._overwrite(ctx.incoming.address, own & set(deletion.too_old), locale, front)
        log.info(
            "person_forgotten deleted=%d too_old=%d failed=%d",
            len(deletion.deleted),
            len(deletion.too_old),
            len(deletion.failed),
        )
        if not report:
            return
        parts = [
            T("forget.done", {"deleted": len(deletion.deleted)}),
            *self._limits(deletion, front),
        ]
        # This report is not recorded: the person is a stranger now. Its one button deletes it.
        await front.send(
            ctx.incoming.address, self._render(locale, Reply(tuple(parts), menus.dismiss()))
        )

    async def _clear(self, ctx: _Context, front: FrontEnd, report: bool) -> None:
        """Delete every chat message the bot still can and lock the vault; keep the vault and
        settings."""
        locale = ctx.state.locale or self._texts.default
        self._drop_held(ctx.pseudonym)
        # Someone may be looking: private notes need the passphrase again after a clear.
        self.vaults.lock(ctx.pseudonym)
        ids = [message_id for message_id, _ in await self._records.message_ids(ctx.pseudonym)]
        own = await self._records.own_message_ids(ctx.pseudonym)
        deletion = await front.delete(ctx.incoming.address, ids)
        settled = [*deletion.deleted, *deletion.too_old, *deletion.not_allowed]
        await self._records.forget_messages(ctx.pseudonym, settled)
        await self._records.cancel_deletion(ctx.pseudonym, settled)
        if deletion.failed:  # a passing error: tried again by `tick` shortly
            due = int(self._clock()) + 60
            await self._records.schedule_deletion(ctx.pseudonym, deletion.failed, due)
        await self._overwrite(ctx.incoming.address, own & set(deletion.too_old), locale, front)
        log.info("chat_cleared deleted=%d too_old=%d", len(deletion.deleted), len(deletion.too_old))
        if report:
            parts = [
                T("clear.done", {"deleted": len(deletion.deleted)}),
                *self._limits(deletion, front),
            ]
            await self._send_all(ctx, [Reply(tuple(parts), menus.dismiss())], front)
            await self._remember_sent(ctx)

    def _limits(self, deletion: Deletion, front: FrontEnd) -> list[Part]:
        """What could not be deleted and how to remove it, and the messenger's own timer."""
        parts: list[Part] = []
        if deletion.remaining:
            key = f"forget.remaining.{front.transport}"
            if not self._texts.has(key):
                key = "forget.remaining"
            parts.append(T(key, {"remaining": deletion.remaining}))
        tip = f"tip.autodelete.{front.transport}"
        if self._texts.has(tip):
            parts.append(T(tip))
        return parts

    async def _overwrite(self, address: str, ids: set[int], locale: str, front: FrontEnd) -> None:
        """Old bot messages cannot be deleted, but can still be edited: leave nothing in them."""
        neutral = self._render(locale, Reply((T("neutral.overwritten"),)))
        for message_id in sorted(ids):
            try:
                await front.edit(address, message_id, neutral)
            except Exception as error:  # best effort: the report already says what remains
                log.info("overwrite_failed error=%s", type(error).__name__)

    async def _run_owed(self, front: FrontEnd, only: range | None = None) -> Deletion:
        """Try the deletions owed after "forget me" (those in `only`, when given); settle what
        is done or impossible."""
        now = int(self._clock())
        rows = await self._records.owed_deletions(now, only)
        by_address: dict[str, list[tuple[int, int, int]]] = {}
        for row_id, sealed, message_id, attempts in rows:
            try:
                address = self._keyring.open_address(sealed)
            except CryptoError:  # written under another master key: nothing can be done
                await self._records.settle_deletions([row_id], [], now)
                continue
            by_address.setdefault(address, []).append((row_id, message_id, attempts))
        total = Deletion()
        for address, items in by_address.items():
            row_of = {message_id: (row_id, attempts) for row_id, message_id, attempts in items}
            deletion = await front.delete(address, list(row_of))
            done = [
                row_of[i][0] for i in (*deletion.deleted, *deletion.too_old, *deletion.not_allowed)
            ]
            retry = [
                (row_of[i][0], now + min(3600, 30 * 2 ** row_of[i][1])) for i in deletion.failed
            ]
            await self._records.settle_deletions(done, retry, now)
            total = Deletion(
                total.deleted + deletion.deleted,
                total.too_old + deletion.too_old,
                total.failed + deletion.failed,
                total.not_allowed + deletion.not_allowed,
            )
        return total
