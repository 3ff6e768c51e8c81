"""How well "check a message" does on a labelled set: precision and recall per flag and language.

The sets are shipped inside the package (safetybot/data/check/), so an installed copy can
measure itself. The first set (first_set.jsonl, the default) holds one JSON object a line:
    {"id": "en-001", "lang": "en" | "es" | "mixed", "text": "...", "extortion": true | false,
     "flags": ["payment_demand", ...], "split": "train" | "holdout"}
The larger sets (train.jsonl, heldout.jsonl; their LABELS.md) say `kind` instead of
`extortion`: "extortion", "benign", or "report" (a victim's account, news or advice that
describes sextortion: it must not be raised like the extorter's own message), with each line's
`source` and `origin`; a line of heldout.jsonl is held out.
`extortion` is true when the message is sextortion or coercion for images: a threat to share
intimate images, a demand tied to images or to a claimed hack, or pressure to send images. Warning
signs alone (a stranger asking to move to another app) are false. `flags` are what a careful
reader would mark, literally: an invoice does demand a payment. Held out (`"split": "holdout"`):
every fifth of the first 174 messages, and the last 40, written after the rules were settled and
never tuned on. The held-out numbers show how well the rules carry over to new wording.

An extortion message is caught when its level is likely or stronger; any other message at that
level is a false alarm. The targets (recall at least 0.90, false alarms at most 5%) must be met in
English, in Spanish and over the whole set.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

from safetybot.errors import LocaleError
from safetybot.guidance.redflags import Finding, Flag, Level, Rules

__all__ = [
    "CHECK_DATA",
    "DEFAULT_DATA",
    "FIRST_SET",
    "MAX_FALSE_ALARMS",
    "MIN_RECALL",
    "ORIGINS",
    "Counts",
    "Evaluation",
    "Example",
    "Slice",
    "evaluate",
    "load_examples",
    "run",
]

CHECK_DATA = Path(__file__).resolve().parent.parent / "data" / "check"
# The default: the held-out split, written by an author who never saw the training lines.
DEFAULT_DATA = CHECK_DATA / "heldout.jsonl"
# The rules' own set, written with them (their regression tests).
FIRST_SET = CHECK_DATA / "first_set.jsonl"
MIN_RECALL = 0.90
MAX_FALSE_ALARMS = 0.05
LANGUAGES = ("en", "es", "mixed")
TARGETED = ("en", "es", "all")  # where the targets must hold
_KEYS = {"id", "lang", "text", "extortion", "flags", "split"}
_KINDS = ("extortion", "benign", "report")
ORIGINS = ("own", "public", "adapted")
_KEYS_BY_KIND = {"id", "lang", "text", "kind", "flags", "source", "origin"}


@dataclass(frozen=True)
class Example:
    """One labelled message."""

    id: str
    lang: str
    text: str
    extortion: bool
    flags: frozenset[Flag]
    split: str = "train"
    # "report": someone describing sextortion (an account, news, advice), not doing it.
    kind: str = ""
    # "own": written for safetybot; "public": a real message quoted word for word from a
    # public page; "adapted": changed from one (shortened, translated, a name removed).
    origin: str = "own"
    # Where a line came from: who wrote it, or the page it was quoted from (folds keep a
    # page's lines together when the models are trained).
    source: str = ""


def load_examples(path: Path) -> tuple[Example, ...]:
    """Read the labelled set; ValueError names the line that is wrong."""
    examples: list[Example] = []
    seen: set[str] = set()
    # JSON lines end at \n only: a text may hold \u2028, which splitlines() would split at,
    # and JSON may hold a bare \r as space, which read_text() would make a line break.
    content = path.read_bytes().decode("utf-8")
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            example = _example(raw, "holdout" if path.stem == "heldout" else "train")
        except (ValueError, TypeError, KeyError, RecursionError) as error:  # RecursionError: [[[[
            raise ValueError(f"{path}:{number}: {error}") from None
        if example.id in seen:
            raise ValueError(f"{path}:{number}: id {example.id!r} is used twice")
        seen.add(example.id)
        examples.append(example)
    return tuple(examples)


def _example(raw: object, split: str = "train") -> Example:
    if isinstance(raw, dict) and "kind" in raw:
        return _example_by_kind(raw, split)
    if not isinstance(raw, dict) or set(raw) - _KEYS or not {"id", "lang", "text"} <= set(raw):
        raise ValueError(f"needs the keys {', '.join(sorted(_KEYS))} and no others")
    if raw["lang"] not in LANGUAGES or raw.get("split", "train") not in ("train", "holdout"):
        raise ValueError("lang must be en, es or mixed; split train or holdout")
    if not isinstance(raw["extortion"], bool) or not isinstance(raw["text"], str):
        raise ValueError("extortion must be true or false, text a string")
    return Example(
        id=str(raw["id"]),
        lang=raw["lang"],
        text=raw["text"],
        extortion=raw["extortion"],
        flags=frozenset(Flag(flag) for flag in raw["flags"]),
        split=raw.get("split", "train"),
    )


def _example_by_kind(raw: dict[str, object], split: str) -> Example:
    if set(raw) != _KEYS_BY_KIND:
        raise ValueError(f"needs the keys {', '.join(sorted(_KEYS_BY_KIND))} and no others")
    kind, text, flags = raw["kind"], raw["text"], raw["flags"]
    if raw["lang"] not in LANGUAGES or kind not in _KINDS:
        raise ValueError("lang must be en, es or mixed; kind extortion, benign or report")
    if not isinstance(text, str) or not isinstance(flags, list):
        raise ValueError("text must be a string and flags a list")
    if not isinstance(raw["source"], str) or not str(raw["source"]).strip():
        raise ValueError("every line needs its source")
    if raw["origin"] not in ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(ORIGINS)}")
    return Example(
        id=str(raw["id"]),
        lang=str(raw["lang"]),
        text=text,
        extortion=kind == "extortion",
        flags=frozenset(Flag(flag) for flag in flags),
        split=split,
        kind=str(kind),
        origin=str(raw["origin"]),
        source=str(raw["source"]),
    )


@dataclass(frozen=True)
class Counts:
    """One flag on a set of messages: how often found, how often rightly, how often labelled."""

    found: int = 0
    right: int = 0
    support: int = 0

    @property
    def precision(self) -> float | None:
        """Right / found, or None when never found."""
        return self.right / self.found if self.found else None

    @property
    def recall(self) -> float | None:
        """Right / labelled, or None when never labelled."""
        return self.right / self.support if self.support else None


@dataclass(frozen=True)
class Slice:
    """The results on one language (or all) of one split (or all)."""

    lang: str
    split: str
    messages: int
    extortion: int
    caught: int
    benign: int
    false_alarms: int
    flags: Mapping[Flag, Counts]
    # Of the other messages, those describing sextortion (sets with `kind` only).
    reports: int = 0
    report_alarms: int = 0

    @property
    def recall(self) -> float:
        """Share of extortion messages caught (1.0 when there are none)."""
        return self.caught / self.extortion if self.extortion else 1.0

    @property
    def false_alarm_rate(self) -> float:
        """Share of other messages raised to likely or stronger."""
        return self.false_alarms / self.benign if self.benign else 0.0

    @property
    def meets_targets(self) -> bool:
        """Whether recall and false alarms are within the targets."""
        return self.recall >= MIN_RECALL and self.false_alarm_rate <= MAX_FALSE_ALARMS


@dataclass(frozen=True)
class Evaluation:
    """Every slice, and the ids of the messages that went wrong."""

    slices: tuple[Slice, ...]
    missed: tuple[str, ...]
    false_alarms: tuple[str, ...]

    def slice(self, lang: str = "all", split: str = "all") -> Slice:
        """The slice for a language ("all" for every one) and split ("all", "holdout")."""
        return next(s for s in self.slices if s.lang == lang and s.split == split)

    @property
    def passed(self) -> bool:
        """Whether the targets are met in English, in Spanish and on the whole set."""
        return all(self.slice(lang).meets_targets for lang in TARGETED)

    def render(self, title: str) -> str:
        """The results as a plain-text table."""
        lines = [title, "", "Messages (caught = level likely or stronger)"]
        lines.append(
            f"  {'split':<8}{'lang':<7}{'msgs':>5}{'extortion':>11}{'caught':>8}{'recall':>8}"
            f"{'other':>7}{'false alarms':>14}{'rate':>7}  targets"
        )
        for s in self.slices:
            target = ("met" if s.meets_targets else "NOT MET") if s.split == "all" else "(info)"
            lines.append(
                f"  {s.split:<8}{s.lang:<7}{s.messages:>5}{s.extortion:>11}{s.caught:>8}"
                f"{s.recall:>8.2f}{s.benign:>7}{s.false_alarms:>14}{s.false_alarm_rate:>7.1%}"
                f"  {target}"
            )
        reports = [s for s in self.slices if s.reports and s.split == "all"]
        if reports:
            lines += ["", "Accounts, news and advice about sextortion raised like a threat"]
            for s in reports:
                lines.append(f"  {s.lang:<7}{s.report_alarms:>5} of {s.reports}")
        for split in ("all", "holdout"):
            lines += [
                "",
                f"Flags, {'whole set' if split == 'all' else 'held out'}: "
                "precision / recall (support)",
            ]
            langs = ("en", "es", "all")
            lines.append(f"  {'flag':<28}" + "".join(f"{lang:>20}" for lang in langs))
            for flag in Flag:
                cells = [_cell(self.slice(lang, split).flags[flag]) for lang in langs]
                lines.append(f"  {flag.value:<28}" + "".join(f"{c:>20}" for c in cells))
        lines += [
            "",
            f"Targets: recall >= {MIN_RECALL:.2f} and false alarms <= {MAX_FALSE_ALARMS:.0%} "
            f"in {', '.join(TARGETED)}: {'MET' if self.passed else 'NOT MET'}",
            f"Missed extortion messages: {', '.join(self.missed) or 'none'}",
            f"False alarms: {', '.join(self.false_alarms) or 'none'}",
        ]
        return "\n".join(lines)


def _cell(counts: Counts) -> str:
    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    return f"{number(counts.precision)} / {number(counts.recall)} ({counts.support})"


class Checks(Protocol):
    """What is measured: the rules alone, or the checker (rules and model)."""

    def check(self, text: str) -> Finding:
        """Red flags and a level for one message."""


def evaluate(rules: Checks, examples: Sequence[Example]) -> Evaluation:
    """Check every example and count, per split and language, what was found."""
    results = [(example, rules.check(example.text)) for example in examples]
    slices = []
    # Real messages (quoted from public pages) and adapted ones are also shown apart from the
    # ones written here, when the set has them: how the check fares on wording nobody here wrote.
    origins = [o for o in ORIGINS if any(e.origin == o for e in examples)]
    groups = ["all", "holdout", *(origins if len(origins) > 1 else [])]
    for split in groups:
        for lang in (*LANGUAGES, "all"):
            chosen = [
                (example, finding.ids, finding.level.at_least(Level.LIKELY))
                for example, finding in results
                if lang in ("all", example.lang) and split in ("all", example.split, example.origin)
            ]
            slices.append(_slice(lang, split, chosen))
    missed = tuple(e.id for e, f in results if e.extortion and not f.level.at_least(Level.LIKELY))
    alarms = tuple(e.id for e, f in results if not e.extortion and f.level.at_least(Level.LIKELY))
    return Evaluation(tuple(slices), missed, alarms)


def _slice(lang: str, split: str, chosen: Iterable[tuple[Example, frozenset[Flag], bool]]) -> Slice:
    rows = list(chosen)
    # A report is answered as the person's story, its flags never shown: not counted for flags.
    shown = [row for row in rows if row[0].kind != "report"]
    flags = {
        flag: Counts(
            found=sum(flag in found for _, found, _ in shown),
            right=sum(flag in found and flag in e.flags for e, found, _ in shown),
            support=sum(flag in e.flags for e, _, _ in shown),
        )
        for flag in Flag
    }
    return Slice(
        lang=lang,
        split=split,
        messages=len(rows),
        extortion=sum(e.extortion for e, _, _ in rows),
        caught=sum(e.extortion and alarmed for e, _, alarmed in rows),
        benign=sum(not e.extortion for e, _, _ in rows),
        false_alarms=sum(not e.extortion and alarmed for e, _, alarmed in rows),
        flags=flags,
        reports=sum(e.kind == "report" for e, _, _ in rows),
        report_alarms=sum(e.kind == "report" and alarmed for e, _, alarmed in rows),
    )


def render_variants(checks: Checks, examples: Sequence[Example]) -> str:
    """Recall and false alarms per language with the messages typed as people also type them
    (guidance/variants.py): slips, held letters, shorthand, look-alike letters..."""
    from safetybot.guidance.variants import VARIANTS, variant

    lines = ["", "The same messages as people also type them (guidance/variants.py)"]
    lines += [f"  {name}: {what}" for name, (what, _) in VARIANTS.items()]
    lines += ["", f"  {'variant':<22} {'lang':<5} {'recall':>6} {'false alarms':>12}"]
    for name in VARIANTS:
        for lang in LANGUAGES:
            chosen = [e for e in examples if e.lang == lang]
            threats = [e for e in chosen if e.extortion]
            others = [e for e in chosen if not e.extortion]
            if not threats or not others:
                continue
            caught = sum(_alarmed(checks, variant(name, e.text)) for e in threats)
            alarms = sum(_alarmed(checks, variant(name, e.text)) for e in others)
            recall, rate = caught / len(threats), alarms / len(others)
            lines.append(f"  {name:<22} {lang:<5} {recall:>6.3f} {rate:>11.1%}")
    return "\n".join(lines)


def _alarmed(checks: Checks, text: str) -> bool:
    return checks.check(text).level.at_least(Level.LIKELY)


def run(
    data: Path,
    locales_dir: Path,
    out: TextIO,
    err: TextIO,
    rules_only: bool = False,
    variants: bool = False,
) -> int:
    """The `evaluate-check` command: print the table; 0 targets met, 1 not met, 2 bad input."""
    from safetybot.guidance.checker import FLAGS_FILE, Checker, load_model

    try:
        rules = Rules.load(locales_dir)
        checks: Checks = (
            rules if rules_only else Checker(rules, load_model(), load_model(FLAGS_FILE))
        )
        examples = load_examples(data)
    except OSError as error:
        print(f"safetybot: {error.strerror}: {error.filename}", file=err)
        return 2
    except (ValueError, LocaleError) as error:
        print(f"safetybot: {error}", file=err)
        return 2
    result = evaluate(checks, examples)
    held = sum(e.split == "holdout" for e in examples)
    how = "the rules alone" if rules_only else "rules and model"
    title = f"Check a message ({how}): {data.name}, {len(examples)} messages ({held} held out)"
    print(result.render(title), file=out)
    if variants:  # a report: the targets stay those of the messages as written
        print(render_variants(checks, examples), file=out)
    return 0 if result.passed else 1
