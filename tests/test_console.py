"""The console front end, driven as a person would: a scripted session through a subprocess."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from safetybot.core.events import Command, Pressed, Text
from safetybot.transports.console import parse_line
from tests.conftest import assert_absent

NOTE = "he asked for 300 dollars in gift cards"


def _console(data_dir: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYBOT_")}
    env["SAFETYBOT_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "safetybot", "console"],
        input=script,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_a_scripted_session_reads_a_guide_saves_a_note_and_forgets(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _console(data, f"Guides\n2\n/note\n{NOTE}\n/notes\n")
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    out = first.stdout
    assert out.count("Created the data folder") == 1
    assert "Spotting sextortion" in out and "Sources (reviewed" in out
    assert "Saved. You have 1 private note(s)." in out
    assert NOTE in out.split("Your private notes")[1]
    key = data / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0
    assert_absent(data, NOTE)

    # A second run finds the same key and the note, says nothing about creating anything,
    # and then erases everything.
    second = _console(data, "/notes\n/forget\nYes, erase everything\n/notes\n")
    assert second.returncode == 0, second.stderr
    assert "Created the data folder" not in second.stdout
    assert NOTE in second.stdout
    assert "Everything I kept about you is erased" in second.stdout
    assert "no private notes" in second.stdout.split("erased")[-1]
    assert_absent(data, NOTE)


def test_bad_input_in_the_console_gets_calm_replies(tmp_path: Path) -> None:
    result = _console(tmp_path / "data", "99\n/nope\nhello\n\n/note\n" + "x" * 5000 + "\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "don't know that command" in result.stdout
    assert "can't read messages like that" in result.stdout
    assert "Nothing was saved" in result.stdout
    assert "Traceback" not in result.stdout


def test_lines_become_events_by_number_label_or_command() -> None:
    choices = [("Guides", "gl"), ("Menu", "m")]
    assert parse_line("1\n", choices) == Pressed("gl")
    assert parse_line("menu\n", choices) == Pressed("m")
    assert parse_line("/Note buy milk\n", choices) == Command("note", "buy milk")
    assert parse_line("3\n", choices) == Text("3")
    assert parse_line("/\n", choices) == Text("/")
