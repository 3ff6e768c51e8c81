"""The bot under test, in a process of its own: safetybot's TelegramBot, or a bare PTB bot.

    python -m benchmarks.botproc '{"kind": "safetybot", "url": "http://127.0.0.1:PORT", ...}'

Options (JSON): kind ("safetybot"; "echo": one sendMessage per update; "replay": a bare bot
making, for each update, the Bot API calls safetybot made for the same update in an earlier
run, and nothing else), request (for echo: "httpx", python-telegram-bot's default, or "aiohttp",
safetybot's; replay always uses safetybot's), url (the fake Bot API), data (a folder), kdf
("default": Argon2id as shipped; "fast": its minimum), on_record (people to put on record
through the service before polling starts), vaults ([[chat id, notes], ...]: people put on
record with that many notes in their vault, benchmarks/populate.py), limits (null, or
{"rate": r, "burst": b}), script and visits (for replay: a JSON file of the calls, see
`Replay`, and which chats make which visit), pool and concurrency (python-telegram-bot's
connection pool and concurrent updates, to measure what they change).

Prints READY once polling; then each line "MARK" on its standard input is answered with one
line of JSON counters (how long the store was busy, and how often; resident memory now and at
its peak), and "RESET" does the same after resetting the peak; when standard input closes it
stops and prints one line "RESULT {json}": peak resident memory, people on record.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    Defaults,
    MessageHandler,
    TypeHandler,
    filters,
)

from benchmarks.measures import peak_rss_mib, reset_peak_rss, rss_mib


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
    """Answer MARK (and RESET) lines with the counters until standard input closes."""
    while True:
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            return
        if line.strip() == "RESET":
            reset_peak_rss()
        memory = {"rss_mib": rss_mib(), "peak_rss_mib": peak_rss_mib()}
        print("MARK " + json.dumps({**counters(), **memory}), flush=True)


TOKEN = "123456789:BENCHtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"  # noqa: S105 - a fake server's
# The production defaults of TelegramBot (cli.py passes none): 10 s polls and requests.
POLL_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0


async def _safetybot(options: dict[str, Any]) -> dict[str, Any]:
    # Imported here, so that the echo bot's memory is python-telegram-bot's alone.
    from benchmarks.populate import on_record, with_notes
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
        started = time.perf_counter()
        vaults = [(int(chat), int(notes)) for chat, notes in options.get("vaults", [])]
        attached_mb = await with_notes(service, store, keyring, vaults)
        vaults_s = time.perf_counter() - started
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
    return {
        "people": people,
        "populate_s": populated,
        "vaults_s": vaults_s,
        "attached_mb": attached_mb,
        "notes_on_record": sum(notes for _, notes in vaults),
    }


async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer anything with one message: the least a bot can do."""
    chat = update.effective_chat
    if chat is not None:
        await context.bot.send_message(chat.id, "echo")


_NUMBER = re.compile(r"\d+$")


def _keyboard(markup: Any) -> InlineKeyboardMarkup | None:
    """The inline keyboard of a recorded call, built as safetybot builds its keyboards."""
    rows = (markup or {}).get("inline_keyboard") if isinstance(markup, dict) else None
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in row]
            for row in rows
        ]
    )


class Replay:
    """A bare bot making, for each update, the Bot API calls safetybot made for it: the same
    methods, texts and buttons, in the same order, naming the same messages of its own chat.

    The script is {visit: {what the person sent: [[call, ...] for each time they send it in
    that visit]}}, each call {"method", "params", "refs"} as benchmarks/cli.py writes it from
    safetybot's run. A press's answerCallbackQuery is started without waiting, as TelegramBot
    starts it; every other call is awaited in turn, as the service makes them.
    """

    def __init__(self, script: dict[str, Any], visits: dict[str, str]) -> None:
        self.script = script
        self.visits = {int(chat): visit for chat, visit in visits.items()}
        self.seen: Counter[tuple[int, str]] = Counter()
        self.people: defaultdict[int, list[int]] = defaultdict(list)
        self.bots: defaultdict[int, list[int]] = defaultdict(list)
        self.tasks: set[asyncio.Task[Any]] = set()

    async def on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Make the calls recorded for this update."""
        query, message = update.callback_query, update.message
        if query is not None and query.message is not None:
            chat, content = query.message.chat.id, query.data or ""
            anchor = self.people[chat][-1] if self.people[chat] else None
        elif message is not None:
            chat, content = message.chat_id, message.text or ""
            self.people[chat].append(message.message_id)
            anchor = message.message_id
        else:
            return
        known = self.script.get(self.visits.get(chat, "new"), {})
        if query is not None and content not in known:
            content = _NUMBER.sub("*", content)  # recorded as the step's "v:n:*"
        repeats = known.get(content) or [[]]
        calls = repeats[self.seen[chat, content] % len(repeats)]
        self.seen[chat, content] += 1
        if query is not None and any(c["method"] == "answercallbackquery" for c in calls):
            self._spawn(self._answer(query.answer()))
        for call in calls:
            if call["method"] != "answercallbackquery":
                # Safetybot goes on after a refused call too.
                with contextlib.suppress(TelegramError):
                    await self._make(context.bot, chat, anchor, call)

    def _spawn(self, work: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _answer(work: Awaitable[Any]) -> None:
        with contextlib.suppress(TelegramError):
            await work

    def _resolve(self, chat: int, anchor: int | None, refs: list[list[Any]]) -> list[int]:
        found = []
        for kind, place in refs:
            if kind == "u" and anchor in self.people[chat]:
                index = self.people[chat].index(anchor) + int(place)
                if 0 <= index < len(self.people[chat]):
                    found.append(self.people[chat][index])
            elif kind == "b" and int(place) < len(self.bots[chat]):
                found.append(self.bots[chat][-1 - int(place)])
        return found

    async def _make(self, bot: Bot, chat: int, anchor: int | None, call: dict[str, Any]) -> None:
        method, params = call["method"], call["params"]
        named = self._resolve(chat, anchor, call["refs"])
        keyboard = _keyboard(params.get("reply_markup"))
        quiet = bool(params.get("disable_notification"))
        if method == "sendmessage":
            sent = await bot.send_message(
                chat, params["text"], reply_markup=keyboard, disable_notification=quiet
            )
            self.bots[chat].append(sent.message_id)
        elif method == "editmessagetext" and named:
            await bot.edit_message_text(
                params["text"], chat_id=chat, message_id=named[0], reply_markup=keyboard
            )
        elif method == "deletemessages" and named:
            await bot.delete_messages(chat, named)
        elif method == "deletemessage" and named:
            await bot.delete_message(chat, named[0])
        elif method == "senddocument":
            document = params["document"]
            sent = await bot.send_document(
                chat,
                InputFile(bytes(int(document["size"])), filename=document["filename"]),
                caption=params.get("caption"),
                reply_markup=keyboard,
                disable_notification=quiet,
                protect_content=bool(params.get("protect_content")),
            )
            self.bots[chat].append(sent.message_id)


def _safetybots_defaults() -> Defaults:
    """TelegramBot's defaults, so the replayed calls carry the same parameters."""
    return Defaults(
        parse_mode=ParseMode.HTML,
        protect_content=True,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )


async def _echo_bot(options: dict[str, Any]) -> dict[str, Any]:
    builder = ApplicationBuilder().token(TOKEN).base_url(f"{options['url']}/bot")
    if options.get("request") == "aiohttp" or options["kind"] == "replay":
        # Safetybot's HTTP layer: the same client, so only what the bots do differs.
        from safetybot.transports.telegram import make_request

        builder = builder.request(make_request(REQUEST_TIMEOUT))
        builder = builder.get_updates_request(make_request(REQUEST_TIMEOUT, connections=1))
    else:
        builder = (
            builder.read_timeout(REQUEST_TIMEOUT)
            .write_timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
        )
    replay = None
    if options["kind"] == "replay":
        builder = builder.defaults(_safetybots_defaults())
        script = json.loads(await asyncio.to_thread(Path(options["script"]).read_text, "utf-8"))
        replay = Replay(script, options.get("visits", {}))
    application: Application[Any, Any, Any, Any, Any, Any] = builder.concurrent_updates(
        True
    ).build()
    if replay is not None:
        application.add_handler(TypeHandler(Update, replay.on_update))
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
    if options["kind"] in ("echo", "replay"):
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
