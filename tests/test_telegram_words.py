"""Typed words over Telegram: the real PTB Application and the fake Bot API on 127.0.0.1.

Each kind of message, in English and in Spanish, gets the reply a helpline volunteer would
give, and its buttons lead on: the plan with what was said, the check of a pasted message, the
two levels of erase. The sentences are written for these tests (in neither labelled set).
"""

from __future__ import annotations

import pytest

from safetybot.core.menus import Action
from tests.test_telegram_e2e import CHAT, Harness, harness

__all__ = ["harness"]

ES_CHAT = CHAT + 1


def _buttons(harness: Harness, chat: int) -> list[str]:
    markup = harness.last_bot(chat).reply_markup or {}
    return [b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row]


CASES = [
    # (words, language, words the reply must hold, a button it must offer)
    ("I want to die", "en", "really glad you wrote", "cs:GB"),
    ("me quiero morir", "es", "Me alegra mucho", "cs:GB"),
    # Typed fast, with slips of the finger (guidance/speller.py).
    ("all i can thnik about is endng it", "en", "really glad you wrote", "cs:GB"),
    ("mjeor me muero", "es", "Me alegra mucho", "cs:GB"),
    ("he says he'll post it in 10 minutes", "en", "next ten minutes", "cc:US"),
    ("dice que las publica esta noche si no le pago", "es", "próximos diez minutos", "cc:US"),
    ("someone wants 500 dollars or he will send my pics to my family", "en", "threatening", "tp"),
    (
        "un tipo me amenaza con mandar mis fotos a mi familia si no le doy dinero",
        "es",
        "amenaza",
        "tp",
    ),
    ("my ex posted my nudes online", "en", "were shared", "tp"),
    ("mi ex subió mis fotos íntimas a una página", "es", "compartieron", "tp"),
    ("someone made a fake nude of me with AI", "en", "fake or edited", "tp"),
    ("hicieron un montaje con mi cara en un video porno", "es", "falsas o editadas", "tp"),
    ("a guy i met on a dating app keeps asking me for nudes", "en", "pushing you", "tp"),
    ("un chico que conocí por insta no para de pedirme fotos desnuda", "es", "te presiona", "tp"),
    ("i already paid him 300 and now he wants more", "en", "already paid", "tp"),
    ("ya le pagué 2000 pesos y sigue pidiendo más", "es", "ya pagaste", "tp"),
    (
        "my son is being blackmailed with photos, what do i do",
        "en",
        "looking out for them",
        "g:helping_someone",
    ),
    (
        "mi hija de 15 años me contó que la están extorsionando con fotos",
        "es",
        "pendiente",
        "g:helping_someone",
    ),
    ("how do i delete this chat", "en", "two ways", "cl"),
    ("quiero borrar todo lo que hablamos aquí", "es", "dos maneras", "cl"),
    (
        "Send me $500 in bitcoin or your video goes to all your contacts",
        "en",
        "someone sent you",
        "kt",
    ),
    (
        "Tienes 24 horas para pagar o envío tu video a todos tus contactos",
        "es",
        "alguien te mandó",
        "kt",
    ),
    ("hello", "en", "I'm a bot", "k"),
    ("hola", "es", "Soy un bot", "k"),
    # A lone "hey" reads like a stranger's opener someone pasted; it is the person saying hello.
    ("hey!", "en", "I'm a bot", "k"),
    ("holaaa", "es", "Soy un bot", "k"),
]


@pytest.mark.parametrize(("words", "language", "expected", "button"), CASES)
async def test_typed_words_get_the_reply_that_fits_in_both_languages(
    harness: Harness, words: str, language: str, expected: str, button: str
) -> None:
    chat = CHAT if language == "en" else ES_CHAT
    await harness.say(words, chat=chat, language_code=language)
    reply = harness.last_bot(chat).text or ""
    assert expected.lower() in reply.lower()
    assert "can't read messages" not in reply
    assert button in _buttons(harness, chat)


async def test_a_crisis_in_words_shows_the_crisis_line_first_once_the_country_is_known(
    harness: Harness,
) -> None:
    await harness.say("I want to die", language_code="en")
    assert "cs:GB" in _buttons(harness, CHAT)  # asked in the same message
    await harness.press("cs:GB")
    text = harness.last_bot().text or ""
    assert text.index("Samaritans") < text.index("999")  # the crisis line before emergency
    await harness.say("honestly everyone would be better off without me")
    assert "Samaritans" in (harness.last_bot().text or "")  # remembered: no question again


@pytest.mark.parametrize(
    ("words", "language", "lead", "country", "line", "emergency"),
    [
        ("hello", "en", "glad you reached out", "cs:GB", "Samaritans", "999"),
        ("hola", "es", "Me alegra que hayas escrito", "cs:MX", "Línea de la Vida", "911"),
    ],
)
async def test_words_it_could_not_place_keep_the_crisis_lines_one_press_away(
    harness: Harness,
    words: str,
    language: str,
    lead: str,
    country: str,
    line: str,
    emergency: str,
) -> None:
    # Despair in wording nobody wrote down gets the "what I can do" reply; one press on it
    # leads with the crisis lines, asking the country in the same message.
    await harness.say(words, language_code=language)
    assert Action.TALK.value in _buttons(harness, CHAT)
    await harness.press(Action.TALK.value)
    assert lead in (harness.last_bot().text or "")
    assert country in _buttons(harness, CHAT)
    await harness.press(country)
    text = harness.last_bot().text or ""
    assert text.index(line) < text.index(emergency)  # the crisis line before emergency


# A long story, written for these tests: whatever comes after it is read at its end.
STORY = (
    "it started in march when a boy from another school added me and we talked every night "
    "about music, our families, the teachers we could not stand and the places we wanted to "
    "see one day. "
) * 10


@pytest.mark.parametrize(
    ("end", "language", "expected"),
    [
        ("and now i want to die", "en", "really glad you wrote"),
        # Words no list holds: the model reads the end of a long message for self-harm too.
        ("and now everything feels pointless, i just want it all to stop", "en", "glad you"),
        ("y ya no quiero seguir viviendo", "es", "Me alegra mucho"),
    ],
)
async def test_a_long_story_that_ends_in_a_crisis_gets_the_crisis_path(
    harness: Harness, end: str, language: str, expected: str
) -> None:
    chat = CHAT if language == "en" else ES_CHAT
    story = STORY + end
    assert len(STORY) > 1500  # the end is past what the model reads of a message's start
    await harness.say(story, chat=chat, language_code=language)
    assert expected in (harness.last_bot(chat).text or "")
    assert "cs:GB" in _buttons(harness, chat)


@pytest.mark.parametrize(
    ("caption", "language", "expected", "button"),
    [
        # A screenshot with the crisis under it: the crisis path, no menu.
        ("he sent this to my whole school, i want to die", "en", "really glad you wrote", "cs:GB"),
        ("le mandó esto a todo mi curso, ya no quiero vivir", "es", "Me alegra mucho", "cs:GB"),
        # A caption that tells the story: the image is not kept, the words are answered.
        ("he sent me this and wants 500 dollars or he posts it", "en", "did not keep the", "tp"),
        ("este tipo me pide 500 dólares o publica mis fotos", "es", "No guardé la imagen", "tp"),
    ],
)
async def test_the_caption_of_an_image_is_read_as_typed_words(
    harness: Harness, caption: str, language: str, expected: str, button: str
) -> None:
    chat = CHAT if language == "en" else ES_CHAT
    fake = harness.fake
    file_id = fake.add_file(b"\x89PNG\r\n\x1a\n" + b"screenshot" * 20, "shot.png")
    photo = fake.photo_sizes(file_id)
    await harness.send(
        {"photo": photo, "caption": caption, "from": {"language_code": language}}, chat
    )
    assert expected in (harness.last_bot(chat).text or "")
    assert button in _buttons(harness, chat)
    assert not any(call.method == "getFile" for call in fake.calls)  # the image never fetched


@pytest.mark.parametrize(
    ("first", "edited", "language", "expected", "button"),
    [
        ("hi", "i want to die", "en", "really glad you wrote", "cs:GB"),
        ("hola", "ya no quiero vivir", "es", "Me alegra mucho", "cs:GB"),
        ("hi", "he says he'll post it in 10 minutes", "en", "next ten minutes", "cc:US"),
    ],
)
async def test_a_message_edited_into_a_crisis_gets_the_crisis_path(
    harness: Harness, first: str, edited: str, language: str, expected: str, button: str
) -> None:
    chat = CHAT if language == "en" else ES_CHAT
    sent = await harness.say(first, chat=chat, language_code=language)
    answered = len(harness.fake.bot_messages(chat))
    await harness.edit(sent, edited, chat=chat)
    assert len(harness.fake.bot_messages(chat)) == answered + 1  # one new answer
    assert expected in (harness.last_bot(chat).text or "")
    assert button in _buttons(harness, chat)


async def test_an_ordinary_edit_gets_no_reply_and_a_caption_edit_is_read(
    harness: Harness,
) -> None:
    sent = await harness.say("hi", language_code="en")
    answered = len(harness.fake.bot_messages(CHAT))
    await harness.edit(sent, "hi there, how does this work?", answered=False)
    assert len(harness.fake.bot_messages(CHAT)) == answered  # nothing new said
    fake = harness.fake
    photo = fake.photo_sizes(fake.add_file(b"\x89PNG\r\n\x1a\n" + b"shot" * 20, "shot.png"))
    shot = await harness.send({"photo": photo, "caption": "look at this"})
    await harness.edit(shot, "look at this, i want to end my life")
    assert "really glad you wrote" in (harness.last_bot().text or "")


async def test_a_plan_from_words_asks_only_what_it_does_not_know(harness: Harness) -> None:
    await harness.say("/start", language_code="en")
    await harness.say("i already paid my ex boyfriend 200 and he still wants more")
    await harness.press(Action.TRIAGE_PROPOSED.value)
    assert "A few quick questions" in (harness.last_bot().text or "")  # the country first
    await harness.press("t:c:US")
    await harness.press("t:d:no")
    await harness.press("t:n:adult")
    await harness.press("t:a:adult")
    # Situation, paid and who came from the words: the plan follows at once.
    plan = harness.last_bot().text or ""
    assert "bank" in plan.lower()


async def test_a_pasted_message_is_checked_then_deleted_over_telegram(harness: Harness) -> None:
    pasted = await harness.say("Tienes 24 horas para pagar o envío tu video a todos tus contactos")
    assert not harness.fake.message(CHAT, pasted.message_id).deleted
    await harness.press(Action.CHECK_TYPED.value)
    assert "24 horas" in (harness.last_bot().text or "")  # quoted in the result
    assert harness.fake.message(CHAT, pasted.message_id).deleted


async def test_words_that_may_be_someone_elses_message_can_be_checked_as_they_are(
    harness: Harness,
) -> None:
    # Read as `other`, unsure: the "what I can do" reply offers to check the words as typed.
    typed = await harness.say("i see you read my message", language_code="en")
    assert "I'm a bot" in (harness.last_bot().text or "")
    assert Action.CHECK_TYPED.value in _buttons(harness, CHAT)
    await harness.press(Action.CHECK_TYPED.value)
    assert "I read it" in (harness.last_bot().text or "")
    assert harness.fake.message(CHAT, typed.message_id).deleted  # gone once checked


async def test_erase_words_never_erase_without_the_confirm_press(harness: Harness) -> None:
    await harness.say("/start")
    await harness.say("delete everything you have on me")
    assert harness.fake.bot_messages(CHAT)  # nothing was erased by the words alone
    await harness.press(Action.FORGET.value)
    assert Action.FORGET_YES.value in _buttons(harness, CHAT)
    await harness.press(Action.FORGET_YES.value)
    assert (harness.last_bot().text or "").startswith("Done.")


@pytest.mark.parametrize(
    ("language", "expected"), [("en", "really glad you wrote"), ("pt", "Me alegra")]
)
async def test_the_messengers_language_wins_and_an_unknown_one_yields_to_the_words(
    harness: Harness, language: str, expected: str
) -> None:
    # Telegram's language is the person's app language: kept when it is one this bot speaks;
    # otherwise the language of their words decides.
    await harness.say("me quiero morir", language_code=language)
    assert expected in (harness.last_bot().text or "")


@pytest.mark.parametrize(
    ("words", "language", "expected"),
    [
        ("ok make me a plan", "en", "A few quick questions"),
        ("quiero hacer mi plan", "es", "Unas preguntas rápidas"),
        ("i want to write a note", "en", "keep a record of what is happening"),
        ("quiero escribir una nota", "es", "puedes guardar un registro"),
        # Asked whether this is private: the privacy page, not the crisis path or the menu.
        ("do u keep the stuff i paste here?", "en", "what this bot keeps"),
        ("¿mis papás pueden ver lo que escribo?", "es", "todo lo que guarda sobre ti"),
    ],
)
async def test_a_feature_asked_for_in_words_opens_it_over_telegram(
    harness: Harness, words: str, language: str, expected: str
) -> None:
    # "plan" and "note" lean to self-harm in the model; asked for by name, the feature opens.
    await harness.say(words, language_code=language)
    reply = harness.last_bot().text or ""
    assert expected in reply
    assert "glad you wrote" not in reply and "alegra mucho" not in reply


@pytest.mark.parametrize(
    ("note", "language", "warm", "lead"),
    [
        ("he said i should kill myself if i dont pay", "en", "sounds very heavy", "glad"),
        ("ya no quiero vivir, me dijo que lo va a subir", "es", "suena muy pesado", "Me alegra"),
    ],
)
async def test_a_saved_note_that_says_self_harm_offers_talk_to_someone_over_telegram(
    harness: Harness, note: str, language: str, warm: str, lead: str
) -> None:
    await harness.say("/start", language_code=language)
    await harness.turn_on_vault()
    await harness.say(f"/note {note}")
    saved = harness.last_bot().text or ""
    assert note in saved and warm in saved  # saved as written, with one warm line
    assert Action.TALK.value in _buttons(harness, CHAT)
    await harness.press(Action.TALK.value)
    assert lead in (harness.last_bot().text or "")  # the crisis lines, in place of the note


@pytest.mark.parametrize(
    ("words", "language", "warm"),
    [
        (
            "Send $300 in gift cards or your video goes to everyone. Just kill yourself",
            "en",
            "Nobody has the right to say that",
        ),
        (
            "Mándame 300 o tu video le llega a todos. Mejor mátate",
            "es",
            "Nadie tiene derecho a decirte eso",
        ),
    ],
)
async def test_a_checked_message_that_urges_self_harm_offers_talk_to_someone_over_telegram(
    harness: Harness, words: str, language: str, warm: str
) -> None:
    await harness.say("/check", language_code=language)
    await harness.say(words)
    result = harness.last_bot().text or ""
    assert warm in result
    assert _buttons(harness, CHAT)[0] == Action.TALK.value


@pytest.mark.parametrize(
    ("words", "language", "warm"),
    [
        ("i cant do this anymore. thank you for everything, goodbye", "en", "If someone you know"),
        ("ya no puedo más. gracias por todo, adiós para siempre", "es", "Si las escribió alguien"),
    ],
)
async def test_a_forwarded_goodbye_offers_talk_to_someone_for_the_friend_who_wrote_it(
    harness: Harness, words: str, language: str, warm: str
) -> None:
    # A friend's message, forwarded: checked as someone else's words, and its self-harm heard.
    chat = CHAT if language == "en" else ES_CHAT
    await harness.say("/start", chat=chat, language_code=language)
    sender = {"id": 556, "is_bot": False, "first_name": "Sam"}
    origin = {"type": "user", "date": 1795000000, "sender_user": sender}
    await harness.send({"text": words, "forward_origin": origin}, chat)
    assert warm in (harness.last_bot(chat).text or "")
    assert _buttons(harness, chat)[0] == Action.TALK.value
