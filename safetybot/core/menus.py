"""Menus, guides, triage questions and button ids as named, stable data.

Button data is short and opaque ("n", "g:right_now", "t:a:minor"): it names an action, never
carries text a person typed, and stays valid across restarts. `parse_button` maps it back to a
typed target; anything it does not recognise is treated as stale or forged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from safetybot.core.replies import Button, GuideText, Keyboard, T

__all__ = [
    "ANSWERS",
    "AUTO_CLEAR_CHOICES",
    "COUNTRIES",
    "GUIDE_ORDER",
    "HELPER_WORDED",
    "Action",
    "AutoClearPick",
    "Button",
    "CheckAnswer",
    "CountryFor",
    "CountryPick",
    "GuideId",
    "LanguagePick",
    "PanicModePick",
    "Question",
    "Target",
    "TriageAnswer",
    "guide_button",
    "needed",
    "parse_button",
]


class GuideId(StrEnum):
    """Every guide; the value is the guide's file name in locales/<code>/guides/."""

    RIGHT_NOW = "right_now"
    SPOTTING_SEXTORTION = "spotting_sextortion"
    SOMEONE_YOU_KNOW = "someone_you_know"
    IMAGES_SHARED = "images_shared"
    REPORTING = "reporting"
    NO_CONSENT = "no_consent"
    DOCUMENTING = "documenting"
    UNDER_18 = "under_18"
    SUPPORT = "support"
    ABOUT_IBSA = "about_ibsa"
    DEEPFAKES = "deepfakes"
    SEXTING_SAFETY = "sexting_safety"
    HELPING_SOMEONE = "helping_someone"
    PRIVACY = "privacy"


# The order people see: the urgent and the most asked-for first.
GUIDE_ORDER: tuple[GuideId, ...] = tuple(GuideId)

# Countries the directory covers, in the order offered; "INT" is "somewhere else".
COUNTRIES: tuple[str, ...] = ("US", "GB", "CA", "AU", "ES", "MX", "AR", "CO", "INT")


class Action(StrEnum):
    """Button ids that need no argument."""

    MENU = "m"
    GUIDES = "gl"
    FORGET = "f"
    FORGET_YES = "fy"
    CANCEL = "c"
    HELP = "h"
    DISMISS = "x"
    CRISIS = "!"
    TRIAGE = "t"
    TRIAGE_BACK = "tb"
    HELPLINES = "hl"
    CHANGE_COUNTRY = "hx"
    LANGUAGE = "lg"
    CLEAR = "cl"
    SETTINGS = "st"
    AUTO_CLEAR = "ac"
    PANIC = "pw"
    PANIC_REMOVE = "px"
    SILENT = "sl"
    CHECK = "k"
    CHECK_QUESTIONS = "kq"
    CHECK_SAVE = "v:chk"
    # Offered after reading typed words: check the message just pasted, the plan with what
    # the words already said, or a plan from the start.
    CHECK_TYPED = "kt"
    TRIAGE_PROPOSED = "tp"
    TRIAGE_FRESH = "tn"
    # A plan for someone helping another person (a parent, a friend, a partner, an advocate).
    TRIAGE_HELPER = "th"
    # Under words the bot could not place: the crisis lines for someone in pain, so a cry of
    # despair in wording nobody wrote down is still one tap from them, never only a menu.
    TALK = "tk"


class Question(StrEnum):
    """The triage questions, in the order they are asked (FOR is never asked: a button sets it)."""

    FOR = "f"  # who is asking: the person it happens to ("self") or someone helping ("helper")
    COUNTRY = "c"
    DANGER = "d"
    SITUATION = "s"
    AGE_NOW = "n"  # are they under 18 today (Report Remove, who to tell)
    AGE = "a"  # how old they were in the images (Take It Down or StopNCII); kept as "a"
    WHO = "w"
    PAID = "p"


# Each question's answers, in the order shown. Values are stable: they are stored in state.
ANSWERS: dict[Question, tuple[str, ...]] = {
    Question.FOR: ("self", "helper"),
    Question.COUNTRY: COUNTRIES,
    Question.DANGER: ("no", "yes"),
    Question.SITUATION: ("threat", "shared", "deepfake", "unsure"),
    Question.AGE_NOW: ("adult", "minor"),
    Question.AGE: ("adult", "minor", "unsure"),
    Question.WHO: ("stranger", "known", "unsure"),
    Question.PAID: ("no", "yes"),
}

# Questions whose wording and answer labels change for someone helping another person:
# the text keys gain ".helper" ("triage.q.s.helper", "triage.s.shared.helper").
HELPER_WORDED: frozenset[Question] = frozenset(
    {
        Question.DANGER,
        Question.SITUATION,
        Question.AGE_NOW,
        Question.AGE,
        Question.WHO,
        Question.PAID,
    }
)


def needed(question: Question, answers: Mapping[str, str]) -> bool:
    """Whether triage still has to ask this question, given the answers so far."""
    if question is Question.FOR:
        return False  # set by the helper's buttons, never asked
    if question is Question.AGE_NOW:
        # Images taken at 18 or older: the person is an adult now.
        return answers.get(Question.AGE.value) != "adult"
    if question is Question.AGE:
        # Under 18 today: the images were taken under 18 too.
        return answers.get(Question.AGE_NOW.value) != "minor"
    return True


@dataclass(frozen=True)
class TriageAnswer:
    """One answer to one triage question."""

    question: Question
    answer: str


class CountryFor(StrEnum):
    """What a country was picked for."""

    CRISIS = "cc"
    HELPLINES = "hc"
    SELF_HARM = "cs"


@dataclass(frozen=True)
class CountryPick:
    """A country chosen for the crisis path or the helplines list."""

    purpose: CountryFor
    country: str


@dataclass(frozen=True)
class LanguagePick:
    """A language chosen from the language menu."""

    code: str


@dataclass(frozen=True)
class AutoClearPick:
    """An auto-clear timer chosen in the settings (seconds; 0 is off)."""

    seconds: int


@dataclass(frozen=True)
class PanicModePick:
    """What the panic word will do."""

    mode: str


# The auto-clear choices, all inside Telegram's 48-hour deletion window.
AUTO_CLEAR_CHOICES: tuple[int, ...] = (0, 300, 1800, 3600, 43200, 86400)
PANIC_MODES: tuple[str, ...] = ("forget", "clear")


@dataclass(frozen=True)
class CheckAnswer:
    """A yes or no to one question of the red-flag questionnaire."""

    index: int
    yes: bool


Target = (
    Action
    | GuideId
    | TriageAnswer
    | CountryPick
    | LanguagePick
    | AutoClearPick
    | PanicModePick
    | CheckAnswer
)

_GUIDE = "g:"
_TRIAGE = "t:"
_LANGUAGE = "l:"


def parse_button(data: str) -> Target | None:
    """Map button data back to what it names; None for anything unknown (stale or forged)."""
    head, sep, rest = data.partition(":")
    if not sep:
        try:
            return Action(data)
        except ValueError:
            return None
    if data.startswith(_GUIDE):
        return GuideId(rest) if rest in GuideId._value2member_map_ else None
    if data.startswith(_TRIAGE):
        key, _, answer = rest.partition(":")
        question = Question(key) if key in Question._value2member_map_ else None
        if question is not None and answer in ANSWERS[question]:
            return TriageAnswer(question, answer)
        return None
    if data.startswith(_LANGUAGE):
        # Whether the locale is shipped is checked by the flow, which knows the locales.
        return LanguagePick(rest) if rest.isascii() and rest.isalpha() and len(rest) <= 8 else None
    if head in CountryFor._value2member_map_ and rest in COUNTRIES:
        return CountryPick(CountryFor(head), rest)
    if head == "ac" and rest.isdecimal() and int(rest) in AUTO_CLEAR_CHOICES:
        return AutoClearPick(int(rest))
    if head == "pm" and rest in PANIC_MODES:
        return PanicModePick(rest)
    if head == "kq":
        index, _, answer = rest.partition(":")
        if index.isdecimal() and len(index) <= 2 and answer in ("y", "n"):
            return CheckAnswer(int(index), answer == "y")
    return None


def _button(key: str, action: Action) -> Button:
    return Button(T(key), action.value)


def guide_button(guide: GuideId) -> Button:
    """A button that opens a guide, labelled with the guide's title."""
    return Button(GuideText(guide.value), f"{_GUIDE}{guide.value}")


def crisis_row() -> tuple[Button, ...]:
    """The crisis path, one tap from every menu."""
    return (_button("button.crisis", Action.CRISIS),)


def talk_row() -> tuple[Button, ...]:
    """The "Talk to someone now" row: the crisis lines first, for despair nothing else placed."""
    return (_button("button.talk", Action.TALK),)


def menu_row() -> tuple[Button, ...]:
    """Back to the main menu."""
    return (_button("button.menu", Action.MENU),)


def main_menu() -> Keyboard:
    """The menu shown at /start and after most actions."""
    return (
        crisis_row(),
        (_button("button.triage", Action.TRIAGE), _button("button.check", Action.CHECK)),
        (_button("button.guides", Action.GUIDES), _button("button.helplines", Action.HELPLINES)),
        (Button(T("button.note"), "v:new"), Button(T("button.notes"), "v")),
        (_button("button.help", Action.HELP), _button("button.language", Action.LANGUAGE)),
        (_button("button.settings", Action.SETTINGS),),
    )


def check_menu() -> Keyboard:
    """While checking messages: the questionnaire instead, or back."""
    return (
        (_button("button.check_questions", Action.CHECK_QUESTIONS),),
        (_button("button.menu", Action.MENU),),
        crisis_row(),
    )


def check_result_menu(can_save: bool, guides: tuple[GuideId, ...], talk: bool = False) -> Keyboard:
    """Under a check: save the message as a note, guides that fit, check another (and "Talk
    to someone now" first when the message urges the reader to hurt themselves)."""
    rows: list[tuple[Button, ...]] = [talk_row()] if talk else []
    if can_save:
        rows.append((Button(T("button.check_save"), Action.CHECK_SAVE.value),))
    rows += [(guide_button(guide),) for guide in guides]
    rows.append((_button("button.check_again", Action.CHECK), _button("button.menu", Action.MENU)))
    rows.append(crisis_row())
    return tuple(rows)


def check_report_menu(talk: bool = False) -> Keyboard:
    """Under "this sounds like sextortion happening to you": a plan, what to do now (and
    "Talk to someone now" first when the words speak of self-harm)."""
    return (
        *([talk_row()] if talk else []),
        (_button("button.triage", Action.TRIAGE),),
        (guide_button(GuideId.RIGHT_NOW),),
        (_button("button.check_again", Action.CHECK), _button("button.menu", Action.MENU)),
        crisis_row(),
    )


def check_question_menu(index: int) -> Keyboard:
    """Yes and no to one questionnaire question."""
    return (
        (Button(T("button.yes"), f"kq:{index}:y"), Button(T("button.no"), f"kq:{index}:n")),
        (_button("button.menu", Action.MENU),),
        crisis_row(),
    )


def erase_row() -> tuple[Button, ...]:
    """Both levels of erase, added by the service under every screen."""
    return (_button("button.clear", Action.CLEAR), _button("button.forget", Action.FORGET))


def settings_menu(panic_set: bool, silent: bool) -> Keyboard:
    """Discretion settings: auto-clear, panic word, silent messages."""
    panic: tuple[Button, ...] = (_button("button.panic_set", Action.PANIC),)
    if panic_set:
        panic = (
            _button("button.panic_change", Action.PANIC),
            _button("button.panic_remove", Action.PANIC_REMOVE),
        )
    silent_key = "button.silent_off" if silent else "button.silent_on"
    return (
        (_button("button.auto_clear", Action.AUTO_CLEAR),),
        panic,
        (_button(silent_key, Action.SILENT),),
        (_button("button.menu", Action.MENU),),
        crisis_row(),
    )


def auto_clear_menu() -> Keyboard:
    """The auto-clear timers."""
    rows: list[tuple[Button, ...]] = [
        (Button(T(f"auto_clear.{seconds}"), f"ac:{seconds}"),) for seconds in AUTO_CLEAR_CHOICES
    ]
    rows.append((_button("button.back", Action.SETTINGS),))
    rows.append(crisis_row())
    return tuple(rows)


def panic_mode_menu() -> Keyboard:
    """What the panic word does."""
    return (
        (Button(T("button.panic_forget"), "pm:forget"),),
        (Button(T("button.panic_clear"), "pm:clear"),),
        (_button("button.back", Action.SETTINGS),),
        crisis_row(),
    )


def guides_menu() -> Keyboard:
    """One button per guide, then a way back."""
    rows: list[tuple[Button, ...]] = [crisis_row()]
    rows += [(guide_button(guide),) for guide in GUIDE_ORDER]
    rows.append(menu_row())
    return tuple(rows)


def after_guide(extra: tuple[GuideId, ...] = (), helper_plan: bool = False) -> Keyboard:
    """Under a guide: a plan for a helper (under the helper's guide), related guides, then
    back to the guides and to the menu."""
    rows: list[tuple[Button, ...]] = []
    if helper_plan:
        rows.append((_button("button.triage_helper", Action.TRIAGE_HELPER),))
    rows += [(guide_button(guide),) for guide in extra]
    rows.append((_button("button.guides", Action.GUIDES), _button("button.menu", Action.MENU)))
    rows.append(crisis_row())
    return tuple(rows)


def cancel_menu() -> Keyboard:
    """While typing something: cancel, and the crisis path."""
    return ((_button("button.cancel", Action.CANCEL),), crisis_row())


def forget_confirm() -> Keyboard:
    """The one confirmation before erasing everything."""
    return (
        (_button("button.forget_yes", Action.FORGET_YES),),
        (_button("button.forget_no", Action.CANCEL),),
        crisis_row(),
    )


def question_menu(question: Question, can_go_back: bool, helper: bool = False) -> Keyboard:
    """A triage question's answers, then back, menu and the crisis path.

    For someone helping another person the labels speak about them ("Images of them were
    shared"); the situation question also offers the way into that wording."""
    suffix = ".helper" if helper and question in HELPER_WORDED else ""

    def label(answer: str) -> T:
        if question is Question.COUNTRY:
            return T(f"country.{answer}")
        return T(f"triage.{question.value}.{answer}{suffix}")

    rows: list[tuple[Button, ...]] = [
        (Button(label(answer), f"{_TRIAGE}{question.value}:{answer}"),)
        for answer in ANSWERS[question]
    ]
    if question is Question.SITUATION and not helper:
        rows.append((Button(T("triage.f.helper"), f"{_TRIAGE}{Question.FOR.value}:helper"),))
    last = [_button("button.back", Action.TRIAGE_BACK)] if can_go_back else []
    rows.append((*last, _button("button.menu", Action.MENU)))
    if question is not Question.DANGER:
        rows.append(crisis_row())
    return tuple(rows)


def country_menu(purpose: CountryFor) -> Keyboard:
    """Pick a country, for the crisis path or the helplines."""
    rows: list[tuple[Button, ...]] = [
        (Button(T(f"country.{code}"), f"{purpose.value}:{code}"),) for code in COUNTRIES
    ]
    rows.append(menu_row())
    if purpose is CountryFor.HELPLINES:
        rows.append(crisis_row())
    return tuple(rows)


def helplines_menu() -> Keyboard:
    """Under the helplines: change the country, back."""
    return (
        (_button("button.change_country", Action.CHANGE_COUNTRY),),
        menu_row(),
        crisis_row(),
    )


def crisis_menu() -> Keyboard:
    """Under the crisis checklist: the full steps, a plan, helplines, the menu."""
    return (
        (guide_button(GuideId.RIGHT_NOW),),
        (_button("button.triage", Action.TRIAGE),),
        (_button("button.helplines", Action.HELPLINES), _button("button.menu", Action.MENU)),
    )


def language_menu(locales: tuple[str, ...]) -> Keyboard:
    """One button per shipped language, labelled in that language."""
    rows: list[tuple[Button, ...]] = [
        (Button(T("language.name", locale=code), f"{_LANGUAGE}{code}"),) for code in locales
    ]
    rows += [menu_row(), crisis_row()]
    return tuple(rows)


def plan_menu(guides: tuple[GuideId, ...]) -> Keyboard:
    """Under a plan: the guides that fit, helplines, the menu."""
    rows: list[tuple[Button, ...]] = [(guide_button(guide),) for guide in guides]
    rows.append(
        (_button("button.helplines", Action.HELPLINES), _button("button.menu", Action.MENU))
    )
    rows.append(crisis_row())
    return tuple(rows)


def understood_menu(check_typed: bool = False) -> Keyboard:
    """What the bot can do, for words it could not place: the top choices (with `check_typed`,
    "Check this message" for the words just typed instead of "Check a message")."""
    check = (
        _button("button.check_typed", Action.CHECK_TYPED)
        if check_typed
        else _button("button.check", Action.CHECK)
    )
    return (
        crisis_row(),
        talk_row(),
        (_button("button.triage", Action.TRIAGE), check),
        (_button("button.guides", Action.GUIDES), _button("button.helplines", Action.HELPLINES)),
        (Button(T("button.notes"), "v"),),
    )


def self_harm_menu(country_known: bool) -> Keyboard:
    """Under the crisis lines for someone in pain: few choices, no menu to wade through."""
    rows: list[tuple[Button, ...]] = []
    if not country_known:
        rows += [
            (Button(T(f"country.{code}"), f"{CountryFor.SELF_HARM.value}:{code}"),)
            for code in COUNTRIES
        ]
    rows.append((_button("button.crisis_steps", Action.CRISIS),))
    rows.append(
        (_button("button.helplines", Action.HELPLINES), _button("button.menu", Action.MENU))
    )
    return tuple(rows)


def proposal_menu(guides: tuple[GuideId, ...]) -> Keyboard:
    """Under "is that right?": the plan from what was said, or from the start, and guides."""
    rows: list[tuple[Button, ...]] = [
        (_button("button.plan_yes", Action.TRIAGE_PROPOSED),),
        (_button("button.plan_fresh", Action.TRIAGE_FRESH),),
    ]
    rows += [(guide_button(guide),) for guide in guides]
    rows.append(crisis_row())
    return tuple(rows)


def helper_menu() -> Keyboard:
    """For someone helping another person: their guide, a plan for them, helplines."""
    return (
        (guide_button(GuideId.HELPING_SOMEONE),),
        (
            _button("button.triage_helper", Action.TRIAGE_HELPER),
            _button("button.helplines", Action.HELPLINES),
        ),
        (_button("button.menu", Action.MENU),),
        crisis_row(),
    )


def erase_menu() -> Keyboard:
    """The two levels of erase, explained; the panic word; nothing erased without a press."""
    return (
        (_button("button.clear", Action.CLEAR),),
        (_button("button.forget", Action.FORGET),),
        (_button("button.panic_set", Action.PANIC), _button("button.menu", Action.MENU)),
        crisis_row(),
    )


def pasted_menu() -> Keyboard:
    """Offer to check a message that looks like someone else's words."""
    return (
        (_button("button.check_typed", Action.CHECK_TYPED),),
        (_button("button.menu", Action.MENU),),
        crisis_row(),
    )


def dismiss() -> Keyboard:
    """A single button that deletes the message it is on."""
    return ((_button("button.dismiss", Action.DISMISS),),)
