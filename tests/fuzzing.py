"""Hypothesis settings for the fuzz tests: bounded, no example database, no deadline.

No example database: failing examples could hold generated "personal" text, and nothing in
the tests may leave files behind. No deadline: CI machines stall now and then.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

__all__ = ["FUZZ", "STATEFUL"]

FUZZ = settings(
    max_examples=150,
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
    max_examples=30,
    stateful_step_count=14,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
