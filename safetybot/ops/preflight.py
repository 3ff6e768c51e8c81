"""What `safetybot check` checks, and `safetybot run` checks before it starts anything.

Each finding names its file and line, or its setting. Errors stop `run`; warnings (a missing
translation, which falls back to the default language) do not, but `check` reports them too.
"""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from safetybot.errors import ConfigError, CryptoError, LocaleError, StoreError
from safetybot.guidance.redflags import check_rules
from safetybot.guidance.resources import Directory, check_directory
from safetybot.guidance.services import Mention, known_services, route_names, unknown_services
from safetybot.locales import check_locales, read_layers
from safetybot.ops.backup import describe_database
from safetybot.ops.config import Config
from safetybot.vault.crypto import Keyring
from safetybot.vault.notices import PLATFORMS_FILE, check_platforms

__all__ = ["Finding", "check_words", "diagnose", "organization_values"]


@dataclass(frozen=True)
class Finding:
    """One problem, in words an operator can act on."""

    text: str
    warning: bool = False

    def __str__(self) -> str:
        return f"warning: {self.text}" if self.warning else self.text


def organization_values(config: Config) -> dict[str, str] | None:
    """The values texts may use for the organization, or None when it is not named."""
    if config.organization is None:
        return None
    return {"org_name": config.organization.name, "org_contact": config.organization.contact()}


def diagnose(config: Config, transport: str = "telegram", *, deep: bool = False) -> list[Finding]:
    """Every problem that would stop or weaken the bot; `deep` also opens the database."""
    found = _secrets(config, transport)
    found += _data_dir(config.data_dir)
    found += check_words(config)
    if deep:
        found += _database(config)
    return found


def _secrets(config: Config, transport: str) -> list[Finding]:
    needs: list[Callable[[], object]] = [config.require_master_key]
    if transport == "signal":
        needs.append(config.require_signal_daemon)
    else:
        needs.append(config.require_token)
        if config.telegram_mode == "webhook":
            needs.append(config.require_webhook)
    found: list[Finding] = []
    for need in needs:
        try:
            need()
        except ConfigError as error:
            found += [Finding(problem) for problem in error.problems]
    return found


def _data_dir(folder: Path) -> list[Finding]:
    """The data folder exists and takes a new file, or can be made."""
    where = "data_dir (SAFETYBOT_DATA_DIR)"
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [Finding(f"{where}: {folder} cannot be a folder: {existing} is a file")]
    try:
        descriptor, name = tempfile.mkstemp(dir=existing, prefix=".safetybot-check-")
        os.close(descriptor)
        os.unlink(name)
    except OSError as error:
        verb = "cannot write in" if existing == folder else "cannot create"
        return [Finding(f"{where}: {verb} {folder} ({error.strerror})")]
    return []


def check_words(config: Config) -> list[Finding]:
    """Texts, guides, overrides, resources, platforms and red-flag rules
    (`safetybot check-locales`)."""
    found = _texts(config)
    found += [Finding(_with_line(p)) for p in _resources(config)]
    found += [Finding(_with_line(p)) for p in _platforms(config)]
    found += [Finding(p) for p in _rules(config)]
    found += [Finding(str(mention)) for mention in _services(config)]
    found += _model()
    return found


def _services(config: Config) -> list[Mention]:
    """Texts and guides that name a helpline or service the directory lacks (see services.py)."""
    given = organization_values(config) or {}
    layers = read_layers(
        config.locales_dir,
        config.default_locale,
        overrides=config.overrides_dir,
        languages=config.languages,
        given=given,
    )
    try:
        directory = Directory.load(
            config.resources, config.resources_file, locales=list(layers.messages)
        )
    except LocaleError:
        return []  # the directory's own problems are reported by _resources
    names = [resource.name for resource in directory]
    names += [given.get("org_name", "")]
    for messages in layers.messages.values():
        names += route_names(messages)
    known = known_services(names)
    root = config.locales_dir
    found: list[Mention] = []
    for code, messages in layers.messages.items():
        for key, text in messages.items():
            found += unknown_services(f"{root / code / 'messages.po'}: text {key!r}", text, known)
    for code, guides in layers.guides.items():
        for guide_id, guide in guides.items():
            where = str(root / code / "guides" / f"{guide_id}.md")
            found += unknown_services(where, f"{guide.title}\n{guide.body}", known)
    return found


def _model() -> list[Finding]:
    """The models ship with the package; a damaged copy would leave words unread."""
    from safetybot.core import signals
    from safetybot.guidance import checker

    found = []
    for name, path, load, command in (
        ("intent", signals.MODEL_FILE, signals.load_model, "train-intents"),
        ("check", checker.MODEL_FILE, checker.load_model, "train-check"),
    ):
        try:
            load(path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
            why = getattr(error, "strerror", None) or type(error).__name__
            found.append(
                Finding(
                    f"{path}: the {name} model cannot be read ({why}); reinstall safetybot, "
                    f"or rebuild it with `safetybot {command}`"
                )
            )
    return found


def _texts(config: Config) -> list[Finding]:
    problems = check_locales(
        config.locales_dir,
        config.default_locale,
        overrides=config.overrides_dir,
        languages=config.languages,
        given=organization_values(config) or {},
    )
    return [Finding(str(p), p.warning) for p in problems]


def _resources(config: Config) -> list[str]:
    root = config.locales_dir
    shipped = sorted(p.parent.name for p in root.glob("*/messages.po"))
    return check_directory(
        config.resources,
        config.resources_file,
        list(config.languages or shipped),
        default_locale=config.default_locale,
    )


def _platforms(config: Config) -> list[str]:
    """The shipped platforms file and the organization's own, as the bot will load them."""
    own = config.overrides_dir / PLATFORMS_FILE if config.overrides_dir else None
    shipped = sorted(p.parent.name for p in config.locales_dir.glob("*/messages.po"))
    return check_platforms(
        config.locales_dir / PLATFORMS_FILE,
        own if own is not None and own.is_file() else None,
        locales=list(config.languages or shipped),
        default_locale=config.default_locale,
    )


def _rules(config: Config) -> list[str]:
    return check_rules(config.locales_dir)


_ENTRY = re.compile(r"^(?P<file>.+?): (?P<kind>resource|platform) '(?P<id>[^']+)': (?P<what>.*)$")


def _with_line(problem: str) -> str:
    """Point a resource or platform problem at the line of its entry's id, when found."""
    match = _ENTRY.match(problem)
    if match is None:
        return problem
    try:
        text = Path(match["file"]).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return problem
    pattern = re.compile(rf"^\s*id\s*=\s*[\"']{re.escape(match['id'])}[\"']", re.MULTILINE)
    found = pattern.search(text)
    if found is None:
        return problem
    line = text.count("\n", 0, found.start()) + 1
    return f"{match['file']}:{line}: {match['kind']} {match['id']!r}: {match['what']}"


def _database(config: Config) -> list[Finding]:
    if not config.database.is_file():
        return []
    try:
        info = describe_database(config.database)
    except StoreError as error:
        return [Finding(str(error))]
    if not info.ok:
        return [Finding(f"{config.database}: {info.problem}")]
    if config.master_key is not None and info.pseudonym_key is not None:
        try:
            Keyring(config.master_key).with_stored_pseudonym_key(info.pseudonym_key)
        except CryptoError:
            return [
                Finding(
                    "SAFETYBOT_MASTER_KEY does not open the database in "
                    f"{config.data_dir} (a different key made it)"
                )
            ]
    return []
