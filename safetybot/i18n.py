"""Every word a person reads: gettext catalogs and guide files under locales/, with fallback.

Layout of a locale folder (`locales/<code>/`):
    messages.po          short texts; msgid is a stable key such as "start.intro"
    guides/<id>.md       one guide, TOML front matter between +++ lines, then Markdown

Texts are Markdown (see markup.py). Placeholders are `{name}`; values are escaped before they
are inserted, so text a person typed can never turn into formatting or links.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from babel.messages.pofile import read_po

from safetybot.errors import LocaleError
from safetybot.markup import escape

__all__ = ["Guide", "Problem", "Texts", "check_locales", "placeholders"]

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_FRONT_MATTER = re.compile(r"\A\+\+\+\n(.*?)\n\+\+\+\n(.*)\Z", re.DOTALL)


@dataclass(frozen=True)
class Source:
    """Where a guide's facts come from."""

    name: str
    url: str


@dataclass(frozen=True)
class Guide:
    """One guide in one locale."""

    id: str
    title: str
    body: str
    reviewed: dt.date
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the locale files, with the file it is in."""

    file: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.message}"


def placeholders(text: str) -> frozenset[str]:
    """Return the placeholder names used in a text."""
    return frozenset(_PLACEHOLDER.findall(text))


class Texts:
    """Catalogs and guides for every shipped locale, with fallback to the default one."""

    def __init__(
        self,
        messages: Mapping[str, Mapping[str, str]],
        guides: Mapping[str, Mapping[str, Guide]],
        default: str,
    ) -> None:
        if default not in messages:
            raise LocaleError(f"default locale {default!r} has no messages.po")
        self._messages = messages
        self._guides = guides
        self.default = default

    @classmethod
    def load(cls, root: Path, default: str = "en") -> Texts:
        """Read every locale folder under `root`."""
        messages: dict[str, dict[str, str]] = {}
        guides: dict[str, dict[str, Guide]] = {}
        if not root.is_dir():
            raise LocaleError(f"{root}: locale folder not found")
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            catalog = folder / "messages.po"
            if not catalog.is_file():
                continue
            messages[folder.name] = _read_catalog(catalog)
            guides[folder.name] = {
                path.stem: read_guide(path) for path in sorted((folder / "guides").glob("*.md"))
            }
        return cls(messages, guides, default)

    @property
    def locales(self) -> tuple[str, ...]:
        """The locale codes that have a catalog, default first."""
        rest = sorted(code for code in self._messages if code != self.default)
        return (self.default, *rest)

    def pick(self, language: str | None) -> str:
        """Return the shipped locale for a language tag such as 'es-MX', else the default."""
        if language:
            base = language.replace("_", "-").split("-")[0].lower()
            if base in self._messages:
                return base
        return self.default

    def text(self, locale: str, key: str, params: Mapping[str, object] | None = None) -> str:
        """Return the Markdown text for `key`, with escaped parameters filled in."""
        template = self._messages.get(locale, {}).get(key) or self._messages[self.default].get(key)
        if template is None:
            raise LocaleError(f"no text for key {key!r}")
        values = params or {}

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise LocaleError(f"text {key!r} needs a value for {{{name}}}")
            return escape(str(values[name]))

        return _PLACEHOLDER.sub(fill, template)

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


def _read_catalog(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, abort_invalid=True)
    except Exception as error:  # Babel raises several types for one cause: a broken file
        raise LocaleError(f"{path}: cannot be read ({type(error).__name__})") from None
    texts: dict[str, str] = {}
    for message in catalog:
        key, text = message.id, message.string
        # Plural entries (tuples) are not used; empty or fuzzy translations count as missing.
        if isinstance(key, str) and isinstance(text, str) and key and text and not message.fuzzy:
            texts[key] = text
    return texts


def read_guide(path: Path) -> Guide:
    """Parse one guide file: TOML front matter (title, reviewed, sources) and Markdown."""
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise LocaleError(f"{path}: must start with +++ front matter +++")
    try:
        meta = tomllib.loads(match.group(1))
    except tomllib.TOMLDecodeError as error:
        raise LocaleError(f"{path}: front matter is not valid TOML ({error})") from None
    title, reviewed, sources = meta.get("title"), meta.get("reviewed"), meta.get("sources")
    if not isinstance(title, str) or not title.strip():
        raise LocaleError(f"{path}: front matter needs a title")
    if not isinstance(reviewed, dt.date):
        raise LocaleError(f"{path}: front matter needs reviewed = YYYY-MM-DD")
    if not isinstance(sources, list) or not sources:
        raise LocaleError(f"{path}: front matter needs at least one source")
    parsed: list[Source] = []
    for index, source in enumerate(sources, start=1):
        if not isinstance(source, dict):
            raise LocaleError(f"{path}: source {index} must be {{ name = …, url = … }}")
        name, url = source.get("name"), source.get("url")
        if not isinstance(name, str) or not isinstance(url, str) or not url.startswith("https://"):
            raise LocaleError(f"{path}: source {index} needs a name and an https url")
        parsed.append(Source(name, url))
    body = match.group(2).strip()
    if not body:
        raise LocaleError(f"{path}: guide has no body")
    return Guide(path.stem, title.strip(), body, reviewed, tuple(parsed))


def check_locales(root: Path, default: str = "en") -> list[Problem]:
    """Check that every locale has every text and guide of the default, same placeholders."""
    problems: list[Problem] = []
    try:
        texts = Texts.load(root, default)
    except LocaleError as error:
        return [Problem(str(root), str(error))]
    base_keys = texts.keys(default)
    base_guides = texts.guides_in(default)
    for locale in texts.locales:
        catalog = str(root / locale / "messages.po")
        keys = texts.keys(locale)
        for key in sorted(base_keys - keys):
            problems.append(Problem(catalog, f"missing text {key!r}"))
        for key in sorted(keys - base_keys):
            problems.append(Problem(catalog, f"text {key!r} is not in the {default} catalog"))
        for key in sorted(base_keys & keys):
            want = placeholders(texts.raw(default, key) or "")
            have = placeholders(texts.raw(locale, key) or "")
            if want != have:
                problems.append(
                    Problem(
                        catalog,
                        f"text {key!r} has placeholders {sorted(have)}, expected {sorted(want)}",
                    )
                )
        guides = texts.guides_in(locale)
        for guide_id in sorted(set(base_guides) - set(guides)):
            problems.append(Problem(str(root / locale / "guides"), f"missing guide {guide_id!r}"))
        for guide_id in sorted(set(guides) - set(base_guides)):
            problems.append(
                Problem(str(root / locale / "guides"), f"guide {guide_id!r} is not in {default}")
            )
    return problems
