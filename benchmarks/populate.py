"""Putting people on record quickly: the service with a messenger that accepts anything, and
vaults holding many notes written with the real store and vault code."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import random
from collections.abc import Sequence

from safetybot.core.events import Command, Incoming, Pressed
from safetybot.core.notebook import Notebook
from safetybot.core.service import Deletion, Outgoing, Service
from safetybot.store import Store
from safetybot.vault.crypto import Keyring, seal_to
from safetybot.vault.evidence import GENESIS, Kind, make_record

__all__ = ["ATTACH_EVERY", "NullFrontEnd", "on_record", "with_notes"]

PASS = "blue kettle morning"  # noqa: S105 - the simulated people's (benchmarks.people.PASS)
NOTE = "He said he will post the photos at 9pm unless I pay 500 in gift cards"
# One note in this many has a screenshot attached (a JPEG of about 130 KB, noisy like a photo).
ATTACH_EVERY = 20


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


def _screenshots(count: int = 8) -> list[bytes]:
    """A few JPEG "screenshots" (noisy, so they compress as photos of a screen do), made once."""
    from PIL import Image

    rng = random.Random(19)
    shots = []
    for _ in range(count):
        image = Image.effect_noise((360, 780), 40 + rng.random() * 20).convert("RGB")
        out = io.BytesIO()
        image.save(out, "JPEG", quality=70)
        shots.append(out.getvalue())
    return shots


async def with_notes(
    service: Service, store: Store, keyring: Keyring, people: Sequence[tuple[int, int]]
) -> float:
    """Put each (Telegram chat id, notes) on record with their vault turned on (passphrase
    PASS, stretched at the service's cost) and that many notes, one in ATTACH_EVERY with a
    screenshot; build each space's index (as their first list would); lock the vault. Return
    the megabytes of attachments written."""
    front = NullFrontEnd()
    notebook = Notebook(store)
    shots = _screenshots()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    attached = 0
    for chat_id, notes in people:
        user = str(chat_id)
        start = Incoming("telegram", user, user, Command("start"), None, None, "en")
        await service.handle(start, front)
        pseudonym = keyring.pseudonym("telegram", user)
        person = await store.person(pseudonym)
        assert person is not None
        data_key = keyring.unwrap(person.wrapped_key, pseudonym)
        session = await service.vaults.create(pseudonym, data_key, PASS)
        prev = GENESIS
        for number in range(1, notes + 1):
            files = []
            if number % ATTACH_EVERY == 1:
                shot = shots[number % len(shots)]
                attached += len(shot)
                files.append(
                    await notebook.store_file(
                        pseudonym,
                        session.public,
                        session.space,
                        shot,
                        name=f"screenshot-{number}.jpg",
                        mime="image/jpeg",
                        received_at=stamp,
                    )
                )
            record = make_record(
                seq=number,
                prev=prev,
                note=number,
                kind=Kind.NOTE,
                recorded_at=stamp,
                fields={"what": f"{NOTE} ({number})", "platform": "Instagram"},
                attachments=files,
            )
            prev = record["hash"]
            sealed = seal_to(
                session.public, json.dumps(record).encode(), owner=pseudonym, purpose="records"
            )
            await store.add_sealed("records", pseudonym, session.space, sealed)
        # Written directly, the notes have no index yet: build it, as their first list would.
        assert len((await notebook.listing(pseudonym, session)).numbers) == notes
        service.vaults.lock(pseudonym)
    return attached / 1e6
