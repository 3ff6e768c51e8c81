"""Logging set-up that keeps personal data and the token out of every log line.

Our own log calls name events, error classes and timings only. Third-party loggers that would
write message text, request URLs (which hold the bot token) or SQL parameters are capped.
"""

from __future__ import annotations

import logging
from typing import TextIO

__all__ = ["QUIET_LOGGERS", "setup"]

# Logger name -> the most verbose level it may log at, whatever the configured level.
QUIET_LOGGERS: dict[str, int] = {
    # httpx logs every request URL at INFO, and a Bot API URL contains the token.
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    # python-telegram-bot logs whole updates and request parameters (message text) at DEBUG.
    "telegram": logging.INFO,
    # aiosqlite logs every statement with its parameters at DEBUG.
    "aiosqlite": logging.INFO,
}


def setup(level: str, stream: TextIO) -> None:
    """Send log lines at `level` and above to `stream`, with the quiet loggers capped."""
    logging.basicConfig(
        level=level,
        stream=stream,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        force=True,
    )
    configured = logging.getLevelName(level)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, configured))
