"""The config file: layered under the environment, every mistake named with file and line."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from safetybot.cli import main
from safetybot.errors import ConfigError
from safetybot.ops.config import Config
from safetybot.ops.settings import TABLE, key_line, parse_config_file
from safetybot.vault.crypto import new_master_key

TOKEN = "123456789:TESTtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"
ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "safetybot.toml"

GOOD = """\
data_dir = "data"
languages = ["en"]
retention_days = 30

[organization]
name = "Harbor Line"
phone = "+15551234567"
url = "https://harbor.example.org"

[vault]
unlock_minutes = 7

[logging]
format = "json"
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "safetybot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _config(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    path = _file(tmp_path, text)
    return Config.from_mapping(env or {}, cwd=tmp_path, file=parse_config_file(path, text))


def _problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, text, env)
    return list(caught.value.problems)


def test_the_file_sets_values_and_relative_paths_follow_the_file(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    config = _config(etc, GOOD)
    assert config.data_dir == etc / "data"
    assert config.languages == ("en",)
    assert config.retention_days == 30
    assert config.vault.unlock_minutes == 7
    assert config.log_format == "json"
    assert config.organization is not None
    assert config.organization.contact() == "+1 555 123 4567 · https://harbor.example.org"


def test_the_environment_wins_over_the_file_and_the_file_over_defaults(tmp_path: Path) -> None:
    env = {"SAFETYBOT_RETENTION_DAYS": "60", "SAFETYBOT_DATA_DIR": "elsewhere"}
    config = _config(tmp_path, GOOD, env)
    assert config.retention_days == 60  # environment
    assert config.data_dir == tmp_path / "elsewhere"  # relative to the working folder
    assert config.vault.unlock_minutes == 7  # file
    assert config.vault.lockout_minutes == 15  # default


@pytest.mark.parametrize(
    ("text", "line", "named"),
    [
        ("retention_days = 30\nretension_days = 30\n", 2, "did you mean 'retention_days'"),
        ('[vault]\nunlock_minutes = "10"\n', 2, "vault.unlock_minutes must be a whole number"),
        ("[vault]\nunlock_minutes = 0\n", 2, "between 1 and 1440"),
        ('[organization]\nname = "X"\nurl = "http://x.example"\n', 3, "organization.url"),
        ('[organization]\nname = "X"\nphone = "555-1234"\n', 3, "organization.phone"),
        ('[webhook]\npublic_url = "https://b.example:8080/t"\n', 2, "port 443, 80, 88, 8443"),
        ('[telegram]\ntoken = "123:abc"\n', 2, "SAFETYBOT_TELEGRAM_TOKEN"),
        ('master_key = "abc"\n', 1, "SAFETYBOT_MASTER_KEY"),
        ('[webhook]\nsecret = "abc"\n', 2, "SAFETYBOT_WEBHOOK_SECRET"),
        ('[logging]\nlevel = "LOUD"\n', 2, "DEBUG, INFO, WARNING, ERROR"),
        ("[metrics]\nenabled = 1\n", 2, "true or false"),
        ('languages = ["en", "fr"]\n', 1, "'fr', which has no locale folder"),
        ('languages = "en"\n', 1, "must be a list"),
    ],
)
def test_each_mistake_names_file_line_and_key(
    tmp_path: Path, text: str, line: int, named: str
) -> None:
    problems = _problems(tmp_path, text)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{tmp_path / 'safetybot.toml'}:{line}: "), problems
    assert named in problems[0]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = "retention_days = 0\nauto_clear_minutes = 7\n[vault]\nmax_file_mb = 99\nbogus = 1\n"
    assert len(_problems(tmp_path, text)) == 4


def test_a_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"safetybot.toml:2:\d+: not valid TOML"):
        parse_config_file(tmp_path / "safetybot.toml", "a = 1\nb = = 2\n")


def test_the_organization_needs_a_name_and_a_way_to_reach_it(tmp_path: Path) -> None:
    assert "needs a way to reach" in _problems(tmp_path, '[organization]\nname = "X"\n')[0]
    assert "is needed" in _problems(tmp_path, '[organization]\nphone = "+15551234567"\n')[0]


def test_webhook_mode_needs_the_public_url(tmp_path: Path) -> None:
    problems = _problems(tmp_path, '[telegram]\nmode = "webhook"\n')
    assert "SAFETYBOT_WEBHOOK_URL" in problems[0] and "webhook.public_url" in problems[0]
    config = _config(tmp_path, '[webhook]\npublic_url = "https://bot.example.org/tg-x"\n')
    assert config.webhook is not None and config.webhook.path == "/tg-x"


def test_secrets_come_from_files(tmp_path: Path) -> None:
    key = new_master_key()
    (tmp_path / "key").write_text(key + "\n")
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "secret").write_text("s" * 32)
    env = {
        "SAFETYBOT_MASTER_KEY_FILE": "key",
        "SAFETYBOT_TELEGRAM_TOKEN_FILE": "token",
        "SAFETYBOT_WEBHOOK_SECRET_FILE": "secret",
    }
    config = Config.from_mapping(env, cwd=tmp_path)
    assert config.master_key == base64.b64decode(key)
    assert config.telegram_token == TOKEN and config.webhook_secret == "s" * 32
    assert TOKEN not in repr(config) and "s" * 32 not in repr(config)


def test_an_unreadable_secrets_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    for path in ("missing", "folder"):
        expected = rf"SAFETYBOT_TELEGRAM_TOKEN_FILE: cannot read .*{path}"
        with pytest.raises(ConfigError, match=expected):
            Config.from_mapping({"SAFETYBOT_TELEGRAM_TOKEN_FILE": path}, cwd=tmp_path)


def test_key_line_finds_tables_dotted_keys_and_inline_tables() -> None:
    text = 'a = 1\n[vault]\n# x\nunlock_minutes = 3\n[organization]\nname = "x"\nb.c = 2\n'
    assert key_line(text, "vault.unlock_minutes") == 4
    assert key_line(text, "organization.b.c") == 7
    assert key_line("organization = { name = 'x' }\n", "organization.name") == 1


def test_every_config_key_is_in_the_example_or_the_settings_page() -> None:
    page = (ROOT / "docs" / "SETTINGS.md").read_text(encoding="utf-8")
    example = EXAMPLE.read_text(encoding="utf-8")
    for setting in TABLE:
        if setting.key is not None:
            leaf = setting.key.rsplit(".", 1)[-1]
            assert f"`{setting.key}`" in page or f"{leaf} =" in example, setting.key


# ---- `safetybot check` and `safetybot run` refuse the same mistakes ---------------------------


def _env(tmp_path: Path, text: str, **extra: str) -> dict[str, str]:
    return {
        "SAFETYBOT_CONFIG": str(_file(tmp_path, text)),
        "SAFETYBOT_TELEGRAM_TOKEN": TOKEN,
        "SAFETYBOT_MASTER_KEY": new_master_key(),
        **extra,
    }


BAD_INPUT = [
    ("[vault]\nunlok_minutes = 3\n", {}, ":2: unknown key 'vault.unlok_minutes'"),
    ("retention_days = true\n", {}, ":1: retention_days must be a whole number"),
    ('[organization]\nname = "X"\nurl = "ftp://x"\n', {}, ":3: organization.url"),
    ('[organization]\nname = "X"\nphone = "12345"\n', {}, ":3: organization.phone"),
    ('languages = ["en", "xx"]\n', {}, ":1: languages lists 'xx'"),
    ("", {"SAFETYBOT_MASTER_KEY_FILE": "/no/such/key"}, "SAFETYBOT_MASTER_KEY_FILE: cannot read"),
    ('data_dir = "blocker/data"\n', {}, "data_dir (SAFETYBOT_DATA_DIR):"),
]


@pytest.mark.parametrize(("text", "extra", "named"), BAD_INPUT)
def test_check_and_run_name_the_problem_and_nothing_starts(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str,
    extra: dict[str, str],
    named: str,
) -> None:
    (tmp_path / "blocker").write_text("a file where the data folder should go")
    env = _env(tmp_path, text, **extra)
    if "SAFETYBOT_MASTER_KEY_FILE" in extra:
        del env["SAFETYBOT_MASTER_KEY"]
    if "data_dir" not in text:
        env["SAFETYBOT_DATA_DIR"] = str(tmp_path / "data")
    assert main(["check"], env=env) == 1
    out = capsys.readouterr().out
    assert named in out, out
    assert main(["run"], env=env) == 2
    err = capsys.readouterr().err
    assert named in err, err
    assert TOKEN not in out + err
    assert not (tmp_path / "data").exists()  # nothing was created


def test_check_passes_the_example_config_with_secrets_in_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "key").write_text(new_master_key())
    (tmp_path / "secret").write_text("w" * 40)
    env = {
        "SAFETYBOT_CONFIG": str(EXAMPLE),
        "SAFETYBOT_DATA_DIR": str(tmp_path / "data"),
        "SAFETYBOT_TELEGRAM_TOKEN_FILE": str(tmp_path / "token"),
        "SAFETYBOT_MASTER_KEY_FILE": str(tmp_path / "key"),
        "SAFETYBOT_WEBHOOK_SECRET_FILE": str(tmp_path / "secret"),
    }
    assert main(["check"], env=env) == 0, capsys.readouterr()
    assert "in order" in capsys.readouterr().out
    del env["SAFETYBOT_WEBHOOK_SECRET_FILE"]  # the example is in webhook mode
    assert main(["check"], env=env) == 1
    assert "SAFETYBOT_WEBHOOK_SECRET" in capsys.readouterr().out


def test_a_config_file_that_cannot_be_read_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SAFETYBOT_CONFIG": str(tmp_path / "nope.toml")}
    assert main(["run"], env=env) == 2
    assert "SAFETYBOT_CONFIG: cannot read" in capsys.readouterr().err
    (tmp_path / "bad.toml").write_text("[vault\n")
    assert main(["--config", str(tmp_path / "bad.toml"), "check"], env={}) == 1
    assert "bad.toml:1:" in capsys.readouterr().out


def test_a_bad_entry_in_the_organizations_helplines_is_named_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = tmp_path / "ours.toml"
    ours.write_text(
        '[[resource]]\nid = "us-ours"\ncountry = "US"\nname = "Ours"\nkinds = ["support"]\n'
        'url = "http://insecure.example"\nhelps_with = { en = "x", es = "x" }\n'
        'ages = "any"\nlanguages = ["en"]\n',
        encoding="utf-8",
    )
    text = '[organization]\nname = "X"\nphone = "+15551234567"\nresources_file = "ours.toml"\n'
    env = _env(tmp_path, text, SAFETYBOT_DATA_DIR=str(tmp_path / "data"))
    assert main(["check"], env=env) == 1
    assert f"{ours}:2: resource 'us-ours': url 'http://insecure.example'" in capsys.readouterr().out
    assert main(["run"], env=env) == 2
    assert f"{ours}:2: resource 'us-ours'" in capsys.readouterr().err


def test_every_country_the_bot_offers_can_be_the_default(tmp_path: Path) -> None:
    for code in ("MX", "es", "AR", "CO", "US", "INT"):
        config = _config(tmp_path, GOOD, {"SAFETYBOT_DEFAULT_COUNTRY": code})
        assert config.default_country == code.upper()
    problems = _problems(tmp_path, GOOD, {"SAFETYBOT_DEFAULT_COUNTRY": "FR"})
    assert any("SAFETYBOT_DEFAULT_COUNTRY" in problem and "MX" in problem for problem in problems)
