"""Webhook mode over loopback: the secret header, health endpoints, and a graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import ClientSession

from safetybot.cli import main
from safetybot.core.service import Service
from safetybot.errors import FrontEndError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.ops.config import Webhook
from safetybot.store import Store
from safetybot.transports.telegram import TelegramBot
from safetybot.vault.crypto import Keyring, new_master_key
from tests.conftest import FAST_VAULT
from tests.fakebotapi import FakeBotAPI

TOKEN = "123456789:TESTtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"
SECRET = "hook-secret-0123456789abcdefghij"
CHAT = 7391028465
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Hook:
    fake: FakeBotAPI
    store: Store
    bot: TelegramBot
    base: str
    healthy: list[bool]

    @property
    def endpoint(self) -> str:
        return f"{self.base}/tg-hook"


@pytest.fixture
async def hook(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> AsyncIterator[Hook]:
    async with FakeBotAPI() as fake:
        store = await Store.open(tmp_path / "data" / "safetybot.db")
        service = Service(store, keyring, texts, directory, FAST_VAULT)
        healthy = [True]

        async def ready() -> bool:
            return healthy[0] and await store.ping()

        webhook = Webhook("https://bot.example.org/tg-hook", "127.0.0.1", 0, "/tg-hook", 40)
        bot = TelegramBot(
            service, TOKEN, fake.url, request_timeout=3.0, webhook=webhook,
            webhook_secret=SECRET, ready=ready,
        )  # fmt: skip
        await bot.start()
        assert bot.server is not None
        try:
            yield Hook(fake, store, bot, f"http://127.0.0.1:{bot.server.port}", healthy)
        finally:
            await bot.stop()
            await store.close()


async def test_start_registers_the_webhook_with_its_secret_and_never_polls(hook: Hook) -> None:
    assert hook.fake.webhook == {
        "url": "https://bot.example.org/tg-hook",
        "secret_token": SECRET,
        "max_connections": 40,
        "allowed_updates": ["message", "edited_message", "callback_query"],
    }
    assert "getUpdates" not in [c.method for c in hook.fake.calls]


async def test_an_update_with_the_right_secret_is_answered(hook: Hook) -> None:
    hook.fake.user_sends(CHAT, "/start")
    assert await hook.fake.deliver_webhook(hook.endpoint) == [200]
    await hook.fake.wait_for(lambda: bool(hook.fake.bot_messages(CHAT)), timeout=10)
    assert "not your fault" in (hook.fake.bot_messages(CHAT)[-1].text or "")


async def test_a_message_edited_into_a_crisis_is_answered_in_webhook_mode(hook: Hook) -> None:
    fake = hook.fake
    sent = fake.user_sends(CHAT, "hi")
    assert await fake.deliver_webhook(hook.endpoint) == [200]
    await fake.wait_for(lambda: bool(fake.bot_messages(CHAT)), timeout=10)
    answered = len(fake.bot_messages(CHAT))
    fake.user_edits(CHAT, sent.message_id, "i want to die")
    assert await fake.deliver_webhook(hook.endpoint) == [200]
    await fake.wait_for(lambda: len(fake.bot_messages(CHAT)) > answered, timeout=10)
    assert "really glad you wrote" in (fake.bot_messages(CHAT)[answered].text or "")


@pytest.mark.parametrize("secret", ["wrong-secret-0123456789", "", SECRET[:-1]])
async def test_a_wrong_or_missing_secret_gets_403_and_nothing_is_processed(
    hook: Hook, secret: str
) -> None:
    hook.fake.user_sends(CHAT, "/start")
    assert await hook.fake.deliver_webhook(hook.endpoint, secret=secret) == [403]
    await asyncio.sleep(0.2)
    assert hook.fake.bot_messages(CHAT) == []
    assert await hook.store.count_people() == 0
    assert hook.fake.updates_pending() == 1  # Telegram would try again


async def test_a_secret_header_that_is_not_utf8_gets_403(hook: Hook) -> None:
    port = int(hook.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = b'{"update_id": 1}'
    writer.write(
        b"POST /tg-hook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-Telegram-Bot-Api-Secret-Token: \xff\xfe\x80secret\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status_line.split()[1] == b"403"
    assert await hook.store.count_people() == 0


async def test_bodies_that_are_not_updates_are_refused(hook: Hook) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with ClientSession() as session:
        bodies = (
            b"not json",
            b"[1, 2]",
            b'{"message": {}}',
            b'{"update_id": "x"}',
            b"\xff\xfe",  # not UTF-8
            b"[" * 100_000 + b"]" * 100_000,  # deeper than Python's JSON reader goes
        )
        for body in bodies:
            async with session.post(hook.endpoint, data=body, headers=headers) as answer:
                assert answer.status == 400, body
        async with session.post(hook.endpoint, data=b"x" * (2 * 1024 * 1024), headers=headers) as a:
            assert a.status == 413
        async with session.get(hook.endpoint, headers=headers) as answer:
            assert answer.status == 405
    assert hook.fake.bot_messages(CHAT) == []


async def test_health_and_readiness(hook: Hook) -> None:
    async with ClientSession() as session:
        async with session.get(f"{hook.base}/healthz") as answer:
            assert answer.status == 200
        async with session.get(f"{hook.base}/readyz") as answer:
            assert answer.status == 200 and (await answer.json())["status"] == "ready"
        hook.healthy[0] = False  # e.g. the database stopped answering
        async with session.get(f"{hook.base}/readyz") as answer:
            assert answer.status == 503
        async with session.get(f"{hook.base}/healthz") as answer:
            assert answer.status == 200  # alive, though not ready


async def test_stopping_finishes_an_update_in_flight(hook: Hook) -> None:
    fake = hook.fake
    fake.delay_next("sendMessage", 1.0)
    fake.user_sends(CHAT, "/help")
    assert await fake.deliver_webhook(hook.endpoint) == [200]
    await fake.wait_for_calls("sendMessage")  # the answer is on its way, slowly
    assert fake.bot_messages(CHAT) == []
    await hook.bot.stop()
    assert len(fake.bot_messages(CHAT)) == 1  # stop waited for it
    assert fake.webhook is not None  # kept: Telegram holds updates until the bot is back
    fake.user_sends(CHAT, "/start")
    with pytest.raises(OSError):
        await fake.deliver_webhook(hook.endpoint)


async def test_polling_after_webhook_mode_removes_the_webhook(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> None:
    async with FakeBotAPI() as fake:
        fake.webhook = {"url": "https://old.example.org/x", "secret_token": SECRET}
        store = await Store.open(tmp_path / "safetybot.db")
        bot = TelegramBot(
            Service(store, keyring, texts, directory, FAST_VAULT), TOKEN, fake.url,
            poll_timeout=1, request_timeout=2.0,
        )  # fmt: skip
        await bot.start()
        try:
            fake.user_sends(CHAT, "/start")
            await fake.wait_for(lambda: bool(fake.bot_messages(CHAT)), timeout=10)
            assert fake.webhook is None
        finally:
            await bot.stop()
            await store.close()


async def test_an_address_telegram_refuses_stops_the_start_with_its_reason(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> None:
    async with FakeBotAPI() as fake:
        store = await Store.open(tmp_path / "safetybot.db")
        webhook = Webhook("https://bot.example.org:8080/x", "127.0.0.1", 0, "/x", 40)
        bot = TelegramBot(
            Service(store, keyring, texts, directory, FAST_VAULT), TOKEN, fake.url,
            request_timeout=2.0, webhook=webhook, webhook_secret=SECRET,
        )  # fmt: skip
        try:
            with pytest.raises(FrontEndError, match="only on ports 80, 88, 443 or 8443"):
                await bot.start()
        finally:
            await bot.stop()
            await store.close()
        assert fake.webhook is None


def _run_env(tmp_path: Path, fake: FakeBotAPI) -> dict[str, str]:
    """The environment `safetybot run` needs against the fake Bot API, and nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYBOT_")}
    return env | {
        "SAFETYBOT_DATA_DIR": str(tmp_path / "data"),
        "SAFETYBOT_MASTER_KEY": new_master_key(),
        "SAFETYBOT_TELEGRAM_TOKEN": TOKEN,
        "SAFETYBOT_TELEGRAM_API_URL": fake.url,
    }


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_run_in_webhook_mode_answers_and_stops_on_sigterm_after_the_update_in_flight(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as fake:
        port = _free_port()
        env = _run_env(tmp_path, fake)
        env |= {
            "SAFETYBOT_WEBHOOK_URL": "https://bot.example.org/hook",
            "SAFETYBOT_WEBHOOK_PORT": str(port),
            "SAFETYBOT_WEBHOOK_SECRET": SECRET,
            "SAFETYBOT_LOG_FORMAT": "json",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetybot", "run", "--webhook",
            cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await fake.wait_for(lambda: fake.webhook is not None, timeout=30)
            env["SAFETYBOT_TELEGRAM_MODE"] = "webhook"
            assert await asyncio.to_thread(main, ["health"], env) == 0
            fake.delay_next("sendMessage", 1.5)
            fake.user_sends(CHAT, "/help")
            assert await fake.deliver_webhook(f"http://127.0.0.1:{port}/hook") == [200]
            await fake.wait_for_calls("sendMessage", timeout=10)
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()
        assert len(fake.bot_messages(CHAT)) == 1  # answered before the process ended
        events = [json.loads(line)["event"] for line in stderr.decode().splitlines()]
        assert "event_handled" in events and events[-1] == "telegram_stopped"
        assert not (tmp_path / "data" / "heartbeat").exists()
        assert await asyncio.to_thread(main, ["health"], env) == 1


async def test_a_rejected_token_stops_the_bot_with_one_line_that_never_shows_it(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as fake:
        fake.fail_next("getMe", status=401, times=5, description="Unauthorized")
        env = _run_env(tmp_path, fake)
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetybot", "run",
            cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert "refused the bot token (SAFETYBOT_TELEGRAM_TOKEN)" in err.decode()
    assert "Traceback" not in err.decode()
    secret_part = TOKEN.split(":")[1]
    assert secret_part.encode() not in out + err


async def _run_then_stop(
    env: dict[str, str], until: Callable[[], Awaitable[object]]
) -> tuple[int, str]:
    """`safetybot run` until `until()` returns, then SIGTERM: its exit status and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "safetybot", "run",
        cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await until()
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, stderr.decode()


async def test_no_network_at_start_up_is_waited_out_with_one_json_line_a_try(
    tmp_path: Path,
) -> None:
    async with FakeBotAPI() as fake:
        fake.fail_next("getMe", status=502, times=2)  # Telegram out of reach, twice
        env = _run_env(tmp_path, fake) | {"SAFETYBOT_LOG_FORMAT": "json"}
        # Started after all: it polls.
        status, stderr = await _run_then_stop(
            env, lambda: fake.wait_for_calls("getUpdates", timeout=30)
        )
    assert status == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines()]  # every line JSON
    tries = [line for line in lines if line["event"] == "telegram_unreachable"]
    assert [line["attempt"] for line in tries] == [1, 2]
    assert "telegram_started" in [line["event"] for line in lines]
    assert "Traceback" not in stderr


async def test_a_stop_while_waiting_for_the_network_ends_the_bot_cleanly(tmp_path: Path) -> None:
    async with FakeBotAPI() as fake:
        fake.fail_next("getMe", status=502, times=100)
        env = _run_env(tmp_path, fake) | {"SAFETYBOT_LOG_FORMAT": "json"}
        status, stderr = await _run_then_stop(
            env, lambda: fake.wait_for_calls("getMe", count=2, timeout=30)
        )
    assert status == 0, stderr
    events = [json.loads(line)["event"] for line in stderr.splitlines()]
    assert "telegram_unreachable" in events and "telegram_started" not in events
