"""A small aiohttp server for Telegram's webhook: the update endpoint, /healthz and /readyz.

It sits behind the organization's reverse proxy, which terminates TLS. Telegram posts each
update as JSON with the secret given at setWebhook in `X-Telegram-Bot-Api-Secret-Token`; a
request without the right secret gets 403 and its body is never read. An accepted update is
handed to `accept` (python-telegram-bot's update queue, in the same order polling would use)
and answered 200 at once.

    GET /healthz   200 while the process serves requests (liveness)
    GET /readyz    200 when `ready()` says so: the database answers and the bot is running

On stop, the endpoint answers 503 (Telegram retries later), /readyz turns 503 so a proxy stops
sending, and requests in flight finish before the listener closes.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__all__ = ["SECRET_HEADER", "WebhookServer"]

log = logging.getLogger("safetybot.webhook")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
MAX_BODY = 1024 * 1024  # an update is a few kilobytes; a file is never in it, only its id


class WebhookServer:
    """The webhook endpoint and health checks on one address."""

    def __init__(
        self,
        *,
        path: str,
        secret: str,
        accept: Callable[[dict[str, Any]], Awaitable[None]],
        ready: Callable[[], Awaitable[bool]],
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        self._secret = secret.encode()
        self._accept = accept
        self._ready = ready
        self._host, self._port = host, port
        self._closing = False
        self._runner: web.AppRunner | None = None
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(path, self._update)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        self._app = app

    @property
    def port(self) -> int:
        """The port listened on (useful when 0 asked for a free one)."""
        if self._runner is None or not self._runner.addresses:
            return self._port
        return int(self._runner.addresses[0][1])

    async def start(self) -> None:
        """Listen."""
        # No access log: it would hold client addresses and the (secret) webhook path.
        self._runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=30.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        log.info("webhook_listening port=%d", self.port)

    async def stop(self) -> None:
        """Refuse new updates, let requests in flight finish, close the listener."""
        self._closing = True
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("webhook_stopped")

    async def _update(self, request: web.Request) -> web.Response:
        # A header that is not UTF-8 (aiohttp keeps its bytes as surrogates) is a wrong secret.
        given = request.headers.get(SECRET_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook_rejected reason=secret")
            return web.Response(status=403)
        if self._closing:
            return web.Response(status=503)
        try:
            data = await request.json()
        except (ValueError, RecursionError):  # RecursionError: [[[[… deeper than json goes
            log.warning("webhook_rejected reason=not_json")
            return web.Response(status=400)
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            log.warning("webhook_rejected reason=not_an_update")
            return web.Response(status=400)
        try:
            await self._accept(data)
        except Exception as error:  # a malformed update: say which class, never its content
            log.warning("webhook_rejected reason=unreadable error=%s", type(error).__name__)
            return web.Response(status=400)
        return web.Response(status=200)

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        try:
            ready = not self._closing and await self._ready()
        except Exception:
            ready = False
        return web.json_response(
            {"status": "ready" if ready else "not ready"}, status=200 if ready else 503
        )
