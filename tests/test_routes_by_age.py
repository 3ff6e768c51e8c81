"""Issue 17: the plan a person reads follows their age now, their age in the images, the
situation and who is asking (the person it happens to, or someone helping them)."""

from __future__ import annotations

import pytest

from safetybot.core.menus import GuideId
from safetybot.core.replies import PlanText, Reply
from safetybot.core.service import Service
from safetybot.markup import Format, render
from tests.conftest import Chat, RecordingFrontEnd

BASE = {"d": "no", "w": "stranger", "p": "no"}
# What the texts say, in each language, for the checks below.
WORDS = {
    "en": {
        "tell_adult": "tell an adult",
        "own_plan": "Your plan.",
        "helper_plan": "A plan to help them.",
        "google": "Google Search",
    },
    "es": {
        "tell_adult": "persona adulta de confianza",
        "own_plan": "Tu plan.",
        "helper_plan": "Un plan para ayudarle.",
        "google": "Búsqueda de Google",
    },
}


def _plan(service: Service, answers: dict[str, str], locale: str = "en") -> str:
    """The plan as the person reads it, without formatting."""
    outgoing = service._render(locale, Reply((PlanText(answers),)))
    return "\n".join(render(outgoing.markdown, Format.PLAIN))


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("country", ["US", "GB", "ES"])
def test_an_adult_whose_images_were_taken_under_18_gets_take_it_down_and_no_tell_an_adult(
    service: Service, locale: str, country: str
) -> None:
    plan = _plan(service, {**BASE, "c": country, "s": "shared", "n": "adult", "a": "minor"}, locale)
    assert "Take It Down" in plan and "takeitdown.ncmec.org" in plan
    assert WORDS[locale]["tell_adult"] not in plan
    assert "StopNCII" not in plan  # it is for images taken at 18 or older


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_uk_person_under_18_now_gets_report_remove(service: Service, locale: str) -> None:
    plan = _plan(service, {**BASE, "c": "GB", "s": "threat", "n": "minor"}, locale)
    assert "Report Remove" in plan and "childline.org.uk" in plan
    assert WORDS[locale]["tell_adult"] in plan


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_uk_adult_never_gets_report_remove_and_gets_the_iwf_for_images_taken_under_18(
    service: Service, locale: str
) -> None:
    both_adult = _plan(service, {**BASE, "c": "GB", "s": "shared", "n": "adult", "a": "adult"})
    assert "Report Remove" not in both_adult and "Internet Watch Foundation" not in both_adult
    assert "StopNCII" in both_adult
    taken_minor = {**BASE, "c": "GB", "s": "shared", "n": "adult", "a": "minor"}
    plan = _plan(service, taken_minor, locale)
    assert "Report Remove" not in plan
    assert "Internet Watch Foundation" in plan and "iwf.org.uk/report" in plan


@pytest.mark.parametrize("locale", ["en", "es"])
def test_a_deepfake_plan_gives_googles_fake_image_form(service: Service, locale: str) -> None:
    plan = _plan(service, {**BASE, "c": "US", "s": "deepfake", "n": "adult", "a": "adult"}, locale)
    assert WORDS[locale]["google"] in plan
    assert "support.google.com/websearch/answer/9116649" in plan


async def _start_triage(chat: Chat) -> None:
    await chat.command("start")
    await chat.press("t")


async def test_a_deepfake_triage_offers_the_deepfakes_guide_and_the_google_route(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "1701")
    await _start_triage(chat)
    for data in ("t:c:US", "t:d:no", "t:s:deepfake", "t:n:adult", "t:a:adult", "t:w:stranger"):
        await chat.press(data)
    plan = await chat.press("t:p:no")
    assert "Google Search" in plan and "answer/9116649" in plan
    assert f"g:{GuideId.DEEPFAKES.value}" in chat.button_data()
    guide = await chat.press(f"g:{GuideId.DEEPFAKES.value}")
    assert "If you never had the image" in guide and "answer/9116649" in guide
    assert "48 hours" in guide and "all 50 states" in guide


async def test_asking_for_someone_else_gives_a_plan_spoken_to_the_helper(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "1702")
    await _start_triage(chat)
    await chat.press("t:c:GB")
    await chat.press("t:d:no")
    labels = [label for row in front.last.buttons for label, _ in row]
    assert "I'm asking for someone else" in labels
    await chat.press("t:f:helper")
    for data in ("t:s:shared", "t:n:adult", "t:a:minor", "t:w:stranger"):
        await chat.press(data)
    plan = await chat.press("t:p:no")
    assert "A plan to help them." in plan and "Your plan." not in plan
    assert "from when they were under 18" in plan and "from when you were under 18" not in plan
    assert "These are for the person in the images" in plan
    assert "Internet Watch Foundation" in plan and "Report Remove" not in plan
    assert chat.button_data()[0] == f"g:{GuideId.HELPING_SOMEONE.value}"
    guide = await chat.press(f"g:{GuideId.HELPING_SOMEONE.value}")
    assert "parent, friend, partner or advocate" in guide
    assert "Never ask them to send you the images" in guide


async def test_the_helpers_guide_leads_to_a_helpers_plan_in_spanish(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "1703")
    chat.language = "es"
    await chat.command("start")
    await chat.press("gl")
    guide = await chat.press(f"g:{GuideId.HELPING_SOMEONE.value}")
    assert "Nunca le pidas que te mande las imágenes" in guide
    await chat.press("th")
    for data in ("t:c:MX", "t:d:no", "t:s:deepfake", "t:n:minor", "t:w:known"):
        await chat.press(data)
    plan = await chat.press("t:p:no")
    assert WORDS["es"]["helper_plan"] in plan and WORDS["es"]["own_plan"] not in plan
    assert "Tiene menos de 18 años" in plan and "Tienes menos de 18" not in plan
    assert "Búsqueda de Google" in plan and "Take It Down" in plan
    offered = chat.button_data()
    for guide_id in (GuideId.HELPING_SOMEONE, GuideId.UNDER_18, GuideId.DEEPFAKES):
        assert f"g:{guide_id.value}" in offered


@pytest.mark.parametrize(
    ("locale", "first", "checklist", "not_for_a_helper"),
    [
        (
            "en",
            "Is someone not safe right now? Call 911.",
            "Being there for them",
            "Take one slow breath. This is not your fault.",
        ),
        (
            "es",
            "¿Alguien no está a salvo ahora mismo? Llama al 911.",
            "Estar a su lado ya ayuda",
            "¿Estás en peligro",
        ),
    ],
)
async def test_a_helpers_danger_screen_speaks_of_the_person_in_danger(
    service: Service,
    front: RecordingFrontEnd,
    locale: str,
    first: str,
    checklist: str,
    not_for_a_helper: str,
) -> None:
    chat = Chat(service, front, f"1704{locale}")
    chat.language = locale
    await chat.command("start")
    await chat.press("gl")
    await chat.press(f"g:{GuideId.HELPING_SOMEONE.value}")
    await chat.press("th")
    await chat.press("t:c:US")
    danger = await chat.press("t:d:yes")
    assert danger.splitlines()[0].replace("**", "") == first
    assert checklist in danger and not_for_a_helper not in danger
    # The plan keeps speaking of them after Continue.
    await chat.press("t")
    for data in ("t:s:threat", "t:n:adult", "t:a:adult", "t:w:stranger"):
        await chat.press(data)
    plan = await chat.press("t:p:no")
    assert first.replace(".", "") in plan.replace("**", "").replace(".", "")
    assert not_for_a_helper not in plan


async def test_the_persons_own_danger_screen_still_speaks_to_them(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "1705")
    await _start_triage(chat)
    await chat.press("t:c:US")
    danger = await chat.press("t:d:yes")
    assert danger.splitlines()[0].replace("**", "") == "Not safe right now? Call 911."
    assert "This is not your fault." in danger and "Being there for them" not in danger
