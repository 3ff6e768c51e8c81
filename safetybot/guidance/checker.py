""" "Check a message": the red-flag rules name and quote, a learned model decides the level.

The rules (redflags.py) generalise poorly to wording nobody wrote them for, and cannot tell who
is speaking; they stay for what they do well: naming each red flag and quoting its words. How
strongly a message as a whole looks like sextortion comes from a small model over the message's
words and letter pieces (textmodel.py, the same features as the intent model), trained by
`safetybot train-check` on safetybot/data/check/train.jsonl with three kinds: the extorter's own
message, an ordinary one, and a *report*, someone describing sextortion (a victim's account,
news, advice). A report is answered as such ("this sounds like sextortion happening to you"),
never scored as a threat. Without the model file, the rules' own levels are used.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from safetybot.guidance.redflags import Finding, Flag, FlagHit, Level, Rules
from safetybot.guidance.textmodel import LinearModel, hashed, sigmoid, softmax

__all__ = [
    "FLAGS_FILE",
    "KINDS",
    "LATE_END",
    "MODEL_FILE",
    "READ_CHARS",
    "VERY_LIKELY",
    "Checker",
    "load_model",
    "vector",
]

MODEL_FILE = Path(__file__).resolve().parent.parent / "models" / "check.npz"
# One yes/no model per red flag: flags the rules' patterns miss, named without a quote.
FLAGS_FILE = MODEL_FILE.parent / "check_flags.npz"
# A flag the rules missed is named when its model is at least this sure (a fixed, even bet).
_FLAG = 0.5
KINDS = ("extortion", "benign", "report")
# The model reads a message's first 2,048 characters (the rules read all 4,096, Telegram's
# limit, and name every flag they find). No training message is longer than 1,305 characters,
# and a threat inside a long message weighs no more in 4,096 characters than in 2,048: its
# features are a share of the whole (docs/CHECK.md measures both). Reading half the
# characters takes half the time.
READ_CHARS = 2048
# When a long message's start does not read as a threat but the rules found flags after
# READ_CHARS, its end up to here (Telegram's longest message) is read too.
LATE_END = 4096
# "Very likely" needs at least this probability (and never less than "likely" does).
VERY_LIKELY = 0.9
# A report is named when the model thinks it the likeliest kind, at least this sure.
_REPORT = 0.5


def vector(text: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The model's features of a message, hashed (training uses the same)."""
    return hashed(text, READ_CHARS)


@functools.lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> LinearModel:
    """The check model (or, given FLAGS_FILE, the flags model), read once per process."""
    return LinearModel.load(path)


class Checker:
    """Red flags from the rules, the level from the model, reports told apart."""

    def __init__(
        self, rules: Rules, model: LinearModel | None, flags: LinearModel | None = None
    ) -> None:
        self.rules = rules
        # Both models in one: a text's features are looked up once (it is read on every check).
        # Only the stacked copy is kept: the two separate ones would hold their weights twice.
        self._kinds = model.classes if model is not None else ()
        self._flag_names = flags.classes if flags is not None else ()
        self._both = model if model is None or flags is None else LinearModel.stacked(model, flags)
        meta = model.meta if model is not None else {}
        self._likely = float(meta.get("likely", 0.5))
        # A message whose flags all come from one language's rules is held to that language's
        # threshold (chosen the same way, out of fold): Spanish needs less to be as sure.
        self._likely_in = {
            str(lang): float(value) for lang, value in meta.get("likely_by_language", {}).items()
        }
        self._very_likely = float(meta.get("very_likely", VERY_LIKELY))

    @classmethod
    def shipped(cls, rules: Rules) -> Checker:
        """A checker with the shipped models, read from their files (not kept twice)."""
        return cls(rules, LinearModel.load(MODEL_FILE), LinearModel.load(FLAGS_FILE))

    def check(self, text: str) -> Finding:
        """The flags with their quotes, and how strongly the message looks like sextortion."""
        finding = self.rules.check(text)
        if self._both is None or finding.empty:
            return finding
        raw = self._both.scores_of(vector(text))
        kinds = len(self._kinds)
        scores = softmax(self._kinds, raw[:kinds])
        extortion = scores["extortion"]
        if extortion < self.likely_for(finding) and finding.last_flag_end > READ_CHARS:
            # A long message whose start does not read as a threat, with red flags after it
            # (a pasted conversation whose threat comes late): its last READ_CHARS characters
            # up to LATE_END are read too, and the part that reads most like a threat is kept.
            tail = self._both.scores_of(vector(text[:LATE_END][-READ_CHARS:]))
            tail_scores = softmax(self._kinds, tail[:kinds])
            if tail_scores["extortion"] > extortion:
                raw, scores, extortion = tail, tail_scores, tail_scores["extortion"]
        if self._flag_names:
            finding = self._more_flags(finding, sigmoid(self._flag_names, raw[kinds:]))
        if extortion >= self._very_likely:
            level = Level.VERY_LIKELY
        elif extortion >= self.likely_for(finding):
            level = Level.LIKELY
        else:  # flags may still be worth naming, but not as sextortion
            level = Level.SOME if finding.flags else Level.NONE
        report = max(scores, key=scores.__getitem__) == "report" and scores["report"] >= _REPORT
        return replace(finding, level=level, score=round(extortion, 2), report=report)

    def likely_for(self, finding: Finding) -> float:
        """The probability from which a message with these rules' findings is "likely"."""
        if len(finding.locales) == 1:
            return self._likely_in.get(finding.locales[0], self._likely)
        return self._likely  # no flag, or flags in two languages: the threshold for all

    @staticmethod
    def _more_flags(finding: Finding, chances: dict[str, float]) -> Finding:
        """The rules' flags, with their quotes, and the flags only the model saw, unquoted."""
        found = finding.ids
        extra = [FlagHit(Flag(name)) for name, p in chances.items() if p >= _FLAG]
        hits = [*finding.flags, *(hit for hit in extra if hit.flag not in found)]
        ordered = tuple(sorted(hits, key=lambda hit: list(Flag).index(hit.flag)))
        return replace(finding, flags=ordered)

    def score_answers(self, yes_flags: list[str] | tuple[str, ...]) -> Finding:
        """The questionnaire, scored by the rules' weights (no text to read)."""
        return self.rules.score_answers(yes_flags)
