"""Check a message: every flag quoted in both languages, look-alikes left alone, rules refused."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from safetybot.cli import main
from safetybot.errors import LocaleError
from safetybot.guidance.evaluation import FIRST_SET as DEFAULT_DATA
from safetybot.guidance.evaluation import MAX_FALSE_ALARMS, MIN_RECALL, evaluate, load_examples
from safetybot.guidance.redflags import (
    FILE_NAME,
    MAX_CHARS,
    MAX_QUOTE,
    QUESTIONS,
    Flag,
    Level,
    Rules,
    check_rules,
    normalize,
)

LOCALES = Path(__file__).resolve().parent.parent / "locales"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load(LOCALES)


def _quotes(rules: Rules, text: str, flag: Flag) -> tuple[str, ...]:
    return next((hit.quotes for hit in rules.check(text).flags if hit.flag == flag), ())


# One realistic message per flag and language, and words the quote must contain.
SHOWN = [
    (Flag.PAYMENT_DEMAND, "Send $500 now or everyone sees it.", "Send $500"),
    (Flag.PAYMENT_DEMAND, "Si no me pagas 300 dólares, lo publico.", "pagas"),
    (Flag.PAYMENT_DETAILS, "Pay 200 in Steam gift cards, send me the codes.", "gift cards"),
    (
        Flag.PAYMENT_DETAILS,
        "Manda 100 USDT a esta dirección: bc1qfake0000000000000000000000000000000000",
        "bc1qfake",
    ),
    (Flag.DEADLINE, "You have 30 minutes. Then the video goes to your boss.", "30 minutes"),
    (Flag.DEADLINE, "Tienes 2 horas para pagar o se lo mando a tu familia.", "2 horas"),
    (Flag.THREAT_TO_SHARE, "Pay me or I send the video to all your followers.", "send the video"),
    (Flag.THREAT_TO_SHARE, "Si no pagas, tus seguidores van a ver el video.", "seguidores"),
    (
        Flag.CLAIMS_IMAGES,
        "I screen recorded our video call, every second of it.",
        "recorded our video call",
    ),
    (Flag.CLAIMS_IMAGES, "Tengo grabada nuestra videollamada.", "grabada nuestra videollamada"),
    (Flag.HACKED_DEVICE, "I hacked your webcam months ago and I know your password.", "hacked"),
    (Flag.HACKED_DEVICE, "Hackeé tu cámara web hace meses y sé tu contraseña.", "Hackeé tu cámara"),
    (Flag.MOVE_APP, "I barely use this app, add me on Snapchat?", "add me on Snapchat"),
    (Flag.MOVE_APP, "Casi no uso esta app, ¿nos pasamos a WhatsApp?", "WhatsApp"),
    (
        Flag.SEXUAL_REQUEST_NEW_CONTACT,
        "You don't know me but you're cute. Send me nudes 😘",
        "Send me nudes",
    ),
    (
        Flag.SEXUAL_REQUEST_NEW_CONTACT,
        "No me conoces pero eres lindo. ¿Hacemos videollamada desnudos?",
        "videollamada desnudos",
    ),
    (Flag.PRESSURE_MORE, "Come on, just one more pic. Don't be shy.", "one more pic"),
    (Flag.PRESSURE_MORE, "Anda, solo una foto más. No seas tímida.", "solo una foto"),
    (Flag.IMPERSONATION, "It's me, Sam! New account, my old one got hacked.", "New account"),
    (Flag.IMPERSONATION, "Le habla el agente Ruiz de la Policía Cibernética.", "agente Ruiz"),
    (Flag.MENTIONS_MINOR, "She is only 15 years old and you sent her that.", "15 years old"),
    (Flag.MENTIONS_MINOR, "La chica tiene 14 años y usted le escribió.", "14 años"),
]


@pytest.mark.parametrize(("flag", "text", "words"), SHOWN)
def test_every_flag_is_shown_with_the_words_that_triggered_it(
    rules: Rules, flag: Flag, text: str, words: str
) -> None:
    quotes = _quotes(rules, text, flag)
    assert quotes, f"{flag} not found"
    assert any(words in quote for quote in quotes), quotes
    assert all(quote in text and 0 < len(quote) <= MAX_QUOTE for quote in quotes)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # A sexual request from someone new, in the many ways it is put (written for this test).
        ("saw u on my explore page 😊 send me a pic in ur underwear", "in ur underwear"),
        ("hey cutie, lets move to telegram. send me something naughty", "something naughty"),
        ("we matched! wanna see you naked on cam tonight", "see you naked"),
        ("te vi en free fire, pasame una foto sin nada", "una foto sin nada"),
        ("hola preciosa, ¿tienes fotos más atrevidas?", "fotos más atrevidas"),
        ("llevamos dos días hablando, quiero verte sin ropa", "verte sin ropa"),
    ],
)
def test_a_sexual_request_from_someone_new_is_found_in_other_words(
    rules: Rules, text: str, words: str
) -> None:
    quotes = _quotes(rules, text, Flag.SEXUAL_REQUEST_NEW_CONTACT)
    assert any(words in quote for quote in quotes), quotes


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # Someone under 18 named in the ways extortion and fake-police scripts put it.
        ("Your chat with a 16-year-old has been recorded. Pay the fine.", "16-year-old"),
        ("ur like 13 lol, send it or i post it", "ur like 13"),
        ("I KNOW UR IN GRADE 9", "GRADE 9"),
        ("tengo las fotos de cuando tenías 16", "tenías 16"),
        ("intercambió mensajes con una adolescente de 16", "adolescente de 16"),
        ("lo subo a los grupos de 2º de bachillerato", "bachillerato"),
    ],
)
def test_someone_under_18_is_found_in_other_words(rules: Rules, text: str, words: str) -> None:
    quotes = _quotes(rules, text, Flag.MENTIONS_MINOR)
    assert any(words in quote for quote in quotes), quotes


@pytest.mark.parametrize(
    ("text", "flag", "words"),
    [
        # The formal register of fake law firms and agencies: the threat and the claim named
        # without "I'll post your nudes".
        (
            "Kindly be advised that the intimate footage we hold will be circulated to your "
            "colleagues should the fee remain unpaid.",
            Flag.THREAT_TO_SHARE,
            "will be circulated",
        ),
        (
            "Our client is willing to refrain from publishing the explicit recordings, subject "
            "to a settlement of EUR 3,000.",
            Flag.THREAT_TO_SHARE,
            "refrain from publishing",
        ),
        (
            "The compromising material in our possession concerns your private video session.",
            Flag.CLAIMS_IMAGES,
            "in our possession",
        ),
        (
            "Sírvase tomar nota de que las grabaciones íntimas serán difundidas entre sus "
            "contactos si no se recibe el pago.",
            Flag.THREAT_TO_SHARE,
            "serán difundidas",
        ),
        (
            "Obran en nuestro poder imágenes comprometedoras de su encuentro en el hotel.",
            Flag.CLAIMS_IMAGES,
            "Obran en nuestro poder",
        ),
    ],
)
def test_a_threat_in_a_formal_register_is_named_with_its_words(
    rules: Rules, text: str, flag: Flag, words: str
) -> None:
    quotes = _quotes(rules, text, flag)
    assert any(words in quote for quote in quotes), quotes


def test_a_formal_notice_about_ordinary_recordings_is_not_a_threat(rules: Rules) -> None:
    for text in (
        "Please be advised that the recordings of the webinar will be released to attendees "
        "on Friday.",
        "Failure to remit payment will result in publication of your name in the list of debtors.",
        "Le informamos que las grabaciones del seminario serán enviadas a todos los inscritos "
        "el lunes.",
        "Obra en nuestro poder su solicitud; deberá abonar la tasa antes del viernes.",
    ):
        found = {hit.flag for hit in rules.check(text).flags}
        assert not found & {Flag.THREAT_TO_SHARE, Flag.CLAIMS_IMAGES}, (text, found)


def test_times_and_amounts_are_not_ages(rules: Rules) -> None:
    for text in (
        "hace 1 año que no hablamos",
        "tenía 15 minutos para pagar",
        "the bill is 16 dollars",
        "my sister is 15 minutes away",
    ):
        assert not _quotes(rules, text, Flag.MENTIONS_MINOR), text


def test_a_partners_flirting_is_not_a_request_from_someone_new(rules: Rules) -> None:
    for text in (
        "Miss you babe 😘 send me a pic of that red dress before the party tonight?",
        "mi amor, mándame una foto del vestido para ver si me gusta",
        "send me the photos from the trip when you can",
    ):
        assert not _quotes(rules, text, Flag.SEXUAL_REQUEST_NEW_CONTACT), text


def test_every_flag_has_an_example_in_english_and_in_spanish() -> None:
    for flag in Flag:
        assert sum(f == flag for f, _, _ in SHOWN) >= 2, flag


@pytest.mark.parametrize(
    "text",
    [
        "Miss you babe 😘 send me a pic of that red dress before the party tonight?",
        "Invoice 118: please pay $480 by bank transfer to IBAN GB82 WEST 1234 5698 7654 32.",
        "URGENT: pay your phone bill of $45 today with gift cards to avoid a late fee.",
        "Reminder: your essay is due by 11:59 pm tonight.",
        "Here are the beach photos! I'll send the rest to your mom too since she asked.",
        "This app is slow, can we switch to WhatsApp? Same number.",
        "You're a liar and everyone at school knows it.",
        "Your password was changed. If this wasn't you, reset it within 24 hours.",
        "I have your photos from the wedding, want me to send them?",
        "Te paso las fotos de la playa, también se las mando a tu mamá que me las pidió.",
        "Hazme bizum de 12 € por la cena antes de esta noche porfa.",
        "Le escribe Marta del consultorio dental para confirmar su cita.",
        "Deja de escribirme o te bloqueo y le cuento a todos que estás loca.",
        "Tu contraseña apareció en una filtración. Cámbiala hoy.",
    ],
)
def test_benign_look_alikes_raise_no_alarm(rules: Rules, text: str) -> None:
    finding = rules.check(text)
    assert not finding.level.at_least(Level.LIKELY), [h.flag.value for h in finding.flags]
    assert not finding.ids & {Flag.THREAT_TO_SHARE, Flag.CLAIMS_IMAGES, Flag.HACKED_DEVICE}


def test_a_bill_with_a_deadline_is_never_more_than_some(rules: Rules) -> None:
    finding = rules.check("Pay $900 via PayPal within 2 hours, IBAN GB82 WEST 1234 5698 7654 32")
    assert {Flag.PAYMENT_DEMAND, Flag.PAYMENT_DETAILS, Flag.DEADLINE} <= finding.ids
    assert finding.level == Level.SOME  # money and a deadline alone are a bill, not sextortion


def test_a_classic_script_is_very_likely_and_urgent(rules: Rules) -> None:
    finding = rules.check(
        "I recorded our video call. Send $500 in Apple gift cards in the next 2 hours "
        "or the video goes to your family and all your followers."
    )
    assert finding.level == Level.VERY_LIKELY and finding.urgent
    assert {Flag.CLAIMS_IMAGES, Flag.PAYMENT_DEMAND, Flag.DEADLINE, Flag.THREAT_TO_SHARE} <= (
        finding.ids
    )


def test_quotes_are_exact_substrings_of_the_original_text(rules: Rules) -> None:
    texts = [example.text for example in load_examples(DEFAULT_DATA)]
    texts += [
        "TENGO TUS FOTOS ÍNTIMAS y si no me pagas las publico",  # capitals and accents
        "I\u200b have your nu\u200bdes. Pay or I leak them",  # zero-width spaces hide words
        "I’ll post the pics on every site unless you pay",  # a curly apostrophe
        "Tengo tus fotos; si no pagas se las mando a tu mama\u0301",  # a decomposed accent
    ]
    found = 0
    for text in texts:
        for hit in rules.check(text).flags:
            for quote in hit.quotes:
                assert quote and quote in text and len(quote) <= MAX_QUOTE, (hit.flag, quote)
                found += 1
    assert found > 500


def test_hidden_and_decorated_words_are_still_read(rules: Rules) -> None:
    assert Flag.CLAIMS_IMAGES in rules.check("I\u200b have your nu\u200bdes").ids
    assert normalize("Año  ÍNTIMO\n’") == "ano intimo '"
    assert Flag.PAYMENT_DEMAND in rules.check("𝐏𝐚𝐲 𝐦𝐞 $500").ids  # mathematical bold letters


def test_mixed_languages_are_checked_against_every_locale(rules: Rules) -> None:
    finding = rules.check("Tengo tus fotos. Pay me in bitcoin or your family sees everything 😈")
    assert {Flag.CLAIMS_IMAGES, Flag.PAYMENT_DEMAND, Flag.THREAT_TO_SHARE} <= finding.ids
    assert _quotes(rules, "Tengo tus fotos. Pay me now", Flag.CLAIMS_IMAGES) == ("Tengo tus fotos",)


@pytest.mark.parametrize(
    ("text", "quote"),
    [
        ("Transfer to IBAN ES91 2100 0418 4502 0005 1332 now", "ES91 2100 0418 4502 0005 1332"),
        ("card 4111 1111 1111 1111 please", "4111 1111 1111 1111"),
        (
            "0x1234567890abcdef1234567890abcdef12345678",
            "0x1234567890abcdef1234567890abcdef12345678",
        ),
        ("wallet 1FakeBtcAddrEssForTestsQQQQzzzz", "1FakeBtcAddrEssForTestsQQQQzzzz"),
    ],
)
def test_wallets_ibans_and_card_numbers_are_found_by_their_shape(
    rules: Rules, text: str, quote: str
) -> None:
    assert quote in _quotes(rules, text, Flag.PAYMENT_DETAILS)


@pytest.mark.parametrize(
    "text",
    ["ES91 2100 0418 4502 0005 1333", "4111 1111 1111 1112", "order 1234567890123456789012"],
)
def test_numbers_that_fail_their_checksum_are_not_payment_details(rules: Rules, text: str) -> None:
    assert Flag.PAYMENT_DETAILS not in rules.check(text).ids


@pytest.mark.parametrize(
    "text", ["", "   \n\t ", "😀🔥❤️", "⏳⏳⏳", "\u200b\u200d", "?!…", "🙂" * 30_000]
)
def test_empty_and_emoji_only_messages_have_no_flags(rules: Rules, text: str) -> None:
    finding = rules.check(text)
    assert finding.empty and finding.flags == () and finding.level == Level.NONE
    assert finding.score == 0 and not finding.urgent


ADVERSARIAL = [
    "a" * MAX_CHARS,
    "1" * MAX_CHARS,
    "1 " * (MAX_CHARS // 2),
    "send " * (MAX_CHARS // 5),
    "your pics or " * (MAX_CHARS // 13),
    "tengo tus fotos si no " * (MAX_CHARS // 22),
    "aa11" * (MAX_CHARS // 4),
    "bc1" + "q" * MAX_CHARS,
    "\ufdfa" * MAX_CHARS,  # one character that decomposes into eighteen
    " ".join(["send", "to", "your", "family", "or", "pay", "$5", "24", "hours", "tengo"] * 2000),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_long_adversarial_input_is_checked_on_its_first_20000_characters(
    rules: Rules, text: str
) -> None:
    finding = rules.check(text + " I have your nudes")
    assert finding.truncated
    quotes = [q for hit in finding.flags for q in hit.quotes]
    assert not any("your nudes" in q for q in quotes)  # the tail past the limit was not read
    assert all(len(q) <= MAX_QUOTE for hit in finding.flags for q in hit.quotes)


def test_a_message_just_under_the_limit_is_read_whole(rules: Rules) -> None:
    text = "x " * ((MAX_CHARS - 20) // 2) + "I have your nudes"
    finding = rules.check(text)
    assert not finding.truncated and Flag.CLAIMS_IMAGES in finding.ids


def test_findings_never_show_the_text_in_their_repr_or_logs(
    rules: Rules, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    finding = rules.check("I have your nudes, pay $300 or I post them")
    assert "nudes" not in repr(finding) and "$300" not in repr(finding)
    assert caplog.records == []


# ---------------------------------------------------------------- the questionnaire


def test_the_questionnaire_asks_once_about_every_flag() -> None:
    assert sorted(q.flag for q in QUESTIONS) == sorted(Flag)
    assert {q.key for q in QUESTIONS} == {f"check.q.{flag.value}" for flag in Flag}


def test_answers_are_scored_with_the_same_weights_and_levels_as_messages(rules: Rules) -> None:
    message = rules.check("I have your video. Pay $300 or your family sees it.")
    answers = rules.score_answers(flag.value for flag in message.ids)
    assert (answers.level, answers.score, answers.ids) == (
        message.level,
        message.score,
        message.ids,
    )
    assert all(hit.quotes == () for hit in answers.flags)


def test_answers_follow_the_levels() -> None:
    rules = Rules.load(LOCALES)
    assert rules.score_answers([]).level == Level.NONE
    assert rules.score_answers(["move_app"]).level == Level.SOME
    assert (
        rules.score_answers(["payment_demand", "payment_details", "deadline"]).level == Level.SOME
    )
    assert rules.score_answers(["threat_to_share"]).level == Level.LIKELY
    found = rules.score_answers(["threat_to_share", "payment_demand", "deadline", "claims_images"])
    assert found.level == Level.VERY_LIKELY and found.urgent
    with pytest.raises(ValueError, match="not a red flag"):
        rules.score_answers(["nudes"])


# ---------------------------------------------------------------- the evaluation


def test_the_labelled_set_is_large_varied_and_has_a_holdout() -> None:
    examples = load_examples(DEFAULT_DATA)
    langs = [e.lang for e in examples]
    assert len(examples) >= 150 and langs.count("en") >= 60 and langs.count("es") >= 60
    assert langs.count("mixed") >= 5
    assert sum(not e.extortion for e in examples) >= 60
    assert sum(e.split == "holdout" for e in examples) >= len(examples) // 5
    for flag in Flag:
        assert sum(flag in e.flags for e in examples if e.lang == "en") >= 3, flag
        assert sum(flag in e.flags for e in examples if e.lang == "es") >= 3, flag


def test_the_rules_meet_the_targets_in_both_languages(rules: Rules) -> None:
    result = evaluate(rules, load_examples(DEFAULT_DATA))
    for lang in ("en", "es", "all"):
        found = result.slice(lang)
        assert found.recall >= MIN_RECALL, (lang, result.missed)
        assert found.false_alarm_rate <= MAX_FALSE_ALARMS, (lang, result.false_alarms)
    assert result.passed


def test_evaluate_check_prints_the_table_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    # The rules alone on the set they were written with.
    assert main(["evaluate-check", "--rules-only", "--data", str(DEFAULT_DATA)], env={}) == 0
    out = capsys.readouterr().out
    assert "precision / recall" in out and "holdout" in out and "MET" in out
    assert all(flag.value in out for flag in Flag)


def test_evaluate_check_measures_the_shipped_held_out_split_with_the_model(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["evaluate-check"], env={})
    out = capsys.readouterr().out
    assert "(rules and model): heldout.jsonl" in out
    assert "Accounts, news and advice about sextortion raised like a threat" in out
    assert status == (0 if "in en, es, all: MET" in out else 1)
    # Real messages quoted from public pages, and adapted ones, are shown apart from the rest.
    groups = {line.split()[0] for line in out.splitlines() if line.startswith("  ")}
    assert {"own", "public", "adapted"} <= groups


def test_evaluate_check_also_checks_the_messages_as_people_also_type_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from safetybot.guidance.variants import VARIANTS

    status = main(["evaluate-check", "--variants"], env={})
    out = capsys.readouterr().out
    assert status == (0 if "in en, es, all: MET" in out else 1)  # the targets are as written
    table = out.split("The same messages as people also type them")[1]
    for name in VARIANTS:
        rows = [row.split() for row in table.splitlines() if row.startswith(f"  {name} ")]
        assert [row[-3] for row in rows] == ["en", "es"], name
        for row in rows:
            assert 0.5 < float(row[-2]) <= 1 and float(row[-1].rstrip("%")) < 50, name


def test_evaluate_check_exits_1_when_a_target_is_missed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "set.jsonl"
    data.write_text(
        '{"id": "x1", "lang": "en", "text": "hello there", "extortion": true, "flags": []}\n'
        '{"id": "x2", "lang": "es", "text": "hola", "extortion": false, "flags": []}\n',
        encoding="utf-8",
    )
    assert main(["evaluate-check", "--data", str(data)], env={}) == 1
    assert "NOT MET" in capsys.readouterr().out
    data.write_text('{"id": "x1", "lang": "fr", "text": "x", "extortion": true, "flags": []}\n')
    assert main(["evaluate-check", "--data", str(data)], env={}) == 2
    assert f"{data}:1" in capsys.readouterr().err


# ---------------------------------------------------------------- refusing bad rule files


def test_the_shipped_rules_have_no_problems() -> None:
    assert check_rules(LOCALES) == []
    assert Rules.load(LOCALES).locales == ("en", "es")


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "locales"
    for locale in ("en", "es"):
        (root / locale).mkdir(parents=True)
        shutil.copy(LOCALES / locale / FILE_NAME, root / locale / FILE_NAME)
    return root


def _break(root: Path, locale: str, old: str, new: str) -> Path:
    path = root / locale / FILE_NAME
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


MOVE_APP_RULE = "[flag.move_app]\nweight = 1.0\n\n[[flag.move_app.rule]]\nmatch = [\n"


@pytest.mark.parametrize(
    ("old", "new", "flag", "says"),
    [
        (MOVE_APP_RULE, MOVE_APP_RULE + "    '(unclosed',\n", "move_app", "not a valid regular"),
        (MOVE_APP_RULE, MOVE_APP_RULE + "    'snap.*chat',\n", "move_app", "unbounded repeat"),
        (MOVE_APP_RULE, MOVE_APP_RULE + "    '(?:a{1,5}b){1,9}',\n", "move_app", "inside a repeat"),
        (MOVE_APP_RULE, MOVE_APP_RULE + "    'WhatsApp',\n", "move_app", "capital or accented"),
        (MOVE_APP_RULE, MOVE_APP_RULE + "    'x?',\n", "move_app", "matches empty text"),
        (MOVE_APP_RULE, MOVE_APP_RULE + '    "\\bsnap\\b",\n', "move_app", "control character"),
        (MOVE_APP_RULE, MOVE_APP_RULE + "    '{nope}',\n", "move_app", "{nope}"),
        (MOVE_APP_RULE, MOVE_APP_RULE.replace("match", "matches"), "move_app", "unknown key"),
        ("[flag.move_app]\nweight = 1.0", "[flag.move_app]\nweight = 'high'", "move_app", "weight"),
        ("[flag.move_app]\n", "[flag.move_apps]\n", "move_apps", "unknown flag"),
        (
            "[[flag.move_app.rule]]\nmatch = [\n",
            "[[flag.move_app.rule]]\nwithin = 0\nmatch = [\n",
            "move_app",
            "within",
        ),
        (
            "[[flag.pressure_more.rule]]\nmatch = [",
            "[[flag.pressure_more.rule]]\nmatch = ['[^x]{0,60}y[^x]{0,60}z',",
            "pressure_more",
            "backtrack",
        ),
    ],
)
def test_a_bad_rule_is_refused_naming_file_and_flag(
    tmp_path: Path, old: str, new: str, flag: str, says: str
) -> None:
    path = _break(_copy(tmp_path), "en", old, new)
    with pytest.raises(LocaleError) as caught:
        Rules.load(path.parent.parent)
    message = str(caught.value)
    assert str(path) in message and repr(flag) in message and says in message, message


def test_weights_must_agree_in_every_locale(tmp_path: Path) -> None:
    path = _break(
        _copy(tmp_path), "es", "[flag.move_app]\nweight = 1.0", "[flag.move_app]\nweight = 9.0"
    )
    with pytest.raises(LocaleError, match="weight") as caught:
        Rules.load(path.parent.parent)
    assert str(path) in str(caught.value) and "'move_app'" in str(caught.value)


@pytest.mark.parametrize(
    ("old", "new", "says"),
    [
        ("[scoring]\nsome = 1.0", "[scoring]\nsome = 9.0", "some <= likely"),
        ("[scoring]\n", "[scoring]\nmedium = 2\n", "unknown key 'medium'"),
        ("likely_needs = [", "likely_needs = ['nudes', ", "likely_needs"),
        ("[terms]\n", "[extra]\n[terms]\n", "unknown top-level key 'extra'"),
        ("[scoring]\n", "[scoring\n", "not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_it(tmp_path: Path, old: str, new: str, says: str) -> None:
    path = _break(_copy(tmp_path), "en", old, new)
    problems = check_rules(path.parent.parent)
    assert any(str(path) in p and says in p for p in problems), problems


def test_a_missing_flag_and_a_missing_folder_are_named(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    path = root / "es" / FILE_NAME
    text = path.read_text(encoding="utf-8")
    start = text.index("[flag.mentions_minor]")
    path.write_text(text[:start], encoding="utf-8")
    assert any(str(path) in p and "'mentions_minor' is missing" in p for p in check_rules(root))
    with pytest.raises(LocaleError, match=r"no <locale>/redflags\.toml"):
        Rules.load(tmp_path / "nowhere")
