"""The Signal pieces on their own: the JSON-RPC connection, envelopes, settings, `run`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from safetybot.cli import main
from safetybot.core.events import Attachment, Edited, Pressed, Text, Unsupported, UnsupportedKind
from safetybot.errors import ConfigError
from safetybot.ops.config import Config
from safetybot.transports.choices import parse_line
from safetybot.transports.jsonrpc import Endpoint, JsonRpcClient, RpcError, RpcUnavailable
from safetybot.transports.signal import Received, read_envelope
from safetybot.vault.crypto import new_master_key
from tests.fakesignal import FakeSignalDaemon, Person

ROOT = Path(__file__).resolve().parent.parent
UUID = "0f5c6a1e-3d7b-4c2a-9e8f-1a2b3c4d5e6f"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sb-") as folder:
        yield Path(folder)


def _client(endpoint: Endpoint, timeout: float = 2.0) -> JsonRpcClient:
    return JsonRpcClient(endpoint, lambda _m, _p: None, timeout=timeout, backoff=(0.01, 0.1))


async def test_replies_are_matched_by_id_whatever_their_order(short_dir: Path) -> None:
    async with FakeSignalDaemon(short_dir) as fake:
        client = _client(fake.endpoint)
        client.start()
        fake.hold_replies(3)
        results = await asyncio.gather(
            *(client.call("send", {"recipient": [UUID], "message": f"m{i}"}) for i in range(3))
        )
        sent = {m.text: m.timestamp for m in fake.bot_messages}
        assert [r["timestamp"] for r in results] == [sent["m0"], sent["m1"], sent["m2"]]
        assert len({r.id for r in fake.requests}) == 3
        assert all(isinstance(r.id, str) for r in fake.requests)
        await client.close()


async def test_a_request_without_reply_times_out_and_the_next_works(short_dir: Path) -> None:
    async with FakeSignalDaemon(short_dir) as fake:
        client = _client(fake.endpoint)
        client.start()
        fake.silence("send")
        with pytest.raises(RpcUnavailable) as caught:
            await client.call("send", {"recipient": [UUID], "message": "x"}, timeout=0.2)
        assert caught.value.written
        assert (await client.call("version"))["version"]
        await client.close()


async def test_a_dropped_connection_fails_the_pending_request_at_once(short_dir: Path) -> None:
    async with FakeSignalDaemon(short_dir) as fake:
        client = _client(fake.endpoint, timeout=5)
        client.start()
        fake.drop_on("send")
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RpcUnavailable) as caught:
            await client.call("send", {"recipient": [UUID], "message": "x"})
        assert caught.value.written and loop.time() - started < 1
        assert (await client.call("version"))["version"]  # reconnected
        assert fake.connections == 2
        await client.close()


async def test_with_no_daemon_a_request_says_it_was_never_sent(short_dir: Path) -> None:
    client = _client(Endpoint(socket=short_dir / "nobody.sock"))
    client.start()
    with pytest.raises(RpcUnavailable) as caught:
        await client.call("version", timeout=0.2)
    assert not caught.value.written
    await client.close()


async def test_error_replies_carry_the_code_and_rate_limit_wait(short_dir: Path) -> None:
    async with FakeSignalDaemon(short_dir) as fake:
        client = _client(fake.endpoint)
        client.start()
        fake.fail_next("send", -5, retry_after=7)
        with pytest.raises(RpcError) as caught:
            await client.call("send", {"recipient": [UUID], "message": "x"})
        assert (caught.value.code, caught.value.retry_after) == (-5, 7.0)
        fake.fail_next("send", -5, retry_after=10**400)
        with pytest.raises(RpcError) as huge:
            await client.call("send", {"recipient": [UUID], "message": "x"})
        assert huge.value.retry_after == 1e9
        with pytest.raises(RpcError) as unknown:
            await client.call("frobnicate")
        assert unknown.value.code == -32601
        await client.close()


async def test_the_loopback_daemon_works_too() -> None:
    async with FakeSignalDaemon(tcp=True) as fake:
        client = _client(fake.endpoint)
        client.start()
        assert (await client.call("version"))["version"]
        await client.close()


def _data(**fields: object) -> dict[str, object]:
    return {"sourceUuid": UUID.upper(), "timestamp": 1_760_000_000_123, "dataMessage": fields}


def test_envelopes_become_messages_by_uuid_only() -> None:
    received = read_envelope({**_data(message="hi"), "sourceNumber": "+15551234567"})
    assert received == Received(UUID, 1_760_000_000_123, text="hi")
    assert read_envelope({**_data(message="hi"), "timestamp": True}) == Received(UUID, None, "hi")
    assert read_envelope({**_data(message="hi"), "timestamp": -5}) == Received(UUID, None, "hi")


def test_attachments_stickers_and_voice_notes_become_events() -> None:
    items = [
        {"id": "a.png", "contentType": "image/png", "size": 9, "filename": "s.png"},
        {"id": "b.pdf", "contentType": "application/pdf", "size": None},
        {"id": "c.m4a", "contentType": "audio/aac"},
    ]
    received = read_envelope(_data(message="look", attachments=items))
    assert isinstance(received, Received)
    photo, document, voice = received.events
    assert photo == Attachment("photo", 9, "a.png", "look", name="s.png", mime="image/png")
    assert isinstance(document, Attachment) and document.kind == "document"
    assert document.caption == "" and document.mime == "application/pdf"
    assert voice == Unsupported(UnsupportedKind.VOICE)
    once = read_envelope(_data(attachments=items[:1], viewOnce=True))
    assert isinstance(once, Received) and isinstance(once.events[0], Attachment)
    assert once.events[0].ref is None  # view-once media is not the bot's to fetch
    assert once.files == ("a.png",)  # but signal-cli's copy is still removed
    sticker = read_envelope(_data(sticker={"packId": "x", "stickerId": 1}))
    assert isinstance(sticker, Received)
    assert sticker.events == (Unsupported(UnsupportedKind.STICKER),)


def test_an_edit_is_read_under_the_timestamp_of_the_message_it_edits() -> None:
    edit = {"targetSentTimestamp": 1_760_000_000_123, "dataMessage": {"message": "i want to die"}}
    received = read_envelope({"sourceUuid": UUID.upper(), "timestamp": 99, "editMessage": edit})
    assert received == Received(UUID, 1_760_000_000_123, events=(Edited("i want to die"),))
    wordless = {"targetSentTimestamp": 5, "dataMessage": {"message": " "}}
    assert read_envelope({"sourceUuid": UUID, "editMessage": wordless}) == "edit"
    in_group = {"dataMessage": {"message": "x", "groupInfo": {"groupId": "g"}}}
    assert read_envelope({"sourceUuid": UUID, "editMessage": in_group}) == "group"
    nobody = {"dataMessage": {"message": "x"}}
    assert read_envelope({"sourceUuid": None, "editMessage": nobody}) == "no_sender"


def test_unknown_and_group_envelopes_are_named_for_the_log() -> None:
    assert read_envelope({"sourceUuid": UUID}) == "unknown"
    assert read_envelope({"sourceUuid": UUID, "editMessage": {}}) == "edit"
    assert read_envelope(_data(message="x", groupInfo={"groupId": "g"})) == "group"
    assert read_envelope({**_data(message="x"), "sourceUuid": None}) == "no_sender"
    assert read_envelope(_data(message="   ")) == "empty"


def test_choices_by_number_ignore_digits_int_cannot_read() -> None:
    choices = [("Guides", "gl"), ("Menu", "m")]
    assert parse_line("2", choices) == Pressed("m")
    assert parse_line("menu", choices) == Pressed("m")
    assert parse_line("²", choices) == Text("²")
    assert parse_line("9" * 5000, choices) == Text("9" * 5000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("127.0.0.1:7583", ("127.0.0.1", 7583)), ("[::1]:7583", ("::1", 7583))],
)
def test_tcp_on_loopback_is_accepted(value: str, expected: tuple[str, int]) -> None:
    assert Config.from_mapping({"SAFETYBOT_SIGNAL_TCP": value}).signal_tcp == expected


@pytest.mark.parametrize(
    "value", ["0.0.0.0:7583", "192.168.1.5:7583", "localhost:7583", "127.0.0.1", "127.0.0.1:0"]
)
def test_tcp_anywhere_but_loopback_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="SAFETYBOT_SIGNAL_TCP"):
        Config.from_mapping({"SAFETYBOT_SIGNAL_TCP": value})


def test_signal_settings_are_checked_and_the_number_hidden() -> None:
    with pytest.raises(ConfigError, match="not both"):
        Config.from_mapping({"SAFETYBOT_SIGNAL_TCP": "127.0.0.1:1", "SAFETYBOT_SIGNAL_SOCKET": "s"})
    with pytest.raises(ConfigError, match="SAFETYBOT_SIGNAL_ACCOUNT"):
        Config.from_mapping({"SAFETYBOT_SIGNAL_ACCOUNT": "555-1234"})
    config = Config.from_mapping(
        {"SAFETYBOT_SIGNAL_ACCOUNT": "+15551234567", "XDG_DATA_HOME": "/srv/d"}
    )
    assert "+15551234567" not in repr(config)
    assert config.signal_attachments_dir == Path("/srv/d/signal-cli/attachments")


@pytest.mark.parametrize(
    ("extra", "named"),
    [({}, "SAFETYBOT_SIGNAL_SOCKET"), ({"SAFETYBOT_SIGNAL_TCP": "8.8.8.8:1"}, "SIGNAL_TCP")],
)
def test_run_on_signal_stops_with_one_line_naming_the_setting(
    extra: dict[str, str], named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"SAFETYBOT_DATA_DIR": str(tmp_path), "SAFETYBOT_MASTER_KEY": new_master_key(), **extra}
    assert main(["run", "--transport", "signal"], env=env) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0]


async def test_run_on_signal_answers_and_stops_gracefully_on_sigterm(
    short_dir: Path, tmp_path: Path
) -> None:
    async with FakeSignalDaemon(short_dir) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAFETYBOT_")}
        env |= {
            "SAFETYBOT_DATA_DIR": str(tmp_path / "data"),
            "SAFETYBOT_MASTER_KEY": new_master_key(),
            "SAFETYBOT_SIGNAL_SOCKET": str(fake.socket_path),
            "SAFETYBOT_SIGNAL_ATTACHMENTS_DIR": str(tmp_path / "attachments"),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "safetybot", "run", "--transport", "signal",
            cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        person = Person()
        await fake.wait_for(lambda: fake.connections == 1, timeout=20)
        await fake.user_sends(person, "/start")
        await fake.wait_for(lambda: bool(fake.messages(person.uuid)), timeout=10)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
        assert process.returncode == 0, stderr.decode()
        log_text = stderr.decode()
        assert "signal_stopped" in log_text
        assert person.uuid not in log_text and str(person.number) not in log_text
