"""The check model and its data: reproducible from the shipped messages, every line sourced,
the held-out split apart, and what it measures on that split guarded against regressions."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from safetybot.guidance import checker, training
from safetybot.guidance.checker import Checker
from safetybot.guidance.evaluation import CHECK_DATA, FIRST_SET, evaluate, load_examples
from safetybot.guidance.redflags import Flag, Level, Rules
from safetybot.guidance.textmodel import LinearModel
from safetybot.ops.config import default_locales_dir

TRAIN = CHECK_DATA / "train.jsonl"
HELDOUT = CHECK_DATA / "heldout.jsonl"


def test_there_are_at_least_1500_messages_per_language_each_with_its_source() -> None:
    train = load_examples(TRAIN)
    counts = Counter(e.lang for e in (*train, *load_examples(FIRST_SET)))
    assert counts["en"] >= 1500 and counts["es"] >= 1500
    assert Counter(e.kind for e in train).keys() == {"extortion", "benign", "report"}
    assert all(line.count('"source": "') == 1 for line in TRAIN.read_text().splitlines())


def test_the_held_out_split_shares_no_message_with_training() -> None:
    train = {e.text.casefold() for e in load_examples(TRAIN)}
    held = load_examples(HELDOUT)
    assert len(held) >= 500 and all(e.split == "holdout" for e in held)
    assert not train & {e.text.casefold() for e in held}


# A whole retraining: about a minute on an idle core, more on a busy machine.
@pytest.mark.timeout(600)
def test_the_shipped_check_weights_are_what_the_training_command_makes(tmp_path: Path) -> None:
    shipped = LinearModel.load(checker.MODEL_FILE)
    rebuilt_path = tmp_path / "check.npz"
    flags_path = tmp_path / "check_flags.npz"
    assert training.run_check(load_examples(TRAIN), rebuilt_path, flags_path, io.StringIO()) == 0
    rebuilt = LinearModel.load(rebuilt_path)
    flags = LinearModel.load(flags_path)
    shipped_flags = LinearModel.load(checker.FLAGS_FILE)
    assert flags.classes == shipped_flags.classes == tuple(flag.value for flag in Flag)
    assert flags.meta["data_sha256"] == shipped_flags.meta["data_sha256"]
    assert np.allclose(flags.weights, shipped_flags.weights, atol=2e-3)
    assert rebuilt.classes == shipped.classes == checker.KINDS
    for key in ("data_sha256", "lines", "likely", "very_likely", "c", "real_weight"):
        assert rebuilt.meta[key] == shipped.meta[key], key
    assert np.allclose(rebuilt.weights, shipped.weights, atol=2e-3)


@pytest.fixture(scope="module")
def held_out() -> dict[str, object]:
    checks = Checker(
        Rules.load(default_locales_dir()),
        checker.load_model(),
        checker.load_model(checker.FLAGS_FILE),
    )
    result = evaluate(checks, load_examples(HELDOUT))
    found: dict[str, object] = {lang: result.slice(lang) for lang in ("en", "es")}
    found |= {f"{lang}-own": result.slice(lang, "own") for lang in ("en", "es")}
    found |= {f"{lang}-public": result.slice(lang, "public") for lang in ("en", "es")}
    return found


@pytest.mark.parametrize("lang", ["en", "es"])
def test_on_the_held_out_split_false_alarms_stay_under_five_percent(
    held_out: dict[str, object], lang: str
) -> None:
    found = held_out[lang]
    assert found.false_alarm_rate <= 0.05  # type: ignore[attr-defined]
    # Accounts, news and advice are not raised like the extorter's own message.
    assert found.report_alarms <= 0.05 * found.reports  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_on_the_held_out_messages_most_extortion_is_caught(
    held_out: dict[str, object], lang: str
) -> None:
    # The goal (0.90 on the whole split) is met in English only, and these floors keep what is
    # reached (docs/CHECK.md): on the held-out messages written here 0.92 (en) and 0.91 (es);
    # on the real ones quoted word for word 0.85 and 0.74.
    assert held_out[f"{lang}-own"].recall >= 0.90  # type: ignore[attr-defined]
    assert held_out[f"{lang}-public"].recall >= 0.70  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_on_the_held_out_split_every_flag_is_found_at_least_seven_times_in_ten(
    held_out: dict[str, object], lang: str
) -> None:
    for flag, counts in held_out[lang].flags.items():  # type: ignore[attr-defined]
        assert counts.recall is None or counts.recall >= 0.70, (flag, counts.recall)


def test_without_the_model_the_rules_levels_are_kept() -> None:
    rules = Rules.load(default_locales_dir())
    text = "I have your video. Send $500 in gift cards in 24 hours or I send it to your family."
    assert Checker(rules, None).check(text) == rules.check(text)
    assert Checker(rules, checker.load_model()).check(text).level is Level.VERY_LIKELY


def test_a_message_whose_flags_are_all_spanish_is_held_to_the_spanish_threshold() -> None:
    checks = Checker.shipped(Rules.load(default_locales_dir()))
    meta = checker.load_model().meta
    spanish_threshold = meta["likely_by_language"]["es"]
    assert spanish_threshold < meta["likely"]  # chosen out of fold, at the same false alarms
    spanish = checks.rules.check("tengo tus fotos, págame o se las mando a tu familia")
    assert spanish.locales == ("es",)
    assert checks.likely_for(spanish) == spanish_threshold
    english = checks.rules.check("I have your pics, pay me or I send them to your family")
    assert english.locales == ("en",)
    assert checks.likely_for(english) == meta["likely"]
    # No flag at all, or flags from both languages' rules: the threshold for every message.
    assert checks.likely_for(checks.rules.check("hola, ¿qué tal?")) == meta["likely"]
    both = checks.rules.check("tengo tus fotos. Pay me $200 or I send them to your family")
    assert both.locales == ("en", "es")
    assert checks.likely_for(both) == meta["likely"]
    # The Spanish extortion messages of the training split that score between the two
    # thresholds are "likely" (before, they were one step lower).
    between = []
    for example in load_examples(TRAIN):
        if example.lang != "es" or example.kind != "extortion":
            continue
        finding = checks.check(example.text)
        if finding.locales == ("es",) and spanish_threshold <= finding.score < meta["likely"]:
            between.append(finding)
    assert between
    assert all(finding.level is Level.LIKELY for finding in between)


def test_each_languages_threshold_keeps_every_languages_false_alarms_within_the_limit() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 2000)
    # Extortion scores high, and Spanish ordinary messages score lower than English ones.
    langs = ["en" if index % 2 else "es" for index in range(2000)]
    extortion = np.where(y == 0, rng.uniform(0.4, 1.0, 2000), rng.uniform(0.0, 0.7, 2000))
    extortion = np.where((y != 0) & (np.array(langs) == "es"), extortion * 0.7, extortion)
    probabilities = np.stack([extortion, 1 - extortion, np.zeros(2000)], axis=1)
    likely = training._choose_likely(probabilities, y, langs)
    by_language = training._choose_likely_by_language(
        probabilities, y, langs, [*langs[:1000], *([None] * 1000)], likely
    )
    assert set(by_language) == {"es"} and by_language["es"] < likely
    limit = np.array(
        [
            by_language.get(lang, likely) if index < 1000 else likely
            for index, lang in enumerate(langs)
        ]
    )
    alarmed = probabilities[:, 0] >= limit
    for lang in ("en", "es"):
        chosen = (y != 0) & (np.array(langs) == lang)
        assert alarmed[chosen].mean() <= training.CHECK_FALSE_ALARMS


_OPENING = (
    "I hacked your phone months ago and recorded you through the camera while you watched "
    "adult videos. I have the video and the list of all your contacts. Send 900 dollars in "
    "bitcoin to the wallet below within 48 hours, or the video goes to your family, your "
    "friends and your boss. Do not reply to this e-mail and do not tell the police: I will "
    "know. After the payment I delete everything and you never hear from me again. "
)
_ORDINARY = (
    "The library is open from nine to six on weekdays and from ten to two on Saturdays. "
    "Books can be renewed online twice, and the reading room is quiet after four. "
)


def test_a_long_message_that_opens_with_a_threat_is_raised() -> None:
    # The model reads the first READ_CHARS characters: a threat there is not drowned by the
    # thousands of ordinary characters pasted after it (docs/CHECK.md).
    checks = Checker.shipped(Rules.load(default_locales_dir()))
    text = (_OPENING * 2 + _ORDINARY * 40)[:4000]
    assert len(text) > checker.READ_CHARS
    assert checks.check(text).level in (Level.LIKELY, Level.VERY_LIKELY)
    # A long conversation pasted whole, the threat at its end: the end is read too, and the
    # rules name its flags with their words.
    ending = _ORDINARY * 20 + _OPENING
    assert checker.READ_CHARS < len(ending) <= checker.LATE_END
    finding = checks.check(ending)
    assert finding.level in (Level.LIKELY, Level.VERY_LIKELY)
    assert Flag.PAYMENT_DEMAND in finding.ids
    # A long ordinary message is not raised, whichever end is read.
    assert checks.check(_ORDINARY * 24).level is Level.NONE
