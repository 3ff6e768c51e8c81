"""Slips of the finger read as the words they meant (guidance/speller.py), and what is left be.

The speller is built here from small vocabularies written for these tests, and once from the
shipped model and catalogs, as the bot builds it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from safetybot.core.signals import Signals, load_model
from safetybot.core.understanding import Intent
from safetybot.guidance import training
from safetybot.guidance.intentdata import Line
from safetybot.guidance.speller import COMMON, Speller
from safetybot.guidance.textmodel import LinearModel
from safetybot.i18n import Texts

COUNTS = {"want": 50, "myself": 30, "die": 40, "no": 900, "puedo": 60, "mas": 200, "vivir": 12}
LISTED = {"suicidio", "matarme", "morir", "pastillas"}


@pytest.fixture(scope="module")
def speller() -> Speller:
    return Speller(COUNTS, LISTED)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("suicdio", "suicidio"),  # a letter missing
        ("matarmre", "matarme"),  # a letter too many
        ("pastillaz", "pastillas"),  # a letter changed
        ("mysefl", "myself"),  # two letters swapped
        ("wnat", "want"),
        ("vivri", "vivir"),
        ("noo", "no"),  # a vowel held down (folding has cut "nooooo" to two)
        ("maas", "mas"),
    ],
)
def test_a_slip_is_read_as_the_word_it_was_meant_to_be(
    speller: Speller, typed: str, meant: str
) -> None:
    assert speller.mend([typed]) == [meant]


@pytest.mark.parametrize(
    "typed",
    [
        "mata",  # shorter than four letters are many words' slips
        "dia",
        "10min",  # digits
        "perro",  # doubled consonants are words of their own
        "banana",  # no word the bot leans on is one edit away
        "morirme",  # not one edit from "morir" (two letters more)
    ],
)
def test_words_that_are_no_slip_are_left_as_typed(speller: Speller, typed: str) -> None:
    assert speller.mend([typed]) == [typed]


def test_a_word_the_training_lines_use_is_never_changed() -> None:
    # "matame" ("kill me") is one letter from "matarme", and a word of its own: seen once, kept.
    speller = Speller({"matame": 1, "matarme": COMMON}, set())
    assert speller.mend(["matame", "matrme"]) == ["matame", "matarme"]


def test_of_several_near_words_the_most_used_wins() -> None:
    speller = Speller({"cast": COMMON, "cost": COMMON * 5}, set())
    assert speller.mend(["cxst"]) == ["cost"]


def test_the_training_command_ships_the_lines_words_with_the_model(tmp_path: Path) -> None:
    lines = [
        Line("I want to DIE", "en", "self_harm", "test", "own", "train"),
        Line("quiero morir, morir", "es", "self_harm", "test", "own", "train"),
    ]
    counts = training.vocabulary(line.text for line in lines)
    assert counts == {"i": 1, "want": 1, "to": 1, "die": 1, "quiero": 1, "morir": 2}
    path = tmp_path / "model.npz"
    LinearModel.save(path, ("a", "b"), np.zeros((1 << 18, 2)), np.zeros(2), {}, counts)
    assert LinearModel.load(path).vocabulary == counts


def test_a_weights_file_whose_words_and_counts_disagree_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    LinearModel.save(path, ("a", "b"), np.zeros((1 << 18, 2)), np.zeros(2), {}, {"one": 1})
    with np.load(path) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["word_counts"] = np.array([1, 2], np.int32)
    with path.open("wb") as out:
        np.savez_compressed(out, **arrays)
    with pytest.raises(ValueError, match="words"):
        LinearModel.load(path)


@pytest.mark.parametrize(
    "words",
    [
        "all i can thnik about is endng it",  # en: read as nothing in particular before
        "mjeor me muero",  # es: likewise
    ],
)
def test_self_harm_typed_with_slips_is_read_as_self_harm(texts: Texts, words: str) -> None:
    shipped = load_model()
    assert shipped.vocabulary, "the shipped model carries its training lines' words"
    assert Signals.from_texts(texts, shipped).understand(words).intent is Intent.SELF_HARM
    # The same words, the speller left out (a model without its words): the slip hid them.
    bare = dataclasses.replace(shipped, vocabulary={})
    assert Signals.from_texts(texts, bare).understand(words).intent is not Intent.SELF_HARM
