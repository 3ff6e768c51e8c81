"""Hypothesis settings for the fuzz tests: bounded, no example database, no deadline.

No example database: failing examples could hold generated "personal" text, and nothing in
the tests may leave files behind. No deadline: CI machines stall now and then.

`make test` (and so CI) runs the same examples every time (derandomized): a red CI is then a
change in our code, and it reproduces. `make fuzz` (SAFETYBOT_FUZZ=explore) draws new examples,
ten times as many, to look for bugs nobody has written an example for.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

__all__ = ["FUZZ", "STATEFUL"]

_EXPLORE = os.environ.get("SAFETYBOT_FUZZ") == "explore"
_SCALE = 10 if _EXPLORE else 1

FUZZ = settings(
    max_examples=150 * _SCALE,
    derandomize=not _EXPLORE,
    deadline=None,
    database=None,
    # Some properties skip inputs the library itself refuses (assume): that is not a failure.
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.filter_too_much,
    ],
)
STATEFUL = settings(
    max_examples=30 * _SCALE,
    stateful_step_count=14,
    derandomize=not _EXPLORE,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
