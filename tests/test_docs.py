"""The documents say what the code does: privacy facts, commands and config keys that exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from safetybot.cli import _parser
from safetybot.locales import read_guide
from safetybot.ops.settings import TABLE
from tests.conftest import LOCALES

ROOT = Path(__file__).resolve().parent.parent
# Every page a reader may open: the top-level documents and docs/.
PAGES = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").glob("*.md")])
DOCS = tuple(str(page.relative_to(ROOT)) for page in PAGES)
# A Markdown link or image: [text](target), the text possibly over several lines.
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def _paragraphs(markdown: str) -> list[str]:
    """Paragraphs and list items, with line breaks folded."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n", markdown):
        items = re.split(r"\n(?=- )", block.strip())
        parts += [" ".join(item.split()) for item in items if item.strip()]
    return parts


def test_the_privacy_notice_states_every_fact_of_the_privacy_guide() -> None:
    guide = read_guide(LOCALES / "en" / "guides" / "privacy.md")
    notice = " ".join((ROOT / "PRIVACY.md").read_text(encoding="utf-8").split())
    headings = re.findall(r"^\*\*(.+)\*\*$", guide.body, re.MULTILINE)
    assert len(headings) >= 5
    for heading in headings:
        assert f"## {heading}" in notice, heading
    for paragraph in _paragraphs(guide.body):
        if not paragraph.startswith("**"):
            assert paragraph in notice, paragraph
    assert guide.title == notice.removeprefix("# ").split(" This is")[0]


def test_the_spanish_privacy_guide_has_the_same_shape() -> None:
    english = read_guide(LOCALES / "en" / "guides" / "privacy.md").body
    spanish = read_guide(LOCALES / "es" / "guides" / "privacy.md").body
    assert len(_paragraphs(english)) == len(_paragraphs(spanish))
    assert "48" in spanish and "/forget" in spanish and "copias de seguridad" in spanish


def _commands() -> set[str]:
    parser = _parser()
    actions = [a for a in parser._actions if a.dest == "command"]
    return set(actions[0].choices or {})  # type: ignore[arg-type]


@pytest.mark.parametrize("doc", DOCS)
def test_every_command_a_document_mentions_exists(doc: str) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    code = re.findall(r"```.*?```", text, re.DOTALL) + re.findall(r"`[^`\n]+`", text)
    found = re.findall(r"\bsafetybot (?:--config \S+ )?([a-z][a-z-]+)\b", "\n".join(code))
    assert set(found) - _commands() - {"safetybot"} == set()


@pytest.mark.parametrize("doc", ["DEPLOY.md", "CUSTOMIZE.md"])
def test_every_config_key_a_document_shows_is_a_real_one(doc: str) -> None:
    known = {s.key for s in TABLE if s.key is not None}
    text = (ROOT / doc).read_text(encoding="utf-8")
    for block in re.findall(r"```toml\n(.*?)```", text, re.DOTALL):
        data = tomllib.loads(block)
        if "resource" in data or "platform" in data:  # a resources or platforms file
            continue
        for name, value in data.items():
            keys = [f"{name}.{k}" for k in value] if isinstance(value, dict) else [name]
            assert set(keys) <= known, set(keys) - known
    for key in re.findall(r"`((?:organization|vault|webhook|metrics|telegram)\.[a-z_]+)`", text):
        assert key in known, key


def _relative_links(text: str) -> list[str]:
    """The link targets in a Markdown text that are not a web address, outside code blocks."""
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return [t for t in LINK.findall(prose) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("doc", DOCS)
def test_every_relative_link_is_a_file_in_the_repository_without_an_anchor(doc: str) -> None:
    page = ROOT / doc
    links = _relative_links(page.read_text(encoding="utf-8"))
    for target in links:
        # An anchor breaks silently when a section moves; a page name does not.
        assert "#" not in target, f"{doc}: {target}"
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc}: {target} is outside the repository"
        assert resolved.exists(), f"{doc}: {target} does not exist"


def test_relative_links_are_found_however_they_are_written() -> None:
    text = "[a](x.md) [b\nc](../y.md) ![i](img/z.png) [w](https://e.org/#a) [m](mailto:a@b)\n"
    text += '```\n[not](in-code.md)\n```\n[d](<sp.md> "title")'
    assert _relative_links(text) == ["x.md", "../y.md", "img/z.png", "sp.md"]


def test_the_readme_links_every_page_in_docs_and_stays_short() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in (ROOT / "docs").glob("*.md"):
        assert f"](docs/{page.name})" in readme, page.name
    assert len(readme.splitlines()) <= 150, "the README is the newcomer's page: keep it short"
