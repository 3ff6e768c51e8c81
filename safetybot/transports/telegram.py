"""The Telegram front end (python-telegram-bot 22): Update -> core event, reply -> Bot API call.

Updates come by long polling, or by webhook (transports/webhook.py) behind a reverse proxy.
Private chats only. Every message id in and out is recorded by the service, so erasing can
delete them; pending updates are never dropped, because a dropped update is a message whose id
the bot never learns and can never delete.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    MessageEntity,
    MessageOrigin,
    MessageOriginChannel,
    MessageOriginChat,
    MessageOriginHiddenUser,
    MessageOriginUser,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults, TypeHandler
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter
from telegram.warnings import PTBDeprecationWarning

from safetybot.core.events import (
    Attachment,
    Command,
    Edited,
    Event,
    Forwarded,
    Incoming,
    Pressed,
    Text,
    Unsupported,
    UnsupportedKind,
)
from safetybot.core.flow import COMMAND_NAMES
from safetybot.core.service import Deletion, Outgoing, Service
from safetybot.errors import FrontEndError
from safetybot.markup import Format, render, render_static, split, visible_length
from safetybot.ops.config import Webhook
from safetybot.transports.aiohttp_request import AiohttpRequest
from safetybot.transports.webhook import WebhookServer

__all__ = ["TelegramBot", "TelegramFrontEnd", "to_incoming"]

log = logging.getLogger("safetybot.telegram")

TRANSPORT = "telegram"
MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024
DELETE_BATCH = 100
# Attempts for one call: a 429 is waited out, and idempotent calls (edit, delete) also ride out
# short outages (waits of 0.5, 1, 2 and 4 s); a send is never repeated after a network error.
_RETRIES = 5
# Edits too: "hi" edited into "i want to die" must not go unanswered (core/flow.py, _edited).
_ALLOWED = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
_Result = TypeVar("_Result")


def _html(message: Outgoing) -> list[str]:
    if message.static:
        return render_static(message.markdown, Format.TELEGRAM_HTML)
    return render(message.markdown, Format.TELEGRAM_HTML)


def make_request(timeout: float, connections: int = 64) -> AiohttpRequest:
    """The HTTP layer for Bot API calls: aiohttp, every timeout `timeout` (uploads: 20 s+)."""
    return AiohttpRequest(
        connections=connections,
        read_timeout=timeout,
        connect_timeout=timeout,
        pool_timeout=timeout,
        media_write_timeout=max(timeout, 20.0),
    )


def _keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in rows]
    )


def _plain_keyboard(rows: Sequence[Sequence[tuple[str, str]]]) -> dict[str, Any] | None:
    """The same buttons as `_keyboard`, as the Bot API's JSON (for the thin calls)."""
    if not rows:
        return None
    return {
        "inline_keyboard": [
            [{"text": label, "callback_data": data} for label, data in row] for row in rows
        ]
    }


# What `Defaults` in TelegramBot sets, for the thin calls, which bypass PTB's Bot methods.
_TEXT_DEFAULTS: dict[str, object] = {
    "parse_mode": ParseMode.HTML.value,
    "link_preview_options": {"is_disabled": True},
}


async def post_plain(bot: Bot, method: str, params: dict[str, object]) -> Any:
    """A Bot API call through the bot's own request object; its answer stays plain JSON.

    For calls whose answer is not used (delete, answer a press, edit) or only for one field
    (a sent message's id): python-telegram-bot's `Bot` methods build objects from every answer
    (a `Message` with its chat, user and buttons), which was about a fifth of the bot's CPU.
    Errors are raised by the same code as before (`BaseRequest.post`): `RetryAfter` with
    Telegram's wait, `BadRequest` with its description, `TimedOut`, `NetworkError`.
    """
    # PTB's own encoding (RequestParameter: JSON values, strings as they are), minus the step
    # that turns objects into dicts: these parameters are plain JSON already.
    data = RequestData([RequestParameter(name, value, None) for name, value in params.items()])
    return await bot.request.post(f"{bot.base_url}/{method}", data)


# Waits between tries to reach Telegram at start-up, in seconds: doubled each time.
_CONNECT_FIRST_WAIT = 1.0
_CONNECT_LONGEST_WAIT = 60.0


async def _retry(call: Callable[[], Awaitable[_Result]], *, idempotent: bool) -> _Result:
    """Run a Bot API call, waiting out 429s; retry network errors only if the call is idempotent."""
    for attempt in range(_RETRIES):
        try:
            return await call()
        except RetryAfter as error:
            # Telegram did not perform the call: safe to repeat after the wait it asks for.
            if attempt == _RETRIES - 1:
                raise
            with warnings.catch_warnings():
                # PTB 22 warns that retry_after will become a timedelta; accept either.
                warnings.simplefilter("ignore", PTBDeprecationWarning)
                delay = error.retry_after
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            log.warning("telegram_rate_limited seconds=%.1f", seconds)
            await asyncio.sleep(seconds)
        except (BadRequest, Forbidden):
            raise
        except NetworkError as error:
            # A timed-out send may still have been delivered: repeating it would duplicate it.
            if not idempotent or attempt == _RETRIES - 1:
                raise
            log.warning("telegram_retry error=%s", type(error).__name__)
            await asyncio.sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


class TelegramFrontEnd:
    """Sends, edits and deletes messages through a python-telegram-bot `Bot`."""

    transport = TRANSPORT

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send(self, address: str, message: Outgoing) -> list[int]:
        """Send Markdown as Telegram HTML, split at paragraphs; buttons go on the last part."""
        parts = split(_html(message), MESSAGE_LIMIT, visible_length)
        markup = _plain_keyboard(message.buttons)
        sent: list[int] = []
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            params: dict[str, object] = {
                "chat_id": int(address),
                "text": part,
                "reply_markup": markup if last else None,
                "disable_notification": message.silent,
                "protect_content": True,
                **_TEXT_DEFAULTS,
            }
            try:
                result = await _retry(
                    functools.partial(post_plain, self._bot, "sendMessage", params),
                    idempotent=False,
                )
            except TelegramError as error:
                raise FrontEndError(f"send failed: {type(error).__name__}", tuple(sent)) from None
            sent.append(int(result["message_id"]))
        return sent

    async def edit(self, address: str, message_id: int, message: Outgoing) -> bool:
        """Edit a message in place; False when the new text needs more than one message."""
        parts = split(_html(message), MESSAGE_LIMIT, visible_length)
        if len(parts) != 1:
            return False
        params: dict[str, object] = {
            "chat_id": int(address),
            "message_id": message_id,
            "text": parts[0],
            "reply_markup": _plain_keyboard(message.buttons),
            **_TEXT_DEFAULTS,
        }
        try:
            await _retry(
                functools.partial(post_plain, self._bot, "editMessageText", params),
                idempotent=True,
            )
        except BadRequest as error:
            # Pressing the same button twice asks for the text it already shows.
            return "not modified" in error.message.lower()
        except TelegramError as error:
            log.warning("telegram_edit_failed error=%s", type(error).__name__)
            return False
        return True

    async def delete(self, address: str, message_ids: Sequence[int]) -> Deletion:
        """Delete in batches of 100; when a batch is refused, one at a time."""
        deleted: list[int] = []
        too_old: list[int] = []
        failed: list[int] = []
        chat_id = int(address)
        ids = sorted(set(message_ids))
        for start in range(0, len(ids), DELETE_BATCH):
            batch = ids[start : start + DELETE_BATCH]
            try:
                await _retry(
                    functools.partial(
                        post_plain,
                        self._bot,
                        "deleteMessages",
                        {"chat_id": chat_id, "message_ids": batch},
                    ),
                    idempotent=True,
                )
                deleted += batch
                continue
            except BadRequest:
                # One message older than 48 hours fails the whole batch: go one by one.
                pass
            except TelegramError as error:
                log.warning("telegram_delete_failed error=%s", type(error).__name__)
                failed += batch
                continue
            for message_id in batch:
                outcome = await self._delete_one(chat_id, message_id)
                {"deleted": deleted, "too_old": too_old, "failed": failed}[outcome].append(
                    message_id
                )
        return Deletion(tuple(deleted), tuple(too_old), tuple(failed))

    async def _delete_one(self, chat_id: int, message_id: int) -> str:
        try:
            await _retry(
                functools.partial(
                    post_plain,
                    self._bot,
                    "deleteMessage",
                    {"chat_id": chat_id, "message_id": message_id},
                ),
                idempotent=True,
            )
        except BadRequest as error:
            text = error.message.lower()
            if "not found" in text:
                return "deleted"  # already gone: nothing left to delete
            return "too_old" if "can't be deleted" in text else "failed"
        except TelegramError as error:
            log.warning("telegram_delete_failed error=%s", type(error).__name__)
            return "failed"
        return "deleted"

    async def send_document(
        self, address: str, filename: str, data: bytes, caption: Outgoing
    ) -> list[int]:
        """Send a file; the caption is cut to Telegram's 1,024-character limit by paragraphs."""
        parts = split(render(caption.markdown, Format.TELEGRAM_HTML), CAPTION_LIMIT, visible_length)
        try:
            result = await _retry(
                lambda: self._bot.send_document(
                    chat_id=int(address),
                    document=InputFile(data, filename=filename),
                    caption=parts[0] if parts else None,
                    reply_markup=_keyboard(caption.buttons),
                    disable_notification=caption.silent,
                    # Savable unless the person chose view only: the file is theirs to keep.
                    protect_content=caption.protect,
                ),
                idempotent=False,
            )
        except TelegramError as error:
            raise FrontEndError(f"document failed: {type(error).__name__}") from None
        return [result.message_id]

    async def download(self, ref: str, limit: int) -> bytes:
        """Download a file the person sent; refuse anything over `limit` bytes."""
        try:
            handle = await _retry(lambda: self._bot.get_file(ref), idempotent=True)
            if handle.file_size is not None and handle.file_size > limit:
                raise FrontEndError("file too large")
            data = await _retry(handle.download_as_bytearray, idempotent=True)
        except TelegramError as error:
            raise FrontEndError(f"download failed: {type(error).__name__}") from None
        if len(data) > limit:
            raise FrontEndError("file too large")
        return bytes(data)


def _command(message: Message) -> Command | None:
    text = message.text or ""
    entities = message.entities or ()
    if not any(e.type == MessageEntity.BOT_COMMAND and e.offset == 0 for e in entities):
        return None
    head, _, args = text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    return Command(name, args.strip())


def _message_event(message: Message) -> Event:
    text = message.text or ""
    if message.forward_origin is not None:
        origin = message.forward_origin
        return Forwarded(text or message.caption or "", _origin(origin), origin.date.isoformat())
    if message.text is not None:
        return _command(message) or Text(text)
    media: tuple[tuple[str, Any], ...] = (
        ("photo", message.photo[-1] if message.photo else None),
        ("document", message.document),
        ("video", message.video),
        ("animation", message.animation),
    )
    for kind, item in media:
        if item is not None:
            name = getattr(item, "file_name", None)
            mime = "image/jpeg" if kind == "photo" else getattr(item, "mime_type", None)
            return Attachment(kind, item.file_size, item.file_id, message.caption or "", name, mime)
    if message.sticker is not None:
        return Unsupported(UnsupportedKind.STICKER)
    if message.voice or message.video_note or message.audio:
        return Unsupported(UnsupportedKind.VOICE)
    if message.location or message.venue:
        return Unsupported(UnsupportedKind.LOCATION)
    if message.contact is not None:
        return Unsupported(UnsupportedKind.CONTACT)
    return Unsupported(UnsupportedKind.OTHER)


def _origin(origin: MessageOrigin) -> str:
    """Who a forwarded message came from, as Telegram gives it (kept as evidence, sealed)."""
    if isinstance(origin, MessageOriginUser):
        user = origin.sender_user
        handle = f", @{user.username}" if user.username else ""
        return f"{user.full_name}{handle}, id {user.id}"
    if isinstance(origin, MessageOriginHiddenUser):
        return origin.sender_user_name
    if isinstance(origin, MessageOriginChat | MessageOriginChannel):
        chat = origin.sender_chat if isinstance(origin, MessageOriginChat) else origin.chat
        handle = f", @{chat.username}" if chat.username else ""
        return f"{chat.title or ''}{handle}, id {chat.id}"
    return ""


def to_incoming(update: Update) -> Incoming | None:
    """Turn a private-chat Update into a core event; None for anything else."""
    query = update.callback_query
    if query is not None:
        origin = query.message
        if origin is not None and origin.chat.type != ChatType.PRIVATE:
            return None
        return Incoming(
            transport=TRANSPORT,
            user_id=str(query.from_user.id),
            address=str(origin.chat.id if origin is not None else query.from_user.id),
            event=Pressed(query.data or ""),
            origin_id=origin.message_id if origin is not None else None,
            language=query.from_user.language_code,
        )
    edited = update.edited_message
    message = update.message or edited
    if message is None or message.chat.type != ChatType.PRIVATE or message.from_user is None:
        return None
    if edited is not None:
        words = edited.text or edited.caption or ""
        if not words.strip():
            return None  # an edit without words (a photo swapped) says nothing to answer
        event: Event = Edited(words)
    else:
        event = _message_event(message)
    return Incoming(
        transport=TRANSPORT,
        user_id=str(message.from_user.id),
        address=str(message.chat.id),
        event=event,
        message_id=message.message_id,
        language=message.from_user.language_code,
    )


class TelegramBot:
    """The python-telegram-bot Application wired to the service, polling a Bot API server."""

    def __init__(
        self,
        service: Service,
        token: str,
        api_url: str,
        *,
        poll_timeout: float = 10.0,
        request_timeout: float = 10.0,
        webhook: Webhook | None = None,
        webhook_secret: str | None = None,
        ready: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._service = service
        self._poll_timeout = poll_timeout
        self._webhook = webhook
        self._webhook_secret = webhook_secret
        self._ready_check = ready
        self._running = False
        root = api_url.rstrip("/")
        defaults = Defaults(
            parse_mode=ParseMode.HTML,
            protect_content=True,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        self.application: Application[Any, Any, Any, Any, Any, Any] = (
            ApplicationBuilder()
            .token(token)
            .base_url(f"{root}/bot")
            .base_file_url(f"{root}/file/bot")
            .defaults(defaults)
            # aiohttp instead of PTB's httpx: a tenth of the CPU per call (aiohttp_request.py).
            .request(make_request(request_timeout))
            .get_updates_request(make_request(request_timeout, connections=1))
            # Different people are served concurrently; the service keeps each person's
            # updates in order with a lock taken before anything in between can suspend.
            .concurrent_updates(True)
            .build()
        )
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.front = TelegramFrontEnd(self.application.bot)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.server: WebhookServer | None = None
        if webhook is not None:
            if not webhook_secret:
                raise FrontEndError("webhook mode needs a secret")
            self.server = WebhookServer(
                path=webhook.path,
                secret=webhook_secret,
                accept=self._accept,
                ready=self.ready,
                host=webhook.listen,
                port=webhook.port,
            )

    async def start(self) -> None:
        """Connect, publish the command list, and start long polling or the webhook."""
        await self._connect()
        await self._publish_commands()
        await self.application.start()
        if self.server is not None and self._webhook is not None:
            # Listen first, so that Telegram's first post after setWebhook finds us.
            await self.server.start()
            await self._set_webhook(self._webhook)
        else:
            updater = self.application.updater
            if updater is None:  # pragma: no cover - the builder always makes one
                raise FrontEndError("no updater")
            # This also deletes a webhook left from webhook mode (its updates are kept).
            await updater.start_polling(
                timeout=int(self._poll_timeout),
                drop_pending_updates=False,
                allowed_updates=_ALLOWED,
            )
        self._spawn(self._service.run_ticks(self.front))
        self._running = True
        log.info("telegram_started mode=%s", "webhook" if self.server else "polling")

    async def _connect(self) -> None:
        """Reach Telegram, waiting (longer each time, up to a minute) while it cannot be reached.

        No network at start-up is common (a server booting, a container restarting before
        its network): one log line per try, not a traceback and an exit that a supervisor
        turns into a restart loop. A refused token is final.
        """
        wait = _CONNECT_FIRST_WAIT
        for attempt in itertools.count(1):
            try:
                await self.application.initialize()
                return
            except InvalidToken:
                # PTB's message quotes the token: never let it reach a traceback or a log.
                raise FrontEndError(
                    "Telegram refused the bot token (SAFETYBOT_TELEGRAM_TOKEN): copy it again "
                    "from @BotFather"
                ) from None
            except NetworkError as error:
                log.warning(
                    "telegram_unreachable attempt=%d retry_in=%.0f error=%s",
                    attempt,
                    wait,
                    type(error).__name__,
                )
                await asyncio.sleep(wait)
                wait = min(wait * 2, _CONNECT_LONGEST_WAIT)

    async def ready(self) -> bool:
        """Started, not stopping, and the database answers (the webhook's /readyz)."""
        if not self._running or not self.application.running:
            return False
        return await self._ready_check() if self._ready_check is not None else True

    async def _set_webhook(self, webhook: Webhook) -> None:
        try:
            await _retry(
                lambda: self.application.bot.set_webhook(
                    url=webhook.public_url,
                    secret_token=self._webhook_secret,
                    allowed_updates=_ALLOWED,
                    max_connections=webhook.max_connections,
                    drop_pending_updates=False,
                ),
                idempotent=True,
            )
        except TelegramError as error:
            # Telegram's answer names what is wrong with the URL; it holds no personal data.
            raise FrontEndError(
                f"Telegram refused the webhook address ({type(error).__name__}: {error.message})"
            ) from None
        log.info("telegram_webhook_set")

    async def _accept(self, data: dict[str, Any]) -> None:
        """Queue an update posted to the webhook, as polling would."""
        update = Update.de_json(data, self.application.bot)
        await self.application.update_queue.put(update)

    async def stop(self) -> None:
        """Stop taking updates, finish those in flight, and close connections.

        The webhook stays set at Telegram: updates sent while the bot is down wait there and
        are delivered when it is back.
        """
        self._running = False
        if self.server is not None:
            await self.server.stop()
        if self.application.updater is not None and self.application.updater.running:
            await self.application.updater.stop()
        if self.application.running:
            # Processes every update already queued and waits for those being handled.
            await self.application.stop()
        for task in self._tasks:
            task.cancel()  # the tick loop runs forever; answers in flight end quickly
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.application.shutdown()
        log.info("telegram_stopped")

    async def _publish_commands(self) -> None:
        """The command list, and a neutral name and description, in every shipped language."""
        texts = self._service.texts
        bot = self.application.bot
        for locale in texts.locales:
            language = None if locale == texts.default else locale
            profile = (
                (bot.set_my_name, "bot.name"),
                (bot.set_my_description, "bot.description"),
                (bot.set_my_short_description, "bot.short_description"),
            )
            for setter, key in profile:
                if texts.has(key):
                    try:
                        await setter(texts.text(locale, key), language_code=language)
                    except TelegramError as error:
                        log.warning("telegram_profile_failed error=%s", type(error).__name__)
            commands = [
                BotCommand(name, texts.text(locale, f"command.{name}"))
                for name in COMMAND_NAMES
                if texts.has(f"command.{name}")
            ]
            try:
                await self.application.bot.set_my_commands(commands, language_code=language)
            except TelegramError as error:
                log.warning("telegram_commands_failed error=%s", type(error).__name__)

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        incoming = to_incoming(update)
        if update.callback_query is not None and not (
            # A press refused as too fast is not worth a Bot API call of its own.
            incoming is not None and self._service.over_limit(incoming)
        ):
            # Stop the button's spinner without awaiting here: nothing may suspend before
            # the service takes this person's lock, or their updates could reorder.
            self._spawn(self._answer(update))
        if incoming is not None:
            await self._service.handle(incoming, self.front)
            return
        message = update.message
        if message is not None and message.chat.type in (ChatType.GROUP, ChatType.SUPERGROUP):
            await self._leave_group(message)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, update: Update) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await post_plain(
                self.application.bot, "answerCallbackQuery", {"callback_query_id": query.id}
            )
        except TelegramError as error:
            log.info("telegram_answer_failed error=%s", type(error).__name__)

    async def _leave_group(self, message: Message) -> None:
        """Say once, politely, that the bot works only in private chats, then leave."""
        texts = self._service.texts
        language = message.from_user.language_code if message.from_user else None
        text = render(texts.text(texts.pick(language), "private_only"), Format.TELEGRAM_HTML)
        try:
            await message.chat.send_message("\n\n".join(text))
            await message.chat.leave()
        except TelegramError as error:
            log.info("telegram_group_reply_failed error=%s", type(error).__name__)
        log.info("group_left")

    async def _on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # Only the class: an exception's text may quote the update it came from.
        log.error("telegram_error error=%s", type(context.error).__name__)
