"""The `safetybot` command: run, console, keygen, check-locales. The only reader of os.environ."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from safetybot import logs
from safetybot.config import Config
from safetybot.core.service import Service
from safetybot.crypto import Keyring, new_master_key, parse_master_key
from safetybot.errors import ConfigError, CryptoError, SafetybotError
from safetybot.i18n import Texts, check_locales
from safetybot.markup import Format, render
from safetybot.resources import Directory, check_directory
from safetybot.store import Store

__all__ = ["main"]


def _load_words(config: Config) -> tuple[Texts, Directory]:
    """Texts, guides and resources: checked before anything is created on disk."""
    texts = Texts.load(config.locales_dir, config.default_locale)
    directory = Directory.load(
        config.resources,
        config.resources_file,
        locales=texts.locales,
        default_locale=config.default_locale,
    )
    return texts, directory


async def _open(config: Config, master: bytes, words: tuple[Texts, Directory]) -> Service:
    store = await Store.open(config.database)
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


async def _run_telegram(config: Config) -> None:
    from safetybot.transports.telegram import TelegramBot  # only `run` needs Telegram

    master = config.require_master_key()
    token = config.require_token()
    words = _load_words(config)
    service = await _open(config, master, words)
    bot = TelegramBot(service, token, config.telegram_api_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await bot.start()
        await stop.wait()
    finally:
        await bot.stop()
        await service.close()


async def _run_signal(config: Config) -> None:
    from safetybot.transports.jsonrpc import Endpoint
    from safetybot.transports.signal import SignalBot

    master = config.require_master_key()
    daemon = config.require_signal_daemon()
    words = _load_words(config)
    service = await _open(config, master, words)
    endpoint = Endpoint(socket=daemon) if isinstance(daemon, Path) else Endpoint(None, *daemon)
    bot = SignalBot(
        service,
        endpoint,
        account=config.signal_account,
        attachments_dir=config.signal_attachments_dir,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await bot.start()
        await stop.wait()
    finally:
        await bot.stop()
        await service.close()


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
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot on Telegram (long polling) or Signal")
    run.add_argument("--transport", choices=["telegram", "signal"], default="telegram")
    commands.add_parser("console", help="talk to the bot in this terminal (no token, no network)")
    commands.add_parser("keygen", help="print a new master key (base64 of 32 bytes)")
    rotate = commands.add_parser(
        "rotate-key", help="re-wrap every key under a new master key (stop the bot first)"
    )
    rotate.add_argument("new_key_file", type=Path, help="file holding the new key (from keygen)")
    check = commands.add_parser(
        "check-locales",
        help="check every locale has every text and guide (same placeholders) and the resources",
    )
    check.add_argument("--locales", type=Path, default=None, help="locales folder to check")
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
    if args.command == "keygen":
        print(new_master_key())
        return 0
    if args.command == "verify-export":  # needs no settings: advocates run it on their own
        return _verify_export(args.file, args.password_file, args.head)
    try:
        config = Config.from_mapping(environ)
        if args.command == "rotate-key":
            return asyncio.run(_rotate_key(config, args.new_key_file))
        if args.command == "check-locales":
            root = args.locales or config.locales_dir
            return _check_locales(root, config.default_locale, config.resources_file)
        if args.command == "evaluate-check":
            from safetybot.evaluation import DEFAULT_DATA, run

            return run(args.data or DEFAULT_DATA, config.locales_dir, sys.stdout, sys.stderr)
        if args.command == "console":
            # The terminal is the conversation: only warnings and errors go to stderr.
            level = config.log_level if "SAFETYBOT_LOG_LEVEL" in environ else "WARNING"
            logs.setup(level, sys.stderr)
            asyncio.run(_run_console(config, environ))
            return 0
        logs.setup(config.log_level, sys.stderr)
        asyncio.run(_run_signal(config) if args.transport == "signal" else _run_telegram(config))
        return 0
    except ConfigError as error:
        print(f"safetybot: {error}", file=sys.stderr)
        return 2
    except SafetybotError as error:
        # Our errors name a setting, file or entry and never hold personal data.
        print(f"safetybot: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _check_locales(root: Path, default: str, own_resources: Path | None) -> int:
    problems = [str(p) for p in check_locales(root, default)]
    locales = sorted(p.name for p in root.iterdir() if (p / "messages.po").is_file())
    problems += check_directory(
        root / "resources.toml", own_resources, locales, default_locale=default
    )
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
