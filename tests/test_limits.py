"""The per-person rate limit: token buckets, one notice per window, bounded memory, held ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from safetybot.core.events import Edited, Pressed, Text
from safetybot.core.limits import Limits, LimitSettings, Verdict
from safetybot.core.menus import Action
from safetybot.core.service import Service
from safetybot.errors import ConfigError, FrontEndError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.ops.config import Config
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.conftest import FAST_VAULT, Chat, RecordingFrontEnd


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def limits(clock: Clock, **settings: float) -> Limits:
    return Limits(LimitSettings(**settings), clock)  # type: ignore[arg-type]


def test_a_burst_passes_then_one_notice_then_silence(clock: Clock) -> None:
    limit = limits(clock, rate=1, burst=5, notice_seconds=60)
    verdicts = [limit.check(b"a") for _ in range(12)]
    assert verdicts[:5] == [Verdict.ALLOW] * 5
    assert verdicts[5] is Verdict.SLOW_DOWN
    assert set(verdicts[6:]) == {Verdict.DROP}


def test_tokens_come_back_at_the_rate(clock: Clock) -> None:
    limit = limits(clock, rate=2, burst=2)
    assert [limit.check(b"a") for _ in range(3)][-1] is not Verdict.ALLOW
    clock.now += 0.5  # one token at 2 a second
    assert limit.check(b"a") is Verdict.ALLOW
    assert limit.check(b"a") is not Verdict.ALLOW
    clock.now += 100  # never more than the burst (and the notice window is over)
    expected = [Verdict.ALLOW, Verdict.ALLOW, Verdict.SLOW_DOWN]
    assert [limit.check(b"a") for _ in range(3)] == expected


def test_the_notice_comes_again_only_after_its_window(clock: Clock) -> None:
    limit = limits(clock, rate=0.01, burst=1, notice_seconds=30)
    assert limit.check(b"a") is Verdict.ALLOW
    assert limit.check(b"a") is Verdict.SLOW_DOWN
    clock.now += 29
    assert limit.check(b"a") is Verdict.DROP
    clock.now += 1
    assert limit.check(b"a") is Verdict.SLOW_DOWN


def test_one_persons_flood_leaves_everyone_else_untouched(clock: Clock) -> None:
    limit = limits(clock, rate=1, burst=3)
    for _ in range(1000):
        limit.check(b"flood")
    assert all(limit.check(bytes([n])) is Verdict.ALLOW for n in range(50))


def test_memory_stays_bounded_with_very_many_people(clock: Clock) -> None:
    limit = limits(clock, rate=1, burst=3, max_people=1000)
    for n in range(100_000):
        limit.check(n.to_bytes(4, "big"))
    assert len(limit) == 1000
    # Buckets that have refilled (and whose notice window is over) are dropped as time passes.
    clock.now += 3600
    limit.check(b"late")
    assert len(limit) == 1


def test_refused_message_ids_are_held_as_runs_and_handed_over_once(clock: Clock) -> None:
    limit = limits(clock, rate=1, burst=1)
    limit.check(b"a", 1)
    for message_id in (2, 3, 4, 9, 10, 10):
        limit.check(b"a", message_id)
    assert limit.held(b"a") == [2, 3, 4, 9, 10]
    assert limit.held(b"a") == []
    assert limit.held(b"nobody") == []


def test_held_ids_keep_a_bucket_alive_and_stay_bounded(clock: Clock) -> None:
    limit = limits(clock, rate=1, burst=1, max_runs=4)
    limit.check(b"a", 1)
    for message_id in range(10, 100, 10):  # nine scattered ids: only the newest four runs
        limit.check(b"a", message_id)
    clock.now += 3600
    limit.check(b"b")
    assert limit.held(b"a") == [60, 70, 80, 90]


@pytest.mark.parametrize(
    "bad",
    [{"rate": 0}, {"rate": float("nan")}, {"burst": 0}, {"notice_seconds": -1}, {"max_people": 0}],
)
def test_settings_out_of_range_are_refused_by_name(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        LimitSettings(**bad)  # type: ignore[arg-type]


class CountingStore(Store):
    """The real store, counting reads of a person (a flood must not cost one each)."""

    reads = 0

    async def person(self, pseudonym: bytes) -> Any:
        CountingStore.reads += 1
        return await super().person(pseudonym)


@pytest.fixture
async def counting_store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await CountingStore.open(tmp_path / "data" / "safetybot.db")
    yield opened
    await opened.close()


@pytest.fixture
def limited(
    counting_store: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> Service:
    settings = LimitSettings(rate=1, burst=5, notice_seconds=60)
    return Service(counting_store, keyring, texts, directory, FAST_VAULT, clock, limits=settings)


SLOW_DOWN = "faster than I can read them"


async def flood(chat: Chat, count: int, text: str = "spam") -> list[int]:
    """Send `count` texts without the clock moving; return their message ids."""
    ids = []
    for number in range(count):
        incoming = chat._incoming(Text(f"{text} {number}"))
        assert incoming.message_id is not None
        ids.append(incoming.message_id)
        await chat.service.handle(incoming, chat.front)
    return ids


async def set_panic_word(chat: Chat, word: str) -> None:
    """Choose a panic word that erases everything."""
    await chat.command("settings")
    await chat.press("pw")
    await chat.press("pm:forget")
    await chat.say(word)


async def test_a_flood_gets_one_calm_reply_and_others_are_served(limited: Service) -> None:
    flooder = Chat(limited, RecordingFrontEnd(), "111")
    other = Chat(limited, RecordingFrontEnd(), "222")
    await flooder.command("start")
    await flood(flooder, 50)
    assert "not your fault" in await other.command("start")
    sent = flooder.front.texts
    assert sum(SLOW_DOWN in text for text in sent) == 1
    assert len(sent) == 5 + 1  # the burst's replies and one notice


async def test_the_notice_is_in_the_persons_language(limited: Service) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "112")
    await chat.command("language", "es")
    await flood(chat, 20)
    assert any("más rápido" in text for text in chat.front.texts)


async def test_dropped_messages_are_still_deleted_by_forget_me(
    limited: Service, clock: Clock
) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "333")
    await chat.command("start")
    dropped = await flood(chat, 20)
    clock.now += 60  # the bucket refills
    await chat.command("forget")
    await chat.send(Pressed(Action.FORGET_YES.value))
    assert set(dropped) <= set(chat.front.deleted)


async def test_erasing_is_never_refused_during_a_flood(
    limited: Service, counting_store: Store, keyring: Keyring
) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "444")
    await chat.command("start")
    dropped = await flood(chat, 30)
    # No waiting for the bucket to refill.
    assert "Erase everything?" in await chat.command("forget")
    await chat.press(Action.FORGET_YES.value)
    assert await counting_store.person(keyring.pseudonym("test", "444")) is None
    assert set(dropped) <= set(chat.front.deleted)


async def test_clear_chat_and_the_crisis_path_work_during_a_flood(limited: Service) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "445")
    await chat.command("start")
    await flood(chat, 30)
    assert "emergency number" in await chat.command("now")
    await chat.command("clear")
    assert set(chat.front.deleted) >= {c.message_id for c in chat.front.calls[:-1]}


@pytest.mark.parametrize("edited", [False, True], ids=["typed", "edited"])
@pytest.mark.parametrize("words", ["i want to die", "HELP", "me quiero matar"])
async def test_words_of_self_harm_or_a_cry_for_help_are_answered_during_a_flood(
    limited: Service, words: str, edited: bool
) -> None:
    # Typed, or "hi" edited into them: edits count for the rate limit like typed text, and
    # the same crisis words are never answered "slow down".
    chat = Chat(limited, RecordingFrontEnd(), "446")
    await chat.command("start")
    await flood(chat, 30)
    before = len(chat.front.texts)
    shown = await chat.send(Edited(words) if edited else Text(words))
    assert len(chat.front.texts) > before
    assert SLOW_DOWN not in shown
    assert "glad you wrote" in shown or "next ten minutes" in shown


async def test_the_panic_word_works_during_a_flood_without_a_read_per_message(
    limited: Service, counting_store: Store, keyring: Keyring, clock: Clock
) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "555")
    await set_panic_word(chat, "Tulip")
    clock.now += 60
    await flood(chat, 10)
    reads = CountingStore.reads
    await flood(chat, 200)
    # One read to learn the panic word, one for the notice: not one per message.
    assert CountingStore.reads - reads <= 2
    await chat.say("  tulip ")
    assert await counting_store.person(keyring.pseudonym("test", "555")) is None
    assert {c.message_id for c in chat.front.calls} <= set(chat.front.deleted)


async def test_a_new_panic_word_is_the_one_checked_in_the_next_flood(
    limited: Service, counting_store: Store, keyring: Keyring, clock: Clock
) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "556")
    await set_panic_word(chat, "Tulip")
    clock.now += 60
    await flood(chat, 10)  # the old word is now kept in memory
    clock.now += 60
    await set_panic_word(chat, "Harbor")
    clock.now += 60
    await flood(chat, 10)
    await chat.say("tulip")
    assert await counting_store.person(keyring.pseudonym("test", "556")) is not None
    await chat.say("harbor")
    assert await counting_store.person(keyring.pseudonym("test", "556")) is None


async def test_a_flood_of_urgent_commands_alone_is_still_limited(limited: Service) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "666")
    for _ in range(40):
        await chat.command("now")
    assert len(chat.front.texts) == 5 + 1


def test_the_rate_limit_is_an_organization_setting(tmp_path: Path) -> None:
    env = {"SAFETYBOT_RATE_LIMIT_PER_MINUTE": "120", "SAFETYBOT_RATE_LIMIT_BURST": "10"}
    config = Config.from_mapping(env, cwd=tmp_path)
    assert config.limits == LimitSettings(rate=2.0, burst=10)
    assert Config.from_mapping({}, cwd=tmp_path).limits == LimitSettings(rate=3.0, burst=40)
    with pytest.raises(ConfigError, match="SAFETYBOT_RATE_LIMIT_BURST"):
        Config.from_mapping({"SAFETYBOT_RATE_LIMIT_BURST": "0"}, cwd=tmp_path)


class NoticeFails(RecordingFrontEnd):
    """A messenger that fails to deliver the "please wait" notice."""

    async def send(self, address: str, message: Any) -> list[int]:
        if SLOW_DOWN in message.markdown:
            raise FrontEndError("send failed: NetworkError")
        return await super().send(address, message)


async def test_a_notice_that_cannot_be_sent_changes_nothing_else(
    limited: Service, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(limited, NoticeFails(), "777")
    await chat.command("start")
    await flood(chat, 20)  # the notice fails: no exception escapes, the flood is still refused
    assert len(chat.front.texts) == 5
    assert "slow_down_failed" in caplog.text
    clock.now += 60  # the bucket refills: the person is served again
    await chat.command("help")
    assert len(chat.front.texts) == 6
