"""A fake signal-cli daemon: line-delimited JSON-RPC 2.0 on a Unix socket or 127.0.0.1.

It speaks the wire format of PLATFORMS.md: answers `send` with a timestamp result,
`remoteDelete` (clients ignore deletes older than 24 hours: modelled), `updateContact`
(the disappearing-message timer) and `version`; pushes incoming envelopes in both notification
forms; records every request. For faults it can answer out of order, inject error replies,
stay silent, drop the connection on a request, write raw (malformed, very long) lines, and be
stopped and started again on the same socket. Envelopes pushed while no client is connected
wait, as they do on the Signal server under `--receive-mode=on-connection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import json
import socket
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetybot.transports.jsonrpc import Endpoint

ACCOUNT = "+15550001111"  # the bot's own number
DELETE_WINDOW = 24 * 3600.0
VERSION = "0.13.22"


class Clock:
    """Wall-clock time that a test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, hours: float) -> None:
        self.offset += hours * 3600


@dataclass(frozen=True)
class Person:
    """Someone writing to the bot; number and name are what must never be stored or logged."""

    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    number: str | None = "+15557654321"
    name: str | None = "Alex Example"


@dataclass
class Request:
    """One request the daemon received."""

    method: str
    params: dict[str, Any]
    id: Any


@dataclass
class BotMessage:
    """A message the bot sent."""

    recipient: str
    text: str
    timestamp: int
    attachments: list[str] = field(default_factory=list)
    deleted: bool = False


class FakeSignalDaemon:
    """signal-cli's daemon as the bot sees it, with fault injection."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        tcp: bool = False,
        clock: Clock | None = None,
        multi_account: bool = False,
    ) -> None:
        if tcp == (folder is not None):
            raise ValueError("give a folder for a Unix socket, or tcp=True")
        self.socket_path = folder / "signal-cli.sock" if folder is not None else None
        self.port = _free_port() if tcp else None
        self.clock = clock or Clock()
        self.multi_account = multi_account
        self.requests: list[Request] = []
        self.bot_messages: list[BotMessage] = []
        self.expirations: dict[str, int] = {}
        self.stray_deletes: list[tuple[str, int]] = []  # deletes of no message the bot sent
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._backlog: list[bytes] = []
        self._errors: dict[str, deque[dict[str, Any]]] = {}
        self._silent: set[str] = set()
        self._drop_on: set[str] = set()
        self._hold = 0
        self._held: list[tuple[asyncio.StreamWriter, bytes]] = []
        self._last_timestamp = 0
        self._received = itertools.count(1)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def endpoint(self) -> Endpoint:
        """Where the bot should connect."""
        if self.socket_path is not None:
            return Endpoint(socket=self.socket_path)
        return Endpoint(host="127.0.0.1", port=self.port)

    async def start(self) -> None:
        """Listen (again) on the same socket or port."""
        if self.socket_path is not None:
            self.socket_path.unlink(missing_ok=True)
            self._server = await asyncio.start_unix_server(
                self._serve, self.socket_path, limit=1 << 24
            )
        else:
            self._server = await asyncio.start_server(
                self._serve, "127.0.0.1", self.port, limit=1 << 24, reuse_address=True
            )

    async def stop(self) -> None:
        """Stop listening and cut every connection, as a crashed or restarted daemon does."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self._writers.clear()

    async def __aenter__(self) -> FakeSignalDaemon:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # -- fault injection --------------------------------------------------------------------

    def fail_next(
        self, method: str, code: int, times: int = 1, retry_after: float | None = None
    ) -> None:
        """Answer the next `times` requests of `method` with an error reply."""
        error: dict[str, Any] = {"code": code, "message": f"injected error {code}"}
        if retry_after is not None:
            results = [{"type": "RATE_LIMIT_FAILURE", "retryAfterSeconds": retry_after}]
            error["data"] = {"response": {"timestamp": 0, "results": results}}
        queue = self._errors.setdefault(method, deque())
        queue.extend(dict(error) for _ in range(times))

    def silence(self, method: str) -> None:
        """Never answer `method` (the request is still recorded)."""
        self._silent.add(method)

    def drop_on(self, method: str) -> None:
        """Cut the connection when the next `method` request arrives, without answering."""
        self._drop_on.add(method)

    def hold_replies(self, count: int) -> None:
        """Hold the next `count` replies, then send them all in reverse order."""
        self._hold = count

    async def send_raw(self, data: bytes) -> None:
        """Write bytes as they are to every connected client."""
        for writer in list(self._writers):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    # -- the person's side -------------------------------------------------------------------

    def envelope(
        self, person: Person, data_message: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """An envelope from `person`, as signal-cli writes it."""
        timestamp = self._timestamp()
        envelope: dict[str, Any] = {
            "source": person.number or person.uuid,
            "sourceNumber": person.number,
            "sourceUuid": person.uuid,
            "sourceName": person.name,
            "sourceDevice": 1,
            "timestamp": timestamp,
            "serverReceivedTimestamp": timestamp + 7,
            "serverDeliveredTimestamp": timestamp + 9,
        }
        if data_message is not None:
            envelope["dataMessage"] = {
                "timestamp": timestamp,
                "message": None,
                "expiresInSeconds": 0,
                "viewOnce": False,
                **data_message,
            }
        envelope.update(extra)
        return envelope

    async def push(
        self, envelope: dict[str, Any], form: str = "plain", account: str = ACCOUNT
    ) -> None:
        """Deliver an envelope in either notification form (kept until a client connects)."""
        if form == "plain":
            params: dict[str, Any] = {"envelope": envelope, "account": account}
        else:  # after subscribeReceive
            result = {"envelope": envelope, "account": account}
            params = {"subscription": 0, "result": result}
        line = _line({"jsonrpc": "2.0", "method": "receive", "params": params})
        if not self._writers:
            self._backlog.append(line)
            return
        await self.send_raw(line)

    async def user_sends(
        self, person: Person, text: str, form: str = "plain", **data: Any
    ) -> dict[str, Any]:
        """The person sends a text message; return its envelope."""
        envelope = self.envelope(person, {"message": text, **data})
        await self.push(envelope, form)
        return envelope

    # -- what the bot did ------------------------------------------------------------------

    def calls(self, method: str) -> list[Request]:
        """Requests of one method, in order."""
        return [r for r in self.requests if r.method == method]

    def messages(self, recipient: str) -> list[BotMessage]:
        """Bot messages still visible in a conversation."""
        return [m for m in self.bot_messages if m.recipient == recipient and not m.deleted]

    def last(self, recipient: str) -> BotMessage:
        """The newest bot message in a conversation."""
        return [m for m in self.bot_messages if m.recipient == recipient][-1]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Poll every 10 ms; AssertionError naming the condition and the last requests."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() >= deadline:
                try:
                    what = inspect.getsource(predicate).strip()
                except (OSError, TypeError):
                    what = repr(predicate)
                recent = "\n".join(f"  {r.method} {r.id}" for r in self.requests[-8:])
                raise AssertionError(f"not met within {timeout} s: {what}\nlast:\n{recent}")
            await asyncio.sleep(0.01)

    # -- the daemon -------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        backlog, self._backlog = self._backlog, []
        for line in backlog:
            writer.write(line)
        try:
            while line := await reader.readline():
                await self._request(line, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()

    async def _request(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            await self._write(writer, _error(None, -32700, "Parse error"))
            return
        method, params, request_id = (request.get(k) for k in ("method", "params", "id"))
        valid = (
            request.get("jsonrpc") == "2.0"
            and isinstance(method, str)
            and isinstance(request_id, str)
            and isinstance(params, dict | None)
        )
        if not valid:
            await self._write(writer, _error(request_id, -32600, "Invalid request"))
            return
        params = params or {}
        self.requests.append(Request(method, params, request_id))
        if method in self._drop_on:
            self._drop_on.discard(method)
            writer.transport.abort()
            return
        if method in self._silent:
            return
        queued = self._errors.get(method)
        if queued:
            reply = {"jsonrpc": "2.0", "error": queued.popleft(), "id": request_id}
        elif self.multi_account and params.get("account") != ACCOUNT:
            reply = _error(request_id, -32602, "Method requires valid account parameter")
        else:
            reply = self._answer(method, params, request_id)
        await self._write(writer, reply)

    def _answer(self, method: str, params: dict[str, Any], request_id: str) -> dict[str, Any]:
        if method == "version":
            return _result(request_id, {"version": VERSION})
        if method == "send":
            recipients = params.get("recipient")
            text = params.get("message", "")
            ok = (
                isinstance(recipients, list)
                and len(recipients) == 1
                and _is_uuid(recipients[0])
                and isinstance(text, str)
            )
            if not ok:
                return _error(request_id, -32602, "Invalid send params")
            timestamp = self._timestamp()
            attachments = [str(a) for a in params.get("attachments") or ()]
            self.bot_messages.append(BotMessage(recipients[0], text, timestamp, attachments))
            return _result(request_id, _send_result(recipients[0], timestamp))
        if method == "remoteDelete":
            recipient, target = params.get("recipient"), params.get("targetTimestamp")
            if not _is_uuid(recipient) or not isinstance(target, int):
                return _error(request_id, -32602, "Invalid remoteDelete params")
            self._delete(str(recipient), target)
            return _result(request_id, _send_result(str(recipient), self._timestamp()))
        if method == "updateContact":
            recipient, expiration = params.get("recipient"), params.get("expiration")
            if not _is_uuid(recipient) or not isinstance(expiration, int):
                return _error(request_id, -32602, "Invalid updateContact params")
            self.expirations[str(recipient)] = expiration
            return _result(request_id, {})
        return _error(request_id, -32601, "Method not implemented")

    def _delete(self, recipient: str, target: int) -> None:
        for message in self.bot_messages:
            if message.recipient == recipient and message.timestamp == target:
                if self.clock() - target / 1000 < DELETE_WINDOW:
                    message.deleted = True  # older deletes are ignored by the person's phone
                return
        self.stray_deletes.append((recipient, target))

    async def _write(self, writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
        line = _line(reply)
        if self._hold:
            self._held.append((writer, line))
            if len(self._held) < self._hold:
                return
            held, self._held, self._hold = self._held, [], 0
            for target, data in reversed(held):
                target.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            return
        writer.write(line)
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    def _timestamp(self) -> int:
        now = int(self.clock() * 1000)
        self._last_timestamp = max(now, self._last_timestamp + 1)
        return self._last_timestamp


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


def _result(request_id: str, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "result": result, "id": request_id}


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": request_id}


def _send_result(recipient: str, timestamp: int) -> dict[str, Any]:
    address = {"uuid": recipient, "number": None}
    return {"timestamp": timestamp, "results": [{"recipientAddress": address, "type": "SUCCESS"}]}


def _is_uuid(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
