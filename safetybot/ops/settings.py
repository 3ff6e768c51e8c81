"""The table of settings, and how one raw value becomes a checked one.

Every setting has an environment name and (unless it is a secret) a key in the TOML config file.
The environment wins over the file, and the file over the defaults, so one value can be changed
at `docker run` without editing the file. Secrets (the bot token, the master key, the webhook
secret) are read only from the environment or from files it names (`*_FILE`, as container
secrets are mounted); a secret in the config file is refused, naming the variable to use.

Problems are collected, not raised one at a time: `safetybot check` prints every one, each with
the setting's name, or the config file, line and key.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from safetybot.errors import ConfigError
from safetybot.guidance.resources import Country

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_SIGNAL_ATTACHMENTS",
    "TABLE",
    "ConfigFile",
    "Invalid",
    "Setting",
    "Sources",
    "key_line",
    "parse_config_file",
]

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_SIGNAL_ATTACHMENTS = "~/.local/share/signal-cli/attachments"


@dataclass(frozen=True)
class Setting:
    """One setting: its environment name, config-file key (None: a secret), default, meaning."""

    env: str
    key: str | None
    default: str
    meaning: str


def _s(env: str, key: str | None, default: str, meaning: str) -> Setting:
    return Setting(env, key, default, meaning)


# Order is docs/SETTINGS.md's, whose table is checked against this (tests/test_cli.py).
TABLE: Final[tuple[Setting, ...]] = (
    _s("SAFETYBOT_CONFIG", None, "(none)", "path of the TOML config file"),
    _s("SAFETYBOT_TELEGRAM_TOKEN", None, "(none)", "the bot token from BotFather; secret"),
    _s("SAFETYBOT_TELEGRAM_TOKEN_FILE", None, "(none)", "a file holding the token instead"),
    _s("SAFETYBOT_MASTER_KEY", None, "(none)", "base64 of 32 bytes, from `safetybot keygen`"),
    _s("SAFETYBOT_MASTER_KEY_FILE", None, "(none)", "a file holding the master key instead"),
    _s("SAFETYBOT_WEBHOOK_SECRET", None, "(none)", "secret Telegram sends with each update"),
    _s("SAFETYBOT_WEBHOOK_SECRET_FILE", None, "(none)", "a file holding the webhook secret"),
    _s("SAFETYBOT_DATA_DIR", "data_dir", "./data", "folder for the database"),
    _s("SAFETYBOT_LOCALES_DIR", "locales_dir", "the shipped locales/", "texts and guides"),
    _s("SAFETYBOT_OVERRIDES_DIR", "overrides_dir", "(none)", "the organization's own texts"),
    _s("SAFETYBOT_DEFAULT_LOCALE", "default_locale", "en", "language of last resort"),
    _s("SAFETYBOT_LANGUAGES", "languages", "every shipped one", "languages offered"),
    _s("SAFETYBOT_DEFAULT_COUNTRY", "default_country", "(none)", "country assumed at first"),
    _s("SAFETYBOT_RETENTION_DAYS", "retention_days", "90", "erase people inactive this long"),
    _s("SAFETYBOT_AUTO_CLEAR_MINUTES", "auto_clear_minutes", "0", "default auto-clear"),
    _s("SAFETYBOT_RATE_LIMIT_PER_MINUTE", "rate_limit.per_minute", "180", "updates a person"),
    _s("SAFETYBOT_RATE_LIMIT_BURST", "rate_limit.burst", "40", "updates at once, a person"),
    _s("SAFETYBOT_ORGANIZATION_NAME", "organization.name", "(none)", "shown in /start"),
    _s("SAFETYBOT_ORGANIZATION_PHONE", "organization.phone", "(none)", "E.164 phone"),
    _s("SAFETYBOT_ORGANIZATION_URL", "organization.url", "(none)", "https web address"),
    _s("SAFETYBOT_ORGANIZATION_EMAIL", "organization.email", "(none)", "email address"),
    _s("SAFETYBOT_RESOURCES_FILE", "organization.resources_file", "(none)", "own helplines"),
    _s("SAFETYBOT_VAULT_UNLOCK_MINUTES", "vault.unlock_minutes", "10", "idle minutes to lock"),
    _s("SAFETYBOT_VAULT_LOCKOUT_MINUTES", "vault.lockout_minutes", "15", "pause after 5 misses"),
    _s("SAFETYBOT_VAULT_MAX_FILE_MB", "vault.max_file_mb", "10", "largest file kept"),
    _s("SAFETYBOT_EXPORT_KEEP_MINUTES", "vault.export_keep_minutes", "5", "export life"),
    _s(
        "SAFETYBOT_SIGNING_KEY_FILE",
        None,
        "(none): exports unsigned",
        "Ed25519 key file that signs exports, from `safetybot keygen --signing`",
    ),
    _s(
        "SAFETYBOT_TSA_URL",
        "vault.tsa_url",
        "(none): no time stamp",
        "RFC 3161 time-stamping service for exports",
    ),
    _s(
        "SAFETYBOT_ARGON2_MEMORY_KIB",
        "vault.argon2_memory_kib",
        "65536",
        "Argon2id memory, 65536 at least",
    ),
    _s(
        "SAFETYBOT_ARGON2_ITERATIONS", "vault.argon2_iterations", "3", "Argon2id passes, 3 at least"
    ),
    _s("SAFETYBOT_LOG_LEVEL", "logging.level", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    _s("SAFETYBOT_LOG_FORMAT", "logging.format", "text", "text or json (one object a line)"),
    _s("SAFETYBOT_METRICS", "metrics.enabled", "false", "serve Prometheus metrics"),
    _s("SAFETYBOT_METRICS_LISTEN", "metrics.listen", "127.0.0.1:9464", "address:port"),
    _s("SAFETYBOT_TELEGRAM_MODE", "telegram.mode", "polling", "polling or webhook"),
    _s("SAFETYBOT_TELEGRAM_API_URL", "telegram.api_url", DEFAULT_API_URL, "Bot API root"),
    _s("SAFETYBOT_WEBHOOK_URL", "webhook.public_url", "(none)", "public https URL"),
    _s("SAFETYBOT_WEBHOOK_LISTEN", "webhook.listen", "127.0.0.1", "address to listen on"),
    _s("SAFETYBOT_WEBHOOK_PORT", "webhook.port", "8080", "port to listen on"),
    _s("SAFETYBOT_WEBHOOK_PATH", "webhook.path", "the public URL's path", "local path"),
    _s("SAFETYBOT_WEBHOOK_MAX_CONNECTIONS", "webhook.max_connections", "40", "1-100"),
    _s("SAFETYBOT_SIGNAL_SOCKET", "signal.socket", "(none)", "signal-cli daemon socket"),
    _s("SAFETYBOT_SIGNAL_TCP", "signal.tcp", "(none)", "or its 127.0.0.1:PORT"),
    _s("SAFETYBOT_SIGNAL_ACCOUNT", "signal.account", "(none)", "the bot's Signal number"),
    _s(
        "SAFETYBOT_SIGNAL_ATTACHMENTS_DIR",
        "signal.attachments_dir",
        DEFAULT_SIGNAL_ATTACHMENTS,
        "where signal-cli saves attachments",
    ),
)

_BY_ENV: Final = {s.env: s for s in TABLE}
_BY_KEY: Final = {s.key: s for s in TABLE if s.key is not None}
_TABLES: Final = frozenset(k.split(".")[0] for k in _BY_KEY if "." in k)
# Words that mark a key as a secret, and where that secret goes instead.
_SECRETS: Final = {
    "token": "SAFETYBOT_TELEGRAM_TOKEN",
    "key": "SAFETYBOT_MASTER_KEY",
    "secret": "SAFETYBOT_WEBHOOK_SECRET",
    "password": "SAFETYBOT_MASTER_KEY",
}


class Invalid(ValueError):
    """A raw value is not acceptable; the message says what is expected."""


_T = TypeVar("_T")
Parser = Callable[[object, bool], _T]  # (raw value, came from the environment) -> value


@dataclass(frozen=True)
class ConfigFile:
    """A parsed config file: where it is, its tables, and its text (to point at lines)."""

    path: Path
    data: Mapping[str, Any]
    text: str


def parse_config_file(path: Path, text: str) -> ConfigFile:
    """Parse TOML text read from `path`; ConfigError naming the line and column if invalid."""
    try:
        data = tomllib.loads(text)
    except RecursionError:  # a = [[[[… deeper than tomllib goes
        raise ConfigError(f"{path}: not valid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if found is None:
            raise ConfigError(f"{path}: not valid TOML: {message}") from None
        what = message[: found.start()].strip().rstrip(".")
        where = f"{path}:{found.group(1)}:{found.group(2)}"
        raise ConfigError(f"{where}: not valid TOML: {what[:1].lower()}{what[1:]}") from None
    return ConfigFile(path, data, text)


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.\s\"-]+?)\s*\]\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_.\"-]+)\s*=")


def key_line(text: str, dotted: str) -> int | None:
    """The line where a dotted key (or the nearest table holding it) is set, if found."""
    table = ""
    best: tuple[int, int] | None = None  # (matched parts, line)
    wanted = dotted.split(".")
    # TOML lines end at \n (or \r\n) only; splitlines() would also split at \x85 or \u2028
    # inside a quoted key or string and count lines the parser does not.
    for number, line in enumerate(text.split("\n"), start=1):
        header = _HEADER.match(line)
        if header is not None:
            table = header.group(1).replace('"', "").replace(" ", "")
            full = table
        else:
            assign = _ASSIGN.match(line)
            if assign is None:
                continue
            name = assign.group(1).replace('"', "")
            full = f"{table}.{name}" if table else name
        parts = full.split(".")
        if parts == wanted[: len(parts)] and (best is None or len(parts) > best[0]):
            best = (len(parts), number)
    return None if best is None else best[1]


class Sources:
    """Settings read from the environment, then the config file; collects every problem."""

    def __init__(self, env: Mapping[str, str], file: ConfigFile | None, cwd: Path) -> None:
        self.env = env
        self.file = file
        self.cwd = cwd
        self.problems: list[str] = []
        self._flat = dict(_flatten(file.data)) if file is not None else {}
        self._check_names()

    def where(self, name: str) -> str:
        """How to name a setting in a message: its variable, or file:line: key."""
        setting = _BY_ENV[name]
        if name in self.env or setting.key is None or setting.key not in self._flat:
            return name
        return self._at(setting.key)

    def _at(self, key: str) -> str:
        assert self.file is not None  # noqa: S101 - only called for keys found in the file
        line = key_line(self.file.text, key)
        return f"{self.file.path}:{line}: {key}" if line else f"{self.file.path}: {key}"

    def raw(self, name: str) -> tuple[object, bool] | None:
        """The raw value of a setting and whether it came from the environment, or None."""
        if name in self.env and self.env[name] != "":
            return self.env[name], True
        key = _BY_ENV[name].key
        if key is not None and key in self._flat:
            return self._flat[key], False
        return None

    def base(self, name: str) -> Path:
        """The folder a relative path in this setting is relative to."""
        found = self.raw(name)
        if found is None or found[1] or self.file is None:
            return self.cwd
        return self.file.path.parent

    def get(self, name: str, parse: Parser[_T], default: _T) -> _T:
        """The checked value, or `default` when unset; a bad value is noted and gives default."""
        found = self.raw(name)
        if found is None:
            return default
        try:
            return parse(*found)
        except Invalid as error:
            self.problems.append(f"{self.where(name)} {error}")
            return default

    def path(self, name: str) -> Path | None:
        """A path setting, relative to the cwd (environment) or the file's folder."""
        value = self.get(name, text(4096), "")
        if not value:
            return None
        try:
            expanded = Path(value).expanduser()
        except RuntimeError:  # ~name for an account this machine does not have, or no HOME
            self.note(name, f"starts with {value.split('/')[0]!r}, a home folder not found here")
            return None
        return self.base(name) / expanded

    def note(self, name: str, problem: str) -> None:
        """Record a problem with one setting."""
        self.problems.append(f"{self.where(name)} {problem}")

    def _check_names(self) -> None:
        unknown = sorted(k for k in self.env if k.startswith("SAFETYBOT_") and k not in _BY_ENV)
        for name in unknown:
            self.problems.append(f"{name} is not a known setting (see docs/SETTINGS.md)")
        for key in self._flat:
            problem = _key_problem(key)
            if problem is not None and self.file is not None:
                line = key_line(self.file.text, key)
                where = f"{self.file.path}:{line}" if line else str(self.file.path)
                self.problems.append(f"{where}: {problem}")


def _flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Known tables flattened to dotted keys; other values (lists, inline tables) as they are."""
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and not prefix and name in _TABLES:
            yield from _flatten(value, key + ".")
        else:
            yield key, value


def _key_problem(key: str) -> str | None:
    if key in _BY_KEY:
        return None
    last = key.rsplit(".", 1)[-1].lower()
    for word, variable in _SECRETS.items():
        if word in last.split("_"):
            return (
                f"{key}: secrets are never read from the config file; set {variable} "
                f"(or {variable}_FILE) in the environment instead"
            )
    close = difflib.get_close_matches(key, list(_BY_KEY), n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown key {key!r}{hint}"


# ---- parsers: (raw value, came from the environment) -> checked value, or Invalid ---------


def _kind(raw: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", str: "text"}.get(
        type(raw), "a list" if isinstance(raw, list) else "a table"
    )


def integer(low: int, high: int) -> Parser[int]:
    """A whole number within [low, high]."""

    def parse(raw: object, from_env: bool) -> int:
        if from_env and isinstance(raw, str):
            try:
                raw = int(raw.strip())
            except ValueError:
                raise Invalid(f"must be a whole number, not {raw!r}") from None
        if not isinstance(raw, int) or isinstance(raw, bool):
            raise Invalid(f"must be a whole number, not {_kind(raw)}")
        if not low <= raw <= high:
            raise Invalid(f"must be between {low} and {high}, not {raw}")
        return raw

    return parse


def boolean(raw: object, from_env: bool) -> bool:
    """true or false (in the environment also 1/0, yes/no, on/off)."""
    if from_env and isinstance(raw, str):
        word = raw.strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise Invalid(f"must be true or false, not {raw!r}")
    if not isinstance(raw, bool):
        raise Invalid(f"must be true or false, not {_kind(raw)}")
    return raw


def text(limit: int) -> Parser[str]:
    """Non-empty text of at most `limit` characters, without line breaks."""

    def parse(raw: object, _from_env: bool) -> str:
        if not isinstance(raw, str):
            raise Invalid(f"must be text in quotes, not {_kind(raw)}")
        value = raw.strip()
        if not value or len(value) > limit or "\n" in value or "\x00" in value:
            raise Invalid(f"must be one line of 1 to {limit} characters")
        return value

    return parse


def choice(*options: str) -> Parser[str]:
    """One of the given words (case-insensitive)."""

    def parse(raw: object, from_env: bool) -> str:
        value = text(32)(raw, from_env)
        for option in options:
            if value.lower() == option.lower():
                return option
        raise Invalid(f"must be one of {', '.join(options)}, not {value!r}")

    return parse


def url(*, https_only: bool, ports: tuple[int, ...] | None = None) -> Parser[str]:
    """An absolute web address (https only, or http and https), with a host."""

    def parse(raw: object, from_env: bool) -> str:
        value = text(2048)(raw, from_env)
        schemes = ("https",) if https_only else ("http", "https")
        expected = "an https:// address" if https_only else "an http(s):// address"
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise Invalid(f"must be {expected}, not {value!r}") from None
        if parts.scheme not in schemes or not parts.hostname or " " in value:
            raise Invalid(f"must be {expected} with a host, not {value!r}")
        if ports is not None and port is not None and port not in ports:
            listed = ", ".join(str(p) for p in ports)
            raise Invalid(f"may only use port {listed} (Telegram's rule), not {port}")
        return value.rstrip("/") if not https_only else value

    return parse


_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_EMAIL = re.compile(r"[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
_LOCALE = re.compile(r"[a-z]{2,3}")
# The countries the bot offers (the picker's list): a new one is accepted here at once.
_COUNTRY = tuple(country.value for country in Country)


def phone(raw: object, from_env: bool) -> str:
    """A phone number in international (E.164) form."""
    value = text(32)(raw, from_env)
    if not _E164.fullmatch(value):
        raise Invalid(
            f"must be a number like +15551234567 (+, country code, digits), not {value!r}"
        )
    return value


def email(raw: object, from_env: bool) -> str:
    """An email address."""
    value = text(254)(raw, from_env)
    if not _EMAIL.fullmatch(value):
        raise Invalid(f"must be an email address, not {value!r}")
    return value


def locale(raw: object, from_env: bool) -> str:
    """A locale code such as "en"."""
    value = text(8)(raw, from_env)
    if not _LOCALE.fullmatch(value):
        raise Invalid(f"must be a language code such as 'en', not {value!r}")
    return value


def locales(raw: object, from_env: bool) -> tuple[str, ...]:
    """A list of locale codes (in the environment: separated by commas)."""
    if from_env and isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not raw:
        raise Invalid('must be a list of language codes such as ["en", "es"]')
    codes = tuple(locale(item, False) for item in raw)
    if len(set(codes)) != len(codes):
        raise Invalid("lists a language twice")
    return codes


def country(raw: object, from_env: bool) -> str:
    """One of the countries the bot knows."""
    value = text(8)(raw, from_env).upper()
    if value not in _COUNTRY:
        raise Invalid(f"must be one of {', '.join(_COUNTRY)}, not {value!r}")
    return value


def host(raw: object, from_env: bool) -> str:
    """An IP address to listen on."""
    value = text(64)(raw, from_env)
    try:
        return str(ipaddress.ip_address(value.removeprefix("[").removesuffix("]")))
    except ValueError:
        raise Invalid(
            f"must be an IP address such as 127.0.0.1 or 0.0.0.0, not {value!r}"
        ) from None


def address_port(*, loopback_only: bool) -> Parser[tuple[str, int]]:
    """An IP address and port, such as 127.0.0.1:9464 (only loopback, if so asked)."""
    example = "127.0.0.1:9464"

    def parse(raw: object, from_env: bool) -> tuple[str, int]:
        value = text(64)(raw, from_env)
        address, _, port = value.rpartition(":")
        try:
            ip = ipaddress.ip_address(address.removeprefix("[").removesuffix("]"))
            number = int(port)
        except ValueError:
            ip, number = None, 0
        if ip is None or not 0 < number < 65536 or (loopback_only and not ip.is_loopback):
            what = "a loopback address and port" if loopback_only else "an IP address and port"
            raise Invalid(f"must be {what} such as {example}, not {value!r}")
        return str(ip), number

    return parse


def url_path(raw: object, from_env: bool) -> str:
    """A URL path starting with /."""
    value = text(256)(raw, from_env)
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value):
        raise Invalid(
            f"must be a path such as /telegram (letters, digits, - _ . ~ /), not {value!r}"
        )
    return value
