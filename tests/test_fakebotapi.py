"""Tests of the fake Bot API server, driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
import warnings
from collections.abc import AsyncIterator

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, CommandHandler, ContextTypes
from telegram.warnings import PTBDeprecationWarning

from tests.fakebotapi import BOT_USER, FakeBotAPI, parse_html

TOKEN = "123456:TEST-token"
CHAT = 4242


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeBotAPI) -> AsyncIterator[Bot]:
    async with Bot(
        TOKEN, base_url=f"{fake.url}/bot", base_file_url=f"{fake.url}/file/bot"
    ) as client:
        yield client


def keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Yes", callback_data="yes"),
                InlineKeyboardButton("No", callback_data="no"),
            ],
            [InlineKeyboardButton("Help", callback_data="help")],
        ]
    )


async def test_get_me(fake: FakeBotAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == BOT_USER["id"]
    assert me.is_bot
    assert me.username == "safety_test_bot"
    assert me.first_name == "Safety test bot"
    assert TOKEN in fake.token_seen
    assert [c.method for c in fake.calls] == ["getMe", "getMe"]  # initialize() + ours


async def test_send_message_html_keyboard_round_trip(fake: FakeBotAPI, bot: Bot) -> None:
    fake.user_sends(CHAT, "hello")
    sent = await bot.send_message(
        CHAT,
        "<b>Hi</b> &amp; <a href='https://example.org'>welcome</a>",
        parse_mode="HTML",
        reply_markup=keyboard(),
        protect_content=True,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    # Telegram answers with the parsed text; message ids are shared with the user's messages.
    assert sent.message_id == 2
    assert sent.text == "Hi & welcome"
    assert sent.chat.id == CHAT and sent.chat.type == "private"
    assert sent.from_user is not None and sent.from_user.id == BOT_USER["id"]
    assert sent.reply_markup == keyboard()

    stored = fake.message(CHAT, 2)
    assert stored.from_bot
    assert stored.text == "<b>Hi</b> &amp; <a href='https://example.org'>welcome</a>"
    assert stored.buttons() == [("Yes", "yes"), ("No", "no"), ("Help", "help")]
    assert stored.params["protect_content"] is True
    assert stored.params["parse_mode"] == "HTML"
    assert stored.params["link_preview_options"] == {"is_disabled": True}
    assert stored.params["chat_id"] == CHAT
    assert [m.message_id for m in fake.bot_messages(CHAT)] == [2]
    assert [m.message_id for m in fake.messages(CHAT)] == [1, 2]


async def test_string_params_are_not_json_decoded(fake: FakeBotAPI, bot: Bot) -> None:
    # PTB sends strings raw, so "123" and "true" must stay text, not become int/bool.
    await bot.send_message(CHAT, "123")
    await bot.send_message(CHAT, "true")
    assert [m.text for m in fake.bot_messages(CHAT)] == ["123", "true"]


@pytest.mark.parametrize(
    "text",
    [
        "<b>unclosed",
        "a & b",
        "<script>alert(1)</script>",
        "<b><i>x</b></i>",
        "x</b>",
        "1 < 2",
        "<br/>",
        "<span>x</span>",
        "<a>no href</a>",
        "&nbsp;",
    ],
)
async def test_invalid_html_is_rejected(fake: FakeBotAPI, bot: Bot, text: str) -> None:
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(CHAT, text, parse_mode="HTML")
    assert fake.bot_messages(CHAT) == []


async def test_valid_html_and_plain_text(fake: FakeBotAPI, bot: Bot) -> None:
    ok = (
        "<b>b</b><strong>s</strong><i>i</i><em>e</em><u>u</u><ins>n</ins><s>s</s>"
        "<strike>k</strike><del>d</del><code>c</code><pre>p</pre><blockquote>q</blockquote>"
        '<tg-spoiler>t</tg-spoiler><span class="tg-spoiler">x</span>'
        '<a href="https://x.y/?a=1&amp;b=2">l</a> &lt;&gt;&quot;&#65;&#x42;'
    )
    await bot.send_message(CHAT, ok, parse_mode="HTML")
    # Without parse_mode nothing is parsed, so "<" and "&" are fine.
    sent = await bot.send_message(CHAT, "1 < 2 & <b>")
    assert sent.text == "1 < 2 & <b>"
    assert parse_html(ok).endswith(' <>"AB')


async def test_length_and_empty_text(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(BadRequest, match="is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    # The limit counts visible text: tags and entities don't count.
    await bot.send_message(CHAT, "<b>" + "x" * 4095 + "&amp;</b>", parse_mode="HTML")
    for empty in ("", "   ", "<b></b>"):
        with pytest.raises(BadRequest, match="text is empty"):
            await bot.send_message(CHAT, empty, parse_mode="HTML")
    assert len(fake.bot_messages(CHAT)) == 1


async def test_edit_message_text(fake: FakeBotAPI, bot: Bot) -> None:
    user_msg = fake.user_sends(CHAT, "hi")
    sent = await bot.send_message(CHAT, "first", reply_markup=keyboard())
    fake.advance(hours=100)  # editing has no age limit
    edited = await bot.edit_message_text("second", CHAT, sent.message_id, reply_markup=keyboard())
    assert isinstance(edited, type(sent)) and edited.text == "second"
    stored = fake.message(CHAT, sent.message_id)
    assert stored.text == "second" and stored.edits == ["first"]
    assert stored.edit_date is not None

    with pytest.raises(BadRequest, match="is not modified"):
        await bot.edit_message_text("second", CHAT, sent.message_id, reply_markup=keyboard())
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.edit_message_text("<b>x", CHAT, sent.message_id, parse_mode="HTML")
    with pytest.raises(BadRequest, match="to edit not found"):
        await bot.edit_message_text("x", CHAT, 999)
    with pytest.raises(BadRequest, match="can't be edited"):
        await bot.edit_message_text("x", CHAT, user_msg.message_id)

    # Like Telegram: editing the text without reply_markup drops the inline keyboard.
    await bot.edit_message_text("third", CHAT, sent.message_id)
    assert stored.buttons() == [] and stored.edits == ["first", "second"]

    await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard())
    assert len(stored.buttons()) == 3
    with pytest.raises(BadRequest, match="is not modified"):
        await bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=keyboard())

    # An edit without parse_mode is plain text even if the original was HTML.
    await bot.edit_message_text("<b>bold</b>", CHAT, sent.message_id, parse_mode="HTML")
    plain = await bot.edit_message_text("1 < 2", CHAT, sent.message_id)
    assert isinstance(plain, type(sent)) and plain.text == "1 < 2"
    assert "parse_mode" not in stored.params

    fresh = await bot.send_message(CHAT, "fresh")
    await bot.delete_message(CHAT, fresh.message_id)
    with pytest.raises(BadRequest, match="to edit not found"):
        await bot.edit_message_text("edited", CHAT, fresh.message_id)


async def test_delete_messages_48h_rule(fake: FakeBotAPI, bot: Bot) -> None:
    old = fake.user_sends(CHAT, "old")
    fake.advance(hours=49)
    young_bot = await bot.send_message(CHAT, "young")
    young_user = fake.user_sends(CHAT, "young too")
    ids = [old.message_id, young_bot.message_id, young_user.message_id]

    # One message past 48 h fails the whole call and nothing is deleted.
    with pytest.raises(BadRequest, match="can't be deleted for everyone"):
        await bot.delete_messages(CHAT, ids)
    assert [m.message_id for m in fake.messages(CHAT)] == ids

    assert await bot.delete_message(CHAT, young_bot.message_id) is True
    assert await bot.delete_message(CHAT, young_user.message_id) is True
    with pytest.raises(BadRequest, match="can't be deleted for everyone"):
        await bot.delete_message(CHAT, old.message_id)
    with pytest.raises(BadRequest, match="to delete not found"):
        await bot.delete_message(CHAT, young_bot.message_id)
    with pytest.raises(BadRequest, match="to delete not found"):
        await bot.delete_message(CHAT, 777)

    assert [m.message_id for m in fake.messages(CHAT)] == [old.message_id]
    gone = [m for m in fake.all_messages(CHAT) if m.deleted]
    assert [m.message_id for m in gone] == [young_bot.message_id, young_user.message_id]


async def test_delete_messages_skips_unknown_and_limits_count(fake: FakeBotAPI, bot: Bot) -> None:
    a = await bot.send_message(CHAT, "a")
    b = await bot.send_message(CHAT, "b")
    await bot.delete_message(CHAT, b.message_id)
    # Unknown and already-deleted ids are skipped silently.
    assert await bot.delete_messages(CHAT, [a.message_id, b.message_id, 999]) is True
    assert fake.messages(CHAT) == []
    with pytest.raises(BadRequest, match="many message identifiers"):
        await bot.delete_messages(CHAT, list(range(1, 102)))
    with pytest.raises(BadRequest, match="identifiers are not specified"):
        await bot.delete_messages(CHAT, [])
    assert await bot.delete_messages(CHAT, list(range(1, 101))) is True


async def test_long_polling_wakes_up_and_offset_confirms(fake: FakeBotAPI, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=2))
    await asyncio.sleep(0.2)
    assert not poll.done()  # nothing queued: the request is held open
    started = time.monotonic()
    fake.user_sends(CHAT, "/start@safety_test_bot now", user={"language_code": "es"})
    updates = await asyncio.wait_for(poll, 1.5)
    assert time.monotonic() - started < 1.0
    assert len(updates) == 1
    msg = updates[0].message
    assert msg is not None and msg.text == "/start@safety_test_bot now"
    assert msg.from_user is not None and msg.from_user.language_code == "es"
    assert msg.from_user.id == CHAT and msg.chat.type == "private"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [("bot_command", 0, 22)]

    # Not confirmed yet: returned again, still pending.
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    assert fake.updates_pending() == 1
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert fake.updates_pending() == 0


async def test_long_poll_times_out_with_empty_result(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 0.9 <= time.monotonic() - started < 2.0


async def test_group_message_and_other_update_kinds(fake: FakeBotAPI, bot: Bot) -> None:
    fake.user_sends(-100, "hello group", chat_type="supergroup", user={"username": "x"})
    fake.user_sends_update(CHAT, {"sticker": _sticker()})
    fake.user_sends_update(CHAT, {"location": {"latitude": 1.5, "longitude": 2.5}})
    # The default chat_type="private" does not turn an existing group private.
    fake.user_sends_update(-100, {"text": "still a group"})
    updates = await bot.get_updates(timeout=0)
    group, sticker, location, group2 = (u.message for u in updates)
    assert group2 is not None and group2.chat.type == "supergroup"
    assert group is not None and group.chat.type == "supergroup" and group.chat.title == "Group"
    assert group.from_user is not None and group.from_user.username == "x"
    assert sticker is not None and sticker.sticker is not None
    assert location is not None and location.location is not None
    assert location.location.longitude == 2.5


async def test_user_presses_gives_callback_query(fake: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "choose", reply_markup=keyboard())
    query_id = fake.user_presses(CHAT, sent.message_id, "no")
    (update,) = await bot.get_updates(timeout=0)
    assert isinstance(update, Update)
    query = update.callback_query
    assert query is not None and query.id == query_id and query.data == "no"
    assert query.message is not None and query.message.message_id == sent.message_id
    assert query.from_user.id == CHAT

    assert await bot.answer_callback_query(query_id, text="Noted") is True
    assert fake.callback_answers[query_id]["text"] == "Noted"
    with pytest.raises(BadRequest, match="is too old"):
        await bot.answer_callback_query(query_id)
    with pytest.raises(AssertionError, match="no button"):
        fake.user_presses(CHAT, sent.message_id, "nonexistent")


async def test_allowed_updates_filter(fake: FakeBotAPI, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "choose", reply_markup=keyboard())
    fake.user_presses(CHAT, sent.message_id, "yes")
    fake.user_sends(CHAT, "text")
    updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [u.message is not None for u in updates] == [True]


async def test_send_document_stores_bytes(fake: FakeBotAPI, bot: Bot) -> None:
    payload = b"\x00binary\xffdata" * 100
    sent = await bot.send_document(
        CHAT,
        document=payload,
        filename="report.txt",
        caption="<b>Your report</b>",
        parse_mode="HTML",
        protect_content=True,
    )
    assert sent.document is not None and sent.document.file_name == "report.txt"
    assert sent.document.file_size == len(payload)
    assert sent.caption == "Your report"
    stored = fake.message(CHAT, sent.message_id)
    assert stored.file_bytes == payload
    assert stored.document is not None and stored.document["file_name"] == "report.txt"
    assert stored.caption == "<b>Your report</b>"
    assert stored.params["protect_content"] is True
    # What the bot uploaded can be fetched again like any Telegram file.
    file = await bot.get_file(sent.document.file_id)
    assert bytes(await file.download_as_bytearray()) == payload

    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_document(CHAT, b"x", filename="x.txt", caption="<i>", parse_mode="HTML")
    assert len(fake.bot_messages(CHAT)) == 1


async def test_user_document_and_photo_download(fake: FakeBotAPI, bot: Bot) -> None:
    data = b"%PDF-1.7 evidence"
    file_id = fake.add_file(data, "evidence.pdf")
    fake.user_sends_update(CHAT, {"document": fake.document_dict(file_id), "caption": "see"})
    photo_id = fake.add_file(b"\x89PNG...", "shot.png")
    fake.user_sends_update(CHAT, {"photo": fake.photo_sizes(photo_id)})

    doc_update, photo_update = await bot.get_updates(timeout=0)
    assert doc_update.message is not None and doc_update.message.document is not None
    assert doc_update.message.caption == "see"
    file = await bot.get_file(doc_update.message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == data

    assert photo_update.message is not None
    photo = await photo_update.message.photo[-1].get_file()
    assert bytes(await photo.download_as_bytearray()) == b"\x89PNG..."
    with pytest.raises(BadRequest, match="file_id"):
        await bot.get_file("nope")


async def test_fail_next_429_raises_retry_after(fake: FakeBotAPI, bot: Bot) -> None:
    fake.fail_next("sendMessage", 429, retry_after=1)
    # PTB 22 itself warns (int vs timedelta) whenever RetryAfter.retry_after is read.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(CHAT, "hello")
        assert caught.value.retry_after in (1, dtm.timedelta(seconds=1))
    assert fake.bot_messages(CHAT) == []  # a failed call changes nothing
    await bot.send_message(CHAT, "hello")  # only the next call failed
    assert len(fake.bot_messages(CHAT)) == 1
    assert [c.method for c in fake.calls].count("sendMessage") == 2


@pytest.mark.parametrize("status", [500, 502])
async def test_fail_next_server_errors(fake: FakeBotAPI, bot: Bot, status: int) -> None:
    fake.fail_next("sendMessage", status, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError):
            await bot.send_message(CHAT, "hello")
    assert fake.bot_messages(CHAT) == []
    await bot.send_message(CHAT, "hello")
    assert len(fake.bot_messages(CHAT)) == 1


async def test_fail_next_custom_status_and_description(fake: FakeBotAPI, bot: Bot) -> None:
    msg = await bot.send_message(CHAT, "x")
    fake.fail_next("deleteMessage", 400, description="Bad Request: custom")
    with pytest.raises(BadRequest, match="Custom"):
        await bot.delete_message(CHAT, msg.message_id)
    assert not fake.message(CHAT, msg.message_id).deleted
    fake.fail_next("sendMessage", 403)
    with pytest.raises(TelegramError, match="blocked"):
        await bot.send_message(CHAT, "y")


async def test_reset_next_raises_network_error(fake: FakeBotAPI, bot: Bot) -> None:
    fake.reset_next("sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "hello")
    assert fake.bot_messages(CHAT) == []
    await bot.send_message(CHAT, "hello")
    assert len(fake.bot_messages(CHAT)) == 1


async def test_delay_next(fake: FakeBotAPI, bot: Bot) -> None:
    fake.delay_next("getMe", 0.5)
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started < 0.5


async def test_unknown_method_is_404(fake: FakeBotAPI, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("frobnicate")
    assert fake.calls[-1].method == "frobnicate"


async def test_bot_settings_methods(fake: FakeBotAPI, bot: Bot) -> None:
    assert await bot.delete_webhook() is True
    info = await bot.get_webhook_info()
    assert info.url == ""
    assert await bot.set_my_commands([("start", "Start"), ("help", "Help")]) is True
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert await bot.set_my_commands([("start", "Empezar")], language_code="es") is True
    assert [c.description for c in await bot.get_my_commands(language_code="es")] == ["Empezar"]
    assert await bot.set_my_description("Long description") is True
    assert await bot.set_my_short_description("Short") is True
    assert await bot.set_my_name("Safety") is True
    assert (await bot.get_my_name()).name == "Safety"
    assert fake.my_texts[("description", "")] == "Long description"


async def test_reply_to_missing_message(fake: FakeBotAPI, bot: Bot) -> None:
    user_msg = fake.user_sends(CHAT, "help")
    reply = await bot.send_message(CHAT, "ok", reply_to_message_id=user_msg.message_id)
    assert reply.reply_to_message is not None
    assert reply.reply_to_message.text == "help"
    await bot.delete_message(CHAT, user_msg.message_id)
    with pytest.raises(BadRequest, match="replied not found"):
        await bot.send_message(CHAT, "late", reply_to_message_id=user_msg.message_id)
    await bot.send_message(
        CHAT, "late", reply_to_message_id=user_msg.message_id, allow_sending_without_reply=True
    )


async def test_delete_webhook_can_drop_pending_updates(fake: FakeBotAPI, bot: Bot) -> None:
    fake.user_sends(CHAT, "stale")
    await bot.delete_webhook(drop_pending_updates=True)
    assert fake.updates_pending() == 0


async def test_clock_and_wait_helpers(fake: FakeBotAPI, bot: Bot) -> None:
    before = fake.now
    fake.advance(hours=2, seconds=5)
    assert fake.now - before >= 7205
    msg = fake.user_sends(CHAT, "hi", date=before)
    assert msg.date == before

    async def later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(CHAT, "done")

    task = asyncio.create_task(later())
    calls = await fake.wait_for_calls("sendMessage", timeout=2)
    assert calls[0].params["text"] == "done"
    await task
    with pytest.raises(AssertionError, match="condition not met"):
        await fake.wait_for(lambda: len(fake.bot_messages(CHAT)) > 5, timeout=0.05)


async def test_stop_releases_pending_long_poll() -> None:
    fake = FakeBotAPI()
    await fake.start()
    async with Bot(TOKEN, base_url=f"{fake.url}/bot") as client:
        poll = asyncio.create_task(client.get_updates(timeout=30))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await fake.stop()
        result = await asyncio.wait_for(poll, 3)
        assert result == ()
        assert time.monotonic() - started < 3


async def test_real_application_polls_and_replies(fake: FakeBotAPI) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(
            "<b>Welcome</b>", parse_mode="HTML", protect_content=True, do_quote=True
        )

    app = (
        Application.builder()
        .token(TOKEN)
        .base_url(f"{fake.url}/bot")
        .base_file_url(f"{fake.url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        user_msg = fake.user_sends(CHAT, "/start")
        await fake.wait_for(lambda: len(fake.bot_messages(CHAT)) == 1)
        await app.updater.stop()
        await app.stop()
    reply = fake.bot_messages(CHAT)[0]
    assert reply.text == "<b>Welcome</b>" and reply.params["protect_content"] is True
    assert reply.params["reply_parameters"]["message_id"] == user_msg.message_id
    assert fake.updates_pending() == 0  # PTB confirmed the update on shutdown


def _sticker() -> dict[str, object]:
    return {
        "file_id": "st1",
        "file_unique_id": "ust1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
