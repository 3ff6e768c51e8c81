"""Faults while several people use the bot: 429s, 5xx, timeouts, dropped connections, slowness.

The bot keeps serving, retries only what is safe to repeat, and every note anyone sent is in
their vault exactly once, whether or not the answer that said so got through.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from safetybot.core.notebook import Notebook
from safetybot.core.service import Service
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.store import Store
from safetybot.transports.telegram import TelegramBot
from safetybot.vault.crypto import Keyring
from tests.conftest import FAST_VAULT
from tests.fakebotapi import FakeBotAPI
from tests.test_telegram_e2e import TOKEN

PASS = "blue kettle morning"
PEOPLE = (7100000001, 7100000002, 7100000003, 7100000004)
TOKEN_RE = re.compile(r"fault-\d+-\d+")
ANSWERS = frozenset({"sendMessage", "editMessageText"})


class Bench:
    """The real Application polling the fake; several people at once."""

    def __init__(self, fake: FakeBotAPI, service: Service, store: Store, keyring: Keyring):
        self.fake, self.service, self.store, self.keyring = fake, service, store, keyring

    async def say(self, chat: int, text: str, wait: float = 15) -> None:
        """Send a text; wait until the bot has answered in that chat (or give up quietly)."""
        before = len(self.fake.calls)

        def answered() -> bool:
            return any(
                c.method in ANSWERS and str(c.params.get("chat_id")) == str(chat)
                for c in self.fake.calls[before:]
            )

        self.fake.user_sends(chat, text)
        # A lost answer is allowed; a lost note is not (checked in the vault).
        with contextlib.suppress(AssertionError):
            await self.fake.wait_for(answered, wait)

    async def press(self, chat: int, data: str) -> None:
        """Press a button on the newest bot message that has it; wait for the answer."""
        message = next(
            m for m in reversed(self.fake.bot_messages(chat)) if data in dict(m.buttons()).values()
        )
        before = len(self.fake.calls)
        self.fake.user_presses(chat, message.message_id, data)
        await self.fake.wait_for(
            lambda: any(c.method in ANSWERS for c in self.fake.calls[before:]), 15
        )

    async def notes(self, chat: int) -> Counter[str]:
        """The tokens of every note in this person's vault (it is still unlocked)."""
        pseudonym = self.keyring.pseudonym("telegram", str(chat))
        session = self.service.vaults.session(pseudonym)
        assert session is not None, "the vault locked itself"
        opened = await Notebook(self.store).open_space(pseudonym, session)
        assert opened.damaged == 0
        found: Counter[str] = Counter()
        for note in opened.notes.values():
            found.update(TOKEN_RE.findall(str(note.get("fields", {}).get("what", ""))))
        return found

    def told(self, chat: int) -> set[str]:
        """Tokens of notes the bot said were saved, in messages that reached the chat."""
        found: set[str] = set()
        for message in self.fake.bot_messages(chat):
            if "Saved as note" in (message.text or ""):
                found.update(TOKEN_RE.findall(message.text or ""))
        return found


@pytest.fixture
async def bench(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> AsyncIterator[Bench]:
    async with FakeBotAPI() as fake:
        store = await Store.open(tmp_path / "data" / "safetybot.db")
        service = Service(store, keyring, texts, directory, FAST_VAULT)
        bot = TelegramBot(service, TOKEN, fake.url, poll_timeout=1, request_timeout=1.0)
        await bot.start()
        try:
            yield Bench(fake, service, store, keyring)
        finally:
            fake.clear_faults()
            await bot.stop()
            await store.close()


async def _open_vaults(bench: Bench) -> None:
    async def one(chat: int) -> None:
        await bench.say(chat, "/notes")
        await bench.press(chat, "v:on")
        await bench.say(chat, PASS)
        await bench.say(chat, PASS)

    await asyncio.gather(*(one(chat) for chat in PEOPLE))


def _storm(fake: FakeBotAPI) -> None:
    """One of everything the Bot API does wrong, on the calls every update makes."""
    fake.fail_next("sendMessage", 429, retry_after=1)
    fake.fail_next("editMessageText", 429, retry_after=1)
    fake.fail_next("sendMessage", 500)
    fake.fail_next("sendMessage", 502)
    fake.fail_next("editMessageText", 502, times=2)
    fake.fail_next("deleteMessages", 500)
    fake.reset_next("sendMessage")
    fake.reset_next("deleteMessages", times=2)
    fake.reset_next("answerCallbackQuery")
    fake.delay_next("sendMessage", 1.5)  # longer than the 1 s request timeout
    fake.delay_next("deleteMessages", 1.5)
    fake.delay_next("editMessageText", 0.4)  # slow, but in time
    fake.fail_next("getUpdates", 502)
    fake.reset_next("getUpdates")


async def test_notes_are_kept_once_through_every_kind_of_fault(bench: Bench) -> None:
    await _open_vaults(bench)
    sent: dict[int, list[str]] = {chat: [] for chat in PEOPLE}

    async def write(chat: int, round_: int) -> None:
        for number in range(3):
            token = f"fault-{chat % 100}-{round_ * 10 + number}"
            sent[chat].append(token)
            await bench.say(chat, f"/note {token} he wrote again")

    for round_ in range(3):
        _storm(bench.fake)
        await asyncio.gather(*(write(chat, round_) for chat in PEOPLE))
    bench.fake.clear_faults()
    # An answer that arrives late (an apology for an earlier failure) can let a person move on
    # before their last update is handled: give the bot a moment to finish, then count.
    for chat in PEOPLE:
        found = await bench.notes(chat)
        for _ in range(100):
            if set(found) >= set(sent[chat]):
                break
            await asyncio.sleep(0.1)
            found = await bench.notes(chat)
    await asyncio.sleep(0.5)
    for chat in PEOPLE:
        found = await bench.notes(chat)
        assert found == Counter(sent[chat]), (chat, found)  # none lost, none twice
        assert bench.told(chat) <= set(found)
    # Still serving everyone.
    for chat in PEOPLE:
        await bench.say(chat, "/start")
        assert "not your fault" in (bench.fake.bot_messages(chat)[-1].text or "")


async def test_a_send_that_timed_out_is_not_sent_again(bench: Bench) -> None:
    chat = PEOPLE[0]
    await _open_vaults(bench)
    bench.fake.delay_next("sendMessage", 1.5)  # arrives, but after the bot stopped waiting
    await bench.say(chat, "/note fault-0-9 once only", wait=10)
    await asyncio.sleep(2.0)
    saved = [m for m in bench.fake.bot_messages(chat) if "fault-0-9" in (m.text or "")]
    assert len(saved) == 1
    assert (await bench.notes(chat))["fault-0-9"] == 1


async def test_idempotent_deletes_are_retried_until_they_work(bench: Bench) -> None:
    chat = PEOPLE[1]
    bench.fake.reset_next("deleteMessages")
    bench.fake.fail_next("deleteMessages", 502)
    bench.fake.delay_next("deleteMessages", 1.5)
    await bench.say(chat, "/notes")
    await bench.press(chat, "v:on")
    typed = bench.fake.user_sends(chat, PASS)  # a passphrase must leave the chat
    await bench.fake.wait_for(lambda: bench.fake.message(chat, typed.message_id).deleted, 15)


async def test_a_message_delivered_twice_saves_its_note_once(bench: Bench) -> None:
    chat = PEOPLE[2]
    await _open_vaults(bench)
    await bench.say(chat, "/note fault-2-7 delivered twice")
    bench.fake.redeliver(bench.fake.all_messages(chat)[-2])
    await asyncio.sleep(1.0)
    assert (await bench.notes(chat))["fault-2-7"] == 1
