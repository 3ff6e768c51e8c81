"""The Signal front end, through signal-cli's JSON-RPC daemon (set-up: docs/SIGNAL.md).

People are known by their ACI (`sourceUuid`), which is both their user id and their address;
no phone number or profile name is read from an envelope. Private messages only: group, typing,
receipt, sync and unknown envelopes are ignored and logged by kind. Signal has no buttons, so
menus are numbered choices answered by number or label (transports/choices.py); the latest
choices per person live in memory only. `edit` always returns False (signal-cli can send
edits, but an edited message keeps its old versions on the phone): the service sends a new
message instead.

Message ids: a bot message's id is its send timestamp, negated; a person's message's id is its
envelope timestamp, positive. `delete` tells the two apart from the id alone, so it works after
a restart without asking the store: the bot's messages younger than 24 hours are removed with
`remoteDelete`, older ones are `too_old`, and the person's own are `not_allowed`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import mimetypes
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetybot.core.events import (
    Attachment,
    Command,
    Edited,
    Event,
    Incoming,
    Pressed,
    Text,
    Unsupported,
    UnsupportedKind,
)
from safetybot.core.service import Deletion, Outgoing, Service
from safetybot.errors import FrontEndError, SafetybotError
from safetybot.markup import Format, render, render_static, split
from safetybot.transports.choices import Choice, flatten, numbered, parse_line
from safetybot.transports.jsonrpc import Endpoint, JsonRpcClient, RpcError, RpcUnavailable

__all__ = ["Received", "SignalBot", "SignalFrontEnd", "read_envelope"]

log = logging.getLogger("safetybot.signal")

TRANSPORT = "signal"
MESSAGE_LIMIT = 2000  # longer texts become "long text" attachments in Signal: split instead
DELETE_WINDOW = 24 * 3600  # clients ignore remote deletes of older messages
DISAPPEARING = 86_400  # the timer /disappearing sets: one day
_RETRY_CODES = frozenset({-5, -3})  # rate limited, I/O: the daemon did not send; safe to repeat
_RETRY_RESULTS = frozenset({"RATE_LIMIT_FAILURE", "NETWORK_FAILURE"})
_MAX_PEOPLE = 10_000  # choices kept in memory, newest first
_IGNORED_KINDS = ("receiptMessage", "typingMessage", "syncMessage", "editMessage", "storyMessage")


@dataclass(frozen=True)
class Received:
    """A private message from a person: typed text, or attachments and the like as events."""

    uuid: str
    timestamp: int | None
    text: str | None = None
    events: tuple[Event, ...] = ()
    files: tuple[str, ...] = ()  # signal-cli's attachment files, removed once handled


def attachment_files(envelope: Mapping[str, Any]) -> tuple[str, ...]:
    """Every attachment file signal-cli saved for an envelope, whatever kind it is."""
    found: list[str] = []
    sync = envelope.get("syncMessage")
    sent = sync.get("sentMessage") if isinstance(sync, dict) else None
    for data in (envelope.get("dataMessage"), sent):
        listed = data.get("attachments") if isinstance(data, dict) else None
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, dict) and isinstance(item.get("id"), str) and item["id"]:
                found.append(item["id"])
    return tuple(found)


def read_envelope(envelope: Mapping[str, Any]) -> Received | str:
    """A received envelope as a Received message, or the kind of envelope it is, to ignore."""
    data = envelope.get("dataMessage")
    edit = envelope.get("editMessage")
    if not isinstance(data, dict) and isinstance(edit, dict):
        return _read_edit(envelope, edit)
    if not isinstance(data, dict):
        kinds = [k for k in _IGNORED_KINDS if envelope.get(k) is not None]
        return kinds[0].removesuffix("Message") if kinds else "unknown"
    person = _sender(envelope, data)
    if person in ("group", "no_sender"):
        return person
    for field, kind in (("reaction", "reaction"), ("remoteDelete", "remote_delete")):
        if data.get(field) is not None:
            return kind
    if data.get("isExpirationUpdate"):
        return "expiration_update"
    timestamp = _timestamp(envelope.get("timestamp"))
    message = data.get("message")
    text = message if isinstance(message, str) else ""
    listed = data.get("attachments")
    attachments = [a for a in listed if isinstance(a, dict)] if isinstance(listed, list) else []
    if attachments:
        view_once = bool(data.get("viewOnce"))
        events = tuple(
            _attachment(a, text if i == 0 else "", view_once) for i, a in enumerate(attachments)
        )
        files = tuple(a["id"] for a in attachments if isinstance(a.get("id"), str) and a["id"])
        return Received(person, timestamp, events=events, files=files)
    if data.get("sticker") is not None:
        return Received(person, timestamp, events=(Unsupported(UnsupportedKind.STICKER),))
    if data.get("contacts"):
        return Received(person, timestamp, events=(Unsupported(UnsupportedKind.CONTACT),))
    if text.strip():
        return Received(person, timestamp, text=text)
    return "empty"  # a profile-key update, a poll, a payment …


def _sender(envelope: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    """The person's account id, or why there is none to answer: "group" or "no_sender"."""
    if data.get("groupInfo") is not None or data.get("groupV2") is not None:
        return "group"
    return _uuid(envelope.get("sourceUuid")) or "no_sender"


def _read_edit(envelope: Mapping[str, Any], edit: Mapping[str, Any]) -> Received | str:
    """An edited message: its new words, under the timestamp of the message it edits (the one
    on record, which a remote delete names)."""
    data = edit.get("dataMessage")
    if not isinstance(data, dict):
        return "edit"
    person = _sender(envelope, data)
    if person in ("group", "no_sender"):
        return person
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        return "edit"  # an edit without words says nothing to answer
    target = _timestamp(edit.get("targetSentTimestamp"))
    return Received(person, target, events=(Edited(message),))


def _attachment(item: Mapping[str, Any], caption: str, view_once: bool) -> Event:
    content_type = str(item.get("contentType") or "")
    if content_type.startswith("audio/"):
        return Unsupported(UnsupportedKind.VOICE)
    kind = {"image": "photo", "video": "video"}.get(content_type.split("/")[0], "document")
    size = item.get("size")
    ref = item.get("id")
    name = item.get("filename")
    return Attachment(
        kind,
        size if isinstance(size, int) and not isinstance(size, bool) else None,
        # A view-once attachment is not the bot's to keep: it gets no handle to fetch it.
        ref if isinstance(ref, str) and ref and not view_once else None,
        caption,
        name=name if isinstance(name, str) and name else None,
        mime=content_type or None,
    )


def _is_number(text: str) -> bool:
    stripped = text.strip()
    return stripped.isdecimal() and len(stripped) <= 4


def _uuid(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def _timestamp(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**53:
        return value
    return None


def _attachment_path(root: Path, ref: str) -> Path | None:
    """The file signal-cli stored an attachment in; None if `ref` would leave the folder."""
    if not ref or ref in (".", "..") or any(c in ref for c in "/\\\x00"):
        return None
    base = root.expanduser().resolve()
    path = (base / ref).resolve()
    return path if path.is_relative_to(base) and path != base else None


def _read_attachment(root: Path, ref: str, limit: int) -> bytes:
    path = _attachment_path(root, ref)
    try:
        if path is None or not path.is_file():
            raise FrontEndError("attachment not available (are attachments enabled?)")
        if path.stat().st_size > limit:
            raise FrontEndError("file too large")
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        raise FrontEndError("attachment cannot be read") from None
    if len(data) > limit:
        raise FrontEndError("file too large")
    return data


def _remove_attachment(root: Path, ref: str) -> None:
    path = _attachment_path(root, ref)
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _parts(blocks: list[str]) -> list[str]:
    """Messages split at paragraphs; a continuation opens with "(2/3)", so that is all its
    notification preview shows."""
    parts = split(blocks, MESSAGE_LIMIT - 12)
    return [part if i == 0 else f"({i + 1}/{len(parts)})\n{part}" for i, part in enumerate(parts)]


def _outcome(result: object) -> str | None:
    """SUCCESS if any recipient got it, else the first failure type; None if not reported."""
    results = result.get("results") if isinstance(result, dict) else None
    if not isinstance(results, list) or not results:
        return None
    types = [r.get("type") for r in results if isinstance(r, dict)]
    if "SUCCESS" in types:
        return "SUCCESS"
    return str(types[0]) if types else None


class SignalFrontEnd:
    """Sends and deletes messages through signal-cli; keeps each person's latest choices."""

    transport = TRANSPORT

    def __init__(
        self,
        rpc: JsonRpcClient,
        *,
        account: str | None = None,
        attachments_dir: Path,
        clock: Callable[[], float] = time.time,
        retries: int = 3,
        retry_delay: float = 1.0,
    ) -> None:
        self._rpc = rpc
        self._account = account
        self._attachments_dir = attachments_dir
        self._clock = clock
        self._retries = retries
        self._retry_delay = retry_delay
        self._choices: OrderedDict[str, tuple[list[Choice], int]] = OrderedDict()

    def choices(self, address: str) -> tuple[list[Choice], int | None]:
        """The choices last offered to a person, and the id of the message that offered them."""
        choices, message_id = self._choices.get(address, ([], 0))
        return choices, message_id or None

    async def send(self, address: str, message: Outgoing) -> list[int]:
        """Send Markdown as plain text, split at paragraphs; choices go on the last part."""
        markdown = message.markdown
        blocks = (
            render_static(markdown, Format.PLAIN)
            if message.static
            else render(markdown, Format.PLAIN)
        )
        flat = flatten(message.buttons)
        if flat:
            blocks.append("\n".join(numbered(flat)))
        sent: list[int] = []
        for part in _parts(blocks):
            try:
                sent.append(await self._send({"recipient": [address], "message": part}))
            except FrontEndError as error:
                raise FrontEndError(f"send failed: {type(error).__name__}", tuple(sent)) from None
        if flat and sent:
            self._offer(address, flat, sent[-1])
        return sent

    async def edit(self, address: str, message_id: int, message: Outgoing) -> bool:
        """Never edits: an edited Signal message keeps its history; a new one is sent instead."""
        return False

    async def delete(self, address: str, message_ids: Sequence[int]) -> Deletion:
        """Remote-delete the bot's messages within 24 hours; the person's cannot be deleted."""
        deleted: list[int] = []
        too_old: list[int] = []
        failed: list[int] = []
        not_allowed: list[int] = []
        now = self._clock()
        for message_id in sorted(set(message_ids)):
            if message_id >= 0:
                not_allowed.append(message_id)
                continue
            timestamp = -message_id
            if now - timestamp / 1000 >= DELETE_WINDOW:
                too_old.append(message_id)
                continue
            params = {"recipient": address, "targetTimestamp": timestamp}
            try:
                await self._call("remoteDelete", params, idempotent=True)
            except FrontEndError:
                failed.append(message_id)
                continue
            deleted.append(message_id)
        offered = self._choices.get(address)
        if offered is not None and offered[1] in deleted:
            del self._choices[address]
        return Deletion(tuple(deleted), tuple(too_old), tuple(failed), tuple(not_allowed))

    async def send_document(
        self, address: str, filename: str, data: bytes, caption: Outgoing
    ) -> list[int]:
        """Send a file inline (a data URI: nothing is written to disk here) with its caption."""
        blocks = render(caption.markdown, Format.PLAIN)
        flat = flatten(caption.buttons)
        if flat:
            blocks.append("\n".join(numbered(flat)))
        parts = _parts(blocks)
        name = "".join(c for c in filename if c.isalnum() or c in "._-") or "file"
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        uri = f"data:{mime};filename={name};base64,{base64.b64encode(data).decode()}"
        params = {
            "recipient": [address],
            "message": parts[0] if parts else "",
            "attachments": [uri],
        }
        try:
            sent = [await self._send(params)]
        except FrontEndError as error:
            raise FrontEndError(f"document failed: {type(error).__name__}") from None
        if flat:
            self._offer(address, flat, sent[-1])
        return sent

    async def download(self, ref: str, limit: int) -> bytes:
        """Read an attachment signal-cli saved; FrontEndError if absent, outside it, or too big."""
        return await asyncio.to_thread(_read_attachment, self._attachments_dir, ref, limit)

    async def discard(self, ref: str) -> None:
        """Delete signal-cli's plain copy of a received attachment (best effort)."""
        try:
            await asyncio.to_thread(_remove_attachment, self._attachments_dir, ref)
        except OSError as error:
            log.warning("signal_attachment_not_removed error=%s", type(error).__name__)

    async def version(self) -> str:
        """signal-cli's version, reduced to safe characters for a log line."""
        result = await self._call("version", {}, idempotent=True)
        version = result.get("version") if isinstance(result, dict) else None
        return "".join(c for c in str(version)[:32] if c.isalnum() or c in ".+-_") or "unknown"

    async def set_disappearing(self, address: str, seconds: int) -> None:
        """Set the conversation's disappearing-message timer (the person sees a notice)."""
        await self._call(
            "updateContact", {"recipient": address, "expiration": seconds}, idempotent=True
        )

    def _offer(self, address: str, choices: list[Choice], message_id: int) -> None:
        self._choices[address] = (choices, message_id)
        self._choices.move_to_end(address)
        while len(self._choices) > _MAX_PEOPLE:
            self._choices.popitem(last=False)

    async def _send(self, params: Mapping[str, Any]) -> int:
        result = await self._call("send", params, idempotent=False)
        timestamp = _timestamp(result.get("timestamp") if isinstance(result, dict) else None)
        if timestamp is None:
            raise FrontEndError("send result has no timestamp")
        return -timestamp

    async def _call(self, method: str, params: Mapping[str, Any], *, idempotent: bool) -> Any:
        """Call the daemon; repeat what it did not do (rate limit, I/O), never a maybe-sent send."""
        if self._account:
            params = {**params, "account": self._account}
        for attempt in range(self._retries):
            last = attempt == self._retries - 1
            wait = self._retry_delay * 2**attempt
            try:
                result = await self._rpc.call(method, params)
            except RpcError as error:
                if error.retry_after is not None:
                    wait = max(wait, error.retry_after)
                if last or error.code not in _RETRY_CODES or wait > 60:
                    log.warning("signal_call_failed method=%s code=%s", method, error.code)
                    raise
                log.warning("signal_retry method=%s code=%s", method, error.code)
            except RpcUnavailable as error:
                if last or (error.written and not idempotent):
                    log.warning("signal_call_failed method=%s reason=unavailable", method)
                    raise
                log.warning("signal_retry method=%s reason=unavailable", method)
            else:
                outcome = _outcome(result)
                if outcome in (None, "SUCCESS"):
                    return result
                if last or outcome not in _RETRY_RESULTS:
                    log.warning("signal_call_failed method=%s result=%s", method, outcome)
                    raise RpcError(method, None)
                log.warning("signal_retry method=%s result=%s", method, outcome)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


class SignalBot:
    """signal-cli's notifications wired to the service; one person's messages in order."""

    def __init__(
        self,
        service: Service,
        endpoint: Endpoint,
        *,
        account: str | None = None,
        attachments_dir: Path,
        timeout: float = 30.0,
        backoff: tuple[float, float] = (0.5, 30.0),
        retry_delay: float = 1.0,
        max_line: int = 1 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self._account = account
        self.rpc = JsonRpcClient(
            endpoint,
            self._on_notification,
            timeout=timeout,
            max_line=max_line,
            backoff=backoff,
            on_connect=self._on_connect,
        )
        self.front = SignalFrontEnd(
            self.rpc,
            account=account,
            attachments_dir=attachments_dir,
            clock=clock,
            retry_delay=retry_delay,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticks: asyncio.Task[None] | None = None
        self._version: asyncio.Task[None] | None = None
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @property
    def busy(self) -> int:
        """How many received messages are being handled right now."""
        return len(self._tasks)

    async def start(self) -> None:
        """Connect in the background (retrying while the daemon is down); start the timers."""
        self.rpc.start()
        self._ticks = asyncio.create_task(self._service.run_ticks(self.front))
        log.info("signal_started")

    async def stop(self, grace: float = 10.0) -> None:
        """Finish the messages in hand (for up to `grace` seconds), then disconnect."""
        for task in (self._ticks, self._version):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks and loop.time() < deadline:
            # Messages arriving meanwhile are handled too: they were already taken from Signal.
            await asyncio.wait(set(self._tasks), timeout=deadline - loop.time())
        await self.rpc.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        log.info("signal_stopped")

    def _on_connect(self) -> None:
        self._version = asyncio.get_running_loop().create_task(self._log_version())

    async def _log_version(self) -> None:
        """Log signal-cli's version at each connection: it must be at most three months old."""
        try:
            log.info("signal_daemon version=%s", await self.front.version())
        except FrontEndError as error:
            log.info("signal_version_unknown error=%s", type(error).__name__)

    def _on_notification(self, method: str, params: Mapping[str, Any]) -> None:
        if method != "receive":
            log.info("signal_ignored kind=notification")
            return
        # Two forms: params.envelope, or params.result.envelope after subscribeReceive.
        result = params.get("result")
        container = result if isinstance(result, dict) else params
        envelope = container.get("envelope")
        if not isinstance(envelope, dict):
            log.info("signal_ignored kind=no_envelope")
            return
        account = container.get("account")
        if self._account and isinstance(account, str) and account != self._account:
            log.info("signal_ignored kind=other_account")
            self._spawn(self._discard_all(attachment_files(envelope)))
            return
        received = read_envelope(envelope)
        if isinstance(received, str):
            log.info("signal_ignored kind=%s", received)
            # A group's or a linked device's pictures are not read, but signal-cli saved them
            # in the clear all the same: they go too.
            self._spawn(self._discard_all(attachment_files(envelope)))
            return
        self._spawn(self._handle(received))

    async def _discard_all(self, refs: Sequence[str]) -> None:
        for ref in refs:
            await self.front.discard(ref)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, received: Received) -> None:
        """Handle one message after the person's earlier ones (their choices depend on them)."""
        lock = self._locks.get(received.uuid)
        if lock is None:
            lock = self._locks[received.uuid] = asyncio.Lock()
        try:
            async with lock:
                for incoming in await self._incoming(received):
                    event = incoming.event
                    if isinstance(event, Command) and event.name == "disappearing":
                        await self._disappearing(received.uuid, event.args)
                    else:
                        await self._service.handle(incoming, self.front)
        except Exception as error:  # the service apologizes itself; this is anything else
            log.error("signal_message_failed error=%s", type(error).__name__)
        finally:
            for ref in received.files:
                await self.front.discard(ref)

    async def _incoming(self, received: Received) -> list[Incoming]:
        events = received.events
        origin = None
        if received.text is not None:
            choices, offered = self.front.choices(received.uuid)
            event = parse_line(received.text, choices)
            if not _is_number(received.text) and await self._secret_next(received.uuid):
                # A passphrase is never a label or a command. A bare choice number still
                # chooses (Cancel): it is shorter than any passphrase can be.
                event = Text(received.text)
            origin = offered if isinstance(event, Pressed) else None
            events = (event,)
        return [
            Incoming(
                transport=TRANSPORT,
                user_id=received.uuid,
                address=received.uuid,
                event=event,
                message_id=received.timestamp,
                origin_id=origin,
            )
            for event in events
        ]

    async def _secret_next(self, person: str) -> bool:
        try:
            return await self._service.awaiting_secret(TRANSPORT, person)
        except SafetybotError as error:  # the service will say sorry when it meets it too
            log.warning("signal_state_unreadable error=%s", type(error).__name__)
            return False

    async def _disappearing(self, address: str, args: str) -> None:
        """/disappearing [off]: handled here, since only Signal has a timer a bot may set."""
        seconds = 0 if args.strip().lower() in ("off", "0") else DISAPPEARING
        try:
            await self.front.set_disappearing(address, seconds)
        except FrontEndError:
            texts = self._service.texts
            # The person's language is sealed in the store; the default is the best guess here.
            text = texts.text(texts.pick(None), "signal.disappearing_failed")
            with contextlib.suppress(FrontEndError):
                await self.front.send(address, Outgoing(text))
            return
        log.info("signal_disappearing_set on=%s", seconds > 0)
