"""The async shell around the pure flow: pseudonymize, load, step, apply effects, reply, save.

One person's updates are handled one at a time (a lock per pseudonym), so an erase can never
interleave with recording that person's message ids. Different people run concurrently.

A per-person rate limit (`core/limits.py`) refuses a flood before the person's lock, so it never
queues in front of anyone else. Erasing, the crisis path, words of self-harm or a cry for help,
and the panic word are never refused for being too fast: they count against a second bucket of
their own, and a refused text is compared with the person's panic word (read once per flood,
then kept in memory).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from safetybot import checker
from safetybot.checker import Checker
from safetybot.checker import load_model as load_check_model
from safetybot.config import default_locales_dir
from safetybot.core import menus
from safetybot.core.desk import Desk, DeskResult, VaultContext
from safetybot.core.events import Command, Incoming, Pressed, Text
from safetybot.core.flow import (
    COMMAND_NAMES,
    MAX_TEXT,
    PASSPHRASE_MODES,
    VAULT_MODES,
    CheckText,
    CheckTyped,
    ClearChat,
    Context,
    DeleteOrigin,
    Forget,
    Mode,
    OfferCheck,
    Reschedule,
    SetPanic,
    State,
    VaultEvent,
    step,
)
from safetybot.core.limits import Limits, LimitSettings, Verdict
from safetybot.core.menus import Action, GuideId, Question
from safetybot.core.notebook import Notebook
from safetybot.core.plan import ContactBlock, Route, make_plan
from safetybot.core.records import Person, Records
from safetybot.core.replies import (
    Button,
    CheckResult,
    Contacts,
    GuideText,
    Keyboard,
    Part,
    PlanText,
    Reply,
    T,
)
from safetybot.core.signals import Signals, normalize
from safetybot.core.vault import Vaults, VaultSettings
from safetybot.crypto import Keyring, new_data_key, seal, unseal
from safetybot.errors import CryptoError
from safetybot.i18n import Texts
from safetybot.markup import Format, escape, render, render_static
from safetybot.notices import PLATFORMS_FILE, Platforms
from safetybot.redflags import Finding, Flag, Level, Rules
from safetybot.resources import Ages, Country, Directory, Kind, Resource, display_phone

__all__ = ["Deletion", "FrontEnd", "Outgoing", "Service"]

log = logging.getLogger("safetybot.service")

_DAY = 86_400
_HOLD_SECONDS = 600
# Telegram lets a bot delete a message for 48 hours; after that a deletion can never succeed.
_DELETE_WINDOW = 48 * 3600
# Longer texts are never compared with the panic word (which is at most 40 characters).
_PANIC_MAX = 100
# Texts up to this long are read for crisis words even when their sender is over the limit.
_CRISIS_MAX = 1000
# Messages to check longer than this are read on a worker thread.
_CHECK_ON_LOOP = 1000
# The rate limit's bucket for what is never refused with ordinary updates.
_URGENT = b"urgent:"
_URGENT_COMMANDS = frozenset({"forget", "clear", "now"})
_URGENT_PRESSES = frozenset({Action.FORGET, Action.FORGET_YES, Action.CLEAR, Action.CRISIS})
# People being refused whose panic word is kept in memory at once.
_MAX_PROBES = 1000


@dataclass(frozen=True)
class Outgoing:
    """A message ready for a front end: Markdown text, rows of (label, data) buttons, and
    whether it should arrive without a notification sound."""

    markdown: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()
    silent: bool = False
    # None of a person's words (or anything about them) in it: its rendering may be remembered.
    static: bool = False
    # A file sent with it is view only: not to be saved or forwarded (Telegram enforces it).
    protect: bool = False


@dataclass(frozen=True)
class Deletion:
    """What a front end managed to delete.

    `too_old`: past the messenger's deletion window; `not_allowed`: the messenger never lets a
    bot delete these (on Signal, the person's own messages); `failed`: any other refusal.
    """

    deleted: tuple[int, ...] = ()
    too_old: tuple[int, ...] = ()
    failed: tuple[int, ...] = ()
    not_allowed: tuple[int, ...] = ()

    @property
    def remaining(self) -> int:
        """How many messages are still in the chat."""
        return len(self.too_old) + len(self.failed) + len(self.not_allowed)


class FrontEnd(Protocol):
    """What the service needs from a messenger. `address` is where to send (a chat id)."""

    transport: str

    async def send(self, address: str, message: Outgoing) -> list[int]:
        """Send a message (split if long); return the ids of the messages sent."""

    async def edit(self, address: str, message_id: int, message: Outgoing) -> bool:
        """Replace a message's text and buttons; False if it cannot be edited."""

    async def delete(self, address: str, message_ids: Sequence[int]) -> Deletion:
        """Delete messages, as many as the messenger allows."""

    async def send_document(
        self, address: str, filename: str, data: bytes, caption: Outgoing
    ) -> list[int]:
        """Send a file with a caption; return the ids of the messages sent."""

    async def download(self, ref: str, limit: int) -> bytes:
        """Fetch an attachment's bytes by its opaque ref; FrontEndError if over `limit` bytes."""


@dataclass
class _Context:
    """One update being handled: who, their key, their state, what was sent."""

    incoming: Incoming
    pseudonym: bytes
    data_key: bytes
    state: State
    sent: list[int] = field(default_factory=list)


class Service:
    """Turns incoming events into replies and stored records."""

    def __init__(
        self,
        records: Records,
        keyring: Keyring,
        texts: Texts,
        directory: Directory,
        vault: VaultSettings | None = None,
        clock: Callable[[], float] = time.time,
        *,
        auto_clear_default: int = 0,
        retention_days: int = 90,
        rules: Rules | None = None,
        default_country: str | None = None,
        limits: LimitSettings | None = None,
        platforms: Platforms | None = None,
    ) -> None:
        self._records = records
        self._keyring = keyring
        self._texts = texts
        self._directory = directory
        self._clock = clock
        self._signals = Signals.from_texts(texts)
        self._context = Context(locales=texts.locales, auto_clear_default=auto_clear_default)
        self.retention_days = retention_days
        # Where new people are assumed to be until they say (an organization's own country).
        self._default_country = default_country
        self._rules = rules or Rules.load(default_locales_dir())
        # The level of a checked message comes from the check model; the flags from the rules.
        self._checker = Checker(
            self._rules, load_check_model(), load_check_model(checker.FLAGS_FILE)
        )
        # A checked message, in memory only, for a few minutes: "save to private notes" needs
        # it after the message itself has been deleted from the chat.
        self._held: dict[bytes, tuple[dict[str, str], float]] = {}
        # Typed words that looked like someone else's message, in memory only, until the person
        # says whether to check them: (text, the message's id, until when).
        self._typed: dict[bytes, tuple[str, int | None, float]] = {}
        self._last_retention_day = -1
        self.vaults = Vaults(records, vault or VaultSettings(), clock)
        self._menu_words = _menu_words(texts)
        self._desk = Desk(
            self.vaults, Notebook(records), self._menu_words, platforms or _shipped_platforms(texts)
        )
        # Locks live only while someone holds or awaits them, so memory does not grow.
        self._locks: weakref.WeakValueDictionary[bytes, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # None: no limit (the bot as run always has one: config.py's default).
        self.rate_limit = None if limits is None else Limits(limits, clock)
        # The panic key and word hash of people being refused (None: no panic word), so a
        # flood of texts is checked for the panic word without a database read each.
        self._probes: OrderedDict[bytes, tuple[bytes, str] | None] = OrderedDict()

    async def close(self) -> None:
        """Close the store (checkpointing the database)."""
        await self._records.close()

    @property
    def texts(self) -> Texts:
        """The catalogs and guides in use."""
        return self._texts

    def _lock_for(self, pseudonym: bytes) -> asyncio.Lock:
        lock = self._locks.get(pseudonym)
        if lock is None:
            lock = self._locks[pseudonym] = asyncio.Lock()
        return lock

    async def handle(self, incoming: Incoming, front: FrontEnd) -> None:
        """Handle one event from one person, replying through `front`."""
        kind = type(incoming.event).__name__.lower()
        if incoming.event == Pressed(Action.DISMISS.value):
            # Needs no record of the person: it also works right after "forget me".
            if incoming.origin_id is not None:
                await front.delete(incoming.address, [incoming.origin_id])
            return
        pseudonym = self._keyring.pseudonym(incoming.transport, incoming.user_id)
        # Decided before anything can suspend, unless a refusal is owed a notice or a text
        # must be compared with the panic word.
        if not await self._admitted(incoming, pseudonym, front):
            return
        started = time.perf_counter()
        # Taken before anything can suspend, so one person's updates keep their order.
        async with self._lock_for(pseudonym):
            self._probes.pop(pseudonym, None)  # what they do now may change their panic word
            try:
                await self._handle(incoming, pseudonym, front)
            except Exception as error:
                log.error("event_failed kind=%s error=%s", kind, type(error).__name__)
                await self._apologize(incoming, front)
                return
            finally:
                self._probes.pop(pseudonym, None)
        log.info("event_handled kind=%s ms=%.1f", kind, (time.perf_counter() - started) * 1000)

    def over_limit(self, incoming: Incoming) -> bool:
        """Whether this update will be refused as too fast (a peek: takes nothing).

        A front end asks before spending a messenger call on it (answering a button press).
        """
        if self.rate_limit is None or _urgent(incoming.event):
            return False
        pseudonym = self._keyring.pseudonym(incoming.transport, incoming.user_id)
        return self.rate_limit.over(pseudonym)

    async def _admitted(self, incoming: Incoming, pseudonym: bytes, front: FrontEnd) -> bool:
        """Take a token for this update; False if it is refused (and then say so, once)."""
        event = incoming.event
        limit = self.rate_limit
        if limit is None:
            return True
        if _urgent(event) or (
            # Words of self-harm or a cry for help are never answered "slow down".
            isinstance(event, Text)
            and len(event.text) <= _CRISIS_MAX
            and self._signals.is_crisis_word(event.text)
        ):
            # Never refused with ordinary updates; a flood of these alone still is.
            verdict = limit.check(_URGENT + pseudonym, incoming.message_id)
        elif (
            isinstance(event, Text)
            and limit.over(pseudonym)
            and await self._is_panic_word(pseudonym, event.text)
        ):
            return True
        else:
            verdict = limit.check(pseudonym, incoming.message_id)
        if verdict is Verdict.SLOW_DOWN:
            log.info("rate_limited")
            try:
                async with self._lock_for(pseudonym):
                    await self._slow_down(incoming, pseudonym, front)
            except Exception as error:  # the notice is a courtesy; the refusal stands
                log.warning("slow_down_failed error=%s", type(error).__name__)
        return verdict is Verdict.ALLOW

    async def _is_panic_word(self, pseudonym: bytes, text: str) -> bool:
        """Whether a refused text is the person's panic word; their state is read once a flood."""
        if len(text) > _PANIC_MAX:
            return False
        if pseudonym not in self._probes:
            try:
                async with self._lock_for(pseudonym):
                    probe = None
                    person = await self._records.person(pseudonym)
                    if person is not None:
                        data_key = self._keyring.unwrap(person.wrapped_key, pseudonym)
                        stored = self._open_state(person, data_key).panic
                        probe = None if stored is None else (_panic_key(data_key), stored)
            except Exception as error:
                # Unsure: let it through, so a panic word is never lost to a passing fault.
                log.warning("panic_probe_failed error=%s", type(error).__name__)
                return True
            self._probes[pseudonym] = probe
            while len(self._probes) > _MAX_PROBES:
                self._probes.popitem(last=False)
        probe = self._probes.get(pseudonym)
        return probe is not None and hmac.compare_digest(probe[1], _panic_hash(probe[0], text))

    async def _slow_down(self, incoming: Incoming, pseudonym: bytes, front: FrontEnd) -> None:
        """The one calm reply a flood gets; the refused messages stay on record for erasing."""
        person = await self._records.person(pseudonym)
        state = None
        if person is not None:
            state = self._open_state(person, self._keyring.unwrap(person.wrapped_key, pseudonym))
        locale = state.locale if state and state.locale else self._texts.pick(incoming.language)
        notice = Reply((T("limits.slow_down"),))
        sent = await front.send(incoming.address, self._render(locale, notice))
        if person is not None:
            at = int(self._clock())
            await self._records.remember_messages(pseudonym, self._refused_ids(pseudonym), at)
            await self._records.remember_messages(pseudonym, sent, at, own=True)

    def _refused_ids(self, pseudonym: bytes) -> list[int]:
        """The ids of this person's refused messages, handed over once."""
        limit = self.rate_limit
        if limit is None:
            return []
        return [*limit.held(pseudonym), *limit.held(_URGENT + pseudonym)]

    async def _apologize(self, incoming: Incoming, front: FrontEnd) -> None:
        locale = self._texts.pick(incoming.language)
        try:
            await front.send(incoming.address, self._render(locale, Reply((T("error.generic"),))))
        except Exception as error:  # the messenger itself is failing; nothing more to do
            log.error("apology_failed error=%s", type(error).__name__)

    async def _handle(self, incoming: Incoming, pseudonym: bytes, front: FrontEnd) -> None:
        person = await self._records.person(pseudonym)
        now = self._clock()
        if person is None:
            data_key = new_data_key()
            state = State(locale=self._texts.pick(incoming.language), country=self._default_country)
            person = Person(
                pseudonym, self._keyring.wrap(data_key, pseudonym), None, None, int(now // _DAY)
            )
            await self._records.save_person(person)
        else:
            data_key = self._keyring.unwrap(person.wrapped_key, pseudonym)
            state = self._open_state(person, data_key)
        ctx = _Context(incoming, pseudonym, data_key, state)
        if held := self._refused_ids(pseudonym):
            # Messages refused as too fast are still in the chat: erasing must find them.
            await self._records.remember_messages(pseudonym, held, int(now))
        if incoming.message_id is not None:
            # Recorded before anything else can fail, so an erase can always find it.
            fresh = await self._records.remember_incoming(pseudonym, incoming.message_id, int(now))
            if not fresh:
                # Telegram redelivers updates whose offset was never confirmed (a crash):
                # the same message must not save a note twice.
                log.info("duplicate_update")
                return
            await self._auto_clear(ctx, [incoming.message_id], now)
        event = incoming.event
        if isinstance(event, Text) and self._is_panic(ctx, event.text):
            # From any state, at once, no confirmation, and nothing left to read.
            log.info("panic_word mode=%s", state.panic_mode)
            if state.panic_mode == "clear":
                await self._clear(ctx, front, report=False)
                await self._save(ctx, person, now)
            else:
                await self._forget(ctx, front, report=False)
            return
        if isinstance(event, Text) and state.mode in PASSPHRASE_MODES:
            # A passphrase is never read for hints, and leaves the chat before it is used.
            await self._delete_now(ctx, front, [incoming.message_id], forget=False)
        elif isinstance(event, Text) and self._desk.was_passphrase(pseudonym, event.text, now):
            # The same passphrase sent twice: delete this copy too, and show the open vault.
            await self._delete_now(ctx, front, [incoming.message_id], forget=False)
            event = Pressed("v")
        elif isinstance(event, Text) and state.mode not in VAULT_MODES:
            meaning = self._signals.understand(event.text)
            log.info("text_understood intent=%s", meaning.intent.value)
            event = replace(event, hints=self._signals.hints(event.text), meaning=meaning)
        outcome = step(state, event, self._context)
        ctx.state = outcome.state
        replies = list(outcome.replies)
        if event == Command("start") and not state.tip_shown:
            tip = f"tip.autodelete.{front.transport}"
            if self._texts.has(tip) and replies:
                # Offered once, inside the welcome: the messenger's own auto-delete timer.
                first = replies[0]
                replies[0] = replace(first, parts=(*first.parts, T(tip)))
            ctx.state = replace(ctx.state, tip_shown=True)
        for effect in outcome.effects:
            if isinstance(effect, Forget):
                await self._forget(ctx, front)
                return
            if isinstance(effect, DeleteOrigin) and incoming.origin_id is not None:
                await self._delete_now(ctx, front, [incoming.origin_id])
            if isinstance(effect, VaultEvent):
                await self._vault(ctx, effect, front, replies)
                await self._tidy(ctx, front, event)
                return
            if isinstance(effect, ClearChat):
                await self._clear(ctx, front, report=True)
                await self._save(ctx, person, now)
                return
            if isinstance(effect, SetPanic):
                replies.append(self._set_panic(ctx, effect.word))
            if isinstance(effect, Reschedule):
                await self._reschedule(ctx)
            if isinstance(effect, CheckText):
                replies.append(await self._check(ctx, effect, now))
            if isinstance(effect, OfferCheck):
                self._typed[pseudonym] = (effect.text, incoming.message_id, now + _HOLD_SECONDS)
            if isinstance(effect, CheckTyped):
                replies.append(await self._check_typed(ctx, front, now))
        try:
            await self._send_all(ctx, replies, front)
        finally:
            await self._remember_sent(ctx)
        await self._tidy(ctx, front, event)
        if any(isinstance(effect, CheckText) for effect in outcome.effects):
            # Checked, answered, gone: the pasted message does not stay in the chat.
            await self._delete_now(ctx, front, [incoming.message_id], forget=False)
        await self._save(ctx, person, now)

    async def _check_typed(self, ctx: _Context, front: FrontEnd, now: float) -> Reply:
        """Check the words held by an offer; the message that held them leaves the chat."""
        typed = self._typed.pop(ctx.pseudonym, None)
        if typed is None or typed[2] < now:
            ctx.state = replace(ctx.state, mode=Mode.IDLE)
            return Reply((T("check.gone_typed"),), menus.check_menu())
        text, message_id, _ = typed
        reply = await self._check(ctx, CheckText(text), now)
        await self._delete_now(ctx, front, [message_id], forget=False)
        return reply

    def _prune_held(self, now: float) -> None:
        """Texts held in memory go when their time is up, whether or not the person returns."""
        for held in (self._held, self._typed):
            for pseudonym in [p for p, value in held.items() if value[-1] < now]:
                held.pop(pseudonym, None)
        self._desk.prune_held(now)

    def _drop_held(self, pseudonym: bytes) -> None:
        """Forget every text held in memory for this person (on erase and clear)."""
        self._held.pop(pseudonym, None)
        self._typed.pop(pseudonym, None)
        self._desk.drop_held(pseudonym)

    async def _check(self, ctx: _Context, effect: CheckText, now: float) -> Reply:
        """Red flags in a pasted or forwarded message; the text is held in memory only."""
        if len(effect.text) > _CHECK_ON_LOOP:
            # Every rule scans the whole text: a long one is read off the event loop.
            finding = await asyncio.to_thread(self._checker.check, effect.text)
        else:
            finding = self._checker.check(effect.text)
        log.info(
            "message_checked level=%s flags=%d report=%s",
            finding.level.value,
            len(finding.flags),
            finding.report,
        )
        if finding.empty:
            return Reply((T("check.empty"),), menus.check_menu())
        if finding.report:
            # Someone telling what happened, not the threat itself: answered as their story.
            ctx.state = replace(ctx.state, mode=Mode.IDLE)
            return Reply((T("check.report"),), menus.check_report_menu())
        held = {"text": effect.text[:MAX_TEXT], "origin": effect.origin, "date": effect.date}
        self._held[ctx.pseudonym] = (held, now + _HOLD_SECONDS)
        parts = self._finding_parts(finding)
        return Reply(tuple(parts), menus.check_result_menu(True, _check_guides(finding)))

    def _finding_parts(self, finding: Finding) -> list[Part]:
        parts: list[Part] = [T(f"check.level.{finding.level.value}")]
        if not finding.flags and finding.level.at_least(Level.LIKELY):
            # The model reads the whole message; no single phrase matched a rule.
            parts.append(T("check.whole_message"))
        for hit in finding.flags:
            name = T(f"check.flag.{hit.flag.value}")
            if hit.quotes:
                quotes = " … ".join(hit.quotes)
                parts.append(T("check.flag_line", {"name": name, "quote": quotes}))
            else:
                parts.append(T("check.flag_line_plain", {"name": name}))
        if finding.truncated:
            parts.append(T("check.truncated"))
        parts.append(T(f"check.next.{finding.level.value}"))
        if finding.urgent and finding.level.at_least(Level.LIKELY):
            # A deadline on an ordinary bill is no emergency; on a threat, it is the script.
            parts.append(T("check.urgent"))
        return parts

    def held_check(self, pseudonym: bytes) -> dict[str, str] | None:
        """The message last checked, if still held (for saving it as a note)."""
        found = self._held.get(pseudonym)
        if found is None or found[1] < self._clock():
            self._held.pop(pseudonym, None)
            return None
        return found[0]

    async def _tidy(self, ctx: _Context, front: FrontEnd, event: object) -> None:
        """A quiet chat: the person's commands and typed choices go once handled."""
        typed_choice = isinstance(event, Pressed) and ctx.incoming.message_id is not None
        if isinstance(event, Command) or typed_choice:
            await self._delete_now(ctx, front, [ctx.incoming.message_id], forget=False)

    def _panic_hash(self, ctx: _Context, text: str) -> str:
        return _panic_hash(_panic_key(ctx.data_key), text)

    def _is_panic(self, ctx: _Context, text: str) -> bool:
        stored = ctx.state.panic
        if stored is None or len(text) > _PANIC_MAX:
            return False
        return hmac.compare_digest(stored, self._panic_hash(ctx, text))

    def _set_panic(self, ctx: _Context, word: str) -> Reply:
        """Check a new panic word; only its keyed hash is kept."""
        cleaned = normalize(word)
        if cleaned.startswith("/"):
            reason = "panic.refused.command"
        elif cleaned.replace(" ", "").isdecimal():
            reason = "panic.refused.number"
        elif not 3 <= len(cleaned) <= 40 or "\n" in word.strip():
            reason = "panic.refused.length"
        elif cleaned in self._menu_words or self._signals.is_crisis_word(cleaned):
            reason = "panic.refused.menu_word"
        else:
            ctx.state = replace(ctx.state, panic=self._panic_hash(ctx, word))
            log.info("panic_word_set mode=%s", ctx.state.panic_mode)
            return Reply((T("panic.set"),), menus.main_menu())
        again = replace(ctx.state, mode=Mode.PANIC_WORD)
        ctx.state = again
        return Reply((T(reason), T("panic.choose")), menus.cancel_menu())

    def _auto_clear_seconds(self, state: State) -> int:
        default = self._context.auto_clear_default
        return default if state.auto_clear is None else state.auto_clear

    async def _auto_clear(self, ctx: _Context, ids: Sequence[int], at: float) -> None:
        seconds = self._auto_clear_seconds(ctx.state)
        if seconds and ids:
            await self._records.schedule_deletion(ctx.pseudonym, ids, int(at) + seconds)

    async def _reschedule(self, ctx: _Context) -> None:
        """A new auto-clear timer applies to the messages already in the chat, too."""
        seconds = self._auto_clear_seconds(ctx.state)
        if not seconds:
            return  # turning it off stops new messages being scheduled; nothing is un-deleted
        for message_id, sent_at in await self._records.message_ids(ctx.pseudonym):
            await self._records.schedule_deletion(ctx.pseudonym, [message_id], sent_at + seconds)

    async def _vault(
        self, ctx: _Context, effect: VaultEvent, front: FrontEnd, replies: list[Reply]
    ) -> None:
        """Hand the event to the vault's conversation, then show and schedule what it says."""
        locale = ctx.state.locale or self._texts.default
        person = await self._records.person(ctx.pseudonym)
        assert person is not None  # noqa: S101 - saved at the start of _handle
        vault_ctx = VaultContext(
            pseudonym=ctx.pseudonym,
            data_key=ctx.data_key,
            state=ctx.state,
            download=front.download,
            words=lambda key: self._plain(locale, T(key)),
            now=self._clock(),
            held=self.held_check(ctx.pseudonym),
            english=lambda key: self._plain("en", T(key)),
        )
        data = effect.event.data if isinstance(effect.event, Pressed) else ""
        result: DeskResult = await self._desk.handle(vault_ctx, effect.event)
        ctx.state = result.state
        if data == "v:keep" and ctx.incoming.origin_id is not None:
            await self._records.cancel_deletion(ctx.pseudonym, [ctx.incoming.origin_id])
        try:
            before = len(ctx.sent)
            await self._send_all(ctx, [*replies, *result.replies], front)
            shown = ctx.sent[before:]
            if result.document is not None:
                shown += await self._send_export(ctx, result, front)
        finally:
            await self._remember_sent(ctx)
        await self._after_vault(ctx, front, data, shown if result.sensitive else [])
        if result.stored:
            # A note's words or file, now sealed: the message that carried them leaves the chat.
            await self._delete_now(ctx, front, [ctx.incoming.message_id], forget=False)
        await self._save(ctx, person, self._clock())

    async def _send_export(self, ctx: _Context, result: DeskResult, front: FrontEnd) -> list[int]:
        """Send the vault's file; return the ids that must go when the vault locks."""
        document = result.document
        assert document is not None  # noqa: S101 - checked by the caller
        locale = ctx.state.locale or self._texts.default
        keep = Button(T("button.keep"), "v:keep")
        buttons: Keyboard = () if document.until_lock else ((keep,),)
        caption = replace(
            self._render(locale, Reply((document.caption, *document.notes), buttons)),
            protect=document.protect,
        )
        ids = await front.send_document(
            ctx.incoming.address, document.filename, document.data, caption
        )
        ctx.sent += ids
        if document.until_lock:
            # A removal request holds a name and an e-mail: it goes with the notes' other views.
            log.info("notice_document_sent")
            return ids
        minutes = self.vaults.settings.export_keep_minutes
        due = int(self._clock()) + minutes * 60
        await self._records.schedule_deletion(ctx.pseudonym, ids, due)
        log.info("vault_exported view_only=%s", document.protect)
        return []

    async def _after_vault(
        self, ctx: _Context, front: FrontEnd, data: str, shown: list[int]
    ) -> None:
        """Messages showing vault contents go when the vault locks (now, or after inactivity)."""
        session = self.vaults.session(ctx.pseudonym)
        if session is not None:
            lock_at = int(session.expires)
            await self._records.retime_lock_deletions(ctx.pseudonym, lock_at)
            if shown:
                await self._records.schedule_deletion(ctx.pseudonym, shown, lock_at, True)
        elif data == "v:lock" or shown:
            # Locked just now: the views go at once (the reply saying so stays).
            await self._records.retime_lock_deletions(ctx.pseudonym, 0)
            await self._run_due(ctx.pseudonym, front, only_for=ctx)

    async def _delete_now(
        self, ctx: _Context, front: FrontEnd, ids: Sequence[int | None], forget: bool = True
    ) -> None:
        """Delete messages now. The person's own ids stay on record (forget=False): a
        redelivered update is then still recognised, and an erase finds them already gone."""
        wanted = [i for i in ids if i is not None]
        if not wanted:
            return
        deletion = await front.delete(ctx.incoming.address, wanted)
        if forget:
            await self._records.forget_messages(ctx.pseudonym, deletion.deleted)

    async def _remember_sent(self, ctx: _Context) -> None:
        if ctx.sent:
            now = self._clock()
            await self._records.remember_messages(ctx.pseudonym, ctx.sent, int(now), own=True)
            await self._auto_clear(ctx, ctx.sent, now)
            ctx.sent = []

    async def _save(self, ctx: _Context, person: Person, now: float) -> None:
        key, owner = ctx.data_key, ctx.pseudonym
        await self._records.save_person(
            replace(
                person,
                address=seal(key, ctx.incoming.address.encode(), owner=owner, purpose="address"),
                state=seal(key, ctx.state.to_bytes(), owner=owner, purpose="state"),
                last_seen_day=int(now // _DAY),
            )
        )

    def _open_state(self, person: Person, data_key: bytes) -> State:
        if person.state is None:
            return State()
        try:
            raw = unseal(data_key, person.state, owner=person.pseudonym, purpose="state")
        except CryptoError:
            # A damaged state is not worth losing the conversation over: start fresh.
            log.warning("state_unreadable")
            return State()
        return State.from_bytes(raw)

    async def awaiting_secret(self, transport: str, user_id: str) -> bool:
        """Whether this person's next text is a passphrase (front ends can hide the typing)."""
        pseudonym = self._keyring.pseudonym(transport, user_id)
        person = await self._records.person(pseudonym)
        if person is None:
            return False
        data_key = self._keyring.unwrap(person.wrapped_key, pseudonym)
        return self._open_state(person, data_key).mode in PASSPHRASE_MODES

    async def tick(self, front: FrontEnd) -> None:
        """Carry out what is due: scheduled and owed deletions, and the retention limit."""
        self._prune_held(self._clock())
        await self._run_owed(front)
        await self._records.settle()  # erased rows a reader kept in the WAL
        await self._retention()
        due = await self._records.due_deletions(int(self._clock()))
        for pseudonym in due:
            async with self._lock_for(pseudonym):
                try:
                    await self._run_due(pseudonym, front)
                except Exception as error:  # one person's failure must not stop the others
                    log.error("scheduled_delete_failed error=%s", type(error).__name__)

    async def _retention(self) -> None:
        """Once a day: erase everyone inactive for longer than the retention limit."""
        today = int(self._clock() // _DAY)
        if today == self._last_retention_day:
            return
        self._last_retention_day = today
        for pseudonym in await self._records.inactive_people(today - self.retention_days):
            async with self._lock_for(pseudonym):
                self.vaults.lock(pseudonym)
                self._drop_held(pseudonym)
                await self._records.erase_person(pseudonym)
            log.info("retention_erased")

    async def run_ticks(self, front: FrontEnd, every: float = 10.0) -> None:
        """Call `tick` forever (a background task of each front end's runner)."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.tick(front)
            except Exception as error:
                log.error("tick_failed error=%s", type(error).__name__)

    async def _run_due(
        self, pseudonym: bytes, front: FrontEnd, only_for: _Context | None = None
    ) -> None:
        due = (await self._records.due_deletions(int(self._clock()))).get(pseudonym, [])
        if not due:
            return
        if only_for is not None:
            address = only_for.incoming.address
        else:
            person = await self._records.person(pseudonym)
            if person is None or person.address is None:
                return
            data_key = self._keyring.unwrap(person.wrapped_key, pseudonym)
            address = unseal(data_key, person.address, owner=pseudonym, purpose="address").decode()
        deletion = await front.delete(address, due)
        gone = [*deletion.deleted, *deletion.too_old, *deletion.not_allowed]
        await self._records.cancel_deletion(pseudonym, gone)
        await self._records.forget_messages(pseudonym, gone)
        log.info("scheduled_deleted count=%d", len(deletion.deleted))

    async def _forget(self, ctx: _Context, front: FrontEnd, report: bool = True) -> None:
        """Erase everything about the person, and delete every chat message still deletable.

        The ids still to delete are first written, with the chat address sealed, to a table not
        keyed by the person; then the person is erased (crypto-shredding first); then the
        deletions run. A crash or a Telegram outage in between loses nothing: `tick` retries.
        """
        locale = ctx.state.locale or self._texts.default
        recorded = await self._records.message_ids(ctx.pseudonym)
        own = await self._records.own_message_ids(ctx.pseudonym)
        sealed_address = self._keyring.seal_address(ctx.incoming.address)
        await self._records.owe_deletions(
            [
                (sealed_address, message_id, sent_at + _DELETE_WINDOW)
                for message_id, sent_at in recorded
            ]
        )
        self.vaults.lock(ctx.pseudonym)
        self._drop_held(ctx.pseudonym)
        await self._records.erase_person(ctx.pseudonym)
        deletion = await self._run_owed(front, only_address=ctx.incoming.address)
        await self._overwrite(ctx.incoming.address, own & set(deletion.too_old), locale, front)
        log.info(
            "person_forgotten deleted=%d too_old=%d failed=%d",
            len(deletion.deleted),
            len(deletion.too_old),
            len(deletion.failed),
        )
        if not report:
            return
        parts = [
            T("forget.done", {"deleted": len(deletion.deleted)}),
            *self._limits(deletion, front),
        ]
        # This report is not recorded: the person is a stranger now. Its one button deletes it.
        await front.send(
            ctx.incoming.address, self._render(locale, Reply(tuple(parts), menus.dismiss()))
        )

    async def _clear(self, ctx: _Context, front: FrontEnd, report: bool) -> None:
        """Delete every chat message the bot still can and lock the vault; keep the vault and
        settings."""
        locale = ctx.state.locale or self._texts.default
        self._drop_held(ctx.pseudonym)
        # Someone may be looking: private notes need the passphrase again after a clear.
        self.vaults.lock(ctx.pseudonym)
        ids = [message_id for message_id, _ in await self._records.message_ids(ctx.pseudonym)]
        own = await self._records.own_message_ids(ctx.pseudonym)
        deletion = await front.delete(ctx.incoming.address, ids)
        settled = [*deletion.deleted, *deletion.too_old, *deletion.not_allowed]
        await self._records.forget_messages(ctx.pseudonym, settled)
        await self._records.cancel_deletion(ctx.pseudonym, settled)
        if deletion.failed:  # a passing error: tried again by `tick` shortly
            due = int(self._clock()) + 60
            await self._records.schedule_deletion(ctx.pseudonym, deletion.failed, due)
        await self._overwrite(ctx.incoming.address, own & set(deletion.too_old), locale, front)
        log.info("chat_cleared deleted=%d too_old=%d", len(deletion.deleted), len(deletion.too_old))
        if report:
            parts = [
                T("clear.done", {"deleted": len(deletion.deleted)}),
                *self._limits(deletion, front),
            ]
            await self._send_all(ctx, [Reply(tuple(parts), menus.dismiss())], front)
            await self._remember_sent(ctx)

    def _limits(self, deletion: Deletion, front: FrontEnd) -> list[Part]:
        """What could not be deleted and how to remove it, and the messenger's own timer."""
        parts: list[Part] = []
        if deletion.remaining:
            key = f"forget.remaining.{front.transport}"
            if not self._texts.has(key):
                key = "forget.remaining"
            parts.append(T(key, {"remaining": deletion.remaining}))
        tip = f"tip.autodelete.{front.transport}"
        if self._texts.has(tip):
            parts.append(T(tip))
        return parts

    async def _overwrite(self, address: str, ids: set[int], locale: str, front: FrontEnd) -> None:
        """Old bot messages cannot be deleted, but can still be edited: leave nothing in them."""
        neutral = self._render(locale, Reply((T("neutral.overwritten"),)))
        for message_id in sorted(ids):
            try:
                await front.edit(address, message_id, neutral)
            except Exception as error:  # best effort: the report already says what remains
                log.info("overwrite_failed error=%s", type(error).__name__)

    async def _run_owed(self, front: FrontEnd, only_address: str | None = None) -> Deletion:
        """Try the deletions owed after "forget me"; settle what is done or impossible."""
        now = int(self._clock())
        rows = await self._records.owed_deletions(now)
        by_address: dict[str, list[tuple[int, int, int]]] = {}
        for row_id, sealed, message_id, attempts in rows:
            try:
                address = self._keyring.open_address(sealed)
            except CryptoError:  # written under another master key: nothing can be done
                await self._records.settle_deletions([row_id], [], now)
                continue
            if only_address is None or address == only_address:
                by_address.setdefault(address, []).append((row_id, message_id, attempts))
        total = Deletion()
        for address, items in by_address.items():
            row_of = {message_id: (row_id, attempts) for row_id, message_id, attempts in items}
            deletion = await front.delete(address, list(row_of))
            done = [
                row_of[i][0] for i in (*deletion.deleted, *deletion.too_old, *deletion.not_allowed)
            ]
            retry = [
                (row_of[i][0], now + min(3600, 30 * 2 ** row_of[i][1])) for i in deletion.failed
            ]
            await self._records.settle_deletions(done, retry, now)
            total = Deletion(
                total.deleted + deletion.deleted,
                total.too_old + deletion.too_old,
                total.failed + deletion.failed,
                total.not_allowed + deletion.not_allowed,
            )
        return total

    async def _send_all(self, ctx: _Context, replies: list[Reply], front: FrontEnd) -> None:
        locale = ctx.state.locale or self._texts.default
        origin = ctx.incoming.origin_id
        note = f"secret.note.{front.transport}"
        if replies and ctx.state.mode in PASSPHRASE_MODES and self._texts.has(note):
            # What happens to the secret they are about to type depends on the messenger.
            last = replies[-1]
            replies = [*replies[:-1], replace(last, parts=(*last.parts, T(note)))]
        for reply in replies:
            outgoing = self._render(locale, reply, ctx.state.silent)
            in_place = reply.in_place and origin is not None
            if in_place and await front.edit(ctx.incoming.address, origin or 0, outgoing):
                ctx.sent.append(origin or 0)  # an edited message counts as shown again
                origin = None  # only the first in-place reply reuses the message
                continue
            ctx.sent += await front.send(ctx.incoming.address, outgoing)

    def _render(self, locale: str, reply: Reply, silent: bool = False) -> Outgoing:
        body = "\n\n".join(self._part(locale, part) for part in reply.parts)
        rows = reply.buttons
        offered = {button.data for row in rows for button in row}
        if rows and rows != menus.dismiss() and not offered & {"cl", "f"}:
            # Both levels of erase, one step from every screen.
            rows = (*rows, menus.erase_row())
        buttons = tuple(
            tuple((self._label(locale, button), button.data) for button in row) for row in rows
        )
        static = all(isinstance(part, GuideText) or _fixed(part) for part in reply.parts)
        return Outgoing(body, buttons, silent, static)

    def _part(self, locale: str, part: Part) -> str:
        if isinstance(part, T):
            params = {
                name: self._plain(locale, value) if isinstance(value, T) else value
                for name, value in part.params.items()
            }
            return self._texts.text(part.locale or locale, part.key, params)
        if isinstance(part, PlanText):
            return self._plan(locale, part)
        if isinstance(part, CheckResult):
            finding = self._rules.score_answers(part.yes)
            return "\n\n".join(self._part(locale, p) for p in self._finding_parts(finding))
        if isinstance(part, Contacts):
            return self._contacts_part(locale, part)
        guide = self._texts.guide(locale, part.guide_id)
        sources = ", ".join(f"[{escape(s.name)}]({s.url})" for s in guide.sources)
        footer = self._texts.text(locale, "guide.sources", {"date": guide.reviewed})
        # The first line shows in notification previews: it names nothing.
        first = self._texts.text(locale, "guide.first_line")
        body = guide.body
        if part.guide_id == "privacy":
            body += "\n\n" + self._texts.text(
                locale, "privacy.retention", {"days": self.retention_days}
            )
        return f"{first}\n\n**{escape(guide.title)}**\n\n{body}\n\n_{footer}_ {sources}"

    def _contacts_part(self, locale: str, part: Contacts) -> str:
        if not part.urgent:
            return self._contacts(locale, ContactBlock(part.country, (), None), international=True)
        kinds = {"emergency": ("emergency",), "crisis": ("crisis",)}.get(
            part.only or "", ("emergency", "crisis")
        )
        block = ContactBlock(part.country, kinds, None)
        return self._contacts(
            locale, block, False, crisis_first=part.crisis_first, helper=part.helper
        )

    def _plan(self, locale: str, part: PlanText) -> str:
        plan = make_plan(part.answers)
        helper = part.answers.get(Question.FOR.value) == "helper"
        blocks: list[str] = []
        shown: set[str] = set()  # a line listed under "in danger" is not listed twice
        for block in plan.blocks:
            if isinstance(block, Route):
                blocks.append(self._texts.text(locale, f"route.{block.value}"))
            elif isinstance(block, ContactBlock):
                contacts = self._contacts(locale, block, False, skip=shown, helper=helper)
                blocks.append(contacts)
            else:
                blocks.append(self._texts.text(locale, block))
        return "\n\n".join(blocks)

    def _contacts(
        self,
        locale: str,
        block: ContactBlock,
        international: bool,
        crisis_first: bool = False,
        skip: set[str] | None = None,
        helper: bool = False,
    ) -> str:
        """The directory entries for a country as Markdown, the organization's own first.

        Entries in `skip` are left out, and the ones listed are added to it. For a helper,
        the emergency lines speak of "someone" instead of "you".
        """
        suffix = ".helper" if helper else ""
        found = self._directory.find(
            Country(block.country),
            kinds=[Kind(kind) for kind in block.kinds] or None,
            age=Ages(block.age) if block.age else None,
            include_international=international,
        )
        if skip is not None:
            found = [resource for resource in found if resource.id not in skip]
            skip.update(resource.id for resource in found)
        # Stable sorts: the organization's own order is kept otherwise.
        if crisis_first:
            found.sort(key=lambda resource: Kind.CRISIS not in resource.kinds)
        elif "emergency" in block.kinds:  # someone in danger reads the emergency number first
            found.sort(key=lambda resource: Kind.EMERGENCY not in resource.kinds)
        lines = [self._contact(locale, resource, block.country, suffix) for resource in found]
        if "emergency" in block.kinds and not any(Kind.EMERGENCY in r.kinds for r in found):
            local = self._texts.text(locale, f"contacts.local_emergency{suffix}")
            lines.insert(len(lines) if crisis_first else 0, local)
        return "\n\n".join(lines) or self._texts.text(locale, "contacts.none")

    def _contact(self, locale: str, resource: Resource, country: str, suffix: str = "") -> str:
        default = self._texts.default
        text_line = resource.localized(resource.text_line, locale, default)
        if Kind.EMERGENCY in resource.kinds and text_line:
            # One line, the number in it: read first by someone in danger.
            key = f"contacts.emergency{suffix}"
            return self._texts.text(locale, key, {"how": text_line})
        about = resource.localized(resource.helps_with, locale, default) or ""
        ways = []
        if resource.phone:
            ways.append(escape(display_phone(resource.phone, country)))
        if text_line:
            ways.append(escape(text_line))
        if resource.url:
            host = resource.url.split("://", 1)[1].split("/", 1)[0]
            ways.append(f"[{escape(host)}]({resource.url.replace(')', '%29')})")
        hours = resource.localized(resource.hours, locale, default)
        if hours:
            ways.append(escape(hours))
        return f"**{escape(resource.name)}**: {escape(about)}\n{' · '.join(ways)}"

    def _label(self, locale: str, button: Button) -> str:
        if isinstance(button.label, GuideText):
            return self._texts.guide(locale, button.label.guide_id).title
        return self._plain(button.label.locale or locale, button.label)

    def _plain(self, locale: str, text: T) -> str:
        """A text as plain words (button labels, values put into other texts)."""
        markdown = self._texts.text(locale, text.key, text.params)
        blocks = (
            render_static(markdown, Format.PLAIN)
            if _fixed(text)
            else render(markdown, Format.PLAIN)
        )
        return "\n\n".join(blocks)


def _shipped_platforms(texts: Texts) -> Platforms:
    """The shipped platforms file (an organization's own is passed in by wiring)."""
    return Platforms.load(default_locales_dir() / PLATFORMS_FILE, default_locale=texts.default)


def _menu_words(texts: Texts) -> frozenset[str]:
    """Every label a person can tap, normalized: a panic word must be none of them."""
    words: set[str] = set(COMMAND_NAMES)
    for locale in texts.locales:
        for key in texts.keys(locale):
            if key.startswith(("button.", "country.", "triage.", "auto_clear.", "language.name")):
                raw = texts.raw(locale, key) or ""
                words.add(normalize("".join(render(raw, Format.PLAIN))))
        for guide in texts.guides_in(locale).values():
            words.add(normalize(guide.title))
    return frozenset(words)


def _check_guides(finding: Finding) -> tuple[GuideId, ...]:
    """The guides that fit what a check found."""
    guides = [GuideId.SPOTTING_SEXTORTION]
    if finding.urgent or finding.level.value in ("likely", "very_likely"):
        guides.insert(0, GuideId.RIGHT_NOW)
    if Flag.MENTIONS_MINOR in finding.ids:
        guides.insert(0, GuideId.UNDER_18)
    guides.append(GuideId.DOCUMENTING)
    return tuple(guides)


def _urgent(event: object) -> bool:
    """Erasing and the crisis path: never refused because other updates came too fast."""
    if isinstance(event, Command):
        return event.name in _URGENT_COMMANDS
    return isinstance(event, Pressed) and event.data in _URGENT_PRESSES


def _panic_key(data_key: bytes) -> bytes:
    return hmac.new(data_key, b"safetybot/panic/v1", hashlib.sha256).digest()


def _panic_hash(panic_key: bytes, text: str) -> str:
    word = normalize(text)
    return hmac.new(panic_key, word.encode(), hashlib.sha256).hexdigest()


def _fixed(part: object) -> bool:
    """A catalog text without parameters: the same words for everyone."""
    return isinstance(part, T) and not part.params
