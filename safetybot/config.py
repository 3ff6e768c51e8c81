"""Settings, built once from an explicit mapping (the environment, in cli.py) and checked at start.

Secrets are hidden from repr, so a logged or printed Config never shows them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from safetybot.core.menus import AUTO_CLEAR_CHOICES
from safetybot.core.vault import VaultSettings
from safetybot.crypto import KdfParams, parse_master_key
from safetybot.errors import ConfigError

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_SIGNAL_ATTACHMENTS",
    "SETTINGS",
    "Config",
    "default_locales_dir",
]

DEFAULT_API_URL = "https://api.telegram.org"
_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_SIGNAL_ATTACHMENTS = "~/.local/share/signal-cli/attachments"
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

# name -> (default shown in the README, meaning). The README's table is checked against this.
SETTINGS: dict[str, tuple[str, str]] = {
    "SAFETYBOT_TELEGRAM_TOKEN": ("(none)", "the bot token from BotFather; needed by `run`"),
    "SAFETYBOT_TELEGRAM_API_URL": (DEFAULT_API_URL, "root URL of the Bot API server"),
    "SAFETYBOT_MASTER_KEY": ("(none)", "base64 of 32 bytes, from `safetybot keygen`"),
    "SAFETYBOT_MASTER_KEY_FILE": ("(none)", "a file holding the master key instead"),
    "SAFETYBOT_DATA_DIR": ("./data", "folder for the database (and the console's key file)"),
    "SAFETYBOT_LOCALES_DIR": ("the repository's locales/", "folder of texts and guides"),
    "SAFETYBOT_DEFAULT_LOCALE": ("en", "language used when a person's is not shipped"),
    "SAFETYBOT_RESOURCES_FILE": ("(none)", "the organization's own helplines, added or corrected"),
    "SAFETYBOT_LOG_LEVEL": ("INFO", "DEBUG, INFO, WARNING or ERROR"),
    "SAFETYBOT_VAULT_UNLOCK_MINUTES": ("10", "private notes lock after this many idle minutes"),
    "SAFETYBOT_VAULT_MAX_FILE_MB": ("10", "largest file kept in private notes (Telegram: 20)"),
    "SAFETYBOT_VAULT_LOCKOUT_MINUTES": ("15", "pause after 5 wrong passphrases"),
    "SAFETYBOT_EXPORT_KEEP_MINUTES": ("5", "an export is deleted from the chat after this long"),
    "SAFETYBOT_ARGON2_MEMORY_KIB": ("19456", "Argon2id memory per passphrase derivation"),
    "SAFETYBOT_ARGON2_ITERATIONS": ("2", "Argon2id passes"),
    "SAFETYBOT_AUTO_CLEAR_MINUTES": (
        "0",
        "default auto-clear for new people: 0, 5, 30, 60, 720, 1440",
    ),
    "SAFETYBOT_RETENTION_DAYS": ("90", "erase people inactive for this many days"),
    "SAFETYBOT_SIGNAL_SOCKET": ("(none)", "signal-cli daemon's Unix socket, for the Signal bot"),
    "SAFETYBOT_SIGNAL_TCP": ("(none)", "or its `127.0.0.1:PORT` (loopback only)"),
    "SAFETYBOT_SIGNAL_ACCOUNT": ("(none)", "the bot's Signal number, for multi-account daemons"),
    "SAFETYBOT_SIGNAL_ATTACHMENTS_DIR": (
        DEFAULT_SIGNAL_ATTACHMENTS,
        "where signal-cli saves received attachments",
    ),
}


def default_locales_dir() -> Path:
    """The locales/ folder beside the package (a source checkout or the Docker image)."""
    return Path(__file__).resolve().parent.parent / "locales"


@dataclass(frozen=True)
class Config:
    """Everything the bot needs to start."""

    data_dir: Path
    locales_dir: Path
    default_locale: str = "en"
    telegram_api_url: str = DEFAULT_API_URL
    log_level: str = "INFO"
    resources_file: Path | None = None
    vault: VaultSettings = field(default_factory=VaultSettings)
    auto_clear_seconds: int = 0
    retention_days: int = 90
    telegram_token: str | None = field(default=None, repr=False)
    master_key: bytes | None = field(default=None, repr=False)
    signal_socket: Path | None = None
    signal_tcp: tuple[str, int] | None = None
    signal_attachments_dir: Path = Path(DEFAULT_SIGNAL_ATTACHMENTS)
    signal_account: str | None = field(default=None, repr=False)

    @property
    def database(self) -> Path:
        """The SQLite file."""
        return self.data_dir / "safetybot.db"

    @property
    def resources(self) -> Path:
        """The shipped resource directory."""
        return self.locales_dir / "resources.toml"

    @property
    def console_key_file(self) -> Path:
        """Where the console keeps the local master key it makes on first run."""
        return self.data_dir / "master.key"

    @classmethod
    def from_mapping(cls, env: Mapping[str, str], cwd: Path | None = None) -> Config:
        """Build and check the settings; raise ConfigError naming the first bad one."""
        unknown = sorted(k for k in env if k.startswith("SAFETYBOT_") and k not in SETTINGS)
        if unknown:
            raise ConfigError(f"{unknown[0]} is not a known setting (see the README's table)")
        base = cwd or Path.cwd()
        data_dir = base / env.get("SAFETYBOT_DATA_DIR", "data")
        locales_value = env.get("SAFETYBOT_LOCALES_DIR")
        locales_dir = base / locales_value if locales_value else default_locales_dir()
        if not locales_dir.is_dir():
            raise ConfigError(f"SAFETYBOT_LOCALES_DIR: folder {locales_dir} does not exist")
        api_url = env.get("SAFETYBOT_TELEGRAM_API_URL", DEFAULT_API_URL).rstrip("/")
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError("SAFETYBOT_TELEGRAM_API_URL must be an http(s) URL")
        token = env.get("SAFETYBOT_TELEGRAM_TOKEN") or None
        if token is not None and not _TOKEN.match(token.strip()):
            raise ConfigError("SAFETYBOT_TELEGRAM_TOKEN does not look like a BotFather token")
        level = env.get("SAFETYBOT_LOG_LEVEL", "INFO").upper()
        if level not in _LOG_LEVELS:
            raise ConfigError(f"SAFETYBOT_LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}")
        resources_value = env.get("SAFETYBOT_RESOURCES_FILE")
        resources_file = base / resources_value if resources_value else None
        if resources_file is not None and not resources_file.is_file():
            raise ConfigError(f"SAFETYBOT_RESOURCES_FILE: file {resources_file} does not exist")
        return cls(
            data_dir=data_dir,
            resources_file=resources_file,
            vault=_vault_settings(env),
            auto_clear_seconds=_auto_clear(env),
            retention_days=_number(env, "SAFETYBOT_RETENTION_DAYS", 1, 3650),
            locales_dir=locales_dir,
            default_locale=env.get("SAFETYBOT_DEFAULT_LOCALE", "en"),
            telegram_api_url=api_url,
            log_level=level,
            telegram_token=token.strip() if token else None,
            master_key=_master_key(env, base),
            **_signal(env, base),
        )

    def require_token(self) -> str:
        """The token, or a ConfigError naming the setting."""
        if not self.telegram_token:
            raise ConfigError("SAFETYBOT_TELEGRAM_TOKEN is not set (get one from @BotFather)")
        return self.telegram_token

    def require_signal_daemon(self) -> Path | tuple[str, int]:
        """The signal-cli daemon's socket path or loopback (host, port), or a ConfigError."""
        if self.signal_socket is not None:
            return self.signal_socket
        if self.signal_tcp is not None:
            return self.signal_tcp
        raise ConfigError("SAFETYBOT_SIGNAL_SOCKET (or SAFETYBOT_SIGNAL_TCP) is not set")

    def require_master_key(self) -> bytes:
        """The master key, or a ConfigError naming the settings."""
        if self.master_key is None:
            raise ConfigError(
                "SAFETYBOT_MASTER_KEY is not set (or SAFETYBOT_MASTER_KEY_FILE); "
                "make one with `safetybot keygen`"
            )
        return self.master_key


def _number(env: Mapping[str, str], name: str, low: int, high: int) -> int:
    raw = env.get(name, SETTINGS[name][0])
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}")
    return value


def _auto_clear(env: Mapping[str, str]) -> int:
    minutes = _number(env, "SAFETYBOT_AUTO_CLEAR_MINUTES", 0, 1440)
    if minutes * 60 not in AUTO_CLEAR_CHOICES:
        raise ConfigError("SAFETYBOT_AUTO_CLEAR_MINUTES must be one of 0, 5, 30, 60, 720, 1440")
    return minutes * 60


def _vault_settings(env: Mapping[str, str]) -> VaultSettings:
    return VaultSettings(
        kdf=KdfParams(
            memory_kib=_number(env, "SAFETYBOT_ARGON2_MEMORY_KIB", 8, 4 * 1024 * 1024),
            iterations=_number(env, "SAFETYBOT_ARGON2_ITERATIONS", 1, 64),
        ),
        unlock_minutes=_number(env, "SAFETYBOT_VAULT_UNLOCK_MINUTES", 1, 24 * 60),
        lockout_minutes=_number(env, "SAFETYBOT_VAULT_LOCKOUT_MINUTES", 1, 24 * 60),
        max_file_bytes=_number(env, "SAFETYBOT_VAULT_MAX_FILE_MB", 1, 20) * 1024 * 1024,
        export_keep_minutes=_number(env, "SAFETYBOT_EXPORT_KEEP_MINUTES", 1, 24 * 60),
    )


def _master_key(env: Mapping[str, str], base: Path) -> bytes | None:
    value = env.get("SAFETYBOT_MASTER_KEY")
    path = env.get("SAFETYBOT_MASTER_KEY_FILE")
    if value and path:
        raise ConfigError("set SAFETYBOT_MASTER_KEY or SAFETYBOT_MASTER_KEY_FILE, not both")
    if value:
        return parse_master_key(value, "SAFETYBOT_MASTER_KEY")
    if path:
        try:
            text = (base / path).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            raise ConfigError(f"SAFETYBOT_MASTER_KEY_FILE: cannot read {path}") from None
        return parse_master_key(text, "SAFETYBOT_MASTER_KEY_FILE")
    return None


def _signal(env: Mapping[str, str], base: Path) -> dict[str, Any]:
    """The Signal settings; TCP is refused unless on loopback, since it has no authentication."""
    socket_value = env.get("SAFETYBOT_SIGNAL_SOCKET")
    tcp_value = env.get("SAFETYBOT_SIGNAL_TCP")
    if socket_value and tcp_value:
        raise ConfigError("set SAFETYBOT_SIGNAL_SOCKET or SAFETYBOT_SIGNAL_TCP, not both")
    account = (env.get("SAFETYBOT_SIGNAL_ACCOUNT") or "").strip() or None
    if account is not None and not _E164.match(account):
        raise ConfigError("SAFETYBOT_SIGNAL_ACCOUNT must be a number like +15551234567")
    folder = env.get("SAFETYBOT_SIGNAL_ATTACHMENTS_DIR")
    if folder:
        attachments = base / Path(folder).expanduser()
    else:
        # Where signal-cli puts them: $XDG_DATA_HOME/signal-cli, else ~/.local/share/signal-cli.
        data_home = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME") or "~") / ".local/share")
        attachments = Path(data_home).expanduser() / "signal-cli" / "attachments"
    return {
        "signal_socket": base / socket_value if socket_value else None,
        "signal_tcp": _loopback(tcp_value) if tcp_value else None,
        "signal_attachments_dir": attachments,
        "signal_account": account,
    }


def _loopback(value: str) -> tuple[str, int]:
    problem = ConfigError(
        "SAFETYBOT_SIGNAL_TCP must be a loopback address and port, like 127.0.0.1:7583 "
        "(signal-cli's TCP socket has no authentication)"
    )
    host, _, port = value.strip().rpartition(":")
    try:
        address = ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
        number = int(port)
    except ValueError:
        raise problem from None
    if not address.is_loopback or not 0 < number < 65536:
        raise problem
    return str(address), number
