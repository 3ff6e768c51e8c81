"""An organization's own words: overrides over shipped texts; its name in /start and /privacy."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetybot.core.service import Service
from safetybot.errors import LocaleError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.locales import check_locales
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.conftest import FAST_VAULT, LOCALES, Chat, RecordingFrontEnd

HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
GUIDE = (
    '+++\ntitle = "Our privacy notice"\nreviewed = 2026-11-01\n'
    'sources = [{ name = "Us", url = "https://harbor.example.org/privacy" }]\n+++\n'
    "We keep nothing you do not choose to keep.\n"
)
ORG = {"org_name": "Harbor Line", "org_contact": "+1 555 123 4567"}


def _overrides(tmp_path: Path, locale: str, entries: str, guide: str | None = None) -> Path:
    root = tmp_path / "overrides"
    folder = root / locale
    folder.mkdir(parents=True)
    (folder / "messages.po").write_text(HEADER + entries, encoding="utf-8")
    if guide is not None:
        (folder / "guides").mkdir()
        (folder / "guides" / "privacy.md").write_text(guide, encoding="utf-8")
    return root


def test_an_override_replaces_a_text_and_a_guide_in_one_locale(tmp_path: Path) -> None:
    root = _overrides(
        tmp_path, "es", 'msgid "menu.title"\nmsgstr "¿Qué necesitas hoy?"\n', guide=GUIDE
    )
    texts = Texts.load(LOCALES, overrides=root)
    assert texts.text("es", "menu.title") == "¿Qué necesitas hoy?"
    assert texts.text("en", "menu.title") == "What would you like to do?"  # untouched
    assert texts.guide("es", "privacy").title == "Our privacy notice"
    assert texts.guide("en", "privacy").title != "Our privacy notice"
    assert [p for p in check_locales(LOCALES, overrides=root) if not p.warning] == []


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ('msgid "vault.saved"\nmsgstr "Saved as {numbr}."\n', "uses {numbr}, which the bot"),
        ('msgid "menu.titel"\nmsgstr "Hello"\n', "'menu.titel' is not a text the bot has"),
        ('msgid "menu.title"\nmsgstr "Welcome to {org_name}"\n', "uses {org_name}"),
    ],
)
def test_an_override_the_code_cannot_fill_is_an_error_with_file_and_line(
    tmp_path: Path, entries: str, expected: str
) -> None:
    root = _overrides(tmp_path, "en", entries)
    catalog = root / "en" / "messages.po"
    problems = [str(p) for p in check_locales(LOCALES, overrides=root) if not p.warning]
    assert problems and problems[0].startswith(f"{catalog}:5: "), problems
    assert expected in problems[0]
    with pytest.raises(LocaleError, match=r"messages\.po:5"):
        Texts.load(LOCALES, overrides=root)


def test_the_organization_name_may_be_used_in_any_override_once_it_is_set(tmp_path: Path) -> None:
    root = _overrides(tmp_path, "en", 'msgid "menu.title"\nmsgstr "{org_name}: what now?"\n')
    texts = Texts.load(LOCALES, overrides=root, organization=ORG)
    assert texts.text("en", "menu.title") == "Harbor Line: what now?"


def test_an_unknown_guide_in_the_overrides_is_an_error(tmp_path: Path) -> None:
    root = _overrides(tmp_path, "en", "")
    (root / "en" / "guides").mkdir()
    (root / "en" / "guides" / "our_story.md").write_text(GUIDE, encoding="utf-8")
    problems = [str(p) for p in check_locales(LOCALES, overrides=root)]
    assert any("'our_story' is not a guide the bot shows" in p for p in problems), problems


def test_a_new_language_in_the_overrides_falls_back_and_is_reported(tmp_path: Path) -> None:
    root = _overrides(tmp_path, "fr", 'msgid "menu.title"\nmsgstr "Que voulez-vous faire ?"\n')
    texts = Texts.load(LOCALES, overrides=root)
    assert "fr" in texts.locales
    assert texts.text("fr", "menu.title") == "Que voulez-vous faire ?"
    assert texts.text("fr", "guides.title") == texts.text("en", "guides.title")
    problems = check_locales(LOCALES, overrides=root)
    missing = [p for p in problems if "missing text" in p.message]
    assert missing and all(p.warning for p in missing)  # a gap is a warning, not an error


def test_languages_not_enabled_are_not_offered() -> None:
    texts = Texts.load(LOCALES, languages=["en"])
    assert texts.locales == ("en",)
    assert texts.pick("es-MX") == "en"


@pytest.fixture
def branded(store: Store, keyring: Keyring, directory: Directory) -> Service:
    texts = Texts.load(LOCALES, organization=ORG)
    return Service(store, keyring, texts, directory, FAST_VAULT)


async def test_the_organization_shows_in_start_and_privacy_in_both_languages(
    branded: Service,
) -> None:
    chat = Chat(branded, RecordingFrontEnd())
    welcome = await chat.command("start")
    assert "Harbor Line" in welcome and "+1 555 123 4567" in welcome
    assert welcome.startswith("Hi")  # the neutral first line is still first
    privacy = await chat.command("privacy")
    assert "Harbor Line runs this bot" in privacy and "+1 555 123 4567" in privacy
    spanish = Chat(branded, RecordingFrontEnd(), user="555")
    spanish.language = "es"
    assert "lo ofrece **Harbor Line**" in await spanish.command("start")


async def test_without_an_organization_nothing_is_added(service: Service) -> None:
    chat = Chat(service, RecordingFrontEnd())
    assert "run by" not in await chat.command("start")
