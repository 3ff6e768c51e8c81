"""The rate limit wired into the service, as a subclass, until `Service.handle` calls it itself.

It does exactly what the proposed wiring does (see safetybot/core/limits.py and the README's
benchmark notes): refuse before the person's lock, and record held ids under it.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from safetybot.core.events import Incoming
from safetybot.core.limits import Limits
from safetybot.core.replies import Reply, T
from safetybot.core.service import FrontEnd, Outgoing, Service
from safetybot.transports.telegram import TelegramBot, to_incoming

__all__ = ["LimitedService", "LimitedTelegramBot"]

FALLBACK_NOTICE = "You are sending messages very fast. Please wait a moment, then try again."


class LimitedService(Service):
    """A `Service` with a per-person rate limit in front of it."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits

    def _notice(self, incoming: Incoming) -> Outgoing:
        if not self.texts.has("limits.slow_down"):  # until the lead adds the text
            return Outgoing(FALLBACK_NOTICE)
        return self._render(self.texts.pick(incoming.language), Reply((T("limits.slow_down"),)))

    async def handle(self, incoming: Incoming, front: FrontEnd) -> None:
        pseudonym = self._keyring.pseudonym(incoming.transport, incoming.user_id)
        admitted = await self.limits.admit(
            pseudonym,
            incoming,
            front,
            self._records,
            lambda: self._notice(incoming),
            self._lock_for(pseudonym),
            now=self._clock(),
        )
        if admitted:
            await super().handle(incoming, front)

    async def _handle(self, incoming: Incoming, pseudonym: bytes, front: FrontEnd) -> None:
        # Wired, this is one line in _handle: the held ids join the incoming message's id.
        held = self.limits.held(pseudonym)
        if held and await self._records.person(pseudonym) is not None:
            await self._records.remember_messages(pseudonym, held, int(self._clock()))
        await super()._handle(incoming, pseudonym, front)


class LimitedTelegramBot(TelegramBot):
    """TelegramBot that does not answer the button presses of someone over the limit.

    Wired, this is one condition in `TelegramBot._on_update` (each answerCallbackQuery is a
    Bot API call, made before the service sees the update); the rest is the shipped method.
    """

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is not None and not self._over(str(query.from_user.id)):
            self._spawn(self._answer(update))
        incoming = to_incoming(update)
        if incoming is not None:
            await self._service.handle(incoming, self.front)
            return
        message = update.message
        if message is not None and message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            await self._leave_group(message)

    def _over(self, user_id: str) -> bool:
        service = self._service
        if not isinstance(service, LimitedService):
            return False
        return service.limits.over(service._keyring.pseudonym("telegram", user_id))
