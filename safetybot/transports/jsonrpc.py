"""A JSON-RPC 2.0 client for signal-cli's daemon: one JSON value per line, over a socket.

One connection (a Unix socket, or TCP on loopback) and one reader task. Requests carry string
ids and replies are matched by id, so they may arrive in any order. When the daemon is down at
start or the connection drops, it is opened again with capped exponential backoff; a request
made meanwhile waits for it, up to its timeout. Lines longer than `max_line` bytes, malformed
lines and replies nobody waits for are dropped and logged by class.

    FrontEndError
     ├── RpcError        the daemon answered with an error; `code` is signal-cli's
     └── RpcUnavailable  no answer: not connected in time, timed out, or the connection dropped;
                         `written` says whether the daemon may have received the request
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetybot.errors import FrontEndError

__all__ = ["Endpoint", "JsonRpcClient", "RpcError", "RpcUnavailable"]

log = logging.getLogger("safetybot.signal.rpc")

_READ_CHUNK = 65_536


@dataclass(frozen=True)
class Endpoint:
    """Where the daemon listens: a Unix socket path, or a loopback host and port."""

    socket: Path | None = None
    host: str = "127.0.0.1"
    port: int | None = None

    @property
    def kind(self) -> str:
        """The kind of socket, for logs (the path and port stay out of them)."""
        return "unix" if self.socket is not None else "tcp"


class RpcError(FrontEndError):
    """The daemon answered a request with an error."""

    def __init__(self, method: str, code: int | None, retry_after: float | None = None) -> None:
        super().__init__(f"signal-cli {method} failed with error {code}")
        self.method = method
        self.code = code
        self.retry_after = retry_after


class RpcUnavailable(FrontEndError):
    """A request got no answer."""

    def __init__(self, method: str, reason: str, *, written: bool) -> None:
        super().__init__(f"signal-cli {method}: {reason}")
        self.method = method
        self.written = written


Notify = Callable[[str, Mapping[str, Any]], None]


class JsonRpcClient:
    """Requests and notifications over one reconnecting line-delimited JSON-RPC connection."""

    def __init__(
        self,
        endpoint: Endpoint,
        on_notification: Notify,
        *,
        timeout: float = 30.0,
        max_line: int = 1 << 20,
        backoff: tuple[float, float] = (0.5, 30.0),
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._notify = on_notification
        self._on_connect = on_connect
        self._timeout = timeout
        self._max_line = max_line
        self._backoff_first, self._backoff_cap = backoff
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[str, asyncio.Future[Any]]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._write_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        """Whether a connection is open now."""
        return self._connected.is_set()

    def start(self) -> None:
        """Start connecting (and reconnecting) in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="signal-rpc")

    async def wait_connected(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait until connected; False if `timeout` seconds pass first."""
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop reconnecting, close the connection and fail every pending request."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._drop("closed")

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        """Send one request and return its result; RpcError or RpcUnavailable otherwise."""
        request_id = f"r{next(self._ids)}"
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": request_id}
        if params is not None:
            body["params"] = dict(params)
        line = json.dumps(body, separators=(",", ":")).encode() + b"\n"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        written = False
        try:
            async with asyncio.timeout(timeout or self._timeout):
                while not written:
                    await self._connected.wait()
                    async with self._write_lock:
                        writer = self._writer
                        if writer is not None and not writer.is_closing():
                            self._pending[request_id] = (method, future)
                            writer.write(line)
                            written = True
                            await writer.drain()
                    if not written:
                        await asyncio.sleep(0.05)  # closing: let the reader notice and drop it
                return await future
        except TimeoutError:
            reason = "no reply in time" if written else "not connected in time"
            raise RpcUnavailable(method, reason, written=written) from None
        except (OSError, RuntimeError) as error:
            raise RpcUnavailable(method, type(error).__name__, written=written) from None
        finally:
            self._pending.pop(request_id, None)

    async def _run(self) -> None:
        delay = self._backoff_first
        loop = asyncio.get_running_loop()
        while True:
            try:
                reader, writer = await self._open()
            except OSError as error:
                log.warning(
                    "signal_connect_failed transport=%s error=%s retry_in=%.2f",
                    self._endpoint.kind,
                    type(error).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._backoff_cap)
                continue
            opened = loop.time()
            self._writer = writer
            self._connected.set()
            log.info("signal_connected transport=%s", self._endpoint.kind)
            if self._on_connect is not None:
                self._on_connect()
            reason = "EOF"
            try:
                await self._read(reader)
            except Exception as error:  # OSError mostly; anything else still reconnects
                reason = type(error).__name__
            finally:
                await self._drop(reason)
            if loop.time() - opened >= self._backoff_cap:
                delay = self._backoff_first  # it was up a while: a fresh failure starts over
            log.warning(
                "signal_disconnected transport=%s reason=%s retry_in=%.2f",
                self._endpoint.kind,
                reason,
                delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_cap)

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._endpoint.socket is not None:
            return await asyncio.open_unix_connection(self._endpoint.socket)
        return await asyncio.open_connection(self._endpoint.host, self._endpoint.port)

    async def _drop(self, reason: str) -> None:
        self._connected.clear()
        writer, self._writer = self._writer, None
        for method, future in self._pending.values():
            if not future.done():
                future.set_exception(RpcUnavailable(method, f"connection {reason}", written=True))
        self._pending.clear()
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        """Split the stream into lines; a line over the limit is skipped up to its newline."""
        buffer = bytearray()
        skipping = False
        while chunk := await reader.read(_READ_CHUNK):
            start = 0
            while (end := chunk.find(b"\n", start)) >= 0:
                if not skipping:
                    buffer += chunk[start:end]
                    if len(buffer) <= self._max_line:
                        self._dispatch(bytes(buffer))
                    else:
                        log.warning("signal_line_dropped reason=too_long")
                skipping = False
                buffer.clear()
                start = end + 1
            if not skipping:
                buffer += chunk[start:]
                if len(buffer) > self._max_line:
                    log.warning("signal_line_dropped reason=too_long")
                    buffer.clear()
                    skipping = True

    def _dispatch(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            # Decoded here: json.loads would also accept UTF-16 and UTF-32, which the wire is not.
            message = json.loads(line.decode("utf-8"))
        except (ValueError, RecursionError) as error:  # bad UTF-8 too; RecursionError: [[[[…
            log.warning("signal_line_dropped reason=%s", type(error).__name__)
            return
        if not isinstance(message, dict):
            log.warning("signal_line_dropped reason=not_an_object")
            return
        if "id" not in message and isinstance(message.get("method"), str):
            params = message.get("params")
            try:
                self._notify(message["method"], params if isinstance(params, dict) else {})
            except Exception as error:  # one bad notification must not stop the reader
                log.error("signal_notification_failed error=%s", type(error).__name__)
            return
        if "result" in message or "error" in message:
            try:
                self._settle(message)
            except Exception as error:  # a reply too odd to read must not stop the reader
                log.error("signal_reply_unreadable error=%s", type(error).__name__)
            return
        log.warning("signal_line_dropped reason=unknown_shape")

    def _settle(self, reply: dict[str, Any]) -> None:
        request_id = reply.get("id")
        entry = self._pending.pop(request_id, None) if isinstance(request_id, str) else None
        if entry is None:
            # A late reply to a request that timed out, or an error about a line the daemon
            # could not parse (id null).
            log.warning("signal_reply_unmatched error=%s", _code(reply.get("error")))
            return
        method, future = entry
        if future.done():
            return
        error = reply.get("error")
        if error is not None:
            future.set_exception(RpcError(method, _code(error), _retry_after(error)))
        else:
            future.set_result(reply.get("result"))


def _code(error: object) -> int | None:
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _retry_after(error: object) -> float | None:
    """The longest `retryAfterSeconds` in a rate-limit error's per-recipient results, if any."""
    data = error.get("data") if isinstance(error, dict) else None
    response = data.get("response") if isinstance(data, dict) else None
    results = response.get("results") if isinstance(response, dict) else None
    values = [r.get("retryAfterSeconds") for r in results or () if isinstance(r, dict)]
    # Capped before float(): a huge integer would overflow it. NaN fails `>= 0`.
    waits = [min(v, 10**9) for v in values if isinstance(v, int | float) and v >= 0]
    return float(max(waits)) if waits else None
