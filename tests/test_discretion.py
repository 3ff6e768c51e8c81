"""Quick delete and discretion: clear chat, forget, panic word, auto-clear, a quiet chat."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from safetybot.core.desk import ATTACH_STEP
from safetybot.core.events import Attachment, Command, Edited, Text
from safetybot.core.flow import Mode
from safetybot.core.service import Service
from safetybot.guidance.resources import Directory
from safetybot.i18n import Texts
from safetybot.markup import Format, render
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.conftest import FAST_VAULT, Chat, RecordingFrontEnd, assert_absent

USER = "7391028465"
NOTE = "He sent the screenshot to my cousin"
PASS = "blue kettle morning"

# Typed words of every intent, in both languages (each reply's first line is checked).
TYPED = (
    "I want to die",
    "he says he'll post it in 10 minutes",
    "someone wants 500 dollars or he will send my pics to my family",
    "my ex posted my nudes online",
    "someone made a fake nude of me with AI",
    "a guy i met on a dating app keeps asking me for nudes",
    "i already paid him 300 and now he wants more",
    "my son is being blackmailed with photos",
    "how do i delete this chat",
    "Send me $500 in bitcoin or your video goes to all your contacts",
    "me quiero morir",
    "mi ex subió mis fotos íntimas a una página",
    "ya le pagué 2000 pesos y sigue pidiendo más",
)

# Words that must never be the first line of a message: it shows in notification previews.
SENSITIVE = {
    "en": r"sextortion|intimate|nude|naked|sexual|images?|photos?|videos?|threat\w*|blackmail\w*"
    r"|abuse\w*|police|evidence|passphrase|erase\w*|crisis|danger\w*|suicid\w*|hurt\w*|deepfake"
    r"|revenge|exploit\w*|under 18|screenshots?|helplines?|files?",
    "es": r"sextorsion|intim\w*|desnud\w*|sexual\w*|imagen\w*|fotos?|videos?|amenaz\w*|chantaj\w*"
    r"|abuso\w*|policia|pruebas?|evidencia\w*|frase de acceso|borr\w*|crisis|peligro\w*"
    r"|suicid\w*|dano|deepfake|vengan\w*|explota\w*|menor\w*|capturas?|lineas de ayuda"
    r"|archivos?",
}


def _plain(text: str) -> str:
    bare = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in bare if not unicodedata.combining(c))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _service(
    store: Store,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    clock: Clock,
    auto_clear: int = 0,
) -> Service:
    return Service(
        store, keyring, texts, directory, FAST_VAULT, clock, auto_clear_default=auto_clear
    )


@pytest.fixture
def svc(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> Service:
    return _service(store, keyring, texts, directory, clock)


@pytest.fixture
def chat(svc: Service, front: RecordingFrontEnd) -> Chat:
    return Chat(svc, front, USER)


async def _tour(chat: Chat, clock: Clock) -> None:
    """Every kind of screen a person can reach."""
    await chat.command("start")
    await chat.command("help")
    await chat.command("guides")
    for data in [d for d in chat.button_data() if d.startswith("g:")]:
        await chat.press(data)
        await chat.command("guides")
    await chat.command("now")  # the country is not known yet: asks where
    await chat.press("cc:US")
    await chat.command("helplines")
    await chat.command("triage")
    for data in ("t:d:yes", "t", "t:s:threat", "t:n:minor", "t:w:known", "t:p:yes"):
        await chat.press(data)
    await chat.say("help")
    await chat.say("im 15")
    await chat.say("hello there")
    for words in TYPED:  # one message of each kind the understanding step tells apart
        await chat.say(words)
    await chat.command("check")
    await chat.say("my ex says he will post my pics unless i pay him by tonight")
    await chat.send(Attachment("photo", 10, "x"))
    await chat.command("nope")
    await chat.turn_on_vault(PASS)
    await chat.press("v:new")
    await chat.say(NOTE)
    await chat.press("v:save")
    await chat.press("v:home")
    await chat.press("v:lock")
    await chat.command("notes")
    await chat.say("not the passphrase")
    clock.now += 60
    await chat.say(PASS)
    await chat.press("v:x")
    await chat.press("v:xn")
    await chat.command("notes")
    await chat.press("v:set")
    await chat.press("v:du")
    await chat.press("v:dm:empty")
    await chat.command("notes")
    await chat.press("v:new")
    await chat.send(Attachment("video", 10, "x", "", "a.mp4", "video/mp4"))
    for _ in range(ATTACH_STEP):  # to where files are taken: the warning and the prompt
        if "v:skip" in chat.button_data():
            await chat.press("v:skip")
    await chat.press("v:save")
    await chat.command("settings")
    await chat.press("ac")
    await chat.press("ac:300")
    await chat.press("pw")
    await chat.press("pm:clear")
    await chat.say("/start")
    await chat.say("tulip")
    await chat.command("language")
    await chat.command("clear")
    await chat.command("forget")
    await chat.press("fy")


@pytest.mark.parametrize("language", ["en", "es"])
async def test_no_message_starts_with_anything_a_preview_would_give_away(
    store: Store,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    clock: Clock,
    language: str,
) -> None:
    front = RecordingFrontEnd()
    chat = Chat(_service(store, keyring, texts, directory, clock), front, USER)
    chat.language = language
    await _tour(chat, clock)
    assert len(front.calls) >= 50
    pattern = re.compile(rf"(?<!\w)(?:{SENSITIVE[language]})(?!\w)")
    offending = set()
    for call in front.calls:
        if call.kind == "edit" or call.message is None:
            continue  # an edit makes no notification
        lines = render(call.message.markdown, Format.PLAIN)
        first = lines[0].split("\n")[0] if lines else ""
        if pattern.search(_plain(first)):
            offending.add(first)
    assert not offending, "\n".join(sorted(offending))


async def test_clear_chat_deletes_messages_keeps_the_vault_and_locks_it(
    chat: Chat, front: RecordingFrontEnd
) -> None:
    await chat.command("start")
    await chat.turn_on_vault(PASS)
    await chat.command("note", NOTE)
    sent_before = {c.message_id for c in front.calls}
    shown = await chat.press("cl")
    assert sent_before <= set(front.deleted)
    assert "settings are kept" in shown
    # Someone may be looking now: the notes need the passphrase again, and are all there.
    assert "Send your passphrase" in await chat.command("notes")
    assert NOTE[:20] in await chat.say(PASS)


async def test_commands_are_deleted_once_handled_so_the_chat_stays_short(
    chat: Chat, front: RecordingFrontEnd
) -> None:
    await chat.command("start")
    menu = chat.front.calls[-1].message_id
    for data in ("gl", "g:right_now", "gl", "m", "t", "t:c:US", "t:d:no", "t:s:shared"):
        await chat.press(data)
    for data in ("t:n:adult", "t:a:adult", "t:w:stranger", "t:p:no"):
        await chat.press(data)
    await chat.command("help")
    person = [m for m in front.deleted if m > 10_000]
    assert len(person) == 2  # /start and /help, both gone
    on_screen = {c.message_id for c in front.calls if c.kind == "send"} - set(front.deleted)
    assert len(on_screen) <= 4, on_screen
    assert menu in on_screen  # one menu message, edited in place the whole time


async def test_the_panic_word_erases_everything_from_any_state_and_says_nothing(
    store: Store,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    clock: Clock,
    tmp_path: Path,
) -> None:
    modes = {
        "idle": [],
        "triage": [("press", "t"), ("press", "t:c:US")],
        "unlock": [("command", "notes"), ("press", "v:lock"), ("command", "notes")],
        "note": [("command", "notes"), ("press", "v:new"), ("say", "first field")],
        "confirm forget": [("command", "forget")],
    }
    for name, steps in modes.items():
        front = RecordingFrontEnd()
        service = _service(store, keyring, texts, directory, clock)
        chat = Chat(service, front, f"{USER}{len(name)}")
        await chat.turn_on_vault(PASS)
        await chat.command("note", NOTE)
        await chat.command("settings")
        await chat.press("pw")
        await chat.press("pm:forget")
        assert "works at once" in await chat.say("Tulip")
        for kind, value in steps:
            await getattr(chat, kind)(value)
        calls_before = len(front.calls)
        await chat.say("  tulip ")
        assert len(front.calls) == calls_before, name  # nothing new appears in the chat
        pseudonym = keyring.pseudonym("test", chat.user)
        assert await store.person(pseudonym) is None, name
        assert set(front.deleted) >= {c.message_id for c in front.calls}, name
    assert_absent(tmp_path / "data", NOTE, "tulip", PASS)


async def _panic_word_that_clears(chat: Chat) -> None:
    """Set "tulip" as the panic word, clearing the chat (private notes kept)."""
    await chat.command("settings")
    await chat.press("pw")
    await chat.press("pm:clear")
    await chat.say("tulip")


async def test_the_panic_word_can_clear_the_chat_instead(
    chat: Chat, front: RecordingFrontEnd, store: Store, keyring: Keyring
) -> None:
    await _panic_word_that_clears(chat)
    await chat.command("help")
    await chat.say("tulip")
    assert {c.message_id for c in front.calls} <= set(front.deleted)
    assert await store.person(keyring.pseudonym("test", USER)) is not None


async def test_a_message_edited_into_the_panic_word_clears_the_chat_too(
    chat: Chat, front: RecordingFrontEnd, store: Store, keyring: Keyring
) -> None:
    await _panic_word_that_clears(chat)
    await chat.say("hi")
    calls_before = len(front.calls)
    await chat.send(Edited("  Tulip "))  # "hi" edited into the panic word
    assert len(front.calls) == calls_before  # nothing new appears in the chat
    assert {c.message_id for c in front.calls} <= set(front.deleted)
    assert await store.person(keyring.pseudonym("test", USER)) is not None


@pytest.mark.parametrize(
    ("word", "reason"),
    [
        ("/start", "command"),
        ("12345", "Numbers"),
        ("Guides", "menus"),
        ("ayuda", "menus"),
        ("ab", "3 to 40"),
        ("Privacy settings", "menus"),
    ],
)
async def test_a_panic_word_that_could_be_confused_is_refused(
    chat: Chat, word: str, reason: str
) -> None:
    await chat.command("settings")
    await chat.press("pw")
    await chat.press("pm:forget")
    shown = await chat.say(word)
    assert reason in shown
    assert chat.front.deleted  # the word was deleted even though it was refused


async def test_auto_clear_fires_after_its_time_and_after_a_restart(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> None:
    front = RecordingFrontEnd()
    chat = Chat(_service(store, keyring, texts, directory, clock), front, USER)
    await chat.command("settings")
    await chat.press("ac")
    await chat.press("ac:1800")
    await chat.command("help")
    shown = {c.message_id for c in front.calls}
    clock.now += 29 * 60
    restarted = _service(store, keyring, texts, directory, clock)
    await restarted.tick(front)
    assert not shown & set(front.deleted)
    clock.now += 2 * 60
    await restarted.tick(front)
    assert shown <= set(front.deleted)


async def test_the_organizations_default_auto_clear_applies_to_new_people(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> None:
    front = RecordingFrontEnd()
    service = _service(store, keyring, texts, directory, clock, auto_clear=300)
    chat = Chat(service, front, USER)
    assert "After 5 minutes" in await chat.command("settings")
    clock.now += 301
    await service.tick(front)
    assert {c.message_id for c in front.calls} <= set(front.deleted)


async def test_people_inactive_past_the_retention_limit_are_erased(
    store: Store, keyring: Keyring, texts: Texts, directory: Directory, clock: Clock
) -> None:
    front = RecordingFrontEnd()
    service = _service(store, keyring, texts, directory, clock)
    await Chat(service, front, USER).command("start")
    await Chat(service, front, "222").command("start")
    clock.now += 91 * 86_400
    await Chat(service, front, "222").command("help")
    await service.tick(front)
    assert await store.person(keyring.pseudonym("test", USER)) is None
    assert await store.person(keyring.pseudonym("test", "222")) is not None
    assert "90 days" in await Chat(service, front, "222").command("privacy")


async def test_silent_messages_arrive_without_sound(chat: Chat, front: RecordingFrontEnd) -> None:
    await chat.command("settings")
    await chat.press("sl")
    await chat.command("help")
    assert front.calls[-1].message is not None and front.calls[-1].message.silent


async def test_every_screen_offers_both_levels_of_erase(chat: Chat) -> None:
    for event in (
        Command("start"),
        Command("guides"),
        Command("now"),
        Command("notes"),
        Command("settings"),
        Text("hello"),
    ):
        await chat.send(event)
        assert {"cl", "f"} <= set(chat.button_data()), event
    assert Mode  # states are explicit data


async def test_auto_clear_takes_a_vault_view_on_time_even_while_the_vault_is_used(
    store: Store,
    keyring: Keyring,
    texts: Texts,
    directory: Directory,
    clock: Clock,
    front: RecordingFrontEnd,
) -> None:
    # Auto-clear at 5 minutes; the notes stay open 10 minutes after each use, and their views
    # go when they lock: using them must not keep a view past its 5 minutes.
    svc = _service(store, keyring, texts, directory, clock, auto_clear=300)
    chat = Chat(svc, front, USER)
    await chat.turn_on_vault(PASS)
    ready = [c.message_id for c in front.calls if c.message and "ready" in c.message.markdown]
    assert ready
    for _ in range(3):  # using the notes every 2 minutes moves their lock time on
        clock.now += 110
        await chat.command("notes")
        await svc.tick(front)
    clock.now += 20  # 350 s after "ready" was sent
    await svc.tick(front)
    assert set(ready) <= set(front.deleted)
