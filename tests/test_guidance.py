"""Guidance: a plan for every situation, guides in three taps, the crisis path everywhere."""

from __future__ import annotations

import itertools
from collections import deque
from pathlib import Path

import pytest

from safetybot.core.events import Command, Incoming, Pressed, Text
from safetybot.core.flow import HINT_MINOR, Context, Mode, State, step
from safetybot.core.menus import ANSWERS, GuideId, Question
from safetybot.core.plan import Route, make_plan
from safetybot.core.replies import Contacts, GuideText, PlanText, Reply, T
from safetybot.core.service import Service
from safetybot.core.signals import Signals
from safetybot.guidance.resources import Ages, Country, Directory, Kind
from safetybot.i18n import Texts
from safetybot.markup import Format, render, split, visible_length
from tests.conftest import Chat, RecordingFrontEnd
from tests.fakebotapi import parse_html

CONTEXT = Context(locales=("en", "es"))
REMOVAL_ROUTES = {Route.STOPNCII, Route.TAKE_IT_DOWN, Route.REPORT_REMOVE, Route.ESAFETY}


def _asked(answers: dict[str, str]) -> dict[str, str]:
    """The answers a triage can end with: someone under 18 now is not asked the images' age."""
    if answers["n"] == "minor":
        return {k: v for k, v in answers.items() if k != "a"}
    return answers


ALL_ANSWERS = list(
    {
        tuple(sorted(_asked(dict(zip([q.value for q in Question], combo, strict=True))).items())): 0
        for combo in itertools.product(*(ANSWERS[q] for q in Question))
    }
)
ALL_ANSWERS = [dict(answers) for answers in ALL_ANSWERS]  # type: ignore[misc]


def test_every_situation_gets_a_removal_route_and_a_local_contact(directory: Directory) -> None:
    # who asks x country x danger x situation x who x paid x (adult now: 3 ages in the images,
    # under 18 now: 1)
    assert len(ALL_ANSWERS) == 2 * 9 * 2 * 4 * 3 * 2 * (3 + 1)
    for answers in ALL_ANSWERS:
        plan = make_plan(answers)
        assert REMOVAL_ROUTES & set(plan.routes), answers
        country = Country(answers["c"])
        block = plan.contacts[-1]
        found = directory.find(
            country,
            kinds=[Kind(k) for k in block.kinds],
            age=Ages(block.age) if block.age else None,
            include_international=False,
        )
        assert found and all(r.country is country for r in found), answers
        if answers["d"] == "yes":
            suffix = ".helper" if answers["f"] == "helper" else ""
            danger, routes = f"plan.danger{suffix}", f"plan.routes{suffix}"
            assert plan.blocks.index(danger) < plan.blocks.index(routes)


def test_images_taken_under_18_always_route_to_take_it_down_never_only_stopncii() -> None:
    for answers in ALL_ANSWERS:
        routes = make_plan(answers).routes
        if answers.get("a", "minor") == "minor":
            assert Route.TAKE_IT_DOWN in routes and Route.STOPNCII not in routes
        if answers.get("a") == "adult":
            assert Route.STOPNCII in routes and Route.TAKE_IT_DOWN not in routes


async def test_every_plan_renders_to_valid_telegram_html_in_every_language(
    service: Service,
) -> None:
    for answers, locale in itertools.product(ALL_ANSWERS, ("en", "es")):
        outgoing = service._render(locale, Reply((PlanText(answers),)))
        html = render(outgoing.markdown, Format.TELEGRAM_HTML)
        messages = split(html, 4096, visible_length)
        assert len(messages) == 1, answers  # a plan fits in one Telegram message
        parse_html(messages[0])


def _screens() -> list[tuple[int, State, Reply]]:
    """Every screen reachable from /start by pressing buttons, with its depth in taps."""
    start = step(State(), Command("start"), CONTEXT)
    queue = deque((0, start.state, reply) for reply in start.replies)
    seen: set[tuple[str, ...]] = set()
    screens = []
    while queue:
        depth, state, reply = queue.popleft()
        key = (repr(sorted(state.answers.items())), state.mode, repr(reply))
        if key in seen or depth > 8:
            continue
        seen.add(key)
        screens.append((depth, state, reply))
        for row in reply.buttons:
            for button in row:
                outcome = step(state, Pressed(button.data), CONTEXT)
                queue.extend((depth + 1, outcome.state, r) for r in outcome.replies)
    return screens


def test_every_guide_is_reachable_from_start_within_three_taps() -> None:
    reached = {
        part.guide_id
        for depth, _, reply in _screens()
        if depth <= 3
        for part in reply.parts
        if isinstance(part, GuideText)
    }
    assert reached == {guide.value for guide in GuideId}


def test_the_crisis_path_is_one_tap_from_every_screen() -> None:
    def is_crisis(reply: Reply) -> bool:
        # A helper's danger screen has its own checklist, for being with the person.
        return any(T(key) in reply.parts for key in ("crisis.checklist", "crisis.checklist.helper"))

    for _, state, reply in _screens():
        if is_crisis(reply):
            continue
        taps = [
            step(state, Pressed(button.data), CONTEXT) for row in reply.buttons for button in row
        ]
        assert any(is_crisis(r) for t in taps for r in t.replies), reply.parts


def test_a_triage_reaches_a_plan_in_six_taps() -> None:
    outcome = step(State(), Pressed("t"), CONTEXT)
    taps = 1
    for data in ("t:c:GB", "t:d:no", "t:s:shared", "t:n:minor", "t:w:known", "t:p:no"):
        outcome = step(outcome.state, Pressed(data), CONTEXT)
        taps += 1
    parts = outcome.replies[0].parts
    assert isinstance(parts[0], PlanText) and taps == 7
    assert outcome.state.country == "GB" and outcome.state.mode is Mode.IDLE


def test_back_undoes_the_last_answer_and_answers_may_come_out_of_order() -> None:
    state = step(State(), Pressed("t"), CONTEXT).state
    state = step(state, Pressed("t:c:US"), CONTEXT).state
    back = step(state, Pressed("tb"), CONTEXT)
    assert "c" not in back.state.answers
    assert back.replies[0].parts == (T("triage.q.c"),)
    # An answer from an old message is recorded, and the next open question follows.
    late = step(State(), Pressed("t:a:adult"), CONTEXT)
    assert late.state.answers == {"a": "adult"}
    assert late.replies[0].parts == (T("triage.q.c"),)


def test_the_country_is_asked_once_and_remembered() -> None:
    state = step(State(country="AU"), Pressed("t"), CONTEXT)
    assert state.replies[0].parts == (T("triage.q.d"),)


def test_in_danger_shows_urgent_contacts_before_anything_else() -> None:
    state = State(mode=Mode.TRIAGE, answers={"c": "US"})
    outcome = step(state, Pressed("t:d:yes"), CONTEXT)
    assert outcome.replies[0].parts == (
        Contacts("US", urgent=True, only="emergency"),
        T("crisis.checklist"),
        Contacts("US", urgent=True, only="crisis"),
    )
    resumed = step(outcome.state, Pressed("t"), CONTEXT)
    assert resumed.replies[0].parts == (T("triage.q.s"),)


def test_typing_in_triage_asks_again_without_losing_answers() -> None:
    state = State(mode=Mode.TRIAGE, answers={"c": "US", "d": "no"})
    outcome = step(state, Text("what do i do"), CONTEXT)
    assert outcome.state.answers == state.answers
    assert outcome.replies[0].parts == (T("triage.use_buttons"), T("triage.q.s"))


_n = itertools.count(1)


def _said(text: str, language: str = "en") -> Incoming:
    return Incoming("test", "42", "42", Text(text), next(_n), None, language)


@pytest.mark.parametrize(
    "words",
    ["help", "HELP ME please", "ayuda", "es urgente", "Socorro!", "tengo 10 minutos para pagar"],
)
async def test_crisis_words_open_the_crisis_path(
    service: Service, front: RecordingFrontEnd, words: str
) -> None:
    await service.handle(_said(words), front)
    assert "next ten minutes" in front.texts[-1] or "diez minutos" in front.texts[-1]


async def test_helpful_is_not_help_and_a_note_saying_help_is_kept(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(_said("that was helpful"), front)
    assert "next ten minutes" not in front.texts[-1]
    chat = Chat(service, front, "42")
    await chat.turn_on_vault("a long passphrase")
    await chat.press("v:new")
    assert "When did it happen" in await chat.say("he said nobody will help me")


@pytest.mark.parametrize(
    "words",
    [
        "im 15 and scared",
        "I’m 16",
        "tengo 14 años",
        "high school",
        # Each language's ways, as the other had them (7 December).
        "tengo 15 y me está amenazando",
        "im only 14 pls",
        "i just turned 16",
        "estoy en 2º de ESO",
        "im in year 9",
    ],
)
async def test_words_that_show_someone_is_under_18_bring_that_guide_forward(
    service: Service, front: RecordingFrontEnd, words: str
) -> None:
    await service.handle(_said(words), front)
    offered = [data for row in front.last.buttons for _, data in row]
    assert f"g:{GuideId.UNDER_18.value}" in offered


async def test_adults_stating_their_age_are_not_taken_for_minors(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(_said("im 25 and scared"), front)
    assert all(b[1] != f"g:{GuideId.UNDER_18.value}" for row in front.last.buttons for b in row)


async def test_language_comes_from_the_messenger_and_can_be_changed(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(Incoming("test", "7", "7", Command("start"), 1, None, "es-MX"), front)
    assert "No es tu culpa" in front.texts[-1] or "no es tu culpa" in front.texts[-1]
    await service.handle(
        Incoming("test", "7", "7", Command("language", "en"), 2, None, "es"), front
    )
    await service.handle(Incoming("test", "7", "7", Command("start"), 3, None, "es"), front)
    assert "not your fault" in front.texts[-1]
    # An unknown code offers the choices instead.
    await service.handle(
        Incoming("test", "7", "7", Command("language", "xx"), 4, None, "es"), front
    )
    labels = [label for row in front.last.buttons for label, _ in row]
    assert "English" in labels and "Español" in labels


async def test_helplines_list_the_organizations_own_entry_first(
    tmp_path: Path, service: Service, texts: object, front: RecordingFrontEnd
) -> None:
    own = tmp_path / "own.toml"
    own.write_text(
        '[[resource]]\nid = "us-ourline"\ncountry = "US"\nname = "Our Hotline"\n'
        'kinds = ["support"]\nphone = "+15550100100"\n'
        'helps_with = { en = "Our team, day and night.", es = "Nuestro equipo." }\n'
        'ages = "any"\nlanguages = ["en"]\n'
    )
    from safetybot.ops.config import default_locales_dir

    directory = Directory.load(default_locales_dir() / "resources.toml", own, locales=("en", "es"))
    ours = Service(service._records, service._keyring, service.texts, directory)  # type: ignore[arg-type]
    await ours.handle(Incoming("test", "8", "8", Pressed("hc:US"), None, 5, "en"), front)
    listing = front.texts[-1]
    assert listing.index("Our Hotline") < listing.index("Cyber Civil Rights")


@pytest.mark.parametrize(
    "words",
    ["vos sos mi amiga", "hace 15 años", "im 15 minutes away"],
)
async def test_ordinary_phrases_are_not_taken_for_crisis_or_age(
    service: Service, front: RecordingFrontEnd, words: str
) -> None:
    await service.handle(_said(words, "es"), front)
    assert "diez minutos" not in front.texts[-1] and "next ten minutes" not in front.texts[-1]
    assert all(b[1] != f"g:{GuideId.UNDER_18.value}" for row in front.last.buttons for b in row)


def test_a_number_of_minutes_or_money_after_tengo_is_not_an_age(texts: Texts) -> None:
    signals = Signals.from_texts(texts)
    assert signals.hints("tengo 15 y me amenaza") == frozenset({HINT_MINOR})
    for words in ("tengo 15 minutos", "tengo 15 mil pesos", "tengo 20", "i turned 30"):
        assert not signals.hints(words), words


async def test_the_organizations_default_country_is_assumed_until_the_person_says(
    store: object, keyring: object, texts: object, directory: object
) -> None:
    from safetybot.i18n import Texts
    from safetybot.store import Store
    from safetybot.vault.crypto import Keyring

    assert isinstance(store, Store) and isinstance(keyring, Keyring)
    assert isinstance(texts, Texts) and isinstance(directory, Directory)
    service = Service(store, keyring, texts, directory, default_country="GB")
    front = RecordingFrontEnd()
    await service.handle(Incoming("test", "9", "9", Command("now"), 1, None, "en"), front)
    assert "Samaritans" in front.texts[-1]


# ------------------------------------------------------- issue 17: lines and the danger screen


def _press(user: str, data: str, n: int, language: str = "en") -> Incoming:
    return Incoming("test", user, user, Pressed(data), None, n, language)


@pytest.mark.parametrize(
    ("code", "name"), [("ES", "Spain"), ("MX", "Mexico"), ("AR", "Argentina"), ("CO", "Colombia")]
)
async def test_the_country_picker_offers_the_spanish_speaking_countries(
    service: Service, front: RecordingFrontEnd, code: str, name: str
) -> None:
    await service.handle(_press("21", "hl", 1), front)
    offered = {data: label for row in front.last.buttons for label, data in row}
    assert offered[f"hc:{code}"] == name
    await service.handle(_press("21", f"hc:{code}", 2), front)
    assert "Somewhere else" not in front.texts[-1]
    assert "Not safe right now? Call your local emergency number" not in front.texts[-1]


async def test_a_spanish_speaker_in_mexico_gets_the_line_of_life_as_dialled_in_mexico(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(_press("22", "cc:MX", 1, "es-MX"), front)
    danger = front.texts[-1]
    assert "800 911 2000" in danger and "+52" not in danger
    assert (
        danger.splitlines()[0].replace("**", "") == "¿No estás a salvo ahora mismo? Llama al 911."
    )


async def test_a_uk_teen_sees_childline_as_dialled_in_the_uk(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(_press("23", "hc:GB", 1), front)
    assert "0800 1111" in front.texts[-1] and "+44" not in front.texts[-1]


@pytest.mark.parametrize(
    ("code", "first"),
    [("US", "Call 911"), ("GB", "Call 999"), ("AU", "Call 000"), ("ES", "Call 112")],
)
async def test_the_danger_screen_starts_with_the_emergency_number(
    service: Service, front: RecordingFrontEnd, code: str, first: str
) -> None:
    await service.handle(_press("24", f"cc:{code}", 1), front)
    assert front.texts[-1].splitlines()[0].replace("**", "") == f"Not safe right now? {first}."


async def test_the_danger_screen_without_a_country_ends_in_something_to_do(
    service: Service, front: RecordingFrontEnd
) -> None:
    await service.handle(Incoming("test", "25", "25", Command("now"), 1, None, "en"), front)
    shown = front.texts[-1]
    assert (
        shown.splitlines()[0].replace("**", "")
        == "Not safe right now? Call your local emergency number."
    )
    assert "now:" not in shown and "Okay." not in shown
    # The checklist points to lines that are there: the directory of crisis lines.
    assert shown.index("lines below") < shown.index("Find A Helpline") < shown.index("Choose")
    assert shown.rstrip().endswith("lists free crisis lines for most countries.")
    offered = [data for row in front.last.buttons for _, data in row]
    assert "cc:ES" in offered and "cc:INT" in offered


async def test_helplines_list_domestic_abuse_advocates(
    service: Service, front: RecordingFrontEnd
) -> None:
    for n, (code, line) in enumerate(
        [
            ("US", "National Domestic Violence Hotline"),
            ("GB", "0808 2000 247"),
            ("AU", "1800 737 732"),
            ("ES", "016"),
            ("AR", "144"),
            ("CO", "155"),
        ],
        start=1,
    ):
        await service.handle(_press("26", f"hc:{code}", n), front)
        assert line in front.texts[-1], code


def _plan_text(service: Service, answers: dict[str, str]) -> str:
    outgoing = service._render("en", Reply((PlanText(answers),)))
    return "\n".join(render(outgoing.markdown, Format.PLAIN))


def test_uk_police_appear_in_an_adults_plan_and_ceop_in_a_teens(service: Service) -> None:
    base = {"c": "GB", "d": "no", "s": "threat", "w": "stranger", "p": "no"}
    adult = _plan_text(service, {**base, "n": "adult", "a": "adult"})
    teen = _plan_text(service, {**base, "n": "minor"})
    assert "Police (non-emergency)" in adult and "Call 101" in adult and "CEOP" not in adult
    assert "CEOP" in teen and "Call 101" not in teen
    known = _plan_text(service, {**base, "n": "adult", "a": "adult", "w": "known"})
    assert "National Domestic Abuse Helpline" in known
    assert "National Domestic Abuse Helpline" not in adult
