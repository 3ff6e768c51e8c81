"""The intent model and its data: reproducible from the shipped lines, each line sourced, the
held-out split apart, and `safetybot evaluate-intents` measuring what the bot really runs."""

from __future__ import annotations

import io
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from safetybot import cli
from safetybot.core.signals import MODEL_FILE
from safetybot.core.understanding import Intent
from safetybot.guidance import intenteval, training
from safetybot.guidance.intentdata import INTENT_DATA, load_lines
from safetybot.guidance.textmodel import LinearModel
from safetybot.guidance.variants import VARIANTS, variant
from safetybot.ops.config import default_locales_dir


def test_every_line_is_labelled_with_a_known_intent_and_its_source() -> None:
    lines = load_lines()
    assert {line.intent for line in lines} == {intent.value for intent in Intent}
    assert all(
        line.source.strip() and line.origin in ("own", "public", "adapted") for line in lines
    )
    for line in lines:
        if line.origin == "own":
            assert "written for safetybot" in line.source
        else:
            assert line.source.startswith(("https://", "http://")), line.source


def test_there_are_at_least_150_lines_per_intent_and_language() -> None:
    counts = Counter((line.lang, line.intent) for line in load_lines())
    for lang in ("en", "es"):
        for intent in Intent:
            assert counts[(lang, intent.value)] >= 150, (lang, intent.value)


def test_the_held_out_split_shares_no_line_and_no_author_with_training() -> None:
    train = load_lines(splits=("train",))
    held = load_lines(splits=("heldout",))
    assert len(held) >= 1000
    assert not {line.text.casefold() for line in train} & {line.text.casefold() for line in held}
    assert not {line.source for line in train} & {line.source for line in held}


def test_a_broken_line_is_named_with_its_file_and_number(tmp_path: Path) -> None:
    (tmp_path / "train.jsonl").write_text(
        '{"text": "hi", "lang": "en", "intent": "other", "source": "x", "origin": "own"}\n'
        '{"text": "hi", "lang": "en", "intent": "sad", "source": "x", "origin": "own"}\n'
    )
    with pytest.raises(ValueError, match=r"train.jsonl, line 2: unknown intent"):
        load_lines(tmp_path, ("train",))
    (tmp_path / "train.jsonl").write_text('{"text": "hi", "lang": "en", "intent": "other"}\n')
    with pytest.raises(ValueError, match="source"):
        load_lines(tmp_path, ("train",))


# A whole retraining: about a minute on an idle core, more on a busy machine.
@pytest.mark.timeout(600)
def test_the_shipped_weights_are_what_the_training_command_makes(tmp_path: Path) -> None:
    shipped = LinearModel.load(MODEL_FILE)
    rebuilt_path = tmp_path / "intents.npz"
    out = io.StringIO()
    assert training.run(load_lines(splits=("train",)), rebuilt_path, out) == 0
    rebuilt = LinearModel.load(rebuilt_path)
    assert rebuilt.classes == shipped.classes
    for key in ("data_sha256", "lines", "self_harm_min", "floor", "c", "real_weight"):
        assert rebuilt.meta[key] == shipped.meta[key], key
    assert np.array_equal(rebuilt.rows >= 0, shipped.rows >= 0)
    assert np.allclose(rebuilt.weights, shipped.weights, atol=2e-3)
    assert np.allclose(rebuilt.bias, shipped.bias, atol=1e-3)
    assert rebuilt.vocabulary == shipped.vocabulary  # the speller's words


def test_a_damaged_weights_file_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "intents.npz"
    shutil.copy(MODEL_FILE, broken)
    data = dict(np.load(broken, allow_pickle=False))
    data["bias"] = data["bias"][:3]
    with broken.open("wb") as stream:
        np.savez(stream, **data)
    with pytest.raises(ValueError, match="does not match"):
        LinearModel.load(broken)


def test_evaluate_intents_prints_each_intent_per_language(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = cli.main(["evaluate-intents"], env={})
    out = capsys.readouterr().out
    assert "en: every line" in out and "es: every line" in out
    for intent in Intent:
        assert f"  {intent.value} " in out
    assert status == (0 if "Every target met" in out else 1)
    assert ("missed:" in out) == (status == 1)


def test_evaluate_intents_reads_the_lines_again_as_people_also_type_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = cli.main(["evaluate-intents", "--variants"], env={})
    out = capsys.readouterr().out
    assert status == (0 if "Every target met" in out else 1)  # the targets are the lines'
    tables = out.split("The same lines as people also type them")[1]
    for name in VARIANTS:
        rows = [row for row in tables.splitlines() if row.startswith(f"  {name} ")]
        assert len(rows) == 2, name  # en, then es
        for row in rows:
            right, recall = (float(cell) for cell in row.split()[-3:-1])
            assert 0.5 < right <= 1 and 0.5 < recall <= 1, name


def test_each_variant_is_the_same_every_time_and_changes_what_it_names() -> None:
    line = "Ya no quiero seguir, mañana se lo digo a mi mamá. Please help"
    for name in VARIANTS:
        assert variant(name, line) == variant(name, line), name
    assert variant("as written", line) == line
    assert (
        variant("no accents", line)
        == "Ya no quiero seguir, manana se lo digo a mi mama. Please help"
    )
    assert variant("all capitals", line) == line.upper()
    assert (
        variant("no capitals or marks", line)
        == "ya no quiero seguir mañana se lo digo a mi mamá please help"
    )
    assert variant("shorthand", "i want to die because of you") == "i want 2 die bc of u"
    assert (
        variant("look-alike letters", line) != line
        and variant("look-alike letters", line).isascii() is False
    )
    slipped = variant("slips", "everything anyone someone nothing whatever")
    assert slipped != "everything anyone someone nothing whatever"
    assert len(slipped.split()) == 5  # a slip stays inside its word
    digits = variant("digits for letters", "esto es solo sobre eso")
    assert digits != "esto es solo sobre eso" and all(not w[0].isdigit() for w in digits.split())


def test_evaluate_intents_names_each_missed_target() -> None:
    lines = load_lines(splits=("heldout",))
    out = io.StringIO()
    assert intenteval.run(lines, lambda _: Intent.OTHER, "heldout", out) == 1
    assert "en: self_harm recall 0.00 < 0.98" in out.getvalue()
    assert "es: paid recall 0.00 < 0.85" in out.getvalue()


def test_evaluate_intents_reads_the_data_shipped_inside_the_package() -> None:
    # An installed copy has no tests/ folder: the lines travel with the package.
    assert INTENT_DATA.parent.parent == Path(cli.__file__).parent
    assert (INTENT_DATA / "heldout.jsonl").is_file() and (INTENT_DATA / "LABELS.md").is_file()


def test_check_names_a_damaged_intent_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from safetybot.core import signals
    from safetybot.ops import preflight

    assert preflight._model() == []  # the shipped one reads
    broken = tmp_path / "intents.npz"
    broken.write_bytes(b"not a zip file")
    monkeypatch.setattr(signals, "MODEL_FILE", broken)
    (found,) = preflight._model()
    assert "intent model cannot be read" in str(found) and "train-intents" in str(found)


def test_self_harm_is_caught_in_the_held_out_lines_of_each_language() -> None:
    # The one target that must never slip: a miss is worse than a false alarm. It is held on
    # the held-out lines written here; with the real lines quoted from public pages the
    # Spanish held-out set is at 0.95 (75 of 79: 16 of the 19 real ones, docs/INTENTS.md), and
    # this keeps it there.
    understand = intenteval.understand_with(default_locales_dir())
    held = load_lines(splits=("heldout",))
    for lang in ("en", "es"):
        own = [line for line in held if line.lang == lang and line.origin == "own"]
        recall = intenteval.evaluate(own, understand).recall(Intent.SELF_HARM.value)
        assert recall is not None and recall >= intenteval.MIN_SELF_HARM_RECALL, (lang, recall)
        every = [line for line in held if line.lang == lang]
        recall = intenteval.evaluate(every, understand).recall(Intent.SELF_HARM.value)
        assert recall is not None and recall >= 0.94, (lang, recall)


def test_training_keeps_a_public_pages_lines_in_one_fold_and_weighs_them_more() -> None:
    lines = load_lines(splits=("train",))
    origins = [line.origin for line in lines]
    folds = training._folds(origins, [line.source for line in lines])
    by_page: dict[str, set[int]] = {}
    for line, fold in zip(lines, folds, strict=True):
        if line.origin != "own":
            by_page.setdefault(line.source, set()).add(int(fold))
    pages_with_several = [p for p in by_page if sum(1 for x in lines if x.source == p) > 1]
    assert pages_with_several  # the property below is tested on real pages, not vacuously
    assert all(len(by_page[page]) == 1 for page in pages_with_several)
    # Lines written here still spread over every fold.
    assert {int(f) for f, o in zip(folds, origins, strict=True) if o == "own"} == set(range(5))
    weights = training._weights(origins, training.REAL_WEIGHT)
    assert {float(w) for w, o in zip(weights, origins, strict=True) if o != "own"} == {3.0}
    assert {float(w) for w, o in zip(weights, origins, strict=True) if o == "own"} == {1.0}
