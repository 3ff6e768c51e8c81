"""Property tests of the understanding step and its labelled data: any text, any line.

Whatever a person types, the step names one known intent, answers only known triage values,
and its evidence is drawn from a fixed vocabulary (so it can never carry their words); a
labelled-data file of any bytes is read or refused with its file and line named.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from safetybot.core.events import Text
from safetybot.core.flow import State, step
from safetybot.core.menus import ANSWERS, Question
from safetybot.core.signals import Signals
from safetybot.core.understanding import Intent
from safetybot.guidance import redflags
from safetybot.guidance.intentdata import load_lines
from safetybot.i18n import Texts
from tests.conftest import LOCALES
from tests.fuzzing import FUZZ

SIGNALS = Signals.from_texts(Texts.load(LOCALES))
_EVIDENCE = re.compile(
    r"^(?:model:(?:" + "|".join(i.value for i in Intent) + r"):\d\.\d\d|model:maybe_pasted"
    r"|words:(?:self_harm|cry|deadline|erase|danger|someone_else|feature:[a-z]+))$"
)
# Letters people use, look-alikes, marks, digits, signs, spaces and emoji.
typed = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400
) | st.text(alphabet="aeiouáéíñ0134@$ .!?\u0430\u0435\u043e\u200b'", max_size=200)


@FUZZ
@given(text=typed)
@example(text="")
@example(text="k i l l " * 500)
@example(text="\u0430" * 3000)
def test_any_text_gets_one_known_intent_and_evidence_without_its_words(text: str) -> None:
    meaning = SIGNALS.understand(text)
    assert isinstance(meaning.intent, Intent)
    assert 0.0 <= meaning.confidence <= 1.0
    assert all(_EVIDENCE.match(item) for item in meaning.evidence), meaning.evidence
    for question, answer in meaning.answers.items():
        assert answer in ANSWERS[Question(question)]


@FUZZ
@given(text=typed)
def test_any_understood_text_leads_somewhere_and_never_erases_by_itself(text: str) -> None:
    event = Text(text, meaning=SIGNALS.understand(text))
    outcome = step(State(country="US"), event)
    assert outcome.replies or outcome.effects
    assert not any(type(effect).__name__ in ("Forget", "ClearChat") for effect in outcome.effects)


values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))
line_objects = st.dictionaries(
    st.sampled_from(["text", "lang", "intent", "source", "origin", "extra"]), values, max_size=6
)


@FUZZ
@given(rows=st.lists(st.one_of(line_objects.map(json.dumps), st.text(max_size=60)), max_size=6))
def test_a_labelled_file_is_read_or_refused_naming_its_line(rows: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder)
        (path / "train.jsonl").write_text("\n".join(rows), encoding="utf-8")
        try:
            lines = load_lines(path, ("train",))
        except ValueError as error:
            assert re.match(r"^train\.jsonl, line \d+: ", str(error)), str(error)
        else:
            assert all(line.intent in {i.value for i in Intent} for line in lines)


@pytest.mark.parametrize("raw", [b'{"proposed": {"s": ["x"]}}', b'{"proposed": "s"}', b"[]"])
def test_a_damaged_proposal_in_stored_state_is_dropped(raw: bytes) -> None:
    assert dict(State.from_bytes(raw).proposed) == {}


# Text with what makes folding hard: characters that fold to nothing (joiners, marks) or to
# several ("…", "ﬁ", "½"), white space of every kind, look-alike letters, lone surrogates.
folding = st.text(
    alphabet=st.characters(codec=None) | st.sampled_from(" \t\n…ﬁ½\u200b\u200d\u0301ⲣаΗ\ud800"),
    max_size=300,
)


@FUZZ
@given(text=folding)
@example(text="  …  hola\u200b  ")
@example(text="\u200b \u200b")
@example(text="a\ud800b …")
def test_the_rules_fold_any_text_as_one_character_at_a_time_would(text: str) -> None:
    # The quick ways of folding (in C and NumPy) give what the plain loop gives, the
    # positions of every folded character included, which the quotes are cut by.
    quick = redflags._normalize(text)
    slow = redflags._normalize_slowly(text)
    assert quick.folded == slow.folded
    assert [quick.at(index) for index in range(len(quick.folded))] == list(slow.origin or ())
