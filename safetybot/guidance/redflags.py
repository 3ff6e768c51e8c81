"""Sextortion red flags in a message: rules as data per locale, quoted, scored, explainable.

`locales/<lang>/redflags.toml` (its header documents the schema) gives, per flag, a
weight and rules: regular expressions over normalized text (casefolded, accents stripped,
whitespace collapsed), each with optional `near` words it needs and `unless` words that cancel
it. Every message is checked against every locale's rules, because people mix languages, and
against the language-independent shapes kept here in code (wallet addresses, IBANs and card
numbers, matched on the original text and checked by their checksums). Weights and `[scoring]`
must agree in every file, so a message scores the same whatever language it is in.

Rules are refused at load when a pattern could backtrack for long: every repeat must be bounded
(at most 60 times), no repeat may sit inside another, and the bounds multiplied along a
pattern stay under a budget. Only the first MAX_CHARS characters of a message are read.

Nothing here logs or keeps the text: a Finding holds flag ids, short quotes and a score, and its
repr leaves the quotes out.
"""

from __future__ import annotations

import bisect
import functools
import importlib
import math
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from safetybot.errors import LocaleError
from safetybot.guidance.lookalikes import load as load_lookalikes
from safetybot.guidance.prefilter import Found, Pieces, Scan

__all__ = [
    "FILE_NAME",
    "MAX_CHARS",
    "MAX_QUOTE",
    "QUESTIONS",
    "Finding",
    "Flag",
    "FlagHit",
    "Level",
    "Question",
    "Rules",
    "check_rules",
    "normalize",
]

FILE_NAME = "redflags.toml"
MAX_CHARS = 20_000
MAX_QUOTE = 80
MAX_QUOTES = 3  # per flag: enough to explain it, short enough to read on a phone
MAX_REPEAT = 60
_COST_BUDGET = 2_500  # bounds multiplied along one pattern
_MATCHES_EXAMINED = 400  # per rule and message, so `near` windows stay bounded work


class Flag(StrEnum):
    """A red flag; the value is its stable id (texts `check.flag.<id>`, `check.q.<id>`)."""

    PAYMENT_DEMAND = "payment_demand"
    PAYMENT_DETAILS = "payment_details"
    DEADLINE = "deadline"
    THREAT_TO_SHARE = "threat_to_share"
    CLAIMS_IMAGES = "claims_images"
    HACKED_DEVICE = "hacked_device"
    MOVE_APP = "move_app"
    SEXUAL_REQUEST_NEW_CONTACT = "sexual_request_new_contact"
    PRESSURE_MORE = "pressure_more"
    IMPERSONATION = "impersonation"
    MENTIONS_MINOR = "mentions_minor"


class Level(StrEnum):
    """How strongly a message as a whole looks like sextortion, weakest first."""

    NONE = "none"
    SOME = "some"
    LIKELY = "likely"
    VERY_LIKELY = "very_likely"

    def at_least(self, other: Level) -> bool:
        """Whether this level is `other` or stronger."""
        order = list(Level)
        return order.index(self) >= order.index(other)


@dataclass(frozen=True)
class FlagHit:
    """One flag found, with the words of the original message that show it."""

    flag: Flag
    quotes: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Finding:
    """What a message (or a questionnaire) shows: flags in a fixed order, a level, a score."""

    flags: tuple[FlagHit, ...]
    level: Level
    score: float
    truncated: bool = False  # only the first MAX_CHARS characters were read
    empty: bool = False  # no letters or digits at all (nothing, or only emoji)
    # Someone describing sextortion (an account, news, advice), not doing it (checker.py).
    report: bool = False
    # The locales whose rules found a flag (a message in one language fires its own).
    locales: tuple[str, ...] = ()
    # Where the last words showing a flag end in the message (0: no flag found).
    last_flag_end: int = 0

    @property
    def ids(self) -> frozenset[Flag]:
        """The flags found, without their quotes."""
        return frozenset(hit.flag for hit in self.flags)

    @property
    def urgent(self) -> bool:
        """Whether there is a deadline (the crisis path should be offered)."""
        return Flag.DEADLINE in self.ids


@dataclass(frozen=True)
class Question:
    """One yes/no question of the button-only questionnaire; yes means its flag."""

    flag: Flag

    @property
    def key(self) -> str:
        """The catalog key of the question's text."""
        return f"check.q.{self.flag}"


# The order a person is asked in: how it started, what was asked, then what was threatened.
QUESTIONS: tuple[Question, ...] = tuple(
    Question(flag)
    for flag in (
        Flag.SEXUAL_REQUEST_NEW_CONTACT,
        Flag.MOVE_APP,
        Flag.IMPERSONATION,
        Flag.PRESSURE_MORE,
        Flag.CLAIMS_IMAGES,
        Flag.HACKED_DEVICE,
        Flag.THREAT_TO_SHARE,
        Flag.PAYMENT_DEMAND,
        Flag.PAYMENT_DETAILS,
        Flag.DEADLINE,
        Flag.MENTIONS_MINOR,
    )
)

# ---------------------------------------------------------------- normalizing, quoting

_PUNCTUATION = {"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"}
_PUNCTUATION |= {"\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"'}


@functools.lru_cache(maxsize=8192)
def _fold(char: str) -> str:
    if char.isspace():
        return " "
    if unicodedata.category(char) == "Cf":  # zero-width and direction marks can hide words
        return ""
    char = _PUNCTUATION.get(char, char)
    # Look-alike letters ("ⲣау") read as the Latin ones they imitate, one for one: before lower
    # case, which loses the look ("Η", eta, is an H; "η" an n), and after NFKD, which may bare one.
    lookalikes = load_lookalikes()
    char = lookalikes.get(char, char)
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", char).casefold())
    # At most 4 characters each: a few ligatures expand to 18, which would unbound the work.
    return "".join(lookalikes.get(c, c) for c in folded if not unicodedata.combining(c))[:4]


class _Folds(dict[int, str]):
    """A str.translate table giving each character its folded form, filled as they are met."""

    def __missing__(self, code: int) -> str:
        folded = _fold(chr(code))
        if len(self) < 65536:  # bounded, whatever text it is fed
            self[code] = folded
            if len(folded) != 1:
                _NOT_ONE.add(chr(code))
        return folded


class _Lengths(dict[int, str]):
    """A str.translate table giving each character the length of its folded form, as a
    character (chr(0) to chr(4)): a text's lengths are then read in one pass in C."""

    def __missing__(self, code: int) -> str:
        length = chr(len(_FOLDS[code]))
        if len(self) < 65536:
            self[code] = length
        return length


_FOLDS = _Folds()
_LENGTHS = _Lengths()
_NOT_ONE: set[str] = set()  # characters whose folded form is not exactly one character
# In ASCII, folding is lower case, one space for any white space, and ` as an apostrophe.
_ASCII = {code: " " for code in range(128) if chr(code).isspace()} | {ord("`"): "'"}
_RUNS = re.compile(" {2,}")


@dataclass(frozen=True)
class _Text:
    folded: str
    # For each folded character, its index in the original text: either listed in full, or
    # (when every character folded to one) the folded indices where the shift grows, and to what.
    origin: tuple[int, ...] | None
    breaks: tuple[int, ...] = ()
    shifts: tuple[int, ...] = ()

    def at(self, index: int) -> int:
        """The index in the original text of the folded character at `index`."""
        if self.origin is not None:
            return self.origin[index]
        place = bisect.bisect_right(self.breaks, index) - 1
        return index + (self.shifts[place] if place >= 0 else 0)


def _normalize(text: str) -> _Text:
    # The same result as folding one character at a time (_normalize_slowly), in a few passes
    # in C: a 4,096-character message is read in a tenth of a millisecond, not half of one.
    raw = text.lower().translate(_ASCII) if text.isascii() else text.translate(_FOLDS)
    if len(raw) != len(text) or not _NOT_ONE.isdisjoint(text):
        return _normalize_mapped(text, raw)
    lead = len(raw) - len(raw.lstrip(" "))
    end = len(raw.rstrip(" "))
    if lead == len(raw):
        return _Text("", ())
    breaks: list[int] = [0]
    shifts: list[int] = [lead]
    removed = lead
    for run in _RUNS.finditer(raw, lead, end):
        removed += run.end() - run.start() - 1
        breaks.append(run.start() + 1 - (removed - (run.end() - run.start() - 1)))
        shifts.append(removed)
    folded = _RUNS.sub(" ", raw[lead:end])
    return _Text(folded, None, tuple(breaks), tuple(shifts))


def _code_points(text: str) -> npt.NDArray[np.uint32]:
    # "surrogatepass": a lone surrogate (which JSON allows) is a code point like any other.
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _normalize_mapped(text: str, raw: str) -> _Text:
    """What _normalize_slowly gives, for a text with a character that folds to none or to
    several ("…", an emoji joiner), in a few passes in C rather than a loop over its letters
    (a 4,096-character message: about 0.26 ms, not 0.44)."""
    origin = np.repeat(np.arange(len(text)), _code_points(text.translate(_LENGTHS)))
    chars = _code_points(raw)
    space = chars == ord(" ")
    # A space is kept when the folded character before it is not one (so runs become one
    # space and leading spaces go), and the last one goes.
    keep = ~space
    keep[1:] |= space[1:] & ~space[:-1]
    kept = np.flatnonzero(keep)
    if len(kept) and space[kept[-1]]:
        keep[kept[-1]] = False
    folded = chars[keep].tobytes().decode("utf-32-le", "surrogatepass")
    return _Text(folded, tuple(origin[keep].tolist()))


def _normalize_slowly(text: str) -> _Text:
    """Folding one character at a time: the reference the quicker ways must agree with."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        for folded in _fold(char):
            if folded == " " and (not chars or chars[-1] == " "):
                continue
            chars.append(folded)
            origin.append(index)
    if chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    return _Text("".join(chars), tuple(origin))


def normalize(text: str) -> str:
    """Return the text as rules see it: casefolded, accents stripped, whitespace collapsed."""
    return _normalize(text).folded


def _joins(text: str, index: int) -> bool:
    """Whether a quote boundary at `index` would cut a word (or an accent off its letter)."""
    if index <= 0 or index >= len(text):
        return False
    after = text[index]
    return unicodedata.combining(after) > 0 or (text[index - 1].isalnum() and after.isalnum())


def _quote(text: str, start: int, end: int) -> str:
    """The words of `text` at [start, end), widened to whole words, at most MAX_QUOTE long."""
    for _ in range(20):
        if not _joins(text, start):
            break
        start -= 1
    for _ in range(20):
        if not _joins(text, end):
            break
        end += 1
    quote = text[start:end].strip()
    if len(quote) > MAX_QUOTE:
        cut = quote.rfind(" ", 0, MAX_QUOTE + 1)
        quote = quote[: cut if cut > MAX_QUOTE // 2 else MAX_QUOTE].rstrip()
    return quote


# ---------------------------------------------------------------- language-independent shapes

_BASE58 = "1-9A-HJ-NP-Za-km-z"
_L, _R = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])"


def _after_first(first: str, rest: str, flags: int = 0) -> re.Pattern[str]:
    """`_L first rest`, with the look behind moved after the first character.

    The same matches, found faster: a pattern that starts with a look-behind is tried at every
    position, one that starts with its first character lets the engine skip to it.
    """
    return re.compile(f"{first}(?<![0-9A-Za-z]{first}){rest}", flags)


def _looks_random(token: str) -> bool:
    rest = token[1:]
    mixed_case = any(c.isupper() for c in rest) and any(c.islower() for c in rest)
    return any(c.isalpha() for c in rest) and (mixed_case or any(c.isdigit() for c in rest))


def _iban_ok(token: str) -> bool:
    compact = token.replace(" ", "").upper()
    if not 15 <= len(compact) <= 34:
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def _iban_length(token: str) -> int:
    """How much of the token is a valid IBAN: a word after it ("... 1332 now") may be caught."""
    for _ in range(3):
        if _iban_ok(token):
            return len(token)
        if " " not in token:
            break
        token = token.rsplit(" ", 1)[0]
    return 0


def _luhn_ok(token: str) -> bool:
    digits = [int(c) for c in token if c.isdigit()]
    total = sum(
        d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits[::-1])
    )
    return total % 10 == 0 and len(set(digits)) > 1


def _whole(valid: Callable[[str], bool]) -> Callable[[str], int]:
    return lambda token: len(token) if valid(token) else 0


_WALLETS: tuple[tuple[re.Pattern[str], Callable[[str], int]], ...] = (
    (_after_first("[13]", f"[{_BASE58}]{{25,34}}{_R}"), _whole(_looks_random)),  # Bitcoin
    (re.compile(rf"{_L}(?:bc|ltc|tb)1[02-9ac-hj-np-z]{{25,87}}{_R}", re.I), len),  # bech32
    (_after_first("0", f"x[0-9a-fA-F]{{40}}{_R}"), len),  # Ethereum and its tokens
    (_after_first("T", f"[{_BASE58}]{{33}}{_R}"), _whole(_looks_random)),  # Tron (USDT)
)
_IBAN = re.compile(
    rf"{_L}[A-Z]{{2}}[0-9]{{2}}(?: ?[0-9A-Z]{{4}}){{2,7}}(?: ?[0-9A-Z]{{1,3}})?{_R}", re.I
)
# A card number: 13 to 19 digits, spaces or dashes between, no digit either side.
_CARD = re.compile(r"[0-9](?<![0-9][0-9])(?:[ -]?[0-9]){12,18}(?![0-9])")
# What each shape needs at the least, looked for first: most messages have none of it.
_WALLET_LEAST = 26  # characters in one word: the shortest wallet address
_IBAN_START = re.compile(r"[0-9]{2}(?<=[A-Z]{2}[0-9]{2})", re.I)  # two letters, two digits
_ASCII_DIGIT = re.compile(r"[0-9]")
_CARD_LEAST = 13  # digits


def _iban_spans(text: str) -> Iterator[tuple[int, int]]:
    """What `_IBAN.finditer` finds and `_iban_length` keeps, tried only where two letters and
    two digits meet: a pattern starting with a look-behind and letters in any case is tried
    at every position of the text, the digits are found in one quick scan."""
    pos = 0
    for digits in _IBAN_START.finditer(text):
        if digits.start() - 2 >= pos and (found := _IBAN.match(text, digits.start() - 2)):
            length = _iban_length(found.group())
            if length:
                yield found.start(), found.start() + length
            pos = found.end()


def _shape_spans(text: str) -> Iterator[tuple[int, int]]:
    if max(map(len, text.split()), default=0) >= _WALLET_LEAST:
        yield from _spans(text, _WALLETS)
    if _IBAN_START.search(text):
        yield from _iban_spans(text)
    if len(_ASCII_DIGIT.findall(text)) >= _CARD_LEAST:
        yield from _spans(text, ((_CARD, _whole(_luhn_ok)),))  # cards


def _spans(
    text: str, shapes: Iterable[tuple[re.Pattern[str], Callable[[str], int]]]
) -> Iterator[tuple[int, int]]:
    for pattern, valid_length in shapes:
        for found in pattern.finditer(text):
            length = valid_length(found.group())
            if length:
                yield found.start(), found.start() + length


# ---------------------------------------------------------------- rules and scoring


@dataclass(frozen=True)
class _Rule:
    match: tuple[Scan, ...]  # apart, so that overlapping words all count
    near: tuple[Scan, ...]  # none: nothing else is needed
    unless: tuple[Scan, ...]
    within: int | None  # characters either side of the match; None: the whole message

    def spans(self, text: str, found: Found) -> Iterator[tuple[int, int]]:
        """Where this rule fires in normalized text (`found`: what Pieces found in it)."""
        # Patterns that cannot match this message are not run at all (prefilter.py).
        matches = [scan for scan in self.match if scan.may_match(found)]
        near = [scan for scan in self.near if scan.may_match(found)]
        if not matches or (self.near and not near):
            return
        unless = [scan for scan in self.unless if scan.may_match(found)]
        if self.within is None:
            if near and not any(scan.search(text, found, 0, len(text)) for scan in near):
                return
            if any(scan.search(text, found, 0, len(text)) for scan in unless):
                return
        for scan in matches:
            fired = 0
            for examined, hit in enumerate(scan.finditer(text, found)):
                if examined >= _MATCHES_EXAMINED or fired >= MAX_QUOTES:
                    break
                start, end = hit.span()
                if self.within is not None:
                    low, high = max(0, start - self.within), min(len(text), end + self.within)
                    if near and not any(other.search(text, found, low, high) for other in near):
                        continue
                    if any(other.search(text, found, low, high) for other in unless):
                        continue
                fired += 1
                yield start, end

    def numbered(self, pieces: Pieces) -> _Rule:
        """This rule with its patterns' needs numbered by `pieces`."""
        return _Rule(
            tuple(pieces.numbered(scan) for scan in self.match),
            tuple(pieces.numbered(scan) for scan in self.near),
            tuple(pieces.numbered(scan) for scan in self.unless),
            self.within,
        )


@dataclass(frozen=True)
class _Scoring:
    weights: Mapping[Flag, float]
    some: float
    likely: float
    very_likely: float
    likely_needs: frozenset[Flag]

    def finding(self, hits: Iterable[FlagHit], truncated: bool = False) -> Finding:
        ordered = tuple(sorted(hits, key=lambda hit: list(Flag).index(hit.flag)))
        found = {hit.flag for hit in ordered}
        score = round(sum(self.weights[flag] for flag in found), 2)
        level = Level.NONE
        for threshold, name in (
            (self.some, Level.SOME),
            (self.likely, Level.LIKELY),
            (self.very_likely, Level.VERY_LIKELY),
        ):
            if score >= threshold:
                level = name
        # Money and deadlines alone are a bill: sextortion is about images, a hack, or a lie.
        if level.at_least(Level.LIKELY) and not found & self.likely_needs:
            level = Level.SOME
        return Finding(ordered, level, score, truncated=truncated)


class Rules:
    """Every locale's red-flag rules, the shapes in code, and one scoring."""

    def __init__(
        self, rules: Mapping[str, Mapping[Flag, tuple[_Rule, ...]]], scoring: _Scoring
    ) -> None:
        every = [
            scan
            for by_flag in rules.values()
            for flag_rules in by_flag.values()
            for rule in flag_rules
            for scan in (*rule.match, *rule.near, *rule.unless)
        ]
        self._pieces = Pieces(every)
        self._rules = {
            locale: {
                flag: tuple(rule.numbered(self._pieces) for rule in flag_rules)
                for flag, flag_rules in by_flag.items()
            }
            for locale, by_flag in rules.items()
        }
        self._scoring = scoring

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales whose rules are read, in order."""
        return tuple(self._rules)

    @property
    def weights(self) -> Mapping[Flag, float]:
        """Each flag's weight."""
        return self._scoring.weights

    @classmethod
    def load(cls, locales_dir: Path) -> Rules:
        """Read and check every `<locale>/redflags.toml`; raise LocaleError naming the problem."""
        rules, scoring, problems = _load_all(locales_dir)
        if problems or scoring is None:
            raise LocaleError(problems[0] if problems else f"{locales_dir}: no scoring")
        return cls(rules, scoring)

    def check(self, text: str) -> Finding:
        """Find the red flags in a message, quoting the words that show each."""
        truncated = len(text) > MAX_CHARS
        text = text[:MAX_CHARS]
        normal = _normalize(text)
        if not any(c.isalnum() for c in normal.folded):
            return Finding((), Level.NONE, 0.0, truncated=truncated, empty=True)
        spans: dict[Flag, list[tuple[int, int]]] = {}
        found = self._pieces.find(normal.folded)
        locales: list[str] = []
        for locale, by_flag in self._rules.items():
            for flag, flag_rules in by_flag.items():
                for rule in flag_rules:
                    for start, end in rule.spans(normal.folded, found):
                        spans.setdefault(flag, []).append(_original_span(normal, text, start, end))
                        if not locales or locales[-1] != locale:
                            locales.append(locale)
        for span in _shape_spans(text):
            spans.setdefault(Flag.PAYMENT_DETAILS, []).append(span)
        hits = [FlagHit(flag, _quotes(text, found)) for flag, found in spans.items()]
        last = max((end for found in spans.values() for _, end in found), default=0)
        finding = self._scoring.finding(hits, truncated=truncated)
        return replace(finding, locales=tuple(locales), last_flag_end=last)

    def score_answers(self, yes_flags: Iterable[str]) -> Finding:
        """Score the questionnaire: the flags answered yes, with the same weights and levels."""
        try:
            flags = {Flag(flag) for flag in yes_flags}
        except ValueError as error:
            raise ValueError(f"not a red flag id: {error}") from None
        return self._scoring.finding(FlagHit(flag) for flag in flags)


def _original_span(normal: _Text, text: str, start: int, end: int) -> tuple[int, int]:
    first, last = normal.at(start), normal.at(end - 1) + 1
    while last < len(text) and _fold(text[last]) == "":  # accents and marks after the match
        last += 1
    return first, last


def _quotes(text: str, spans: list[tuple[int, int]]) -> tuple[str, ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    quotes: list[str] = []
    for start, end in merged:
        quote = _quote(text, start, end)
        if quote and quote not in quotes:
            quotes.append(quote)
        if len(quotes) == MAX_QUOTES:
            break
    return tuple(quotes)


# ---------------------------------------------------------------- loading and checking files

_TERM = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_SCORING_KEYS = ("some", "likely", "very_likely", "likely_needs")
_RULE_KEYS = ("match", "near", "unless", "within")
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_parser = importlib.import_module("re._parser")  # the stdlib's own regex parser (3.11+)


def check_rules(locales_dir: Path) -> list[str]:
    """Every problem with the red-flag rule files under `locales_dir`, naming file and flag."""
    return _load_all(locales_dir)[2]


def _load_all(
    locales_dir: Path,
) -> tuple[dict[str, dict[Flag, tuple[_Rule, ...]]], _Scoring | None, list[str]]:
    paths = sorted(locales_dir.glob(f"*/{FILE_NAME}")) if locales_dir.is_dir() else []
    if not paths:
        return {}, None, [f"{locales_dir}: no <locale>/{FILE_NAME} files"]
    rules: dict[str, dict[Flag, tuple[_Rule, ...]]] = {}
    problems: list[str] = []
    first: tuple[Path, _Scoring] | None = None
    for path in paths:
        by_flag, scoring, found = _load_file(path)
        problems += found
        if scoring is None:
            continue
        rules[path.parent.name] = by_flag
        if first is None:
            first = (path, scoring)
        else:
            problems += _disagreements(path, scoring, *first)
    return rules, (first[1] if first else None), problems


def _disagreements(path: Path, scoring: _Scoring, first_path: Path, first: _Scoring) -> list[str]:
    found = [
        f"{path}: flag {flag.value!r}: weight {scoring.weights[flag]} differs from "
        f"{first.weights[flag]} in {first_path} (weights must agree in every locale)"
        for flag in Flag
        if scoring.weights[flag] != first.weights[flag]
    ]
    if (scoring.some, scoring.likely, scoring.very_likely, scoring.likely_needs) != (
        first.some,
        first.likely,
        first.very_likely,
        first.likely_needs,
    ):
        found.append(f"{path}: [scoring] differs from {first_path} (it must agree in every locale)")
    return found


def _load_file(path: Path) -> tuple[dict[Flag, tuple[_Rule, ...]], _Scoring | None, list[str]]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        return {}, None, [f"{path}: not valid TOML: {error}"]
    except RecursionError:  # a = [[[[… deeper than tomllib goes
        return {}, None, [f"{path}: not valid TOML: nested too deeply"]
    except (OSError, UnicodeDecodeError) as error:
        return {}, None, [f"{path}: cannot be read ({type(error).__name__})"]
    problems = [
        f"{path}: unknown top-level key {k!r}"
        for k in data
        if k not in ("terms", "scoring", "flag")
    ]
    terms, found = _terms(data.get("terms", {}))
    problems += [f"{path}: [terms]: {p}" for p in found]
    flags = data.get("flag", {})
    if not isinstance(flags, dict):
        return {}, None, [*problems, f"{path}: flag must be a table of [flag.<id>] tables"]
    problems += [f"{path}: unknown flag {k!r}" for k in flags if k not in set(Flag)]
    problems += [f"{path}: flag {f.value!r} is missing" for f in Flag if f.value not in flags]
    weights: dict[Flag, float] = {}
    by_flag: dict[Flag, tuple[_Rule, ...]] = {}
    for flag in Flag:
        if flag.value in flags:
            weight, flag_rules, found = _flag(flags[flag.value], terms)
            problems += [f"{path}: flag {flag.value!r}: {p}" for p in found]
            weights[flag], by_flag[flag] = weight, flag_rules
    scoring, found = _scoring(data.get("scoring"), weights)
    problems += [f"{path}: [scoring]: {p}" for p in found]
    return by_flag, (None if problems else scoring), problems


def _terms(raw: object) -> tuple[dict[str, str], list[str]]:
    if not isinstance(raw, dict):
        return {}, ["must be a table of name = 'pattern'"]
    terms: dict[str, str] = {}
    problems: list[str] = []
    for name, value in raw.items():
        if not isinstance(value, str) or not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            problems.append(f"{name!r} must be a lowercase name with a pattern as text")
            continue
        expanded, unknown = _expand(value, terms)
        problems += [f"{name!r} uses {{{u}}}, which is not defined above it" for u in unknown]
        terms[name] = expanded
    return terms, problems


def _expand(pattern: str, terms: Mapping[str, str]) -> tuple[str, list[str]]:
    unknown = [name for name in _TERM.findall(pattern) if name not in terms]
    return _TERM.sub(lambda m: terms.get(m.group(1), m.group(0)), pattern), unknown


def _flag(raw: object, terms: Mapping[str, str]) -> tuple[float, tuple[_Rule, ...], list[str]]:
    if not isinstance(raw, dict):
        return 0.0, (), ["must be a table with weight and [[...rule]]s"]
    problems = [f"unknown key {k!r}" for k in raw if k not in ("weight", "rule")]
    weight = raw.get("weight")
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not math.isfinite(weight)  # TOML has nan and inf; a score must stay a number
        or weight < 0
    ):
        problems.append("weight must be a number, 0 or more")
        weight = 0.0
    raw_rules = raw.get("rule")
    if not isinstance(raw_rules, list) or not raw_rules:
        return float(weight), (), [*problems, "needs at least one [[flag.<id>.rule]]"]
    rules: list[_Rule] = []
    for number, raw_rule in enumerate(raw_rules, start=1):
        rule, found = _rule(raw_rule, terms)
        problems += [f"rule {number}: {p}" for p in found]
        if rule is not None:
            rules.append(rule)
    return float(weight), tuple(rules), problems


def _rule(raw: object, terms: Mapping[str, str]) -> tuple[_Rule | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ["must be a table"]
    problems = [f"unknown key {k!r}" for k in raw if k not in _RULE_KEYS]
    if "match" not in raw:
        problems.append("needs match = ['pattern', ...]")
    within = raw.get("within")
    if within is not None and (
        isinstance(within, bool) or not isinstance(within, int) or within < 1
    ):
        problems.append("within must be a whole number of characters, 1 or more")
    compiled: dict[str, tuple[re.Pattern[str], ...]] = {}
    for key in ("match", "near", "unless"):
        compiled[key], found = _patterns(raw.get(key), terms)
        problems += [f"{key}: {p}" for p in found]
    if problems or not compiled["match"]:
        return None, problems
    scans = {key: tuple(Scan.of(pattern) for pattern in found) for key, found in compiled.items()}
    return _Rule(scans["match"], scans["near"], scans["unless"], within), []


def _patterns(
    raw: object, terms: Mapping[str, str]
) -> tuple[tuple[re.Pattern[str], ...], list[str]]:
    if raw is None:
        return (), []
    if not isinstance(raw, list) or not raw or not all(isinstance(p, str) for p in raw):
        return (), ["must be a non-empty list of patterns (text)"]
    problems: list[str] = []
    expanded: list[str] = []
    for pattern in raw:
        full, unknown = _expand(pattern, terms)
        problems += [f"pattern '{pattern}' uses {{{u}}}, which is not in [terms]" for u in unknown]
        problem = None if unknown else _pattern_problem(full)
        if problem:
            problems.append(f"pattern '{pattern}' {problem}")
        expanded.append(full)
    if problems:
        return (), problems
    return tuple(re.compile(p) for p in expanded), []


def _pattern_problem(pattern: str) -> str | None:
    """What is wrong with one pattern, or None."""
    if any(unicodedata.category(c) == "Cc" for c in pattern):
        # In TOML "\b" is a backspace: patterns belong in single quotes, where it stays \b.
        return "has a control character (in TOML double quotes, \\b is a backspace): use '...'"
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        return f"is not a valid regular expression ({error})"
    except OverflowError:  # a{99999999999}: Python's own limit, not a re.error
        return "has a repeat count too large for Python (keep repeats at 60 at most)"
    except RecursionError:  # thousands of nested groups
        return "nests groups too deeply"
    literal = re.sub(r"\\.", "", pattern)
    if normalize(literal) != literal.strip():
        return "has capital or accented letters: rules see casefolded text without accents"
    if compiled.search("") is not None:
        return "matches empty text"
    try:
        cost = _cost(_parser.parse(pattern), nested=False)
    except ValueError as error:
        return str(error)
    if cost > _COST_BUDGET:
        return (
            f"may backtrack too long: its repeats multiply to {cost} (keep it under {_COST_BUDGET})"
        )
    return None


def _cost(items: Any, nested: bool) -> int:
    """Repeat bounds multiplied along a parsed pattern; ValueError for what may run away."""
    total = 1
    for op, value in items:
        name = op.name
        if name in _REPEATS:
            low, high, body = value
            if high > MAX_REPEAT:
                raise ValueError(
                    f"has an unbounded repeat (+, *, {{n,}}): write {{0,{MAX_REPEAT}}} at most"
                )
            if nested and high > 1:
                raise ValueError(
                    "repeats inside a repeat, which can backtrack for a very long time"
                )
            total *= (high - low + 1 if high > 1 else 1) * _cost(body, nested or high > 1)
        elif name == "BRANCH":  # branches start with different words: one runs far, not all
            total *= max(_cost(branch, nested) for branch in value[1])
        elif name == "SUBPATTERN":
            total *= _cost(value[-1], nested)
        elif name in ("ASSERT", "ASSERT_NOT"):
            total *= _cost(value[1], nested)
        elif name == "ATOMIC_GROUP":
            total *= _cost(value, nested)
        elif name in ("GROUPREF", "GROUPREF_EXISTS"):
            raise ValueError("uses a back-reference, which rules do not allow")
    return total


def _scoring(raw: object, weights: Mapping[Flag, float]) -> tuple[_Scoring | None, list[str]]:
    if not isinstance(raw, dict):
        return None, ["missing: some, likely, very_likely and likely_needs"]
    problems = [f"unknown key {k!r}" for k in raw if k not in _SCORING_KEYS]
    problems += [f"missing {k!r}" for k in _SCORING_KEYS if k not in raw]
    levels = [raw.get(k) for k in _SCORING_KEYS[:3]]
    numbers = [
        v
        for v in levels
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]
    if len(numbers) != 3 or not 0 < numbers[0] <= numbers[1] <= numbers[2]:
        problems.append(
            "some, likely and very_likely must be numbers with 0 < some <= likely <= very_likely"
        )
    needs = raw.get("likely_needs", [])
    if not isinstance(needs, list) or not all(isinstance(n, str) and n in set(Flag) for n in needs):
        problems.append(f"likely_needs must list flag ids ({', '.join(Flag)})")
        needs = []
    if problems or len(weights) != len(Flag):
        return None, problems
    some, likely, very_likely = (float(n) for n in numbers)
    return _Scoring(dict(weights), some, likely, very_likely, frozenset(Flag(n) for n in needs)), []
