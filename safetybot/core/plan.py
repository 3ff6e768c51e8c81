"""A plan made for one situation: which removal route, which contacts, which guides.

Pure data from the triage answers (see menus.Question); the service renders it in the person's
language with the resource directory. Routes follow FACTS.md's removal table: StopNCII for images
taken at 18 or older, Take It Down for images taken under 18 (whatever the age today), Report
Remove only for someone under 18 today, plus the national services. Someone helping another
person gets the same routes in words addressed to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from safetybot.core.menus import GuideId, Question

__all__ = ["HELPER_TEXTS", "ContactBlock", "Plan", "Route", "make_plan"]


class Route(StrEnum):
    """Removal and reporting routes; each has a text `route.<value>` in every locale."""

    PLATFORM = "platform"
    GOOGLE = "google"
    STOPNCII = "stopncii"
    TAKE_IT_DOWN = "take_it_down"
    CYBERTIPLINE = "cybertipline"
    REPORT_REMOVE = "report_remove"
    IWF = "iwf"
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

# Text blocks with their own wording for someone helping another person ("<key>.helper").
HELPER_TEXTS = frozenset(
    {
        "plan.intro",
        "plan.danger",
        "plan.threat",
        "plan.shared",
        "plan.deepfake",
        "plan.unsure",
        "plan.paid",
        "plan.known",
        "plan.minor",
        "plan.taken_minor",
        "plan.routes",
    }
)
_FIRST_STEPS = {"threat": "plan.threat", "shared": "plan.shared", "deepfake": "plan.deepfake"}
_NATIONAL_MINOR = {"US": Route.CYBERTIPLINE, "CA": Route.CYBERTIP_CA}


def _ages(answers: Mapping[str, str]) -> tuple[str, str]:
    """How old the person is now and was in the images: "adult", "minor" or "unsure".

    Older saved answers hold only the age in the images ("a"): the age now is then unsure,
    unless the images were taken at 18 or older."""
    now = answers.get(Question.AGE_NOW.value, "unsure")
    images = answers.get(Question.AGE.value, "unsure")
    if now == "minor":
        images = "minor"
    if images == "adult":
        now = "adult"
    return now, images


def make_plan(answers: Mapping[str, str]) -> Plan:
    """Make the plan for a complete (or partial: unknowns count as 'unsure') set of answers."""

    def answer(question: Question, default: str = "unsure") -> str:
        return answers.get(question.value, default)

    helper = answer(Question.FOR, "self") == "helper"

    def text(key: str) -> str:
        return f"{key}.helper" if helper and key in HELPER_TEXTS else key

    country = answer(Question.COUNTRY, "INT")
    situation, who = answer(Question.SITUATION), answer(Question.WHO)
    now, images = _ages(answers)
    # Which removal service fits depends on the age in the images, not the age today.
    taken_minor, taken_adult = images in ("minor", "unsure"), images in ("adult", "unsure")

    blocks: list[Block] = [text("plan.intro")]
    if answer(Question.DANGER, "no") == "yes":
        blocks += [text("plan.danger"), ContactBlock(country, _URGENT, None)]
    blocks.append(text(_FIRST_STEPS.get(situation, "plan.unsure")))
    if answer(Question.PAID, "no") == "yes":
        blocks.append(text("plan.paid"))
    if who == "known":
        blocks.append(text("plan.known"))
    if now == "minor":
        blocks.append(text("plan.minor"))
    elif images == "minor":
        # An adult now: nobody tells them to "tell an adult".
        blocks.append(text("plan.taken_minor"))

    blocks.append(text("plan.routes"))
    blocks += _routes(country, situation, now, taken_minor, taken_adult)
    blocks.append("plan.honest_limits")

    # Police: the sources advise reporting (CEOP, the Revenge Porn Helpline, the FBI); the age
    # filter keeps CEOP and ACCCE for under-18s and UK 101 for adults.
    kinds: tuple[str, ...] = ("ncii", "sextortion", "support", "crisis", "removal", "police")
    if taken_minor:
        kinds += ("minors",)
    if who == "known":  # plan.known promises dating and domestic-abuse helplines
        kinds += ("dv",)
    # Contacts suit the person's age today: an adult is not sent to a children's line.
    age_filter = {"minor": "under-18", "adult": "18+"}.get(now)
    blocks += [text("plan.contacts"), ContactBlock(country, kinds, age_filter)]
    return Plan(tuple(blocks), _guides(situation, who, now, helper))


def _routes(
    country: str, situation: str, now: str, taken_minor: bool, taken_adult: bool
) -> list[Block]:
    """The removal and reporting routes, in the order to try them."""
    routes: list[Block] = []
    if situation in ("shared", "deepfake", "unsure"):
        # These work without a copy of the image: the only routes for a fake never received.
        routes += [Route.PLATFORM, Route.GOOGLE]
    if taken_adult:
        routes.append(Route.STOPNCII)
    if taken_minor:
        routes.append(Route.TAKE_IT_DOWN)
        if country in _NATIONAL_MINOR:
            routes.append(_NATIONAL_MINOR[country])
        if country == "GB":
            # Report Remove needs the person to be under 18 today; the IWF takes reports of
            # images of anyone under 18, whatever their age now.
            if now in ("minor", "unsure"):
                routes.append(Route.REPORT_REMOVE)
            if now in ("adult", "unsure"):
                routes.append(Route.IWF)
    if country == "AU":
        routes.append(Route.ESAFETY)
    if country == "US":
        # The law covers threats, fakes and minors too: every US plan names it.
        routes.append(Route.US_LAW)
    return routes


def _guides(situation: str, who: str, now: str, helper: bool) -> tuple[GuideId, ...]:
    """The guides offered under a plan, the most fitting first."""
    guides: list[GuideId] = []
    if helper:
        guides.append(GuideId.HELPING_SOMEONE)
    if now == "minor":
        guides.append(GuideId.UNDER_18)
    if situation == "deepfake":
        guides.append(GuideId.DEEPFAKES)
    guides.append(GuideId.IMAGES_SHARED if situation == "shared" else GuideId.RIGHT_NOW)
    if situation in ("threat", "shared", "deepfake"):
        guides.append(GuideId.REPORTING)
    if situation in ("shared", "deepfake"):
        # Not under a threat: the advice there is to stop replying, not to write back.
        guides.append(GuideId.NO_CONSENT)
    if who == "known":
        guides.append(GuideId.SOMEONE_YOU_KNOW)
    elif who == "stranger" and situation not in ("shared", "deepfake"):
        guides.append(GuideId.SPOTTING_SEXTORTION)
    guides += [GuideId.DOCUMENTING, GuideId.SUPPORT]
    return tuple(dict.fromkeys(guides))
