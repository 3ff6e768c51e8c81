"""In-process benchmarks: the pure flow, the service with a recording front end, and erase."""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram import Bot

from benchmarks.people import LONG_CHECK, NOTE, PASS, TimedFake
from safetybot.core.events import Command, Event, Incoming, Pressed, Text
from safetybot.core.flow import Context, State, step
from safetybot.core.notebook import Notebook
from safetybot.core.service import Service
from safetybot.core.vault import VaultSettings
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.ops.config import default_locales_dir
from safetybot.store import Store
from safetybot.transports.telegram import TelegramFrontEnd, make_request
from safetybot.vault.crypto import KdfParams, Keyring, seal_to
from safetybot.vault.evidence import GENESIS, Kind, make_record
from tests.conftest import Chat, RecordingFrontEnd

__all__ = ["checking", "erase", "flow_rate", "notes_list", "service_rate", "understanding"]

TOKEN = "123456789:BENCHtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"  # noqa: S105 - a fake server's
# Argon2id at its minimum: these two measure everything but the derivation (measured on its own).
FAST = VaultSettings(kdf=KdfParams(memory_kib=8, iterations=1, lanes=1))

# The session of benchmarks.people.SESSION, as core events.
EVENTS: tuple[Event, ...] = (
    Command("start"),
    Pressed("gl"),
    Pressed("g:spotting_sextortion"),
    Pressed("m"),
    Pressed("t"),
    *(
        Pressed(f"t:{q}")
        for q in ("c:US", "d:no", "s:threat", "n:adult", "a:adult", "w:stranger", "p:no")
    ),
    Command("helplines"),
    Text("what do I do now"),
    Command("check"),
    Text(LONG_CHECK),
    Command("notes"),
    Pressed("v:on"),
    Text(PASS),
    Text(PASS),
    Pressed("v:new"),
    Text(NOTE),
    Pressed("v:save"),
    Command("note", "they messaged again from a new account"),
    Pressed("v:home"),
    Command("forget"),
    Pressed("fy"),
)


def _words() -> tuple[Texts, Directory]:
    locales = default_locales_dir()
    texts = Texts.load(locales)
    return texts, Directory.load(locales / "resources.toml", locales=texts.locales)


def flow_rate(seconds: float = 2.0) -> float:
    """`flow.step` events a second over the session's events (the vault's become effects)."""
    texts, _ = _words()
    context = Context(locales=texts.locales)
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        state = State(locale="en")
        for event in EVENTS:
            state = step(state, event, context).state
        count += len(EVENTS)
    return count / (time.perf_counter() - started)


async def service_rate(people: int) -> float:
    """`Service.handle` events a second: `people` at once, each the whole session, no HTTP."""
    texts, directory = _words()
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(Path(folder) / "safetybot.db")
        service = Service(store, Keyring(os.urandom(32)), texts, directory, FAST)

        async def one(number: int) -> None:
            chat = Chat(service, RecordingFrontEnd(), str(700_000 + number))
            for event in EVENTS:
                await chat.send(event)

        started = time.perf_counter()
        await asyncio.gather(*(one(n) for n in range(people)))
        elapsed = time.perf_counter() - started
        await service.close()
    return people * len(EVENTS) / elapsed


class TimedRecords:
    """The store, with the time spent in its calls added up."""

    def __init__(self, inner: Store) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not inspect.iscoroutinefunction(attribute):
            return attribute

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await attribute(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        return timed


@dataclass
class EraseResult:
    """What erasing a person with many notes and messages cost."""

    notes: int
    messages: int
    db_seconds: float
    db_calls: int
    total_seconds: float
    api_calls: Counter[str]
    save_seconds: float
    save_blocked: float
    left_in_chat: int
    people_left: int
    extra: dict[str, Any] = field(default_factory=dict)


async def _max_gap(work: Callable[[], Any]) -> tuple[float, float]:
    """Run `work`; return its duration and the longest the event loop was blocked meanwhile."""
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    task.cancel()
    return elapsed, max(gaps, default=0.0)


async def erase(notes: int = 1000, messages: int = 1000) -> EraseResult:
    """Erase a person with `notes` vault notes and `messages` recorded chat messages, through
    the real Telegram front end and the fake Bot API."""
    texts, directory = _words()
    chat_id, user = 7391028465, "7391028465"
    with tempfile.TemporaryDirectory() as folder:
        async with TimedFake() as fake:
            bot = Bot(
                TOKEN,
                base_url=f"{fake.url}/bot",
                base_file_url=f"{fake.url}/file/bot",
                request=make_request(5.0),
            )
            await bot.initialize()
            front = TelegramFrontEnd(bot)
            store = await Store.open(Path(folder) / "safetybot.db")
            timed = TimedRecords(store)
            keyring = Keyring(os.urandom(32))
            service = Service(timed, keyring, texts, directory, FAST)  # type: ignore[arg-type]

            async def handle(event: Event, origin: int | None = None) -> None:
                message_id = None
                if not isinstance(event, Pressed):
                    message_id = fake.user_sends(chat_id, "/x").message_id
                incoming = Incoming("telegram", user, str(chat_id), event, message_id, origin)
                await service.handle(incoming, front)

            await handle(Command("start"))
            pseudonym = keyring.pseudonym("telegram", user)
            person = await store.person(pseudonym)
            assert person is not None
            data_key = keyring.unwrap(person.wrapped_key, pseudonym)
            session = await service.vaults.create(pseudonym, data_key, PASS)
            # Notes as Notebook.save writes them (hash-chained, sealed to the vault), written
            # directly: 1,000 saves through the chat would take minutes of Argon2id-free work.
            prev = GENESIS
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            for number in range(1, notes + 1):
                record = make_record(
                    seq=number,
                    prev=prev,
                    note=number,
                    kind=Kind.NOTE,
                    recorded_at=stamp,
                    fields={"what": f"{NOTE} ({number})", "platform": "Instagram"},
                )
                prev = record["hash"]
                sealed = seal_to(
                    session.public, json.dumps(record).encode(), owner=pseudonym, purpose="records"
                )
                await store.add_sealed("records", pseudonym, session.space, sealed)
            opened = await Notebook(store).open_space(pseudonym, session)
            assert len(opened.notes) == notes
            # Saves through the chat keep the space's index; written directly, it is built here
            # (the first list would), so the save below costs what a save costs.
            assert len((await Notebook(store).listing(pseudonym, session)).numbers) == notes

            # One more note, the usual way: how long a save takes with this many notes.
            async def save_one() -> None:
                await handle(Command("note", "one more"))

            save_seconds, save_blocked = await _max_gap(save_one)

            await handle(Command("forget"))
            recorded = len(await store.message_ids(pseudonym))
            ids = [fake.user_sends(chat_id, f"m{n}").message_id for n in range(messages - recorded)]
            await store.remember_messages(pseudonym, ids, int(time.time()))
            recorded = len(await store.message_ids(pseudonym))
            confirm = fake.bot_messages(chat_id)[-1]
            timed.seconds, timed.calls = 0.0, 0
            before = len(fake.calls)
            started = time.perf_counter()
            await handle(Pressed("fy"), confirm.message_id)
            total = time.perf_counter() - started
            calls = Counter(call.method for call in fake.calls[before:])
            left = len(fake.messages(chat_id))
            people_left = await store.count_people()
            await service.close()
            await bot.shutdown()
    return EraseResult(
        notes=notes,
        messages=recorded,
        db_seconds=timed.seconds,
        db_calls=timed.calls,
        total_seconds=total,
        api_calls=calls,
        save_seconds=save_seconds,
        save_blocked=save_blocked,
        left_in_chat=left,
        people_left=people_left,
    )


@dataclass
class NotesResult:
    """How long the notes list and opening the oldest note take with many notes."""

    notes: int
    first_list: float  # the first list after the notes were written (builds what it needs)
    list_p50: float
    open_p50: float
    save_p50: float
    repeats: int


async def _write_notes(
    store: Store, pseudonym: bytes, public: bytes, space: bytes, notes: int
) -> None:
    """Notes as Notebook.save writes their records (hash-chained, sealed), written directly."""
    prev = GENESIS
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for number in range(1, notes + 1):
        record = make_record(
            seq=number,
            prev=prev,
            note=number,
            kind=Kind.NOTE,
            recorded_at=stamp,
            fields={"what": f"{NOTE} ({number})", "platform": "Instagram"},
        )
        prev = record["hash"]
        sealed = seal_to(public, json.dumps(record).encode(), owner=pseudonym, purpose="records")
        await store.add_sealed("records", pseudonym, space, sealed)


async def notes_list(notes: int = 5000, repeats: int = 15) -> NotesResult:
    """The notes list and opening note 1 through the service, with `notes` notes in the vault.

    The notes are written straight into the store (5,000 saves through the chat would take
    minutes); the first list after that is timed on its own, then each step `repeats` times.
    """
    texts, directory = _words()
    with tempfile.TemporaryDirectory() as folder:
        store = await Store.open(Path(folder) / "safetybot.db")
        keyring = Keyring(os.urandom(32))
        service = Service(store, keyring, texts, directory, FAST)
        chat = Chat(service, RecordingFrontEnd(), "7391028465")
        await chat.turn_on_vault(PASS)
        pseudonym = keyring.pseudonym("test", chat.user)
        session = service.vaults.session(pseudonym)
        assert session is not None
        await _write_notes(store, pseudonym, session.public, session.space, notes)

        async def timed(step: Callable[[], Any], expect: str) -> float:
            started = time.perf_counter()
            shown = await step()
            elapsed = time.perf_counter() - started
            assert expect in shown, shown[:200]
            return elapsed

        def listing() -> Any:
            return chat.command("notes")

        def opening() -> Any:
            return chat.send(Pressed("v:n:1"))

        first = await timed(listing, "Private notes:")
        lists, opens, saves = [], [], []
        for number in range(repeats):
            lists.append(await timed(listing, "Private notes:"))
            opens.append(await timed(opening, "**Note 1**"))
            saves.append(
                await timed(lambda n=number: chat.command("note", f"one more ({n})"), "one more")
            )
        await service.close()
    lists.sort(), opens.sort(), saves.sort()
    middle = repeats // 2
    return NotesResult(notes, first, lists[middle], opens[middle], saves[middle], repeats)


@dataclass(frozen=True)
class WordsResult:
    """Time to understand one typed message, by its length."""

    length: int
    count: int
    p50: float
    p99: float


def understanding(
    lengths: tuple[int, ...] = (100, 1000, 4096), count: int = 2000
) -> list[WordsResult]:
    """The understanding step (word lists and model) on messages cut from the held-out lines."""
    from safetybot.core.signals import Signals
    from safetybot.guidance.intentdata import load_lines

    signals = Signals.from_texts(_words()[0])
    pool = [line.text for line in load_lines(splits=("heldout",))]
    results = []
    for length in lengths:
        messages = []
        for start in range(count):
            text = ""
            index = start
            while len(text) < length:
                text += pool[index % len(pool)] + " "
                index += 7
            messages.append(text[:length])
        times = []
        for text in messages:
            began = time.perf_counter()
            signals.understand(text)
            times.append(time.perf_counter() - began)
        times.sort()
        results.append(
            WordsResult(length, count, times[count // 2], times[min(count - 1, int(count * 0.99))])
        )
    return results


def checking(
    lengths: tuple[int, ...] = (1000, 4096), count: int = 300, kind: str = ""
) -> list[WordsResult]:
    """ "Check a message" (rules and model) on messages cut from its held-out split (with
    `kind`, only from messages of that kind: "benign" is the slowest case, see checker.py)."""
    from safetybot.guidance.checker import FLAGS_FILE, Checker, load_model
    from safetybot.guidance.evaluation import DEFAULT_DATA, load_examples
    from safetybot.guidance.redflags import Rules

    checks = Checker(Rules.load(default_locales_dir()), load_model(), load_model(FLAGS_FILE))
    pool = [e.text for e in load_examples(DEFAULT_DATA) if not kind or e.kind == kind]
    results = []
    for length in lengths:
        times = []
        for start in range(count):
            text, index = "", start
            while len(text) < length:
                text += pool[index % len(pool)] + " "
                index += 7
            began = time.perf_counter()
            checks.check(text[:length])
            times.append(time.perf_counter() - began)
        times.sort()
        results.append(
            WordsResult(length, count, times[count // 2], times[min(count - 1, int(count * 0.99))])
        )
    return results
