"""The bot under test, in a process of its own: safetybot's TelegramBot, or a bare PTB echo bot.

    python -m benchmarks.botproc '{"kind": "safetybot", "url": "http://127.0.0.1:PORT", ...}'

Options (JSON): kind ("safetybot" or "echo"), url (the fake Bot API), data (a folder),
kdf ("default": Argon2id as shipped; "fast": its minimum), on_record (people to put on record
through the service before polling starts), limits (null, or {"rate": r, "burst": b}).

Prints READY once polling, serves until its standard input closes, then prints one line of
JSON: peak resident memory and how many people are on record.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from benchmarks.measures import peak_rss_mib
from safetybot import logs
from safetybot.config import default_locales_dir
from safetybot.core.events import Command, Incoming, Pressed
from safetybot.core.limits import Limits, LimitSettings
from safetybot.core.service import Deletion, Outgoing, Service
from safetybot.core.vault import VaultSettings
from safetybot.crypto import KdfParams, Keyring
from safetybot.i18n import Texts
from safetybot.resources import Directory
from safetybot.store import Store
from safetybot.transports.telegram import TelegramBot
from tests.limited import LimitedService

TOKEN = "123456789:BENCHtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"  # noqa: S105 - a fake server's
# The production defaults of TelegramBot (cli.py passes none): 10 s polls and requests.
POLL_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0


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


async def _on_record(service: Service, count: int) -> None:
    """Put `count` people on record the way they arrive: /start, then a menu or two."""
    front = NullFrontEnd()

    async def person(number: int) -> None:
        user = str(900_000_000 + number)
        for step, event in enumerate((Command("start"), Pressed("gl"), Pressed("st"))):
            origin = None if step == 0 else 1
            message_id = step + 1 if step == 0 else None
            await service.handle(
                Incoming("telegram", user, user, event, message_id, origin, "en"), front
            )

    for start in range(0, count, 50):
        await asyncio.gather(*(person(n) for n in range(start, min(count, start + 50))))


async def _safetybot(options: dict[str, Any]) -> dict[str, Any]:
    data = Path(options["data"])
    with (data / "bot.log").open("w", encoding="utf-8") as log_stream:
        logs.setup("INFO", log_stream)  # as shipped: one line per update, at INFO
        locales = default_locales_dir()
        texts = Texts.load(locales)
        directory = Directory.load(locales / "resources.toml", locales=texts.locales)
        kdf = KdfParams() if options.get("kdf", "default") == "default" else KdfParams(8, 1)
        store = await Store.open(data / "safetybot.db")
        keyring = Keyring(os.urandom(32))
        vault = VaultSettings(kdf=kdf)
        service: Service
        if options.get("limits"):
            limit = Limits(LimitSettings(**options["limits"]))
            service = LimitedService(store, keyring, texts, directory, vault, limits=limit)
        else:
            service = Service(store, keyring, texts, directory, vault)
        started = time.perf_counter()
        await _on_record(service, int(options.get("on_record", 0)))
        populated = time.perf_counter() - started
        bot = TelegramBot(
            service,
            TOKEN,
            options["url"],
            poll_timeout=POLL_TIMEOUT,
            request_timeout=REQUEST_TIMEOUT,
        )
        await bot.start()
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.read)
        await bot.stop()
        people = await store.count_people()
        await service.close()
    return {"people": people, "populate_s": populated}


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer anything with one message: the least a bot can do."""
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, "echo")


async def _echo_bot(options: dict[str, Any]) -> dict[str, Any]:
    application: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(f"{options['url']}/bot")
        .read_timeout(REQUEST_TIMEOUT)
        .write_timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .concurrent_updates(True)
        .build()
    )
    application.add_handler(MessageHandler(filters.ALL, _echo))
    application.add_handler(CallbackQueryHandler(_echo))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(
        timeout=int(POLL_TIMEOUT),
        drop_pending_updates=False,
        allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
    )
    print("READY", flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await application.updater.stop()
    await application.stop()
    await application.shutdown()
    return {}


async def main(options: dict[str, Any]) -> None:
    """Run the bot until standard input closes; print the result line."""
    if options["kind"] == "echo":
        result = await _echo_bot(options)
    else:
        result = await _safetybot(options)
    result["peak_rss_mib"] = peak_rss_mib()
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    profile = os.environ.get("BENCH_PROFILE")  # a file for cProfile stats of the bot process
    if profile:
        import cProfile

        cProfile.run("asyncio.run(main(json.loads(sys.argv[1])))", profile)
    else:
        asyncio.run(main(json.loads(sys.argv[1])))
