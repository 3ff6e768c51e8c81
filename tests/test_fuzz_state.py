"""Stateful fuzzing: any sequence of what a person can do, then "forget me", leaves no trace.

Hypothesis drives one person through commands, presses (offered and forged), free text, the
vault (turning it on, notes step by step and in one message), the panic word and auto-clear,
against the real service and a real SQLite file. At the end the person erases everything, and
no file under the data folder may hold their note text, passphrase, panic word or raw id.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from safetybot.core.events import Pressed
from safetybot.core.flow import COMMAND_NAMES
from safetybot.core.menus import AUTO_CLEAR_CHOICES
from safetybot.core.service import Service
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.ops.config import default_locales_dir
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.conftest import FAST_VAULT, Chat, RecordingFrontEnd, data_files
from tests.fuzzing import STATEFUL
from tests.test_fuzz import button_data

USER = "4815162342"  # the raw id: never on disk
PASS = "violet harbour tuesday 91"
TEXTS = Texts.load(default_locales_dir())
DIRECTORY = Directory.load(default_locales_dir() / "resources.toml", locales=TEXTS.locales)
WORDS = ["help", "ayuda", "I am 15", "what now", "menu", "1", "/start", "ok"]


class ForgetMe(RuleBasedStateMachine):
    """One person, one database; every rule is something they can do."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp())
        self.data = self.folder / "data"
        self.store = self.loop.run_until_complete(Store.open(self.data / "safetybot.db"))
        keyring = Keyring(os.urandom(32))
        self.pseudonym = keyring.pseudonym("test", USER)
        self.service = Service(self.store, keyring, TEXTS, DIRECTORY, FAST_VAULT)
        self.chat = Chat(self.service, RecordingFrontEnd(), USER)
        self.secrets: set[str] = {USER, PASS}
        self.count = 0
        self.vault_on = False

    def _run(self, step: object) -> None:
        self.loop.run_until_complete(step)  # type: ignore[arg-type]

    def _secret(self, kind: str) -> str:
        self.count += 1
        token = f"{kind}{self.count}zqx"
        self.secrets.add(token)
        return token

    @rule(name=st.sampled_from(COMMAND_NAMES), args=st.sampled_from(["", "es", "en", "zz"]))
    def command(self, name: str, args: str) -> None:
        self._run(self.chat.command(name, args))

    @rule(data=st.data())
    def press_an_offered_button(self, data: st.DataObject) -> None:
        offered = self.chat.button_data()
        if offered:
            self._run(self.chat.send(Pressed(data.draw(st.sampled_from(offered)))))

    @rule(data=button_data)
    def press_forged_data(self, data: str) -> None:
        self._run(self.chat.send(Pressed(data)))

    @rule(text=st.sampled_from(WORDS) | st.text(max_size=30))
    def say(self, text: str) -> None:
        self._run(self.chat.say(text))

    @rule()
    def say_something_private(self) -> None:
        # Inside a note (or a passphrase prompt) this is kept; anywhere else it is not.
        self._run(self.chat.say(self._secret("NOTEWORDS")))

    @precondition(lambda self: not self.vault_on)
    @rule()
    def turn_on_private_notes(self) -> None:
        self._run(self.chat.command("notes"))
        self._run(self.chat.send(Pressed("v:on")))
        self._run(self.chat.say(PASS))
        self._run(self.chat.say(PASS))
        self.vault_on = True

    @rule()
    def unlock(self) -> None:
        self._run(self.chat.command("notes"))
        self._run(self.chat.say(PASS))

    @rule()
    def write_a_note_step_by_step(self) -> None:
        self._run(self.chat.send(Pressed("v:new")))
        self._run(self.chat.say(self._secret("WHATHAPPENED")))
        self._run(self.chat.say(self._secret("PLATFORM")))
        self._run(self.chat.send(Pressed("v:save")))

    @rule()
    def write_a_note_at_once(self) -> None:
        self._run(self.chat.command("note", self._secret("QUICKNOTE")))

    @rule(mode=st.sampled_from(["forget", "clear"]))
    def choose_a_panic_word(self, mode: str) -> None:
        self._run(self.chat.send(Pressed("pw")))
        self._run(self.chat.send(Pressed(f"pm:{mode}")))
        self.panic = self._secret("PANIC").lower()
        self.panic_mode = mode
        self._run(self.chat.say(self.panic))

    @precondition(lambda self: hasattr(self, "panic"))
    @rule()
    def say_the_panic_word(self) -> None:
        self._run(self.chat.say(self.panic))
        if self.panic_mode == "forget":  # erased, vault and all; "clear" keeps the vault
            self.vault_on = False

    @rule(seconds=st.sampled_from(AUTO_CLEAR_CHOICES))
    def set_auto_clear(self, seconds: int) -> None:
        self._run(self.chat.send(Pressed("ac")))
        self._run(self.chat.send(Pressed(f"ac:{seconds}")))

    @rule()
    def tick(self) -> None:
        self._run(self.service.tick(self.chat.front))

    def _on_disk(self, needle: bytes) -> bool:
        return any(needle in path.read_bytes() for path in data_files(self.data))

    def teardown(self) -> None:
        closed = False
        try:
            # Before: the person is on disk under their pseudonym (the scan can see them)...
            self._run(self.chat.command("help"))
            self._run(self.store.checkpoint())
            assert self._on_disk(self.pseudonym)
            person = self.loop.run_until_complete(self.store.person(self.pseudonym))
            assert person is not None
            vault = self.loop.run_until_complete(self.store.vault(self.pseudonym))
            traces = [self.pseudonym, person.wrapped_key, *(person.state, person.address)]
            traces += [vault.public_key, vault.locked_key] if vault is not None else []
            self._run(self.chat.command("forget"))
            self._run(self.chat.send(Pressed("fy")))
            self._run(self.service.close())
            closed = True
            files = data_files(self.data)
            assert files
            for path in files:
                content = path.read_bytes()
                for secret in self.secrets:
                    for form in {secret, secret.lower()}:
                        assert form.encode() not in content, f"{path.name} holds {form!r}"
                # ...after: not even their pseudonym, keys or sealed blobs are left.
                for trace in traces:
                    assert trace is None or trace not in content, f"{path.name} keeps a trace"
        finally:
            if not closed:  # a failure above: still stop the store's thread
                self._run(self.service.close())
            self.loop.close()
            shutil.rmtree(self.folder, ignore_errors=True)


ForgetMe.TestCase.settings = STATEFUL
test_any_sequence_then_forget_me_leaves_no_trace = ForgetMe.TestCase
