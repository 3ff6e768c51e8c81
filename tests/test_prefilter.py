"""Checking a message skips the rules that cannot match it, and finds what a full scan finds.

The prefilter (safetybot/guidance/prefilter.py) only decides which patterns to run and where; the
oracle here is the same Rules with the prefilter switched off (every pattern scanned in full,
as before it existed). Any difference, in a flag, a quote or a level, fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safetybot.guidance import redflags
from safetybot.guidance.prefilter import Found, Pieces, Scan
from safetybot.guidance.redflags import Finding, Rules, normalize

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ROOT / "locales"


@pytest.fixture(scope="module")
def rules() -> Rules:
    return Rules.load(LOCALES)


def _texts() -> list[str]:
    texts = []
    for path in sorted((ROOT / "safetybot" / "data").glob("*/*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text("utf-8").splitlines()]
    return texts


TEXTS = _texts()


def _plain_finditer(self: Scan, text: str, found: Found) -> Iterator[re.Match[str]]:
    return self.pattern.finditer(text)


def _plain_search(self: Scan, text: str, found: Found, pos: int, endpos: int) -> bool:
    return self.pattern.search(text, pos, endpos) is not None


def _key(finding: Finding) -> tuple[object, ...]:
    return (
        [(hit.flag, hit.quotes) for hit in finding.flags],
        finding.level,
        finding.score,
        finding.empty,
    )


def _without_prefilter(rules: Rules, texts: list[str]) -> list[tuple[object, ...]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Scan, "may_match", lambda self, found: True)
        patch.setattr(Scan, "finditer", _plain_finditer)
        patch.setattr(Scan, "search", _plain_search)
        patch.setattr(redflags, "_shape_spans", _plain_shapes)
        return [_key(rules.check(text)) for text in texts]


# The shapes as they were written before their own prefilter: a look-behind first.
_L, _R, _B58 = r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])", "1-9A-HJ-NP-Za-km-z"
_PLAIN_SHAPES = (
    (re.compile(rf"{_L}[13][{_B58}]{{25,34}}{_R}"), redflags._whole(redflags._looks_random)),
    (re.compile(rf"{_L}(?:bc|ltc|tb)1[02-9ac-hj-np-z]{{25,87}}{_R}", re.I), len),
    (re.compile(rf"{_L}0x[0-9a-fA-F]{{40}}{_R}"), len),
    (re.compile(rf"{_L}T[{_B58}]{{33}}{_R}"), redflags._whole(redflags._looks_random)),
    (redflags._IBAN, redflags._iban_length),
    (
        re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])"),
        redflags._whole(redflags._luhn_ok),
    ),
)


def _plain_shapes(text: str) -> Iterator[tuple[int, int]]:
    for pattern, valid_length in _PLAIN_SHAPES:
        for found in pattern.finditer(text):
            length = valid_length(found.group())
            if length:
                yield found.start(), found.start() + length


def test_every_labelled_message_gets_the_same_finding_as_a_full_scan(rules: Rules) -> None:
    # Single messages, and long ones made of several (the 4,096-character case, many flags).
    long = [" ".join(TEXTS[start::97][:12]) for start in range(97)]
    texts = TEXTS + long
    fast = [_key(rules.check(text)) for text in texts]
    assert fast == _without_prefilter(rules, texts)
    assert sum(1 for key in fast if key[0]) > len(texts) // 5  # the texts do raise flags


def _vocabulary(rules: Rules) -> list[str]:
    """The rules' own needed pieces and first words: texts dense with near misses."""
    words = set()
    for by_flag in rules._rules.values():
        for flag_rules in by_flag.values():
            for rule in flag_rules:
                for scan in (*rule.match, *rule.near, *rule.unless):
                    words |= {piece for one in scan.needs for piece in one}
                    words |= {text for text, _ in scan.starts}
    return sorted(words)


_GLUE = st.sampled_from([" ", "", ", ", ". ", "\n", "'", "-", "$", "3", "٣", "ж", "_", "é"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_mix_of_the_rules_own_words_gets_the_same_finding_as_a_full_scan(
    rules: Rules, data: st.DataObject
) -> None:
    vocabulary = _vocabulary(rules)
    parts = data.draw(st.lists(st.tuples(st.sampled_from(vocabulary), _GLUE), max_size=30))
    text = "".join(word + glue for word, glue in parts)
    assert [_key(rules.check(text))] == _without_prefilter(rules, [text])


_SHAPED = [
    "4111 1111 1111 1111",
    "4111-1111-1111-1111",
    "5500005555555559",
    "DE89 3704 0044 0532 0130 00",
    "GB82WEST12345698765432",
    "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
    "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    "0x52908400098527886E0F7030069857D2E4169EE7",
    "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL",
]


@settings(max_examples=300, deadline=None)
@given(
    parts=st.lists(
        st.one_of(
            st.sampled_from(_SHAPED),
            st.text(alphabet="0123456789 -abcxyzABCTXſK٣.,", max_size=12),
        ),
        max_size=8,
    )
)
def test_payment_shapes_are_found_as_before(parts: list[str]) -> None:
    text = "".join(parts)
    assert list(redflags._shape_spans(text)) == list(_plain_shapes(text))


def test_every_payment_shape_is_found() -> None:
    for shaped in _SHAPED:
        assert list(redflags._shape_spans(f"pay to {shaped} now")), shaped


def test_a_pattern_needs_its_literal_words_and_starts_where_they_do() -> None:
    scan = Scan.of(re.compile(r"\bif (?:i|we) (?:didn'?t|don'?t) pay\b"))
    assert frozenset({"if i didnt pay", "if we dont pay", "if i didn't pay"}) <= scan.needs[0]
    assert ("if i didnt pay", True) in scan.starts
    assert scan.fast is not None  # "i" is a literal: the engine can skip to it


def test_a_pattern_that_may_start_anywhere_finds_what_a_full_scan_finds() -> None:
    for pattern in (r"(?i)\bpay\b", r"[a-z]{2,12} gift", r"\b(?:in )?(?:\d{1,3}|an?) min"):
        scan = Scan.of(re.compile(pattern))
        pieces = Pieces([scan])
        scan = pieces.numbered(scan)
        text = normalize("IN 5 MIN, pay me with a Steam gift card")
        found = pieces.find(text)
        assert [m.span() for m in scan.finditer(text, found)] == [
            m.span() for m in scan.pattern.finditer(text)
        ]


def test_digits_of_other_scripts_are_not_missed() -> None:
    # \d also takes Arabic-Indic digits: a pattern anchored on 0-9 is then scanned in full.
    scan = Scan.of(re.compile(r"(?<![\w.,])\d{1,3} ?(?:minutes|min)\b"))
    assert scan.digit_starts
    pieces = Pieces([scan])
    scan = pieces.numbered(scan)
    for text in ("in ١٥ minutes", "in 15 minutes", "in 1٥ min"):
        found = pieces.find(text)
        assert scan.may_match(found)
        assert [m.group() for m in scan.finditer(text, found)] == [
            m.group() for m in scan.pattern.finditer(text)
        ]


# Patterns no first word anchors ("[a-z]{2,12} gift card"): looked for only around the pieces
# every match holds, within the longest match and how far past it the pattern looks.
_ANCHORED_BY_PIECES = (
    r"\b(?:(?:[a-z]{2,12} )?gift ?cards?|(?:steam|apple) (?:gift ?)?(?:cards?|codes?))\b",
    r"\b(?:[a-z]{2,5} )?gift cards?(?! (?:now|today))\b",
    r"(?:[a-z]{1,3} ){0,2}card codes?(?=[ .,!]|$)",
)


# Their words, near misses, and words of every length the patterns take (up to 12 letters).
_GIFT_WORDS = (
    *("gift", "card", "cards", "code", "codes", "steam", "apple", "now", "today", "a"),
    *("giftcard", "xcard", "cardx", " ", "  ", ".", ",", "!", "ab", "abc", "abcde"),
    *("abcdefghijkl", "abcdefghijklm"),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(
        st.sampled_from(_GIFT_WORDS),
        max_size=30,
    ),
    glue=st.sampled_from(["", " "]),
)
def test_a_pattern_looked_for_around_its_pieces_finds_what_a_full_scan_finds(
    parts: list[str], glue: str
) -> None:
    text = glue.join(parts)
    for pattern in _ANCHORED_BY_PIECES:
        scan = Scan.of(re.compile(pattern))
        assert scan.reach[0] and not scan.starts, pattern  # the path under test
        pieces = Pieces([scan])
        scan = pieces.numbered(scan)
        found = pieces.find(text)
        expected = [m.span() for m in scan.pattern.finditer(text)]
        got = [m.span() for m in scan.finditer(text, found)] if scan.may_match(found) else []
        assert got == expected, (pattern, text)
