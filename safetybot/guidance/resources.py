"""The resource directory: helplines and removal services per country, from TOML.

The shipped file is locales/resources.toml (its header documents the schema). An
organization's own file in the same schema is layered on top: a known id replaces the shipped
entry, a new id adds one, and `hidden = true` with just an id removes one. Every entry is
checked on load.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from safetybot.errors import LocaleError

__all__ = ["Ages", "Country", "Directory", "Kind", "Resource", "check_directory", "display_phone"]


class Country(StrEnum):
    """The countries the bot offers, in menu order; INT means anywhere else."""

    US = "US"
    GB = "GB"
    CA = "CA"
    AU = "AU"
    ES = "ES"
    MX = "MX"
    AR = "AR"
    CO = "CO"
    INT = "INT"


class Kind(StrEnum):
    """What a service does."""

    CRISIS = "crisis"
    EMERGENCY = "emergency"
    NCII = "ncii"
    SEXTORTION = "sextortion"
    REMOVAL = "removal"
    MINORS = "minors"
    POLICE = "police"
    SUPPORT = "support"
    DV = "dv"  # dating and domestic abuse


class Ages(StrEnum):
    """Who a service is for."""

    ANY = "any"
    UNDER_18 = "under-18"
    ADULT = "18+"


def _no_texts() -> Any:
    return field(default_factory=lambda: MappingProxyType({}), hash=False)


@dataclass(frozen=True)
class Resource:
    """One helpline, reporting or removal service."""

    id: str
    country: Country
    name: str
    kinds: frozenset[Kind]
    helps_with: Mapping[str, str] = field(hash=False)  # locale -> text
    ages: Ages
    languages: tuple[str, ...]
    phone: str | None = None
    url: str | None = None
    text_line: Mapping[str, str] = _no_texts()  # e.g. "Call 999"
    hours: Mapping[str, str] = _no_texts()
    own: bool = False
    source: str | None = None  # the page where the number or address was checked
    reviewed: dt.date | None = None  # when it was last checked

    def localized(self, field: Mapping[str, str], locale: str, default: str) -> str | None:
        """Return a text table's value for `locale`, else for `default`, else None."""
        return field.get(locale) or field.get(default)

    def suits(self, age: Ages | None) -> bool:
        """Whether the service is for someone of this age (None or ANY: age unknown)."""
        return age in (None, Ages.ANY) or self.ages in (Ages.ANY, age)


_ID = re.compile(r"[a-z]{2,3}-[a-z0-9-]+")
_PHONE = re.compile(r"\+[1-9][0-9]{7,14}")
_LANGUAGE = re.compile(r"[a-z]{2}")
_REQUIRED = ("id", "country", "name", "kinds", "helps_with", "ages", "languages")
# Every shipped entry says where it was checked and when; an organization's own may not.
_SHIPPED_REQUIRED = ("source", "reviewed")
_TEXTS = ("helps_with", "text_line", "hours")
# ITU two-digit country codes (1 and 7 are one digit, all others three); used for display only.
_CC2 = re.compile(r"2[07]|3[0-469]|4[013-9]|5[1-8]|6[0-6]|8[1246]|9[0-58]")
_Check = Callable[[object], bool]


def _is(pattern: re.Pattern[str]) -> _Check:
    return lambda v: isinstance(v, str) and pattern.fullmatch(v) is not None


def _one_of(*values: str) -> _Check:
    return lambda v: isinstance(v, str) and v in values


def _list_of(ok: _Check) -> _Check:
    return lambda v: isinstance(v, list) and bool(v) and all(ok(x) for x in v)


def _is_https(url: object) -> bool:
    if not isinstance(url, str) or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme == "https" and bool(parts.hostname)
    except ValueError:  # e.g. a bad port or IPv6 literal
        return False


_FIELDS: dict[str, tuple[_Check, str]] = {
    "id": (_is(_ID), "id must look like 'us-name' (lowercase letters, digits, hyphens)"),
    "country": (_one_of(*Country), "country {v!r} is not one of " + ", ".join(Country)),
    "name": (lambda v: isinstance(v, str) and bool(v.strip()), "name must be non-empty text"),
    "kinds": (
        _list_of(_one_of(*Kind)),
        "kinds {v!r} must be a non-empty list of " + ", ".join(Kind),
    ),
    "ages": (_one_of(*Ages), "ages {v!r} is not one of " + ", ".join(Ages)),
    "languages": (_list_of(_is(_LANGUAGE)), "languages {v!r} must list 2-letter codes"),
    "phone": (_is(_PHONE), "phone {v!r} is not E.164 (+ and 8-15 digits)"),
    "url": (_is_https, "url {v!r} is not an https:// address with a host"),
    "source": (_is_https, "source {v!r} is not an https:// address with a host"),
    "reviewed": (
        lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime),
        "reviewed {v!r} must be a date such as 2026-01-31",
    ),
}


def _read(path: Path) -> tuple[dict[str, Any], list[str]]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle), []
    except FileNotFoundError:
        return {}, [f"{path}: file not found"]
    except tomllib.TOMLDecodeError as error:  # its message carries "(at line N, column M)"
        return {}, [f"{path}: not valid TOML: {error}"]
    except RecursionError:  # a = [[[[… deeper than tomllib goes
        return {}, [f"{path}: not valid TOML: nested too deeply"]
    except (OSError, UnicodeDecodeError) as error:
        return {}, [f"{path}: cannot be read ({type(error).__name__})"]


def _table(value: object, name: str, needed: Iterable[str]) -> list[str]:
    if not isinstance(value, dict) or not value:
        return [f'{name} must be a table such as {{ en = "…" }}']
    bad = [k for k, v in value.items() if not isinstance(v, str) or not v.strip()]
    return [f"{name}.{k} must be non-empty text" for k in bad] + [
        f"{name} has no {k!r} text" for k in needed if k not in value
    ]


def _problems(raw: dict[str, Any], own: bool, locales: Sequence[str], default: str) -> list[str]:
    """What is wrong with one entry, in words an operator can act on."""
    if own and raw.get("hidden") is True:
        extra = sorted(set(raw) - {"id", "hidden"})
        found = [f"a hidden entry takes only an id, not {', '.join(extra)}"] if extra else []
        if not isinstance(raw.get("id"), str):
            found.append("a hidden entry needs the id (text) it hides")
        return found
    known = {*_FIELDS, *_TEXTS, *(["hidden"] if own else [])}
    required = _REQUIRED if own else (*_REQUIRED, *_SHIPPED_REQUIRED)
    found = [f"missing field {k!r}" for k in required if k not in raw]
    found += [f"unknown field {k!r}" for k in raw if k not in known]
    found += [m.format(v=raw[k]) for k, (ok, m) in _FIELDS.items() if k in raw and not ok(raw[k])]
    if own and not isinstance(raw.get("hidden", False), bool):
        found.append("hidden must be true or false")
    for name in _TEXTS:
        needed = dict.fromkeys((*locales, default)) if name == "helps_with" else (default,)
        found += _table(raw[name], name, needed) if name in raw else []
    if not any(k in raw for k in ("phone", "url", "text_line")):
        found.append("needs at least one of phone, url, text_line")
    return found


def _entries(
    path: Path, own: bool, locales: Sequence[str], default: str
) -> tuple[list[dict[str, Any]], list[str]]:
    data, found = _read(path)
    if found:
        return [], found
    reviewed, raw = data.pop("reviewed", None), data.pop("resource", [])
    found += [f"{path}: unknown top-level field {k!r}" for k in data]
    if reviewed is not None and not isinstance(reviewed, dt.date):
        found.append(f"{path}: reviewed must be a date such as 2026-01-31")
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        return [], [*found, f"{path}: resources must be [[resource]] tables"]
    if not raw and not own:
        found.append(f"{path}: has no [[resource]] entries")
    good: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw, start=1):
        key = entry.get("id")
        label = f"{path}: resource {key!r}" if isinstance(key, str) else f"{path}: resource #{n}"
        problems = _problems(entry, own, locales, default)
        if isinstance(key, str):
            problems += ["id is used twice in this file"] if key in seen else []
            seen.add(key)
        found += [f"{label}: {what}" for what in problems]
        if not problems:
            good.append(entry)
    return good, found


def _resource(raw: dict[str, Any], own: bool) -> Resource:
    def texts(name: str) -> Mapping[str, str]:
        return MappingProxyType(dict(raw.get(name, {})))

    return Resource(
        id=raw["id"],
        country=Country(raw["country"]),
        name=raw["name"].strip(),
        kinds=frozenset(Kind(k) for k in raw["kinds"]),
        helps_with=texts("helps_with"),
        ages=Ages(raw["ages"]),
        languages=tuple(raw["languages"]),
        phone=raw.get("phone"),
        url=raw.get("url"),
        text_line=texts("text_line"),
        hours=texts("hours"),
        own=own,
        source=raw.get("source"),
        reviewed=raw.get("reviewed"),
    )


def _build(
    path: Path, overrides: Path | None, locales: Sequence[str], default: str
) -> tuple[Directory, list[str]]:
    shipped, found = _entries(path, False, locales, default)
    by_id = {e["id"]: _resource(e, False) for e in shipped}
    own_order: dict[str, int] = {}
    if overrides is not None:
        extra, problems = _entries(overrides, True, locales, default)
        found += problems
        for entry in extra:
            if entry.get("hidden") is True:
                if by_id.pop(entry["id"], None) is None:
                    found.append(f"{overrides}: resource {entry['id']!r}: hidden, but not shipped")
                continue
            # A correction keeps its shipped place; only the organization's new entries are
            # listed first (their own services, such as their hotline).
            if entry["id"] not in by_id:
                own_order[entry["id"]] = len(own_order)
            by_id[entry["id"]] = _resource(entry, True)
    return Directory(list(by_id.values()), own_order), found


class Directory:
    """Every resource in use, in file order, searchable by country, kind and age."""

    def __init__(
        self, resources: Sequence[Resource], own_order: Mapping[str, int] | None = None
    ) -> None:
        self._resources = tuple(resources)
        self._by_id = {r.id: r for r in self._resources}
        self._own_order = dict(own_order or {})  # id -> position in the organization's file

    @classmethod
    def load(
        cls,
        path: Path,
        overrides: Path | None = None,
        *,
        locales: Sequence[str] = ("en",),
        default_locale: str = "en",
    ) -> Directory:
        """Read the shipped file and an organization's own file; raise on the first problem."""
        directory, problems = _build(path, overrides, locales, default_locale)
        if problems:
            raise LocaleError(problems[0])
        return directory

    def get(self, resource_id: str) -> Resource:
        """Return the resource with this id; KeyError if there is none."""
        return self._by_id[resource_id]

    def find(
        self,
        country: Country,
        *,
        kinds: Iterable[Kind] | None = None,
        age: Ages | None = None,
        include_international: bool = True,
    ) -> list[Resource]:
        """Resources for a country: the organization's own, the country's, then international."""
        places = [country]
        if include_international and country is not Country.INT:
            places.append(Country.INT)
        wanted = None if kinds is None else frozenset(kinds)
        found = [
            r
            for r in self._resources
            if r.country in places and r.suits(age) and (wanted is None or r.kinds & wanted)
        ]
        # The own group follows the organization's file; the others keep shipped order.
        return sorted(
            found,
            key=lambda r: (
                (0, self._own_order[r.id])
                if r.id in self._own_order
                else (1, places.index(r.country))
            ),
        )

    def __iter__(self) -> Iterator[Resource]:
        return iter(self._resources)

    def __len__(self) -> int:
        return len(self._resources)


def check_directory(
    path: Path,
    overrides: Path | None = None,
    locales: Sequence[str] = ("en",),
    *,
    default_locale: str = "en",
) -> list[str]:
    """Return every problem in the resource files, each naming its file and entry."""
    return _build(path, overrides, locales, default_locale)[1]


# How people dial their own country's numbers: the country calling code, and the trunk prefix
# written before the national number ("0" in the UK: +448001111 is dialled 0800 1111).
_NATIONAL: dict[str, tuple[str, str]] = {
    "US": ("1", "1"),
    "CA": ("1", "1"),
    "GB": ("44", "0"),
    "AU": ("61", "0"),
    "ES": ("34", ""),
    "MX": ("52", ""),
    "AR": ("54", "0"),
    "CO": ("57", ""),
}


def _groups(digits: str, sizes: Sequence[int], sep: str = " ") -> str:
    parts: list[str] = []
    for size in sizes:
        parts, digits = [*parts, digits[:size]], digits[size:]
    return sep.join(p for p in (*parts, digits) if p)


def _national_sizes(country: str, national: str) -> tuple[int, ...] | None:
    """Digit groups for a number written as dialled inside `country`; None: no rule."""
    if country == "GB":
        if len(national) == 8:  # 0800 1111
            return (4, 4)
        if len(national) == 11:
            return {"2": (3, 4, 4), "7": (5, 6), "3": (4, 4, 3), "8": (4, 4, 3)}.get(
                national[1], (5, 6)
            )
    if country == "AU" and len(national) == 10:
        return (4, 3, 3) if national[1] == "4" else (2, 4, 4)
    if country == "ES" and len(national) == 9:
        return (3, 3, 3)
    if country == "MX" and len(national) == 10:
        return (2, 4, 4) if national[:2] in ("55", "33", "81") else (3, 3, 4)
    return None


def display_phone(e164: str, country: str | None = None) -> str:
    """Write an E.164 number as people dial it in `country` when it is that country's
    number (e.g. '0800 1111' in the UK), else internationally ('+44 800 1111')."""
    if not _PHONE.fullmatch(e164):
        return e164
    national = _NATIONAL.get(country or "")
    if national is not None and e164[1:].startswith(national[0]):
        code, trunk = national
        rest = e164[1 + len(code) :]
        if code == "1" and len(rest) == 10:  # as on US and Canadian signs: 1-800-843-5678
            return _groups(f"{trunk}{rest}", (1, 3, 3), sep="-")
        sizes = _national_sizes(country or "", trunk + rest)
        if sizes is not None:
            return _groups(trunk + rest, sizes)
    return _international(e164)


def _international(e164: str) -> str:
    """E.164 with readable spaces, e.g. '+1 844 878 2274'."""
    digits = e164[1:]
    split = 1 if digits[0] in "17" else 2 if _CC2.fullmatch(digits[:2]) else 3
    cc, rest = digits[:split], digits[split:]
    sizes: tuple[int, ...]
    if cc == "1" and len(rest) == 10:
        sizes = (3, 3, 4)
    elif cc == "44" and len(rest) == 10:
        sizes = (2, 4, 4) if rest.startswith("20") else (4, 6) if rest[0] == "7" else (3, 3, 4)
    elif cc == "61" and len(rest) == 9:
        sizes = (3, 3, 3) if rest[0] == "4" else (1, 4, 4)
    else:
        # Groups of three with fours at the end, when the length allows (not 1, 2 or 5 digits).
        fours = len(rest) % 3
        sizes = (3,) * ((len(rest) - 4 * fours) // 3) + (4,) * fours
        if len(rest) in (1, 2, 5):
            sizes = (len(rest),)
    parts = ["+" + cc]
    for size in sizes:
        parts, rest = [*parts, rest[:size]], rest[size:]
    return " ".join(parts)
