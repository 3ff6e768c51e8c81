"""The `safetybot` command: settings checked at start with one clear line, keygen, checks."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest

from safetybot.cli import main
from safetybot.errors import ConfigError
from safetybot.ops.config import SETTINGS, Config
from safetybot.vault.crypto import new_master_key

TOKEN = "123456789:TESTtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"
SETTINGS_DOC = Path(__file__).resolve().parent.parent / "docs" / "SETTINGS.md"


def test_keygen_prints_a_usable_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen"], env={}) == 0
    key = capsys.readouterr().out.strip()
    assert len(base64.b64decode(key)) == 32


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SAFETYBOT_TELEGRAM_TOKEN": TOKEN}, "SAFETYBOT_MASTER_KEY"),
        (
            {"SAFETYBOT_TELEGRAM_TOKEN": TOKEN, "SAFETYBOT_MASTER_KEY": "short"},
            "SAFETYBOT_MASTER_KEY",
        ),
        ({"SAFETYBOT_MASTER_KEY": new_master_key()}, "SAFETYBOT_TELEGRAM_TOKEN"),
        (
            {"SAFETYBOT_TELEGRAM_TOKEN": "nope", "SAFETYBOT_MASTER_KEY": new_master_key()},
            "SAFETYBOT_TELEGRAM_TOKEN",
        ),
        ({"SAFETYBOT_MASTER_KEY_FILE": "/no/such/file"}, "SAFETYBOT_MASTER_KEY_FILE"),
        ({"SAFETYBOT_TELEGRAM_API_URL": "ftp://x"}, "SAFETYBOT_TELEGRAM_API_URL"),
        ({"SAFETYBOT_TOKEN": TOKEN}, "SAFETYBOT_TOKEN"),
    ],
)
def test_run_stops_with_one_line_naming_the_setting(
    env: dict[str, str], named: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = {"SAFETYBOT_DATA_DIR": str(tmp_path), **env}
    assert main(["run"], env=env) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0]
    assert TOKEN not in err[0]


def test_the_key_can_come_from_a_file(tmp_path: Path) -> None:
    key = new_master_key()
    (tmp_path / "key").write_text(key + "\n")
    config = Config.from_mapping({"SAFETYBOT_MASTER_KEY_FILE": "key"}, cwd=tmp_path)
    assert config.master_key == base64.b64decode(key)
    with pytest.raises(ConfigError, match="not both"):
        Config.from_mapping(
            {"SAFETYBOT_MASTER_KEY_FILE": "key", "SAFETYBOT_MASTER_KEY": key}, cwd=tmp_path
        )


def test_secrets_never_show_in_the_config_repr() -> None:
    key = new_master_key()
    config = Config.from_mapping({"SAFETYBOT_TELEGRAM_TOKEN": TOKEN, "SAFETYBOT_MASTER_KEY": key})
    text = repr(config) + str(dataclasses.asdict(config).keys())
    assert TOKEN not in text and key not in text


def test_the_settings_page_documents_every_setting() -> None:
    page = SETTINGS_DOC.read_text(encoding="utf-8")
    for name in SETTINGS:
        assert f"`{name}`" in page, name


def test_check_locales_reports_success(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-locales"], env={}) == 0
    assert "complete" in capsys.readouterr().out


BAD_RESOURCE = (
    '[[resource]]\nid = "us-ours"\ncountry = "US"\nname = "Ours"\nkinds = ["support"]\n'
    'url = "http://insecure.example"\nhelps_with = { en = "x", es = "x" }\n'
    'ages = "any"\nlanguages = ["en"]\n'
)


@pytest.mark.parametrize(
    ("entry", "named"),
    [
        ('url = "http://forum.example.org/abuse"', "url 'http://forum.example.org/abuse'"),
        ('source = "ftp://forum.example.org/"', "source 'ftp://forum.example.org/'"),
        ('reviewed = "last spring"', "reviewed 'last spring' must be a date"),
    ],
)
def test_check_locales_names_a_broken_platform_in_an_organizations_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], entry: str, named: str
) -> None:
    ours = tmp_path / "overrides"
    ours.mkdir()
    (ours / "platforms.toml").write_text(
        '# our forums\n\n[[platform]]\nid = "acme-forum"\nname = "Acme Forum"\n'
        f'how = {{ en = "Write to the forum." }}\n{entry}\n',
        encoding="utf-8",
    )
    env = {"SAFETYBOT_OVERRIDES_DIR": str(ours)}
    assert main(["check-locales"], env=env) == 1
    out = capsys.readouterr().out
    # The file, the line of the entry's id, the entry, and what is wrong with it.
    assert f"{ours / 'platforms.toml'}:4: platform 'acme-forum': {named}" in out, out
    (ours / "platforms.toml").write_text(
        '[[platform]]\nid = "acme-forum"\nname = "Acme Forum"\nhow = { en = "Write to us." }\n',
        encoding="utf-8",
    )
    assert main(["check-locales"], env=env) == 0


def test_a_bad_resource_file_stops_the_bot_naming_file_and_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = tmp_path / "ours.toml"
    own.write_text(BAD_RESOURCE)
    env = {"SAFETYBOT_DATA_DIR": str(tmp_path / "data"), "SAFETYBOT_RESOURCES_FILE": str(own)}
    assert main(["console"], env=env) == 1
    err = capsys.readouterr().err.strip()
    assert str(own) in err and "us-ours" in err and "url" in err
    assert not (tmp_path / "data").exists()  # nothing was created
    assert main(["check-locales"], env=env) == 1
    assert "us-ours" in capsys.readouterr().out
