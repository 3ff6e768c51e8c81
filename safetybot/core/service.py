"""The async shell around the pure flow: pseudonymize, load, step, apply effects, reply, save.

One person's updates are handled one at a time (a lock per pseudonym), so an erase can never
interleave with recording that person's message ids. Different people run concurrently.

A per-person rate limit (`core/limits.py`) refuses a flood before the person's lock, so it never
queues in front of anyone else. Erasing, the crisis path, words of self-harm or a cry for help,
and the panic word are never refused for being too fast: they count against a second bucket of
their own, and a refused text is compared with the person's panic word (read once per flood,
then kept in memory).

Rendering replies lives in `core/rendering.py`; erasing (forget, clear, owed deletions) in
`core/erasing.py` and timers (auto-clear, scheduled deletions, retention, ticks) in
`core/timers.py`, mixins that work on this class's store, keyring and vaults.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from safetybot.core import menus
from safetybot.core.desk import Desk, DeskResult, VaultContext
from safetybot.core.erasing import Deletion, Erasing
from safetybot.core.events import Attachment, Command, Edited, Incoming, Pressed, Text
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
from safetybot.core.menus import Action, GuideId
from safetybot.core.notebook import Notebook
from safetybot.core.records import Person, Records
from safetybot.core.rendering import Outgoing, Renderer
from safetybot.core.replies import (
    Button,
    Keyboard,
    Reply,
    T,
)
from safetybot.core.signals import Signals, normalize
from safetybot.core.timers import Timers
from safetybot.core.understanding import Understanding
from safetybot.core.vault import Vaults, VaultSettings
from safetybot.errors import CryptoError
from safetybot.guidance.checker import Checker
from safetybot.guidance.redflags import Finding, Flag, Rules
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.ops.config import default_locales_dir
from safetybot.vault.crypto import Keyring, new_data_key, seal, unseal
from safetybot.vault.notices import PLATFORMS_FILE, Platforms

__all__ = ["Deletion", "FrontEnd", "Outgoing", "Service"]

log = logging.getLogger("safetybot.service")

_DAY = 86_400
_HOLD_SECONDS = 600
# Longer texts are never compared with the panic word (which is at most 40 characters).
_PANIC_MAX = 100
# Texts up to this long are read for crisis words even when their sender is over the limit.
_CRISIS_MAX = 1000
# Messages to check longer than this are read on a worker thread.
_CHECK_ON_LOOP = 1000
# Typed messages longer than this are understood in a worker thread: about 2 ms at 1,500
# characters, 3 to 7 ms at 4,096 (benchmarks: words).
_UNDERSTAND_ON_LOOP = 1500
# The rate limit's bucket for what is never refused with ordinary updates.
_URGENT = b"urgent:"
_URGENT_COMMANDS = frozenset({"forget", "clear", "now"})
_URGENT_PRESSES = frozenset({Action.FORGET, Action.FORGET_YES, Action.CLEAR, Action.CRISIS})
# People being refused whose panic word is kept in memory at once.
_MAX_PROBES = 1000


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


class Service(Erasing, Timers):
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
        self._renderer = Renderer(texts, self._rules, directory, retention_days)
        # The level of a checked message comes from the check model; the flags from the rules.
        self._checker = _shipped_checker(self._rules)
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
            self.vaults,
            Notebook(records),
            self._menu_words,
            platforms or _shipped_platforms(texts),
            self_harm_words=self._signals.says_self_harm,
        )
        # Locks live only while someone holds or awaits them, so memory does not grow.
        self._locks: weakref.WeakValueDictionary[bytes, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        # None: no limit (the bot as run always has one: ops/config.py's default).
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
                # One transaction for the update's writes, committed inside its person's lock.
                async with self._records.batch():
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
            isinstance(event, Text | Edited)
            and len(event.text) <= _CRISIS_MAX
            and self._signals.is_crisis_word(event.text)
        ):
            # Never refused with ordinary updates; a flood of these alone still is.
            verdict = limit.check(_URGENT + pseudonym, incoming.message_id)
        elif (
            isinstance(event, Text | Edited)
            and limit.over(pseudonym)
            and await self._is_panic_word(pseudonym, event.text)
        ):
            return True
        else:
            verdict = limit.check(pseudonym, incoming.message_id)
        if verdict is Verdict.SLOW_DOWN:
            log.info("rate_limited")
            try:
                async with self._lock_for(pseudonym), self._records.batch():
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
        stranger = person is None
        if person is None:
            data_key = new_data_key()
            # No locale when the messenger gives none it knows (Signal, the console): the
            # default is shown until the person's words tell their language (below).
            state = State(
                locale=self._texts.known(incoming.language), country=self._default_country
            )
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
        if incoming.message_id is not None and isinstance(incoming.event, Edited):
            # An edit names a message already on record (recorded again if it is not, for
            # erasing): never a redelivery, and never dropped as one.
            await self._records.remember_messages(pseudonym, [incoming.message_id], int(now))
        elif incoming.message_id is not None:
            # Committed before any reply goes out (a second sync for updates that carry a
            # message): Telegram may already count the update as delivered, and a crash during
            # the replies must not leave the person's message in the chat with no record an
            # erase could find. The rest of the update is committed once, after its replies.
            if stranger:  # no message of theirs is on record yet: nothing to look up
                await self._records.remember_messages(pseudonym, [incoming.message_id], int(now))
            elif not await self._records.remember_incoming(
                pseudonym, incoming.message_id, int(now)
            ):
                # Telegram redelivers updates whose offset was never confirmed (a crash):
                # the same message must not save a note twice.
                log.info("duplicate_update")
                return
            await self._auto_clear(ctx, [incoming.message_id], now)
            await self._records.flush()
        event = incoming.event
        if isinstance(event, Text | Edited) and self._is_panic(ctx, event.text):
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
            state = ctx.state = self._written_in(state, event.text)
            meaning, hints = await self._read(event.text, "text")
            event = replace(event, meaning=meaning, hints=hints)
        elif isinstance(event, Edited) and state.mode not in VAULT_MODES:
            # Read as typed words are; the flow answers only a crisis (flow._edited).
            meaning, hints = await self._read(event.text, "edit")
            event = replace(event, meaning=meaning, hints=hints)
        elif (
            isinstance(event, Attachment)
            and event.caption.strip()
            and state.mode not in VAULT_MODES
        ):
            # A screenshot with "he sent this to everyone, i want to die" under it: the words
            # are read as typed words are (in the vault they are a note's, never read).
            state = ctx.state = self._written_in(state, event.caption)
            meaning, hints = await self._read(event.caption, "caption")
            event = replace(event, meaning=meaning, hints=hints)
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
                await self._vault(ctx, person, effect, front, replies)
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
        await self._save(ctx, person, now)
        # The rest of the update in one commit (the person's message went first, above), as
        # soon as what was sent is known: the deletions below write nothing.
        await self._records.flush()
        await self._tidy(ctx, front, event)
        if any(isinstance(effect, CheckText) for effect in outcome.effects):
            # Checked, answered, gone: the pasted message does not stay in the chat.
            await self._delete_now(ctx, front, [incoming.message_id], forget=False)

    def _written_in(self, state: State, text: str) -> State:
        """Answered in the language the person writes in, once their words tell it; kept from
        then on, as if chosen (the Language button still changes it)."""
        if state.locale is None and (written_in := self._texts.guess(text)):
            return replace(state, locale=written_in)
        return state

    async def _read(self, words: str, what: str) -> tuple[Understanding, frozenset[str]]:
        """A typed text's, an edit's or a caption's meaning and hints (logged: the intent only)."""
        meaning = await self._understand(words)
        log.info("%s_understood intent=%s", what, meaning.intent.value)
        return meaning, self._signals.hints(words)

    async def _understand(self, text: str) -> Understanding:
        if len(text) > _UNDERSTAND_ON_LOOP:
            # A long message is read whole by the lists: off the event loop.
            return await asyncio.to_thread(self._signals.understand, text)
        return self._signals.understand(text)

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
            finding, talk = await asyncio.to_thread(self._read_checked, effect.text)
        else:
            finding, talk = self._read_checked(effect.text)
        log.info(
            "message_checked level=%s flags=%d report=%s",
            finding.level.value,
            len(finding.flags),
            finding.report,
        )
        if finding.empty:
            return Reply((T("check.empty"),), menus.check_menu())
        # One warm line, and "Talk to someone now" first, when the words speak of self-harm.
        warm = (T(f"check.{talk}"),) if talk else ()
        if finding.report:
            # Someone telling what happened, not the threat itself: answered as their story.
            ctx.state = replace(ctx.state, mode=Mode.IDLE)
            return Reply((T("check.report"), *warm), menus.check_report_menu(talk=bool(talk)))
        held = {"text": effect.text[:MAX_TEXT], "origin": effect.origin, "date": effect.date}
        self._held[ctx.pseudonym] = (held, now + _HOLD_SECONDS)
        parts = [*self._renderer.finding_parts(finding), *warm]
        menu = menus.check_result_menu(True, _check_guides(finding), talk=bool(talk))
        return Reply(tuple(parts), menu)

    def _read_checked(self, text: str) -> tuple[Finding, str | None]:
        """A checked message's red flags, and what it says of self-harm: "push_self_harm" when
        it urges the reader to hurt themselves ("kill yourself"), "self_harm_words" when its
        writer speaks of it (a friend's goodbye forwarded, the person's own words pasted); its
        answer is then never only a list of red flags, or none."""
        return self._checker.check(text), self._signals.self_harm_in_message(text)

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

    async def _vault(
        self,
        ctx: _Context,
        person: Person,
        effect: VaultEvent,
        front: FrontEnd,
        replies: list[Reply],
    ) -> None:
        """Hand the event to the vault's conversation, then show and schedule what it says."""
        locale = ctx.state.locale or self._texts.default
        vault_ctx = VaultContext(
            pseudonym=ctx.pseudonym,
            data_key=ctx.data_key,
            state=ctx.state,
            download=front.download,
            words=lambda key: self._renderer.plain(locale, T(key)),
            now=self._clock(),
            held=self.held_check(ctx.pseudonym),
            english=lambda key: self._renderer.plain("en", T(key)),
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
        await self._save(ctx, person, self._clock())
        await self._records.flush()  # before the deletion below, which writes nothing
        if result.stored:
            # A note's words or file, now sealed: the message that carried them leaves the chat.
            await self._delete_now(ctx, front, [ctx.incoming.message_id], forget=False)

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

    def _render(self, locale: str, reply: Reply, silent: bool = False) -> Outgoing:
        """A reply as the person reads it (see `core/rendering.py`)."""
        return self._renderer.render(locale, reply, silent)

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


@functools.lru_cache(maxsize=4)
def _shipped_checker(rules: Rules) -> Checker:
    """The checker with the shipped models, built once per set of rules (every service of a
    process shares it: the models' weights are the largest thing the bot holds)."""
    return Checker.shipped(rules)


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
