"""The bot under test, in a process of its own: safetybot's TelegramBot, or a bare PTB echo bot.

    python -m benchmarks.botproc '{"kind": "safetybot", "url": "http://127.0.0.1:PORT", ...}'

Options (JSON): kind ("safetybot"; "echo": one sendMessage per update; "mirror": the Bot API
calls safetybot makes for an update, and nothing else), request (for echo and mirror: "httpx",
python-telegram-bot's default, or "aiohttp", safetybot's), url (the fake Bot API), data (a folder),
kdf ("default": Argon2id as shipped; "fast": its minimum), on_record (people to put on record
through the service before polling starts), limits (null, or {"rate": r, "burst": b}),
pool and concurrency (python-telegram-bot's connection pool and concurrent updates, to measure
what they change).

Prints READY once polling; then each line "MARK" on its standard input is answered with one
line of JSON counters (how long the store was busy, and how often); when standard input closes
it stops and prints one line "RESULT {json}": peak resident memory, people on record.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
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


class TimedLock(asyncio.Lock):
    """The store's lock, adding up how long it was held: the store serves one call at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0.0
        self.count = 0
        self._since = 0.0

    async def acquire(self) -> bool:
        """Wait for the lock; note when it was taken."""
        taken = await super().acquire()
        self._since = time.perf_counter()
        return taken

    def release(self) -> None:
        """Release; add the time held."""
        self.held += time.perf_counter() - self._since
        self.count += 1
        super().release()


async def _serve(counters: Callable[[], dict[str, Any]]) -> None:
    """Answer MARK lines with the counters until standard input closes."""
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        print("MARK " + json.dumps(counters()), flush=True)


TOKEN = "123456789:BENCHtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"  # noqa: S105 - a fake server's
# The production defaults of TelegramBot (cli.py passes none): 10 s polls and requests.
POLL_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0


async def _safetybot(options: dict[str, Any]) -> dict[str, Any]:
    # Imported here, so that the echo bot's memory is python-telegram-bot's alone.
    from benchmarks.populate import on_record
    from safetybot.core.limits import LimitSettings
    from safetybot.core.service import Service
    from safetybot.core.vault import VaultSettings
    from safetybot.guidance.resources import Directory
    from safetybot.i18n import Texts
    from safetybot.ops import logs
    from safetybot.ops.config import default_locales_dir
    from safetybot.store import Store
    from safetybot.transports.telegram import TelegramBot
    from safetybot.vault.crypto import KdfParams, Keyring

    data = Path(options["data"])
    with (data / "bot.log").open("w", encoding="utf-8") as log_stream:
        logs.setup("INFO", log_stream)  # as shipped: one line per update, at INFO
        locales = default_locales_dir()
        texts = Texts.load(locales)
        directory = Directory.load(locales / "resources.toml", locales=texts.locales)
        kdf = KdfParams() if options.get("kdf", "default") == "default" else KdfParams(8, 1, 1)
        store = await Store.open(data / "safetybot.db")
        lock = store._lock = TimedLock()
        keyring = Keyring(os.urandom(32))
        vault = VaultSettings(kdf=kdf)
        limits = LimitSettings(**options["limits"]) if options.get("limits") else None
        service = Service(store, keyring, texts, directory, vault, limits=limits)
        started = time.perf_counter()
        await on_record(service, int(options.get("on_record", 0)))
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
        await _serve(lambda: {"db_held": lock.held, "db_calls": lock.count})
        await bot.stop()
        people = await store.count_people()
        await service.close()
    return {"people": people, "populate_s": populated}


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer anything with one message: the least a bot can do."""
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, "echo")


_EDITS = itertools.count()


async def _mirror_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer with one message; delete a command once answered (safetybot's quiet chat)."""
    message = update.message
    if message is None:
        return
    await context.bot.send_message(message.chat_id, "mirror")
    if (message.text or "").startswith("/"):
        await context.bot.delete_messages(message.chat_id, [message.message_id])


async def _mirror_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop the button's spinner and edit the message in place, as safetybot's menus do."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    context.application.create_task(query.answer())
    chat, message_id = query.message.chat.id, query.message.message_id
    await context.bot.edit_message_text(f"pressed {next(_EDITS)}", chat, message_id)


async def _echo_bot(options: dict[str, Any]) -> dict[str, Any]:
    builder = ApplicationBuilder().token(TOKEN).base_url(f"{options['url']}/bot")
    if options.get("request") == "aiohttp":
        # The same bare bot on safetybot's HTTP layer: how much of a difference is the client.
        from safetybot.transports.telegram import make_request

        builder = builder.request(make_request(REQUEST_TIMEOUT))
        builder = builder.get_updates_request(make_request(REQUEST_TIMEOUT, connections=1))
    else:
        builder = (
            builder.read_timeout(REQUEST_TIMEOUT)
            .write_timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
        )
    application: Application[Any, Any, Any, Any, Any, Any] = builder.concurrent_updates(
        True
    ).build()
    if options["kind"] == "mirror":
        application.add_handler(MessageHandler(filters.ALL, _mirror_message))
        application.add_handler(CallbackQueryHandler(_mirror_press))
    else:
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
    await _serve(dict)
    await application.updater.stop()
    await application.stop()
    await application.shutdown()
    return {}


def _sizes(pool: int | None, concurrency: int | None) -> None:
    """Build every Application with this many Bot API connections (PTB's default: 256) and
    updates handled at once (TelegramBot's: 256), to measure what they change."""
    if not pool and not concurrency:
        return
    build = ApplicationBuilder.build

    def sized(self: ApplicationBuilder[Any, Any, Any, Any, Any, Any]) -> Any:
        if pool:
            self.connection_pool_size(pool)
        if concurrency:
            self.concurrent_updates(concurrency)
        return build(self)

    ApplicationBuilder.build = sized  # type: ignore[method-assign]


async def main(options: dict[str, Any]) -> None:
    """Run the bot until standard input closes; print the result line."""
    _sizes(options.get("pool"), options.get("concurrency"))
    if options["kind"] in ("echo", "mirror"):
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
