"""A flood over Telegram: the real Application, the fake Bot API, the shipped rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from safetybot.core.limits import LimitSettings
from safetybot.core.menus import Action
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.vault.crypto import Keyring
from tests.test_telegram_e2e import CHAT, Harness, running

OTHER = 5550001234
BURST = 5


@pytest.fixture
async def harness(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> AsyncIterator[Harness]:
    limits = LimitSettings(rate=0.2, burst=BURST)
    async with running(tmp_path / "data", keyring, texts, directory, limits) as started:
        yield started


async def test_a_flood_of_presses_and_huge_texts_leaves_others_served_and_erase_working(
    harness: Harness,
) -> None:
    fake = harness.fake
    await harness.say("/start")
    menu = harness.last_bot()
    answers_before = len([c for c in fake.calls if c.method == "answerCallbackQuery"])
    flood = [fake.user_sends(CHAT, "x" * 4000) for _ in range(20)]
    for _ in range(60):
        fake.user_presses(CHAT, menu.message_id, Action.GUIDES.value, require_button=False)
    await harness.say("/start", chat=OTHER)
    assert "not your fault" in fake.bot_messages(OTHER)[-1].text
    await harness.settle()

    answers = len([c for c in fake.calls if c.method == "answerCallbackQuery"]) - answers_before
    # Only presses inside the burst cost a Bot API call; the rest are dropped unanswered.
    assert answers <= BURST
    notices = [m for m in fake.bot_messages(CHAT) if "faster than I can read" in m.text]
    assert len(notices) == 1

    # "Erase everything" is not refused for coming after the flood, and takes the flood too.
    await harness.say("/forget")
    await harness.press(Action.FORGET_YES.value)
    assert all(fake.message(CHAT, sent.message_id).deleted for sent in flood)
    assert await harness.store.person(harness.keyring.pseudonym("telegram", str(CHAT))) is None
