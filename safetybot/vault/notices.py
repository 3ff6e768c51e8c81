"""Removal requests (takedown notices) built from vault notes: web addresses, platforms, laws.

Pure: no I/O besides reading the platforms file, no clock. Nothing here logs what a person typed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from safetybot.errors import LocaleError
from safetybot.guidance.resources import _is_https, _read, _table

__all__ = [
    "LAWS",
    "MAX_URL",
    "MINOR_ANSWERS",
    "PLATFORMS_FILE",
    "NoticeFacts",
    "Platform",
    "Platforms",
    "check_platforms",
    "compose",
    "facts_from_notes",
    "is_web_address",
    "looks_like_email",
    "web_addresses",
]

PLATFORMS_FILE = "platforms.toml"

# Longer than any address a browser keeps in its bar; a pasted paragraph is not an address.
MAX_URL = 2000
# The answers to "were you under 18 when it was made?", as stored in a note.
MINOR_ANSWERS: tuple[str, ...] = ("yes", "no", "unsure")
# Separators people put between pasted addresses; never part of an address's end.
_TRAILING = ",;"


def web_addresses(text: str) -> tuple[list[str], list[str]]:
    """Split typed text into web addresses: (valid http(s) addresses as typed, the rest)."""
    valid: list[str] = []
    invalid: list[str] = []
    for token in text.split():
        address = token.rstrip(_TRAILING)
        if not address:
            continue
        target = valid if is_web_address(address) else invalid
        if address not in target:
            target.append(address)
    return valid, invalid


def is_web_address(text: str) -> bool:
    """Whether `text` is one whole http:// or https:// address with a real host name."""
    if len(text) > MAX_URL or any(c.isspace() or not c.isprintable() for c in text):
        return False
    try:
        parts = urlsplit(text)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    labels = host.rstrip(".").split(".")
    # A name with a dot (instagram.com), or an IP address; "https://photos" is not a site.
    return len(labels) >= 2 and all(labels) and all(_label_ok(label) for label in labels)


def _label_ok(label: str) -> bool:
    # Letters in any script (IDN), digits and hyphens; IPv6 hosts are left out on purpose.
    return all(c.isalnum() or c == "-" for c in label) and not label.startswith("-")


# -- platforms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """A site or app, and where it takes removal requests."""

    id: str
    name: str
    how: Mapping[str, str]  # language -> where to send the request, in words
    url: str | None = None
    own: bool = False  # from the organization's file
    source: str | None = None
    reviewed: dt.date | None = None

    def how_in(self, locale: str, default: str) -> str:
        """Where to send the request, in this language (else the default one)."""
        return self.how.get(locale) or self.how.get(default) or next(iter(self.how.values()))


_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,40}")
_KNOWN = frozenset({"id", "name", "how", "url", "source", "reviewed"})


def _platform_problems(raw: Mapping[str, Any], own: bool, needed: Sequence[str]) -> list[str]:
    """What is wrong with one entry, in words an operator can act on."""
    if own and raw.get("hidden") is True:
        extra = sorted(set(raw) - {"id", "hidden"})
        return [f"a hidden entry takes only an id, not {', '.join(extra)}"] if extra else []
    required = ("id", "name", "how") if own else ("id", "name", "how", "source", "reviewed")
    found = [f"missing field {k!r}" for k in required if k not in raw]
    found += [
        f"unknown field {k!r}" for k in raw if k not in _KNOWN | ({"hidden"} if own else set())
    ]
    ident, name = raw.get("id"), raw.get("name")
    if "id" in raw and not (isinstance(ident, str) and _ID.fullmatch(ident)):
        found.append("id must look like 'name' (lowercase letters, digits, hyphens)")
    if "name" in raw and not (isinstance(name, str) and name.strip()):
        found.append("name must be non-empty text")
    for key in ("url", "source"):
        if key in raw and not _is_https(raw[key]):
            found.append(f"{key} {raw[key]!r} is not an https:// address with a host")
    reviewed = raw.get("reviewed")
    if "reviewed" in raw and (
        not isinstance(reviewed, dt.date) or isinstance(reviewed, dt.datetime)
    ):
        found.append(f"reviewed {reviewed!r} must be a date such as 2026-01-31")
    if "how" in raw:
        found += _table(raw["how"], "how", needed)
    return found


def _platform_entries(
    path: Path, own: bool, needed: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    data, found = _read(path)
    if found:
        return [], found
    raw = data.pop("platform", [])
    found += [f"{path}: unknown top-level field {k!r}" for k in data]
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        return [], [*found, f"{path}: platforms must be [[platform]] tables"]
    good: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, entry in enumerate(raw, start=1):
        key = entry.get("id")
        label = f"{path}: platform {key!r}" if isinstance(key, str) else f"{path}: platform #{n}"
        problems = _platform_problems(entry, own, needed)
        if isinstance(key, str):
            problems += ["id is used twice in this file"] if key in seen else []
            seen.add(key)
        found += [f"{label}: {what}" for what in problems]
        if not problems:
            good.append(entry)
    return good, found


def _build_platforms(
    path: Path, overrides: Path | None, locales: Sequence[str], default: str
) -> tuple[Platforms, list[str]]:
    needed = tuple(dict.fromkeys((*locales, default)))
    shipped, found = _platform_entries(path, False, needed)
    by_id = {e["id"]: _platform(e, False) for e in shipped}
    if overrides is not None:
        extra, problems = _platform_entries(overrides, True, (default,))
        found += problems
        for entry in extra:
            if entry.get("hidden") is True:
                if by_id.pop(entry["id"], None) is None:
                    found.append(f"{overrides}: platform {entry['id']!r}: hidden, but not shipped")
                continue
            by_id[entry["id"]] = _platform(entry, True)  # a correction keeps its place
    return Platforms(list(by_id.values())), found


def _platform(raw: Mapping[str, Any], own: bool) -> Platform:
    return Platform(
        id=raw["id"],
        name=raw["name"].strip(),
        how=MappingProxyType(dict(raw["how"])),
        url=raw.get("url"),
        own=own,
        source=raw.get("source"),
        reviewed=raw.get("reviewed"),
    )


class Platforms:
    """Every platform the notice builder offers, in file order."""

    def __init__(self, platforms: Sequence[Platform]) -> None:
        self._platforms = tuple(platforms)
        self._by_id = {p.id: p for p in self._platforms}

    @classmethod
    def load(
        cls,
        path: Path,
        overrides: Path | None = None,
        *,
        locales: Sequence[str] = ("en",),
        default_locale: str = "en",
    ) -> Platforms:
        """Read the shipped file and an organization's own; raise on the first problem."""
        platforms, problems = _build_platforms(path, overrides, locales, default_locale)
        if problems:
            raise LocaleError(problems[0])
        return platforms

    def get(self, platform_id: str) -> Platform | None:
        """The platform with this id, or None (a stale button)."""
        return self._by_id.get(platform_id)

    def __iter__(self) -> Iterator[Platform]:
        return iter(self._platforms)

    def __len__(self) -> int:
        return len(self._platforms)


def check_platforms(
    path: Path,
    overrides: Path | None = None,
    *,
    locales: Sequence[str] = ("en",),
    default_locale: str = "en",
) -> list[str]:
    """Every problem in the shipped platforms file and an organization's own (empty: fine)."""
    return _build_platforms(path, overrides, locales, default_locale)[1]


# -- the notice ---------------------------------------------------------------------------------

# The laws a notice can be made under, in the order offered. Each law's words (what it needs
# the notice to say) live in the catalogs as notice.law.<id>.*; docs/FEATURES.md (private
# notes, removal requests) says what each holds.
LAWS: tuple[str, ...] = ("us", "uk", "au", "eu")


@dataclass(frozen=True)
class NoticeFacts:
    """What goes into one removal request: from the notes, the buttons and what was typed."""

    platform: str  # the platform's name as shown
    law: str  # one of LAWS
    urls: tuple[str, ...]
    accounts: tuple[str, ...]
    name: str
    email: str
    date: str  # YYYY-MM-DD


def facts_from_notes(notes: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Every valid web address and account in these notes, each once, in note order."""
    urls: list[str] = []
    accounts: list[str] = []
    for note in notes:
        fields = note.get("fields")
        if not isinstance(fields, Mapping):
            continue
        # Notes kept before the addresses were checked may hold anything: only real ones go in.
        for url in web_addresses(str(fields.get("content_urls", "")))[0]:
            if url not in urls:
                urls.append(url)
        account = " ".join(str(fields.get("posted_by", "")).split())
        if account and account not in accounts:
            accounts.append(account)
    return urls, accounts


def compose(facts: NoticeFacts, text: Callable[[str], str]) -> str:
    """The notice in one language: `text(key)` reads that language's catalog (plain text)."""
    law = f"notice.law.{facts.law}"
    lines = [
        text("notice.doc.subject"),
        "",
        f"{text('notice.doc.to')} {facts.platform}",
        "",
        text(f"{law}.opening"),
        "",
        text("notice.doc.where"),
        *[f"- {url}" for url in facts.urls],
    ]
    if facts.accounts:
        lines += ["", f"{text('notice.doc.posted_by')} {', '.join(facts.accounts)}"]
    lines += ["", text(f"{law}.statement"), ""]
    lines += [
        text("notice.doc.no_images"),
        "",
        f"{text('notice.doc.contact')} {facts.name}, {facts.email}",
        f"{text('notice.doc.signature')} /{facts.name}/",
        f"{text('notice.doc.date')} {facts.date}",
    ]
    return "\n".join(lines)


def looks_like_email(text: str) -> bool:
    """Whether `text` is one plausible e-mail address (a typo check, not a proof)."""
    local, at, domain = text.strip().rpartition("@")
    return (
        bool(at and local and domain)
        and "." in domain.strip(".")
        and not any(c.isspace() for c in text.strip())
        and len(text) <= 254
    )
