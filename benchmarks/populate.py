"""Putting many people on record quickly: the service with a messenger that accepts anything."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from safetybot.core.events import Command, Incoming, Pressed
from safetybot.core.service import Deletion, Outgoing, Service

__all__ = ["NullFrontEnd", "on_record"]


class NullFrontEnd:
    """A messenger that accepts everything (for putting people on record quickly)."""

    transport = "telegram"

    def __init__(self) -> None:
        self._next = 10**9

    async def send(self, address: str, message: Outgoing) -> list[int]:
        self._next += 1
        return [self._next]

    async def edit(self, address: str, message_id: int, message: Outgoing) -> bool:
        return True

    async def delete(self, address: str, message_ids: Sequence[int]) -> Deletion:
        return Deletion(deleted=tuple(message_ids))

    async def send_document(
        self, address: str, filename: str, data: bytes, caption: Outgoing
    ) -> list[int]:
        return await self.send(address, caption)

    async def download(self, ref: str, limit: int) -> bytes:
        return b""


async def on_record(service: Service, count: int) -> None:
    """Put `count` people on record the way they arrive: /start, then the settings."""
    front = NullFrontEnd()

    async def person(number: int) -> None:
        user = str(900_000_000 + number)
        for step, event in enumerate((Command("start"), Pressed("st"))):
            origin = None if step == 0 else 1
            message_id = step + 1 if step == 0 else None
            await service.handle(
                Incoming("telegram", user, user, event, message_id, origin, "en"), front
            )

    for start in range(0, count, 50):
        await asyncio.gather(*(person(n) for n in range(start, min(count, start + 50))))
