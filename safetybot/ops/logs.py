"""Logging set-up that keeps personal data and the token out of every log line.

Our own log calls name events, error classes and timings only, in one shape:
`event_name key=value key=value` (see `parse_event`). Third-party loggers that would write
message text, request URLs (which hold the bot token) or SQL parameters are capped, and what
they do write shows their format string, never its arguments (`shown_message`). Exceptions
are logged with their class and stack frames but never their message, which may quote the data
that caused them.

Two formats: `text` (one readable line) and `json` (one object a line: ts, level, logger,
event, then the event's fields). Extra handlers (metrics.py) see our events at INFO even when
the output shows only warnings.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import traceback
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

__all__ = ["QUIET_LOGGERS", "JsonFormatter", "parse_event", "setup", "shown_message"]

# Logger name -> the most verbose level it may log at, whatever the configured level.
QUIET_LOGGERS: dict[str, int] = {
    # httpx logs every request URL at INFO, and a Bot API URL contains the token.
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    # python-telegram-bot logs whole updates and request parameters (message text) at DEBUG.
    "telegram": logging.INFO,
    # aiosqlite logs every statement with its parameters at DEBUG.
    "aiosqlite": logging.INFO,
    # The access log has client addresses and the webhook's (secret) path; it is also off.
    "aiohttp.access": logging.WARNING,
    # The Markdown parser traces every rule it tries at DEBUG: noise, and close to the text.
    "markdown_it": logging.INFO,
}

_EVENT = re.compile(r"([a-z][a-z0-9_]{0,63})((?: [a-z][a-z0-9_]*=\S*)*)")
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def parse_event(message: str) -> tuple[str, dict[str, str]] | None:
    """Split `event key=value …` into the event and its fields; None for any other shape."""
    match = _EVENT.fullmatch(message)
    if match is None:
        return None
    fields = dict(part.split("=", 1) for part in match.group(2).split())
    return match.group(1), fields


def _frames(info: _ExcInfo) -> str:
    """A traceback without the exception's message (it may quote a person's data)."""
    kind, _error, trace = info
    frames = "".join(traceback.format_tb(trace))
    return f"Traceback (most recent call last):\n{frames}{kind.__name__}"


# A message with no arguments from another library is shown only when it is plainly a fixed
# sentence (letters, spaces and light punctuation): anything else may have been built with a
# person's data in it (an f-string) and is withheld.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z ,.;:'()-]{0,119}")


def shown_message(record: logging.LogRecord) -> str:
    """What a log line may say: our events in full; another library's, never its arguments.

    Libraries log what they were handed: python-telegram-bot an invalid Bot API body (message
    text, names, ids), aiohttp a request line. Their format string is kept (it is the
    library's own words) and the arguments are withheld.
    """
    if record.name.startswith("safetybot"):
        return record.getMessage()
    template = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
    if record.args:
        return f"{template} [arguments withheld]"
    return template if _PLAIN.fullmatch(template) else "[message withheld]"


class _TextFormatter(logging.Formatter):
    def formatException(self, ei: _ExcInfo | tuple[None, None, None]) -> str:
        return _frames(ei) if ei[0] is not None else ""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = shown_message(record)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object a line; our events become fields, never free text."""

    def format(self, record: logging.LogRecord) -> str:
        """Render one record."""
        when = dt.datetime.fromtimestamp(record.created, dt.UTC)
        out: dict[str, object] = {
            "ts": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
        }
        message = shown_message(record)
        parsed = parse_event(message) if record.name.startswith("safetybot") else None
        if parsed is not None:
            out["event"] = parsed[0]
            out.update({key: _value(value) for key, value in parsed[1].items()})
        else:
            out["event"] = "message"
            out["message"] = message
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["stack"] = _frames(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _value(text: str) -> object:
    if re.fullmatch(r"-?\d{1,15}", text):
        return int(text)
    if re.fullmatch(r"-?\d{1,15}\.\d+", text):
        return float(text)
    return {"True": True, "False": False, "true": True, "false": False}.get(text, text)


def setup(
    level: str,
    stream: TextIO,
    fmt: str = "text",
    handlers: Sequence[logging.Handler] = (),
) -> None:
    """Send log lines at `level` and above to `stream`, with the quiet loggers capped.

    `handlers` are attached to the "safetybot" logger and see its events from INFO up.
    """
    output = logging.StreamHandler(stream)
    output.setLevel(level)
    if fmt == "json":
        output.setFormatter(JsonFormatter())
    else:
        output.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[output], force=True)
    configured = logging.getLevelName(level)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, configured))
    ours = logging.getLogger("safetybot")
    for handler in list(ours.handlers):
        ours.removeHandler(handler)
    for handler in handlers:
        ours.addHandler(handler)
    # Extra handlers need our INFO events even when the output shows only warnings; the
    # output handler's own level keeps them out of the log.
    ours.setLevel(min(configured, logging.INFO) if handlers else logging.NOTSET)
