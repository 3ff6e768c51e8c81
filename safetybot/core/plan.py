"""A plan made for one situation: which removal route, which contacts, which guides.

Pure data from the triage answers (see menus.Question); the service renders it in the person's
language with the resource directory. Routes follow FACTS.md's removal table: StopNCII for images
of adults, Take It Down for images taken under 18, plus the national services.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from safetybot.core.menus import GuideId, Question

__all__ = ["ContactBlock", "Plan", "Route", "make_plan"]


class Route(StrEnum):
    """Removal and reporting routes; each has a text `route.<value>` in every locale."""

    PLATFORM = "platform"
    STOPNCII = "stopncii"
    TAKE_IT_DOWN = "take_it_down"
    CYBERTIPLINE = "cybertipline"
    REPORT_REMOVE = "report_remove"
    CYBERTIP_CA = "cybertip_ca"
    ESAFETY = "esafety"
    US_LAW = "us_law"


@dataclass(frozen=True)
class ContactBlock:
    """Contacts to list: directory kinds, the age they must suit, the country."""

    country: str
    kinds: tuple[str, ...]
    age: str | None


Block = str | Route | ContactBlock


@dataclass(frozen=True)
class Plan:
    """What to show, in order: text keys, routes and contact lists; then guide buttons."""

    blocks: tuple[Block, ...]
    guides: tuple[GuideId, ...]

    @property
    def routes(self) -> tuple[Route, ...]:
        """The removal routes in the plan."""
        return tuple(block for block in self.blocks if isinstance(block, Route))

    @property
    def contacts(self) -> tuple[ContactBlock, ...]:
        """The contact lists in the plan."""
        return tuple(block for block in self.blocks if isinstance(block, ContactBlock))


_URGENT = ("emergency", "crisis")


def make_plan(answers: Mapping[str, str]) -> Plan:
    """Make the plan for a complete (or partial: unknowns count as 'unsure') set of answers."""

    def answer(question: Question, default: str = "unsure") -> str:
        return answers.get(question.value, default)

    country = answer(Question.COUNTRY, "INT")
    situation, age, who = answer(Question.SITUATION), answer(Question.AGE), answer(Question.WHO)
    minor, adult = age in ("minor", "unsure"), age in ("adult", "unsure")
    age_filter = {"minor": "under-18", "adult": "18+"}.get(age)

    blocks: list[Block] = ["plan.intro"]
    if answer(Question.DANGER, "no") == "yes":
        blocks += ["plan.danger", ContactBlock(country, _URGENT, None)]
    blocks.append({"threat": "plan.threat", "shared": "plan.shared"}.get(situation, "plan.unsure"))
    if answer(Question.PAID, "no") == "yes":
        blocks.append("plan.paid")
    if who == "known":
        blocks.append("plan.known")
    if age == "minor":
        blocks.append("plan.minor")

    blocks.append("plan.routes")
    if situation in ("shared", "unsure"):
        blocks.append(Route.PLATFORM)
    if adult:
        blocks.append(Route.STOPNCII)
    if minor:
        blocks.append(Route.TAKE_IT_DOWN)
        national = {"US": Route.CYBERTIPLINE, "GB": Route.REPORT_REMOVE, "CA": Route.CYBERTIP_CA}
        if country in national:
            blocks.append(national[country])
    if country == "AU":
        blocks.append(Route.ESAFETY)
    if country == "US" and adult and situation != "threat":
        blocks.append(Route.US_LAW)
    blocks.append("plan.honest_limits")

    # Police: the sources advise reporting (CEOP, the Revenge Porn Helpline, the FBI); the age
    # filter keeps CEOP and ACCCE for under-18s and UK 101 for adults.
    kinds: tuple[str, ...] = ("ncii", "sextortion", "support", "crisis", "removal", "police")
    if minor:
        kinds += ("minors",)
    if who == "known":  # plan.known promises dating and domestic-abuse helplines
        kinds += ("dv",)
    blocks += ["plan.contacts", ContactBlock(country, kinds, age_filter)]

    guides: list[GuideId] = []
    if age == "minor":
        guides.append(GuideId.UNDER_18)
    guides.append(GuideId.IMAGES_SHARED if situation == "shared" else GuideId.RIGHT_NOW)
    if who == "known":
        guides.append(GuideId.SOMEONE_YOU_KNOW)
    elif who == "stranger" and situation != "shared":
        guides.append(GuideId.SPOTTING_SEXTORTION)
    guides += [GuideId.DOCUMENTING, GuideId.SUPPORT]
    return Plan(tuple(blocks), tuple(dict.fromkeys(guides)))
