"""The wiring behind `run` and `console`: open the store, keyring and service; run a front end.

Telegram (polling or webhook) and Signal run until SIGINT or SIGTERM, with the heartbeat and
metrics beside them; the console runs in this terminal with a key from the settings or a local
key file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Protocol

from safetybot.core.service import Service
from safetybot.errors import ConfigError, CryptoError
from safetybot.guidance.redflags import Rules
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.ops import health, logs
from safetybot.ops.backup import RunLock
from safetybot.ops.config import Config
from safetybot.ops.metrics import Metrics, MetricsHandler
from safetybot.ops.preflight import diagnose, organization_values
from safetybot.store import Store
from safetybot.vault.crypto import Keyring, new_master_key, parse_master_key
from safetybot.vault.notices import PLATFORMS_FILE, Platforms

__all__ = ["console", "open_keyring", "run"]


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


def _platforms(config: Config) -> Platforms:
    """The shipped platforms file and an organization's own, from its overrides folder."""
    own = config.overrides_dir / PLATFORMS_FILE if config.overrides_dir else None
    return Platforms.load(
        config.locales_dir / PLATFORMS_FILE,
        own if own is not None and own.is_file() else None,
        default_locale=config.default_locale,
    )


async def _open(
    config: Config, master: bytes, words: tuple[Texts, Directory], store: Store | None = None
) -> Service:
    # The organization's own locales folder may carry its own red-flag rules.
    rules = Rules.load(config.locales_dir)
    store = store or await Store.open(config.database)
    try:
        keyring = await open_keyring(store, master)
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
        platforms=_platforms(config),
    )


async def open_keyring(store: Store, master: bytes) -> Keyring:
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
        # Starting may wait for the network for a long time: a stop signal still ends it.
        starting = asyncio.create_task(bot.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return
        stopping.cancel()
        starting.result()  # a refused token and the like end here, as one line
        if metrics is not None and config.metrics_listen is not None:
            from safetybot.ops.metrics import serve

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


async def console(config: Config, env: Mapping[str, str]) -> None:
    """The bot in this terminal: no token, no network; closes the service when input ends."""
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


def run(config: Config, transport: str) -> int:
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
        # Logged under the name it had before this moved out of cli.py, so log filters still match.
        logging.getLogger("safetybot.cli").warning("texts_incomplete count=%d", len(findings))
    with RunLock(config.data_dir):
        runner = _run_signal if transport == "signal" else _run_telegram
        asyncio.run(runner(config, metrics))
    return 0
