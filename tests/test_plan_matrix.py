"""Issue 17: every cell of country x age now x age in the images x situation x who is asking
(and whether the person behind it is known) gets the removal routes and the contacts the rules
below say, and the person reads those contacts in their plan.

The expected table is built here from the rules as FACTS.md and the issue state them, and from
the raw directory file; it never calls the planner to know what to expect.
"""

from __future__ import annotations

import itertools
import tomllib
from typing import Any

import pytest

from safetybot.core.plan import Route, make_plan
from safetybot.core.replies import PlanText, Reply
from safetybot.core.service import Service
from safetybot.guidance.resources import Ages, Country, Directory, Kind
from safetybot.markup import Format, render
from tests.conftest import LOCALES

COUNTRIES = ("US", "GB", "CA", "AU", "ES", "MX", "AR", "CO", "INT")
AGES_NOW = ("adult", "minor", None)  # None: not asked (images taken at 18 or older) or unknown
AGES_IN_IMAGES = ("adult", "minor", "unsure", None)  # None: not asked (under 18 today)
SITUATIONS = ("threat", "shared", "deepfake", "unsure")
ASKING = ("self", "helper")
WHO = ("stranger", "known")

# Contacts every plan lists, by kind (the police kind: the sources advise reporting).
BASE_KINDS = {"ncii", "sextortion", "support", "crisis", "removal", "police"}


def _cells() -> list[dict[str, str]]:
    """Every combination triage can produce: nobody under 18 today had images taken at 18+."""
    cells = []
    for country, now, images, situation, asking, who in itertools.product(
        COUNTRIES, AGES_NOW, AGES_IN_IMAGES, SITUATIONS, ASKING, WHO
    ):
        if now == "minor" and images == "adult":
            continue
        answers = {"f": asking, "c": country, "d": "no", "s": situation, "w": who, "p": "no"}
        if now is not None:
            answers["n"] = now
        if images is not None:
            answers["a"] = images
        cells.append(answers)
    return cells


CELLS = _cells()


def _ages(answers: dict[str, str]) -> tuple[str, str]:
    """Rule: under 18 today means the images were taken under 18; images taken at 18 or older
    mean an adult today; anything not answered is unsure."""
    now, images = answers.get("n", "unsure"), answers.get("a", "unsure")
    if now == "minor":
        images = "minor"
    if images == "adult":
        now = "adult"
    return now, images


def expected_routes(answers: dict[str, str]) -> set[Route]:
    """The removal and reporting routes the rules give a cell."""
    country, situation = answers["c"], answers["s"]
    now, images = _ages(answers)
    routes: set[Route] = set()
    # Posted, faked or unclear: the platform's form and Google work with only the link.
    if situation in ("shared", "deepfake", "unsure"):
        routes |= {Route.PLATFORM, Route.GOOGLE}
    # Taken at 18 or older (or unsure) -> StopNCII.
    if images in ("adult", "unsure"):
        routes.add(Route.STOPNCII)
    # Taken under 18 (or unsure), whatever the age today -> Take It Down, and the national
    # child-protection line where there is one.
    if images in ("minor", "unsure"):
        routes.add(Route.TAKE_IT_DOWN)
        routes |= {"US": {Route.CYBERTIPLINE}, "CA": {Route.CYBERTIP_CA}}.get(country, set())
        if country == "GB":
            # UK and under 18 now -> Report Remove; UK and an adult now -> the IWF.
            if now in ("minor", "unsure"):
                routes.add(Route.REPORT_REMOVE)
            if now in ("adult", "unsure"):
                routes.add(Route.IWF)
    # Australia -> eSafety; US -> the US law, in every situation.
    if country == "AU":
        routes.add(Route.ESAFETY)
    if country == "US":
        routes.add(Route.US_LAW)
    return routes


def _raw_directory() -> list[dict[str, Any]]:
    with (LOCALES / "resources.toml").open("rb") as handle:
        entries: list[dict[str, Any]] = tomllib.load(handle)["resource"]
    return entries


RAW = _raw_directory()


def expected_contacts(answers: dict[str, str]) -> set[str]:
    """The directory ids the rules give a cell, read from the raw directory file."""
    now, images = _ages(answers)
    kinds = set(BASE_KINDS)
    if images in ("minor", "unsure"):
        kinds.add("minors")  # child-protection services for images taken under 18
    if answers["w"] == "known":
        kinds.add("dv")  # the plan promises dating and domestic-abuse helplines
    # A child is not sent to an adults' line, nor an adult to a children's line.
    allowed = {"minor": {"any", "under-18"}, "adult": {"any", "18+"}}.get(
        now, {"any", "under-18", "18+"}
    )
    return {
        entry["id"]
        for entry in RAW
        if entry["country"] == answers["c"]
        and kinds & set(entry["kinds"])
        and entry["ages"] in allowed
    }


def listed_contacts(directory: Directory, answers: dict[str, str]) -> set[str]:
    """The directory ids the plan for a cell lists."""
    ids: set[str] = set()
    for block in make_plan(answers).contacts:
        found = directory.find(
            Country(block.country),
            kinds=[Kind(kind) for kind in block.kinds],
            age=Ages(block.age) if block.age else None,
            include_international=False,
        )
        ids |= {resource.id for resource in found}
    return ids


def test_the_matrix_covers_every_answer() -> None:
    # 9 countries x 2 who is asking x 4 situations x 2 who did it x (3 x 4 ages - 1 impossible)
    assert len(CELLS) == 9 * 2 * 4 * 2 * 11


@pytest.mark.parametrize("country", COUNTRIES)
def test_every_cell_gets_the_routes_and_contacts_its_rules_give(
    directory: Directory, country: str
) -> None:
    for answers in (cell for cell in CELLS if cell["c"] == country):
        assert set(make_plan(answers).routes) == expected_routes(answers), answers
        assert listed_contacts(directory, answers) == expected_contacts(answers), answers


def test_the_rules_name_the_services_the_issue_names() -> None:
    """Spot checks of the table itself, so a wrong rule above cannot pass unnoticed."""
    base = {"f": "self", "d": "no", "w": "stranger", "p": "no"}
    uk_child = expected_contacts({**base, "c": "GB", "s": "threat", "n": "minor"})
    assert "gb-childline-report-remove" in uk_child
    uk_adult = expected_contacts({**base, "c": "GB", "s": "shared", "n": "adult", "a": "minor"})
    assert "gb-childline-report-remove" not in uk_adult and "gb-revenge-porn-helpline" in uk_adult
    us = expected_contacts({**base, "c": "US", "s": "shared", "n": "adult", "a": "adult"})
    assert {"us-ccri", "us-fbi"} <= us
    known = expected_contacts({**base, "c": "ES", "s": "shared", "w": "known", "a": "adult"})
    assert any("dv" in e["kinds"] for e in RAW if e["id"] in known)
    routes = expected_routes({**base, "c": "GB", "s": "shared", "n": "adult", "a": "minor"})
    assert Route.TAKE_IT_DOWN in routes and Route.REPORT_REMOVE not in routes


def _names() -> dict[str, str]:
    return {entry["id"]: entry["name"] for entry in RAW}


@pytest.mark.parametrize("locale", ["en", "es"])
async def test_the_person_reads_each_contact_of_their_cell(service: Service, locale: str) -> None:
    names = _names()
    for answers in CELLS[:: 5 if locale == "es" else 1]:
        outgoing = service._render(locale, Reply((PlanText(answers),)))
        plan = "\n".join(render(outgoing.markdown, Format.PLAIN))
        for resource_id in expected_contacts(answers):
            assert names[resource_id] in plan, (answers, resource_id)
