"""The async shell around the pure flow: pseudonymize, load, step, apply effects, reply, save.

One person's updates are handled one at a time (a lock per pseudonym), so an erase can never
interleave with recording that person's message ids. Different people run concurrently.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from safetybot.core import menus
from safetybot.core.desk import Desk, DeskResult, VaultContext
from safetybot.core.events import Incoming, Pressed, Text
from safetybot.core.flow import (
    PASSPHRASE_MODES,
    Context,
    DeleteOrigin,
    Forget,
    State,
    VaultEvent,
    step,
)
from safetybot.core.menus import Action
from safetybot.core.notebook import Notebook
from safetybot.core.plan import ContactBlock, Route, make_plan
from safetybot.core.records import Person, Records
from safetybot.core.replies import Button, Contacts, GuideText, Part, PlanText, Reply, T
from safetybot.core.signals import Signals
from safetybot.core.vault import Vaults, VaultSettings
from safetybot.crypto import Keyring, new_data_key, seal, unseal
from safetybot.errors import CryptoError
from safetybot.i18n import Texts
from safetybot.markup import Format, escape, render
from safetybot.resources import Ages, Country, Directory, Kind, Resource, display_phone

__all__ = ["Deletion", "FrontEnd", "Outgoing", "Service"]

log = logging.getLogger("safetybot.service")

_DAY = 86_400


@dataclass(frozen=True)
class Outgoing:
    """A message ready for a front end: Markdown text and rows of (label, data) buttons."""

    markdown: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()


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
    ) -> None:
        self._records = records
        self._keyring = keyring
        self._texts = texts
        self._directory = directory
        self._clock = clock
        self._signals = Signals.from_texts(texts)
        self._context = Context(locales=texts.locales)
        self.vaults = Vaults(records, vault or VaultSettings(), clock)
        self._desk = Desk(self.vaults, Notebook(records))
        # Locks live only while someone holds or awaits them, so memory does not grow.
        self._locks: weakref.WeakValueDictionary[bytes, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

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
        started = time.perf_counter()
        # Taken before anything can suspend, so one person's updates keep their order.
        async with self._lock_for(pseudonym):
            try:
                await self._handle(incoming, pseudonym, front)
            except Exception as error:
                log.error("event_failed kind=%s error=%s", kind, type(error).__name__)
                await self._apologize(incoming, front)
                return
        log.info("event_handled kind=%s ms=%.1f", kind, (time.perf_counter() - started) * 1000)

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
            state = State(locale=self._texts.pick(incoming.language))
            person = Person(
                pseudonym, self._keyring.wrap(data_key, pseudonym), None, None, int(now // _DAY)
            )
            await self._records.save_person(person)
        else:
            data_key = self._keyring.unwrap(person.wrapped_key, pseudonym)
            state = self._open_state(person, data_key)
        ctx = _Context(incoming, pseudonym, data_key, state)
        if incoming.message_id is not None:
            # Recorded before anything else can fail, so an erase can always find it.
            await self._records.remember_messages(pseudonym, [incoming.message_id], int(now))
        event = incoming.event
        if isinstance(event, Text) and state.mode in PASSPHRASE_MODES:
            # A passphrase is never read for hints, and leaves the chat before it is used.
            await self._delete_now(ctx, front, [incoming.message_id])
        elif isinstance(event, Text) and self._desk.was_passphrase(pseudonym, event.text, now):
            # The same passphrase sent twice: delete this copy too, and show the open vault.
            await self._delete_now(ctx, front, [incoming.message_id])
            event = Pressed("v")
        elif isinstance(event, Text):
            event = replace(event, hints=self._signals.hints(event.text))
        outcome = step(state, event, self._context)
        ctx.state = outcome.state
        replies = list(outcome.replies)
        for effect in outcome.effects:
            if isinstance(effect, Forget):
                await self._forget(ctx, front)
                return
            if isinstance(effect, DeleteOrigin) and incoming.origin_id is not None:
                await self._delete_now(ctx, front, [incoming.origin_id])
            if isinstance(effect, VaultEvent):
                await self._vault(ctx, effect, front, replies)
                return
        try:
            await self._send_all(ctx, replies, front)
        finally:
            await self._remember_sent(ctx)
        await self._save(ctx, person, now)

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
                await self._send_export(ctx, result, front)
        finally:
            await self._remember_sent(ctx)
        await self._after_vault(ctx, front, data, shown if result.sensitive else [])
        await self._save(ctx, person, self._clock())

    async def _send_export(self, ctx: _Context, result: DeskResult, front: FrontEnd) -> None:
        document = result.document
        assert document is not None  # noqa: S101 - checked by the caller
        locale = ctx.state.locale or self._texts.default
        keep = Button(T("button.keep"), "v:keep")
        caption = self._render(locale, Reply((document.caption,), ((keep,),)))
        ids = await front.send_document(
            ctx.incoming.address, document.filename, document.data, caption
        )
        ctx.sent += ids
        minutes = self.vaults.settings.export_keep_minutes
        due = int(self._clock()) + minutes * 60
        await self._records.schedule_deletion(ctx.pseudonym, ids, due)
        log.info("vault_exported")

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

    async def _delete_now(self, ctx: _Context, front: FrontEnd, ids: Sequence[int | None]) -> None:
        wanted = [i for i in ids if i is not None]
        if not wanted:
            return
        deletion = await front.delete(ctx.incoming.address, wanted)
        await self._records.forget_messages(ctx.pseudonym, deletion.deleted)

    async def _remember_sent(self, ctx: _Context) -> None:
        if ctx.sent:
            await self._records.remember_messages(ctx.pseudonym, ctx.sent, int(self._clock()))
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
        """Carry out scheduled deletions that are due (vault views, exports)."""
        due = await self._records.due_deletions(int(self._clock()))
        for pseudonym in due:
            async with self._lock_for(pseudonym):
                try:
                    await self._run_due(pseudonym, front)
                except Exception as error:  # one person's failure must not stop the others
                    log.error("scheduled_delete_failed error=%s", type(error).__name__)

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

    async def _forget(self, ctx: _Context, front: FrontEnd) -> None:
        locale = ctx.state.locale or self._texts.default
        ids = [message_id for message_id, _ in await self._records.message_ids(ctx.pseudonym)]
        deletion = await front.delete(ctx.incoming.address, ids)
        self.vaults.lock(ctx.pseudonym)
        await self._records.erase_person(ctx.pseudonym)
        log.info(
            "person_forgotten deleted=%d too_old=%d failed=%d",
            len(deletion.deleted),
            len(deletion.too_old),
            len(deletion.failed),
        )
        parts: list[Part] = [T("forget.done", {"deleted": len(deletion.deleted)})]
        remaining = deletion.remaining
        if remaining:
            key = f"forget.remaining.{front.transport}"
            if not self._texts.has(key):
                key = "forget.remaining"
            parts.append(T(key, {"remaining": remaining}))
        # This report is not recorded: the person is a stranger now. Its one button deletes it.
        report = self._render(locale, Reply(tuple(parts), menus.dismiss()))
        await front.send(ctx.incoming.address, report)

    async def _send_all(self, ctx: _Context, replies: list[Reply], front: FrontEnd) -> None:
        locale = ctx.state.locale or self._texts.default
        origin = ctx.incoming.origin_id
        for reply in replies:
            outgoing = self._render(locale, reply)
            in_place = reply.in_place and origin is not None
            if in_place and await front.edit(ctx.incoming.address, origin or 0, outgoing):
                ctx.sent.append(origin or 0)  # an edited message counts as shown again
                origin = None  # only the first in-place reply reuses the message
                continue
            ctx.sent += await front.send(ctx.incoming.address, outgoing)

    def _render(self, locale: str, reply: Reply) -> Outgoing:
        body = "\n\n".join(self._part(locale, part) for part in reply.parts)
        buttons = tuple(
            tuple((self._label(locale, button), button.data) for button in row)
            for row in reply.buttons
        )
        return Outgoing(body, buttons)

    def _part(self, locale: str, part: Part) -> str:
        if isinstance(part, T):
            return self._texts.text(part.locale or locale, part.key, part.params)
        if isinstance(part, PlanText):
            return self._plan(locale, part)
        if isinstance(part, Contacts):
            if part.urgent:
                block = ContactBlock(part.country, ("emergency", "crisis"), None)
                return self._contacts(locale, block, international=False)
            return self._contacts(locale, ContactBlock(part.country, (), None), international=True)
        guide = self._texts.guide(locale, part.guide_id)
        sources = ", ".join(f"[{escape(s.name)}]({s.url})" for s in guide.sources)
        footer = self._texts.text(locale, "guide.sources", {"date": guide.reviewed.isoformat()})
        return f"**{escape(guide.title)}**\n\n{guide.body}\n\n_{footer}_ {sources}"

    def _plan(self, locale: str, part: PlanText) -> str:
        plan = make_plan(part.answers)
        blocks: list[str] = []
        for block in plan.blocks:
            if isinstance(block, Route):
                blocks.append(self._texts.text(locale, f"route.{block.value}"))
            elif isinstance(block, ContactBlock):
                blocks.append(self._contacts(locale, block, international=False))
            else:
                blocks.append(self._texts.text(locale, block))
        return "\n\n".join(blocks)

    def _contacts(self, locale: str, block: ContactBlock, international: bool) -> str:
        """The directory entries for a country as Markdown, the organization's own first."""
        found = self._directory.find(
            Country(block.country),
            kinds=[Kind(kind) for kind in block.kinds] or None,
            age=Ages(block.age) if block.age else None,
            include_international=international,
        )
        lines = [self._contact(locale, resource) for resource in found]
        if "emergency" in block.kinds and not any(Kind.EMERGENCY in r.kinds for r in found):
            lines.insert(0, self._texts.text(locale, "contacts.local_emergency"))
        return "\n\n".join(lines) or self._texts.text(locale, "contacts.none")

    def _contact(self, locale: str, resource: Resource) -> str:
        default = self._texts.default
        about = resource.localized(resource.helps_with, locale, default) or ""
        ways = []
        if resource.phone:
            ways.append(escape(display_phone(resource.phone)))
        text_line = resource.localized(resource.text_line, locale, default)
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
        markdown = self._texts.text(locale, text.key, text.params)
        return "\n\n".join(render(markdown, Format.PLAIN))
