"""Prometheus metrics, made from the log events the bot already writes: no personal data.

A logging.Handler on the "safetybot" logger turns event lines (`event_handled kind=text
ms=12.5`, `person_forgotten deleted=3 too_old=0 failed=0`, `vault_exported`) into counters
and histograms, so the conversation core needs no metrics code and cannot leak anything through
it. Labels come only from a few fields whose values are names from the code (an event kind, an
error class, a mode), checked against a pattern; a number, an id or free text is never a label.

Off by default. When on, served at `/metrics` on its own address (127.0.0.1:9464 by default),
never on the webhook's public port.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from safetybot.ops.logs import parse_event

__all__ = ["Metrics", "MetricsHandler", "serve"]

_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}")
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _label(value: str | None) -> str:
    """A label value from the code's own names; anything else becomes "other"."""
    return value if value is not None and _LABEL.fullmatch(value) else "other"


def _count(value: str | None) -> int:
    return int(value) if value is not None and value.isdecimal() else 0


class Metrics:
    """The bot's counters and histograms, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "safetybot_log_events", "Log events, by event name and level", ["event", "level"],
            registry=r,
        )  # fmt: skip
        self.updates = Counter(
            "safetybot_updates", "Updates handled, by kind of event", ["kind"], registry=r
        )
        self.update_seconds = Histogram(
            "safetybot_update_seconds", "Time to handle one update", ["kind"],
            buckets=_SECONDS, registry=r,
        )  # fmt: skip
        self.failures = Counter(
            "safetybot_update_failures", "Updates that failed, by kind and error class",
            ["kind", "error"], registry=r,
        )  # fmt: skip
        self.erased = Counter(
            "safetybot_people_erased", "People erased, by reason: forget, retention", ["reason"],
            registry=r,
        )  # fmt: skip
        self.deleted = Counter(
            "safetybot_chat_messages_deleted", "Chat messages the bot deleted, or could not",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.exports = Counter("safetybot_vault_exports", "Evidence exports sent", registry=r)
        self.errors = Counter(
            "safetybot_errors", "Errors and warnings, by event and error class",
            ["event", "error"], registry=r,
        )  # fmt: skip

    def observe(self, event: str, level: int, fields: Mapping[str, str]) -> None:
        """Count one log event."""
        self.events.labels(_label(event), logging.getLevelName(level).lower()).inc()
        kind = _label(fields.get("kind"))
        if level >= logging.WARNING:
            self.errors.labels(_label(event), _label(fields.get("error", "none"))).inc()
        if event == "event_handled":
            self.updates.labels(kind).inc()
            with contextlib.suppress(ValueError):
                self.update_seconds.labels(kind).observe(float(fields.get("ms", "")) / 1000)
        elif event == "event_failed":
            self.failures.labels(kind, _label(fields.get("error"))).inc()
        elif event in ("person_forgotten", "retention_erased"):
            self.erased.labels("retention" if event == "retention_erased" else "forget").inc()
        elif event == "vault_exported":
            self.exports.inc()
        if event in ("person_forgotten", "chat_cleared", "scheduled_deleted"):
            for outcome in ("deleted", "too_old", "failed"):
                key = "count" if event == "scheduled_deleted" and outcome == "deleted" else outcome
                if n := _count(fields.get(key)):
                    self.deleted.labels(outcome).inc(n)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)


class MetricsHandler(logging.Handler):
    """Feeds our structured log events into `Metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.INFO)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record if it is one of our events."""
        try:
            parsed = parse_event(record.getMessage())
            if parsed is not None:
                self.metrics.observe(parsed[0], record.levelno, parsed[1])
        except Exception:  # a metrics bug must never stop the bot
            self.handleError(record)


async def serve(metrics: Metrics, host: str, port: int) -> web.AppRunner:
    """Serve GET /metrics on host:port; the caller cleans the runner up."""

    async def exposition(_request: web.Request) -> web.Response:
        body = metrics.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", exposition)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
