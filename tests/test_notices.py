"""Removal requests: typed web addresses, the platforms file and an organization's own."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from safetybot.errors import LocaleError
from safetybot.i18n import Texts
from safetybot.vault.notices import (
    LAWS,
    NoticeFacts,
    Platforms,
    check_platforms,
    compose,
    facts_from_notes,
    web_addresses,
)
from tests.conftest import LOCALES

SHIPPED = LOCALES / "platforms.toml"
BOTH = ("en", "es")


def _own(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "platforms.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_addresses_are_kept_as_typed_and_the_rest_named() -> None:
    typed = "https://www.instagram.com/p/Cx1/,\nhttp://example.org/a?b=1  https://Bücher.example/x"
    valid, invalid = web_addresses(typed + " www.example.org https://photos ftp://example.org/x")
    assert valid == [
        "https://www.instagram.com/p/Cx1/",
        "http://example.org/a?b=1",
        "https://Bücher.example/x",
    ]
    assert invalid == ["www.example.org", "https://photos", "ftp://example.org/x"]
    assert web_addresses("https://example.org:notaport/x") == (
        [],
        ["https://example.org:notaport/x"],
    )
    assert web_addresses("https://a.org/x https://a.org/x")[0] == ["https://a.org/x"]


def test_every_shipped_platform_says_where_in_both_languages_and_where_it_was_checked() -> None:
    assert check_platforms(SHIPPED, locales=BOTH) == []
    platforms = Platforms.load(SHIPPED, locales=BOTH)
    names = {p.name for p in platforms}
    assert {"Instagram / Facebook", "X (Twitter)", "Discord", "Google Search"} <= names
    for platform in platforms:
        assert platform.how["en"] and platform.how["es"], platform.id
        assert platform.source is not None and platform.source.startswith("https://")
        assert platform.reviewed == dt.date(2026, 12, 7)
    x = platforms.get("x")
    assert (
        x is not None
        and x.url == "https://help.x.com/forms/safety-and-sensitive-content/take-it-down"
    )
    assert "No necesitas una cuenta" in x.how_in("es", "en")


def test_an_organization_corrects_adds_and_hides_platforms(tmp_path: Path) -> None:
    own = _own(
        tmp_path,
        """
[[platform]]
id = "discord"
name = "Discord"
how = { en = "Our advocates file it for you: call us." }

[[platform]]
id = "acme-forum"
name = "Acme Forum"
how = { en = "Write to the forum's abuse address." }
url = "https://forum.example.org/abuse"

[[platform]]
id = "whatsapp"
hidden = true
""",
    )
    platforms = Platforms.load(SHIPPED, own, locales=BOTH)
    ids = [p.id for p in platforms]
    assert "whatsapp" not in ids and ids[-1] == "acme-forum"
    discord = platforms.get("discord")
    assert discord is not None and discord.own
    # An organization's text in one language is shown in every language.
    assert discord.how_in("es", "en") == "Our advocates file it for you: call us."
    assert ids.index("discord") < ids.index("acme-forum")  # a correction keeps its place


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ('id = "acme"\nhow = { en = "x" }', "missing field 'name'"),
        ('id = "acme"\nname = "A"\nhow = { en = "x" }\nurl = "http://a.org/"', "not an https://"),
        ('id = "acme"\nname = "A"\nhow = "x"', "how must be a table"),
        ('id = "Acme Forum"\nname = "A"\nhow = { en = "x" }', "id must look like"),
        ('id = "acme"\nname = "A"\nhow = { en = "x" }\nphone = "+1555"', "unknown field 'phone'"),
        ('id = "tiktok"\nhidden = true', "hidden, but not shipped"),
    ],
)
def test_a_bad_organization_entry_is_named_and_refused(
    tmp_path: Path, entry: str, problem: str
) -> None:
    own = _own(tmp_path, f"[[platform]]\n{entry}\n")
    problems = check_platforms(SHIPPED, own, locales=BOTH)
    assert any(problem in p for p in problems), problems
    with pytest.raises(LocaleError, match="platform"):
        Platforms.load(SHIPPED, own, locales=BOTH)


# What each law asks a notice to hold (from the issue), as the English request says it.
ELEMENTS = {
    "us": ("47 U.S.C. 223a", "good-faith belief", "published without my consent"),
    "uk": ("Online Safety Act", "I declare that I am the person shown"),
    "au": ("eSafety", "I did not consent"),
    "eu": ("Article 16", "Why it is illegal", "bona fide belief", "accurate and complete"),
}


@pytest.mark.parametrize("law", LAWS)
def test_every_request_holds_what_its_law_asks_for(texts: Texts, law: str) -> None:
    notes = [
        {"fields": {"content_urls": "https://a.example/1\nnot-an-address", "posted_by": "@them"}},
        {"fields": {"content_urls": "https://a.example/1 https://b.example/2"}},
        {"fields": {"what": "an old note, before addresses were kept"}},
    ]
    urls, accounts = facts_from_notes(notes)
    assert urls == ["https://a.example/1", "https://b.example/2"] and accounts == ["@them"]
    facts = NoticeFacts(
        "Discord", law, tuple(urls), tuple(accounts), "A. Person", "a@b.example", "2026-12-07"
    )
    english = compose(facts, lambda key: texts.text("en", key))
    for element in (*ELEMENTS[law], "https://a.example/1", "https://b.example/2", "@them"):
        assert element in english, element
    assert "A. Person, a@b.example" in english and "/A. Person/" in english  # contact, signature
    assert "2026-12-07" in english and "not attached any image" in english
    spanish = compose(facts, lambda key: texts.text("es", key))
    assert "Firma electrónica: /A. Person/" in spanish and "https://b.example/2" in spanish
