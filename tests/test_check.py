"""Check a message: red flags explained with quotes, nothing kept, the questionnaire."""

from __future__ import annotations

from pathlib import Path

import pytest

from safetybot.core.events import Attachment, Forwarded
from safetybot.core.service import Service
from safetybot.store import Store
from safetybot.vault.crypto import Keyring
from tests.conftest import Chat, RecordingFrontEnd, assert_absent

USER = "7391028465"
SCAM = (
    "I have your video. Send $500 in Apple gift cards in 24 hours or I send it to all your "
    "followers and your family."
)


@pytest.fixture
def chat(service: Service, front: RecordingFrontEnd) -> Chat:
    return Chat(service, front, USER)


async def test_a_pasted_threat_is_explained_with_its_own_words_and_then_deleted(
    chat: Chat, front: RecordingFrontEnd, tmp_path: Path, log_file: Path
) -> None:
    await chat.command("check")
    before = set(front.deleted)
    shown = await chat.say(SCAM)
    bot_ids = {c.message_id for c in front.calls}
    assert [i for i in set(front.deleted) - before if i not in bot_ids]  # the pasted message
    assert "looks" in shown and "sextortion" in shown
    assert "gift cards" in shown and "24 hours" in shown  # quoted from the message itself
    assert "don't pay" in shown
    assert "A deadline is meant to make you panic" in shown
    assert_absent(tmp_path / "data", SCAM[:40], "gift cards")
    assert "gift cards" not in log_file.read_text()


async def test_a_forwarded_message_is_checked_and_can_be_saved_with_its_origin(
    chat: Chat, keyring: Keyring, store: Store
) -> None:
    await chat.turn_on_vault("a long passphrase")
    await chat.send(Forwarded(SCAM, "Max Stone, @max_x, id 99", "2026-11-20T10:00:00+00:00"))
    assert "v:chk" in chat.button_data()
    saved = await chat.press("v:chk")
    assert "Saved as note 1" in saved and "gift cards" in saved and "@max\\_x" in saved


async def test_an_ordinary_message_is_not_called_sextortion(chat: Chat) -> None:
    await chat.command("check")
    shown = await chat.say("Hey! Your invoice for $45 is due by Friday. Thanks, Dana")
    # An invoice does ask for money by a date: those may be named, never as sextortion.
    assert "looks like sextortion" not in shown and "very much like sextortion" not in shown
    assert "did not find the usual warning signs" in shown or "On their own they may mean" in shown


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "no words"),
        ("😱😱🙏", "no words"),
        ("x " * 15_000, "read only the beginning"),
        (SCAM + " Tienes 10 minutos, mándame bitcoin o se lo envío a tu familia.", "sextortion"),
    ],
)
async def test_bad_input_gets_a_clear_reply(chat: Chat, text: str, expected: str) -> None:
    await chat.command("check")
    assert expected in await chat.say(text)


async def test_forwarded_media_without_text_gets_a_clear_reply(chat: Chat) -> None:
    await chat.command("check")
    assert "only check words" in await chat.send(Attachment("photo", 10, "x"))


async def test_the_questionnaire_adds_up_the_answers_without_pasting_anything(chat: Chat) -> None:
    await chat.command("check")
    await chat.press("kq")
    shown = ""
    for index in range(11):
        shown = await chat.press(f"kq:{index}:{'y' if index in (1, 4, 6, 7, 9) else 'n'}")
    assert "sextortion" in shown and "Threatens to send it" in shown
    await chat.press("k")
    await chat.press("kq")
    for index in range(11):
        shown = await chat.press(f"kq:{index}:n")
    assert "did not find the usual warning signs" in shown


@pytest.mark.parametrize(
    ("words", "warm"),
    [
        (SCAM + " You might as well kill yourself.", "Nobody has the right to say that"),
        # A Spanish message, checked for someone whose bot speaks English.
        ("mándame los 300 o subo tu video. mejor mátate", "Nobody has the right to say that"),
        ("nobody would miss you", "Nobody has the right to say that"),
    ],
)
async def test_a_message_that_urges_self_harm_gets_a_warm_line_and_talk_to_someone(
    chat: Chat, words: str, warm: str
) -> None:
    await chat.command("check")
    shown = await chat.say(words)
    # Still checked as the message it is (its red flags, when it has them)...
    assert "I read it" in shown
    # ...with one warm line, and "Talk to someone now" first under it.
    assert warm in shown and chat.button_data()[0] == "tk"
    assert "Find A Helpline" in await chat.press("tk")


async def test_a_threat_that_does_not_urge_self_harm_gets_no_such_line(chat: Chat) -> None:
    await chat.command("check")
    shown = await chat.say(SCAM)
    assert "Nobody has the right" not in shown and "tk" not in chat.button_data()


async def test_help_typed_while_checking_still_opens_the_crisis_path(chat: Chat) -> None:
    await chat.command("check")
    assert "next ten minutes" in await chat.say("help")


@pytest.mark.parametrize(
    ("words", "language", "expected"),
    [
        (
            "my ex says he will post my pics unless i pay him 300 by tonight",
            "en",
            "telling what happened",
        ),
        (
            "mi ex dice que va a subir mis fotos si no le pago esta noche",
            "es",
            "contando lo que pasó",
        ),
        (
            "Police warn of a rise in sextortion cases targeting teenage boys online",
            "en",
            "telling what happened",
        ),
    ],
)
async def test_an_account_of_sextortion_is_answered_as_the_persons_story_not_scored(
    service: Service, front: RecordingFrontEnd, words: str, language: str, expected: str
) -> None:
    chat = Chat(service, front, "7391028466")
    chat.language = language
    await chat.command("check")
    shown = await chat.say(words)
    assert expected in shown
    assert "looks very much like sextortion" not in shown and "se parece mucho" not in shown
    assert "t" in chat.button_data()  # a plan is offered


@pytest.mark.parametrize(
    "words",
    [
        "send it or they all see them. u got 1 hr",  # pronoun-only, no co-words the rules need
        "usted tiene 24 horas para pagar la multa o publicaremos los vídeos tuyos con su nombre",
    ],
)
async def test_a_threat_in_wording_the_rules_miss_is_still_raised(chat: Chat, words: str) -> None:
    await chat.command("check")
    shown = await chat.say(words)
    assert "sextortion" in shown or "sextorsión" in shown
    assert "don't pay" in shown or "no pagues" in shown.lower()
    assert "I read it" in shown


async def test_an_ordinary_bill_with_a_deadline_is_not_raised(chat: Chat) -> None:
    await chat.command("check")
    shown = await chat.say(
        "Your electricity bill of $84.20 is due in 3 days. "
        "Pay online or in the app to avoid a late fee."
    )
    assert "very much like sextortion" not in shown and "looks like sextortion" not in shown
