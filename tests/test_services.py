"""Issue 17: `safetybot check` and `check-locales` fail on a text that names a helpline or
service the resource directory lacks, and pass once the directory lists it."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetybot.cli import main
from safetybot.guidance.resources import Directory
from safetybot.guidance.services import known_services, route_names, unknown_services
from tests.conftest import LOCALES

HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
GUIDE = (
    '+++\ntitle = "Support"\nreviewed = 2026-12-07\n'
    'sources = [{ name = "Us", url = "https://harbor.example.org/support" }]\n+++\n'
    "You are not alone. Call the Sunrise Teen Helpline tonight, or open Helplines in the menu.\n"
)
OWN_LINE = (
    '[[resource]]\nid = "us-sunrise"\ncountry = "US"\nname = "Sunrise Teen Helpline"\n'
    'kinds = ["support"]\nurl = "https://sunrise.example.org/"\n'
    'helps_with = { en = "Support for teens.", es = "Apoyo para adolescentes." }\n'
    'ages = "any"\nlanguages = ["en"]\n'
)


def _overrides(tmp_path: Path) -> Path:
    root = tmp_path / "overrides"
    (root / "en" / "guides").mkdir(parents=True)
    (root / "en" / "messages.po").write_text(HEADER, encoding="utf-8")
    (root / "en" / "guides" / "support.md").write_text(GUIDE, encoding="utf-8")
    (root / "es").mkdir()
    (root / "es" / "messages.po").write_text(
        HEADER + 'msgid "menu.title"\nmsgstr "¿Qué necesitas? También puedes llamar a la '
        'Línea Joven 24 Horas."\n',
        encoding="utf-8",
    )
    return root


def test_a_guide_or_text_naming_an_unknown_helpline_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SAFETYBOT_OVERRIDES_DIR": str(_overrides(tmp_path))}
    assert main(["check-locales"], env=env) == 1
    out = capsys.readouterr().out
    assert "'Sunrise Teen Helpline'" in out and "support.md" in out
    assert "Línea Joven 24 Horas" in out and "'menu.title'" in out
    assert "does not list" in out


def test_the_check_passes_once_the_directory_lists_the_helpline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _overrides(tmp_path)
    (root / "es" / "messages.po").write_text(HEADER, encoding="utf-8")  # only the guide now
    own = tmp_path / "ours.toml"
    own.write_text(OWN_LINE, encoding="utf-8")
    env = {"SAFETYBOT_OVERRIDES_DIR": str(root), "SAFETYBOT_RESOURCES_FILE": str(own)}
    assert main(["check-locales"], env=env) == 0, capsys.readouterr().out


def test_shipped_names_route_names_and_lowercase_words_are_not_reported() -> None:
    directory = Directory.load(LOCALES / "resources.toml", locales=["en", "es"])
    routes = route_names({"route.iwf": "- **Internet Watch Foundation** (UK), to report..."})
    assert routes == ["Internet Watch Foundation"]
    known = known_services([*(r.name for r in directory), *routes])
    text = (
        "Call the Revenge Porn Helpline, the 988 Lifeline or the Internet Watch Foundation. "
        "A helpline can help. Llama a la Línea de la Vida o a la Línea 024."
    )
    assert unknown_services("t", text, known) == []
    found = unknown_services("t", "Try the Safe Harbor Hotline or Fundación Esperanza.", known)
    assert [m.phrase for m in found] == ["Safe Harbor Hotline", "Fundación Esperanza"]
