"""The architecture's promises, checked: the core imports no messenger and no database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _loaded(imports: str, packages: tuple[str, ...]) -> list[str]:
    """Which of `packages` a fresh interpreter has loaded after `import <imports>`."""
    probe = (
        f"import sys, {imports};"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({packages!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_the_core_imports_no_telegram_and_no_sqlite() -> None:
    banned = ("telegram", "aiosqlite", "sqlite3", "_sqlite3", "httpx")
    assert _loaded("safetybot.core.service, safetybot.core.flow", banned) == []


def test_starting_the_bot_loads_no_pdf_or_zip_library() -> None:
    # fpdf2, Pillow and pyzipper cost about half a second at start-up; they load on export.
    heavy = ("fpdf", "PIL", "pyzipper", "sklearn")
    assert _loaded("safetybot.wiring, safetybot.cli", heavy) == []
    assert _loaded("safetybot.vault.pdfpages", heavy) == ["PIL", "fpdf"]  # the probe sees them


def test_only_the_cli_reads_the_environment() -> None:
    readers = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "safetybot").rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8") or "getenv" in path.read_text()
    ]
    assert readers == ["safetybot/cli.py"]
