"""How well typed words are understood: `safetybot evaluate-intents`.

Runs the whole understanding step (the catalogs' word lists and the shipped model, as the bot
uses them) on labelled lines (intentdata.py) and prints, per language, each intent's precision
and recall, then the same for lines from public sources and for lines written here. The targets
(issue 14), on the held-out split: self-harm recall at least 0.98 (a miss is worse than a false
alarm); every other intent precision at least 0.90 and recall at least 0.85. Prints counts and
intent names only, never a line's words.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from safetybot.core.understanding import Intent
from safetybot.guidance.intentdata import Line

__all__ = [
    "MIN_PRECISION",
    "MIN_RECALL",
    "MIN_SELF_HARM_RECALL",
    "Report",
    "evaluate",
    "run",
    "run_variants",
]

MIN_SELF_HARM_RECALL = 0.98
MIN_PRECISION = 0.90
MIN_RECALL = 0.85


@dataclass(frozen=True)
class Report:
    """Guesses against labels for a set of lines: per-intent counts, and what missed targets."""

    pairs: tuple[tuple[str, str], ...]  # (label, guess)

    def counts(self, intent: str) -> tuple[int, int, int]:
        """True positives, guesses of the intent, lines labelled with it."""
        tp = sum(1 for label, guess in self.pairs if label == guess == intent)
        guessed = sum(1 for _, guess in self.pairs if guess == intent)
        labelled = sum(1 for label, _ in self.pairs if label == intent)
        return tp, guessed, labelled

    def precision(self, intent: str) -> float | None:
        """Of the lines guessed as `intent`, the share labelled so (None: never guessed)."""
        tp, guessed, _ = self.counts(intent)
        return tp / guessed if guessed else None

    def recall(self, intent: str) -> float | None:
        """Of the lines labelled `intent`, the share guessed so (None: none labelled)."""
        tp, _, labelled = self.counts(intent)
        return tp / labelled if labelled else None

    def misses(self) -> list[str]:
        """Each target this report misses, named (empty: every target met)."""
        found = []
        for intent in Intent:
            precision, recall = self.precision(intent), self.recall(intent)
            if recall is None:
                continue
            if intent is Intent.SELF_HARM:
                if recall < MIN_SELF_HARM_RECALL:
                    found.append(f"self_harm recall {recall:.2f} < {MIN_SELF_HARM_RECALL}")
                continue
            if recall < MIN_RECALL:
                found.append(f"{intent.value} recall {recall:.2f} < {MIN_RECALL}")
            if precision is not None and precision < MIN_PRECISION:
                found.append(f"{intent.value} precision {precision:.2f} < {MIN_PRECISION}")
        return found


def evaluate(lines: Sequence[Line], understand: Callable[[str], Intent]) -> Report:
    """Guess every line's intent with `understand`."""
    return Report(tuple((line.intent, understand(line.text).value) for line in lines))


def _number(value: float | None) -> str:
    return "   -" if value is None else f"{value:.2f}"


def _table(title: str, report: Report, out: TextIO) -> None:
    print(f"\n{title} ({len(report.pairs)} lines)", file=out)
    print(f"  {'intent':<18} {'lines':>5} {'precision':>9} {'recall':>6}", file=out)
    for intent in Intent:
        _, _, labelled = report.counts(intent)
        precision, recall = report.precision(intent), report.recall(intent)
        print(
            f"  {intent.value:<18} {labelled:>5} {_number(precision):>9} {_number(recall):>6}",
            file=out,
        )
    confused = Counter((label, guess) for label, guess in report.pairs if label != guess)
    if confused:
        common = ", ".join(f"{a}->{b} {n}" for (a, b), n in confused.most_common(6))
        print(f"  most confused: {common}", file=out)


def run(lines: Sequence[Line], understand: Callable[[str], Intent], split: str, out: TextIO) -> int:
    """The `evaluate-intents` command: print the tables; 0 if every target is met per language."""
    print(f"Understanding typed words, {split} split", file=out)
    missed: list[str] = []
    for lang in sorted({line.lang for line in lines}):
        report = evaluate([line for line in lines if line.lang == lang], understand)
        _table(f"{lang}: every line", report, out)
        for origins, label in (
            (("public", "adapted"), "from public sources (quoted or adapted)"),
            (("own",), "written for safetybot"),
        ):
            chosen = [line for line in lines if line.lang == lang and line.origin in origins]
            if chosen and len(chosen) < len(report.pairs):
                _table(f"{lang}: {label}", evaluate(chosen, understand), out)
        missed += [f"{lang}: {miss}" for miss in report.misses()]
    targets = (
        f"self_harm recall >= {MIN_SELF_HARM_RECALL}; every other intent precision >= "
        f"{MIN_PRECISION} and recall >= {MIN_RECALL}"
    )
    if missed:
        print(f"\nTargets ({targets}) missed:", file=out)
        for miss in missed:
            print(f"  {miss}", file=out)
        return 1
    print(f"\nEvery target met ({targets}).", file=out)
    return 0


def run_variants(lines: Sequence[Line], understand: Callable[[str], Intent], out: TextIO) -> None:
    """The same lines as people also type them (guidance/variants.py): per language and
    variant, the share read right, self-harm recall, and lines wrongly read as self-harm."""
    from safetybot.guidance.variants import VARIANTS, variant

    print("\nThe same lines as people also type them (guidance/variants.py)", file=out)
    for name, (what, _) in VARIANTS.items():
        print(f"  {name}: {what}", file=out)
    for lang in sorted({line.lang for line in lines}):
        chosen = [line for line in lines if line.lang == lang]
        print(f"\n{lang} ({len(chosen)} lines)", file=out)
        print(f"  {'variant':<22} {'right':>6} {'self_harm recall':>16} {'false':>6}", file=out)
        for name in VARIANTS:
            report = Report(
                tuple((line.intent, understand(variant(name, line.text)).value) for line in chosen)
            )
            right = sum(label == guess for label, guess in report.pairs) / len(report.pairs)
            tp, guessed, _ = report.counts(Intent.SELF_HARM)
            recall = report.recall(Intent.SELF_HARM)
            shown = "-" if recall is None else f"{recall:.3f}"
            print(f"  {name:<22} {right:>6.3f} {shown:>16} {guessed - tp:>6}", file=out)


def understand_with(locales_dir: Path) -> Callable[[str], Intent]:
    """The understanding step as the bot runs it, from a locales folder's catalogs."""
    from safetybot.core.signals import Signals
    from safetybot.i18n import Texts

    signals = Signals.from_texts(Texts.load(locales_dir))
    return lambda text: signals.understand(text).intent
