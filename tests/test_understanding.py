"""Understanding a person's own words: the intent, its evidence, and where the flow leads.

These use the shipped catalogs and the shipped model, as the bot does. The sentences are
written for these tests (they are in neither labelled set), one clear case of each class.
"""

from __future__ import annotations

import itertools
import time

import pytest

from safetybot.core.events import Incoming, Pressed, Text
from safetybot.core.flow import HINT_MINOR, Mode, OfferCheck, State, step
from safetybot.core.menus import Action, GuideId
from safetybot.core.replies import Contacts, T
from safetybot.core.service import Service
from safetybot.core.signals import Signals
from safetybot.core.understanding import Intent, Understander, Understanding, WordLists
from safetybot.i18n import Texts
from tests.conftest import Chat, RecordingFrontEnd


@pytest.fixture(scope="module")
def signals(texts: Texts) -> Signals:
    return Signals.from_texts(texts)


EXAMPLES = [
    ("I want to die", Intent.SELF_HARM),
    ("i can't do this anymore", Intent.SELF_HARM),
    ("honestly everyone would be better off without me", Intent.SELF_HARM),
    ("k i l l   m y s e l f", Intent.SELF_HARM),
    ("me quiero morir", Intent.SELF_HARM),
    ("ya no aguanto mas, quiero desaparecer para siempre", Intent.SELF_HARM),
    ("he says he'll post it in 10 minutes", Intent.URGENT),
    ("HELP", Intent.URGENT),
    ("ayudaaaa", Intent.URGENT),
    ("dice que las sube en 10 minutos si no le pago", Intent.URGENT),
    ("my ex posted my nudes online", Intent.SHARED),
    ("mi ex subió mis fotos íntimas a una página", Intent.SHARED),
    ("how do i delete this chat", Intent.ERASE),
    ("quiero borrar todo lo que hablamos aquí", Intent.ERASE),
    ("I'm asking for a friend", Intent.HELPER),
    ("mi hija de 15 años me contó que la están extorsionando con fotos", Intent.HELPER),
    ("someone wants 500 dollars or he will send my pics to my family", Intent.THREATENED),
    ("un tipo me amenaza con mandar mis fotos a mi familia si no le doy dinero", Intent.THREATENED),
    ("i already paid him 300 and now he wants more", Intent.PAID),
    ("ya le pagué 2000 pesos y sigue pidiendo más", Intent.PAID),
    ("someone made a fake nude of me with AI", Intent.DEEPFAKE),
    ("hicieron un montaje con mi cara en un video porno", Intent.DEEPFAKE),
    ("a guy i met on a dating app keeps asking me for nudes", Intent.ASKED_FOR_IMAGES),
    ("un chico que conocí por insta no para de pedirme fotos desnuda", Intent.ASKED_FOR_IMAGES),
    ("Send me $500 in bitcoin or your video goes to all your contacts", Intent.PASTED),
    ("Tienes 24 horas para pagar o envío tu video a todos tus contactos", Intent.PASTED),
    ("hello", Intent.OTHER),
    ("hola, ¿qué es esto?", Intent.OTHER),
    # A bare answer typed outside a question is not a crisis.
    ("no", Intent.OTHER),
    ("nunca", Intent.OTHER),
    ("dlt all pls", Intent.ERASE),
    ("quiero que no quede rastro de esta conversación", Intent.ERASE),
    ("can you delete what i said about my ex", Intent.ERASE),
    ("elimina la conversación porfa", Intent.ERASE),
    ("borra lo que te dije ayer", Intent.ERASE),
    # The quick way out named as people know it from other apps and sites.
    ("panic button", Intent.ERASE),
    ("botón de pánico", Intent.ERASE),
]


@pytest.mark.parametrize(("words", "intent"), EXAMPLES)
def test_each_kind_of_message_is_understood(signals: Signals, words: str, intent: Intent) -> None:
    assert signals.understand(words).intent is intent


def test_the_evidence_names_cues_and_scores_never_the_words(signals: Signals) -> None:
    meaning = signals.understand("I want to die, Marisol sent my pics to Quillon")
    assert meaning.intent is Intent.SELF_HARM and "words:self_harm" in meaning.evidence
    joined = " ".join(meaning.evidence).lower()
    assert "marisol" not in joined and "die" not in joined and "quillon" not in joined


def test_what_the_words_already_say_is_read_for_the_plan(signals: Signals) -> None:
    meaning = signals.understand("i already paid my ex boyfriend but he still threatens me")
    assert meaning.answers.get("p") == "yes" and meaning.answers.get("w") == "known"
    stranger = signals.understand("a stranger i met online says he will post my pics")
    assert stranger.answers.get("w") == "stranger" and stranger.answers.get("s") == "threat"


def test_self_harm_wins_over_a_deadline_and_a_cry_is_the_whole_message() -> None:
    words = WordLists(self_harm=("want to die",), cry=("help",), deadline=("in # minutes",))
    understander = Understander(words, None)  # the word lists alone
    assert (
        understander.understand("he posts in 5 minutes, i want to die").intent is Intent.SELF_HARM
    )
    assert understander.understand("Help!!!").intent is Intent.URGENT
    assert understander.understand("can you help me with my homework").intent is Intent.OTHER


def test_an_emergency_said_plainly_gets_the_checklist_and_the_same_words_in_a_story_do_not(
    signals: Signals,
) -> None:
    # A statement of emergency or danger with no detail is a cry for help, in both languages.
    cries = ("It's an emergency!!", "PLEASE HURRY", "es una emergencia", "no hay tiempo!!")
    # Typed letter by letter, or as the SOS sign alone.
    for cry in (*cries, "h e l p", "A Y U D A", "\U0001f198\U0001f198\U0001f198", "\U0001f198 sos"):
        meaning = signals.understand(cry)
        assert meaning.intent is Intent.URGENT and "words:cry" in meaning.evidence, cry
    assert "words:cry" in signals.understand("help help help").evidence  # again and again
    for danger in ("i'm in danger", "Estoy en peligro"):
        meaning = signals.understand(danger)
        assert meaning.intent is Intent.URGENT and "words:danger" in meaning.evidence, danger
    # Inside ordinary words they are not cries (the cry list is whole messages only).
    plain = signals.understand("hurry up and tell me how the privacy settings work")
    assert plain.intent is not Intent.URGENT


def test_the_end_of_a_long_message_is_read_for_self_harm(signals: Signals) -> None:
    story = (
        "it started in march when a boy from another school added me and we talked every night "
        "about music, our families, the teachers we could not stand and the places we wanted to "
        "see one day. "
    ) * 10
    assert len(story) > 1500  # past the start the model reads
    plain = signals.understand(story)
    assert plain.intent is not Intent.SELF_HARM
    listed = signals.understand(story + " i want to die")
    assert listed.intent is Intent.SELF_HARM and "words:self_harm" in listed.evidence
    # Words no list holds: the model reads the message's end for self-harm too.
    unlisted = signals.understand(story + " now everything feels pointless, i want it all to stop")
    assert unlisted.intent is Intent.SELF_HARM
    assert any(e.startswith("model:self_harm_at_end:") for e in unlisted.evidence)


def test_every_list_also_matches_texting_shorthand() -> None:
    words = WordLists(
        self_harm=("want to die", "porque seguir"),
        erase=("delete this chat",),
        shorthand=("to = 2", "porque = xq pq", "this = dis", "no one = no1"),
    )
    understander = Understander(words, None)  # the word lists alone
    for typed in ("i want 2 die", "I WANT TO DIE", "xq seguir", "pq seguir"):
        assert understander.understand(typed).intent is Intent.SELF_HARM, typed
    assert understander.understand("pls delete dis chat").intent is Intent.ERASE
    # The short forms stand for the word only inside a phrase of a list.
    for typed in ("2", "i want 2", "xq", "i want no1"):
        assert understander.understand(typed).intent is Intent.OTHER, typed


def test_the_shipped_catalogs_shorthand_reaches_the_self_harm_lists(signals: Signals) -> None:
    for typed in ("its over 4 me", "every1 would b better off without me", "ya no kiero vivir"):
        assert "words:self_harm" in signals.understand(typed).evidence, typed


def test_danger_to_the_body_now_leads_to_the_danger_screen_but_a_figure_of_speech_does_not(
    signals: Signals,
) -> None:
    for words in (
        "he is hitting me again and he locked me in",
        "my ex is outside my house right now and he has a knife",
        "mi pareja me está pegando",
        "nos quieren matar, se metieron a la casa",
        # Someone at home being hurt, or just taken.
        "my stepdad is beating my mom right now",
        "mi padrastro le está pegando a mi mamá",
        "se lo acaban de llevar en una camioneta",
        # Each language's list has the other's classes (7 December, night).
        "he wants to kill me and he knows where i live",
        "my boyfriend hits me when he finds out",
        "they took my daughter from school just now",
        "me está apuntando con una pistola",
        "rompió la puerta y está dentro de mi casa",
        "mi ex me tiene encerrada en el cuarto",
        # Someone at the door, now, with the threat.
        "someone is at my door saying he'll show my parents the video",
        "hay alguien en mi puerta diciendo que le va a mostrar el video a mis papás",
    ):
        meaning = signals.understand(words)
        assert meaning.intent is Intent.URGENT and "words:danger" in meaning.evidence, words
    for words in (
        "my parents will kill me if they see the pics",
        "he keeps hitting me up on snap",
        "he keeps hitting my mom up on facebook",
        "mi jefe me apunta con el dedo por todo",
        "my mom is at my door, i have to go",
    ):
        assert "words:danger" not in signals.understand(words).evidence, words
    # A method of self-harm is never read as someone else's danger.
    alone = signals.understand("estoy sola en casa con un cuchillo y ganas de terminar con esto")
    assert alone.intent is Intent.SELF_HARM


def test_warning_signs_in_other_words_are_read_as_self_harm(signals: Signals) -> None:
    # Warning signs a volunteer is trained to hear: the word lists alone must catch them, so
    # they hold whatever the model learns next.
    assert signals.is_crisis_word("my best friend just said she wants to die")
    for words in (
        "i think im about to do something stupid",
        "si sigue así voy a hacer una locura",
        "honestly i feel trapped, there is nothing to live for",
        "ojalá me muriera esta noche",
        "cuida a mi perro por mí, ¿sí?",
        "llevo 3 días sin comer y no pienso comer",
        "how do you smile when all you want to do is die",
        "I keep having thoughts of death since he posted it",
        "tengo ideas suicidas desde que pasó lo del video",
        "tengo pensamientos de muerte todo el tiempo",
        "sobreviví a un intento el año pasado y ahora esto",
        "maybe i should make it look like an accident so my parents dont know",
        "quiero que parezca un accidente para que mi familia no sepa",
        "si sube el video así termino yo",
        # A plan with a date or a method chosen, or one's own funeral planned.
        "i already picked the date, nobody needs to know",
        "i planned out how to do it if he posts them",
        "ya planeé cómo hacerlo si publica el video",
        "ya elegí la fecha y no voy a cambiar de idea",
        "estoy planeando mi funeral, en serio",
        # Each language's list has the other's classes: the pain made to stop, a quick or
        # painless death asked about, a life without meaning, leaving this world, poison.
        "i just want to make the pain stop",
        "honestly my life has no meaning since he posted it",
        "i want to leave this world",
        "thinking about drinking bleach tonight",
        "solo quiero que pare el dolor",
        "cuál es la forma más rápida de morir",
        "perdí las ganas de vivir desde que subió el video",
        "cuando ya no esté nadie va a extrañar nada",
        "dice mi amiga que se va a tirar de la azotea",
        # Said of someone else in Spanish's third person, and a few words between.
        "mi primo dejó un mensaje, dice que ya no aguanta más",
        "my brother gave away all of his games this week",
        "mi hija regaló casi todas sus cosas",
        "me mandó un audio despidiéndose",
        "no me quedan fuerzas para nada",
        # Common ways of saying it that the model reads today, held by the lists from now on.
        "creo que me voy a quitar la vida",
        "me quiero tirar de la azotea",
        "siento que soy un estorbo para todos",
        "ya nada importa desde que lo subió",
        "honestly i want it all to end",
        "i dont want to be here anymore tbh",
        # The means made ready: a rope tied, pills saved up, a gun loaded.
        "i have the rope ready",
        "rope's tied, i just need to be alone",
        "i have a plan and the means now",
        "been stockpiling pills since he sent it to my friends",
        "tengo la cuerda lista",
        "ya até la cuerda",
        "hace semanas que vengo guardando mis pastillas",
    ):
        assert signals.is_crisis_word(words), words
        assert signals.understand(words).intent is Intent.SELF_HARM, words
    # Privacy words and throwing things away are not self-harm.
    for words in ("how do i erase myself from the internet", "se va a tirar mis cosas a la basura"):
        assert not signals.is_crisis_word(words), words


# Words of the self-harm lists in their everyday sense: the lists stay out of it (the model
# still reads each one, and some it reads as self-harm at its low threshold).
EVERYDAY = [
    "can u delete my last message pls",
    "did my last message send?",
    "ignora mi último mensaje, me equivoqué de chat",
    "me corté el flequillo sola y quedó fatal",
    "me quemé la lengua con el café",
    "ya no puedo entrar a mi cuenta, me cambiaron la contraseña",
    "me amenazó con hacerme daño si no le mando más fotos",
    "hoy es mi último día en el trabajo",
    "se corta la llamada todo el tiempo",
    "me voy a tirar en la cama un rato",
    "i gave away my old bike to my cousin",
    "i could sleep forever today",
    "me muero de risa con este meme",
]
# The same words in their crisis sense: the lists still decide these outright.
CRISIS_SENSE = [
    "this will be my last message to anyone",
    "me corté otra vez",
    "me quemé a propósito",
    "quiero hacerme daño",
    "gave away all my stuff this week",
    "estoy en el borde del puente",
    "tengo ganas de tirarme por la ventana",
    "ya no puedo más",
    "no puedo seguir así",
    # Near the everyday list's phrases, but not in them: a body part, a razor blade, shame.
    "i cut myself on the arm again",
    "me corté con una hoja de afeitar",
    "i feel hopeless at this point",
    "i wanna die of embarrassment my nudes are everywhere",
    "me quiero morir de vergüenza, todos vieron mis fotos",
]


def test_list_words_in_their_everyday_sense_are_left_to_the_model(signals: Signals) -> None:
    for words in EVERYDAY:
        assert "words:self_harm" not in signals.understand(words).evidence, words
    for words in CRISIS_SENSE:
        understood = signals.understand(words)
        assert understood.intent is Intent.SELF_HARM, words
        assert "words:self_harm" in understood.evidence, words
    # Where the model reads them as everyday too, the person no longer gets the crisis path.
    assert signals.understand("can u delete my last message pls").intent is Intent.ERASE
    threat = signals.understand("me amenazó con hacerme daño si no le mando más fotos")
    assert threat.intent is Intent.THREATENED
    for words in ("did my last message send?", "me quemé la lengua con el café"):
        assert signals.understand(words).intent is Intent.OTHER, words


def test_a_short_request_for_a_feature_by_name_opens_it_never_the_crisis_path(
    signals: Signals,
) -> None:
    # The bot's own words ("plan", "note") lean to self-harm in the model: asked for by name,
    # they are requests (the lines are written for this test).
    for words, feature in (
        ("Sí, hacer mi plan", "triage"),
        ("ok make me a plan", "triage"),
        ("i want to write a note", "note"),
        ("quiero escribir una nota", "note"),
        ("can you check this message", "check"),
        ("revisame un mensaje porfa", "check"),
        ("i want to read the guides", "guides"),
        ("lineas de ayuda de chile", "helplines"),
        ("is this chat private?", "privacy"),
        ("qué datos guardan de mí", "privacy"),
    ):
        meaning = signals.understand(words)
        assert meaning.intent is Intent.OTHER, words
        assert f"words:feature:{feature}" in meaning.evidence, words
    # Self-harm in the same words stays self-harm; a refusal, a deadline or a story is not a
    # request.
    for words in ("quiero escribir una nota de despedida", "i have a plan to kill myself"):
        assert signals.understand(words).intent is Intent.SELF_HARM, words
    # Asked about privacy in order to have it erased: the erase choices, not the privacy page.
    wipe = signals.understand("do u keep my messages? delete them")
    assert wipe.intent is Intent.ERASE and not any("feature" in e for e in wipe.evidence)
    for words in (
        "no quiero ningún plan",
        "need a plan, he posts them tonight",
        "i want to write a note about what he did to me last week at the party",
    ):
        assert not any(e.startswith("words:feature") for e in signals.understand(words).evidence)


def test_a_threat_with_a_deadline_in_hours_or_days_or_number_words_is_urgent(
    signals: Signals,
) -> None:
    for words in (
        "he says I have 24 hours to pay 500 or he sends the video to my family",
        "pay $300 or he posts my pics, he gave me two days",
        "they want 1000 in less than 48h or everyone sees the video",
        "me dio 48 horas de plazo para pagar o publica las fotos",
        "dice que si no le pago en menos de cuarenta y ocho horas sube mis fotos",
    ):
        meaning = signals.understand(words)
        assert meaning.intent is Intent.URGENT, words
    # A threat with no near deadline stays a threat (its plan, not the danger screen).
    later = signals.understand("he gave me until next month to pay or he posts the pics")
    assert later.intent is not Intent.URGENT


def test_a_deadline_by_a_clock_time_is_urgent_even_when_the_model_reads_a_threat(
    signals: Signals,
) -> None:
    # The model reads these as a threat or a payment; "by 8 pm", "para las 10", "hasta las 11"
    # in the word lists make them the next-ten-minutes checklist.
    for words in (
        "i paid once and he wants more by 8 pm",
        "he keeps asking for money, by 9pm he says",
        "ya le pagué y quiere más para las 10",
        "me exige transferirle hasta las 11",
        "el extorsionador quiere el pago para las 8",
    ):
        meaning = signals.understand(words)
        assert meaning.intent is Intent.URGENT and "words:deadline" in meaning.evidence, words


def test_a_situation_that_happens_to_someone_else_leads_to_the_helper_path(
    signals: Signals,
) -> None:
    # The model names the situation (a deepfake, images shared); the words say it is a
    # daughter's or a student's, so a parent or a teacher is writing.
    for words in (
        "someone made fake nudes of my daughter and posted them",
        "alguien subió fotos íntimas de mi alumna a un grupo",
        # A possessive, its apostrophe dropped by folding: "my sister's" reads "my sisters".
        "my sister's nudes got posted on reddit",
        "my best friend's nudes are on reddit now",
    ):
        meaning = signals.understand(words)
        assert meaning.intent is Intent.HELPER and "words:someone_else" in meaning.evidence, words
    # The writer's own images, sent to a friend or shown by a cousin: not the helper path.
    for words in (
        "he sent my pics to my friend",
        "mi primo tiene fotos mías y dice que las va a enseñar",
        "the pictures are out and my friends saw them",
        # A recording of "us": the writer is in it, whoever else is named.
        "my ex is sharing a video of us, my friend saw it in a discord server",
        "mi ex anda pasando un video de los dos, mi amiga lo vio en un grupo",
    ):
        assert signals.understand(words).intent is not Intent.HELPER, words


def test_a_person_naming_their_own_work_is_not_sent_to_the_helper_path(signals: Signals) -> None:
    # "I'm a teacher", "soy enfermera": helpers often open that way, but when the images are
    # the writer's own and no one else is named, the situation is theirs.
    for words in (
        "I'm a sex worker and someone reposted my content with my real name and address",
        "soy trabajadora sexual y alguien subió mi contenido con mi nombre real",
        "i'm a teacher and my private pictures got posted where my students can see them",
        "soy enfermero y uno de una app dice que va a mostrar mi video en mi trabajo",
    ):
        meaning = signals.understand(words)
        assert meaning.intent in (Intent.SHARED, Intent.THREATENED, Intent.DEEPFAKE), words
    # With a near deadline, as for anyone: the next ten minutes first.
    meaning = signals.understand(
        "soy trabajadora sexual y un cliente amenaza con mandar mi contenido a mi familia "
        "en 2 horas"
    )
    assert meaning.intent is Intent.URGENT and "words:my_images" in meaning.evidence
    # Someone else's images, named by a professional: still the helper path.
    for words in (
        "i'm a teacher and one of my students says someone has her nudes",
        "soy enfermera y una paciente me contó que su ex subió sus fotos",
    ):
        assert signals.understand(words).intent is Intent.HELPER, words


@pytest.mark.parametrize("words", ["hey", "Hey!!", "heyyy", "hi there", "buenas tardes", "holaaa"])
def test_a_greeting_alone_gets_the_what_i_can_do_reply(signals: Signals, words: str) -> None:
    meaning = signals.understand(words)
    assert meaning.intent is Intent.OTHER and "words:greeting" in meaning.evidence


def test_a_strangers_opener_is_still_someone_elses_message(signals: Signals) -> None:
    # Only a whole message that is a greeting: "hey beautiful" is a stranger's line.
    assert signals.understand("hey beautiful 😘").intent is Intent.PASTED


def test_a_fake_account_posting_real_images_is_not_a_deepfake(signals: Signals) -> None:
    # "fake" leans to deepfake in the model; a fake account with the person's real images is
    # images shared (or threatened), and the takedown answers fit it.
    for words in (
        "there's a fake onlyfans selling my photos",
        "someone made a fake profile with my private photos",
        "hicieron un onlyfans falso con mis fotos y las venden",
    ):
        meaning = signals.understand(words)
        assert meaning.intent is Intent.SHARED and "words:fake_account" in meaning.evidence
    # Someone else's real images on a fake account: the helper path, as for any situation.
    daughter = signals.understand("alguien hizo un perfil falso con las fotos privadas de mi hija")
    assert daughter.intent is Intent.HELPER and "words:fake_account" in daughter.evidence
    # Faked images on a fake account stay a deepfake.
    for words in (
        "a fake account posted ai nudes of me",
        "un perfil falso sube fotos mías editadas",
    ):
        assert signals.understand(words).intent is Intent.DEEPFAKE, words


def test_a_huge_message_is_read_in_bounded_time(signals: Signals) -> None:
    started = time.perf_counter()
    meaning = signals.understand("I want to die " + "blah " * 20_000)
    # Bounded by MAX_CHARS, not by the length; the benchmark measures the real cost.
    assert meaning.intent is Intent.SELF_HARM
    assert time.perf_counter() - started < 5


# ---------------------------------------------------------------- where the flow leads


def _text(words: str, intent: Intent, **answers: str) -> Text:
    return Text(words, meaning=Understanding(intent, 0.9, (), answers))


def test_self_harm_gets_warm_words_and_the_crisis_lines_not_a_menu() -> None:
    outcome = step(State(country="US"), _text("...", Intent.SELF_HARM))
    (reply,) = outcome.replies
    assert reply.parts[0] == T("understand.self_harm")
    assert reply.parts[1] == Contacts("US", urgent=True, crisis_first=True)
    assert len(reply.buttons) <= 3  # the crisis steps, helplines and the menu: no menu dump


def test_self_harm_with_no_country_asks_it_in_the_same_message() -> None:
    (reply,) = step(State(), _text("...", Intent.SELF_HARM)).replies
    assert Contacts("INT", urgent=True, crisis_first=True) in reply.parts
    assert T("understand.self_harm.where") in reply.parts
    assert "cs:GB" in [button.data for row in reply.buttons for button in row]
    chosen = step(State(), Pressed("cs:GB"))
    assert Contacts("GB", urgent=True, crisis_first=True) in chosen.replies[0].parts
    assert chosen.state.country == "GB"


def test_a_crisis_in_words_interrupts_triage_and_checking() -> None:
    for mode in (Mode.TRIAGE, Mode.CHECK, Mode.CONFIRM_FORGET):
        outcome = step(State(mode=mode, country="US"), _text("...", Intent.SELF_HARM))
        assert outcome.replies[0].parts[0] == T("understand.self_harm")
        assert outcome.state.mode is Mode.IDLE


def test_a_deadline_gets_the_next_ten_minutes_checklist() -> None:
    (reply,) = step(State(country="GB"), _text("...", Intent.URGENT)).replies
    # The emergency number first (issue 17), then the warm words and the checklist.
    emergency = Contacts("GB", urgent=True, only="emergency")
    assert reply.parts[:3] == (emergency, T("understand.urgent"), T("crisis.checklist"))


def test_a_situation_in_words_is_offered_as_a_plan_to_confirm() -> None:
    words = _text("...", Intent.PAID, s="threat", p="yes", w="stranger")
    outcome = step(State(country="US"), replace_hints(words, HINT_MINOR))
    parts = outcome.replies[0].parts
    assert parts[0] == T("understand.paid")
    assert T("understand.summary.p.yes") in parts and T("understand.summary.n.minor") in parts
    assert dict(outcome.state.proposed) == {
        "s": "threat",
        "p": "yes",
        "w": "stranger",
        "n": "minor",
    }
    offered = [button.data for row in outcome.replies[0].buttons for button in row]
    assert offered[:2] == [Action.TRIAGE_PROPOSED.value, Action.TRIAGE_FRESH.value]
    assert f"g:{GuideId.UNDER_18.value}" in offered
    # Confirmed: only what is still unknown is asked (whether they are in danger).
    confirmed = step(outcome.state, Pressed(Action.TRIAGE_PROPOSED.value))
    assert confirmed.state.mode is Mode.TRIAGE
    assert confirmed.replies[0].parts == (T("triage.q.d"),)
    assert dict(confirmed.state.answers) == {
        "c": "US",
        "s": "threat",
        "p": "yes",
        "w": "stranger",
        "n": "minor",
    }
    fresh = step(outcome.state, Pressed(Action.TRIAGE_FRESH.value))
    assert dict(fresh.state.answers) == {"c": "US"} and not fresh.state.proposed


def test_erase_words_offer_both_levels_and_erase_nothing() -> None:
    outcome = step(State(), _text("...", Intent.ERASE))
    assert not outcome.effects
    offered = [button.data for row in outcome.replies[0].buttons for button in row]
    assert Action.CLEAR.value in offered and Action.FORGET.value in offered
    # "Erase everything" still asks once more.
    assert step(outcome.state, Pressed(Action.FORGET.value)).state.mode is Mode.CONFIRM_FORGET


def test_someone_elses_message_is_held_and_a_check_offered() -> None:
    outcome = step(State(), _text("pay me or else", Intent.PASTED))
    assert outcome.effects == (OfferCheck("pay me or else"),)
    offered = [button.data for row in outcome.replies[0].buttons for button in row]
    assert Action.CHECK_TYPED.value in offered


def test_words_that_may_be_someone_elses_message_get_check_this_message(
    signals: Signals,
) -> None:
    # Read as `other`, but with some chance of being a pasted message: the "what I can do"
    # reply holds them and offers to check them as they are (written for this test).
    meaning = signals.understand("i see you read my message")
    assert meaning.intent is Intent.OTHER and "model:maybe_pasted" in meaning.evidence
    outcome = step(State(), Text("i see you read my message", meaning=meaning))
    assert outcome.effects == (OfferCheck("i see you read my message"),)
    offered = [button.data for row in outcome.replies[0].buttons for button in row]
    assert Action.CHECK_TYPED.value in offered and Action.CHECK.value not in offered
    assert Action.TALK.value in offered
    # Plain chatter is not held, and keeps "Check a message".
    hello = signals.understand("hello")
    assert "model:maybe_pasted" not in hello.evidence
    plain = step(State(), Text("hello", meaning=hello))
    assert plain.effects == ()
    offered = [button.data for row in plain.replies[0].buttons for button in row]
    assert Action.CHECK.value in offered and Action.CHECK_TYPED.value not in offered


def test_a_forged_proposal_is_dropped_when_the_state_is_read_back() -> None:
    raw = State(proposed={"s": "threat"}).to_bytes().replace(b'"threat"', b'"<script>"')
    assert dict(State.from_bytes(raw).proposed) == {}


def replace_hints(event: Text, *hints: str) -> Text:
    return Text(event.text, frozenset(hints), event.meaning)


# ---------------------------------------------------------------- through the service

_ids = itertools.count(50_000)


async def test_a_pasted_message_is_checked_on_request_and_then_leaves_the_chat(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "81")
    shown = await chat.say("Send me $500 in bitcoin or your video goes to all your contacts")
    assert "looks like a message someone sent you" in shown
    assert not front.deleted  # offered, not yet checked: the message stays until they choose
    result = await chat.press(Action.CHECK_TYPED.value)
    assert "bitcoin" in result  # the check quotes the message's own words
    bot_ids = {call.message_id for call in front.calls}
    assert [i for i in front.deleted if i not in bot_ids]  # the pasted message is gone


async def test_a_held_message_expires_and_is_not_checked(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "82")
    await chat.say("Send me $500 in bitcoin or your video goes to all your contacts")
    service._clock = lambda: time.time() + 3600  # type: ignore[method-assign]
    assert "no longer hold" in await chat.press(Action.CHECK_TYPED.value)


async def test_a_note_typed_before_private_notes_exist_is_held_and_saved(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "83")
    shown = await chat.command("note", "he wants 500 in gift cards")
    assert "holding the note you typed for 10 minutes" in shown
    saved = await chat.turn_on_vault()
    assert "Saved the note you typed earlier as note 1" in saved
    assert "he wants 500 in gift cards" in saved


async def test_a_held_note_is_discarded_after_ten_minutes(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "84")
    await chat.command("note", "he wants 500 in gift cards")
    later = time.time() + 601
    service._clock = lambda: later  # type: ignore[method-assign]
    service.vaults._clock = lambda: later  # type: ignore[attr-defined]
    shown = await chat.turn_on_vault()
    assert "Saved the note" not in shown and "gift cards" not in shown


async def test_a_held_note_is_discarded_on_erase(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "85")
    await chat.command("note", "he wants 500 in gift cards")
    await chat.command("forget")
    await chat.press(Action.FORGET_YES.value)
    shown = await chat.turn_on_vault()
    assert "Saved the note" not in shown and "gift cards" not in shown


async def test_a_note_typed_while_the_vault_is_locked_is_saved_on_unlock(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "86")
    await chat.turn_on_vault("quiet orange lantern")
    await chat.press("v:lock")
    assert "holding the note" in await chat.command("note", "he called from a new number")
    shown = await chat.say("quiet orange lantern")
    assert "Saved the note you typed earlier as note 1" in shown


@pytest.mark.parametrize(
    ("words", "language", "expected"),
    [
        ("I want to die", "en", "I'm really glad you wrote"),
        ("me quiero morir", "es", "Me alegra mucho que hayas escrito"),
        ("he says he'll post it in 10 minutes", "en", "The next ten minutes"),
        ("dice que las sube en 10 minutos si no le pago", "es", "Los próximos diez minutos"),
        ("my ex posted my nudes online", "en", "Is that right?"),
        ("mi ex subió mis fotos íntimas a una página", "es", "¿Es así?"),
        ("I'm asking for a friend", "en", "looking out for them"),
        ("pregunto por una amiga a la que están chantajeando", "es", "estés pendiente"),
        ("how do i delete this chat", "en", "remove this conversation in two ways"),
        ("quiero borrar todo lo que hablamos aquí", "es", "quitar esta conversación"),
        ("hello", "en", "I'm a bot"),
        ("hola", "es", "Soy un bot"),
    ],
)
async def test_words_lead_where_a_volunteer_would_in_both_languages(
    service: Service, front: RecordingFrontEnd, words: str, language: str, expected: str
) -> None:
    incoming = Incoming("test", "90", "90", Text(words), next(_ids), None, language)
    await service.handle(incoming, front)
    assert expected in front.texts[-1]
    assert "can't read messages" not in front.texts[-1]


def test_words_typed_in_the_middle_of_triage_keep_what_was_answered() -> None:
    answered = State(mode=Mode.TRIAGE, country="US", answers={"c": "US", "d": "no", "a": "adult"})
    outcome = step(answered, _text("...", Intent.PAID, s="threat", p="yes"))
    assert dict(outcome.state.proposed) == {"d": "no", "a": "adult", "s": "threat", "p": "yes"}
    assert outcome.state.mode is Mode.IDLE
    # A short answer typed instead of pressed is still taken as meant for the question.
    again = step(answered, _text("yes", Intent.OTHER))
    assert T("triage.use_buttons") in again.replies[0].parts and again.state.mode is Mode.TRIAGE


async def test_held_texts_leave_memory_when_their_time_is_up_even_if_nobody_returns(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "87")
    await chat.say("Send me $500 in bitcoin or your video goes to all your contacts")
    await chat.command("note", "he wants 500 in gift cards")
    assert service._typed and service._desk._held_notes
    later = time.time() + 601
    service._clock = lambda: later  # type: ignore[method-assign]
    await service.tick(front)
    assert not service._typed and not service._desk._held_notes


def test_words_that_urge_the_reader_to_self_harm_are_told_from_a_boast_or_a_laugh(
    signals: Signals,
) -> None:
    for words in ("pay or kys", "KILL URSELF", "nadie te va a extrañar", "ojalá te mueras"):
        assert signals.self_harm_in_message(words) == "push_self_harm", words
    for words in ("i just died laughing", "muérete de envidia, tengo coche"):
        assert signals.self_harm_in_message(words) is None, words
    # The writer's own words of self-harm (a friend's goodbye), slips mended as when typed.
    for words in ("i want to die", "i cant do this anymore, goodbye", "mjeor me muero"):
        assert signals.self_harm_in_message(words) == "self_harm_words", words


def test_no_button_label_is_a_cry_for_help_or_words_of_self_harm(texts: Texts) -> None:
    # In the console and on Signal a typed label presses its button: a label that was a cry
    # ("Help", "Ayuda") would turn "help" typed in a crisis into a press of that button.
    signals = Signals.from_texts(texts)
    for locale in texts.locales:
        for key in texts.keys(locale):
            label = texts.raw(locale, key) or ""
            if key.startswith("button.") and "{" not in label:
                assert not signals.is_crisis_word(label), (locale, key, label)


def test_each_languages_lists_hold_the_others_deadlines_relations_and_payments(
    signals: Signals,
) -> None:
    # Deadlines, someone else's images and a payment made, as the other language had them.
    for words in (
        "he wants the money as soon as possible or he sends the video",
        "dice que tengo que pagar a más tardar el viernes o lo publica",
    ):
        meaning = signals.understand(words)
        assert meaning.intent is Intent.URGENT and "words:deadline" in meaning.evidence, words
    for words in (
        "publicaron el video de mi novia en una página",
        "my stepson is being blackmailed with a video",
    ):
        assert signals.understand(words).intent is Intent.HELPER, words
    for words in ("le hice una transferencia y ahora quiere más", "i sent him 200 last night"):
        assert signals.understand(words).answers.get("p") == "yes", words
