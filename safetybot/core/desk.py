"""The vault's conversation: turning it on, unlocking, writing notes step by step, viewing,
editing, deleting, attachments and export.

The rest of the conversation is the pure `flow.step`; the vault needs slow key derivation,
lockout counters and sealed storage, so its part of the conversation lives here, async, and is
reached through `flow.VaultEvent`. Passphrases never enter the stored state: the first entry of
a new one waits in memory only, for a few minutes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from safetybot.core import passphrases
from safetybot.core.events import Attachment, Command, Event, Forwarded, Pressed, Text
from safetybot.core.flow import MAX_TEXT, Mode, State
from safetybot.core.menus import Question, crisis_row, menu_row, talk_row
from safetybot.core.notebook import Draft, Notebook
from safetybot.core.replies import Button, Document, Keyboard, Part, Reply, T
from safetybot.core.signals import normalize
from safetybot.core.vault import (
    MIN_PASSPHRASE,
    DuressMode,
    Session,
    UnlockKind,
    Vaults,
    VaultTampered,
)
from safetybot.errors import FrontEndError
from safetybot.vault.evidence import FIELDS
from safetybot.vault.export import Export, Labels, make_export
from safetybot.vault.notices import (
    LAWS,
    MINOR_ANSWERS,
    NoticeFacts,
    Platforms,
    compose,
    facts_from_notes,
    looks_like_email,
    web_addresses,
)
from safetybot.vault.pdf import render_text_pdf
from safetybot.vault.timestamps import request_timestamp

__all__ = ["ATTACH_STEP", "Desk", "DeskResult", "VaultContext"]

# The note-entry steps: every field, then attachments.
ATTACH_STEP = len(FIELDS)
_PENDING_SECONDS = 300
# How long a note typed before private notes were open is held in memory for them.
_HELD_NOTE_SECONDS = 600
_HOME_BUTTONS = 8
# How long a removal request being made (its typed name and e-mail) is held, in memory only.
_NOTICE_SECONDS = 900
# A request longer than this arrives in more than one Telegram message (4,096 characters).
_LONG_NOTICE = 3500
# Screenshots and documents; video and audio are refused (they are where intimate content is).
ALLOWED_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/heic": ".heic",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "message/rfc822": ".eml",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}

log = logging.getLogger("safetybot.desk")


@dataclass
class VaultContext:
    """One vault event: who, their keys and state, and how to reach the messenger."""

    pseudonym: bytes
    data_key: bytes
    state: State
    download: Callable[[str, int], Any]
    words: Callable[[str], str]
    now: float
    # A message the person just checked for red flags (memory only), to save as a note.
    held: Mapping[str, str] | None = None
    # The English catalog, for the copy of a removal request the site reads.
    english: Callable[[str], str] | None = None


@dataclass
class _Notice:
    """A removal request being made: held in memory only, never stored or logged."""

    until: float
    notes: set[int] = field(default_factory=set)
    platform: str | None = None  # a platform id, or "other"
    law: str | None = None
    name: str | None = None
    email: str | None = None


@dataclass
class DeskResult:
    """What the service must do after a vault event."""

    state: State
    replies: list[Reply] = field(default_factory=list)
    # Replies that show vault contents: deleted from the chat when the vault locks.
    sensitive: bool = False
    document: Document | None = None
    # The person's message is now sealed in the vault: it can leave the chat.
    stored: bool = False


def _b(key: str, data: str, params: Mapping[str, object] | None = None) -> Button:
    return Button(T(key, params or {}), data)


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _proof(made: Export) -> tuple[T, ...]:
    """What the export shows and what it cannot, said plainly under the file."""
    parts = [T("vault.export.proof_signed" if made.signed else "vault.export.proof_unsigned")]
    if made.stamped:
        parts.append(T("vault.export.proof_stamped"))
    elif made.stamp_failed:
        parts.append(T("vault.export.proof_stamp_failed"))
    parts.append(T("vault.export.proof_limits"))
    return tuple(parts)


def _shown(iso: str) -> dt.datetime | dt.date | str:
    """A stored time or date, for the text to show in the person's language; else as it is."""
    try:
        if len(iso) == len("2026-11-21"):
            return dt.date.fromisoformat(iso)  # a day with no time: no made-up midnight
        moment = dt.datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class Desk:
    """Handles every vault event for one person at a time (the service holds their lock)."""

    def __init__(
        self,
        vaults: Vaults,
        notebook: Notebook,
        menu_words: frozenset[str] = frozenset(),
        platforms: Platforms | None = None,
        self_harm_words: Callable[[str], bool] | None = None,
    ) -> None:
        self.vaults = vaults
        self.notebook = notebook
        self.platforms = platforms or Platforms([])
        # Whether words say self-harm (the catalogs' lists only, never the model): a note is
        # the person's own record and is never answered as a message, but a note just saved
        # that says so gets one warm line and "Talk to someone now" beside it.
        self._self_harm_words = self_harm_words
        # Removal requests being made: the typed name and e-mail live here, in memory only.
        self._notices: dict[bytes, _Notice] = {}
        # A new passphrase must not be a menu word: typed "Cancel" would become the passphrase.
        self._menu_words = menu_words
        self._pending: dict[bytes, tuple[str, float]] = {}
        # A note typed (/note words) before private notes were on or unlocked: kept in memory
        # only, for _HELD_NOTE_SECONDS, and saved as soon as the vault opens.
        self._held_notes: dict[bytes, tuple[str, float]] = {}
        # A salted hash of the passphrase that opened the vault, while it is open (and for a
        # minute after): a passphrase typed again then must not stay in the chat. In memory
        # only, beside the unlocked keys themselves, so it reveals nothing they do not.
        self._recent: dict[bytes, tuple[bytes, bytes, float]] = {}

    def drop_held(self, pseudonym: bytes) -> None:
        """Forget a note held for this person (on erase, clear and the panic word)."""
        self._held_notes.pop(pseudonym, None)
        self._recent.pop(pseudonym, None)
        self._notices.pop(pseudonym, None)

    def prune_held(self, now: float) -> None:
        """Forget every held note whose ten minutes are up."""
        for pseudonym in [p for p, (_, until) in self._held_notes.items() if until < now]:
            del self._held_notes[pseudonym]
        for pseudonym in [p for p, value in self._recent.items() if not self._knows(p, value, now)]:
            del self._recent[pseudonym]
        for pseudonym in [p for p, notice in self._notices.items() if notice.until < now]:
            del self._notices[pseudonym]

    def _knows(self, pseudonym: bytes, value: tuple[bytes, bytes, float], now: float) -> bool:
        """Whether a remembered passphrase hash is still wanted: the vault open, or a minute."""
        return value[2] >= now or self.vaults.session(pseudonym) is not None

    def was_passphrase(self, pseudonym: bytes, text: str, now: float) -> bool:
        """Whether `text` is the passphrase that opened this vault, while it is open or in the
        minute after."""
        found = self._recent.get(pseudonym)
        if found is None or not self._knows(pseudonym, found, now):
            self._recent.pop(pseudonym, None)
            return False
        salt, digest, _ = found
        return hmac.compare_digest(digest, hashlib.sha256(salt + text.strip().encode()).digest())

    def _remember_passphrase(self, pseudonym: bytes, text: str, now: float) -> None:
        salt = os.urandom(16)
        digest = hashlib.sha256(salt + text.strip().encode()).digest()
        self._recent[pseudonym] = (salt, digest, now + 60)

    async def handle(self, ctx: VaultContext, event: Event) -> DeskResult:
        """Answer one vault event."""
        state = ctx.state
        if state.mode in (Mode.V_CHOOSE, Mode.V_CONFIRM) and isinstance(event, Text):
            return await self._new_passphrase(ctx, event.text)
        if state.mode is Mode.V_UNLOCK and isinstance(event, Text):
            return await self._unlock(ctx, event.text)
        if state.mode is Mode.V_EXPORT_PASS and isinstance(event, Text):
            return await self._export(ctx, event.text)
        if state.mode is Mode.V_NOTICE and isinstance(event, Text):
            return await self._notice_typed(ctx, event.text)
        if state.mode is Mode.V_FIELD and isinstance(event, Text | Forwarded | Attachment):
            return await self._field_input(ctx, event)
        if isinstance(event, Attachment):
            return self._say(ctx, state, "vault.attach.outside", self._home_buttons([]))
        if isinstance(event, Command):
            data = {"note": "v:new", "notes": "v", "vault": "v"}.get(event.name, "v")
            if event.name == "note" and event.args.strip():
                return await self._quick_note(ctx, event.args.strip())
            return await self._press(ctx, data)
        if isinstance(event, Pressed):
            return await self._press(ctx, event.data)
        return self._say(ctx, replace(state, mode=Mode.IDLE), "cancelled", self._menu())

    # -- buttons -------------------------------------------------------------------------

    async def _press(self, ctx: VaultContext, data: str) -> DeskResult:
        action, _, arg = data.removeprefix("v").removeprefix(":").partition(":")
        row = await self.vaults.row(ctx.pseudonym)
        state = replace(ctx.state, mode=Mode.IDLE)
        if row is None:
            if action == "on":
                chosen = replace(state, mode=Mode.V_CHOOSE, pass_purpose="create")  # noqa: S106
                return self._say(ctx, chosen, "vault.choose", self._cancel())
            return self._say(ctx, state, "vault.intro", self._intro_buttons(), in_place=True)
        if action in ("forgot", "reset", "reset!"):
            return await self._reset(ctx, state, action)
        if action == "keep":
            return DeskResult(state, [Reply((T("vault.export.kept"),), self._menu())])
        session = self.vaults.session(ctx.pseudonym)
        if session is None:
            # Everything else needs the key: ask for it, then carry on with what was pressed.
            waiting = replace(state, mode=Mode.V_UNLOCK, after_unlock=data)
            return self._say(ctx, waiting, "vault.unlock", self._unlock_buttons())
        self.vaults.touch(session)
        return await self._act(ctx, state, session, action, arg)

    async def _act(
        self, ctx: VaultContext, state: State, session: Session, action: str, arg: str
    ) -> DeskResult:
        # ASCII digits only: isdigit() also takes "²", which int() refuses, and "٣", which no
        # button of ours sends.
        number = int(arg) if arg.isascii() and arg.isdecimal() else 0
        match action:
            case "" | "home" | "on":
                return await self._home(ctx, state, session)
            case "p":
                return await self._home(ctx, state, session, page=number)
            case "chk":
                return await self._save_checked(ctx, state, session)
            case "new":
                await self.notebook.discard_draft(ctx.pseudonym, session)
                return await self._step(ctx, self._drafting(state, session), session, 0)
            case "skip" | "back" | "save" | "cancel":
                return await self._navigate(ctx, state, session, action)
            case "u18" if arg in MINOR_ANSWERS:
                return await self._answer_minor(ctx, state, session, arg)
            case "r" | "rn" | "rp" | "rf" | "rl" | "ry":
                return await self._removal(ctx, state, session, action, arg)
            case "n":
                return await self._show_note(ctx, state, session, number)
            case "e":
                return await self._edit(ctx, state, session, number)
            case "d":
                if await self.notebook.note(ctx.pseudonym, session, number) is None:
                    return await self._home(ctx, state, session)  # a stale or forged button
                buttons: Keyboard = (
                    (_b("button.delete_yes", f"v:dy:{number}", {"number": number}),),
                    (_b("button.back", f"v:n:{number}"),),
                )
                return self._say(ctx, state, "vault.delete_confirm", buttons, {"number": number})
            case "dy":
                deleted = await self.notebook.delete_note(
                    ctx.pseudonym, session, number, _iso(ctx.now)
                )
                return await self._home(
                    ctx, state, session, notice="vault.deleted" if deleted else None
                )
            case "x":
                buttons = (
                    (_b("button.export_plain", "v:xn"),),
                    (_b("button.export_password", "v:xp"),),
                    (_b("button.export_view_only", "v:xv"),),
                    (_b("button.back", "v:home"),),
                )
                return self._say(ctx, state, "vault.export.ask", buttons)
            case "xn":
                return await self._export(ctx, None)
            case "xv":
                return await self._export(ctx, None, view_only=True)
            case "xp":
                asking = replace(state, mode=Mode.V_EXPORT_PASS)
                return self._say(ctx, asking, "vault.export.password", self._cancel())
            case "lock":
                self.vaults.lock(ctx.pseudonym)
                return self._say(ctx, state, "vault.locked_now", self._menu())
            case "set":
                buttons = (
                    (_b("button.change_passphrase", "v:cp"),),
                    (_b("button.duress", "v:du"),),
                    (_b("button.vault_reset", "v:reset"),),
                    (_b("button.back", "v:home"),),
                )
                return self._say(ctx, state, "vault.settings", buttons)
            case "cp":
                choosing = replace(state, mode=Mode.V_CHOOSE, pass_purpose="change")  # noqa: S106
                return self._say(ctx, choosing, "vault.choose_new", self._cancel())
            case "du":
                buttons = (
                    (_b("button.duress_empty", "v:dm:empty"),),
                    (_b("button.duress_erase", "v:dm:erase"),),
                    (_b("button.back", "v:set"),),
                )
                return self._say(ctx, state, "vault.duress.intro", buttons)
            case "dm" if arg in ("empty", "erase"):
                choosing = replace(state, mode=Mode.V_CHOOSE, pass_purpose=f"duress-{arg}")
                return self._say(ctx, choosing, "vault.duress.choose", self._cancel())
        return self._say(ctx, state, "button.stale", self._menu())

    # -- passphrases ---------------------------------------------------------------------

    async def _new_passphrase(self, ctx: VaultContext, text: str) -> DeskResult:
        state = ctx.state
        purpose = state.pass_purpose or "create"
        if state.mode is Mode.V_CHOOSE:
            if normalize(text) in self._menu_words:
                return self._say(ctx, state, "vault.menu_word", self._cancel())
            refused = passphrases.problem(text)
            if refused is not None:
                params = {"minimum": passphrases.MIN_CHARACTERS, "words": passphrases.MIN_WORDS}
                return self._say(ctx, state, refused, self._cancel(), params)
            self._pending[ctx.pseudonym] = (text.strip(), ctx.now + _PENDING_SECONDS)
            return self._say(
                ctx, replace(state, mode=Mode.V_CONFIRM), "vault.again", self._cancel()
            )
        first, expires = self._pending.pop(ctx.pseudonym, ("", 0.0))
        if not first or expires < ctx.now or first != text.strip():
            retry = replace(state, mode=Mode.V_CHOOSE)
            return self._say(ctx, retry, "vault.mismatch", self._cancel())
        idle = replace(state, mode=Mode.IDLE, pass_purpose=None)
        if purpose == "create":
            session = await self.vaults.create(ctx.pseudonym, ctx.data_key, first)
            self._remember_passphrase(ctx.pseudonym, first, ctx.now)
            held = await self._save_held(ctx, session)
            if held is not None:
                return await self._show_note(ctx, idle, session, held, notice="vault.saved_held")
            return await self._home(ctx, idle, session, notice="vault.created")
        session_now = self.vaults.session(ctx.pseudonym)
        if session_now is None:
            waiting = replace(idle, mode=Mode.V_UNLOCK, after_unlock="v:set")
            return self._say(ctx, waiting, "vault.unlock", self._unlock_buttons())
        try:
            if purpose == "change":
                await self.vaults.change_passphrase(ctx.pseudonym, ctx.data_key, session_now, first)
                self._remember_passphrase(ctx.pseudonym, first, ctx.now)
                return await self._home(ctx, idle, session_now, notice="vault.changed")
            mode = DuressMode(purpose.removeprefix("duress-"))
            await self.vaults.set_duress(ctx.pseudonym, ctx.data_key, session_now, first, mode)
            # At the deepest decoy level the open level moves up a slot: a draft follows it.
            idle = replace(idle, draft_level=session_now.level)
        except VaultTampered:
            # The stored vault changed under an open session: nothing is rewritten over it,
            # and it locks, as at an unlock that finds it changed.
            log.warning("vault_keys_tampered")
            self.vaults.lock(ctx.pseudonym)
            return self._say(ctx, idle, "vault.tampered", self._menu())
        return await self._home(ctx, idle, session_now, notice="vault.duress.set")

    async def _unlock(self, ctx: VaultContext, text: str) -> DeskResult:
        state = ctx.state
        result = await self.vaults.unlock(ctx.pseudonym, ctx.data_key, text.strip())
        if result.kind is UnlockKind.WAIT:
            params = {"seconds": result.seconds}
            return self._say(ctx, state, "vault.wait", self._unlock_buttons(), params)
        if result.kind is UnlockKind.LOCKED_OUT:
            # Still a passphrase moment: what they type next is taken (and deleted) as another
            # try, until they leave with a button or a command.
            minutes = max(1, -(-result.seconds // 60))
            return self._say(
                ctx, state, "vault.locked_out", self._unlock_buttons(), {"minutes": minutes}
            )
        if result.kind is UnlockKind.WRONG:
            params = {"left": result.tries_left}
            return self._say(ctx, state, "vault.wrong", self._unlock_buttons(), params)
        if result.kind is UnlockKind.TAMPERED:
            # The right passphrase, but the stored keys were changed: nothing is opened or
            # sealed to them. The organization has to look at its database.
            log.warning("vault_keys_tampered")
            idle = replace(state, mode=Mode.IDLE, after_unlock=None)
            return self._say(ctx, idle, "vault.tampered", self._menu())
        session = result.session
        assert session is not None  # noqa: S101 - OPENED always carries one
        self._remember_passphrase(ctx.pseudonym, text, ctx.now)
        resume = state.after_unlock or "v"
        opened = replace(state, mode=Mode.IDLE, after_unlock=None)
        if resume == "resume" and state.draft_step is not None:
            step_state = replace(opened, mode=Mode.V_FIELD)
            return await self._step(ctx, step_state, session, state.draft_step)
        held = await self._save_held(ctx, session)
        if held is not None:
            return await self._show_note(ctx, opened, session, held, notice="vault.saved_held")
        ctx = replace(ctx, state=opened)
        return await self._press(ctx, resume)

    async def _reset(self, ctx: VaultContext, state: State, action: str) -> DeskResult:
        if action == "forgot":
            buttons: Keyboard = ((_b("button.vault_reset", "v:reset"),), menu_row())
            return self._say(ctx, state, "vault.forgot", buttons)
        if action == "reset":
            buttons = ((_b("button.vault_reset_yes", "v:reset!"),), (_b("button.cancel", "m"),))
            return self._say(ctx, state, "vault.reset_confirm", buttons)
        await self.vaults.reset(ctx.pseudonym)
        return self._say(ctx, replace(state, draft_step=None), "vault.reset_done", self._menu())

    # -- notes ---------------------------------------------------------------------------

    def _drafting(self, state: State, session: Session) -> State:
        return replace(state, mode=Mode.V_FIELD, draft_level=session.level)

    async def _quick_note(self, ctx: VaultContext, text: str) -> DeskResult:
        """/note with text: saved in one step (the vault must be open)."""
        if len(text) > MAX_TEXT:
            params = {"length": len(text), "limit": MAX_TEXT}
            return self._say(ctx, ctx.state, "text.too_long", self._menu(), params)
        row = await self.vaults.row(ctx.pseudonym)
        session = self.vaults.session(ctx.pseudonym)
        if row is None or session is None:
            # Nothing typed is lost: held until the vault is turned on or unlocked.
            self._held_notes[ctx.pseudonym] = (text, ctx.now + _HELD_NOTE_SECONDS)
            result = await self._press(ctx, "v")
            held = T("vault.note_held", {"minutes": _HELD_NOTE_SECONDS // 60})
            first = result.replies[0]  # said in the same message that asks to turn on or unlock
            result.replies[0] = replace(first, parts=(held, *first.parts))
            return result
        await self.notebook.discard_draft(ctx.pseudonym, session)
        draft = Draft({"what": text}, [], None, None)
        number = await self.notebook.save(ctx.pseudonym, session, draft, _iso(ctx.now))
        return await self._show_note(ctx, ctx.state, session, number, notice="vault.saved")

    async def _save_held(self, ctx: VaultContext, session: Session) -> int | None:
        """Save the note typed before the vault was open, if still held; its number."""
        held = self._held_notes.pop(ctx.pseudonym, None)
        if held is None or held[1] < ctx.now:
            return None
        draft = Draft({"what": held[0]}, [], None, None)
        return await self.notebook.save(ctx.pseudonym, session, draft, _iso(ctx.now))

    async def _save_checked(self, ctx: VaultContext, state: State, session: Session) -> DeskResult:
        """A checked message goes in as a note: its words as the threat, and its origin."""
        if ctx.held is None:
            return self._say(ctx, state, "check.gone", self._menu())
        forwarded = {"from": ctx.held["origin"], "date": ctx.held["date"]}
        draft = Draft(
            {"threat_words": ctx.held["text"]},
            [],
            forwarded if ctx.held.get("origin") else None,
            None,
        )
        number = await self.notebook.save(ctx.pseudonym, session, draft, _iso(ctx.now))
        return await self._show_note(ctx, state, session, number, notice="vault.saved")

    async def _step(
        self, ctx: VaultContext, state: State, session: Session | None, step: int
    ) -> DeskResult:
        state = replace(state, mode=Mode.V_FIELD, draft_step=step)
        nav: list[Button] = [_b("button.skip", "v:skip")]
        if step > 0:
            nav.insert(0, _b("button.back", "v:back"))
        buttons: Keyboard = (
            tuple(nav),
            (_b("button.save_now", "v:save"), _b("button.cancel", "v:cancel")),
        )
        if step >= ATTACH_STEP:
            buttons = ((_b("button.save_now", "v:save"),), (_b("button.back", "v:back"),))
            # A neutral first line: on Signal this is a new message, and its preview shows it.
            parts: list[Part] = [T("vault.attach.first")]
            if not state.warned:
                parts.append(T("vault.attach.warning"))
                state = replace(state, warned=True)
            parts.append(T("vault.attach.prompt"))
            return DeskResult(state, [Reply(tuple(parts), buttons, in_place=True)])
        name = FIELDS[step]
        if name == "minor_then":
            answers = tuple(_b(f"answer.{a}", f"v:u18:{a}") for a in MINOR_ANSWERS)
            buttons = (answers, *buttons)
        params = {"step": step + 1, "steps": ATTACH_STEP}
        parts = [T("vault.step", params), T(f"field.{name}.prompt")]
        if session is not None:
            draft = await self.notebook.draft(ctx.pseudonym, session)
            if draft.fields.get(name):
                value = _answer(ctx, name, draft.fields[name])
                parts.append(T("vault.step.current", {"value": _short(value, 300)}))
        return DeskResult(state, [Reply(tuple(parts), buttons, in_place=True)], sensitive=True)

    async def _field_input(self, ctx: VaultContext, event: Event) -> DeskResult:
        state = ctx.state
        step = state.draft_step or 0
        row = await self.vaults.row(ctx.pseudonym)
        if row is None:
            return self._say(
                ctx, replace(state, mode=Mode.IDLE), "vault.intro", self._intro_buttons()
            )
        session = self.vaults.session(ctx.pseudonym)
        try:
            keys = await self.vaults.keys(ctx.pseudonym, ctx.data_key, session)
        except VaultTampered:
            log.warning("vault_keys_tampered")
            keys = None
        # The draft's own level: the real space, or the decoy level it was started in.
        level = None if keys is None else keys.at(state.draft_level)
        if level is None:
            # Keys that cannot be checked (swapped, or a vault older than their seal while
            # locked): nothing is sealed to them. The message stays in the chat to send again.
            waiting = replace(state, mode=Mode.V_UNLOCK, after_unlock="resume")
            return DeskResult(
                waiting, [Reply((T("vault.not_kept_locked"),), self._unlock_buttons())]
            )
        public, space = level
        notice: str | None = None
        if isinstance(event, Attachment):
            try:
                stored = await self._attachment(ctx, event, public, space)
            except _Refused as refused:
                why = Reply((T(refused.key, refused.params),))
                if session is None:
                    return self._locked_mid_entry(state, [why])
                again = await self._step(ctx, state, session, step)
                again.replies.insert(0, why)
                return again
            params = {
                "name": stored["name"],
                "sha256": stored["sha256"],
                "when": _shown(str(stored["received_at"])),
            }
            reply = Reply((T("vault.attach.saved", params),))
            if session is None:
                return replace(self._locked_mid_entry(state, [reply]), stored=True)
            nxt = await self._step(
                ctx, replace(state, draft_step=ATTACH_STEP), session, ATTACH_STEP
            )
            return DeskResult(nxt.state, [reply, *nxt.replies], sensitive=True, stored=True)
        if isinstance(event, Forwarded):
            part: dict[str, Any] = {
                "append": {"threat_words": event.text} if event.text else {},
                "forwarded": {"from": event.origin, "date": event.date},
            }
            notice = "vault.forward.saved"
        else:
            assert isinstance(event, Text)  # noqa: S101 - the caller checked
            text = event.text.strip()
            if not text:
                return await self._step(ctx, state, session, step)
            if len(text) > MAX_TEXT:
                params = {"length": len(text), "limit": MAX_TEXT}
                return self._say(ctx, state, "text.too_long", self._cancel(), params)
            if step >= ATTACH_STEP:
                return self._say(ctx, state, "vault.attach.prompt", self._cancel())
            objection = self._refused_field(FIELDS[step], text)
            if objection is not None:
                again = await self._step(ctx, state, session, step)
                first = again.replies[0]  # said with the step's question, in one message
                again.replies[0] = replace(first, parts=(objection, *first.parts))
                return again
            part = {"set": {FIELDS[step]: text}}
        await self.notebook.add_part(ctx.pseudonym, public, space, part)
        nxt_step = step if notice else min(step + 1, ATTACH_STEP)
        if session is None:
            locked = self._locked_mid_entry(replace(state, draft_step=nxt_step), [])
            return replace(locked, stored=True)
        self.vaults.touch(session)
        result = await self._step(ctx, state, session, nxt_step)
        if notice:
            result.replies.insert(0, Reply((T(notice),)))
        return replace(result, stored=True)

    def _refused_field(self, name: str, text: str) -> T | None:
        """Why typed text cannot go into this field (None: it can), said to the person."""
        if name == "minor_then":
            return T("vault.minor.buttons")
        if name != "content_urls":
            return None
        _, invalid = web_addresses(text)
        if invalid:
            # The words are not repeated: the person sees their own message just above.
            return T("vault.urls.invalid")
        return None

    async def _answer_minor(
        self, ctx: VaultContext, state: State, session: Session, answer: str
    ) -> DeskResult:
        """The under-18 question is answered with a button: kept, then the next step."""
        step = ctx.state.draft_step
        if step is None or step >= ATTACH_STEP or FIELDS[step] != "minor_then":
            return self._say(ctx, state, "button.stale", self._menu())  # an old button
        drafting = self._drafting(state, session)
        part = {"set": {"minor_then": answer}}
        await self.notebook.add_part(ctx.pseudonym, session.public, session.space, part)
        return await self._step(ctx, drafting, session, min(step + 1, ATTACH_STEP))

    def _locked_mid_entry(self, state: State, replies: list[Reply]) -> DeskResult:
        waiting = replace(state, mode=Mode.V_UNLOCK, after_unlock="resume")
        return DeskResult(
            waiting,
            [*replies, Reply((T("vault.locked_mid_entry"),), self._unlock_buttons())],
        )

    async def _attachment(
        self, ctx: VaultContext, event: Attachment, public: bytes, space: bytes
    ) -> dict[str, Any]:
        """Download, fingerprint and seal one file; _Refused says why it was not kept."""
        limit = self.vaults.settings.max_file_bytes
        mime = event.mime or ("image/jpeg" if event.kind == "photo" else "")
        if mime not in ALLOWED_TYPES or event.kind in ("video", "animation"):
            raise _Refused("vault.attach.type")
        if event.size is not None and event.size > limit:
            raise _Refused("vault.attach.too_big", {"limit": _megabytes(limit)})
        if event.ref is None:
            raise _Refused("vault.attach.unavailable")
        try:
            data = await ctx.download(event.ref, limit)
        except FrontEndError as error:
            key = "vault.attach.too_big" if "large" in str(error) else "vault.attach.unavailable"
            raise _Refused(key, {"limit": _megabytes(limit)}) from None
        name = _safe_name(event.name) or f"{event.kind}-{_iso(ctx.now)[:10]}{ALLOWED_TYPES[mime]}"
        meta = await self.notebook.store_file(
            ctx.pseudonym, public, space, data, name=name, mime=mime, received_at=_iso(ctx.now)
        )
        await self.notebook.add_part(ctx.pseudonym, public, space, {"attachment": meta})
        return meta

    async def _navigate(
        self, ctx: VaultContext, state: State, session: Session, action: str
    ) -> DeskResult:
        step = ctx.state.draft_step
        drafting = self._drafting(state, session)
        if step is None:
            return await self._home(ctx, state, session)
        if action == "skip":
            return await self._step(ctx, drafting, session, min(step + 1, ATTACH_STEP))
        if action == "back":
            return await self._step(ctx, drafting, session, max(step - 1, 0))
        if action == "cancel":
            await self.notebook.discard_draft(ctx.pseudonym, session)
            idle = replace(state, draft_step=None)
            return await self._home(ctx, idle, session, notice="vault.discarded")
        draft = await self.notebook.draft(ctx.pseudonym, session)
        if draft.empty:
            return self._say(ctx, drafting, "vault.empty_draft", self._cancel())
        number = await self.notebook.save(ctx.pseudonym, session, draft, _iso(ctx.now))
        done = replace(state, draft_step=None)
        return await self._show_note(ctx, done, session, number, notice="vault.saved")

    async def _edit(
        self, ctx: VaultContext, state: State, session: Session, number: int
    ) -> DeskResult:
        note = await self.notebook.note(ctx.pseudonym, session, number)
        if note is None:
            return self._say(ctx, state, "button.stale", self._menu())
        await self.notebook.discard_draft(ctx.pseudonym, session)
        base = {
            "edit_of": number,
            "fields": dict(note.get("fields", {})),
        }
        await self.notebook.add_part(ctx.pseudonym, session.public, session.space, base)
        for meta in note.get("attachments", []):
            part = {"attachment": meta}
            await self.notebook.add_part(ctx.pseudonym, session.public, session.space, part)
        return await self._step(ctx, self._drafting(state, session), session, 0)

    async def _home(
        self,
        ctx: VaultContext,
        state: State,
        session: Session,
        notice: str | None = None,
        page: int = 1,
    ) -> DeskResult:
        listing = await self.notebook.listing(ctx.pseudonym, session)
        minutes = self.vaults.settings.unlock_minutes
        parts: list[Part] = [T(notice)] if notice else []
        numbers = listing.numbers
        parts.append(T("vault.home", {"count": len(numbers), "minutes": minutes}))
        # Pages of _HOME_BUTTONS notes, page 1 the newest: one short message however many
        # notes there are. A page out of range (a stale or forged button) shows the nearest.
        pages = max(1, -(-len(numbers) // _HOME_BUTTONS))
        page = min(max(page, 1), pages)
        end = len(numbers) - (page - 1) * _HOME_BUTTONS
        shown = numbers[max(0, end - _HOME_BUTTONS) : end]
        if pages > 1:
            parts.append(T("vault.home.page", {"page": page, "pages": pages}))
        for number in shown:
            line = listing.line(number)
            shown_line = {
                "number": number,
                "when": _shown(line.recorded_at),
                "summary": _short(line.summary, 60),
            }
            parts.append(T("vault.home.line", shown_line))
        if listing.damaged:
            parts.append(T("vault.damaged", {"count": listing.damaged}))
        buttons = self._home_buttons(shown, page, pages)
        return DeskResult(
            replace(state, mode=Mode.IDLE),
            [Reply(tuple(parts), buttons, in_place=True)],
            sensitive=True,
        )

    def _says_self_harm(self, note: Mapping[str, Any]) -> bool:
        """Whether a note's words hold the catalogs' self-harm phrases."""
        return self._self_harm_words is not None and self._self_harm_words(_note_words(note))

    async def _show_note(
        self,
        ctx: VaultContext,
        state: State,
        session: Session,
        number: int,
        notice: str | None = None,
    ) -> DeskResult:
        note = await self.notebook.note(ctx.pseudonym, session, number)
        if note is None:
            return await self._home(ctx, state, session)
        parts: list[Part] = [T(notice, {"number": number})] if notice else []
        talk = notice is not None and self._says_self_harm(note)
        if talk:
            parts.append(T("vault.saved.talk"))
        recorded = _shown(str(note["recorded_at"]))
        parts.append(T("vault.note.header", {"number": number, "recorded": recorded}))
        for name in FIELDS:
            value = note.get("fields", {}).get(name)
            if value:
                label = ctx.words(f"field.{name}")
                shown = _answer(ctx, name, str(value))
                parts.append(T("vault.note.field", {"label": label, "value": shown}))
        forwarded = note.get("forwarded")
        if forwarded:
            sent = _shown(str(forwarded.get("date", "")))
            origin = forwarded.get("from", "")
            parts.append(T("vault.note.forwarded", {"origin": origin, "date": sent}))
        for meta in note.get("attachments", []):
            params = {
                "name": meta["name"],
                "sha256": meta["sha256"],
                "when": _shown(str(meta["received_at"])),
            }
            parts.append(T("vault.note.attachment", params))
        if int(note.get("versions", 1)) > 1:
            parts.append(T("vault.note.versions", {"count": int(note["versions"]) - 1}))
        buttons: Keyboard = (
            (_b("button.edit", f"v:e:{number}"), _b("button.delete", f"v:d:{number}")),
            (_b("button.vault_home", "v:home"), _b("button.lock", "v:lock")),
            *((talk_row(),) if talk else ()),
            crisis_row(),
        )
        reply = Reply(tuple(parts), buttons, in_place=notice is None)
        return DeskResult(replace(state, mode=Mode.IDLE), [reply], sensitive=True)

    async def _export(
        self, ctx: VaultContext, password: str | None, view_only: bool = False
    ) -> DeskResult:
        state = replace(ctx.state, mode=Mode.IDLE)
        session = self.vaults.session(ctx.pseudonym)
        if session is None:
            waiting = replace(state, mode=Mode.V_UNLOCK, after_unlock="v:x")
            return self._say(ctx, waiting, "vault.unlock", self._unlock_buttons())
        opened = await self.notebook.open_space(ctx.pseudonym, session)
        if not opened.notes:
            return await self._home(ctx, state, session, notice="vault.export.none")
        if password is not None and len(password.strip()) < MIN_PASSPHRASE:
            params = {"minimum": MIN_PASSPHRASE}
            return self._say(ctx, ctx.state, "vault.too_short", self._cancel(), params)
        # Every live version's files: an earlier version may list one a later edit dropped.
        live = ("note", "edit")
        metas = [m for r in opened.records if r["kind"] in live for m in r.get("attachments", [])]
        files = await self.notebook.files(ctx.pseudonym, session, metas)
        fields = {name: ctx.words(f"field.{name}") for name in FIELDS}
        labels = Labels.from_catalog(ctx.words, fields)
        settings = self.vaults.settings
        tsa = settings.tsa_url
        made = await asyncio.to_thread(
            make_export,
            opened.records,
            files,
            labels=labels,
            exported_at=_iso(ctx.now),
            password=password.strip() if password else None,
            signing_key=settings.signing_key,
            timestamp=(lambda manifest: request_timestamp(tsa, manifest)) if tsa else None,
        )
        if made.stamp_failed:
            log.warning("export_timestamp_failed")  # the TSA's fault; nothing about the person
        minutes = settings.export_keep_minutes
        key = "vault.export.caption_view_only" if view_only else "vault.export.caption"
        caption = T(key, {"minutes": minutes})
        # A neutral name: it shows in the chat, the phone's downloads and notifications.
        name = f"notes-{_iso(ctx.now)[:10]}.zip"
        result = DeskResult(state, [], sensitive=False)
        result.document = Document(name, made.data, caption, view_only, _proof(made))
        return result

    # -- removal requests ------------------------------------------------------------------

    async def _removal(
        self, ctx: VaultContext, state: State, session: Session, action: str, arg: str
    ) -> DeskResult:
        """Make a removal request: notes, platform, law, then the typed name and e-mail."""
        if ctx.state.answers.get(Question.AGE_NOW.value) == "minor":
            # Under 18 now: services made for young people, not a notice in their own name.
            return self._say(ctx, state, "notice.minor", self._minor_buttons())
        opened = await self.notebook.open_space(ctx.pseudonym, session)
        usable = {
            number: note
            for number, note in opened.notes.items()
            if facts_from_notes([note])[0]  # only notes that say where the images are
        }
        if not usable:
            return self._say(ctx, state, "notice.no_urls", ((_b("button.back", "v:home"),),))
        notice = self._notices.get(ctx.pseudonym)
        if action == "r" or notice is None or notice.until < ctx.now:
            notice = _Notice(until=ctx.now + _NOTICE_SECONDS)
            self._notices[ctx.pseudonym] = notice
            if len(usable) == 1:
                notice.notes = set(usable)
        number = int(arg) if arg.isascii() and arg.isdecimal() else 0
        if action == "rn" and number in usable:
            notice.notes ^= {number}
        elif action == "rf" and (arg == "other" or self.platforms.get(arg) is not None):
            notice.platform = arg
        if action not in ("r", "rn") and _made_when_minor(usable, notice.notes):
            # Made when they were under 18: services for that, not a notice in their name.
            self._notices.pop(ctx.pseudonym, None)
            parts: list[Part] = [T("notice.minor_then")]
            if ctx.state.answers.get(Question.COUNTRY.value, "GB") == "GB":
                parts.append(T("notice.minor_then_uk"))  # the UK, or a country not yet known
            return DeskResult(state, [Reply(tuple(parts), self._minor_buttons())])
        if action == "rl" and arg in LAWS and notice.platform is not None:
            notice.law = arg
            asking = replace(state, mode=Mode.V_NOTICE)
            return self._say(ctx, asking, "notice.ask_name", self._notice_cancel())
        if action == "ry" and notice.email is not None:
            return await self._notice_done(ctx, state, notice, usable)
        if action in ("rp", "rf") and notice.notes:
            if action == "rf" and notice.platform is not None:
                return self._say(ctx, state, "notice.pick_law", self._law_buttons())
            return self._say(ctx, state, "notice.pick_platform", self._platform_buttons())
        return self._say(
            ctx, state, "notice.intro", self._note_picker(sorted(usable), notice.notes)
        )

    async def _notice_typed(self, ctx: VaultContext, text: str) -> DeskResult:
        """The name, then the e-mail, typed for a removal request: held in memory only."""
        state = replace(ctx.state, mode=Mode.IDLE)
        notice = self._notices.get(ctx.pseudonym)
        session = self.vaults.session(ctx.pseudonym)
        if notice is None or notice.until < ctx.now or notice.law is None or session is None:
            self._notices.pop(ctx.pseudonym, None)
            result = self._say(ctx, state, "notice.expired", self._menu())
            return replace(result, stored=True)  # what was typed still leaves the chat
        typed = " ".join(text.split())
        asking = ctx.state
        if notice.name is None:
            if not typed or len(typed) > 200:
                return replace(
                    self._say(ctx, asking, "notice.ask_name", self._notice_cancel()), stored=True
                )
            notice.name = typed
            return replace(
                self._say(ctx, asking, "notice.ask_email", self._notice_cancel()), stored=True
            )
        if not looks_like_email(typed):
            result = self._say(ctx, asking, "notice.bad_email", self._notice_cancel())
            return replace(result, stored=True)
        notice.email = typed
        opened = await self.notebook.open_space(ctx.pseudonym, session)
        facts = self._facts(
            ctx, notice, [opened.notes[n] for n in sorted(notice.notes) if n in opened.notes]
        )
        shown = compose(facts, ctx.words)
        buttons: Keyboard = (
            (_b("button.make_notice", "v:ry"),),
            (_b("button.cancel", "v:home"),),
        )
        parts = (T("notice.preview"), T("notice.text", {"text": shown}))
        reply = Reply(parts, buttons)
        return DeskResult(state, [reply], sensitive=True, stored=True)

    async def _notice_done(
        self,
        ctx: VaultContext,
        state: State,
        notice: _Notice,
        usable: Mapping[int, Mapping[str, Any]],
    ) -> DeskResult:
        """The request, in the person's language and in English, as text and as a PDF, and
        where to send it."""
        notes = [usable[n] for n in sorted(notice.notes) if n in usable]
        facts = self._facts(ctx, notice, notes)
        texts = [compose(facts, ctx.words)]
        made: list[Part] = [T("notice.made"), T("notice.text", {"text": texts[0]})]
        if len(texts[0]) > _LONG_NOTICE:
            made.insert(1, T("notice.long"))  # Telegram splits it: say so, and name the PDF
        replies = [Reply(tuple(made))]
        english = ctx.english
        if english is not None and english("notice.doc.subject") != ctx.words("notice.doc.subject"):
            texts.append(compose(facts, english))
            replies.append(Reply((T("notice.english"), T("notice.text", {"text": texts[1]}))))
        # Text only, never an image; fpdf2 holds the interpreter, so off the event loop.
        data = await asyncio.to_thread(
            render_text_pdf,
            texts,
            title=ctx.words("notice.doc.subject"),
            page=ctx.words("export.page"),
            made_at=_iso(ctx.now),
        )
        platform = self.platforms.get(notice.platform or "")
        if platform is None:
            parts: list[Part] = [T("notice.where_other")]
        else:
            how = platform.how_in(ctx.state.locale or "en", "en")
            parts = [T("notice.where", {"platform": platform.name, "how": how})]
            if platform.url:
                parts.append(T("notice.where_url", {"url": platform.url}))
        parts.append(T("notice.copy_now"))
        buttons: Keyboard = ((_b("button.vault_home", "v:home"),), crisis_row())
        replies.append(Reply(tuple(parts), buttons))
        # Made: what was typed is forgotten; the texts and the PDF leave the chat when the
        # vault locks. A neutral file name: it shows in the phone's downloads.
        self._notices.pop(ctx.pseudonym, None)
        result = DeskResult(state, replies, sensitive=True)
        caption = T("notice.pdf_caption")
        name = f"request-{_iso(ctx.now)[:10]}.pdf"
        result.document = Document(name, data, caption, until_lock=True)
        return result

    def _facts(
        self, ctx: VaultContext, notice: _Notice, notes: list[Mapping[str, Any]]
    ) -> NoticeFacts:
        urls, accounts = facts_from_notes(notes)
        platform = self.platforms.get(notice.platform or "")
        return NoticeFacts(
            platform=platform.name if platform else ctx.words("notice.doc.other_site"),
            law=notice.law or LAWS[0],
            urls=tuple(urls),
            accounts=tuple(accounts),
            name=notice.name or "",
            email=notice.email or "",
            date=_iso(ctx.now)[:10],
        )

    def _note_picker(self, numbers: list[int], chosen: set[int]) -> Keyboard:
        rows: list[tuple[Button, ...]] = []
        row: list[Button] = []
        for number in numbers[-_HOME_BUTTONS:]:
            key = "button.note_picked" if number in chosen else "button.note_n"
            row.append(_b(key, f"v:rn:{number}", {"number": number}))
            if len(row) == 4:
                rows.append(tuple(row))
                row = []
        if row:
            rows.append(tuple(row))
        if chosen:
            rows.append((_b("button.next", "v:rp"),))
        rows.append((_b("button.back", "v:home"),))
        return tuple(rows)

    def _platform_buttons(self) -> Keyboard:
        buttons = [
            Button(T("notice.platform", {"name": p.name}), f"v:rf:{p.id}") for p in self.platforms
        ]
        buttons.append(_b("button.platform_other", "v:rf:other"))
        rows = [tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2)]
        return (*rows, (_b("button.back", "v:r"),))

    def _law_buttons(self) -> Keyboard:
        rows = tuple((_b(f"notice.law.{law}.button", f"v:rl:{law}"),) for law in LAWS)
        return (*rows, (_b("button.back", "v:rp"),))

    def _minor_buttons(self) -> Keyboard:
        return ((_b("button.vault_home", "v:home"),), crisis_row())

    def _notice_cancel(self) -> Keyboard:
        return ((_b("button.cancel", "v:home"),), crisis_row())

    # -- helpers -------------------------------------------------------------------------

    def _say(
        self,
        ctx: VaultContext,
        state: State,
        key: str,
        buttons: Keyboard,
        params: Mapping[str, object] | None = None,
        in_place: bool = False,
    ) -> DeskResult:
        return DeskResult(state, [Reply((T(key, params or {}),), buttons, in_place)])

    def _menu(self) -> Keyboard:
        return (menu_row(), crisis_row())

    def _cancel(self) -> Keyboard:
        return ((_b("button.cancel", "v:cancel"),), crisis_row())

    def _intro_buttons(self) -> Keyboard:
        return ((_b("button.vault_on", "v:on"),), (_b("button.not_now", "m"),), crisis_row())

    def _unlock_buttons(self) -> Keyboard:
        return ((_b("button.cancel", "m"), _b("button.forgot", "v:forgot")), crisis_row())

    def _home_buttons(self, numbers: list[int], page: int = 1, pages: int = 1) -> Keyboard:
        rows: list[tuple[Button, ...]] = [(_b("button.new_note", "v:new"),)]
        row: list[Button] = []
        for number in numbers:
            row.append(_b("button.note_n", f"v:n:{number}", {"number": number}))
            if len(row) == 4:
                rows.append(tuple(row))
                row = []
        if row:
            rows.append(tuple(row))
        turn = []
        if page < pages:
            turn.append(_b("button.older_notes", f"v:p:{page + 1}"))
        if page > 1:
            turn.append(_b("button.newer_notes", f"v:p:{page - 1}"))
        if turn:
            rows.append(tuple(turn))
        rows.append((_b("button.removal", "v:r"),))
        rows.append((_b("button.export", "v:x"), _b("button.lock", "v:lock")))
        rows.append((_b("button.vault_settings", "v:set"), _b("button.menu", "m")))
        rows.append(crisis_row())
        return tuple(rows)


class _Refused(Exception):
    """A file that was not kept, and the text that says why."""

    def __init__(self, key: str, params: Mapping[str, object] | None = None) -> None:
        super().__init__(key)
        self.key = key
        self.params = dict(params or {})


def _note_words(note: Mapping[str, Any]) -> str:
    """Every typed word of a note (its fields), for the self-harm lists; held in memory only."""
    fields = note.get("fields", {})
    return "\n".join(str(value) for value in fields.values() if isinstance(value, str))


def _answer(ctx: VaultContext, name: str, value: str) -> str:
    """A field's value as the person reads it: a button's answer in their words."""
    if name == "minor_then" and value in MINOR_ANSWERS:
        return ctx.words(f"answer.{value}")
    return value


def _made_when_minor(notes: Mapping[int, Mapping[str, Any]], chosen: set[int]) -> bool:
    """Whether a chosen note says its images were made when the person was under 18."""
    for number in chosen:
        fields = notes.get(number, {}).get("fields")
        if isinstance(fields, Mapping) and fields.get("minor_then") == "yes":
            return True
    return False


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


def _safe_name(name: str | None) -> str:
    if not name:
        return ""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].lstrip(".")
    return "".join(c for c in base if c.isprintable())[:80]
