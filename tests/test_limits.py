"""The per-person rate limit: token buckets, one notice per window, bounded memory, held ids."""

from __future__ import annotations

import pytest

from safetybot.core.events import Pressed, Text
from safetybot.core.limits import Limits, LimitSettings, Verdict
from safetybot.core.menus import Action
from safetybot.crypto import Keyring
from safetybot.errors import ConfigError
from safetybot.i18n import Texts
from safetybot.resources import Directory
from safetybot.store import Store
from tests.conftest import FAST_VAULT, Chat, RecordingFrontEnd
from tests.limited import FALLBACK_NOTICE, LimitedService


class Clock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

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


@pytest.fixture
def limited(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> LimitedService:
    limit = Limits(LimitSettings(rate=1, burst=5, notice_seconds=60), clock)
    return LimitedService(store, keyring, texts, directory, FAST_VAULT, limits=limit)


async def test_a_flood_gets_one_calm_reply_and_others_are_served(limited: LimitedService) -> None:
    flood = Chat(limited, RecordingFrontEnd(), "111")
    other = Chat(limited, RecordingFrontEnd(), "222")
    await flood.command("start")
    for number in range(50):
        await flood.say(f"spam {number}")
    assert "not your fault" in await other.command("start")
    sent = flood.front.texts
    assert sent.count(FALLBACK_NOTICE) == 1
    assert len(sent) == 5 + 1  # the burst's replies and one notice


async def test_dropped_messages_are_still_deleted_by_forget_me(
    limited: LimitedService, clock: Clock
) -> None:
    chat = Chat(limited, RecordingFrontEnd(), "333")
    await chat.command("start")
    dropped: list[int | None] = []
    for number in range(20):
        incoming = chat._incoming(Text(f"spam {number}"))
        dropped.append(incoming.message_id)
        await limited.handle(incoming, chat.front)
    clock.now += 60  # the bucket refills
    await chat.command("forget")
    await chat.send(Pressed(Action.FORGET_YES.value))
    assert set(dropped) <= set(chat.front.deleted)
