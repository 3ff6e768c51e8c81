"""Replies as a person reads them: catalog texts, plans, contacts and guides, as Markdown."""

from __future__ import annotations

from dataclasses import dataclass

from safetybot.core import menus
from safetybot.core.menus import Question
from safetybot.core.plan import ContactBlock, Route, make_plan
from safetybot.core.replies import (
    Button,
    CheckResult,
    Contacts,
    GuideText,
    Part,
    PlanText,
    Reply,
    T,
)
from safetybot.guidance.redflags import Finding, Level, Rules
from safetybot.guidance.resources import Ages, Country, Directory, Kind, Resource, display_phone
from safetybot.i18n import Texts
from safetybot.markup import Format, escape, render, render_static

__all__ = ["Outgoing", "Renderer"]


@dataclass(frozen=True)
class Outgoing:
    """A message ready for a front end: Markdown text, rows of (label, data) buttons, and
    whether it should arrive without a notification sound."""

    markdown: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()
    silent: bool = False
    # None of a person's words (or anything about them) in it: its rendering may be remembered.
    static: bool = False
    # A file sent with it is view only: not to be saved or forwarded (Telegram enforces it).
    protect: bool = False


class Renderer:
    """Turns replies into Outgoing messages in a person's language."""

    def __init__(
        self, texts: Texts, rules: Rules, directory: Directory, retention_days: int
    ) -> None:
        self._texts = texts
        self._rules = rules
        self._directory = directory
        self.retention_days = retention_days

    def render(self, locale: str, reply: Reply, silent: bool = False) -> Outgoing:
        body = "\n\n".join(self._part(locale, part) for part in reply.parts)
        rows = reply.buttons
        offered = {button.data for row in rows for button in row}
        if rows and rows != menus.dismiss() and not offered & {"cl", "f"}:
            # Both levels of erase, one step from every screen.
            rows = (*rows, menus.erase_row())
        buttons = tuple(
            tuple((self._label(locale, button), button.data) for button in row) for row in rows
        )
        static = all(isinstance(part, GuideText) or _fixed(part) for part in reply.parts)
        return Outgoing(body, buttons, silent, static)

    def _part(self, locale: str, part: Part) -> str:
        if isinstance(part, T):
            params = {
                name: self.plain(locale, value) if isinstance(value, T) else value
                for name, value in part.params.items()
            }
            return self._texts.text(part.locale or locale, part.key, params)
        if isinstance(part, PlanText):
            return self._plan(locale, part)
        if isinstance(part, CheckResult):
            finding = self._rules.score_answers(part.yes)
            return "\n\n".join(self._part(locale, p) for p in self.finding_parts(finding))
        if isinstance(part, Contacts):
            return self._contacts_part(locale, part)
        guide = self._texts.guide(locale, part.guide_id)
        sources = ", ".join(f"[{escape(s.name)}]({s.url})" for s in guide.sources)
        footer = self._texts.text(locale, "guide.sources", {"date": guide.reviewed})
        # The first line shows in notification previews: it names nothing.
        first = self._texts.text(locale, "guide.first_line")
        body = guide.body
        if part.guide_id == "privacy":
            body += "\n\n" + self._texts.text(
                locale, "privacy.retention", {"days": self.retention_days}
            )
        return f"{first}\n\n**{escape(guide.title)}**\n\n{body}\n\n_{footer}_ {sources}"

    def _contacts_part(self, locale: str, part: Contacts) -> str:
        if not part.urgent:
            return self._contacts(locale, ContactBlock(part.country, (), None), international=True)
        kinds = {"emergency": ("emergency",), "crisis": ("crisis",)}.get(
            part.only or "", ("emergency", "crisis")
        )
        block = ContactBlock(part.country, kinds, None)
        return self._contacts(
            locale, block, False, crisis_first=part.crisis_first, helper=part.helper
        )

    def _plan(self, locale: str, part: PlanText) -> str:
        plan = make_plan(part.answers)
        helper = part.answers.get(Question.FOR.value) == "helper"
        blocks: list[str] = []
        shown: set[str] = set()  # a line listed under "in danger" is not listed twice
        for block in plan.blocks:
            if isinstance(block, Route):
                blocks.append(self._texts.text(locale, f"route.{block.value}"))
            elif isinstance(block, ContactBlock):
                contacts = self._contacts(locale, block, False, skip=shown, helper=helper)
                blocks.append(contacts)
            else:
                blocks.append(self._texts.text(locale, block))
        return "\n\n".join(blocks)

    def _contacts(
        self,
        locale: str,
        block: ContactBlock,
        international: bool,
        crisis_first: bool = False,
        skip: set[str] | None = None,
        helper: bool = False,
    ) -> str:
        """The directory entries for a country as Markdown, the organization's own first.

        Entries in `skip` are left out, and the ones listed are added to it. For a helper,
        the emergency lines speak of "someone" instead of "you".
        """
        suffix = ".helper" if helper else ""
        found = self._directory.find(
            Country(block.country),
            kinds=[Kind(kind) for kind in block.kinds] or None,
            age=Ages(block.age) if block.age else None,
            include_international=international,
        )
        if skip is not None:
            found = [resource for resource in found if resource.id not in skip]
            skip.update(resource.id for resource in found)
        # Stable sorts: the organization's own order is kept otherwise.
        if crisis_first:
            found.sort(key=lambda resource: Kind.CRISIS not in resource.kinds)
        elif "emergency" in block.kinds:  # someone in danger reads the emergency number first
            found.sort(key=lambda resource: Kind.EMERGENCY not in resource.kinds)
        lines = [self._contact(locale, resource, block.country, suffix) for resource in found]
        if "emergency" in block.kinds and not any(Kind.EMERGENCY in r.kinds for r in found):
            local = self._texts.text(locale, f"contacts.local_emergency{suffix}")
            lines.insert(len(lines) if crisis_first else 0, local)
        return "\n\n".join(lines) or self._texts.text(locale, "contacts.none")

    def _contact(self, locale: str, resource: Resource, country: str, suffix: str = "") -> str:
        default = self._texts.default
        text_line = resource.localized(resource.text_line, locale, default)
        if Kind.EMERGENCY in resource.kinds and text_line:
            # One line, the number in it: read first by someone in danger.
            key = f"contacts.emergency{suffix}"
            return self._texts.text(locale, key, {"how": text_line})
        about = resource.localized(resource.helps_with, locale, default) or ""
        ways = []
        if resource.phone:
            ways.append(escape(display_phone(resource.phone, country)))
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
        return self.plain(button.label.locale or locale, button.label)

    def plain(self, locale: str, text: T) -> str:
        """A text as plain words (button labels, values put into other texts)."""
        markdown = self._texts.text(locale, text.key, text.params)
        blocks = (
            render_static(markdown, Format.PLAIN)
            if _fixed(text)
            else render(markdown, Format.PLAIN)
        )
        return "\n\n".join(blocks)

    def finding_parts(self, finding: Finding) -> list[Part]:
        parts: list[Part] = [T(f"check.level.{finding.level.value}")]
        if not finding.flags and finding.level.at_least(Level.LIKELY):
            # The model reads the whole message; no single phrase matched a rule.
            parts.append(T("check.whole_message"))
        for hit in finding.flags:
            name = T(f"check.flag.{hit.flag.value}")
            if hit.quotes:
                quotes = " … ".join(hit.quotes)
                parts.append(T("check.flag_line", {"name": name, "quote": quotes}))
            else:
                parts.append(T("check.flag_line_plain", {"name": name}))
        if finding.truncated:
            parts.append(T("check.truncated"))
        parts.append(T(f"check.next.{finding.level.value}"))
        if finding.urgent and finding.level.at_least(Level.LIKELY):
            # A deadline on an ordinary bill is no emergency; on a threat, it is the script.
            parts.append(T("check.urgent"))
        return parts


def _fixed(part: object) -> bool:
    """A catalog text without parameters, or a plan, helplines or a questionnaire's result:
    made only of the catalog's and the directory's words, chosen by buttons and a country."""
    if isinstance(part, PlanText | Contacts | CheckResult):
        return True
    return isinstance(part, T) and not part.params
