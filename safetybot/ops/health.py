"""Is the bot alive? For container health checks, in either mode.

In webhook mode the running bot serves `/healthz` and `/readyz`; `safetybot health` asks
`/healthz` on the local port. In polling mode (and on Signal) there is no server, so the
running bot touches `<data dir>/heartbeat` every few seconds while it is ready (the database
answers and the messenger is connected), and `safetybot health` checks the file is fresh. The
file holds only a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path

from safetybot.ops.config import Config

__all__ = ["HEARTBEAT_SECONDS", "beat", "check"]

log = logging.getLogger("safetybot.health")

HEARTBEAT_SECONDS = 15.0
_STALE = 4 * HEARTBEAT_SECONDS


def heartbeat_file(config: Config) -> Path:
    """Where the running bot says it is alive."""
    return config.data_dir / "heartbeat"


async def beat(
    path: Path, ready: Callable[[], Awaitable[bool]], every: float = HEARTBEAT_SECONDS
) -> None:
    """Touch `path` every `every` seconds while `ready()`; runs until cancelled."""
    try:
        while True:
            alive = False
            try:
                if alive := await ready():
                    await asyncio.to_thread(_touch, path)
            except OSError as error:
                log.warning("heartbeat_failed error=%s", type(error).__name__)
            # Until the first beat, look again soon: a fresh container should turn healthy fast.
            await asyncio.sleep(every if alive else min(every, 1.0))
    finally:
        # A stopped bot must not look alive to the next health check.
        with contextlib.suppress(OSError):
            os.unlink(path)


def _touch(path: Path) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(f"{int(time.time())}\n", encoding="ascii")
    os.replace(temporary, path)


def check(config: Config, now: float | None = None) -> tuple[bool, str]:
    """Whether the bot described by `config` is alive, and a line saying why (or why not)."""
    if config.telegram_mode == "webhook" and config.webhook is not None:
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(config.webhook.listen)  # noqa: S104
        host = host or config.webhook.listen
        address = f"[{host}]" if ":" in host else host
        url = f"http://{address}:{config.webhook.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status == 200, f"webhook server answers ({answer.status})"
        except (urllib.error.URLError, OSError) as error:
            return False, f"webhook server does not answer on port {config.webhook.port} ({error})"
    path = heartbeat_file(config)
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
    except OSError:
        return False, f"no heartbeat in {path}: the bot is not running or not ready"
    if age > _STALE:
        return False, f"last heartbeat {int(age)} s ago: the bot is stuck or stopped"
    return True, f"heartbeat {int(age)} s ago"
