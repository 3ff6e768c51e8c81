"""A fake Telegram Bot API server that the real python-telegram-bot talks to over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import html
import inspect
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

BOT_USER: dict[str, Any] = {
    "id": 1000001,
    "is_bot": True,
    "first_name": "Safety test bot",
    "username": "safety_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}

DELETE_WINDOW = 48 * 3600.0  # Telegram refuses to delete messages older than this
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile limit of the cloud Bot API

# PTB sends str values raw and everything else JSON-encoded, so a text of "123" or "true"
# would be mistaken for a number/bool if we JSON-decoded every field: these stay strings.
STRING_PARAMS = frozenset(
    {
        "text", "caption", "parse_mode", "callback_query_id", "data", "file_id", "url",
        "description", "short_description", "name", "language_code", "secret_token",
        "inline_message_id", "business_connection_id", "message_effect_id", "action", "title",
        "emoji", "question", "explanation", "query", "first_name", "last_name", "phone_number",
        "document", "photo", "audio", "video", "voice", "sticker", "animation", "video_note",
        "thumbnail",
    }
)  # fmt: skip

_ALLOWED_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
     "blockquote", "tg-spoiler", "span"}
)  # fmt: skip
_TAG_RE = re.compile(r"<(/?)([^\s>/]*)([^>]*)>")
_ENTITY_RE = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]+|#[xX][0-9a-fA-F]+);")
_BAD_WEBHOOK = "Bad Request: bad webhook"
_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]+(?:@[A-Za-z0-9_]+)?")


class ApiError(Exception):
    """An error answer of the Bot API (HTTP status equals error_code, as Telegram does)."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def response(self) -> web.Response:
        """Render as the JSON body Telegram sends."""
        body: dict[str, Any] = {
            "ok": False, "error_code": self.status, "description": self.description,
        }  # fmt: skip
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return web.json_response(body, status=self.status)


def parse_html(text: str) -> str:
    """Return the visible text of Telegram-flavoured HTML; raise ApiError where Telegram would."""
    out: list[str] = []
    stack: list[str] = []
    i = 0

    def fail(reason: str) -> ApiError:
        return ApiError(400, f"Bad Request: can't parse entities: {reason}")

    def offset(pos: int) -> int:  # Telegram reports UTF-8 byte offsets
        return len(text[:pos].encode("utf-8"))

    while i < len(text):
        ch = text[i]
        if ch == "&":
            # Stricter than Telegram (which keeps a stray "&" literally): a bare "&" almost
            # always means the bot forgot to escape user input, which we want tests to catch.
            ent = _ENTITY_RE.match(text, i)
            if ent is None:
                raise fail(f'Character "&" at byte offset {offset(i)} is not an HTML entity')
            out.append(html.unescape(ent.group()))
            i = ent.end()
            continue
        if ch != "<":
            out.append(ch)
            i += 1
            continue
        tag = _TAG_RE.match(text, i)
        if tag is None:
            raise fail(f"Unclosed start tag at byte offset {offset(i)}")
        closing, name, attrs = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
        if closing:
            if not stack:
                raise fail(f"Unexpected end tag at byte offset {offset(i)}")
            if stack[-1] != name:
                raise fail(
                    f'Unmatched end tag at byte offset {offset(i)}, expected "</{stack[-1]}>", '
                    f'found "</{name}>"'
                )
            stack.pop()
        else:
            if name not in _ALLOWED_TAGS:
                raise fail(f'Unsupported start tag "{name}" at byte offset {offset(i)}')
            if name == "span" and not re.search(r"class\s*=\s*[\"']?tg-spoiler\b", attrs):
                raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset(i)}')
            if name == "a" and not re.search(r"\bhref\s*=", attrs):
                raise fail(f'Tag "a" must have attribute "href" at byte offset {offset(i)}')
            stack.append(name)
        i = tag.end()
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


@dataclass
class Call:
    """One Bot API call as received (params decoded; uploads as Upload)."""

    method: str
    params: dict[str, Any]


@dataclass
class Upload:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass
class Message:
    """A message in a fake chat, sent by the bot or by the simulated user."""

    chat_id: int
    message_id: int
    from_bot: bool
    date: float
    text: str | None
    caption: str | None
    reply_markup: dict[str, Any] | None
    params: dict[str, Any]
    deleted: bool = False
    edits: list[str] = field(default_factory=list)
    document: dict[str, Any] | None = None
    file_bytes: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sender: dict[str, Any] | None = None  # the user dict for user messages
    edit_date: float | None = None

    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of the inline keyboard, row by row; "" for non-callback buttons."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class _Chat:
    info: dict[str, Any]
    user: dict[str, Any]
    messages: dict[int, Message] = field(default_factory=dict)
    next_id: int = 1


@dataclass
class _File:
    file_id: str
    unique_id: str
    name: str
    data: bytes
    path: str


@dataclass
class _Fault:
    kind: str  # "fail", "delay" or "reset"
    times: int
    status: int = 500
    description: str | None = None
    retry_after: int | None = None
    seconds: float = 0.0


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: "Forbidden: bot was blocked by the user",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

Handler = Callable[[dict[str, Any]], Awaitable[Any]]


class FakeBotAPI:
    """In-process Bot API server on 127.0.0.1 with chats, an update queue and fault injection."""

    def __init__(self) -> None:
        self.url = ""
        self.token_seen: set[str] = set()
        self.calls: list[Call] = []
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.my_commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.my_texts: dict[tuple[str, str], str] = {}  # (kind, language_code) -> text
        # setWebhook's parameters while a webhook is set; getUpdates is refused meanwhile.
        self.webhook: dict[str, Any] | None = None
        self._offset = 0.0
        self._chats: dict[int, _Chat] = {}
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] | None = None
        self._files: dict[str, _File] = {}
        self._file_ids = itertools.count(1)
        self._queries: dict[str, dict[str, Any]] = {}
        self._query_ids = itertools.count(1)
        self._faults: dict[str, deque[_Fault]] = {}
        self._wakeup = asyncio.Event()
        self._stop_event = asyncio.Event()
        self._stopping = False
        self._runner: web.AppRunner | None = None
        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "setmydescription": self._text_setter("description", "description"),
            "setmyshortdescription": self._text_setter("short_description", "short_description"),
            "setmyname": self._text_setter("name", "name"),
            "getmydescription": self._text_getter("description", "description"),
            "getmyshortdescription": self._text_getter("short_description", "short_description"),
            "getmyname": self._text_getter("name", "name"),
            "sendchataction": self._true,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "answercallbackquery": self._answer_callback_query,
            "deletemessage": self._delete_message,
            "deletemessages": self._delete_messages,
            "senddocument": self._send_document,
            "getfile": self._get_file,
        }

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening on a free port of 127.0.0.1 and set url."""
        self._stopping = False
        self._stop_event = asyncio.Event()
        self._wakeup = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)  # uploads exceed the 1 MiB default
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("*", "/file/bot{token}/{path:.+}", self._handle_download)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        # Handlers end promptly on stop (long polls are released), so a short timeout is enough.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        """Release pending long polls and delays, then shut the server down."""
        self._stopping = True
        self._stop_event.set()
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- clock -----------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The fake's clock: real time plus any advance()."""
        return time.time() + self._offset

    @now.setter
    def now(self, value: float) -> None:
        self._offset = value - time.time()

    def advance(self, *, hours: float = 0, seconds: float = 0) -> None:
        """Move the fake's clock forward so that existing messages become older."""
        self._offset += hours * 3600 + seconds

    # ---- the simulated user ----------------------------------------------------------------

    def user_sends(
        self,
        chat_id: int,
        text: str,
        *,
        user: dict[str, Any] | None = None,
        chat_type: str = "private",
        date: float | None = None,
    ) -> Message:
        """Queue a text message from the user; a leading /command gets a bot_command entity."""
        fields: dict[str, Any] = {"text": text}
        if cmd := _COMMAND_RE.match(text):
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(cmd.group())}
            ]
        if user:
            fields["from"] = user
        if date is not None:
            fields["date"] = date
        return self.user_sends_update(chat_id, fields, chat_type=chat_type)

    def user_sends_update(
        self, chat_id: int, message_fields: dict[str, Any], *, chat_type: str = "private"
    ) -> Message:
        """Queue a user message of any kind; message_fields are merged into the Message dict."""
        fields = dict(message_fields)
        chat = self._chat(chat_id, chat_type, fields.pop("from", None))
        date = float(fields.pop("date", self.now))
        msg = Message(
            chat_id=chat_id,
            message_id=chat.next_id,
            from_bot=False,
            date=date,
            text=fields.get("text"),
            caption=fields.get("caption"),
            reply_markup=None,
            params={},
            document=fields.get("document"),
            extra=fields,
            sender=dict(chat.user),
        )
        chat.next_id += 1
        chat.messages[msg.message_id] = msg
        self._queue_update({"message": self._render(msg)})
        return msg

    def user_edits(self, chat_id: int, message_id: int, text: str) -> Message:
        """Queue an edited_message: the person changed the words of a message they sent (the
        caption, for a photo). Telegram sends the whole message again, with edit_date."""
        msg = self.message(chat_id, message_id)
        if msg.deleted or msg.from_bot:
            raise AssertionError(f"cannot edit {msg!r}")
        field = "caption" if msg.caption is not None else "text"
        msg.extra[field] = text
        if field == "caption":
            msg.caption = text
        else:
            msg.text = text
        msg.edit_date = self.now
        self._queue_update({"edited_message": {**self._render(msg), "edit_date": int(self.now)}})
        return msg

    def user_presses(
        self, chat_id: int, message_id: int, data: str, *, require_button: bool = True
    ) -> str:
        """Queue a callback_query for a button of a bot message; return the query id."""
        msg = self.message(chat_id, message_id)
        if msg.deleted or not msg.from_bot:
            raise AssertionError(f"cannot press a button on {msg!r}")
        if require_button and data not in [d for _, d in msg.buttons()]:
            raise AssertionError(f"no button with data {data!r}; buttons are {msg.buttons()}")
        query_id = f"cq{next(self._query_ids)}"
        query = {
            "id": query_id,
            "from": dict(self._chats[chat_id].user),
            "message": self._render(msg),
            "chat_instance": f"ci{chat_id}",
            "data": data,
        }
        self._queries[query_id] = query
        self._queue_update({"callback_query": query})
        return query_id

    async def deliver_webhook(self, target: str, *, secret: str | None = None) -> list[int]:
        """Post the pending updates to the bot, in order, as Telegram does to a webhook.

        `target` is the bot's local address (standing in for the public URL behind a proxy);
        the header carries the secret given at setWebhook, or `secret` if given. An update is
        dropped once answered 200; at any other answer delivery stops (Telegram retries later).
        Returns the HTTP statuses.
        """
        from aiohttp import ClientSession

        if self.webhook is None:
            raise AssertionError("no webhook is set")
        token = self.webhook.get("secret_token") if secret is None else secret
        headers = {"X-Telegram-Bot-Api-Secret-Token": str(token)} if token else {}
        statuses: list[int] = []
        async with ClientSession() as session:
            while self._updates:
                update = self._updates[0]
                if self._allowed_updates is not None and (
                    _update_type(update) not in self._allowed_updates
                ):
                    self._updates.pop(0)
                    continue
                async with session.post(target, json=update, headers=headers) as answer:
                    statuses.append(answer.status)
                if answer.status != 200:
                    break
                self._updates.pop(0)
        return statuses

    def add_file(self, data: bytes, name: str) -> str:
        """Register a file on the 'server' (e.g. for a user's document); return its file_id."""
        return self._store_file(data, name).file_id

    def document_dict(self, file_id: str) -> dict[str, Any]:
        """A Document object for a registered file, to put in user_sends_update(...)."""
        f = self._files[file_id]
        return {
            "file_id": f.file_id, "file_unique_id": f.unique_id, "file_name": f.name,
            "file_size": len(f.data),
        }  # fmt: skip

    def photo_sizes(self, file_id: str) -> list[dict[str, Any]]:
        """A one-size `photo` list for a registered file, to put in user_sends_update(...)."""
        f = self._files[file_id]
        return [{
            "file_id": f.file_id, "file_unique_id": f.unique_id, "width": 640, "height": 480,
            "file_size": len(f.data),
        }]  # fmt: skip

    # ---- reading state ---------------------------------------------------------------------

    def all_messages(self, chat_id: int) -> list[Message]:
        """Every message of the chat in order, deleted ones included (with .deleted set)."""
        chat = self._chats.get(chat_id)
        return sorted(chat.messages.values(), key=lambda m: m.message_id) if chat else []

    def messages(self, chat_id: int) -> list[Message]:
        """Messages still present in the chat, in order."""
        return [m for m in self.all_messages(chat_id) if not m.deleted]

    def bot_messages(self, chat_id: int) -> list[Message]:
        """Present messages sent by the bot, in order."""
        return [m for m in self.messages(chat_id) if m.from_bot]

    def message(self, chat_id: int, message_id: int) -> Message:
        """One message (possibly deleted); KeyError if it never existed."""
        try:
            return self._chats[chat_id].messages[message_id]
        except KeyError:
            raise KeyError(f"no message {message_id} in chat {chat_id}") from None

    def updates_pending(self) -> int:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        return len(self._updates)

    def redeliver(self, msg: Message) -> None:
        """Queue a user message again, as Telegram does when the bot never confirmed it."""
        self._queue_update({"message": self._render(msg)})

    def last_update(self) -> dict[str, Any]:
        """The update queued most recently, as the bot will receive it (to measure its size)."""
        return self._updates[-1]

    # A timeout argument (not asyncio.timeout) reads better in tests and gives a better message.
    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Poll predicate every 10 ms; AssertionError naming it and the last calls on timeout."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not predicate():
            if asyncio.get_running_loop().time() >= deadline:
                try:
                    what = inspect.getsource(predicate).strip()
                except (OSError, TypeError):
                    what = repr(predicate)
                raise AssertionError(
                    f"condition not met within {timeout} s: {what}\nlast calls:\n"
                    + self._describe_calls()
                )
            await asyncio.sleep(0.01)

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Call]:
        """Wait until `method` was called at least `count` times; return those calls."""

        def matching() -> list[Call]:
            return [c for c in self.calls if c.method.lower() == method.lower()]

        try:
            await self.wait_for(lambda: len(matching()) >= count, timeout)
        except AssertionError:
            raise AssertionError(
                f"expected {count} {method} call(s) within {timeout} s, got {len(matching())}"
                "\nlast calls:\n" + self._describe_calls()
            ) from None
        return matching()

    def _describe_calls(self, last: int = 15) -> str:
        lines = []
        for c in self.calls[-last:]:
            brief = {k: v for k, v in c.params.items() if k in ("chat_id", "message_id", "text")}
            lines.append(f"  {c.method} {brief}"[:200])
        return "\n".join(lines) or "  (none)"

    # ---- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 500,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
    ) -> None:
        """Answer the next `times` calls of method with an error (429 carries retry_after)."""
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        fault = _Fault("fail", times, status, description, retry_after)
        self._faults.setdefault(method.lower(), deque()).append(fault)

    def clear_faults(self) -> None:
        """Forget every queued fault: the service works normally again."""
        self._faults.clear()

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Sleep before handling the next `times` calls (the call is still carried out)."""
        self._faults.setdefault(method.lower(), deque()).append(
            _Fault("delay", times, seconds=seconds)
        )

    def reset_next(self, method: str, times: int = 1) -> None:
        """Drop the connection without an answer on the next `times` calls of method."""
        self._faults.setdefault(method.lower(), deque()).append(_Fault("reset", times))

    def _take_fault(self, method: str, kind: str) -> _Fault | None:
        queue = self._faults.get(method, deque())
        for fault in queue:
            if fault.kind == kind:
                fault.times -= 1
                if fault.times <= 0:
                    queue.remove(fault)
                return fault
        return None

    # ---- HTTP layer ------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"]
        self.token_seen.add(token)
        params = await self._read_params(request)
        self.calls.append(Call(method, params))
        key = method.lower()
        # Faults come before the handler so that a failed call changes nothing.
        if (delay := self._take_fault(key, "delay")) is not None:
            await self._sleep(delay.seconds)
        if self._take_fault(key, "reset") is not None:
            if request.transport is not None:
                request.transport.abort()  # the client sees "server disconnected"
            return web.Response(status=500)
        if (fail := self._take_fault(key, "fail")) is not None:
            return ApiError(fail.status, fail.description or "", fail.retry_after).response()
        handler = self._methods.get(key)
        if handler is None:
            return ApiError(404, "Not Found").response()
        try:
            result = await handler(params)
        except ApiError as err:
            return err.response()
        return web.json_response({"ok": True, "result": result})

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        self.token_seen.add(request.match_info["token"])
        path = request.match_info["path"]
        for f in self._files.values():
            if f.path == path:
                return web.Response(body=f.data, content_type="application/octet-stream")
        return ApiError(404, "Not Found").response()

    async def _handle_unknown(self, request: web.Request) -> web.StreamResponse:
        return ApiError(404, "Not Found").response()

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Decode query string, urlencoded/multipart form (JSON-encoded values) or JSON body."""
        params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query.items()}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                params.update(body)
            return params
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = Upload(value.filename, value.content_type, value.file.read())
            else:
                params[key] = _decode(key, value if isinstance(value, str) else value.decode())
        return params

    async def _sleep(self, seconds: float) -> None:
        # Sleep that stop() cuts short, so the server never waits on a delayed handler.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), seconds)

    # ---- internals -------------------------------------------------------------------------

    def _notify(self) -> None:
        # Wake every waiting long poll; later waiters get a fresh event.
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _queue_update(self, payload: dict[str, Any]) -> None:
        self._updates.append({"update_id": next(self._update_ids), **payload})
        self._notify()

    def _chat(
        self, chat_id: int, chat_type: str | None = None, user: dict[str, Any] | None = None
    ) -> _Chat:
        """Get or create a chat; private by default, or a group if the id is negative."""
        if chat_type == "private" and chat_id < 0:
            chat_type = None  # only groups have negative ids: keep the group's type
        chat = self._chats.get(chat_id)
        if chat is None:
            default_type = "private" if chat_id > 0 else "group"
            chat_user = {"id": abs(chat_id), "is_bot": False, "first_name": "Test",
                         "language_code": "en"}  # fmt: skip
            chat = _Chat(info={"id": chat_id, "type": chat_type or default_type}, user=chat_user)
            self._chats[chat_id] = chat
        if chat_type is not None:
            chat.info["type"] = chat_type
        if user:
            chat.user = {**chat.user, **user}
        if chat.info["type"] == "private":
            chat.info.pop("title", None)
            for key in ("first_name", "last_name", "username"):
                if key in chat.user:
                    chat.info[key] = chat.user[key]
        else:
            chat.info["title"] = "Group"
        return chat

    def _render(self, msg: Message) -> dict[str, Any]:
        """The Message object as the Bot API sends it."""
        chat = self._chats[msg.chat_id]
        out: dict[str, Any] = {
            "message_id": msg.message_id,
            "date": int(msg.date),
            "chat": dict(chat.info),
            "from": BOT_USER if msg.from_bot else dict(msg.sender or chat.user),
        }
        if not msg.from_bot:
            out.update(msg.extra)
            return out
        html_mode = str(msg.params.get("parse_mode", "")).lower() == "html"
        # Telegram answers with the text after entity parsing, not the HTML the bot sent.
        if msg.text is not None:
            out["text"] = parse_html(msg.text) if html_mode else msg.text
        if msg.caption is not None:
            out["caption"] = parse_html(msg.caption) if html_mode else msg.caption
        if msg.document is not None:
            out["document"] = msg.document
        if msg.reply_markup and msg.reply_markup.get("inline_keyboard"):
            out["reply_markup"] = msg.reply_markup  # only inline keyboards are echoed back
        if msg.edit_date is not None:
            out["edit_date"] = int(msg.edit_date)
        return out

    def _store_file(self, data: bytes, name: str) -> _File:
        n = next(self._file_ids)
        ext = name.rsplit(".", 1)[-1] if "." in name else "bin"
        f = _File(f"BQACAgfake{n:06d}", f"AgADfake{n:06d}", name, data, f"documents/file_{n}.{ext}")
        self._files[f.file_id] = f
        return f

    def _check_text(self, params: dict[str, Any], key: str, limit: int) -> str | None:
        """Validate text/caption the way Telegram does; return it."""
        value = params.get(key)
        if value is None and key == "caption":
            return None
        value = "" if value is None else str(value)
        mode = params.get("parse_mode")
        if mode is not None and str(mode).lower() not in ("html", "markdown", "markdownv2"):
            raise ApiError(400, f"Bad Request: unsupported parse_mode {mode}")
        visible = parse_html(value) if str(mode).lower() == "html" else value
        if key == "text" and not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(visible) > limit:
            what = "message is too long" if key == "text" else "message caption is too long"
            raise ApiError(400, f"Bad Request: {what}")
        return value

    def _target(self, params: dict[str, Any], missing: str) -> tuple[_Chat, Message]:
        """The live message named by chat_id + message_id, else ApiError(missing)."""
        chat = self._chats.get(_chat_id(params))
        msg = chat.messages.get(_int(params.get("message_id"))) if chat else None
        if chat is None or msg is None or msg.deleted:
            raise ApiError(400, f"Bad Request: {missing}")
        return chat, msg

    def _reply_target(self, chat: _Chat, params: dict[str, Any]) -> Message | None:
        rp = params.get("reply_parameters")
        allow = bool(params.get("allow_sending_without_reply", False))
        mid = params.get("reply_to_message_id")
        if isinstance(rp, dict):
            mid = rp.get("message_id")
            allow = bool(rp.get("allow_sending_without_reply", allow))
        if mid is None:
            return None
        target = chat.messages.get(_int(mid))
        if target is None or target.deleted:
            if allow:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return target

    def _new_bot_message(self, params: dict[str, Any], **fields: Any) -> dict[str, Any]:
        chat = self._chat(_chat_id(params))
        reply_to = self._reply_target(chat, params)
        msg = Message(
            chat_id=chat.info["id"],
            message_id=chat.next_id,
            from_bot=True,
            date=self.now,
            reply_markup=params.get("reply_markup"),
            params=params,
            **fields,
        )
        chat.next_id += 1
        chat.messages[msg.message_id] = msg
        out = self._render(msg)
        if reply_to is not None:
            out["reply_to_message"] = self._render(reply_to)
        return out

    # ---- Bot API methods -------------------------------------------------------------------

    async def _true(self, params: dict[str, Any]) -> Any:
        return True

    async def _get_me(self, params: dict[str, Any]) -> Any:
        return BOT_USER

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        limit = max(1, min(100, _int(params.get("limit", 100))))
        timeout = max(0.0, float(params.get("timeout", 0)))
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):  # Telegram keeps the setting; [] means "the default"
            self._allowed_updates = [str(a) for a in allowed] or None
        offset = params.get("offset")
        if offset is not None:
            offset = _int(offset)
            if offset < 0:  # negative offset: keep only the last -offset updates
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            wakeup = self._wakeup  # grab before checking, so an update queued now is not missed
            if self._allowed_updates is not None:  # filtered-out updates are never delivered
                allowed_set = set(self._allowed_updates)
                self._updates = [u for u in self._updates if _update_type(u) in allowed_set]
            if self._updates or self._stopping:
                return self._updates[:limit]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                return []

    async def _delete_webhook(self, params: dict[str, Any]) -> Any:
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = None
        return True

    async def _set_webhook(self, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        if not url:  # an empty url removes the webhook, as deleteWebhook does
            return await self._delete_webhook(params)
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ApiError(400, f"{_BAD_WEBHOOK}: An HTTPS URL must be provided for webhook")
        if parts.port not in (None, 443, 80, 88, 8443):
            ports = "80, 88, 443 or 8443"
            raise ApiError(400, f"{_BAD_WEBHOOK}: Webhook can be set up only on ports {ports}")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if params.get("drop_pending_updates"):
            self._updates.clear()
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = [str(a) for a in allowed] or None
        self.webhook = {
            "url": url,
            "secret_token": secret,
            "max_connections": _int(params.get("max_connections", 40)),
            "allowed_updates": allowed,
        }
        self._notify()  # a long poll still waiting gets the conflict, as on Telegram
        return True

    async def _get_webhook_info(self, params: dict[str, Any]) -> Any:
        info: dict[str, Any] = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
        return info

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")

    async def _set_my_commands(self, params: dict[str, Any]) -> Any:
        self.my_commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    async def _get_my_commands(self, params: dict[str, Any]) -> Any:
        return self.my_commands.get(self._commands_key(params), [])

    async def _delete_my_commands(self, params: dict[str, Any]) -> Any:
        self.my_commands.pop(self._commands_key(params), None)
        return True

    def _text_setter(self, kind: str, param: str) -> Handler:
        async def handler(params: dict[str, Any]) -> Any:
            self.my_texts[(kind, str(params.get("language_code") or ""))] = str(
                params.get(param) or ""
            )
            return True

        return handler

    def _text_getter(self, kind: str, param: str) -> Handler:
        async def handler(params: dict[str, Any]) -> Any:
            lang = str(params.get("language_code") or "")
            text = self.my_texts.get((kind, lang), self.my_texts.get((kind, ""), ""))
            return {param: text}

        return handler

    async def _send_message(self, params: dict[str, Any]) -> Any:
        text = self._check_text(params, "text", MAX_TEXT)
        return self._new_bot_message(params, text=text, caption=None)

    async def _send_document(self, params: dict[str, Any]) -> Any:
        caption = self._check_text(params, "caption", MAX_CAPTION)
        doc = params.get("document")
        if isinstance(doc, Upload):
            name = doc.filename or "file"
            stored = self._store_file(doc.data, name)
            mime = doc.content_type
        elif isinstance(doc, str) and doc in self._files:
            stored, mime = self._files[doc], "application/octet-stream"
        else:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        document = {**self.document_dict(stored.file_id), "mime_type": mime}
        return self._new_bot_message(
            params, text=None, caption=caption, document=document, file_bytes=stored.data
        )

    async def _edit_message_text(self, params: dict[str, Any]) -> Any:
        _, msg = self._target(params, "message to edit not found")
        if not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        text = self._check_text(params, "text", MAX_TEXT)
        if msg.text is None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        # Like Telegram, an edit without reply_markup removes the inline keyboard.
        markup = params.get("reply_markup")
        same_mode = params.get("parse_mode") == msg.params.get("parse_mode")
        if text == msg.text and same_mode and _same_markup(markup, msg.reply_markup):
            raise ApiError(400, _NOT_MODIFIED)
        msg.edits.append(msg.text)
        msg.text, msg.reply_markup, msg.edit_date = text, markup, self.now
        # params now describe the current text: formatting options the edit omits no longer apply.
        kept = {k: v for k, v in msg.params.items() if k not in _EDIT_REPLACES}
        msg.params = {**kept, **params}
        return self._render(msg)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        _, msg = self._target(params, "message to edit not found")
        if not msg.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        markup = params.get("reply_markup")
        if _same_markup(markup, msg.reply_markup):
            raise ApiError(400, _NOT_MODIFIED)
        msg.reply_markup, msg.edit_date = markup, self.now
        return self._render(msg)

    async def _answer_callback_query(self, params: dict[str, Any]) -> Any:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._queries or query_id in self.callback_answers:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self.callback_answers[query_id] = params
        return True

    async def _delete_message(self, params: dict[str, Any]) -> Any:
        _, msg = self._target(params, "message to delete not found")
        if self.now - msg.date >= DELETE_WINDOW:
            raise ApiError(400, "Bad Request: message can't be deleted for everyone")
        msg.deleted = True
        return True

    async def _delete_messages(self, params: dict[str, Any]) -> Any:
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise ApiError(400, "Bad Request: message identifiers are not specified")
        if len(ids) > 100:
            raise ApiError(400, "Bad Request: too many message identifiers specified")
        chat = self._chats.get(_chat_id(params))
        if chat is None:
            return True
        live = [m for i in ids if (m := chat.messages.get(_int(i))) is not None and not m.deleted]
        # All or nothing: one message past the window fails the call before anything is deleted.
        if any(self.now - m.date >= DELETE_WINDOW for m in live):
            raise ApiError(400, "Bad Request: message can't be deleted for everyone")
        for m in live:
            m.deleted = True
        return True

    async def _get_file(self, params: dict[str, Any]) -> Any:
        f = self._files.get(str(params.get("file_id", "")))
        if f is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(f.data) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": f.file_id, "file_unique_id": f.unique_id, "file_size": len(f.data),
            "file_path": f.path,
        }  # fmt: skip


_EDIT_REPLACES = frozenset(
    {"text", "parse_mode", "entities", "link_preview_options", "reply_markup"}
)
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


def _decode(name: str, value: str) -> Any:
    """Undo PTB's encoding: non-string values arrive JSON-encoded, strings arrive raw."""
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # a plain string such as "@channelname"


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid integer value {value!r}") from None


def _chat_id(params: dict[str, Any]) -> int:
    value = params.get("chat_id")
    if value is None or value == "":
        raise ApiError(400, "Bad Request: chat_id is empty")
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        raise ApiError(400, "Bad Request: chat not found")  # @usernames are not modelled
    return int(value)


def _same_markup(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    def norm(m: dict[str, Any] | None) -> Any:
        return (m or {}).get("inline_keyboard") or None

    return bool(norm(a) == norm(b))


def _update_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")
