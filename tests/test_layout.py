"""The architecture's promises, checked: the core imports no messenger and no database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_core_imports_no_telegram_and_no_sqlite() -> None:
    probe = (
        "import sys, safetybot.core.service, safetybot.core.flow;"
        "bad = [m for m in sys.modules if m.split('.')[0] in"
        " ('telegram', 'aiosqlite', 'sqlite3', '_sqlite3', 'httpx')];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


def test_starting_the_bot_loads_no_pdf_or_zip_library() -> None:
    # fpdf2, Pillow and pyzipper cost about half a second at start-up; they load on export.
    probe = (
        "import sys, safetybot.wiring, safetybot.cli;"
        "bad = [m for m in ('fpdf', 'PIL', 'pyzipper', 'sklearn') if m in sys.modules];"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == ""


def test_only_the_cli_reads_the_environment() -> None:
    readers = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "safetybot").rglob("*.py")
        if "os.environ" in path.read_text(encoding="utf-8") or "getenv" in path.read_text()
    ]
    assert readers == ["safetybot/cli.py"]
