"""The `safetybot` command: run, check, console and the operator commands.

The only reader of os.environ, and of the config file named by SAFETYBOT_CONFIG (or --config);
both are handed to Config.from_mapping as mappings.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from safetybot import admin, health, logs
from safetybot.backup import RunLock
from safetybot.config import Config
from safetybot.core.service import Service
from safetybot.crypto import Keyring, new_master_key, parse_master_key
from safetybot.errors import ConfigError, CryptoError, SafetybotError
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.metrics import Metrics, MetricsHandler
from safetybot.preflight import check_words, diagnose, organization_values
from safetybot.redflags import Rules
from safetybot.resources import Directory
from safetybot.settings import parse_config_file
from safetybot.store import Store

__all__ = ["main"]


def _load_words(config: Config) -> tuple[Texts, Directory]:
    """Texts, guides and resources: checked before anything is created on disk."""
    texts = Texts.load(
        config.locales_dir,
        config.default_locale,
        overrides=config.overrides_dir,
        languages=config.languages,
        organization=organization_values(config),
    )
    directory = Directory.load(
        config.resources,
        config.resources_file,
        locales=texts.locales,
        default_locale=config.default_locale,
    )
    return texts, directory


async def _open(
    config: Config, master: bytes, words: tuple[Texts, Directory], store: Store | None = None
) -> Service:
    # The organization's own locales folder may carry its own red-flag rules.
    rules = Rules.load(config.locales_dir)
    store = store or await Store.open(config.database)
    try:
        keyring = await _keyring(store, master)
    except BaseException:
        await store.close()
        raise
    return Service(
        store,
        keyring,
        *words,
        vault=config.vault,
        auto_clear_default=config.auto_clear_seconds,
        retention_days=config.retention_days,
        rules=rules,
        limits=config.limits,
        default_country=config.default_country,
    )


async def _keyring(store: Store, master: bytes) -> Keyring:
    """The keyring with the database's pseudonym key; a wrong master key is named at once."""
    first = Keyring(master)
    wrapped = await store.pseudonym_key(first.wrap_pseudonym_key)
    try:
        return first.with_stored_pseudonym_key(wrapped)
    except CryptoError:
        raise ConfigError(
            "SAFETYBOT_MASTER_KEY does not open the database in SAFETYBOT_DATA_DIR "
            "(a different key made it)"
        ) from None


async def _rotate_key(config: Config, new_key_file: Path) -> int:
    """Re-wrap every data key and the pseudonym key under a new master key."""
    old = config.require_master_key()
    text = await asyncio.to_thread(new_key_file.read_text, encoding="ascii")
    new = parse_master_key(text, str(new_key_file))
    store = await Store.open(config.database)
    try:
        current = await _keyring(store, old)
        rotated = Keyring(new, current.pseudonym_key)
        count = await store.rewrap(
            rotated.wrap_pseudonym_key(),
            lambda pseudonym, wrapped: rotated.wrap(current.unwrap(wrapped, pseudonym), pseudonym),
        )
    finally:
        await store.close()
    print(f"Re-wrapped {count} data key(s). Now set SAFETYBOT_MASTER_KEY to the new key.")
    return 0


async def _run_telegram(config: Config, metrics: Metrics | None) -> None:
    from safetybot.transports.telegram import TelegramBot  # only `run` needs Telegram

    master = config.require_master_key()
    token = config.require_token()
    webhook, secret = (None, None)
    if config.telegram_mode == "webhook":
        webhook, secret = config.require_webhook()
    words = _load_words(config)
    store = await Store.open(config.database)
    service = await _open(config, master, words, store)
    bot = TelegramBot(
        service,
        token,
        config.telegram_api_url,
        webhook=webhook,
        webhook_secret=secret,
        ready=store.ping,
    )
    await _serve(config, bot, service, bot.ready, metrics)


class _Bot(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def _serve(
    config: Config,
    bot: _Bot,
    service: Service,
    ready: Callable[[], Awaitable[bool]],
    metrics: Metrics | None,
) -> None:
    """Start the bot, the heartbeat and metrics; on SIGINT or SIGTERM stop them in order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    beat = asyncio.create_task(health.beat(health.heartbeat_file(config), ready))
    exporter = None
    try:
        await bot.start()
        if metrics is not None and config.metrics_listen is not None:
            from safetybot.metrics import serve

            exporter = await serve(metrics, *config.metrics_listen)
        await stop.wait()
    finally:
        beat.cancel()
        await asyncio.gather(beat, return_exceptions=True)
        if exporter is not None:
            await exporter.cleanup()
        await bot.stop()  # finishes the updates in flight
        await service.close()


async def _run_signal(config: Config, metrics: Metrics | None) -> None:
    from safetybot.transports.jsonrpc import Endpoint
    from safetybot.transports.signal import SignalBot

    master = config.require_master_key()
    daemon = config.require_signal_daemon()
    words = _load_words(config)
    store = await Store.open(config.database)
    service = await _open(config, master, words, store)
    endpoint = Endpoint(socket=daemon) if isinstance(daemon, Path) else Endpoint(None, *daemon)
    bot = SignalBot(
        service,
        endpoint,
        account=config.signal_account,
        attachments_dir=config.signal_attachments_dir,
    )
    await _serve(config, bot, service, store.ping, metrics)


def _console_key(config: Config) -> tuple[bytes, bool]:
    """The master key for the console: from the settings, else a local key file (made once)."""
    if config.master_key is not None:
        return config.master_key, False
    path = config.console_key_file
    if path.exists():
        return parse_master_key(path.read_text(encoding="ascii"), str(path)), False
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = new_master_key()
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return parse_master_key(key, str(path)), True


async def _run_console(config: Config, env: Mapping[str, str]) -> None:
    from safetybot.transports.console import run_console

    words = _load_words(config)
    master, created = _console_key(config)
    service = await _open(config, master, words)
    language = env.get("LANG", "").split(".")[0] or None
    texts = service.texts
    locale = texts.pick(language)

    def greet(_front: object) -> None:
        lines = []
        if created:
            params = {"folder": str(config.data_dir), "key_file": str(config.console_key_file)}
            lines.append(texts.text(locale, "console.created", params))
        if sys.stdin.isatty():
            lines.append(texts.text(locale, "console.hint"))
        for line in lines:
            print("\n".join(render(line, Format.PLAIN)), flush=True)

    try:
        await run_console(
            service,
            sys.stdin,
            sys.stdout,
            interactive=sys.stdin.isatty(),
            language=language,
            greeting=greet,
            exports_dir=config.data_dir / "exports",
        )
    finally:
        await service.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safetybot", description="A private helper bot for people facing sextortion or NCII."
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="the TOML config file (else SAFETYBOT_CONFIG)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot on Telegram (polling or webhook) or Signal")
    run.add_argument("--transport", choices=["telegram", "signal"], default="telegram")
    run.add_argument("--webhook", action="store_true", help="webhook mode, whatever the config")
    check = commands.add_parser(
        "check", help="check config, secrets, data folder, texts, overrides and resources"
    )
    check.add_argument("--transport", choices=["telegram", "signal"], default="telegram")
    check.add_argument("--webhook", action="store_true", help="check for webhook mode")
    commands.add_parser("health", help="exit 0 if the running bot is alive (container checks)")
    commands.add_parser("console", help="talk to the bot in this terminal (no token, no network)")
    keygen = commands.add_parser("keygen", help="print a new master key (base64 of 32 bytes)")
    keygen.add_argument(
        "--webhook-secret", action="store_true", help="print a webhook secret instead"
    )
    backup = commands.add_parser("backup", help="copy the database, while the bot runs")
    backup.add_argument("file", type=Path, help="a new file for the copy")
    restore = commands.add_parser("restore", help="replace the database with a backup")
    restore.add_argument("file", type=Path, help="the backup")
    restore.add_argument("--force", action="store_true", help="replace an existing database")
    commands.add_parser("purge", help="erase people inactive for longer than retention_days")
    commands.add_parser("stats", help="counts: people, active this week, vaults, notes")
    commands.add_parser("migrate", help="bring the database schema up to date")
    rotate = commands.add_parser(
        "rotate-key", help="re-wrap every key under a new master key (stop the bot first)"
    )
    rotate.add_argument("new_key_file", type=Path, help="file holding the new key (from keygen)")
    locales = commands.add_parser(
        "check-locales",
        help="the texts part of `check`, for translators: texts, guides, overrides, resources",
    )
    locales.add_argument("--locales", type=Path, default=None, help="locales folder to check")
    verify = commands.add_parser(
        "verify-export", help="check that a vault export (ZIP) was not changed; names what was"
    )
    verify.add_argument("file", type=Path, help="the export ZIP")
    verify.add_argument(
        "--password-file", type=Path, default=None, help="file holding the export password"
    )
    verify.add_argument("--head", default=None, help="a chain head recorded elsewhere to expect")
    evaluate = commands.add_parser(
        "evaluate-check", help="measure the red-flag rules on labelled messages (0: targets met)"
    )
    evaluate.add_argument("--data", type=Path, default=None, help="labelled messages (JSON lines)")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point of the `safetybot` command; returns the exit status."""
    args = _parser().parse_args(argv)
    environ = dict(os.environ if env is None else env)
    if args.config is not None:
        environ["SAFETYBOT_CONFIG"] = str(args.config)
    if args.command == "keygen":
        print(secrets.token_urlsafe(32) if args.webhook_secret else new_master_key())
        return 0
    if args.command == "verify-export":  # needs no settings: advocates run it on their own
        return _verify_export(args.file, args.password_file, args.head)
    if args.command == "check":
        return _check(environ, args.transport, args.webhook)
    try:
        config = _config(environ)
        if args.command in ("run", "check") and args.webhook:
            config = replace(config, telegram_mode="webhook")
        if args.command == "health":
            alive, why = health.check(config)
            print(why)
            return 0 if alive else 1
        if args.command == "rotate-key":
            with RunLock(config.data_dir):
                return asyncio.run(_rotate_key(config, args.new_key_file))
        if args.command in _OPERATOR:
            return _operate(args, config)
        if args.command == "check-locales":
            root = args.locales or config.locales_dir
            return _check_locales(replace(config, locales_dir=root))
        if args.command == "evaluate-check":
            from safetybot.evaluation import DEFAULT_DATA, run

            return run(args.data or DEFAULT_DATA, config.locales_dir, sys.stdout, sys.stderr)
        if args.command == "console":
            # The terminal is the conversation: only warnings and errors go to stderr.
            level = config.log_level if "SAFETYBOT_LOG_LEVEL" in environ else "WARNING"
            logs.setup(level, sys.stderr, config.log_format)
            asyncio.run(_run_console(config, environ))
            return 0
        return _run(config, args.transport)
    except ConfigError as error:
        for problem in error.problems:
            print(f"safetybot: {problem}", file=sys.stderr)
        return 2
    except SafetybotError as error:
        # Our errors name a setting, file or entry and never hold personal data.
        print(f"safetybot: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _config(environ: Mapping[str, str]) -> Config:
    """The settings: the config file SAFETYBOT_CONFIG names (if any), under the environment."""
    name = environ.get("SAFETYBOT_CONFIG")
    file = None
    if name:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"SAFETYBOT_CONFIG: cannot read {path} ({reason})") from None
        file = parse_config_file(path, text)
    return Config.from_mapping(environ, file=file)


def _run(config: Config, transport: str) -> int:
    """Check everything, then run until SIGINT or SIGTERM; nothing starts half-configured."""
    metrics = Metrics() if config.metrics_listen is not None else None
    handlers = [MetricsHandler(metrics)] if metrics is not None else []
    logs.setup(config.log_level, sys.stderr, config.log_format, handlers)
    findings = diagnose(config, transport)
    errors = [f for f in findings if not f.warning]
    for finding in errors:
        print(f"safetybot: {finding}", file=sys.stderr)
    if errors:
        return 2
    if findings:  # missing translations: those texts are shown in the default language
        logging.getLogger("safetybot.cli").warning("texts_incomplete count=%d", len(findings))
    with RunLock(config.data_dir):
        runner = _run_signal if transport == "signal" else _run_telegram
        asyncio.run(runner(config, metrics))
    return 0


def _check(environ: Mapping[str, str], transport: str, webhook: bool) -> int:
    """`safetybot check`: print every problem, with file and line or setting; 1 if any."""
    try:
        config = _config(environ)
        if webhook:
            config = replace(config, telegram_mode="webhook")
        findings = [str(f) for f in diagnose(config, transport, deep=True)]
    except ConfigError as error:
        findings = list(error.problems)
    for finding in findings:
        print(finding)
    if findings:
        print(f"{len(findings)} problem(s)", file=sys.stderr)
        return 1
    print("Config, secrets, data folder, texts, guides, overrides and resources are in order.")
    return 0


_OPERATOR = ("backup", "restore", "purge", "stats", "migrate")


def _operate(args: argparse.Namespace, config: Config) -> int:
    if args.command == "backup":
        return admin.backup(config, args.file, sys.stdout)
    if args.command == "restore":
        return admin.restore(config, args.file, args.force, sys.stdout)
    if args.command == "purge":
        return asyncio.run(admin.purge(config, sys.stdout))
    if args.command == "stats":
        return asyncio.run(admin.stats(config, sys.stdout))
    return asyncio.run(admin.migrate(config, sys.stdout))


def _check_locales(config: Config) -> int:
    problems = [str(p) for p in check_words(config)]
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("All texts, guides and resources are complete.")
    return 0


def _verify_export(path: Path, password_file: Path | None, head: str | None) -> int:
    """Check an export: 0 intact, 1 altered, 2 not an export or the password is wrong."""
    import getpass  # only this command asks for anything, and only at a terminal
    import re

    from safetybot.export import MAX_READ, verify_export

    if head is not None and not re.fullmatch(r"[0-9a-f]{64}", head.strip().lower()):
        print("safetybot: --head must be a chain head: 64 hex digits", file=sys.stderr)
        return 2
    expected = head.strip().lower() if head is not None else None
    try:
        if path.stat().st_size > MAX_READ:
            print(f"safetybot: {path} is larger than any export this checks", file=sys.stderr)
            return 2
        data = path.read_bytes()
        password = None
        if password_file is not None:
            password = password_file.read_text(encoding="utf-8").rstrip("\r\n")
    except OSError as error:
        print(f"safetybot: {error.strerror}: {error.filename}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print("safetybot: the password file is not UTF-8 text", file=sys.stderr)
        return 2
    report = verify_export(data, password, known_head=expected)
    if report.encrypted and not report.readable and password is None and sys.stdin.isatty():
        try:
            password = getpass.getpass("Export password: ")
        except EOFError:
            return 2
        report = verify_export(data, password, known_head=expected)
    if not report.readable:
        print(f"safetybot: {path}: {'; '.join(report.problems)}", file=sys.stderr)
        return 2
    for problem in report.problems:
        print(problem)
    if report.problems:
        print(f"ALTERED: {len(report.problems)} problem(s) found in {path.name}.")
        return 1
    print(
        f"Intact: every file matches MANIFEST.txt and the chain of {report.records} record(s) "
        f"links from first to last ({report.notes} note(s), {report.attachments} attachment(s))."
    )
    print(f"Chain head: {report.head}")
    if expected is None:
        print("To rule out a rewritten export, compare the chain head with one kept elsewhere.")
    return 0
