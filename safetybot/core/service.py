"""The async shell around the pure flow: pseudonymize, load, step, apply effects, reply, save.

One person's updates are handled one at a time (a lock per pseudonym), so an erase can never
interleave with recording that person's message ids. Different people run concurrently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from safetybot.core import menus
from safetybot.core.events import Incoming, Pressed, Text
from safetybot.core.flow import (
    Context,
    DeleteOrigin,
    Forget,
    SaveNote,
    SendNotesFile,
    ShowNotes,
    State,
    step,
)
from safetybot.core.menus import Action
from safetybot.core.plan import ContactBlock, Route, make_plan
from safetybot.core.records import Person, Records
from safetybot.core.replies import Button, Contacts, Document, GuideText, Part, PlanText, Reply, T
from safetybot.core.signals import Signals
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._records = records
        self._keyring = keyring
        self._texts = texts
        self._directory = directory
        self._clock = clock
        self._signals = Signals.from_texts(texts)
        self._context = Context(locales=texts.locales)
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

    async def handle(self, incoming: Incoming, front: FrontEnd) -> None:
        """Handle one event from one person, replying through `front`."""
        kind = type(incoming.event).__name__.lower()
        if incoming.event == Pressed(Action.DISMISS.value):
            # Needs no record of the person: it also works right after "forget me".
            if incoming.origin_id is not None:
                await front.delete(incoming.address, [incoming.origin_id])
            return
        pseudonym = self._keyring.pseudonym(incoming.transport, incoming.user_id)
        lock = self._locks.get(pseudonym)
        if lock is None:
            lock = self._locks[pseudonym] = asyncio.Lock()
        started = time.perf_counter()
        async with lock:
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
        if isinstance(event, Text):
            event = replace(event, hints=self._signals.hints(event.text))
        outcome = step(state, event, self._context)
        ctx.state = outcome.state
        if any(isinstance(effect, Forget) for effect in outcome.effects):
            await self._forget(ctx, front)
            return
        replies = list(outcome.replies)
        for effect in outcome.effects:
            replies.extend(await self._apply(ctx, effect, front))
        await self._send_all(ctx, replies, front)
        await self._records.remember_messages(pseudonym, ctx.sent, int(self._clock()))
        await self._records.save_person(
            replace(
                person,
                address=seal(
                    data_key, incoming.address.encode(), owner=pseudonym, purpose="address"
                ),
                state=seal(data_key, ctx.state.to_bytes(), owner=pseudonym, purpose="state"),
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

    async def _apply(self, ctx: _Context, effect: object, front: FrontEnd) -> list[Reply]:
        match effect:
            case SaveNote(text=text):
                payload = json.dumps({"v": 1, "text": text, "recorded_at": self._now_iso()})
                sealed = seal(ctx.data_key, payload.encode(), owner=ctx.pseudonym, purpose="note")
                await self._records.add_note(ctx.pseudonym, sealed)
                count = await self._records.count_notes(ctx.pseudonym)
                log.info("note_saved")
                return [Reply((T("note.saved", {"count": count}),), menus.notes_menu(True))]
            case ShowNotes(in_place=in_place):
                return [await self._notes_reply(ctx, in_place)]
            case SendNotesFile():
                await self._send_notes_file(ctx, front)
                return []
            case DeleteOrigin():  # pragma: no cover - handled before the lock
                return []
        raise TypeError(f"unknown effect {type(effect).__name__}")

    async def _open_notes(self, ctx: _Context) -> list[dict[str, str] | None]:
        opened: list[dict[str, str] | None] = []
        for note in await self._records.notes(ctx.pseudonym):
            try:
                raw = unseal(ctx.data_key, note.sealed, owner=ctx.pseudonym, purpose="note")
                data = json.loads(raw)
                opened.append({"text": str(data["text"]), "when": str(data["recorded_at"])})
            except (CryptoError, ValueError, KeyError, TypeError):
                # One damaged row is reported in place; every other note still opens.
                log.warning("note_unreadable")
                opened.append(None)
        return opened

    async def _notes_reply(self, ctx: _Context, in_place: bool) -> Reply:
        notes = await self._open_notes(ctx)
        if not notes:
            return Reply((T("notes.none"),), menus.notes_menu(False), in_place)
        parts: list[Part] = [T("notes.header", {"count": len(notes)})]
        for number, note in enumerate(notes, start=1):
            if note is None:
                parts.append(T("notes.damaged", {"number": number}))
            else:
                parts.append(T("notes.item", {"number": number, **note}))
        return Reply(tuple(parts), menus.notes_menu(True), in_place)

    async def _send_notes_file(self, ctx: _Context, front: FrontEnd) -> None:
        locale = ctx.state.locale or self._texts.default
        notes = await self._open_notes(ctx)
        lines = [self._plain(locale, T("notes.file_header", {"when": self._now_iso()})), ""]
        for number, note in enumerate(notes, start=1):
            if note is None:
                lines += [self._plain(locale, T("notes.damaged", {"number": number})), ""]
            else:
                lines += [f"{number}. {note['when']}", note["text"], ""]
        document = Document("notes.txt", "\n".join(lines).encode(), T("notes.file_caption"))
        caption = self._render(locale, Reply((document.caption,)))
        ctx.sent += await front.send_document(
            ctx.incoming.address, document.filename, document.data, caption
        )

    async def _forget(self, ctx: _Context, front: FrontEnd) -> None:
        locale = ctx.state.locale or self._texts.default
        ids = [message_id for message_id, _ in await self._records.message_ids(ctx.pseudonym)]
        deletion = await front.delete(ctx.incoming.address, ids)
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

    def _now_iso(self) -> str:
        moment = dt.datetime.fromtimestamp(self._clock(), tz=dt.UTC)
        return moment.strftime("%Y-%m-%d %H:%M UTC")
