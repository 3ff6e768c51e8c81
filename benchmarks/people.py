"""Simulated people talking to a bot through the fake Bot API, and what each update cost them.

An update's latency runs from the moment it enters the fake's queue to the bot's first answer
call for that chat (sendMessage, editMessageText or sendDocument). Each person waits for that
answer before their next step, as a person does; presses wait until the button is on screen.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakebotapi import FakeBotAPI, Message

__all__ = [
    "DERIVER",
    "SESSION",
    "Crowd",
    "Flood",
    "Sample",
    "Step",
    "TimedFake",
]

ANSWERS = frozenset({"sendmessage", "editmessagetext", "senddocument"})
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


# A whole visit: menus, a guide, triage to a plan, helplines, the vault turned on, a note written
# step by step and one in a single message (while unlocked), then "erase everything".
SESSION: tuple[Step, ...] = (
    say("/start"),
    press("gl"),
    press("g:spotting_sextortion"),
    press("m"),
    press("t"),
    press("t:c:US"),
    press("t:d:no"),
    press("t:s:threat"),
    press("t:a:adult"),
    press("t:w:stranger"),
    press("t:p:no"),
    say("/helplines"),
    say("what do I do now"),
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


@dataclass(frozen=True)
class Sample:
    """One answered update."""

    kind: str
    derives: bool
    queued: float
    answered: float
    step: str = ""

    @property
    def latency(self) -> float:
        """Seconds from the fake's queue to the bot's answer."""
        return self.answered - self.queued


@dataclass
class _Watch:
    """Answer calls for one chat: when the last one arrived, and a wake-up for waiters."""

    armed: bool = False
    answer: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class TimedFake(FakeBotAPI):
    """The fake Bot API, noting when each answer call for a chat arrives."""

    def __init__(self) -> None:
        super().__init__()
        self._watches: dict[int, _Watch] = {}
        self.answer_calls = 0
        for name in ANSWERS:
            self._methods[name] = self._timed(self._methods[name])

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

    async def run(
        self,
        steps: Sequence[Step],
        think: float,
        rng: random.Random,
        until: float | None = None,
    ) -> None:
        """Do the steps, pausing about `think` seconds (exponentially distributed) between;
        stop early once `until` has passed."""
        for step in steps:
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))
            if until is not None and time.perf_counter() >= until:
                return
            await self.do(step)

    async def do(self, step: Step) -> None:
        """One step: queue the update, wait for the bot's answer, keep the sample."""
        watch = self.fake.watch(self.chat_id)
        if step.kind == "press":
            target = await self._button(step.value)
            if target is None:
                self.failures += 1
                return
        watch.armed = True
        queued = time.perf_counter()
        if step.kind == "press":
            self.fake.user_presses(
                self.chat_id, target.message_id, step.value, require_button=False
            )
        else:
            self.fake.user_sends(self.chat_id, step.value)
        deadline = queued + self.timeout
        while watch.armed:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                watch.armed = False
                self.failures += 1
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
        self.samples.append(Sample(kind, step.derives, queued, watch.answer, name))

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
                    if data in (d for _, d in message.buttons()):
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

    def person(self) -> Person:
        """A new person with a chat of their own."""
        found = Person(self.fake, next(_CHATS), self.samples, self.echo)
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

        async def one(number: int) -> None:
            person = self.person()
            if stagger:
                await asyncio.sleep(stagger * number / count)
            while True:
                await person.run(steps, think, self.rng, until)
                if until is None or time.perf_counter() >= until:
                    return

        await asyncio.gather(*(one(n) for n in range(count)))

    @property
    def failures(self) -> int:
        """Steps that got no answer in time, or whose button never appeared."""
        return sum(p.failures for p in self.people)


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
