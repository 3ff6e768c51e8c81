"""Property tests for what signal-cli's daemon sends: the byte stream, the envelopes in it, and
the attachment names it hands over.

signal-cli is outside the machine's trust: whatever it sends, the reader keeps reading, an
envelope becomes a message or a named kind to ignore, and no attachment name reaches a file
outside the attachments folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from safetybot.core.events import Attachment, Unsupported
from safetybot.errors import FrontEndError
from safetybot.transports.jsonrpc import Endpoint, JsonRpcClient
from safetybot.transports.signal import Received, SignalFrontEnd, read_envelope
from tests.fuzzing import FUZZ

# -- the byte stream -------------------------------------------------------------------------

MAX_LINE = 200


def _notification(number: int) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "method": "receive", "params": {"n": number}}).encode()


# Lines that are not notifications: broken JSON, other JSON values, replies nobody waits for,
# bad UTF-8, UTF-16, deep nesting, and lines over the limit (valid JSON too).
NOT_NOTIFICATIONS = st.sampled_from(
    [
        b"",
        b"   ",
        b"{",
        b"[1,2,3]",
        b"null",
        b'"receive"',
        b'{"jsonrpc":"2.0","id":"7","result":{}}',
        b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700}}',
        b'{"jsonrpc":"2.0","method":5}',
        b"\xff\xfe{\x00}\x00",
        b"\xc3\x28",
        b"[" * 5000 + b"]" * 5000,
        json.dumps({"method": "receive", "params": {"pad": "x" * MAX_LINE}}).encode(),
        b"x" * (MAX_LINE * 3),
    ]
) | st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").replace(b"{", b"("))


@FUZZ
@given(
    lines=st.lists(st.integers(0, 10**6) | NOT_NOTIFICATIONS, max_size=20),
    cuts=st.lists(st.integers(1, 97), min_size=1, max_size=30),
    newline=st.sampled_from([b"\n", b"\r\n"]),
)
@example(lines=[b"x" * 1000, 1], cuts=[3], newline=b"\n")
@example(lines=[1, b"[" * 5000 + b"]" * 5000, 2], cuts=[1000], newline=b"\n")
def test_the_reader_passes_on_exactly_the_notifications_whatever_surrounds_them(
    lines: list[int | bytes], cuts: list[int], newline: bytes
) -> None:
    stream = b"".join((_notification(x) if isinstance(x, int) else x) + newline for x in lines)
    expected = [x for x in lines if isinstance(x, int)]
    assert asyncio.run(_read(stream, cuts)) == expected


async def _read(stream: bytes, cuts: list[int]) -> list[int]:
    """Feed the stream to a real client's reader in chunks cut at the given sizes."""
    seen: list[int] = []

    def notify(method: str, params: Mapping[str, Any]) -> None:
        assert method == "receive"
        seen.append(params["n"])

    client = JsonRpcClient(Endpoint(port=1), notify, max_line=MAX_LINE)
    reader = asyncio.StreamReader()
    task = asyncio.create_task(client._read(reader))
    position, turn = 0, 0
    while position < len(stream):
        size = cuts[turn % len(cuts)]
        reader.feed_data(stream[position : position + size])
        position, turn = position + size, turn + 1
        await asyncio.sleep(0)  # the reader takes each piece before the next arrives
    reader.feed_eof()
    await task
    return seen


def test_a_notification_the_bot_cannot_handle_does_not_stop_the_reader() -> None:
    seen: list[int] = []

    def notify(method: str, params: Mapping[str, Any]) -> None:
        if params["n"] == 1:
            raise KeyError("a bug in a handler")
        seen.append(params["n"])

    async def run() -> None:
        client = JsonRpcClient(Endpoint(port=1), notify, max_line=MAX_LINE)
        reader = asyncio.StreamReader()
        reader.feed_data(b"\n".join(_notification(n) for n in (0, 1, 2)) + b"\n")
        reader.feed_eof()
        await client._read(reader)

    asyncio.run(run())
    assert seen == [0, 2]


# -- envelopes -------------------------------------------------------------------------------

PERSON = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
attachments = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "contentType": st.sampled_from(["image/png", "video/mp4", "audio/aac", "", "x"])
            | anything,
            "size": st.integers(-5, 10**12) | anything,
            "id": st.sampled_from(["a1.png", "", "../x", "b2"]) | anything,
            "filename": st.text(max_size=12) | anything,
        },
    )
    | anything,
    max_size=3,
)
data_messages = st.fixed_dictionaries(
    {},
    optional={
        "message": st.text(max_size=40) | anything,
        "attachments": attachments | anything,
        "viewOnce": st.booleans() | anything,
        "groupInfo": anything,
        "groupV2": anything,
        "sticker": anything,
        "contacts": anything,
        "reaction": anything,
        "remoteDelete": anything,
        "isExpirationUpdate": st.booleans() | anything,
    },
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "sourceUuid": st.sampled_from([PERSON, PERSON.upper(), "{" + PERSON + "}", "nope", ""])
        | anything,
        "sourceNumber": st.sampled_from(["+15551234567"]) | anything,
        "timestamp": st.integers(-1, 2**60) | anything,
        "dataMessage": data_messages | anything,
        "receiptMessage": anything,
        "typingMessage": anything,
        "syncMessage": anything,
        "editMessage": anything,
        "storyMessage": anything,
    },
)
# Most envelopes above are set aside early; these reach the attachments and text.
from_a_person = st.fixed_dictionaries(
    {
        "sourceUuid": st.sampled_from([PERSON, PERSON.upper()]),
        "dataMessage": st.fixed_dictionaries(
            {},
            optional={
                "message": st.text(max_size=40) | anything,
                "attachments": attachments | anything,
                "viewOnce": st.booleans() | anything,
                "sticker": st.none() | anything,
                "contacts": st.none() | anything,
            },
        ),
    },
    optional={"timestamp": st.integers(-1, 2**60) | anything},
)
IGNORED = {
    "receipt",
    "typing",
    "sync",
    "edit",
    "story",
    "unknown",
    "group",
    "no_sender",
    "reaction",
    "remote_delete",
    "expiration_update",
    "empty",
}


@FUZZ
@given(envelope=envelopes | from_a_person)
@example(envelope={"sourceUuid": PERSON, "dataMessage": {"message": "hi", "attachments": 5}})
@example(envelope={"sourceUuid": PERSON, "dataMessage": {"message": "hi", "attachments": [[]]}})
@example(
    envelope={
        "sourceUuid": PERSON,
        "dataMessage": {"viewOnce": True, "attachments": [{"id": "a1.png"}]},
    }
)
def test_any_envelope_is_a_message_or_a_kind_to_ignore(envelope: dict[str, Any]) -> None:
    received = read_envelope(envelope)
    if isinstance(received, str):
        assert received in IGNORED
        return
    assert isinstance(received, Received)
    assert received.uuid == str(uuid.UUID(received.uuid))  # canonical: one person, one key
    assert received.timestamp is None or 0 < received.timestamp < 2**53
    assert (received.text is not None) != bool(received.events)
    if received.text is not None:
        assert received.text.strip()
    data = envelope["dataMessage"]
    given = data.get("attachments")
    listed = [a.get("id") for a in given if isinstance(a, dict)] if isinstance(given, list) else []
    assert set(received.files) <= {i for i in listed if isinstance(i, str) and i}
    for event in received.events:
        assert isinstance(event, Attachment | Unsupported)
        if isinstance(event, Attachment):
            # A view-once attachment is never the bot's to keep.
            assert event.ref is None or (not data.get("viewOnce") and event.ref in listed)
            assert event.size is None or isinstance(event.size, int)


# -- attachment names ------------------------------------------------------------------------

SECRET = b"a file outside signal-cli's attachments folder"
names = st.sampled_from(
    [
        "inside.png",
        "link",
        "../outside.txt",
        "..",
        ".",
        "",
        "sub",
        "inside.png/..",
        "./inside.png",
        "..\\outside.txt",
        "inside.png\x00",
        "%2e%2e%2foutside.txt",
        "~",
    ]
) | st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=20)


@pytest.fixture(scope="module")
def folder() -> Any:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        (root / "outside.txt").write_bytes(SECRET)
        inside = root / "attachments"
        (inside / "sub").mkdir(parents=True)
        (inside / "inside.png").write_bytes(b"picture")
        os.symlink(root / "outside.txt", inside / "link")  # a link out is still outside
        yield root


@FUZZ
@given(ref=names)
@example(ref="../outside.txt")
@example(ref="link")
def test_no_attachment_name_reads_or_removes_a_file_outside_the_folder(
    folder: Path, ref: str
) -> None:
    front = SignalFrontEnd(
        JsonRpcClient(Endpoint(port=1), lambda _m, _p: None), attachments_dir=folder / "attachments"
    )

    async def fetch() -> bytes | None:
        try:
            return await front.download(ref, 1000)
        except FrontEndError:
            return None

    data = asyncio.run(fetch())
    assert data in (None, b"picture")
    if data is not None:
        assert ref in ("inside.png", "./inside.png")
    if ref not in ("inside.png", "./inside.png"):
        asyncio.run(front.discard(ref))
    assert (folder / "outside.txt").read_bytes() == SECRET
    assert (folder / "attachments" / "inside.png").exists()
    assert (folder / "attachments" / "link").is_symlink()
