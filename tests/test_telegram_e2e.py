"""End to end: the real python-telegram-bot Application polling the fake Bot API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import html
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import telegram
from pypdf import PdfReader

from safetybot.core.desk import ATTACH_STEP
from safetybot.core.limits import LimitSettings
from safetybot.core.menus import Action
from safetybot.core.service import Service
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.markup import visible_length
from safetybot.store import Store
from safetybot.transports.telegram import TelegramBot
from safetybot.vault.crypto import Keyring
from safetybot.vault.evidence import FIELDS
from safetybot.vault.export import verify_export
from tests.conftest import assert_absent
from tests.fakebotapi import FakeBotAPI, Message

TOKEN = "123456789:TESTtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"
CHAT = 7391028465
REPLIES = frozenset({"sendMessage", "editMessageText", "sendDocument"})
PASS = "blue kettle morning"
NOTE = "He said he will post it at 9pm unless I pay"


class SharedClock:
    """The service's clock, moved together with the fake server's."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Harness:
    fake: FakeBotAPI
    store: Store
    data_dir: Path
    keyring: Keyring
    service: Service
    bot: TelegramBot
    clock: SharedClock

    def advance(self, hours: float) -> None:
        """Time passes, for the fake Telegram and the bot alike."""
        self.fake.advance(hours=hours)
        self.clock.offset += hours * 3600

    def last_bot(self, chat: int = CHAT) -> Message:
        return self.fake.bot_messages(chat)[-1]

    async def say(self, text: str, chat: int = CHAT, **user: object) -> Message:
        """The person sends text; wait until the bot has answered it."""
        before = len(self.fake.calls)
        sent = self.fake.user_sends(chat, text, user=dict(user) or None)
        await self.fake.wait_for(lambda: _answered(self.fake, before), timeout=30)
        await self.settle()
        return sent

    async def send(self, fields: dict[str, Any], chat: int = CHAT) -> Message:
        """The person sends a message of any kind (a photo, a forward); wait for the answer."""
        before = len(self.fake.calls)
        sent = self.fake.user_sends_update(chat, fields)
        await self.fake.wait_for(lambda: _answered(self.fake, before), timeout=30)
        await self.settle()
        return sent

    async def edit(
        self, message: Message, text: str, chat: int = CHAT, answered: bool = True
    ) -> None:
        """The person edits a message they sent; wait until the bot has answered it, or, for
        an edit that gets no answer (`answered=False`), has taken it and gone quiet."""
        before = len(self.fake.calls)
        self.fake.user_edits(chat, message.message_id, text)
        if answered:
            await self.fake.wait_for(lambda: _answered(self.fake, before), timeout=30)
        else:
            await self.fake.wait_for(lambda: self.fake.updates_pending() == 0, timeout=30)
        await self.settle()

    async def settle(self) -> None:
        """Wait until the bot has gone quiet: after answering it may still tidy the chat."""
        quiet_rounds, seen = 0, -1
        while quiet_rounds < 3:
            await asyncio.sleep(0.03)
            busy = [c for c in self.fake.calls if c.method != "getUpdates"]
            quiet_rounds = quiet_rounds + 1 if len(busy) == seen else 0
            seen = len(busy)

    async def turn_on_vault(self) -> list[Message]:
        """Turn private notes on; return the two messages that carried the passphrase."""
        await self.say("/notes")
        await self.press("v:on")
        return [await self.say(PASS), await self.say(PASS)]

    async def press(
        self, data: str, message: Message | None = None, until: frozenset[str] = REPLIES
    ) -> None:
        """The person presses a button; wait until the bot has answered it."""
        target = message or self.last_bot()
        before = len(self.fake.calls)
        self.fake.user_presses(CHAT, target.message_id, data, require_button=False)
        await self.fake.wait_for(lambda: _answered(self.fake, before, until), timeout=30)
        await self.settle()


def _answered(fake: FakeBotAPI, before: int, until: frozenset[str] = REPLIES) -> bool:
    return any(call.method in until for call in fake.calls[before:])


@contextlib.asynccontextmanager
async def running(
    data_dir: Path,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    limits: LimitSettings | None = None,
) -> AsyncIterator[Harness]:
    """The real bot polling a fresh fake Bot API, with its database in `data_dir`."""
    async with FakeBotAPI() as fake:
        store = await Store.open(data_dir / "safetybot.db")
        clock = SharedClock()
        service = Service(store, keyring, texts, directory, clock=clock, limits=limits)
        bot = TelegramBot(service, TOKEN, fake.url, poll_timeout=1, request_timeout=1.0)
        await bot.start()
        try:
            yield Harness(fake, store, data_dir, keyring, service, bot, clock)
        finally:
            await bot.stop()
            await store.close()


@pytest.fixture
async def harness(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> AsyncIterator[Harness]:
    async with running(tmp_path / "data", keyring, texts, directory) as started:
        yield started


async def test_start_guide_vault_note_forget_leaves_nothing(
    harness: Harness, log_file: Path
) -> None:
    fake = harness.fake
    await harness.say("/start")
    assert "not your fault" in harness.last_bot().text
    menu = harness.last_bot()
    assert ("Guides", Action.GUIDES.value) in menu.buttons()

    await harness.press(Action.GUIDES.value, menu)
    # Menus are edited in place rather than piling up.
    assert fake.message(CHAT, menu.message_id).text.startswith("Pick a topic")
    await harness.press("g:spotting_sextortion", menu)
    assert "Spotting sextortion" in fake.message(CHAT, menu.message_id).text

    passphrase_messages = await harness.turn_on_vault()
    for sent in passphrase_messages:  # deleted right after being read
        assert fake.message(CHAT, sent.message_id).deleted
    await harness.press("v:new")
    await harness.say(NOTE)
    await harness.press("v:save")
    assert "Saved as note 1" in harness.last_bot().text
    assert NOTE in harness.last_bot().text

    await harness.say("/forget")
    assert "cannot be undone" in harness.last_bot().text
    await harness.press(Action.FORGET_YES.value)

    # Everything from before the erase is gone; one short report remains, which can remove itself.
    remaining = fake.messages(CHAT)
    assert len(remaining) == 1 and remaining[0].from_bot
    assert "erased" in (remaining[0].text or "")
    assert all(m.deleted for m in fake.all_messages(CHAT)[:-1])
    await harness.press(Action.DISMISS.value, remaining[0], until=frozenset({"deleteMessages"}))
    assert fake.messages(CHAT) == []

    assert_absent(harness.data_dir, NOTE, str(CHAT), "Test", PASS)
    log_text = log_file.read_text(encoding="utf-8")
    assert "event_handled" in log_text and "person_forgotten" in log_text
    for secret in (NOTE, PASS, str(CHAT), TOKEN, TOKEN.split(":")[1]):
        assert secret not in log_text


async def test_every_message_is_protected_with_no_link_previews(harness: Harness) -> None:
    await harness.say("/start")
    await harness.say("/privacy")
    sends = [c for c in harness.fake.calls if c.method == "sendMessage"]
    assert sends
    for call in sends:
        assert call.params.get("protect_content") is True
        assert call.params.get("link_preview_options", {}).get("is_disabled") is True
        assert call.params.get("parse_mode") == "HTML"


async def test_forget_after_48_hours_deletes_what_it_can_and_says_what_it_cannot(
    harness: Harness,
) -> None:
    fake = harness.fake
    await harness.say("/start")
    old = [m.message_id for m in fake.messages(CHAT)]
    fake.advance(hours=49)
    await harness.say("/help")
    await harness.say("/forget")
    await harness.press(Action.FORGET_YES.value)
    report = harness.last_bot().text or ""
    assert "48 hours" in report and "Delete" in report
    assert [m.message_id for m in fake.messages(CHAT)][:-1] == old
    # The batch call failed as a whole, so the bot fell back to one at a time.
    methods = [c.method for c in fake.calls]
    assert "deleteMessages" in methods and "deleteMessage" in methods


async def test_more_than_a_hundred_messages_are_deleted_in_batches(harness: Harness) -> None:
    fake = harness.fake
    for number in range(60):
        fake.user_sends(CHAT, f"/help {number}")
    await fake.wait_for(lambda: len(fake.bot_messages(CHAT)) >= 60, timeout=20)
    await harness.say("/forget")
    await harness.press(Action.FORGET_YES.value)
    batches = [c.params["message_ids"] for c in fake.calls if c.method == "deleteMessages"]
    assert len(batches) >= 2 and all(len(b) <= 100 for b in batches)
    assert len(fake.messages(CHAT)) == 1  # only the report


async def test_a_burst_keeps_its_order(harness: Harness) -> None:
    # Both updates arrive in one getUpdates answer; the help must come in the new language.
    harness.fake.user_sends(CHAT, "/language es")
    harness.fake.user_sends(CHAT, "/help")
    await harness.fake.wait_for(
        lambda: any("/triage" in (m.text or "") for m in harness.fake.bot_messages(CHAT)),
        timeout=30,
    )
    assert "puedo" in (harness.last_bot().text or "")


async def test_groups_get_one_polite_reply_and_nothing_is_stored(harness: Harness) -> None:
    group = -100123
    before = len(harness.fake.calls)
    harness.fake.user_sends_update(group, {"text": "hello bot"}, chat_type="supergroup")
    await harness.fake.wait_for(lambda: _answered(harness.fake, before), timeout=30)
    replies = harness.fake.bot_messages(group)
    assert len(replies) == 1 and "private chat" in (replies[0].text or "")
    assert await harness.store.count_people() == 0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                }
            },
            "only read text",
        ),
        ({"voice": {"file_id": "v", "file_unique_id": "v", "duration": 1}}, "only read text"),
        ({"location": {"latitude": 1.0, "longitude": 2.0}}, "only read text"),
        (
            {"photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]},
            "never need intimate images",
        ),
    ],
)
async def test_messages_the_bot_cannot_use_get_a_calm_reply(
    harness: Harness, fields: dict[str, object], expected: str
) -> None:
    before = len(harness.fake.calls)
    harness.fake.user_sends_update(CHAT, fields)
    await harness.fake.wait_for(lambda: _answered(harness.fake, before), timeout=30)
    assert expected in (harness.last_bot().text or "")
    if expected == "only read text":  # "tell me in a few words", and the crisis lines near
        markup = harness.last_bot().reply_markup or {}
        data = [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]
        assert Action.TALK.value in data


async def test_forged_and_unknown_input_gets_a_calm_reply(harness: Harness) -> None:
    await harness.say("/start")
    await harness.press("not-a-button")
    assert "no longer active" in (harness.last_bot().text or "")
    await harness.say("/frobnicate")
    assert "don't know that command" in (harness.last_bot().text or "")
    await harness.say("x" * 4097)
    assert "I'm a bot, so I may not understand" in (harness.last_bot().text or "")


async def test_a_long_note_is_split_under_telegrams_limit(harness: Harness) -> None:
    await harness.turn_on_vault()
    await harness.press("v:new")
    await harness.say("word " * 800)
    await harness.press("v:save")
    for message in harness.fake.bot_messages(CHAT):
        assert len(message.text or "") <= 4096
    assert any("Saved as note 1" in (m.text or "") for m in harness.fake.bot_messages(CHAT))


# Forty addresses of a realistic length (about 95 characters each), in one note.
MANY_URLS = [
    f"https://forum.example.org/threads/shared-without-consent/{n:04d}?page={n}&sort=new&ref=x{n:03d}"
    for n in range(40)
]


async def test_a_request_with_forty_addresses_fits_telegrams_limit(harness: Harness) -> None:
    fake = harness.fake
    await harness.turn_on_vault()
    await harness.press("v:new")
    for _ in range(FIELDS.index("content_urls")):
        await harness.press("v:skip")
    await harness.say("\n".join(MANY_URLS))
    await harness.say("Example Forum")
    await harness.say("@poster_account")
    await harness.press("v:u18:no")
    await harness.press("v:save")
    for data in ("v:home", "v:r", "v:rp", "v:rf:x", "v:rl:us"):
        await harness.press(data)
    await harness.say("Alex Rivera Test")
    before = len(fake.bot_messages(CHAT))
    await harness.say("alex@example.net")
    preview = fake.bot_messages(CHAT)[before:]
    await harness.press("v:ry", until=frozenset({"sendDocument"}))
    await fake.wait_for(lambda: any(m.document for m in fake.bot_messages(CHAT)), timeout=30)
    made = fake.bot_messages(CHAT)[before + len(preview) :]
    for messages in (preview, made):
        texts = [m.text for m in messages if m.text]
        assert len(texts) >= 2  # too long for one message: it came in several
        assert all(visible_length(text) <= 4096 for text in texts)
        shown = html.unescape("\n".join(texts)).replace("\\", "")
        for url in MANY_URLS:
            assert shown.count(url) == 1, url  # each address whole, once, never cut
    made_text = html.unescape(" ".join(m.text or "" for m in made))
    assert "copy all of them, in order" in made_text
    # The PDF holds the whole request, every address in it.
    document = next(m for m in made if m.document)
    assert document.file_bytes is not None
    pdf = PdfReader(io.BytesIO(document.file_bytes))
    flat = "".join("".join(page.extract_text() for page in pdf.pages).split())
    assert all(url in flat for url in MANY_URLS)


async def test_a_screenshot_is_downloaded_sealed_and_exported(harness: Harness) -> None:
    fake = harness.fake
    await harness.turn_on_vault()
    await harness.press("v:new")
    await harness.say(NOTE)
    for _ in range(ATTACH_STEP - 1):
        await harness.press("v:skip")
    screenshot = b"\x89PNG\r\n\x1a\n" + b"threat-screenshot" * 20
    file_id = fake.add_file(screenshot, "threat.png")
    before = len(fake.calls)
    fake.user_sends_update(CHAT, {"photo": fake.photo_sizes(file_id)})
    await fake.wait_for(lambda: _answered(fake, before), timeout=30)
    assert hashlib.sha256(screenshot).hexdigest() in "".join(
        m.text or "" for m in fake.bot_messages(CHAT)
    )
    await harness.press("v:save")
    await harness.press("v:home")
    await harness.press("v:x")
    await harness.press("v:xn")
    # The call is logged as it arrives; the message exists once its upload is read.
    await fake.wait_for(lambda: any(m.document for m in fake.bot_messages(CHAT)), timeout=30)
    documents = [m for m in fake.bot_messages(CHAT) if m.document]
    assert len(documents) == 1 and documents[0].file_bytes
    report = verify_export(documents[0].file_bytes)
    assert report.ok and report.attachments == 1, report.problems
    # Theirs to save and send on by default; view only when they choose it.
    sends = [c for c in fake.calls if c.method == "sendDocument"]
    assert sends[-1].params.get("protect_content") in (False, None)
    assert documents[0].document and documents[0].document["file_name"].startswith("notes-")
    await harness.press("v:x")
    await harness.press("v:xv")
    await fake.wait_for(
        lambda: len([c for c in fake.calls if c.method == "sendDocument"]) == 2, timeout=30
    )
    viewed = [c for c in fake.calls if c.method == "sendDocument"][-1]
    assert viewed.params.get("protect_content") is True
    await fake.wait_for(lambda: "View only" in (harness.last_bot().caption or ""), timeout=30)
    assert_absent(harness.data_dir, screenshot[8:], NOTE)
    await harness.say("/forget")
    await harness.press(Action.FORGET_YES.value)
    assert documents[0].message_id not in [m.message_id for m in fake.messages(CHAT)]


async def test_a_spanish_speaker_goes_from_start_to_a_plan_by_buttons(harness: Harness) -> None:
    fake = harness.fake
    await harness.say("/start", language_code="es")
    menu = harness.last_bot()
    assert "no es tu culpa" in (menu.text or "").lower()
    taps = ["t", "t:c:US", "t:d:no", "t:s:threat", "t:n:minor", "t:w:stranger", "t:p:no"]
    for data in taps:
        await harness.press(data, menu)
    plan = fake.message(CHAT, menu.message_id).text or ""
    # One message, edited in place, now holds the plan: Take It Down and a US contact.
    assert "Take It Down" in plan and "CyberTipline" in plan
    assert "1-800-843-5678" in plan  # as dialled in the US
    assert len(fake.bot_messages(CHAT)) == 1
    labels = [label for label, _ in fake.message(CHAT, menu.message_id).buttons()]
    assert labels[0] == "Si tienes menos de 18 años" or "18" in labels[0]


async def test_typing_ayuda_opens_the_crisis_path_with_a_crisis_line(harness: Harness) -> None:
    await harness.say("/start", language_code="es")
    await harness.press("t:c:GB", harness.last_bot())
    await harness.say("ayuda", language_code="es")
    text = harness.last_bot().text or ""
    assert "Samaritans" in text and "999" in text


async def test_language_can_be_switched_and_is_remembered(harness: Harness) -> None:
    await harness.say("/start", language_code="en")
    await harness.press("lg")
    await harness.press("l:es")
    await harness.say("/help", language_code="en")  # the choice outlives Telegram's setting
    assert "/triage" in (harness.last_bot().text or "")
    assert "Esto es lo que puedo hacer" in (harness.last_bot().text or "") or "puedo" in (
        harness.last_bot().text or ""
    )


async def test_a_forwarded_threat_is_checked_and_removed_from_the_chat(harness: Harness) -> None:
    fake = harness.fake
    await harness.say("/start")
    before = len(fake.calls)
    forwarded = fake.user_sends_update(
        CHAT,
        {
            "text": "Pay 300 in bitcoin within 2 hours or I send your pics to all your friends",
            "forward_origin": {
                "type": "user",
                "date": 1795000000,
                "sender_user": {"id": 555, "is_bot": False, "first_name": "Max", "username": "mx9"},
            },
        },
    )
    await fake.wait_for(lambda: _answered(fake, before), timeout=30)
    await fake.wait_for(lambda: fake.message(CHAT, forwarded.message_id).deleted, timeout=30)
    answer = harness.last_bot().text or ""
    assert "sextortion" in answer and "bitcoin" in answer


async def test_answers_the_bot_does_not_read_are_not_built_into_objects(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-telegram-bot builds a Message from a send's or an edit's answer; the bot needs
    # only a sent message's id, so those answers stay JSON (they were a fifth of its CPU).
    built: list[int] = []
    original = telegram.Message.de_json.__func__  # type: ignore[attr-defined]

    def counting(cls: type[telegram.Message], data: dict[str, Any], bot: Any = None) -> Any:
        built.append(int(data["message_id"]))
        return original(cls, data, bot)

    monkeypatch.setattr(telegram.Message, "de_json", classmethod(counting))
    start = len(harness.fake.calls)
    sent = await harness.say("/start")
    menu = harness.last_bot()
    assert "not your fault" in (menu.text or "")
    # Only the person's own message, which arrives in the update, became an object.
    assert built == [sent.message_id]
    built.clear()
    await harness.press(Action.GUIDES.value, menu)
    assert harness.fake.message(CHAT, menu.message_id).text.startswith("Pick a topic")
    assert built == [menu.message_id]  # the pressed message, from the update only
    methods = sorted(c.method for c in harness.fake.calls[start:] if c.method != "getUpdates")
    # The same Bot API calls as before: the reply, the command tidied away, the press answered
    # and its menu edited in place.
    assert methods == ["answerCallbackQuery", "deleteMessages", "editMessageText", "sendMessage"]
