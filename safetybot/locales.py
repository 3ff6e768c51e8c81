"""Reading locale folders, layering an organization's overrides on them, and checking both.

    locales/<code>/messages.po     shipped short texts (msgid: a stable key)
    locales/<code>/guides/<id>.md  shipped guides (TOML front matter between +++ lines)
    <overrides>/<code>/...                   the same layout; an entry there wins over a shipped one

Every problem names its file and, where there is one, its line. Errors stop the bot: a file that
cannot be read, an override of a text or guide the bot does not have, a placeholder the code
does not fill in. Warnings do not: a missing translation falls back to the default language,
so `safetybot check` lists it (and fails) while `safetybot run` logs how many there are.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.pofile import PoFileError, read_po

from safetybot.errors import LocaleError

__all__ = [
    "PLURAL_MARK",
    "Guide",
    "Layers",
    "Problem",
    "Source",
    "check_locales",
    "placeholders",
    "read_guide",
    "read_layers",
]

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
# Plural form i (i >= 1) of a text is kept under "<key>#<i>"; form 0 under the key itself.
PLURAL_MARK = "#"
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
    """One thing wrong with the locale files: file, message, line if known, and severity."""

    file: str
    message: str
    line: int | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


def placeholders(text: str) -> frozenset[str]:
    """Return the placeholder names used in a text."""
    return frozenset(_PLACEHOLDER.findall(text))


@dataclass
class Layers:
    """Catalogs and guides per locale after layering, and every problem found on the way."""

    messages: dict[str, dict[str, str]] = field(default_factory=dict)
    guides: dict[str, dict[str, Guide]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """The problems that stop the bot."""
        return [p for p in self.problems if not p.warning]


@dataclass
class _Catalog:
    path: Path
    texts: dict[str, str]
    where: dict[str, tuple[str, int]]  # key -> (file, line) it was read from


def read_layers(
    root: Path,
    default: str = "en",
    overrides: Path | None = None,
    languages: Collection[str] | None = None,
    given: Collection[str] = (),
) -> Layers:
    """Read shipped locales, layer the overrides, keep `languages`, and check them all.

    `given` names placeholders filled in for every text (the organization's name and contact).
    """
    layers = Layers()
    problems = layers.problems
    if not root.is_dir():
        problems.append(Problem(str(root), "locale folder not found"))
        return layers
    catalogs: dict[str, _Catalog] = {}  # the file each locale's texts last came from
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        catalog = _catalog(folder / "messages.po", problems)
        if catalog is not None:
            catalogs[folder.name] = catalog
            layers.messages[folder.name] = dict(catalog.texts)
            layers.guides[folder.name] = _guides(folder / "guides", problems)
    if default not in layers.messages:
        problems.append(Problem(str(root), f"default locale {default!r} has no messages.po"))
        return layers
    base = dict(layers.messages[default])
    base_guides = frozenset(layers.guides[default])
    if overrides is not None:
        _layer(layers, catalogs, overrides, base, base_guides, frozenset(given))
    for code in [c for c in layers.messages if languages is not None and c not in languages]:
        del layers.messages[code]
        layers.guides.pop(code, None)
    for code in layers.messages:
        if code != default:
            _compare(layers, catalogs.get(code), code, default, frozenset(given))
    return layers


def _catalog(path: Path, problems: list[Problem]) -> _Catalog | None:
    if not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            catalog = read_po(handle, abort_invalid=True)
    except PoFileError as error:
        problems.append(Problem(str(path), f"cannot be read: {error}", getattr(error, "lineno", 0)))
        return None
    except Exception as error:  # Babel raises several types for one cause: a broken file
        problems.append(Problem(str(path), f"cannot be read ({type(error).__name__})"))
        return None
    texts: dict[str, str] = {}
    where: dict[str, tuple[str, int]] = {}
    for message in catalog:
        key, text = message.id, message.string
        if isinstance(key, tuple) and isinstance(text, tuple) and all(text):
            # A plural entry (msgid_plural): form 0 under the key, form i under "key#i".
            key, forms = key[0], text
            text = forms[0]
            for index, form in enumerate(forms[1:], start=1):
                texts[f"{key}{PLURAL_MARK}{index}"] = form
                where[f"{key}{PLURAL_MARK}{index}"] = (str(path), message.lineno or 0)
        # Empty or fuzzy translations count as missing.
        if isinstance(key, str) and isinstance(text, str) and key and text and not message.fuzzy:
            texts[key] = text
            where[key] = (str(path), message.lineno or 0)
    return _Catalog(path, texts, where)


def _guides(folder: Path, problems: list[Problem]) -> dict[str, Guide]:
    found: dict[str, Guide] = {}
    for path in sorted(folder.glob("*.md")):
        try:
            found[path.stem] = read_guide(path)
        except LocaleError as error:
            problems.append(Problem(str(path), str(error).removeprefix(f"{path}: ")))
    return found


def _layer(
    layers: Layers,
    catalogs: dict[str, _Catalog],
    overrides: Path,
    base: Mapping[str, str],
    base_guides: frozenset[str],
    given: frozenset[str],
) -> None:
    """Put the organization's texts and guides over the shipped ones, refusing unknown ones."""
    problems = layers.problems
    for folder in sorted(p for p in overrides.iterdir() if p.is_dir()):
        code = folder.name
        catalog = _catalog(folder / "messages.po", problems)
        if catalog is not None:
            texts = layers.messages.setdefault(code, {})
            shipped = catalogs.get(code)
            for key, text in catalog.texts.items():
                line = catalog.where[key][1]
                # A plural form i is checked against the whole text (languages differ in forms).
                shipped_text = base.get(key, base.get(key.split(PLURAL_MARK)[0]))
                if shipped_text is None:
                    problems.append(
                        Problem(str(catalog.path), f"{key!r} is not a text the bot has", line)
                    )
                    continue
                extra = placeholders(text) - placeholders(shipped_text) - given
                if extra:
                    names = ", ".join(f"{{{n}}}" for n in sorted(extra))
                    problems.append(
                        Problem(
                            str(catalog.path),
                            f"text {key!r} uses {names}, which the bot does not fill in here "
                            f"(it fills: {_names(placeholders(shipped_text) | given)})",
                            line,
                        )
                    )
                    continue
                texts[key] = text
                if PLURAL_MARK not in key and f"{key}{PLURAL_MARK}1" not in catalog.texts:
                    # One form given: it is used for every count, not only for one.
                    for form in [k for k in texts if k.startswith(f"{key}{PLURAL_MARK}")]:
                        del texts[form]
            where = dict(shipped.where) if shipped else {}
            where.update((k, v) for k, v in catalog.where.items() if k in texts)
            catalogs[code] = _Catalog(shipped.path if shipped else catalog.path, texts, where)
        guides = _guides(folder / "guides", problems)
        for guide_id in sorted(set(guides) - base_guides):
            path = str(folder / "guides" / f"{guide_id}.md")
            problems.append(Problem(path, f"{guide_id!r} is not a guide the bot shows"))
            del guides[guide_id]
        if guides and code not in layers.messages:
            problems.append(
                Problem(str(folder), "has guides but no messages.po: this locale is not used")
            )
        elif guides:
            layers.guides.setdefault(code, {}).update(guides)


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names)) or "nothing"


def _compare(
    layers: Layers, catalog: _Catalog | None, code: str, default: str, given: frozenset[str]
) -> None:
    """Check one locale against the default: every text and guide, the same placeholders."""
    problems = layers.problems
    file = str(catalog.path) if catalog else code
    where = catalog.where if catalog else {}
    base, texts = layers.messages[default], layers.messages[code]
    # Languages have different numbers of plural forms: only whole texts are compared.
    for key in sorted(k for k in set(base) - set(texts) if PLURAL_MARK not in k):
        problems.append(Problem(file, f"missing text {key!r}", warning=True))
    for key in sorted(k for k in set(texts) - set(base) if PLURAL_MARK not in k):
        at, line = where.get(key, (file, 0))
        problems.append(Problem(at, f"text {key!r} is not in the {default} catalog", line, True))
    for key in sorted(set(base) & set(texts)):
        want, have = placeholders(base[key]), placeholders(texts[key])
        if want != have:
            at, line = where.get(key, (file, 0))
            problems.append(
                Problem(
                    at,
                    f"text {key!r} has placeholders {sorted(have)}, expected {sorted(want)}",
                    line,
                    # A placeholder the code does not fill in breaks the text; one left out
                    # only leaves out a value.
                    warning=not (have - want - given),
                )
            )
    guides = layers.guides.get(code, {})
    folder = str(Path(file).parent / "guides") if catalog else code
    for guide_id in sorted(set(layers.guides[default]) - set(guides)):
        problems.append(Problem(folder, f"missing guide {guide_id!r}", warning=True))
    for guide_id in sorted(set(guides) - set(layers.guides[default])):
        problems.append(Problem(folder, f"guide {guide_id!r} is not in {default}", warning=True))


def read_guide(path: Path) -> Guide:
    """Parse one guide file: TOML front matter (title, reviewed, sources) and Markdown."""
    try:
        text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError) as error:
        raise LocaleError(f"{path}: cannot be read ({type(error).__name__})") from None
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


def check_locales(
    root: Path,
    default: str = "en",
    overrides: Path | None = None,
    languages: Collection[str] | None = None,
    given: Collection[str] = (),
) -> list[Problem]:
    """Every problem with the locale files and overrides: errors and warnings alike."""
    return read_layers(root, default, overrides, languages, given).problems
