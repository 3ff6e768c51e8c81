"""The console front end, driven as a person would: a scripted session through a subprocess."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

from safetybot.core.events import Command, Pressed, Text
from safetybot.transports.console import parse_line
from safetybot.vault.export import verify_export
from tests.conftest import assert_absent

NOTE = "he asked for 300 dollars in gift cards"
PASS = "quiet orange lantern"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x01screenshot-bytes" * 8


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


def test_a_scripted_session_reads_a_guide_keeps_evidence_exports_and_forgets(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    script = (
        f"Guides\n2\n/notes\nTurn on private notes\n{PASS}\n{PASS}\nNew note\n{NOTE}\n"
        + "Skip\n" * 10
        + f"/attach {shot}\nSave now\nAll notes\nExport\nExport without a password\n"
    )
    first = _console(data, script)
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""
    out = first.stdout
    assert out.count("Created the data folder") == 1
    assert "Spotting sextortion" in out and "Sources (reviewed" in out
    assert "Saved as note 1" in out and NOTE in out
    assert hashlib.sha256(PNG).hexdigest() in out
    assert PASS not in out  # typed, never echoed back
    key = data / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) & 0o077 == 0
    exports = list((data / "exports").glob("notes-*.zip"))  # a name that gives nothing away
    assert len(exports) == 1 and stat.S_IMODE(exports[0].stat().st_mode) == 0o600
    assert verify_export(exports[0].read_bytes()).ok
    assert_absent(data / "safetybot.db", NOTE, PNG[8:])

    # A second run finds the same key and the locked vault, opens it, then erases everything.
    second = _console(data, f"/notes\n{PASS}\n/forget\nYes, erase everything\n/notes\n")
    assert second.returncode == 0, second.stderr
    assert "Created the data folder" not in second.stdout
    assert "Send your passphrase" in second.stdout and NOTE[:30] in second.stdout
    assert "Everything I kept about you is erased" in second.stdout
    assert "Turn on private notes" in second.stdout.split("erased")[-1]
    assert_absent(data / "safetybot.db", NOTE)


def test_bad_input_in_the_console_gets_calm_replies(tmp_path: Path) -> None:
    lines = "99\n/nope\nhello\n\n" + "x" * 5000 + "\n/attach\n/attach ~no_such_account_here/x.png\n"
    result = _console(tmp_path / "data", lines)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "don't know that command" in result.stdout
    assert "I'm a bot, so I may not understand" in result.stdout
    assert "Traceback" not in result.stdout


def test_lines_become_events_by_number_label_or_command() -> None:
    choices = [("Guides", "gl"), ("Menu", "m")]
    assert parse_line("1\n", choices) == Pressed("gl")
    assert parse_line("menu\n", choices) == Pressed("m")
    assert parse_line("/Note buy milk\n", choices) == Command("note", "buy milk")
    assert parse_line("3\n", choices) == Text("3")
    assert parse_line("/\n", choices) == Text("/")
    # A label typed without its accents, or with a look-alike letter, still presses it.
    spanish = [("Guías", "gl"), ("Sí, haz mi plan", "tp"), ("Menú", "m")]
    assert parse_line("guias\n", spanish) == Pressed("gl")
    assert parse_line("SI, HAZ MI PLAN\n", spanish) == Pressed("tp")
    assert parse_line("mеnu\n", spanish) == Pressed("m")  # a Cyrillic "е"
    assert parse_line("guias por favor\n", spanish) == Text("guias por favor")


def test_a_message_can_be_checked_in_the_console(tmp_path: Path) -> None:
    scam = "Send 200 dollars in gift cards tonight or your video goes to your family"
    script = f"/check\n{scam}\nCheck another\nAnswer questions instead\n"
    result = _console(tmp_path / "data", script)
    assert result.returncode == 0, result.stderr
    assert "sextortion" in result.stdout and "gift cards" in result.stdout
    assert "Question 1 of 11" in result.stdout
    assert_absent(tmp_path / "data" / "safetybot.db", "gift cards")


def test_typed_words_lead_where_they_should_in_the_console_in_both_languages(
    tmp_path: Path,
) -> None:
    english = [
        ("I want to die", "I'm really glad you wrote"),
        ("he says he'll post it in 10 minutes", "The next ten minutes"),
        ("my ex posted my nudes online", "Is that right?"),
        ("my son is being blackmailed with photos, what do i do", "looking out for them"),
        ("how do i delete this chat", "remove this conversation in two ways"),
        ("Send me $500 in bitcoin or your video goes to all your contacts", "someone sent you"),
        ("hello", "I'm a bot"),
    ]
    spanish = [
        ("me quiero morir", "Me alegra mucho que hayas escrito"),
        ("dice que las publica esta noche si no le pago", "Los próximos diez minutos"),
        ("mi ex subió mis fotos íntimas a una página", "¿Es así?"),
        ("mi hija de 15 años me contó que la están extorsionando con fotos", "pendiente"),
        ("quiero borrar todo lo que hablamos aquí", "quitar esta conversación"),
        ("Tienes 24 horas para pagar o envío tu video a todos tus contactos", "alguien te mandó"),
        ("hola", "Soy un bot"),
    ]
    script = (
        "\n".join(w for w, _ in english) + "\n/language es\n" + "\n".join(w for w, _ in spanish)
    )
    result = _console(tmp_path / "data", script + "\n")
    assert result.returncode == 0 and result.stderr == ""
    out = result.stdout
    position = 0
    for _, expected in [*english, *spanish]:  # each reply in turn, in the order typed
        found = out.find(expected, position)
        assert found >= 0, expected
        position = found
    assert "can't read messages" not in out


def test_words_it_could_not_place_keep_the_crisis_lines_one_choice_away(tmp_path: Path) -> None:
    result = _console(tmp_path / "data", "hello\nTalk to someone now\nUnited Kingdom\n")
    assert result.returncode == 0 and result.stderr == ""
    out = result.stdout
    talked = out.index("I'm glad you reached out")
    assert out.index("If you feel you can't go on") < talked  # offered under "what I can do"
    after = out[out.index("Samaritans", talked) :]
    assert "999" in after  # once the country is known: the crisis line, then emergency


def test_a_saved_note_that_says_self_harm_offers_talk_to_someone_in_the_console(
    tmp_path: Path,
) -> None:
    note = "he keeps saying i should kill myself"
    script = f"/notes\nTurn on private notes\n{PASS}\n{PASS}\n/note {note}\nTalk to someone now\n"
    result = _console(tmp_path / "data", script)
    assert result.returncode == 0 and result.stderr == ""
    out = result.stdout
    saved = out.index("Saved as note 1")
    assert out.index("sounds very heavy", saved) < out.index("I'm glad you reached out", saved)


def test_help_typed_in_the_console_is_a_cry_for_help_not_the_list_of_commands(
    tmp_path: Path,
) -> None:
    # Typed labels press their buttons here (and on Signal): none may be a cry for help.
    for typed, checklist, commands in (
        ("help", "next ten minutes", "/forget: erase everything"),
        ("ayuda", "próximos diez minutos", "/forget: borra todo"),
    ):
        result = _console(tmp_path / typed, f"{typed}\n")
        assert result.returncode == 0 and result.stderr == ""
        assert checklist in result.stdout
        assert commands not in result.stdout  # not the list of commands


def test_a_person_writing_in_spanish_is_answered_in_spanish_in_the_console(
    tmp_path: Path,
) -> None:
    # The console gives no language: the welcome is in the default one, and the first words
    # that tell the person's language decide from then on.
    result = _console(tmp_path / "data", "me quiero morir\nI want to die\n")
    assert result.returncode == 0 and result.stderr == ""
    welcome, _, after = result.stdout.partition("Me alegra mucho que hayas escrito")
    assert "not your fault" in welcome and after  # the welcome in English, then Spanish
    assert "really glad you wrote" not in after and "Me alegra mucho" in after


def test_a_feature_asked_for_in_words_opens_it_in_the_console(tmp_path: Path) -> None:
    result = _console(tmp_path / "data", "ok make me a plan\n")
    assert result.returncode == 0 and result.stderr == ""
    assert "A few quick questions" in result.stdout
    assert "really glad you wrote" not in result.stdout  # "plan" is not read as a crisis


def test_the_readme_pipe_example_greets_once_and_keeps_the_note(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^printf '([^']*)' \| \.venv/bin/safetybot console$", readme, re.MULTILINE)
    assert found, "the README shows piping a script into the console"
    script = found.group(1).replace("\\n", "\n")
    result = _console(tmp_path / "data", script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("This is a private helper") == 1  # the console greets on its own, once
    assert "Saved the note you typed earlier as note 1" in out
    assert "he wants 500 in gift cards" in out.split("Private notes: 1.")[-1]
