"""Quick delete on Telegram: erasing through failures, the 48-hour limit, auto-clear, quiet."""

from __future__ import annotations

from safetybot.core.menus import Action
from safetybot.core.service import Service
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.test_telegram_e2e import CHAT, NOTE, Harness, harness

__all__ = ["harness"]


async def test_forget_gets_through_rate_limits_server_errors_timeouts_and_resets(
    harness: Harness,
) -> None:
    fake = harness.fake
    await harness.say("/start")
    await harness.say("/help")
    await harness.say("/forget")
    fake.fail_next("deleteMessages", 429, retry_after=1)
    fake.fail_next("deleteMessages", 500)
    fake.delay_next("deleteMessages", 1.5)  # longer than the bot's 1 s timeout
    fake.reset_next("deleteMessages")
    await harness.press(Action.FORGET_YES.value)
    await fake.wait_for(lambda: len(fake.messages(CHAT)) == 1, timeout=20)
    assert "erased" in (fake.messages(CHAT)[0].text or "")


async def test_ids_still_to_delete_survive_an_outage_and_a_restart(
    harness: Harness, store: Store, keyring: Keyring, texts: Texts, directory: Directory
) -> None:
    fake = harness.fake
    await harness.say("/start")
    await harness.say("/forget")
    fake.fail_next("deleteMessages", 500, times=20)
    fake.fail_next("deleteMessage", 500, times=20)
    await harness.press(Action.FORGET_YES.value)
    report = harness.last_bot().text or ""
    assert "could not be deleted" in report or "could not" in report
    leftover = [m.message_id for m in fake.messages(CHAT)][:-1]
    assert leftover, "the outage should have left messages behind"
    # The bot restarts (a new service on the same database); Telegram works again.
    fake.clear_faults()
    restarted = Service(harness.store, harness.keyring, texts, directory, clock=harness.clock)
    harness.advance(hours=1)
    await restarted.tick(harness.bot.front)
    assert all(m.deleted for m in fake.all_messages(CHAT) if m.message_id in leftover)
    del store, keyring


async def test_old_bot_messages_are_overwritten_when_they_cannot_be_deleted(
    harness: Harness,
) -> None:
    fake = harness.fake
    await harness.say("/start")
    intro = harness.last_bot()
    harness.advance(hours=49)
    await harness.say("/clear")
    # The overwrite is an edit; the report comes after it.
    await fake.wait_for(lambda: "48 hours" in (harness.last_bot().text or ""), timeout=30)
    assert fake.message(CHAT, intro.message_id).text == "…"
    report = harness.last_bot().text or ""
    assert "48 hours" in report and "Auto-Delete" in report


async def test_auto_clear_deletes_after_the_chosen_time(harness: Harness) -> None:
    fake = harness.fake
    await harness.say("/settings")
    await harness.press("ac")
    await harness.press("ac:300")
    await harness.say("/help")
    before = [m.message_id for m in fake.messages(CHAT)]
    harness.advance(hours=0.1)  # six minutes
    await harness.service.tick(harness.bot.front)
    assert not any(m.message_id in before for m in fake.messages(CHAT))


async def test_a_full_guided_session_leaves_only_a_few_messages(harness: Harness) -> None:
    await harness.say("/start")
    menu = harness.last_bot()
    for data in (
        "gl",
        "g:spotting_sextortion",
        "gl",
        "g:images_shared",
        "m",
        "t",
        "t:c:US",
        "t:d:no",
        "t:s:shared",
        "t:n:adult",
        "t:a:adult",
        "t:w:known",
        "t:p:no",
        "m",
        "!",
    ):
        await harness.press(data, menu)
    await harness.say("/help")
    remaining = harness.fake.messages(CHAT)
    assert len(remaining) <= 3, [m.text[:30] for m in remaining if m.text]
    assert all(m.from_bot for m in remaining)  # the person's commands were deleted


async def test_the_bot_presents_itself_neutrally(harness: Harness) -> None:
    texts = " ".join(str(v) for v in harness.fake.my_texts.values()).lower()
    assert "assistant" in texts
    for word in ("sextortion", "intimate", "abuse", "nude"):
        assert word not in texts
    assert NOTE
