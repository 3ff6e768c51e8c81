"""Simulated people talking to a bot through the fake Bot API, and what each update cost them.

An update's latency runs from the moment it enters the fake's queue to the bot's first answer
call for that chat (sendMessage, editMessageText or sendDocument). Each person waits for that
answer before their next step, as a person does; presses wait until the button is on screen.

Every Bot API call is also put down to the update that caused it (a press's
answerCallbackQuery by its query id, anything else to the chat's newest update), so each
sample also knows when the last call it caused arrived, and which calls they were: the bare
bot of `botproc.py` replays those calls.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakebotapi import FakeBotAPI, Message

__all__ = [
    "DERIVER",
    "RETURNING",
    "SESSION",
    "Crowd",
    "Flood",
    "Sample",
    "Step",
    "TimedFake",
]

ANSWERS = frozenset({"sendmessage", "editmessagetext", "senddocument"})
# Calls an update can cause (the replaying bot makes these); the rest are the bot's own.
CAUSED = frozenset(
    {
        "sendmessage",
        "editmessagetext",
        "senddocument",
        "answercallbackquery",
        "deletemessage",
        "deletemessages",
    }
)
# People read an answer before they act on it: at least this long between two steps when
# paced (it also keeps one update's last calls from running into the next one's).
THINK_FLOOR = 0.3
PASS = "blue kettle morning"  # noqa: S105 - a simulated person's
PASS_2 = "green window evening"  # noqa: S105
NOTE = "He said he will post the photos at 9pm unless I pay 500 in gift cards"


@dataclass(frozen=True)
class Step:
    """One thing a person does: say a text, or press a button; `derives` marks a passphrase
    that is stretched with Argon2id on this step."""

    kind: str  # "say" or "press"
    value: str
    derives: bool = False


def say(text: str, derives: bool = False) -> Step:
    """The person types."""
    return Step("say", text, derives)


def press(data: str) -> Step:
    """The person taps a button."""
    return Step("press", data)


def pasted(length: int = 4096) -> str:
    """A message to check of `length` characters (Telegram's longest), cut from the checker's
    held-out examples: what a person pastes from the threats they received."""
    from safetybot.guidance.evaluation import DEFAULT_DATA, load_examples

    pool = [example.text for example in load_examples(DEFAULT_DATA)]
    text, index = "", 0
    while len(text) < length:
        text += pool[index % len(pool)] + " "
        index += 7
    return text[:length]


LONG_CHECK = pasted()

# A whole visit of someone new: menus, a guide, triage to a plan, helplines, typed words, a long
# message checked, the vault turned on, a note written step by step and one in a single message
# (while unlocked), then "erase everything".
SESSION: tuple[Step, ...] = (
    say("/start"),
    press("gl"),
    press("g:spotting_sextortion"),
    press("m"),
    press("t"),
    press("t:c:US"),
    press("t:d:no"),
    press("t:s:threat"),
    press("t:n:adult"),
    press("t:a:adult"),
    press("t:w:stranger"),
    press("t:p:no"),
    say("/helplines"),
    say("what do I do now"),
    say("/check"),
    say(LONG_CHECK),
    say("/notes"),
    press("v:on"),
    say(PASS),
    say(PASS, derives=True),
    press("v:new"),
    say(NOTE),
    press("v:save"),
    say("/note they messaged again from a new account"),
    press("v:home"),
    say("/forget"),
    press("fy"),
)

# A visit of someone whose notes are on record (100 to 5,000 of them, benchmarks/populate.py):
# unlock with the passphrase (Argon2id at its shipped cost: the list shows), the page of older
# notes, the oldest note on it, back to the list, one more note, lock. ("v:n:*" presses the
# button of the lowest note number shown.)
RETURNING: tuple[Step, ...] = (
    say("/notes"),
    say(PASS, derives=True),
    press("v:p:2"),
    press("v:n:*"),
    press("v:home"),
    say("/note they wrote again today from another account"),
    press("v:lock"),
)

# Keeps a passphrase derivation in flight: turn the vault on, then change the passphrase again
# and again (each change stretches the new passphrase once with Argon2id).
DERIVER_SETUP: tuple[Step, ...] = (
    say("/notes"),
    press("v:on"),
    say(PASS),
    say(PASS, derives=True),
)
DERIVER: tuple[Step, ...] = (
    press("v:set"),
    press("v:cp"),
    say(PASS_2),
    say(PASS_2, derives=True),
)


@dataclass
class Caused:
    """The Bot API calls one update caused, as they arrived at the fake."""

    chat_id: int
    queued: float
    message_id: int | None = None  # the person's message (None for a press)
    anchor: int | None = None  # that message, or for a press the person's newest before it
    calls: list[Call] = field(default_factory=list)

    @property
    def last(self) -> float:
        """When its last call arrived (its queue time if it caused none)."""
        return max((call.arrived for call in self.calls), default=self.queued)


@dataclass(frozen=True)
class Call:
    """One call an update caused: its method, parameters, and the messages it names, as
    references a replaying bot can resolve in its own chat (see `TimedFake._reference`)."""

    arrived: float
    method: str
    params: dict[str, Any]
    refs: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Sample:
    """One answered update."""

    kind: str
    derives: bool
    queued: float
    answered: float
    step: str = ""
    visit: str = ""
    key: tuple[str, int] = ("", 0)  # what the person sent, and how often before in this visit
    caused: Caused | None = None

    @property
    def latency(self) -> float:
        """Seconds from the fake's queue to the bot's answer."""
        return self.answered - self.queued

    @property
    def last_latency(self) -> float:
        """Seconds from the fake's queue to the last Bot API call the update caused."""
        last = self.caused.last if self.caused is not None else self.answered
        return max(last, self.answered) - self.queued


@dataclass
class _Watch:
    """Answer calls for one chat: when the last one arrived, and a wake-up for waiters."""

    armed: bool = False
    answer: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class TimedFake(FakeBotAPI):
    """The fake Bot API, noting when each answer call for a chat arrives, and which update
    caused each call."""

    def __init__(self) -> None:
        super().__init__()
        self._watches: dict[int, _Watch] = {}
        self.answer_calls = 0
        self._current: dict[int, Caused] = {}
        self._by_query: dict[str, Caused] = {}
        for name in CAUSED:
            self._methods[name] = self._traced(name, self._methods[name])
        for name in ANSWERS:
            self._methods[name] = self._timed(self._methods[name])

    def track(self, chat_id: int, queued: float, message_id: int | None, query: str) -> Caused:
        """Start putting calls down to the update just queued for this chat."""
        anchor = message_id
        if anchor is None:
            people = [m.message_id for m in self.all_messages(chat_id) if not m.from_bot]
            anchor = people[-1] if people else None
        caused = Caused(chat_id, queued, message_id, anchor)
        self._current[chat_id] = caused
        if query:
            self._by_query[query] = caused
        return caused

    def forget_updates(self) -> None:
        """Stop tracking the updates so far (their samples keep what they caused)."""
        self._current.clear()
        self._by_query.clear()

    def _traced(
        self, method: str, handler: Callable[[dict[str, Any]], Any]
    ) -> Callable[[dict[str, Any]], Any]:
        async def traced(params: dict[str, Any]) -> Any:
            arrived = time.perf_counter()
            caused = self._cause(method, params)
            if caused is not None:
                refs = tuple(self._reference(caused, i) for i in _named(params))
                caused.calls.append(Call(arrived, method, params, refs))
            return await handler(params)

        return traced

    def _cause(self, method: str, params: dict[str, Any]) -> Caused | None:
        """The update a call is put down to."""
        if method == "answercallbackquery":
            return self._by_query.get(str(params.get("callback_query_id", "")))
        chat = _chat(params)
        # The chat's newest update: people wait at least THINK_FLOOR after an answer, and the
        # service handles one person's updates in order, so the calls of one update end
        # before the next one comes (in the paced runs, where the last call is reported).
        return self._current.get(chat)

    def _reference(self, caused: Caused, message_id: int) -> tuple[str, int]:
        """A message as a replaying bot can find it in its own chat: ("u", n), the person's
        message n places after the update's anchor (negative: before it), or ("b", n), the
        bot's message n places before its newest so far."""
        everything = self.all_messages(caused.chat_id)
        people = [m.message_id for m in everything if not m.from_bot]
        bots = [m.message_id for m in everything if m.from_bot]
        if message_id in people and caused.anchor in people:
            return ("u", people.index(message_id) - people.index(caused.anchor))
        if message_id in bots:
            return ("b", len(bots) - 1 - bots.index(message_id))
        return ("?", message_id)

    def _timed(self, handler: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        async def timed(params: dict[str, Any]) -> Any:
            arrived = time.perf_counter()
            try:
                return await handler(params)
            finally:
                self.answer_calls += 1
                watch = self._watches.get(_chat(params))
                if watch is not None:
                    if watch.armed:
                        watch.answer, watch.armed = arrived, False
                    watch.changed.set()
                    watch.changed = asyncio.Event()

        return timed

    def watch(self, chat_id: int) -> _Watch:
        """The answer watch of one chat."""
        return self._watches.setdefault(chat_id, _Watch())

    def forget_calls(self) -> None:
        """Drop the call log (a long run would otherwise keep every call)."""
        self.calls.clear()


def _pick(message: Message, data: str) -> str:
    """The button data a step presses on this message ("" if none): `data` itself, or for
    "prefix*" the offered button with that prefix and the lowest number after it."""
    offered = [d for _, d in message.buttons()]
    if not data.endswith("*"):
        return data if data in offered else ""
    prefix = data[:-1]
    numbers = [
        int(d[len(prefix) :])
        for d in offered
        if d.startswith(prefix) and d[len(prefix) :].isdecimal()
    ]
    return f"{prefix}{min(numbers)}" if numbers else ""


def _named(params: dict[str, Any]) -> list[int]:
    """The message ids a call names (message_id, or deleteMessages' message_ids)."""
    named = params.get("message_ids")
    if not isinstance(named, list):
        named = [] if params.get("message_id") is None else [params["message_id"]]
    try:
        return [int(i) for i in named]
    except (TypeError, ValueError):
        return []


def _chat(params: dict[str, Any]) -> int:
    try:
        return int(params.get("chat_id", 0))
    except (TypeError, ValueError):
        return 0


@dataclass
class Person:
    """One simulated person in one chat."""

    fake: TimedFake
    chat_id: int
    samples: list[Sample]
    echo: bool  # the echo bot shows no buttons: press on its last message
    timeout: float = 30.0
    failures: int = 0
    visit: str = "new"
    missed: list[str] = field(default_factory=list)

    async def run(
        self,
        steps: Sequence[Step],
        think: float,
        rng: random.Random,
        until: float | None = None,
    ) -> None:
        """Do the steps, pausing about `think` seconds (exponentially distributed, at least
        THINK_FLOOR) between; stop early once `until` has passed."""
        seen: Counter[str] = Counter()
        for step in steps:
            if think:
                await asyncio.sleep(max(THINK_FLOOR, rng.expovariate(1 / think)))
            if until is not None and time.perf_counter() >= until:
                return
            await self.do(step, seen[step.value])
            seen[step.value] += 1

    async def do(self, step: Step, repeat: int = 0) -> None:
        """One step: queue the update, wait for the bot's answer, keep the sample."""
        watch = self.fake.watch(self.chat_id)
        if step.kind == "press":
            target = await self._button(step.value)
            if target is None:
                self.failures += 1
                self.missed.append(step.value)
                return
        watch.armed = True
        queued = time.perf_counter()
        if step.kind == "press":
            data = _pick(target, step.value) if not self.echo else step.value
            query = self.fake.user_presses(
                self.chat_id, target.message_id, data, require_button=False
            )
            caused = self.fake.track(self.chat_id, queued, None, query)
        else:
            sent = self.fake.user_sends(self.chat_id, step.value)
            caused = self.fake.track(self.chat_id, queued, sent.message_id, "")
        deadline = queued + self.timeout
        while watch.armed:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                watch.armed = False
                self.failures += 1
                self.missed.append(step.value[:40])
                return
            try:
                await asyncio.wait_for(watch.changed.wait(), remaining)
            except TimeoutError:
                continue
        command = step.value[:1] == "/"
        kind = "press" if step.kind == "press" else ("command" if command else "text")
        name = (
            step.value if step.kind == "press" else (step.value.split()[0] if command else "text")
        )
        self.samples.append(
            Sample(
                kind,
                step.derives,
                queued,
                watch.answer,
                name if len(step.value) < 1000 else f"text of {len(step.value):,} chars",
                self.visit,
                (step.value, repeat),
                caused,
            )
        )

    async def _button(self, data: str) -> Message | None:
        """The newest bot message offering `data`, waiting for it to be shown."""
        watch = self.fake.watch(self.chat_id)
        deadline = time.perf_counter() + self.timeout
        while True:
            shown = self.fake.bot_messages(self.chat_id)
            if self.echo:
                if shown:
                    return shown[-1]
            else:
                for message in reversed(shown):
                    if _pick(message, data):
                        return message
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(watch.changed.wait(), remaining)
            except TimeoutError:
                return None


_CHATS = itertools.count(5_000_000)


class Crowd:
    """Many people, each in their own chat, running scripted sessions."""

    def __init__(self, fake: TimedFake, echo: bool, seed: int = 7) -> None:
        self.fake = fake
        self.echo = echo
        self.samples: list[Sample] = []
        self.people: list[Person] = []
        self.rng = random.Random(seed)

    def person(self, chat_id: int | None = None, visit: str = "new") -> Person:
        """A new person with a chat of their own (or the chat given: someone returning)."""
        chat = next(_CHATS) if chat_id is None else chat_id
        found = Person(self.fake, chat, self.samples, self.echo, visit=visit)
        self.people.append(found)
        return found

    async def sessions(
        self,
        count: int,
        steps: Sequence[Step],
        think: float = 0.0,
        until: float | None = None,
        stagger: float = 0.0,
    ) -> None:
        """`count` people each run `steps`; with `until`, again and again until that time."""

        await self.visits([(None, "new", steps)] * count, think, until, stagger)

    async def visits(
        self,
        who: Sequence[tuple[int | None, str, Sequence[Step]]],
        think: float = 0.0,
        until: float | None = None,
        stagger: float = 0.0,
    ) -> None:
        """Each (chat or None for a new one, visit name, steps) at once; with `until`, again and
        again until that time."""

        async def one(number: int, chat: int | None, visit: str, steps: Sequence[Step]) -> None:
            person = self.person(chat, visit)
            if stagger:
                await asyncio.sleep(stagger * number / len(who))
            while True:
                await person.run(steps, think, self.rng, until)
                if until is None or time.perf_counter() >= until:
                    return

        await asyncio.gather(*(one(n, *visit) for n, visit in enumerate(who)))

    @property
    def failures(self) -> int:
        """Steps that got no answer in time, or whose button never appeared."""
        return sum(p.failures for p in self.people)

    @property
    def missed(self) -> Counter[str]:
        """Which steps those were, and how often."""
        return Counter(step for p in self.people for step in p.missed)


@dataclass
class Flood:
    """One person sending far more than anyone can type: texts, oversized texts, presses."""

    fake: TimedFake
    chat_id: int = 4_999_999
    sent: int = 0
    text_bytes: int = 0
    callback_bytes: int = 0
    big_texts: int = 0

    async def run(self, rate: float, until: float, rng: random.Random) -> None:
        """Send at `rate` updates a second until `until`, in a fixed rotation of kinds."""
        self.fake.user_sends(self.chat_id, "/start")
        await asyncio.sleep(0.5)  # a menu to press on
        kinds = itertools.cycle(("press", "big_press", "text", "press", "big_text", "press"))
        interval = 1 / rate
        next_at = time.perf_counter()
        while time.perf_counter() < until:
            kind = next(kinds)
            shown = self.fake.bot_messages(self.chat_id)
            if kind in ("press", "big_press") and shown:
                # Callback data is 64 bytes at most on Telegram; a forged client can send more.
                data = "m" if kind == "press" else "v:" + "9" * 4094
                self.fake.user_presses(
                    self.chat_id, shown[-1].message_id, data, require_button=False
                )
                self.callback_bytes += len(json.dumps(self.fake.last_update()))
            elif kind == "big_text":
                text = "".join(rng.choice("abcdefghij ") for _ in range(20_000))
                self.fake.user_sends(self.chat_id, text)
                self.text_bytes += len(text)
                self.big_texts += 1
            else:
                self.fake.user_sends(self.chat_id, f"hello? {self.sent}")
                self.text_bytes += 10
            self.sent += 1
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
