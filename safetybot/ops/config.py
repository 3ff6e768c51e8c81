"""Settings, built once from explicit mappings (the environment and the parsed config file, both
handed over by cli.py) and checked at start.

Every problem is collected and raised together in one ConfigError, each naming the variable, or
the config file, line and key. The environment wins over the file; the file over the defaults
(settings.py has the table). Secrets are hidden from repr, so a printed Config never shows them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from safetybot.core.limits import LimitSettings
from safetybot.core.menus import AUTO_CLEAR_CHOICES
from safetybot.core.vault import VaultSettings
from safetybot.errors import ConfigError
from safetybot.guidance.resources import display_phone
from safetybot.ops.settings import (
    DEFAULT_API_URL,
    DEFAULT_SIGNAL_ATTACHMENTS,
    TABLE,
    ConfigFile,
    Invalid,
    Sources,
    address_port,
    boolean,
    choice,
    country,
    email,
    host,
    integer,
    locale,
    locales,
    phone,
    text,
    url,
    url_path,
)
from safetybot.vault.crypto import KdfParams, parse_master_key
from safetybot.vault.signing import load_signing_key

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_SIGNAL_ATTACHMENTS",
    "SETTINGS",
    "Config",
    "Organization",
    "Webhook",
    "default_locales_dir",
]

# name -> (default shown in docs/SETTINGS.md, meaning). That table is checked against this.
SETTINGS: dict[str, tuple[str, str]] = {s.env: (s.default, s.meaning) for s in TABLE}

_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{16,256}$")  # Telegram allows 1-256 of these
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports Telegram posts to


def default_locales_dir() -> Path:
    """The shipped texts and guides: package data (safetybot/locales/) in an installed copy,
    locales/ beside the package in a checkout or an editable install."""
    shipped = files("safetybot") / "locales"
    # A regular package on disk gives a real folder, which the readers walk with pathlib;
    # safetybot is never run from a zip.
    installed = shipped if isinstance(shipped, Path) else Path(str(shipped))
    if installed.is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "locales"


@dataclass(frozen=True)
class Organization:
    """Who runs this instance, shown in /start and /privacy."""

    name: str
    phone: str | None = None
    url: str | None = None
    email: str | None = None

    def contact(self) -> str:
        """The ways to reach the organization, in one line."""
        ways = [display_phone(self.phone) if self.phone else None, self.url, self.email]
        return " · ".join(w for w in ways if w)


@dataclass(frozen=True)
class Webhook:
    """Where Telegram posts updates (through a reverse proxy), and where the bot listens."""

    public_url: str
    listen: str = "127.0.0.1"
    port: int = 8080
    path: str = "/telegram"
    max_connections: int = 40


@dataclass(frozen=True)
class Config:
    """Everything the bot needs to start."""

    data_dir: Path
    locales_dir: Path
    default_locale: str = "en"
    telegram_api_url: str = DEFAULT_API_URL
    log_level: str = "INFO"
    log_format: str = "text"
    resources_file: Path | None = None
    vault: VaultSettings = field(default_factory=VaultSettings)
    auto_clear_seconds: int = 0
    retention_days: int = 90
    limits: LimitSettings = field(default_factory=LimitSettings)
    config_file: Path | None = None
    overrides_dir: Path | None = None
    languages: tuple[str, ...] | None = None  # None: every shipped locale
    default_country: str | None = None
    organization: Organization | None = None
    metrics_listen: tuple[str, int] | None = None  # None: metrics off
    telegram_mode: str = "polling"
    webhook: Webhook | None = None
    telegram_token: str | None = field(default=None, repr=False)
    master_key: bytes | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
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
    def from_mapping(
        cls, env: Mapping[str, str], cwd: Path | None = None, file: ConfigFile | None = None
    ) -> Config:
        """Build and check the settings; raise one ConfigError listing every problem."""
        src = Sources(env, file, cwd or Path.cwd())
        data_dir = src.path("SAFETYBOT_DATA_DIR") or src.cwd / "data"
        locales_dir = src.path("SAFETYBOT_LOCALES_DIR") or default_locales_dir()
        if not locales_dir.is_dir():
            src.note("SAFETYBOT_LOCALES_DIR", f"folder {locales_dir} does not exist")
        overrides_dir = src.path("SAFETYBOT_OVERRIDES_DIR")
        if overrides_dir is not None and not overrides_dir.is_dir():
            src.note("SAFETYBOT_OVERRIDES_DIR", f"folder {overrides_dir} does not exist")
        resources_file = src.path("SAFETYBOT_RESOURCES_FILE")
        if resources_file is not None and not resources_file.is_file():
            src.note("SAFETYBOT_RESOURCES_FILE", f"file {resources_file} does not exist")
        default_locale = src.get("SAFETYBOT_DEFAULT_LOCALE", locale, "en")
        languages = _languages(src, locales_dir, overrides_dir, default_locale)
        level = src.get("SAFETYBOT_LOG_LEVEL", choice(*_LOG_LEVELS), "INFO")
        metrics_on = src.get("SAFETYBOT_METRICS", boolean, False)
        listen = src.get(
            "SAFETYBOT_METRICS_LISTEN", address_port(loopback_only=False), ("127.0.0.1", 9464)
        )
        mode = src.get("SAFETYBOT_TELEGRAM_MODE", choice("polling", "webhook"), "polling")
        config = cls(
            data_dir=data_dir,
            locales_dir=locales_dir,
            default_locale=default_locale,
            telegram_api_url=src.get(
                "SAFETYBOT_TELEGRAM_API_URL", url(https_only=False), DEFAULT_API_URL
            ),
            log_level=level,
            log_format=src.get("SAFETYBOT_LOG_FORMAT", choice("text", "json"), "text"),
            resources_file=resources_file,
            vault=_vault_settings(src),
            auto_clear_seconds=_auto_clear(src),
            retention_days=src.get("SAFETYBOT_RETENTION_DAYS", integer(1, 3650), 90),
            limits=LimitSettings(
                rate=src.get("SAFETYBOT_RATE_LIMIT_PER_MINUTE", integer(6, 60_000), 180) / 60,
                burst=src.get("SAFETYBOT_RATE_LIMIT_BURST", integer(1, 10_000), 40),
            ),
            config_file=file.path if file is not None else None,
            overrides_dir=overrides_dir,
            languages=languages,
            default_country=src.get("SAFETYBOT_DEFAULT_COUNTRY", country, None),
            organization=_organization(src),
            metrics_listen=listen if metrics_on else None,
            telegram_mode=mode,
            webhook=_webhook(src, required=mode == "webhook"),
            telegram_token=_secret(src, "SAFETYBOT_TELEGRAM_TOKEN", _token),
            master_key=_secret(src, "SAFETYBOT_MASTER_KEY", _key),
            webhook_secret=_secret(src, "SAFETYBOT_WEBHOOK_SECRET", _webhook_secret),
            **_signal(src),
        )
        if src.problems:
            raise ConfigError(*src.problems)
        return config

    def require_token(self) -> str:
        """The token, or a ConfigError naming the setting."""
        if not self.telegram_token:
            raise ConfigError(
                "SAFETYBOT_TELEGRAM_TOKEN is not set (or SAFETYBOT_TELEGRAM_TOKEN_FILE); "
                "get one from @BotFather"
            )
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

    def require_webhook(self) -> tuple[Webhook, str]:
        """The webhook settings and secret, or a ConfigError naming what is missing."""
        problems = []
        if self.webhook is None:
            problems.append(
                "webhook.public_url (or SAFETYBOT_WEBHOOK_URL) is needed in webhook mode: "
                "the https address Telegram posts to"
            )
        if not self.webhook_secret:
            problems.append(
                "SAFETYBOT_WEBHOOK_SECRET (or SAFETYBOT_WEBHOOK_SECRET_FILE) is needed in "
                "webhook mode; make one with `safetybot keygen --webhook-secret`"
            )
        if problems or self.webhook is None or self.webhook_secret is None:
            raise ConfigError(*problems)
        return self.webhook, self.webhook_secret


def _languages(
    src: Sources, root: Path, overrides: Path | None, default: str
) -> tuple[str, ...] | None:
    chosen = src.get("SAFETYBOT_LANGUAGES", locales, None)
    available = sorted(
        {p.parent.name for p in root.glob("*/messages.po")}
        | ({p.parent.name for p in overrides.glob("*/messages.po")} if overrides else set())
    )
    if available and default not in available:
        src.note("SAFETYBOT_DEFAULT_LOCALE", f"{default!r} has no texts (have: {available})")
    if chosen is None:
        return None
    for code in chosen:
        if code not in available:
            src.note(
                "SAFETYBOT_LANGUAGES",
                f"lists {code!r}, which has no locale folder with a messages.po "
                f"(available: {', '.join(available)})",
            )
    if default not in chosen:
        src.note("SAFETYBOT_LANGUAGES", f"must include the default language {default!r}")
    return chosen


def _auto_clear(src: Sources) -> int:
    minutes = src.get("SAFETYBOT_AUTO_CLEAR_MINUTES", integer(0, 1440), 0)
    if minutes * 60 not in AUTO_CLEAR_CHOICES:
        src.note("SAFETYBOT_AUTO_CLEAR_MINUTES", "must be one of 0, 5, 30, 60, 720, 1440")
        return 0
    return minutes * 60


def _vault_settings(src: Sources) -> VaultSettings:
    return VaultSettings(
        kdf=KdfParams(
            # Floors: RFC 9106's second recommended option; an organization may only go higher.
            memory_kib=src.get(
                "SAFETYBOT_ARGON2_MEMORY_KIB", integer(65536, 4 * 1024 * 1024), 65536
            ),
            iterations=src.get("SAFETYBOT_ARGON2_ITERATIONS", integer(3, 64), 3),
        ),
        unlock_minutes=src.get("SAFETYBOT_VAULT_UNLOCK_MINUTES", integer(1, 24 * 60), 10),
        lockout_minutes=src.get("SAFETYBOT_VAULT_LOCKOUT_MINUTES", integer(1, 24 * 60), 15),
        max_file_bytes=src.get("SAFETYBOT_VAULT_MAX_FILE_MB", integer(1, 20), 10) * 1024 * 1024,
        export_keep_minutes=src.get("SAFETYBOT_EXPORT_KEEP_MINUTES", integer(1, 24 * 60), 5),
        signing_key=_signing_key(src),
        tsa_url=src.get("SAFETYBOT_TSA_URL", url(https_only=False), None),
    )


def _signing_key(src: Sources) -> Ed25519PrivateKey | None:
    """The export signing key from the file SAFETYBOT_SIGNING_KEY_FILE names (environment only)."""
    name = "SAFETYBOT_SIGNING_KEY_FILE"
    path = src.env.get(name) or None
    if path is None:
        return None
    file = src.cwd / Path(path).expanduser()
    try:
        data = file.read_bytes()
    except OSError as error:
        src.problems.append(f"{name}: cannot read {file} ({error.strerror})")
        return None
    try:
        return load_signing_key(data, f"{name} ({file})")
    except ConfigError as error:
        src.problems.append(str(error))
        return None


def _organization(src: Sources) -> Organization | None:
    name = src.get("SAFETYBOT_ORGANIZATION_NAME", text(80), None)
    ways = {
        "phone": src.get("SAFETYBOT_ORGANIZATION_PHONE", phone, None),
        "url": src.get("SAFETYBOT_ORGANIZATION_URL", url(https_only=True), None),
        "email": src.get("SAFETYBOT_ORGANIZATION_EMAIL", email, None),
    }
    if name is not None and ("{" in name or "}" in name):
        src.note("SAFETYBOT_ORGANIZATION_NAME", "must not contain { or }")
    given = any(src.raw(f"SAFETYBOT_ORGANIZATION_{w.upper()}") for w in ways)
    if name is None:
        if given:
            src.note("SAFETYBOT_ORGANIZATION_NAME", "is needed when a phone, url or email is set")
        return None
    if not given:
        src.note(
            "SAFETYBOT_ORGANIZATION_NAME",
            "needs a way to reach the organization too: organization.phone, url or email",
        )
    return Organization(name, **ways)


def _webhook(src: Sources, required: bool) -> Webhook | None:
    public = src.get("SAFETYBOT_WEBHOOK_URL", url(https_only=True, ports=_WEBHOOK_PORTS), None)
    listen = src.get("SAFETYBOT_WEBHOOK_LISTEN", host, "127.0.0.1")
    port = src.get("SAFETYBOT_WEBHOOK_PORT", integer(1, 65535), 8080)
    path = src.get("SAFETYBOT_WEBHOOK_PATH", url_path, None)
    connections = src.get("SAFETYBOT_WEBHOOK_MAX_CONNECTIONS", integer(1, 100), 40)
    if public is None:
        if required and not src.raw("SAFETYBOT_WEBHOOK_URL"):
            src.note(
                "SAFETYBOT_WEBHOOK_URL",
                "(webhook.public_url) is needed in webhook mode: the https address Telegram "
                "posts to, through your reverse proxy",
            )
        return None
    if path is None:
        path = urlsplit(public).path or "/telegram"
    if path in ("/healthz", "/readyz"):
        src.note("SAFETYBOT_WEBHOOK_PATH", "must not be /healthz or /readyz")
    return Webhook(public, listen, port, path, connections)


def _token(value: str, name: str) -> str:
    if not _TOKEN.match(value):
        raise ConfigError(f"{name} does not look like a BotFather token")
    return value


def _key(value: str, name: str) -> bytes:
    return parse_master_key(value, name)


def _webhook_secret(value: str, name: str) -> str:
    if not _WEBHOOK_SECRET.match(value):
        raise ConfigError(
            f"{name} must be 16 to 256 letters, digits, _ or - "
            "(make one with `safetybot keygen --webhook-secret`)"
        )
    return value


_T = TypeVar("_T")


def _secret(src: Sources, name: str, parse: Callable[[str, str], _T]) -> _T | None:
    """A secret from NAME or from the file NAME_FILE; never from the config file."""
    value = src.env.get(name) or None
    path = src.env.get(f"{name}_FILE") or None
    if value and path:
        src.problems.append(f"set {name} or {name}_FILE, not both")
        return None
    if path is not None:
        file = src.cwd / path
        try:
            value = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            src.problems.append(f"{name}_FILE: cannot read {file} ({reason})")
            return None
        name = f"{name}_FILE"
    if value is None:
        return None
    try:
        return parse(value.strip(), name)
    except ConfigError as error:
        src.problems.append(str(error))
        return None


def _signal(src: Sources) -> dict[str, Any]:
    """The Signal settings; TCP is refused unless on loopback, since it has no authentication."""
    socket = src.path("SAFETYBOT_SIGNAL_SOCKET")
    tcp = src.get("SAFETYBOT_SIGNAL_TCP", _signal_tcp, None)
    if socket is not None and src.raw("SAFETYBOT_SIGNAL_TCP"):
        src.problems.append("set SAFETYBOT_SIGNAL_SOCKET or SAFETYBOT_SIGNAL_TCP, not both")
    account = src.get("SAFETYBOT_SIGNAL_ACCOUNT", _signal_account, None)
    folder = src.path("SAFETYBOT_SIGNAL_ATTACHMENTS_DIR")
    if folder is None:
        # Where signal-cli puts them: $XDG_DATA_HOME/signal-cli, else ~/.local/share/signal-cli.
        home = src.env.get("XDG_DATA_HOME") or str(
            Path(src.env.get("HOME") or "~") / ".local/share"
        )
        try:
            folder = Path(home).expanduser() / "signal-cli" / "attachments"
        except RuntimeError:  # no home folder to be found: `check` names the missing folder
            folder = Path(home) / "signal-cli" / "attachments"
    return {
        "signal_socket": socket,
        "signal_tcp": tcp,
        "signal_attachments_dir": folder,
        "signal_account": account,
    }


def _signal_tcp(raw: object, from_env: bool) -> tuple[str, int]:
    try:
        return address_port(loopback_only=True)(raw, from_env)
    except Invalid:
        raise Invalid(
            "must be a loopback address and port, like 127.0.0.1:7583 "
            "(signal-cli's TCP socket has no authentication)"
        ) from None


def _signal_account(raw: object, from_env: bool) -> str:
    try:
        return phone(raw, from_env)
    except Invalid:
        raise Invalid("must be a number like +15551234567") from None
