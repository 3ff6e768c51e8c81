"""The rate limit wired into the service, as a subclass, until `Service.handle` calls it itself.

It does exactly what the proposed wiring does (see safetybot/core/limits.py and the README's
benchmark notes): refuse before the person's lock, and record held ids under it.
"""

from __future__ import annotations

from typing import Any

from safetybot.core.events import Incoming
from safetybot.core.limits import Limits
from safetybot.core.replies import Reply, T
from safetybot.core.service import FrontEnd, Outgoing, Service

__all__ = ["LimitedService"]

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
