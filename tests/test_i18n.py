"""Every word a person reads: present, complete in every locale, valid Telegram HTML."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest

from safetybot.core.menus import GuideId
from safetybot.errors import LocaleError
from safetybot.i18n import Texts, check_locales, placeholders, read_guide
from safetybot.markup import Format, render, split
from tests.conftest import LOCALES
from tests.fakebotapi import ApiError, parse_html

PACKAGE = Path(__file__).resolve().parent.parent / "safetybot"


def _keys_used_in_code() -> set[str]:
    keys: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        keys |= set(re.findall(r'\bT\(\s*"([a-z0-9_.]+)"', source))
        keys |= set(re.findall(r'_button\(\s*"([a-z0-9_.]+)"', source))
        keys |= set(re.findall(r'\.text\([^,]+,\s*"([a-z0-9_.]+)"', source))
    return keys


def test_every_text_key_the_code_uses_exists(texts: Texts) -> None:
    used = _keys_used_in_code()
    assert len(used) > 20, "the key scan found too little; did the code style change?"
    missing = sorted(key for key in used if not texts.has(key))
    assert missing == []


def test_every_guide_exists_parses_and_names_its_sources(texts: Texts) -> None:
    for locale in texts.locales:
        for guide_id in GuideId:
            guide = read_guide(LOCALES / locale / "guides" / f"{guide_id.value}.md")
            assert 0 < len(guide.title) <= 32, guide_id  # it is also a button label
            assert guide.sources and all(s.url.startswith("https://") for s in guide.sources)
            assert guide.reviewed.year >= 2026


def test_shipped_locales_are_complete() -> None:
    assert check_locales(LOCALES) == []


def test_every_text_and_guide_renders_to_valid_telegram_html(texts: Texts) -> None:
    for locale in texts.locales:
        documents = [
            texts.text(locale, key, _sample_params(texts.raw(texts.default, key) or ""))
            for key in texts.keys(locale)
        ]
        documents += [g.body for g in texts.guides_in(locale).values()]
        for document in documents:
            for message in split(render(document, Format.TELEGRAM_HTML), 4096):
                try:
                    parse_html(message)
                except ApiError as error:  # pragma: no cover - the assertion explains
                    pytest.fail(f"{locale}: {error.description}: {message[:80]!r}")


def _sample_params(template: str) -> dict[str, object]:
    return {name: "<b>&x" for name in re.findall(r"\{([a-z_][a-z0-9_]*)\}", template)}


def _copy_locales(tmp_path: Path) -> Path:
    root = tmp_path / "locales"
    shutil.copytree(LOCALES, root)
    return root


def test_the_check_fails_when_a_translation_is_missing(tmp_path: Path) -> None:
    root = _copy_locales(tmp_path)
    other = next(p for p in root.iterdir() if p.is_dir() and p.name != "en")
    catalog = other / "messages.po"
    if not catalog.exists():  # a locale with guides only: give it a catalog missing a key
        shutil.copy(root / "en" / "messages.po", catalog)
    text = catalog.read_text(encoding="utf-8")
    text = re.sub(r'msgid "vault\.saved"\nmsgstr "[^"]*"\n', "", text)
    catalog.write_text(text, encoding="utf-8")
    (other / "guides" / "deepfakes.md").unlink()
    problems = [str(p) for p in check_locales(root)]
    assert any("missing text 'vault.saved'" in p for p in problems), problems
    assert any("missing guide 'deepfakes'" in p for p in problems), problems


def test_the_check_fails_when_placeholders_differ(tmp_path: Path) -> None:
    root = _copy_locales(tmp_path)
    catalog = root / "en" / "messages.po"
    text = catalog.read_text(encoding="utf-8")
    other = next(p for p in root.iterdir() if p.is_dir() and p.name != "en")
    (other / "messages.po").write_text(
        text.replace("Saved as note {number}.", "Saved as note {numbr}."), encoding="utf-8"
    )
    problems = [str(p) for p in check_locales(root)]
    assert any("vault.saved" in p and "numbr" in p for p in problems), problems


def test_parameters_are_escaped_and_missing_ones_are_an_error(texts: Texts) -> None:
    text = texts.text("en", "vault.saved", {"number": "**5**"})
    assert render(text, Format.TELEGRAM_HTML) == ["Saved as note **5**."]
    with pytest.raises(LocaleError):
        texts.text("en", "vault.saved", {})
    with pytest.raises(LocaleError):
        texts.text("en", "no.such.key")


def test_language_tags_pick_a_shipped_locale(texts: Texts) -> None:
    assert texts.pick("en-GB") == "en"
    assert texts.pick("xx") == texts.default
    assert texts.pick(None) == texts.default


def test_a_known_language_is_only_a_shipped_one(texts: Texts) -> None:
    assert texts.known("es-MX") == "es"
    assert texts.known("pt-BR") is None and texts.known(None) is None


@pytest.mark.parametrize(
    ("words", "language"),
    [
        ("me quiero morir", "es"),
        ("Hola, necesito ayuda", "es"),
        ("q hago, tengo miedo", "es"),
        ("un tipo me está extorsionando con unas fotos", "es"),
        ("I want to die", "en"),
        ("hi", "en"),
        ("someone is blackmailing me with my pics", "en"),
        ("plz help me", "en"),
        ("ok", None),  # no language's words: the default stays
        ("Kim", None),
        ("🙏", None),
    ],
)
def test_the_language_a_person_writes_in_is_read_from_their_words(
    texts: Texts, words: str, language: str | None
) -> None:
    assert texts.guess(words) == language


def test_the_common_words_of_two_languages_never_overlap(texts: Texts) -> None:
    # A word both lists hold would count for both and decide nothing; "no" and "me" are
    # left out on purpose.
    english, spanish = (set(texts.raw(code, "language.words").split(", ")) for code in ("en", "es"))  # type: ignore[union-attr]
    assert len(english) > 50 and len(spanish) > 50
    assert english & spanish == set()


def test_a_guide_without_sources_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "g.md"
    path.write_text('+++\ntitle = "T"\nreviewed = 2026-01-01\nsources = []\n+++\nBody\n')
    with pytest.raises(LocaleError, match="source"):
        read_guide(path)


FACT_KEYS = ("plan.", "route.", "crisis.checklist", "minor.noticed", "attachment.not_kept")


def test_every_text_stating_facts_names_its_sources() -> None:
    from babel.messages.pofile import read_po

    with (LOCALES / "en" / "messages.po").open("rb") as handle:
        catalog = read_po(handle)
    stating = [m for m in catalog if m.id and str(m.id).startswith(FACT_KEYS)]
    assert len(stating) > 15
    for message in stating:
        heading = str(message.id).removesuffix(".helper")  # a helper's wording of one
        if heading in ("plan.intro", "plan.routes", "plan.contacts", "plan.danger"):
            continue  # headings and framing, no facts
        comments = " ".join(message.auto_comments)
        assert "Sources (reviewed" in comments, message.id


@pytest.mark.parametrize(
    ("locale", "count", "words"),
    [
        ("en", 1, "Please wait 1 second,"),
        ("en", 2, "Please wait 2 seconds,"),
        ("es", 1, "espera 1 segundo y"),
        ("es", 2, "espera 2 segundos y"),
    ],
)
def test_counts_use_the_gettext_plural_form_of_each_language(
    texts: Texts, locale: str, count: int, words: str
) -> None:
    assert words in texts.text(locale, "vault.wait", {"seconds": count})


# Placeholders that hold how many of something: a text using one needs plural forms.
COUNT_NAMES = frozenset(
    {"count", "deleted", "remaining", "left", "seconds", "minutes", "hours", "days", "tries"}
)


def test_every_text_with_a_count_has_plural_forms_in_every_language(texts: Texts) -> None:
    counted = sorted(
        key
        for key in texts.keys(texts.default)
        if "#" not in key and placeholders(texts.raw(texts.default, key) or "") & COUNT_NAMES
    )
    assert len(counted) >= 14, counted  # the scan still finds the texts it is meant for
    for locale in texts.locales:
        for key in counted:
            one, other = texts.raw(locale, key), texts.raw(locale, f"{key}#1")
            assert other is not None, f"{locale}: {key} needs msgid_plural and two forms"
            assert one != other, f"{locale}: {key} has the same words for 1 and for 2"


def test_no_text_works_around_plurals(texts: Texts) -> None:
    for locale in texts.locales:
        for key in texts.keys(locale):
            text = texts.raw(locale, key) or ""
            assert not re.search(r"\w\((?:s|es)\)", text), f"{locale}: {key}: {text[:80]!r}"


def test_both_catalogs_declare_their_plural_forms() -> None:
    for locale in ("en", "es"):
        header = (LOCALES / locale / "messages.po").read_text(encoding="utf-8")[:1000]
        assert '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' in header


@pytest.mark.parametrize(
    ("locale", "key", "params", "words"),
    [
        ("en", "vault.wrong", {"left": 1}, "You have 1 more try before a pause."),
        ("en", "vault.wrong", {"left": 2}, "You have 2 more tries before a pause."),
        ("es", "vault.wrong", {"left": 1}, "Te queda 1 intento más antes de una pausa."),
        ("es", "vault.wrong", {"left": 2}, "Te quedan 2 intentos más antes de una pausa."),
        ("en", "vault.note.versions", {"count": 1}, "Edited 1 time; the earlier version"),
        ("en", "vault.note.versions", {"count": 3}, "Edited 3 times; every earlier version"),
        ("es", "vault.note.versions", {"count": 1}, "Editada 1 vez; la versión anterior"),
        ("es", "vault.note.versions", {"count": 3}, "Editada 3 veces; todas las versiones"),
        ("en", "clear.done", {"deleted": 1}, "1 message was deleted from this chat."),
        ("en", "clear.done", {"deleted": 0}, "0 messages were deleted from this chat."),
        ("es", "clear.done", {"deleted": 1}, "Se eliminó 1 mensaje de este chat."),
        ("es", "clear.done", {"deleted": 7}, "Se eliminaron 7 mensajes de este chat."),
        ("en", "vault.damaged", {"count": 2}, "2 stored entries could not be opened."),
        ("es", "vault.damaged", {"count": 1}, "No se pudo abrir 1 entrada guardada."),
        ("en", "privacy.retention", {"days": 1}, "for 1 day, everything"),
        ("es", "privacy.retention", {"days": 90}, "durante 90 días, todo"),
        # Two numbers: the form follows the minutes, not the number of notes.
        (
            "en",
            "vault.home",
            {"count": 1, "minutes": 10},
            "Private notes: 1.** They lock again after 10 minutes",
        ),
        (
            "en",
            "vault.home",
            {"count": 4, "minutes": 1},
            "Private notes: 4.** They lock again after 1 minute without",
        ),
        ("es", "vault.home", {"count": 1, "minutes": 10}, "después de 10 minutos sin usarlas"),
    ],
)
def test_texts_with_a_count_read_right_for_one_and_for_many(
    texts: Texts, locale: str, key: str, params: dict[str, object], words: str
) -> None:
    assert words in texts.text(locale, key, params)


def test_an_organizations_text_with_one_form_is_used_for_every_count(tmp_path: Path) -> None:
    overrides = tmp_path / "overrides"
    for locale in ("en", "es"):
        (overrides / locale).mkdir(parents=True)
        (overrides / locale / "messages.po").write_text(
            f'msgid "clear.done"\nmsgstr "Cleared ({locale}): {{deleted}}."\n', encoding="utf-8"
        )
    assert check_locales(LOCALES, overrides=overrides) == []
    texts = Texts.load(LOCALES, overrides=overrides)
    for count in (1, 2):
        assert texts.text("en", "clear.done", {"deleted": count}) == f"Cleared (en): {count}."
        assert texts.text("es", "clear.done", {"deleted": count}) == f"Cleared (es): {count}."


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", "Sources (reviewed December 7, 2026):"),
        ("es", "Fuentes (revisadas el 7 de diciembre de 2026):"),
    ],
)
def test_dates_are_written_in_the_persons_language(texts: Texts, locale: str, words: str) -> None:
    assert texts.text(locale, "guide.sources", {"date": dt.date(2026, 12, 7)}) == words
    moment = dt.datetime(2026, 11, 21, 14, 3, tzinfo=dt.UTC)
    shown = texts.text(locale, "vault.note.header", {"number": 2, "recorded": moment})
    expected = {"en": "Nov 21, 2026, 2:03:00\u202fPM UTC", "es": "21 nov 2026, 14:03:00 UTC"}
    assert shown.endswith(expected[locale])
