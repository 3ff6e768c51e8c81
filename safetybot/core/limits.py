"""A per-person rate limit: one token bucket per pseudonym, in bounded memory.

A person may send `burst` updates at once and `rate` a second after that, far more than anyone
types or taps. An update over the limit is refused before any work is done (no database, no
Bot API call, no wait on the person's lock), so one person's flood never queues in front of
anyone else. The first refusal in each `notice_seconds` earns one calm "slow down" reply (text
`limits.slow_down`); the rest are dropped silently. What must never be refused (erasing, the
panic word, the crisis path) is the service's to decide (`Service.handle`).

A dropped message is still a message in the chat, and erasing must be able to delete it: its id
is held here (as runs of consecutive ids) and recorded with the person's next update.

Memory: a bucket that has refilled carries no information and is dropped; at most
`max_people` buckets are kept (the least recently used goes first), each holding at most
`max_runs` runs of held ids: about 300 bytes a person, so 15 MB for the default 50,000.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from safetybot.errors import ConfigError

__all__ = ["LimitSettings", "Limits", "Verdict"]


class Verdict(StrEnum):
    """What to do with one update."""

    ALLOW = "allow"
    SLOW_DOWN = "slow_down"  # refused; say "slow down" once
    DROP = "drop"  # refused, silently


@dataclass(frozen=True)
class LimitSettings:
    """Operator-set limits; ConfigError names the first bad value."""

    rate: float = 3.0
    burst: int = 40
    notice_seconds: float = 60.0
    max_people: int = 50_000
    max_runs: int = 32

    def __post_init__(self) -> None:
        checks = (
            ("rate", math.isfinite(self.rate) and self.rate > 0),
            ("burst", self.burst >= 1),
            ("notice_seconds", math.isfinite(self.notice_seconds) and self.notice_seconds >= 0),
            ("max_people", self.max_people >= 1),
            ("max_runs", self.max_runs >= 1),
        )
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"rate limit {name} is out of range")


class _Bucket:
    """One person's tokens, when they were counted, their last notice, and held ids."""

    __slots__ = ("noticed", "runs", "stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.noticed = -math.inf
        self.runs: list[list[int]] = []  # [first, last] of consecutive held message ids


class Limits:
    """Token buckets by pseudonym; every method is synchronous and never suspends."""

    def __init__(
        self,
        settings: LimitSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or LimitSettings()
        self._clock = clock
        self._buckets: OrderedDict[bytes, _Bucket] = OrderedDict()
        # After this long without an update a bucket is full again: nothing left to remember.
        self._idle = max(self.settings.burst / self.settings.rate, self.settings.notice_seconds)

    def __len__(self) -> int:
        return len(self._buckets)

    def check(self, key: bytes, message_id: int | None = None) -> Verdict:
        """Take a token for one update; hold the message id of a refused one."""
        now = self._clock()
        limit = self.settings
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(limit.burst), now)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.stamp)
            bucket.tokens = min(float(limit.burst), bucket.tokens + elapsed * limit.rate)
            bucket.stamp = now
        self._prune(now)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return Verdict.ALLOW
        if message_id is not None:
            self._hold(bucket, message_id)
        if now - bucket.noticed >= limit.notice_seconds:
            bucket.noticed = now
            return Verdict.SLOW_DOWN
        return Verdict.DROP

    def over(self, key: bytes) -> bool:
        """Whether this person's next update would be refused (takes no token)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return False
        elapsed = max(0.0, self._clock() - bucket.stamp)
        return bucket.tokens + elapsed * self.settings.rate < 1.0

    def held(self, key: bytes) -> list[int]:
        """Hand over (and forget) the ids of this person's refused messages."""
        bucket = self._buckets.get(key)
        if bucket is None or not bucket.runs:
            return []
        ids = [i for first, last in bucket.runs for i in range(first, last + 1)]
        bucket.runs = []
        return ids

    def _hold(self, bucket: _Bucket, message_id: int) -> None:
        runs = bucket.runs
        if runs and runs[-1][1] + 1 == message_id:
            runs[-1][1] = message_id
        elif not runs or runs[-1][1] != message_id:
            runs.append([message_id, message_id])
            if len(runs) > self.settings.max_runs:
                # Only a flood of scattered ids gets here; the newest are the likeliest to
                # still be deletable (Telegram allows 48 hours).
                del runs[0]

    def _prune(self, now: float) -> None:
        buckets = self._buckets
        while len(buckets) > self.settings.max_people:
            buckets.popitem(last=False)
        while buckets:
            _, oldest = next(iter(buckets.items()))
            if oldest.runs or now - oldest.stamp < self._idle:
                return
            buckets.popitem(last=False)
