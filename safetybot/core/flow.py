"""The conversation as a pure function: step(state, event, context) -> Outcome.

States are an explicit table (Mode). Effects name what the service must do with the store
(save a note, erase a person); the service turns their results into further replies.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from safetybot.core import menus
from safetybot.core.events import (
    Attachment,
    Command,
    Edited,
    Event,
    Forwarded,
    Pressed,
    Text,
    Unsupported,
)
from safetybot.core.menus import (
    ANSWERS,
    AUTO_CLEAR_CHOICES,
    COUNTRIES,
    Action,
    AutoClearPick,
    CheckAnswer,
    CountryFor,
    CountryPick,
    GuideId,
    LanguagePick,
    PanicModePick,
    Question,
    TriageAnswer,
    needed,
)
from safetybot.core.plan import make_plan
from safetybot.core.replies import (
    CheckResult,
    Contacts,
    GuideText,
    Keyboard,
    Part,
    PlanText,
    Reply,
    T,
)
from safetybot.core.understanding import Intent, Understanding
from safetybot.guidance.redflags import QUESTIONS, Flag

__all__ = [
    "COMMAND_NAMES",
    "MAX_TEXT",
    "PASSPHRASE_MODES",
    "VAULT_MODES",
    "CheckText",
    "CheckTyped",
    "ClearChat",
    "Context",
    "DeleteOrigin",
    "Effect",
    "Forget",
    "Mode",
    "OfferCheck",
    "Outcome",
    "Reschedule",
    "SetPanic",
    "State",
    "VaultEvent",
    "step",
]

# Telegram's own limit for one message; other messengers get the same, for one behaviour.
MAX_TEXT = 4096

_FLAG_IDS = frozenset(flag.value for flag in Flag)
# Guides offered under a red-flag check.
_CHECK_GUIDES = (GuideId.SPOTTING_SEXTORTION, GuideId.RIGHT_NOW, GuideId.DOCUMENTING)

# The hint the service attaches to free text that shows someone under 18 (core/signals.py).
HINT_MINOR = "minor"

# What to say first, and which guides to offer, when typed words tell what is happening.
_PROPOSAL_GUIDES: dict[Intent, tuple[GuideId, ...]] = {
    Intent.THREATENED: (GuideId.RIGHT_NOW, GuideId.SPOTTING_SEXTORTION),
    Intent.PAID: (GuideId.RIGHT_NOW,),
    Intent.SHARED: (GuideId.IMAGES_SHARED,),
    Intent.DEEPFAKE: (GuideId.DEEPFAKES,),
    Intent.ASKED_FOR_IMAGES: (GuideId.SPOTTING_SEXTORTION, GuideId.SEXTING_SAFETY),
}
# The order a plan's summary names what was understood.
_SUMMARY_ORDER = (Question.SITUATION, Question.PAID, Question.WHO, Question.AGE_NOW)


class Mode(StrEnum):
    """Where a person is in the conversation."""

    IDLE = "idle"
    CONFIRM_FORGET = "confirm_forget"
    TRIAGE = "triage"
    # The vault's modes (core/desk.py): choosing or confirming a new passphrase, unlocking,
    # writing a note's fields, choosing an export password.
    V_CHOOSE = "v_choose"
    V_CONFIRM = "v_confirm"
    V_UNLOCK = "v_unlock"
    V_FIELD = "v_field"
    V_EXPORT_PASS = "v_export_pass"  # noqa: S105 - a mode name, not a secret
    V_NOTICE = "v_notice"  # the name and e-mail typed for a removal request
    PANIC_WORD = "panic_word"
    CHECK = "check"


# Modes whose next text is a secret (a passphrase, a password, a panic word): never read for
# hints, and deleted from the chat at once.
PASSPHRASE_MODES = frozenset(
    {Mode.V_CHOOSE, Mode.V_CONFIRM, Mode.V_UNLOCK, Mode.V_EXPORT_PASS, Mode.PANIC_WORD}
)
VAULT_MODES = frozenset(
    {Mode.V_CHOOSE, Mode.V_CONFIRM, Mode.V_UNLOCK, Mode.V_EXPORT_PASS, Mode.V_FIELD, Mode.V_NOTICE}
)


@dataclass(frozen=True)
class State:
    """A person's conversation state; sealed by the service before it is stored."""

    mode: Mode = Mode.IDLE
    locale: str | None = None
    country: str | None = None
    answers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Vault: what a new passphrase is for, what to do after unlocking, the note-entry step,
    # which vault level the draft belongs to (0: the real one, then each decoy level), and
    # whether the attachment warning was shown.
    pass_purpose: str | None = None
    after_unlock: str | None = None
    draft_step: int | None = None
    draft_level: int = 0
    warned: bool = False
    # Discretion: the panic word (only its keyed hash) and what it does, the auto-clear timer
    # (None: the organization's default), silent messages, and whether the tip was offered.
    panic: str | None = None
    panic_mode: str = "forget"
    auto_clear: int | None = None
    silent: bool = False
    tip_shown: bool = False
    # The red-flag questionnaire: the flags answered "yes" so far.
    check_yes: tuple[str, ...] = ()
    # Triage answers read in the person's words, waiting for them to confirm (never words).
    proposed: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def to_bytes(self) -> bytes:
        """Serialize for sealing."""
        data = {
            "mode": self.mode.value,
            "locale": self.locale,
            "country": self.country,
            "answers": dict(self.answers),
            "pass_purpose": self.pass_purpose,
            "after_unlock": self.after_unlock,
            "draft_step": self.draft_step,
            "draft_level": self.draft_level,
            "warned": self.warned,
            "panic": self.panic,
            "panic_mode": self.panic_mode,
            "auto_clear": self.auto_clear,
            "silent": self.silent,
            "tip_shown": self.tip_shown,
            "check_yes": list(self.check_yes),
            "proposed": dict(self.proposed),
        }
        return json.dumps(data).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> State:
        """Deserialize; unknown or damaged fields fall back to a fresh state."""
        try:
            data = json.loads(raw)
            answers = _valid_answers(data.get("answers"))
            country = data.get("country")
            step = data.get("draft_step")
            auto = data.get("auto_clear")
            return cls(
                mode=Mode(data.get("mode", "idle")),
                locale=_optional_str(data.get("locale")),
                country=country if country in COUNTRIES else None,
                answers=MappingProxyType(answers),
                pass_purpose=_optional_str(data.get("pass_purpose")),
                after_unlock=_optional_str(data.get("after_unlock")),
                draft_step=step if isinstance(step, int) and 0 <= step <= 64 else None,
                draft_level=_draft_level(data),
                warned=data.get("warned") is True,
                panic=_optional_str(data.get("panic")),
                panic_mode="clear" if data.get("panic_mode") == "clear" else "forget",
                auto_clear=auto if auto in AUTO_CLEAR_CHOICES else None,
                silent=data.get("silent") is True,
                tip_shown=data.get("tip_shown") is True,
                check_yes=tuple(str(f) for f in data.get("check_yes") or () if str(f) in _FLAG_IDS),
                proposed=MappingProxyType(_valid_answers(data.get("proposed"))),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()


@dataclass(frozen=True)
class Context:
    """What the flow may know about the deployment: locales and the default auto-clear."""

    locales: tuple[str, ...] = ("en",)
    auto_clear_default: int = 0


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) and len(value) <= 64 else None


def _draft_level(data: Mapping[str, object]) -> int:
    """The vault level a draft belongs to; a state from before levels said only "decoy"."""
    level = data.get("draft_level")
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 16:
        return level
    return 1 if data.get("draft_decoy") is True else 0


def _valid_answers(raw: object) -> dict[str, str]:
    """Stored triage answers, keeping only known questions with known answers."""
    return {
        str(k): str(v)
        for k, v in dict(raw or {}).items()  # type: ignore[call-overload]
        if k in Question._value2member_map_ and v in ANSWERS[Question(k)]
    }


@dataclass(frozen=True)
class VaultEvent:
    """Hand the event to the vault's conversation (core/desk.py)."""

    event: Event


@dataclass(frozen=True)
class Forget:
    """Delete every chat message still deletable, then erase everything about the person."""


@dataclass(frozen=True)
class ClearChat:
    """Delete every chat message the bot still can; keep everything else."""


@dataclass(frozen=True)
class SetPanic:
    """Check and set the panic word (the service knows the menu words it must not equal)."""

    word: str


@dataclass(frozen=True)
class CheckText:
    """Look for red flags in a message the person pasted or forwarded (kept in memory only)."""

    text: str
    origin: str = ""
    date: str = ""


@dataclass(frozen=True)
class OfferCheck:
    """Typed words look like someone else's message: hold them (memory only) and offer a check."""

    text: str


@dataclass(frozen=True)
class CheckTyped:
    """Check the message held by OfferCheck, if it is still held."""


@dataclass(frozen=True)
class Reschedule:
    """The auto-clear timer changed: reschedule the chat's messages."""


@dataclass(frozen=True)
class DeleteOrigin:
    """Delete the message whose button was pressed."""


Effect = (
    VaultEvent
    | Forget
    | ClearChat
    | SetPanic
    | Reschedule
    | DeleteOrigin
    | CheckText
    | OfferCheck
    | CheckTyped
)


@dataclass(frozen=True)
class Outcome:
    """The new state, the replies to show, the effects to apply (in that order)."""

    state: State
    replies: tuple[Reply, ...] = ()
    effects: tuple[Effect, ...] = ()


def _say(state: State, key: str, buttons: Keyboard, in_place: bool = False) -> Outcome:
    return Outcome(state, (Reply((T(key),), buttons, in_place),))


def step(state: State, event: Event, context: Context | None = None) -> Outcome:
    """Advance one person's conversation by one event."""
    ctx = context or Context()
    if isinstance(event, Edited):
        return _edited(state, event)
    if state.mode in VAULT_MODES and isinstance(event, Text | Forwarded | Attachment):
        # A passphrase or a note's words: never read as a crisis word or a command.
        return Outcome(state, effects=(VaultEvent(event),))
    if isinstance(event, Pressed) and (event.data == "v" or event.data.startswith("v:")):
        return Outcome(state, effects=(VaultEvent(event),))
    if state.mode is Mode.PANIC_WORD and isinstance(event, Text):
        return Outcome(replace(state, mode=Mode.IDLE), effects=(SetPanic(event.text),))
    if isinstance(event, Forwarded) and state.mode is not Mode.V_FIELD:
        # A forwarded message is most likely something received: check it.
        check = CheckText(event.text, event.origin, event.date)
        return Outcome(replace(state, mode=Mode.CHECK), effects=(check,))
    if state.mode is Mode.CHECK and isinstance(event, Text) and not _overrides_check(event):
        return Outcome(state, effects=(CheckText(event.text),))
    if isinstance(event, Attachment) and _intent(event) in (Intent.SELF_HARM, Intent.URGENT):
        # A crisis in an image's caption reaches its path as typed words do, from any state.
        return _understood(replace(state, mode=Mode.IDLE), _caption(event))
    if state.mode is Mode.CHECK and isinstance(event, Attachment):
        return _say(state, "check.no_text", menus.check_menu())
    if isinstance(event, Command) and event.name in ("note", "notes", "vault"):
        return Outcome(replace(state, mode=Mode.IDLE), effects=(VaultEvent(event),))
    if isinstance(event, Text) and _intent(event) in (Intent.SELF_HARM, Intent.URGENT):
        # A crisis in words reaches its path from any other state, never a menu.
        return _understood(replace(state, mode=Mode.IDLE), event)
    if state.mode is Mode.CONFIRM_FORGET and event == Pressed(Action.FORGET_YES.value):
        return Outcome(replace(state, mode=Mode.IDLE), effects=(Forget(),))
    if isinstance(event, Attachment) and _intent(event) is not Intent.OTHER:
        # A caption that tells the story ("he sent this and wants 500"): answered as typed
        # words are, after one line saying the image was not kept.
        outcome = _understood(state, _caption(event))
        first, *rest = outcome.replies
        kept = replace(first, parts=(T("attachment.not_kept_short"), *first.parts))
        return replace(outcome, replies=(kept, *rest))
    if isinstance(event, Attachment):
        # Nothing is kept, and the person stays where they were (a note in progress is not lost).
        return Outcome(state, (Reply((T("attachment.not_kept"),), menus.main_menu()),))
    if state.mode is Mode.TRIAGE and isinstance(event, Text) and _intent(event) is Intent.OTHER:
        # "yes", "US", "ok": meant as an answer; the buttons take it.
        return _ask(state, prefix="triage.use_buttons")
    idle = replace(state, mode=Mode.IDLE)
    if isinstance(event, Command):
        return _command(idle, event, ctx)
    if isinstance(event, Pressed):
        return _pressed(state, event.data, ctx)
    if isinstance(event, Unsupported):
        # A voice note may be someone crying who cannot type: the reply asks for a few words
        # and keeps "Talk to someone now" one press away, as for words it could not place.
        return _say(idle, "unsupported", menus.understood_menu())
    if isinstance(event, Text) and (feature := _feature(event)) is not None:
        # "make my plan", "quiero escribir una nota": what the command of that name opens.
        return step(idle, Command(feature), ctx)
    if isinstance(event, Text):
        return _understood(state, event)
    return _say(idle, "understand.other", menus.understood_menu())


_FEATURE = "words:feature:"


def _feature(event: Text) -> str | None:
    """The command whose feature the words ask for by name (`match.feature.*`), if any."""
    evidence = event.meaning.evidence if event.meaning is not None else ()
    return next((e.removeprefix(_FEATURE) for e in evidence if e.startswith(_FEATURE)), None)


def _intent(event: Text | Attachment | Edited) -> Intent:
    return event.meaning.intent if event.meaning is not None else Intent.OTHER


def _edited(state: State, event: Edited) -> Outcome:
    """An edit that now speaks of self-harm or a near danger takes the crisis path, as typed
    words do, from any state but the vault's (a note's or a passphrase's words are never
    read); any other edit changes nothing and gets no reply."""
    if state.mode in VAULT_MODES or _intent(event) not in (Intent.SELF_HARM, Intent.URGENT):
        return Outcome(state)
    return _understood(replace(state, mode=Mode.IDLE), Text(event.text, event.hints, event.meaning))


def _caption(event: Attachment) -> Text:
    """An image's caption, as the typed words it is."""
    return Text(event.caption, event.hints, event.meaning)


def _overrides_check(event: Text) -> bool:
    """While checking pasted messages, only self-harm or a bare cry for help interrupts:
    a pasted threat with a deadline is still a message to check (its result says it is urgent)."""
    meaning = event.meaning
    if meaning is None:
        return False
    return meaning.intent is Intent.SELF_HARM or "words:cry" in meaning.evidence


def _understood(state: State, event: Text) -> Outcome:
    """Lead where a helpline volunteer would, from what the typed words are about."""
    meaning = event.meaning or Understanding(Intent.OTHER)
    minor = HINT_MINOR in event.hints
    if meaning.intent in _PROPOSAL_GUIDES:
        return _propose(state, meaning, minor)
    state = replace(state, mode=Mode.IDLE)
    match meaning.intent:
        case Intent.SELF_HARM:
            return _self_harm(state, minor=minor)
        case Intent.URGENT:
            return _crisis(state, minor=minor, lead="understand.urgent")
        case Intent.HELPER:
            return _say(state, "understand.helper", _minor_first(menus.helper_menu(), minor))
        case Intent.ERASE:
            return _say(state, "understand.erase", menus.erase_menu())
        case Intent.PASTED:
            reply = Reply((T("understand.pasted"),), menus.pasted_menu())
            return Outcome(state, (reply,), (OfferCheck(event.text),))
    # Maybe someone else's message, read as `other`: "Check this message" checks these words
    # as they are (held in memory, as a pasted message is), instead of asking for them again.
    maybe_pasted = "model:maybe_pasted" in meaning.evidence
    buttons = menus.understood_menu(check_typed=maybe_pasted)
    effects: tuple[Effect, ...] = (OfferCheck(event.text),) if maybe_pasted else ()
    if minor:
        buttons = ((menus.guide_button(GuideId.UNDER_18),), *buttons)
        return Outcome(state, (Reply((T("minor.noticed"),), buttons),), effects)
    return Outcome(state, (Reply((T("understand.other"),), buttons),), effects)


def _propose(state: State, meaning: Understanding, minor: bool) -> Outcome:
    """Say what was understood and offer the plan with those answers, to confirm."""
    # In the middle of triage, what was already answered is kept.
    answers = dict(state.answers) if state.mode is Mode.TRIAGE else {}
    answers.pop(Question.COUNTRY.value, None)  # the country is the person's, kept apart
    answers.update(meaning.answers)
    if meaning.intent is Intent.DEEPFAKE:
        # Fake images have their own plan, whether they were posted or only threatened.
        answers[Question.SITUATION.value] = "deepfake"
    if minor:
        # The words say how old the person is now (and so how old they were in the images).
        answers[Question.AGE_NOW.value] = "minor"
    proposing = replace(state, mode=Mode.IDLE, proposed=MappingProxyType(answers))
    summary = [
        T(f"understand.summary.{question.value}.{answers[question.value]}")
        for question in _SUMMARY_ORDER
        if f"understand.summary.{question.value}.{answers.get(question.value)}" in _SUMMARY_KEYS
    ]
    guides = _PROPOSAL_GUIDES.get(meaning.intent, ())
    if minor:
        guides = (GuideId.UNDER_18, *guides)
    parts: tuple[Part, ...] = (
        T(f"understand.{meaning.intent.value}"),
        T("understand.confirm"),
        *summary,
        T("understand.confirm_question"),
    )
    return Outcome(proposing, (Reply(parts, menus.proposal_menu(guides)),))


# The summary lines there are texts for: what a plan's answers mean, in the person's words.
_SUMMARY_KEYS = frozenset(
    {
        "understand.summary.s.threat",
        "understand.summary.s.shared",
        "understand.summary.s.deepfake",
        "understand.summary.s.unsure",
        "understand.summary.p.yes",
        "understand.summary.w.known",
        "understand.summary.w.stranger",
        "understand.summary.n.minor",
    }
)


def _minor_first(buttons: Keyboard, minor: bool) -> Keyboard:
    """The under-18 guide above the other choices, when the words say someone is under 18."""
    return ((menus.guide_button(GuideId.UNDER_18),), *buttons) if minor else buttons


def _self_harm(
    state: State, in_place: bool = False, minor: bool = False, lead: str = "understand.self_harm"
) -> Outcome:
    """Warm words and the crisis lines first; the country asked in the same message."""
    if state.country is None:
        parts: tuple[Part, ...] = (
            T(lead),
            Contacts("INT", urgent=True, crisis_first=True),
            T("understand.self_harm.where"),
        )
    else:
        parts = (
            T(lead),
            Contacts(state.country, urgent=True, crisis_first=True),
            T("understand.self_harm.after"),
        )
    buttons = menus.self_harm_menu(state.country is not None)
    if minor:  # after the countries and the crisis steps: the lines come first here
        buttons = (*buttons, (menus.guide_button(GuideId.UNDER_18),))
    return Outcome(state, (Reply(parts, buttons, in_place),))


def _guide(state: State, guide: GuideId, in_place: bool = False) -> Outcome:
    related = (GuideId.RIGHT_NOW,) if guide is GuideId.SPOTTING_SEXTORTION else ()
    helper = guide is GuideId.HELPING_SOMEONE
    reply = Reply((GuideText(guide.value),), menus.after_guide(related, helper), in_place)
    return Outcome(state, (reply,))


def _crisis(
    state: State, in_place: bool = False, minor: bool = False, lead: str | None = None
) -> Outcome:
    extra: Keyboard = ((menus.guide_button(GuideId.UNDER_18),),) if minor else ()
    first: tuple[Part, ...] = (T(lead),) if lead else ()
    parts: tuple[Part, ...]
    if state.country is None:
        # Complete without a country: the crisis-line directory, then the country choice.
        parts = _danger_parts("INT", first, (T("crisis.where"),))
        buttons = extra + menus.country_menu(CountryFor.CRISIS)
    else:
        parts = _danger_parts(state.country, first)
        buttons = extra + menus.crisis_menu()
    return Outcome(state, (Reply(parts, buttons, in_place),))


def _danger_parts(
    country: str,
    lead: tuple[Part, ...] = (),
    after: tuple[Part, ...] = (),
    helper: bool = False,
) -> tuple[Part, ...]:
    """The danger screen: the emergency number first, the checklist, then the crisis lines.

    A helper reads a checklist for being with the person in danger, not one spoken to them."""
    return (
        Contacts(country, urgent=True, only="emergency", helper=helper),
        *lead,
        T("crisis.checklist.helper" if helper else "crisis.checklist"),
        Contacts(country, urgent=True, only="crisis", helper=helper),
        *after,
    )


def _helplines(state: State, in_place: bool, change: bool = False) -> Outcome:
    if state.country is None or change:
        return _say(state, "helplines.where", menus.country_menu(CountryFor.HELPLINES), in_place)
    parts = (T("helplines.title"), Contacts(state.country, urgent=False))
    return Outcome(state, (Reply(parts, menus.helplines_menu(), in_place),))


def _language(state: State, ctx: Context, code: str, in_place: bool) -> Outcome:
    if code not in ctx.locales:
        return _say(state, "language.choose", menus.language_menu(ctx.locales), in_place)
    chosen = replace(state, locale=code, mode=Mode.IDLE)
    return _say(chosen, "language.set", menus.main_menu(), in_place)


def _start_triage(state: State, in_place: bool = False, helper: bool = False) -> Outcome:
    resuming = state.mode is Mode.TRIAGE and state.answers and not helper
    answers = dict(state.answers) if resuming else {}
    if state.country and not resuming:
        answers[Question.COUNTRY.value] = state.country  # asked once, remembered
    if helper:
        answers[Question.FOR.value] = "helper"
    return _ask(replace(state, mode=Mode.TRIAGE, answers=MappingProxyType(answers)), None, in_place)


def _ask(state: State, prefix: str | None = None, in_place: bool = False) -> Outcome:
    """Ask the next unanswered question, or show the plan when all are answered."""
    helper = state.answers.get(Question.FOR.value) == "helper"
    for question in Question:
        if question.value not in state.answers and needed(question, state.answers):
            key = f"triage.q.{question.value}"
            if helper and question in menus.HELPER_WORDED:
                key += ".helper"
            parts = (*((T(prefix),) if prefix else ()), T(key))
            asked = any(q.value in state.answers for q in Question if q is not Question.FOR)
            buttons = menus.question_menu(question, can_go_back=asked, helper=helper)
            return Outcome(state, (Reply(parts, buttons, in_place),))
    plan = make_plan(state.answers)
    done = replace(state, mode=Mode.IDLE)
    reply = Reply((PlanText(state.answers),), menus.plan_menu(plan.guides), in_place=True)
    return Outcome(done, (reply,))


def _answer(state: State, answer: TriageAnswer) -> Outcome:
    answers = {**state.answers, answer.question.value: answer.answer}
    updated = replace(state, mode=Mode.TRIAGE, answers=MappingProxyType(answers))
    if answer.question is Question.COUNTRY:
        updated = replace(updated, country=answer.answer)
    if answer.question is Question.DANGER and answer.answer == "yes":
        # Safety first: the urgent contacts now; the rest of the questions can wait.
        country = updated.answers.get(Question.COUNTRY.value) or updated.country or "INT"
        helper = updated.answers.get(Question.FOR.value) == "helper"
        parts = _danger_parts(country, helper=helper)
        buttons = ((menus.Button(T("button.continue"), Action.TRIAGE.value),), *menus.crisis_menu())
        return Outcome(updated, (Reply(parts, buttons, in_place=True),))
    return _ask(updated, in_place=True)


def _confirm_proposal(state: State) -> Outcome:
    """Triage with the answers read in the person's words; only the rest is asked."""
    answers = dict(state.proposed)
    if state.country:
        answers[Question.COUNTRY.value] = state.country
    confirmed = replace(
        state, mode=Mode.TRIAGE, answers=MappingProxyType(answers), proposed=MappingProxyType({})
    )
    return _ask(confirmed, in_place=True)


def _back(state: State) -> Outcome:
    answered = [q for q in Question if q.value in state.answers and q is not Question.FOR]
    if not answered:
        return _start_triage(state, in_place=True)
    answers = {k: v for k, v in state.answers.items() if k != answered[-1].value}
    return _ask(replace(state, mode=Mode.TRIAGE, answers=MappingProxyType(answers)), in_place=True)


_COMMANDS: dict[str, Callable[[State, str, Context], Outcome]] = {
    "start": lambda s, _, __: _say(s, "start.intro", menus.main_menu()),
    "menu": lambda s, _, __: _say(s, "menu.title", menus.main_menu()),
    "help": lambda s, _, __: _say(s, "help.text", menus.main_menu()),
    "now": lambda s, _, __: _crisis(s),
    "triage": lambda s, _, __: _start_triage(s),
    "guides": lambda s, _, __: _say(s, "guides.title", menus.guides_menu()),
    "helplines": lambda s, _, __: _helplines(s, in_place=False),
    "language": lambda s, args, ctx: _language(s, ctx, args.strip().lower(), in_place=False),
    "privacy": lambda s, _, __: _guide(s, GuideId.PRIVACY),
    "forget": lambda s, _, __: _say(
        replace(s, mode=Mode.CONFIRM_FORGET), "forget.confirm", menus.forget_confirm()
    ),
    "cancel": lambda s, _, __: _say(s, "cancelled", menus.main_menu()),
    "clear": lambda s, _, __: Outcome(s, effects=(ClearChat(),)),
    "settings": lambda s, _, ctx: _settings(s, ctx),
    "panic": lambda s, _, __: _say(s, "panic.intro", menus.panic_mode_menu()),
    "check": lambda s, args, _: _check(s, args),
}


def _check(state: State, args: str = "", in_place: bool = False) -> Outcome:
    checking = replace(state, mode=Mode.CHECK, check_yes=())
    if args.strip():
        return Outcome(checking, effects=(CheckText(args),))
    return _say(checking, "check.intro", menus.check_menu(), in_place)


def _check_question(state: State, index: int) -> Outcome:
    """Ask question `index`, or add up the answers when all are given."""
    if index >= len(QUESTIONS):
        done = replace(state, mode=Mode.IDLE, check_yes=())
        buttons = menus.check_result_menu(False, _CHECK_GUIDES)
        return Outcome(done, (Reply((CheckResult(state.check_yes),), buttons, True),))
    params = {"step": index + 1, "steps": len(QUESTIONS)}
    parts = (T("check.q.progress", params), T(QUESTIONS[index].key))
    return Outcome(state, (Reply(parts, menus.check_question_menu(index), in_place=True),))


def _settings(state: State, ctx: Context, in_place: bool = False, notice: str = "") -> Outcome:
    seconds = ctx.auto_clear_default if state.auto_clear is None else state.auto_clear
    parts = (
        *((T(notice),) if notice else ()),
        T(
            "settings.title",
            {
                "auto_clear": T(f"auto_clear.{seconds}"),
                "panic": T("settings.panic_on" if state.panic else "settings.panic_off"),
                "silent": T("settings.silent_on" if state.silent else "settings.silent_off"),
            },
        ),
    )
    buttons = menus.settings_menu(state.panic is not None, state.silent)
    return Outcome(state, (Reply(parts, buttons, in_place),))


COMMAND_NAMES: tuple[str, ...] = (*_COMMANDS, "note", "notes")


def _command(state: State, command: Command, ctx: Context) -> Outcome:
    handler = _COMMANDS.get(command.name)
    if handler is None:
        return _say(state, "unknown_command", menus.main_menu())
    return handler(state, command.args, ctx)


def _pressed(state: State, data: str, ctx: Context) -> Outcome:
    target = menus.parse_button(data)
    idle = replace(state, mode=Mode.IDLE)
    match target:
        case GuideId():
            return _guide(idle, target, in_place=True)
        case TriageAnswer():
            # Accepted in any order, even from an old message: the answer is recorded and
            # the next unanswered question follows.
            return _answer(state, target)
        case CountryPick(purpose=CountryFor.CRISIS, country=country):
            return _crisis(replace(idle, country=country), in_place=True)
        case CountryPick(purpose=CountryFor.SELF_HARM, country=country):
            return _self_harm(replace(idle, country=country), in_place=True)
        case CountryPick(country=country):
            return _helplines(replace(idle, country=country), in_place=True)
        case LanguagePick(code=code):
            return _language(idle, ctx, code, in_place=True)
        case Action.TRIAGE:
            return _start_triage(state, in_place=True)
        case Action.TRIAGE_BACK:
            return _back(state)
        case Action.TRIAGE_PROPOSED:
            return _confirm_proposal(state)
        case Action.TRIAGE_FRESH:
            fresh = replace(idle, proposed=MappingProxyType({}))
            return _start_triage(fresh, in_place=True)
        case Action.TRIAGE_HELPER:
            fresh = replace(idle, proposed=MappingProxyType({}))
            return _start_triage(fresh, in_place=True, helper=True)
        case Action.CHECK_TYPED:
            return Outcome(replace(idle, mode=Mode.CHECK, check_yes=()), effects=(CheckTyped(),))
        case Action.MENU:
            return _say(idle, "menu.title", menus.main_menu(), in_place=True)
        case Action.GUIDES:
            return _say(idle, "guides.title", menus.guides_menu(), in_place=True)
        case Action.CRISIS:
            return _crisis(idle, in_place=True)
        case Action.TALK:
            return _self_harm(idle, in_place=True, lead="understand.talk")
        case Action.HELPLINES:
            return _helplines(idle, in_place=True)
        case Action.CHANGE_COUNTRY:
            return _helplines(idle, in_place=True, change=True)
        case Action.LANGUAGE:
            return _say(idle, "language.choose", menus.language_menu(ctx.locales), True)
        case Action.FORGET:
            confirming = replace(state, mode=Mode.CONFIRM_FORGET)
            return _say(confirming, "forget.confirm", menus.forget_confirm())
        case Action.HELP:
            return _say(idle, "help.text", menus.main_menu(), in_place=True)
        case Action.CANCEL:
            return _say(idle, "cancelled", menus.main_menu(), in_place=True)
        case Action.DISMISS:
            return Outcome(idle, effects=(DeleteOrigin(),))
        case Action.CLEAR:
            return Outcome(idle, effects=(ClearChat(),))
        case Action.SETTINGS:
            return _settings(idle, ctx, in_place=True)
        case Action.AUTO_CLEAR:
            return _say(idle, "auto_clear.choose", menus.auto_clear_menu(), in_place=True)
        case AutoClearPick(seconds=seconds):
            chosen = replace(idle, auto_clear=seconds)
            outcome = _settings(chosen, ctx, in_place=True, notice="settings.saved")
            return replace(outcome, effects=(Reschedule(),))
        case Action.PANIC:
            return _say(idle, "panic.intro", menus.panic_mode_menu(), in_place=True)
        case PanicModePick(mode=mode):
            asking = replace(idle, mode=Mode.PANIC_WORD, panic_mode=mode)
            return _say(asking, "panic.choose", menus.cancel_menu(), in_place=True)
        case Action.PANIC_REMOVE:
            return _settings(replace(idle, panic=None), ctx, True, notice="panic.removed")
        case Action.CHECK:
            return _check(idle, in_place=True)
        case Action.CHECK_QUESTIONS:
            return _check_question(replace(idle, check_yes=()), 0)
        case CheckAnswer(index=index, yes=yes) if index < len(QUESTIONS):
            flag = str(QUESTIONS[index].flag)
            answered = tuple(f for f in idle.check_yes if f != flag) + ((flag,) if yes else ())
            return _check_question(replace(idle, check_yes=answered), index + 1)
        case Action.SILENT:
            return _settings(replace(idle, silent=not idle.silent), ctx, True, "settings.saved")
    # Unknown data, or "yes, erase" pressed when no erase was asked for: stale or forged.
    return _say(idle, "button.stale", menus.main_menu())
