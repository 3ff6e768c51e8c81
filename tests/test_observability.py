"""Logs and metrics without personal data: a whole Telegram session, every line scanned."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession

from safetybot.core.menus import Action
from safetybot.ops import logs
from safetybot.ops.metrics import Metrics, MetricsHandler, serve
from tests.conftest import reset_logging
from tests.test_telegram_e2e import CHAT, NOTE, PASS, TOKEN, Harness, harness

__all__ = ["harness"]

FIRST_NAME = "Zephyrine"
USERNAME = "zeph_handle_4417"
NEEDLES = (NOTE, PASS, str(CHAT), FIRST_NAME, USERNAME, TOKEN, TOKEN.split(":")[1])


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def json_log(tmp_path: Path, metrics: Metrics) -> Iterator[Path]:
    """JSON lines at DEBUG into a file, metrics fed from the same events."""
    path = tmp_path / "bot.jsonl"
    with path.open("w", encoding="utf-8") as stream:
        logs.setup("DEBUG", stream, "json", [MetricsHandler(metrics)])
        yield path
        reset_logging()


async def _session(harness: Harness) -> None:
    """Start, triage by buttons, a vault note, an export, then erase everything."""
    fake = harness.fake
    await harness.say("/start", first_name=FIRST_NAME, username=USERNAME, language_code="en")
    menu = harness.last_bot()
    taps = ["t", "t:c:US", "t:d:no", "t:s:threat", "t:n:adult", "t:a:adult", "t:w:stranger"]
    taps.append("t:p:no")
    for data in taps:
        await harness.press(data, menu)
    assert "StopNCII" in (fake.message(CHAT, menu.message_id).text or "")
    await harness.turn_on_vault()
    await harness.press("v:new")
    await harness.say(NOTE)
    await harness.press("v:save")
    await harness.press("v:home")
    await harness.press("v:x")
    await harness.press("v:xn")
    await fake.wait_for(lambda: any(m.document for m in fake.bot_messages(CHAT)), timeout=30)
    await harness.say("/forget")
    await harness.press(Action.FORGET_YES.value)


async def test_a_whole_session_logs_events_and_timings_and_nothing_personal(
    json_log: Path, harness: Harness
) -> None:
    await _session(harness)
    logging.getLogger("safetybot.test").error("boom", exc_info=ValueError(f"note was {NOTE}"))
    lines = json_log.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 20
    events = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert {"ts", "level", "logger", "event"} <= set(record)
        events.append(record["event"])
        for needle in NEEDLES:
            assert needle not in line, f"{needle!r} in {line}"
    for expected in ("event_handled", "vault_exported", "person_forgotten", "telegram_started"):
        assert expected in events
    handled = [json.loads(x) for x in lines if '"event": "event_handled"' in x]
    assert all(isinstance(r["ms"], float) and r["kind"].isidentifier() for r in handled)
    failure = json.loads(lines[-1])
    assert failure["error"] == "ValueError" and "Traceback" in failure["stack"]


async def test_metrics_count_the_session_with_no_label_that_names_anyone(
    json_log: Path, metrics: Metrics, harness: Harness
) -> None:
    await _session(harness)
    runner = await serve(metrics, "127.0.0.1", 0)
    try:
        port = runner.addresses[0][1]
        async with (
            ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/metrics") as answer,
        ):
            assert answer.status == 200
            text = await answer.text()
    finally:
        await runner.cleanup()
    assert re.search(r'safetybot_updates_total\{kind="pressed"\} [1-9]', text)
    assert re.search(r'safetybot_update_seconds_bucket\{kind="text",le="\+Inf"\} [1-9]', text)
    assert 'safetybot_people_erased_total{reason="forget"} 1.0' in text
    assert "safetybot_vault_exports_total 1.0" in text
    assert re.search(r'safetybot_chat_messages_deleted_total\{outcome="deleted"\} [1-9]', text)
    for needle in NEEDLES:
        assert needle not in text
    # Label values: names from the code, or a histogram's bucket bounds.
    values = set(re.findall(r'="([^"]*)"', text))
    names = r"[A-Za-z][A-Za-z0-9_]{0,47}|\+Inf|\d+\.\d+"
    assert values and all(re.fullmatch(names, v) for v in values), values


def test_a_label_can_never_carry_an_id_or_text(metrics: Metrics) -> None:
    metrics.observe("event_failed", logging.ERROR, {"kind": "7391028465", "error": "a b"})
    metrics.observe("event_handled", logging.INFO, {"kind": "<script>", "ms": "x"})
    text = metrics.exposition().decode()
    assert "7391028465" not in text and "<script>" not in text
    assert 'safetybot_update_failures_total{error="other",kind="other"} 1.0' in text


def test_text_logs_leave_out_exception_messages(tmp_path: Path) -> None:
    path = tmp_path / "bot.log"
    with path.open("w", encoding="utf-8") as stream:
        logs.setup("INFO", stream)
        try:
            logging.getLogger("safetybot.test").error("boom", exc_info=KeyError(NOTE))
        finally:
            reset_logging()
    text = path.read_text(encoding="utf-8")
    assert "KeyError" in text and NOTE not in text


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_other_libraries_never_print_what_they_were_handed(tmp_path: Path, fmt: str) -> None:
    # What python-telegram-bot and aiohttp log on a bad Bot API body or request: the body, with
    # a person's words, names and ids, as an argument or already in the message.
    body = (
        '{"ok":true,"result":{"text":"' + NOTE + '","from":{"first_name":"Ana","id":7391028465}}}'
    )
    path = tmp_path / "bot.log"
    with path.open("w", encoding="utf-8") as stream:
        logs.setup("DEBUG", stream, fmt)
        try:
            logging.getLogger("telegram.ext.Updater").error("Invalid server response: %s", body)
            logging.getLogger("telegram.request").warning(f"Could not parse {body}")
            logging.getLogger("aiohttp.server").error(
                "Error handling request", exc_info=ValueError(body)
            )
            logging.getLogger("safetybot.service").info("event_handled kind=text ms=1.0")
        finally:
            reset_logging()
    text = path.read_text(encoding="utf-8")
    for secret in (NOTE, "Ana", "7391028465"):
        assert secret not in text
    # What is left still says which library, how bad, and what kind of thing happened.
    assert "Invalid server response" in text and "withheld" in text
    assert "Error handling request" in text and "ValueError" in text
    assert "event_handled" in text
