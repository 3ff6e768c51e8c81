"""End to end: the real service and store behind SignalBot, talking to a fake signal-cli daemon."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from safetybot.core.service import Service
from safetybot.errors import FrontEndError
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.store import Store
from safetybot.transports.signal import SignalBot
from safetybot.vault.crypto import Keyring
from safetybot.vault.export import verify_export
from tests.conftest import assert_absent
from tests.fakesignal import ACCOUNT, FakeSignalDaemon, Person

NOTE = "He said he will post it at 9pm unless I pay"
# Looks like a command and has a label's word in it: while a passphrase is awaited it is neither.
PASS = "/start blue kettle"


@dataclass
class Harness:
    fake: FakeSignalDaemon
    bot: SignalBot
    store: Store
    data_dir: Path
    attachments: Path
    texts: Texts
    person: Person = field(default_factory=Person)
    said: int = 0  # messages the person sent that reached the service
    mark: int = 0  # how many bot messages there were before the person's latest message

    def label(self, key: str) -> str:
        """A button label as the service renders it (plain text, English)."""
        return "\n\n".join(render(self.texts.text("en", key), Format.PLAIN))

    def last(self, person: Person | None = None) -> str:
        return self.fake.last((person or self.person).uuid).text

    def reply(self, person: Person | None = None) -> str:
        """Everything the bot sent since the person's latest message (long texts are split)."""
        uuid = (person or self.person).uuid
        return "\n\n".join(
            m.text for m in self.fake.bot_messages[self.mark :] if m.recipient == uuid
        )

    async def settle(self, before: int, timeout: float = 10) -> None:  # noqa: ASYNC109
        """Wait until the bot made a request after `before` and has nothing left in hand."""
        await self.fake.wait_for(
            lambda: len(self.fake.requests) > before and self.bot.busy == 0, timeout
        )

    async def say(self, text: str, person: Person | None = None, form: str = "plain") -> None:
        """The person sends text; wait until the bot has answered it."""
        before = len(self.fake.requests)
        self.mark = len(self.fake.bot_messages)
        await self.fake.user_sends(person or self.person, text, form)
        self.said += 1
        await self.settle(before)

    def choices(self, person: Person | None = None) -> list[str]:
        """The labels of the numbered choices at the end of the latest bot message."""
        lines = self.last(person).splitlines()
        return [rest for n, _, rest in (line.partition(". ") for line in lines) if n.isdigit()]

    async def turn_on_vault(self) -> None:
        """Turn private notes on with PASS, typed twice."""
        await self.say("/notes")
        await self.choose(self.label("button.vault_on"))
        await self.say(PASS)
        await self.say(PASS)

    async def choose(self, label: str, person: Person | None = None) -> None:
        """Answer the latest numbered choices by the number of the one labelled `label`."""
        text = self.last(person)
        for line in reversed(text.splitlines()):
            number, _, rest = line.partition(". ")
            if number.isdigit() and rest == label:
                await self.say(number, person)
                return
        raise AssertionError(f"no choice {label!r} in {text!r}")


@asynccontextmanager
async def running(
    tmp_path: Path,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    *,
    transport: str = "unix",
    account: str | None = None,
    start_daemon: bool = True,
) -> AsyncIterator[Harness]:
    # A short folder: a Unix socket path must fit in about 100 bytes.
    with tempfile.TemporaryDirectory(prefix="sb-") as short:
        fake = (
            FakeSignalDaemon(Path(short), multi_account=account is not None)
            if transport == "unix"
            else FakeSignalDaemon(tcp=True, multi_account=account is not None)
        )
        if start_daemon:
            await fake.start()
        data_dir = tmp_path / "data"
        attachments = tmp_path / "attachments"
        attachments.mkdir()
        store = await Store.open(data_dir / "safetybot.db")
        bot = SignalBot(
            Service(store, keyring, texts, directory),
            fake.endpoint,
            account=account,
            attachments_dir=attachments,
            timeout=3,
            backoff=(0.02, 0.2),
            retry_delay=0.01,
            clock=fake.clock,
        )
        await bot.start()
        try:
            yield Harness(fake, bot, store, data_dir, attachments, texts)
        finally:
            await bot.stop(grace=2)
            await fake.stop()
            await store.close()


@pytest.fixture
async def harness(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> AsyncIterator[Harness]:
    async with running(tmp_path, keyring, texts, directory) as opened:
        yield opened


@pytest.mark.parametrize("transport", ["unix", "tcp"])
async def test_start_guide_triage_note_forget_leaves_nothing(
    transport: str,
    tmp_path: Path,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    log_file: Path,
) -> None:
    async with running(tmp_path, keyring, texts, directory, transport=transport) as h:
        fake, me = h.fake, h.person
        await h.say("/start")
        assert "not your fault" in h.last()
        assert f"1. {h.label('button.crisis')}" in h.last()  # menus are numbered choices
        assert "/disappearing" in h.last()  # the welcome offers Signal's own timer

        await h.choose(h.label("button.guides"))
        assert h.last().startswith("Pick a topic")
        await h.choose("Spotting sextortion")
        guide = h.reply()  # a long guide arrives in parts, numbered (1/2), (2/2)
        assert "Spotting sextortion" in guide and "Sources (reviewed" in guide

        # Triage, by number and by typing the label in any case; both notification forms.
        await h.say("/triage", form="subscription")
        await h.choose("United States")
        await h.choose(h.label("triage.d.no"))
        await h.say(h.label("triage.s.threat").upper())
        await h.choose(h.label("triage.n.minor"))
        await h.choose(h.label("triage.w.stranger"))
        await h.choose(h.label("triage.p.no"))
        plan = h.reply()
        assert "Take It Down" in plan and "CyberTipline" in plan and "1-800-843-5678" in plan

        await h.turn_on_vault()
        await h.choose(h.label("button.new_note"))
        await h.say(NOTE, form="subscription")
        await h.choose(h.label("button.save_now"))
        assert "Saved as note 1" in h.reply() and NOTE in h.reply()
        # Signal never lets a bot delete the person's messages: no delete was even tried.
        assert fake.calls("remoteDelete") == []

        await h.say("/forget")
        assert "cannot be undone" in h.last()
        sent = {m.timestamp for m in fake.messages(me.uuid)}
        await h.choose(h.label("button.forget_yes"))

        # Every bot message (all within 24 hours) was remote-deleted, in this conversation only.
        deletes = fake.calls("remoteDelete")
        assert {r.params["targetTimestamp"] for r in deletes} == sent
        assert {r.params["recipient"] for r in deletes} == {me.uuid}
        assert fake.stray_deletes == []
        remaining = fake.messages(me.uuid)
        assert len(remaining) == 1 and "erased" in remaining[0].text
        report = remaining[0].text
        # The person's own messages stay; the report counts them and says what to do.
        assert f"{h.said} messages are still in this chat" in report
        assert "/disappearing" in report and "Disappearing messages" in report

        await h.choose(h.label("button.dismiss"))
        assert fake.messages(me.uuid) == []

    secrets = (NOTE, PASS, me.uuid, me.uuid.replace("-", ""), str(me.number), str(me.name), ACCOUNT)
    assert_absent(h.data_dir, *secrets)
    log_text = log_file.read_text(encoding="utf-8")
    assert "event_handled" in log_text and "person_forgotten" in log_text
    assert "signal_connected" in log_text and "signal_daemon version=0.13.22" in log_text
    for secret in secrets:
        assert secret not in log_text


async def test_after_a_day_only_recent_bot_messages_are_deleted(harness: Harness) -> None:
    fake, me = harness.fake, harness.person
    await harness.say("/start")
    old = [m.timestamp for m in fake.messages(me.uuid)]
    fake.clock.advance(hours=25)
    await harness.say("/help")
    recent = [m.timestamp for m in fake.messages(me.uuid) if m.timestamp not in old]
    await harness.say("/forget")
    recent += [fake.last(me.uuid).timestamp]
    await harness.choose(harness.label("button.forget_yes"))
    targets = [r.params["targetTimestamp"] for r in fake.calls("remoteDelete")]
    assert sorted(targets) == sorted(recent)  # never a delete the phone would ignore
    assert [m.timestamp for m in fake.messages(me.uuid)][:-1] == old
    report = harness.last()
    assert f"{len(old) + harness.said} messages" in report and "about a day" in report


async def test_replies_out_of_order_still_reach_the_right_person(harness: Harness) -> None:
    fake = harness.fake
    alex, sam = harness.person, Person(number="+15559998888", name="Sam Example")
    fake.hold_replies(2)  # both sends are answered together, the second first
    before = len(fake.requests)
    await fake.user_sends(alex, "/start")
    await fake.user_sends(sam, "/start")
    await harness.settle(before + 1)
    assert [len(fake.messages(p.uuid)) for p in (alex, sam)] == [1, 1]
    for person in (alex, sam):
        await harness.say("/forget", person)
        await harness.choose(harness.label("button.forget_yes"), person)
    # Had the timestamps been swapped, a delete would target the other person's message.
    assert fake.stray_deletes == []
    assert [len(fake.messages(p.uuid)) for p in (alex, sam)] == [1, 1]  # the reports


async def test_a_daemon_restart_mid_session_loses_nothing(harness: Harness, log_file: Path) -> None:
    fake = harness.fake
    await harness.say("/start")
    await fake.stop()
    # Sent while the daemon is down: Signal's server keeps it until signal-cli connects.
    before = len(fake.requests)
    await fake.user_sends(harness.person, "/guides")
    await asyncio.sleep(0.1)
    await fake.start()
    # The reconnect makes requests of its own (version): wait for the reply itself.
    await fake.wait_for(lambda: harness.last().startswith("Pick a topic"), timeout=30)
    await harness.settle(before)
    await harness.choose("Spotting sextortion")  # the choices survived the restart
    assert "Spotting sextortion" in harness.reply()  # the guide, in its parts
    assert fake.connections == 2
    assert "signal_disconnected" in log_file.read_text(encoding="utf-8")


async def test_a_connection_cut_during_a_send_gets_an_apology_after_reconnecting(
    harness: Harness,
) -> None:
    harness.fake.drop_on("send")
    await harness.say("/start")
    await harness.fake.wait_for(lambda: "went wrong" in harness.last())
    await harness.say("/help")
    assert "/triage" in harness.last()
    assert harness.fake.connections == 2


async def test_the_daemon_down_at_start_is_waited_for(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory, log_file: Path
) -> None:
    async with running(tmp_path, keyring, texts, directory, start_daemon=False) as h:
        await asyncio.sleep(0.15)
        assert "signal_connect_failed" in log_file.read_text(encoding="utf-8")
        await h.fake.start()
        await h.say("/start")
        assert "not your fault" in h.last()


async def test_malformed_and_very_long_lines_are_dropped(harness: Harness, log_file: Path) -> None:
    fake = harness.fake
    await harness.say("/start")
    await fake.send_raw(b"this is not json\n")
    await fake.send_raw(b"[1, 2, 3]\n")
    await fake.send_raw(b"\xff\xfe{}\n")
    await fake.send_raw(b'{"jsonrpc":"2.0","result":{},"id":"r999"}\n')  # nobody asked
    await fake.send_raw(b'{"jsonrpc":"2.0","method":"receive","params":{"envelope":7}}\n')
    await fake.send_raw(b"[" * 100_000 + b"\n")  # nested too deep for the parser
    # A valid notification longer than the 1 MiB line limit: dropped, not handled.
    long = fake.envelope(harness.person, {"message": "/help" + " " * (2 << 20)})
    await fake.send_raw(json.dumps({"jsonrpc": "2.0", "method": "receive",
                                    "params": {"envelope": long}}).encode() + b"\n")  # fmt: skip
    await harness.say("/help")
    assert sum("/triage" in m.text for m in fake.messages(harness.person.uuid)) == 1
    log_text = log_file.read_text(encoding="utf-8")
    reasons = ("too_long", "JSONDecodeError", "not_an_object", "UnicodeDecodeError", "Recursion")
    for reason in reasons:
        assert f"signal_line_dropped reason={reason}" in log_text
    assert "signal_reply_unmatched" in log_text and "signal_ignored kind=no_envelope" in log_text


async def test_rate_limits_and_io_errors_are_retried(harness: Harness, log_file: Path) -> None:
    fake = harness.fake
    fake.fail_next("send", -5, times=2)
    await harness.say("/start")
    assert "not your fault" in harness.last()
    assert len(fake.calls("send")) == 3
    fake.fail_next("send", -3)
    await harness.say("/menu")
    assert len(fake.calls("send")) == 5
    fake.fail_next("send", -5, retry_after=0.05)
    await harness.say("/help")
    assert "/triage" in harness.last()
    log_text = log_file.read_text(encoding="utf-8")
    assert "signal_retry method=send code=-5" in log_text
    assert "signal_retry method=send code=-3" in log_text


@pytest.mark.parametrize("code", [-1, -4, -32603])
async def test_a_refused_send_is_not_repeated_and_gets_an_apology(
    harness: Harness, code: int, log_file: Path
) -> None:
    harness.fake.fail_next("send", code)
    await harness.say("/start")
    await harness.fake.wait_for(lambda: "went wrong" in harness.last())
    assert len(harness.fake.calls("send")) == 2  # the refused one, then the apology
    assert f"signal_call_failed method=send code={code}" in log_file.read_text(encoding="utf-8")
    await harness.say("/help")
    assert "/triage" in harness.last()


async def test_groups_and_other_envelopes_are_ignored(harness: Harness, log_file: Path) -> None:
    fake, me = harness.fake, harness.person
    group = {"groupId": "Z3JvdXA=", "type": "DELIVER"}
    envelopes = [
        fake.envelope(me, {"message": "hello group", "groupInfo": group}),
        fake.envelope(me, {"message": "hello group", "groupV2": {"id": "Z3JvdXA="}}),
        fake.envelope(me, typingMessage={"action": "STARTED", "timestamp": 1}),
        fake.envelope(me, receiptMessage={"when": 1, "isDelivery": True, "timestamps": [1]}),
        fake.envelope(me, syncMessage={"sentMessage": {"message": "/start"}}),
        fake.envelope(me, callMessage={"offerMessage": {}}),
        fake.envelope(me, {"reaction": {"emoji": "👍", "targetSentTimestamp": 1}}),
        fake.envelope(me, {"remoteDelete": {"timestamp": 1}}),
        fake.envelope(me, {"isExpirationUpdate": True, "expiresInSeconds": 3600}),
        fake.envelope(me, {"message": None}),
        fake.envelope(Person(uuid="not-a-uuid"), {"message": "/start"}),
        {**fake.envelope(me, {"message": "/start"}), "sourceUuid": None},
    ]
    for envelope in envelopes:
        await fake.push(envelope)
    await harness.say("/start", Person())
    assert len(fake.calls("send")) == 1  # only the last person got an answer
    assert await harness.store.count_people() == 1
    log_text = log_file.read_text(encoding="utf-8")
    for kind in ("group", "typing", "receipt", "sync", "unknown", "reaction", "no_sender"):
        assert f"signal_ignored kind={kind}" in log_text


async def test_disappearing_sets_the_conversation_timer(harness: Harness) -> None:
    fake, me = harness.fake, harness.person
    await harness.say("/disappearing")
    assert fake.expirations == {me.uuid: 86_400}
    await harness.say("/disappearing off")
    assert fake.expirations == {me.uuid: 0}
    assert fake.calls("send") == []  # Signal shows its own notice, in the person's language
    fake.fail_next("updateContact", -1)
    await harness.say("/disappearing")
    assert "Disappearing messages" in harness.last()
    assert await harness.store.count_people() == 0  # handled without storing anything


async def test_a_burst_keeps_its_order(harness: Harness) -> None:
    before = len(harness.fake.requests)
    await harness.fake.user_sends(harness.person, "/language es")
    await harness.fake.user_sends(harness.person, "/help")
    await harness.fake.wait_for(lambda: len(harness.fake.requests) > before + 1)
    await harness.settle(before + 1)
    assert "/triage" in harness.last() and "puedo" in harness.last()


async def test_a_long_note_is_split_under_signals_limit(harness: Harness) -> None:
    await harness.turn_on_vault()
    await harness.choose(harness.label("button.new_note"))
    await harness.say("word " * 800)
    await harness.choose(harness.label("button.save_now"))
    texts = [m.text for m in harness.fake.messages(harness.person.uuid)]
    assert all(len(text) <= 2000 for text in texts)
    assert "Saved as note 1" in harness.reply() and "word word" in harness.reply()
    # A continuation's first line (its notification preview) gives nothing of the note away.
    firsts = [text.split("\n", 1)[0] for text in texts]
    assert any(re.fullmatch(r"\(\d+/\d+\)", first) for first in firsts)
    assert not any(first.startswith("word") for first in firsts)


async def test_a_screenshot_goes_from_signal_cli_to_a_verified_export(harness: Harness) -> None:
    fake = harness.fake
    await harness.turn_on_vault()
    await harness.choose(harness.label("button.new_note"))
    await harness.say(NOTE)
    while harness.label("button.skip") in harness.choices():
        await harness.choose(harness.label("button.skip"))
    screenshot = b"\x89PNG\r\n\x1a\n" + b"threat-screenshot" * 20
    (harness.attachments / "Yq7c3.png").write_bytes(screenshot)
    item = {"id": "Yq7c3.png", "contentType": "image/png", "size": len(screenshot)}
    before = len(fake.requests)
    harness.mark = len(fake.bot_messages)
    await fake.push(fake.envelope(harness.person, {"attachments": [item]}))
    await harness.settle(before)
    assert hashlib.sha256(screenshot).hexdigest() in harness.reply()
    assert not (harness.attachments / "Yq7c3.png").exists()  # signal-cli's copy is gone
    await harness.choose(harness.label("button.save_now"))
    await harness.choose(harness.label("button.vault_home"))
    await harness.choose(harness.label("button.export"))
    await harness.choose(harness.label("button.export_plain"))
    documents = [m for m in fake.bot_messages if m.attachments]
    assert len(documents) == 1
    header, _, payload = documents[0].attachments[0].partition(",")
    assert header.startswith("data:") and header.endswith(";base64")
    report = verify_export(base64.b64decode(payload))
    assert report.ok and report.attachments == 1, report.problems
    assert_absent(harness.data_dir, screenshot[8:], NOTE, PASS)
    await harness.say("/forget")
    await harness.choose(harness.label("button.forget_yes"))
    assert documents[0].deleted


async def test_a_choice_number_still_cancels_while_a_passphrase_is_awaited(
    harness: Harness,
) -> None:
    await harness.say("/notes")
    await harness.choose(harness.label("button.vault_on"))
    assert harness.label("button.cancel") in harness.choices()
    await harness.choose(harness.label("button.cancel"))
    assert "too short" not in harness.reply()
    await harness.say(PASS)  # not awaited any more: a command again
    assert "not your fault" in harness.last()


async def test_attachments_are_handed_over_and_signal_clis_copy_removed(
    harness: Harness,
) -> None:
    fake = harness.fake
    (harness.attachments / "Xk2a9.jpg").write_bytes(b"\xff\xd8 screenshot")
    item: dict[str, Any] = {"id": "Xk2a9.jpg", "contentType": "image/jpeg", "size": 12}
    before = len(fake.requests)
    await fake.push(fake.envelope(harness.person, {"attachments": [item]}))
    await harness.settle(before)
    assert "intimate images" in harness.last() or "vault" in harness.last().lower()
    assert not (harness.attachments / "Xk2a9.jpg").exists()
    (harness.attachments / "once.jpg").write_bytes(b"\xff\xd8 view once")
    item = {"id": "once.jpg", "contentType": "image/jpeg", "size": 12}
    before = len(fake.requests)
    await fake.push(fake.envelope(harness.person, {"attachments": [item], "viewOnce": True}))
    await harness.settle(before)
    assert not (harness.attachments / "once.jpg").exists()


async def test_an_image_whose_words_say_self_harm_gets_the_crisis_path_on_signal(
    harness: Harness,
) -> None:
    # signal-cli gives an image's words as the message's body: read as typed words are.
    fake = harness.fake
    (harness.attachments / "Zr4p1.png").write_bytes(b"\x89PNG screenshot")
    item: dict[str, Any] = {"id": "Zr4p1.png", "contentType": "image/png", "size": 16}
    body = "he sent this to my whole school, i want to die"
    before = len(fake.requests)
    await fake.push(fake.envelope(harness.person, {"attachments": [item], "message": body}))
    await harness.settle(before)
    assert "really glad you wrote" in harness.last()
    assert not (harness.attachments / "Zr4p1.png").exists()  # never kept


async def test_a_message_edited_into_a_crisis_gets_the_crisis_path_on_signal(
    harness: Harness,
) -> None:
    fake = harness.fake
    sent = await fake.user_sends(harness.person, "hi")
    await harness.settle(0)
    answered = len(fake.messages(harness.person.uuid))
    edit = {"targetSentTimestamp": sent["timestamp"], "dataMessage": {"message": "hi there"}}
    before = len(fake.requests)
    await fake.push(fake.envelope(harness.person, editMessage=edit))
    crisis = {**edit, "dataMessage": {"message": "honestly i want to die"}}
    await fake.push(fake.envelope(harness.person, editMessage=crisis))
    await harness.settle(before)
    await fake.wait_for(lambda: len(fake.messages(harness.person.uuid)) > answered)
    # One person's updates are handled in order: an answer to the ordinary edit would come
    # first. The first new message is the crisis path's.
    first_new = fake.messages(harness.person.uuid)[answered]
    assert "really glad you wrote" in first_new.text


async def test_downloads_stay_inside_the_attachments_folder(harness: Harness) -> None:
    front = harness.bot.front
    (harness.attachments / "a1").write_bytes(b"x" * 10)
    (harness.attachments.parent / "secret").write_bytes(b"key")
    assert await front.download("a1", 10) == b"x" * 10
    for ref, limit in (("a1", 9), ("../secret", 99), ("missing", 99), ("..", 99), ("", 99)):
        with pytest.raises(FrontEndError, match=r"too large|not available"):
            await front.download(ref, limit)


async def test_a_multi_account_daemon_gets_the_account_in_every_request(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory, log_file: Path
) -> None:
    async with running(tmp_path, keyring, texts, directory, account=ACCOUNT) as h:
        await h.say("/start")
        await h.say("/forget")
        await h.choose(h.label("button.forget_yes"))
        assert {r.params.get("account") for r in h.fake.requests} == {ACCOUNT}
        assert len(h.fake.messages(h.person.uuid)) == 1
    assert ACCOUNT not in log_file.read_text(encoding="utf-8")


async def test_delete_sorts_ids_by_who_sent_them_and_their_age(harness: Harness) -> None:
    fake, me = harness.fake, harness.person
    mine = await fake.user_sends(me, "/start")
    await harness.settle(0)
    old_bot = -fake.last(me.uuid).timestamp
    fake.clock.advance(hours=25)
    await harness.say("/help")
    new_bot = -fake.last(me.uuid).timestamp
    deletion = await harness.bot.front.delete(me.uuid, [mine["timestamp"], old_bot, new_bot])
    assert deletion.deleted == (new_bot,)
    assert deletion.too_old == (old_bot,)
    assert deletion.not_allowed == (mine["timestamp"],)  # the person's own message
    assert [r.params["targetTimestamp"] for r in fake.calls("remoteDelete")] == [-new_bot]


async def test_attachments_of_ignored_envelopes_leave_signal_clis_folder_too(
    tmp_path: Path, keyring: Keyring, texts: Texts, directory: Directory
) -> None:
    async with running(tmp_path, keyring, texts, directory, account=ACCOUNT) as h:
        fake, me = h.fake, h.person
        group = {"groupId": "Z3JvdXA=", "type": "DELIVER"}
        kinds = {
            "group.jpg": lambda item: fake.envelope(
                me, {"attachments": [item], "groupInfo": group}
            ),
            "group2.jpg": lambda item: fake.envelope(
                me, {"attachments": [item], "groupV2": {"id": "Z3JvdXA="}}
            ),
            "linked.jpg": lambda item: fake.envelope(
                me, syncMessage={"sentMessage": {"attachments": [item]}}
            ),
        }
        for name, make in kinds.items():
            (h.attachments / name).write_bytes(b"\xff\xd8 a picture")
            await fake.push(make({"id": name, "contentType": "image/jpeg", "size": 12}))
        (h.attachments / "other.jpg").write_bytes(b"\xff\xd8 a picture")
        other = fake.envelope(me, {"attachments": [{"id": "other.jpg", "size": 12}]})
        await fake.push(other, account="+15550000000")
        await h.say("/start")  # handled after the envelopes above
        await fake.wait_for(lambda: not any(h.attachments.iterdir()), timeout=10)
        assert list(h.attachments.iterdir()) == []
        assert await h.store.count_people() == 1  # none of them was read as a message


async def test_a_person_writing_in_spanish_is_answered_in_spanish(harness: Harness) -> None:
    # Signal gives no language: the first words that tell it decide, and it is kept.
    await harness.say("ok")
    assert "I'm a bot" in harness.reply()  # no language's words yet: the default
    await harness.say("me quiero morir")
    assert "Me alegra mucho que hayas escrito" in harness.reply()
    await harness.say("I want to die")
    assert "Me alegra mucho que hayas escrito" in harness.reply()  # kept, not re-guessed


async def test_help_typed_on_signal_is_a_cry_for_help_not_a_menu_choice(harness: Harness) -> None:
    # On Signal a typed label presses its choice: "help" once pressed the commands' list.
    await harness.say("/start")
    await harness.say("HELP")
    reply = harness.reply()
    assert "next ten minutes" in reply and "/triage" not in reply
