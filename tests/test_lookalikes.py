"""Look-alike letters: a threat or a cry for help written in letters of other alphabets is read
as the Latin words it imitates, by the rules, the models and the word lists alike.

The sentences are written for these tests (they are in neither labelled set). The disguises
are drawn from the shipped table with fixed seeds, so a failure names a reproducible text.
"""

from __future__ import annotations

import random
import unicodedata
from collections import defaultdict

import pytest

from safetybot.core.service import Service
from safetybot.core.signals import Signals
from safetybot.core.signals import normalize as words_fold
from safetybot.core.understanding import Intent
from safetybot.guidance import lookalikes
from safetybot.guidance.checker import Checker
from safetybot.guidance.redflags import Level, Rules
from safetybot.guidance.redflags import normalize as rules_fold
from safetybot.guidance.textmodel import fold as model_fold
from safetybot.i18n import Texts
from safetybot.ops.config import default_locales_dir
from tests.conftest import Chat, RecordingFrontEnd


def test_the_shipped_table_is_what_the_build_command_makes() -> None:
    # Reproducible: Unicode's confusables (as the pinned confusable-homoglyphs ships them) and
    # this Python's character names give the same table, byte for byte.
    table = lookalikes.source_table()
    if lookalikes.built_with() == unicodedata.unidata_version:
        assert lookalikes.TABLE_FILE.read_text(encoding="utf-8") == lookalikes.render(table)
        assert lookalikes.load() == table
    else:  # a newer Python knows more characters: what both know must agree
        shipped = lookalikes.load()
        assert {c: table[c] for c in shipped if c in table} == {
            c: shipped[c] for c in table if c in shipped
        }
        assert len(set(shipped) & set(table)) >= 0.95 * len(shipped)
    # The scripts scam e-mails use are all there.
    scripts = {unicodedata.name(char).split()[0] for char in table}
    assert {"CYRILLIC", "GREEK", "COPTIC", "ARMENIAN", "CHEROKEE", "LATIN"} <= scripts


def test_every_look_alike_reads_as_its_latin_letter_in_every_fold() -> None:
    # Inside a word, upper or lower case: the rules, the models and the word lists agree.
    for char, latin in lookalikes.load().items():
        typed, meant = f"za{char}ez", f"za{latin}ez"
        assert model_fold(typed) == [meant], char
        assert rules_fold(typed) == meant, char
        assert words_fold(typed) == meant, char


def test_letters_of_the_languages_people_write_in_are_left_alone() -> None:
    table = lookalikes.load()
    for char in "abcdefghijklmnopqrstuvwxyzñáéíóúüç¿¡ABCÑÁ0123456789":
        assert char not in table
    assert model_fold("¿Cómo borro este chat? Ñandú") == ["como", "borro", "este", "chat", "nandu"]


def _disguise(text: str, seed: int) -> str:
    """Replace about half the letters with look-alikes from other alphabets (never Latin)."""
    pools: dict[str, list[str]] = defaultdict(list)
    for char, latin in sorted(lookalikes.load().items()):
        if not unicodedata.name(char).startswith("LATIN"):
            pools[latin].append(char)
    chooser = random.Random(seed)
    out = []
    for char in text:
        pool = pools.get(char.lower())
        out.append(chooser.choice(pool) if pool and chooser.random() < 0.5 else char)
    return "".join(out)


THREATS = [
    "I have your video. Send $500 in gift cards in 24 hours or I send it to your family.",
    "pay me 300 dollars or i will post your nudes on instagram tonight",
    "Tengo tu video. Paga 500 dólares hoy o se lo envío a toda tu familia.",
    "Tengo tus fotos. Si no me pagas 300 euros hoy se las mando a todos tus contactos.",
]


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker.shipped(Rules.load(default_locales_dir()))


@pytest.mark.parametrize("threat", THREATS)
def test_a_threat_in_look_alike_letters_is_found_as_in_plain_letters(
    checker: Checker, threat: str
) -> None:
    plain = checker.check(threat)
    assert plain.level.at_least(Level.LIKELY)
    for seed in range(5):
        disguised = _disguise(threat, seed)
        assert disguised != threat and not disguised.isascii()
        found = checker.check(disguised)
        assert found.level.at_least(Level.LIKELY), disguised
        assert found.ids == plain.ids, disguised
        # The quotes are the message's own words, as it was written.
        assert all(quote in disguised for hit in found.flags for quote in hit.quotes), disguised


@pytest.fixture(scope="module")
def signals(texts: Texts) -> Signals:
    return Signals.from_texts(texts)


@pytest.mark.parametrize(
    ("words", "intent"),
    [
        ("I want to die", Intent.SELF_HARM),
        ("ya no quiero vivir", Intent.SELF_HARM),
        ("how do i delete this chat", Intent.ERASE),
        ("mi ex subió mis fotos íntimas a una página", Intent.SHARED),
    ],
)
def test_a_persons_words_in_look_alike_letters_are_understood(
    signals: Signals, words: str, intent: Intent
) -> None:
    for seed in range(5):
        disguised = _disguise(words, seed)
        assert signals.understand(disguised).intent is intent, disguised


async def test_a_cry_for_help_in_look_alike_letters_gets_the_crisis_lines_not_a_menu(
    service: Service, front: RecordingFrontEnd
) -> None:
    chat = Chat(service, front, "91")
    await chat.say(_disguise("i cant do this anymore, i want to kill myself", 3))
    text = "\n".join(front.texts)
    assert "glad you wrote" in text and "where you are" in text  # the crisis path, country asked
