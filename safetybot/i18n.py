"""Every word a person reads: gettext catalogs and guides under locales/, with fallback.

Layout of a locale folder (`locales/<code>/`):
    messages.po          short texts; msgid is a stable key such as "start.intro"
    guides/<id>.md       one guide, TOML front matter between +++ lines, then Markdown

An organization's overrides folder has the same layout; its entries win (locales.py reads and
checks the layers). Texts are Markdown (see markup.py). Placeholders are `{name}`; values are
escaped before they are inserted, so text a person typed can never turn into formatting or links.
When the organization is named, its name and contact are values every text may use, and two
texts carry them to people: `org.start` under the welcome, `org.privacy` under /privacy.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Final

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime

from safetybot.errors import LocaleError
from safetybot.locales import (
    PLURAL_MARK,
    Guide,
    Problem,
    Source,
    check_locales,
    placeholders,
    read_guide,
    read_layers,
)
from safetybot.markup import escape

__all__ = [
    "ORGANIZATION_TEXTS",
    "Guide",
    "Problem",
    "Source",
    "Texts",
    "check_locales",
    "placeholders",
    "read_guide",
]

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
# The catalog key listing a language's most common short words, for `Texts.guess`.
_COMMON_WORDS: Final = "language.words"
_WORD = re.compile(r"[^\W\d_]+")
# Shown text -> the organization's text added below it, when the organization is named.
ORGANIZATION_TEXTS: Final[Mapping[str, str]] = {
    "start.intro": "org.start",
    "privacy.retention": "org.privacy",
}
# A text with more than one number: the one its plural forms follow. Elsewhere it is the first
# placeholder holding a whole number ("Private notes: 3." needs no plural; "1 minute" does).
PLURAL_COUNTS: Final[Mapping[str, str]] = {"vault.home": "minutes"}


class Texts:
    """Catalogs and guides for every shipped locale, with fallback to the default one."""

    def __init__(
        self,
        messages: Mapping[str, Mapping[str, str]],
        guides: Mapping[str, Mapping[str, Guide]],
        default: str,
        values: Mapping[str, str] | None = None,
    ) -> None:
        if default not in messages:
            raise LocaleError(f"default locale {default!r} has no messages.po")
        self._messages = messages
        self._guides = guides
        self.default = default
        self._values = dict(values or {})  # filled into every text: the organization's
        self._common: dict[str, frozenset[str]] = {}  # each locale's `language.words`, folded

    @classmethod
    def load(
        cls,
        root: Path,
        default: str = "en",
        *,
        overrides: Path | None = None,
        languages: Collection[str] | None = None,
        organization: Mapping[str, str] | None = None,
    ) -> Texts:
        """Read every locale folder under `root`, the overrides over them; raise on an error.

        `organization` ({"org_name": …, "org_contact": …}) adds the organization's texts.
        """
        layers = read_layers(root, default, overrides, languages, given=organization or {})
        if layers.errors:
            raise LocaleError(str(layers.errors[0]))
        return cls(layers.messages, layers.guides, default, organization)

    @property
    def locales(self) -> tuple[str, ...]:
        """The locale codes that have a catalog, default first."""
        rest = sorted(code for code in self._messages if code != self.default)
        return (self.default, *rest)

    def pick(self, language: str | None) -> str:
        """Return the shipped locale for a language tag such as 'es-MX', else the default."""
        return self.known(language) or self.default

    def known(self, language: str | None) -> str | None:
        """The shipped locale for a language tag such as 'es-MX', or None if there is none."""
        if language:
            base = language.replace("_", "-").split("-")[0].lower()
            if base in self._messages:
                return base
        return None

    def guess(self, text: str) -> str | None:
        """The locale whose common words (`language.words`) the text uses most, if one leads.

        For messengers that give no language (Signal, the console): a person who writes in
        Spanish is answered in Spanish. None when no locale's words lead ("ok", a name, an emoji).
        """
        words = set(_WORD.findall(_plain(text)))
        counts = {code: len(words & self._common_words(code)) for code in self._messages}
        best = max(counts.values(), default=0)
        leaders = [code for code, count in counts.items() if count == best]
        return leaders[0] if best > 0 and len(leaders) == 1 else None

    def _common_words(self, locale: str) -> frozenset[str]:
        cached = self._common.get(locale)
        if cached is None:
            listed = self._messages[locale].get(_COMMON_WORDS, "")
            cached = frozenset(_plain(word).strip() for word in listed.split(",")) - {""}
            self._common[locale] = cached
        return cached

    def text(self, locale: str, key: str, params: Mapping[str, object] | None = None) -> str:
        """Return the Markdown text for `key`, with escaped parameters filled in."""
        template = self._template(locale, key)
        if template is None:
            raise LocaleError(f"no text for key {key!r}")
        template = self._plural(locale, key, template, params or {})
        added = ORGANIZATION_TEXTS.get(key) if self._values else None
        if added is not None:
            template = f"{template}\n\n{self._template(locale, added) or ''}".rstrip()
        values = {**self._values, **(params or {})}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise LocaleError(f"text {key!r} needs a value for {{{name}}}")
            return escape(_shown(values[name], locale))

        return _PLACEHOLDER.sub(fill, template)

    def _plural(self, locale: str, key: str, template: str, params: Mapping[str, object]) -> str:
        """The gettext plural form for the text's count ("1 second", "2 seconds")."""
        name = PLURAL_COUNTS.get(key) or next(
            (n for n in _PLACEHOLDER.findall(template) if _is_count(params.get(n))), None
        )
        count = params.get(name) if name else None
        # The forms of the catalog the text came from: an organization's text with one form,
        # or a language with one plural form, is used for every count.
        here = locale if key in self._messages.get(locale, {}) else self.default
        other = self._messages.get(here, {}).get(f"{key}{PLURAL_MARK}1")
        if not isinstance(count, int) or other is None:
            return template
        try:
            one = Locale.parse(here.replace("-", "_")).plural_form(abs(count)) == "one"
        except (UnknownLocaleError, ValueError):
            one = abs(count) == 1
        return template if one else other

    def _template(self, locale: str, key: str) -> str | None:
        return self._messages.get(locale, {}).get(key) or self._messages[self.default].get(key)

    def has(self, key: str) -> bool:
        """Whether the default locale defines `key`."""
        return key in self._messages[self.default]

    def guide(self, locale: str, guide_id: str) -> Guide:
        """Return a guide in `locale`, falling back to the default locale."""
        found = self._guides.get(locale, {}).get(guide_id) or self._guides[self.default].get(
            guide_id
        )
        if found is None:
            raise LocaleError(f"no guide {guide_id!r}")
        return found

    def guide_ids(self) -> frozenset[str]:
        """The guides the default locale ships."""
        return frozenset(self._guides[self.default])

    def keys(self, locale: str) -> frozenset[str]:
        """The text keys defined in one locale."""
        return frozenset(self._messages.get(locale, {}))

    def raw(self, locale: str, key: str) -> str | None:
        """The untranslated template of `key` in exactly `locale`, or None."""
        return self._messages.get(locale, {}).get(key)

    def guides_in(self, locale: str) -> Mapping[str, Guide]:
        """The guides of exactly one locale."""
        return self._guides.get(locale, {})


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shown(value: object, locale: str) -> str:
    """A value as a person reads it: dates and times in their language, times in UTC."""
    if not isinstance(value, dt.date):
        return str(value)
    try:
        where = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        where = Locale("en")
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        # Stored times are UTC, and the person's own time zone is unknown: say which it is.
        return f"{format_datetime(moment, 'medium', tzinfo=dt.UTC, locale=where)} UTC"
    return format_date(value, "long", locale=where)


def _plain(text: str) -> str:
    """Lower case without accents, so "Qué" and "que" are one word."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
