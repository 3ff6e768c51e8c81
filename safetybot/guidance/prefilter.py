"""What a red-flag pattern needs before it can match, so most patterns skip most messages.

"Check a message" runs close to 300 patterns, and each one scanned every character of the
message: 24 ms for 4,096 characters, five times the budget. Three things cut that without
changing a single result (tests/test_prefilter.py compares every finding with a plain scan):

- a pattern's *needed pieces*, read from the pattern's own parse: sets of literal text such
  that every match holds a piece of each set ("if i didnt pay" or "if we dont pay"...; "pay").
- one pass over the message finds every needed piece of every pattern at once (Aho-Corasick,
  pyahocorasick); a pattern whose needs are not all met is not run at all.
- a leading word boundary (`\\b`) is checked after the engine finds a candidate: a pattern that
  starts with `\\b` cannot use the engine's fast scan for its possible first letters.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import ahocorasick

__all__ = ["Found", "Pieces", "Scan"]

_parser = importlib.import_module("re._parser")  # the stdlib's own regex parser (3.11+)
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_BOUNDARY = re.compile(r"\b")
_ODD_DIGIT = re.compile(r"\d(?<![0-9])")
_WORD = re.compile(r"\w")
_NOT_WORD = re.compile(r"[^\w ]")  # a space stays a space: fewer replacements
# Shorter pieces ("i", "me") are in almost every message: looking for them costs more than it
# saves, so a set holding one says nothing.
_SHORTEST = 3


@dataclass(frozen=True)
class Scan:
    """One compiled pattern, with what it needs, where it may start, and how to find it fast."""

    pattern: re.Pattern[str]
    fast: re.Pattern[str] | None  # the pattern without its leading \b, when it has one
    # Every match holds one piece of each set (the most telling sets first).
    needs: tuple[frozenset[str], ...]
    # Every match starts with one of these texts (empty: not known), each with whether a
    # word starts there too (a \\b or a (?<!\\w) before a letter).
    starts: frozenset[tuple[str, bool]]
    digit_starts: bool  # `starts` take \\d for 0-9: not for a text with other digits
    masks: tuple[int, ...] = ()  # `needs` as bits of Pieces' numbering
    start_numbers: frozenset[int] = frozenset()  # `starts` in Pieces' numbering
    # With no first words known: the longest a match can be, plus how far past its end the
    # pattern looks (0: not known). A match then lies within this of a piece of its most
    # telling set, and is looked for only there.
    reach: tuple[int, int] = (0, 0)
    anchor_numbers: frozenset[int] = frozenset()  # `needs[0]` in Pieces' numbering

    @classmethod
    def of(cls, pattern: re.Pattern[str]) -> Scan:
        """Read what `pattern` needs from its parse."""
        parsed = _parser.parse(pattern.pattern, pattern.flags)
        items = list(parsed.data)
        if (pattern.flags | parsed.state.flags) & re.IGNORECASE or parsed.getwidth()[0] == 0:
            # Letters in any case, or a match that may be empty: read it the plain way.
            return cls(pattern, None, (), frozenset(), False)
        fast = None
        # When what follows a leading \b starts with known letters, the engine can skip to
        # them; with the \b in front it tries every position instead.
        if (
            len(items) > 1
            and _is_boundary(items[0])
            and _skips_ahead(items[1])
            and pattern.pattern.startswith("\\b")
        ):
            fast = re.compile(pattern.pattern[2:], pattern.flags)
        needs = [one for one in _needs(items) or [] if min(map(len, one)) >= _SHORTEST]
        needs.sort(key=_rank, reverse=True)
        starts, digits = _useful_starts(items)
        reach = (0, 0)
        if not starts and fast is None and needs:
            reach = _reach(parsed)
        return cls(pattern, fast, tuple(needs), starts, digits, reach=reach)

    def may_match(self, found: Found) -> bool:
        """False only when the message cannot hold a match."""
        return all(mask & found.bits for mask in self.masks)

    def finditer(self, text: str, found: Found) -> Iterator[re.Match[str]]:
        """The same matches, in the same order, as `pattern.finditer(text)`."""
        if self.start_numbers and not (self.digit_starts and found.odd_digits):
            # Tried only where one of its first words is: the leftmost match from each point
            # on starts at one of them, so this finds what a full scan finds.
            pos, match = 0, self.pattern.match
            for start in found.starts(self.start_numbers):
                if start >= pos and (hit := match(text, start)) is not None:
                    yield hit
                    pos = hit.end()
            return
        if self.anchor_numbers:
            yield from self._near_anchors(text, found)
            return
        if self.fast is None:
            yield from self.pattern.finditer(text)
            return
        pos, search = 0, self.fast.search
        while (hit := search(text, pos)) is not None:
            if _BOUNDARY.match(text, hit.start()):
                yield hit
                pos = hit.end()
            else:
                pos = hit.start() + 1

    def _near_anchors(self, text: str, found: Found) -> Iterator[re.Match[str]]:
        """The matches of a pattern with no first words, looked for only around the pieces
        every match holds (pieces end at the given indices, inclusive)."""
        longest, beyond = self.reach
        pos, search = 0, self.pattern.search
        for end in found.piece_ends(self.anchor_numbers):
            # A match holding this piece starts at most `longest` before its end and at the
            # latest at its last letter. Read up to where no such match can look (so that
            # the end of the window changes nothing for one): a hit starting by `end` is a
            # match of the whole text, and the leftmost after `pos` (any earlier one would
            # hold an earlier piece, already looked around).
            start = max(pos, end + 1 - longest)
            if start > end:
                continue
            hit = search(text, start, min(len(text), end + 1 + longest + beyond))
            if hit is not None and hit.start() <= end:
                yield hit
                pos = hit.end()

    def search(self, text: str, found: Found, pos: int, endpos: int) -> bool:
        """Whether `pattern.search(text, pos, endpos)` finds a match."""
        if self.start_numbers and not (self.digit_starts and found.odd_digits):
            match = self.pattern.match
            return any(
                match(text, start, endpos) is not None
                for start in found.starts(self.start_numbers)
                if pos <= start < endpos
            )
        if self.fast is None:
            return self.pattern.search(text, pos, endpos) is not None
        while (hit := self.fast.search(text, pos, endpos)) is not None:
            if _BOUNDARY.match(text, hit.start()):
                return True
            pos = hit.start() + 1
        return False


class Found:
    """The needed pieces a message holds, and where the first words of patterns start."""

    __slots__ = ("_at", "_ends", "_merged", "bits", "odd_digits")

    def __init__(
        self,
        bits: int,
        at: dict[int, list[int]],
        odd_digits: bool,
        ends: dict[int, list[int]] | None = None,
    ) -> None:
        self.bits = bits
        self._at = at
        self._ends = ends or {}  # where anchor pieces end (inclusive index), by number
        self._merged: dict[frozenset[int], list[int]] = {}  # patterns share their first words
        self.odd_digits = odd_digits  # digits other than 0-9 (Arabic, Devanagari...)

    def piece_ends(self, numbers: frozenset[int]) -> list[int]:
        """Where any of these numbered pieces ends (the index of its last letter), in order."""
        return sorted({end for number in numbers for end in self._ends.get(number, ())})

    def starts(self, numbers: frozenset[int]) -> list[int]:
        """Where any of these numbered pieces starts, in order."""
        merged = self._merged.get(numbers)
        if merged is None:
            present = numbers & self._at.keys()
            if len(present) == 1:
                merged = self._at[next(iter(present))]
            else:
                merged = sorted({start for number in present for start in self._at[number]})
            self._merged[numbers] = merged
        return merged


class Pieces:
    """Every needed piece and first word of a set of patterns, found in a message at once."""

    def __init__(self, scans: Iterable[Scan]) -> None:
        self._needed: dict[str, int] = {}
        # A first word is numbered with how it is looked up: after a word boundary or not.
        self._starting: dict[tuple[str, bool], int] = {}
        anchors: set[str] = set()  # pieces whose places are kept, not only whether they occur
        for scan in scans:
            for piece in sorted({piece for one in scan.needs for piece in one}):
                self._needed.setdefault(piece, len(self._needed))
            for start in sorted(scan.starts):
                self._starting.setdefault(start, len(self._starting))
            if scan.reach[0]:
                anchors |= scan.needs[0]
        # Two passes (Aho-Corasick). Over the text: whether each needed piece occurs, and
        # where first words that need no word boundary start. Over the text with every other
        # non-letter made a space, and a space in front: where the first words after a word
        # boundary start, looked up as " word" (so found at the start of words only, not
        # inside every word that holds their letters).
        plain: dict[str, tuple[int | None, list[tuple[int, int]]]] = {
            piece: (number, []) for piece, number in self._needed.items()
        }
        self._anchors = frozenset(self._needed[piece] for piece in anchors)
        spaced: dict[str, list[tuple[int, int]]] = {}
        for (word, after_boundary), number in self._starting.items():
            if after_boundary:
                key = " " + _NOT_WORD.sub(" ", word)
                spaced.setdefault(key, []).append((number, len(key) - 1))
            else:
                plain.setdefault(word, (None, []))[1].append((number, len(word) - 1))
        self._plain = _automaton(
            {key: (need, tuple(at), need in self._anchors) for key, (need, at) in plain.items()}
        )
        self._spaced = _automaton({key: tuple(at) for key, at in spaced.items()})

    def numbered(self, scan: Scan) -> Scan:
        """The scan with its needs and first words in this numbering."""
        masks = tuple(sum(1 << self._needed[piece] for piece in one) for one in scan.needs)
        numbers = frozenset(self._starting[start] for start in scan.starts)
        # Only a scan with a reach is looked for around its pieces (the most telling set).
        anchors = {self._needed[piece] for piece in scan.needs[0]} if scan.reach[0] else set()
        return dataclasses.replace(
            scan, masks=masks, start_numbers=numbers, anchor_numbers=frozenset(anchors)
        )

    def find(self, text: str) -> Found:
        """The pieces that occur in `text`, and where the first words start."""
        present: set[int] = set()
        at: dict[int, list[int]] = {}
        ends: dict[int, list[int]] = {}
        if self._plain is not None:
            for end, (need, starting, anchor) in self._plain.iter(text):
                if need is not None:
                    present.add(need)
                    if anchor:
                        ends.setdefault(need, []).append(end)
                for number, back in starting:
                    at.setdefault(number, []).append(end - back)
        if self._spaced is not None:
            # The spaced text is one longer (the space in front), so its " word" key starts
            # where the word starts in the text itself.
            for end, starting in self._spaced.iter(" " + _NOT_WORD.sub(" ", text)):
                for number, back in starting:
                    at.setdefault(number, []).append(end - back)
        bits = sum(1 << number for number in present)
        return Found(bits, at, _ODD_DIGIT.search(text) is not None, ends)


def _automaton(words: dict[str, Any]) -> Any:
    """An Aho-Corasick automaton of these words and their values, or None for no words."""
    if not words:
        return None
    automaton = ahocorasick.Automaton()
    for word, value in words.items():
        automaton.add_word(word, value)
    automaton.make_automaton()
    return automaton


# Windows around anchor pieces pay off for matches up to this long; longer ones are scanned.
_LONGEST_REACH = 200


def _reach(parsed: Any) -> tuple[int, int]:
    """The longest a match can be and how far past its end the pattern may look (a look-ahead's
    longest text, or 1 for a \\b or $), or (0, 0) when either is unbounded or too long."""
    longest = parsed.getwidth()[1]
    beyond = 1  # \b, $ and the like read one character past the match
    stack = list(parsed.data)
    while stack:
        op, value = stack.pop()
        name = op.name
        if name in ("ASSERT", "ASSERT_NOT"):
            direction, sub = value
            if direction == 1:
                beyond = max(beyond, sub.getwidth()[1] + 1)
            stack += list(sub.data)
        elif name == "SUBPATTERN":
            stack += list(value[-1].data)
        elif name == "BRANCH":
            for branch in value[1]:
                stack += list(branch.data)
        elif name in _REPEATS:
            stack += list(value[2].data)
    if longest > _LONGEST_REACH or beyond > _LONGEST_REACH:
        return (0, 0)
    return (longest, beyond)


def _skips_ahead(item: tuple[Any, Any]) -> bool:
    """Whether the engine can jump to where `item` may start (sre_compile's charset prefix)."""
    op, value = item
    while op.name == "SUBPATTERN":
        if not value[-1].data:
            return False
        op, value = value[-1].data[0]
    if op.name == "LITERAL":
        return True
    if op.name == "BRANCH":
        return all(branch.data and branch.data[0][0].name == "LITERAL" for branch in value[1])
    if op.name == "IN":
        return all(member[0].name in ("LITERAL", "CATEGORY") for member in value) and not any(
            member[0].name == "CATEGORY" and member[1].name != "CATEGORY_DIGIT" for member in value
        )
    return False


def _is_boundary(item: tuple[Any, Any]) -> bool:
    op, value = item
    return bool(op.name == "AT" and value.name == "AT_BOUNDARY")


def _needs(items: Any) -> list[frozenset[str]] | None:
    """Sets of literal pieces; every match holds a piece of each set. None: nothing known."""
    needed: list[frozenset[str]] = []
    run: set[str] = {""}  # the texts the literal stretch read so far can be, in full

    def close() -> None:
        nonlocal run
        if "" not in run:
            needed.append(frozenset(run))
        run = {""}

    for item in items:
        whole = _whole(item)
        if whole is not None and len(run) * len(whole) <= _MANY:
            run = {a + b for a in run for b in whole}
            continue
        close()
        if whole is not None:  # too many ways to write it together with what came before
            run = set(whole)
            continue
        op, value = item
        name = op.name
        if name == "SUBPATTERN":
            if value[1] & re.IGNORECASE:  # (?i:...) inside the pattern
                return None
            needed += _needs(value[-1]) or []
        elif name == "BRANCH":
            # One set for the whole alternation: the best set of each branch, joined.
            branches = [_best(_needs(branch)) for branch in value[1]]
            if all(branch is not None for branch in branches):
                needed.append(frozenset().union(*(b for b in branches if b is not None)))
        elif name in _REPEATS and value[0] >= 1:
            needed += _needs(value[2]) or []
    close()
    return needed or None


# At most this many ways to write one literal stretch ("if i didnt pay", "if we dont pay"...).
_MANY = 48
# At most this many first words of one pattern ("send", "post", "share"...).
_MANY_STARTS = 400


def _starts(items: Any, digits: bool) -> frozenset[tuple[str, bool]]:
    """Texts every match of `items` starts with ("" when nothing is known), each with whether
    the character before is sure not to be a letter (then a word starts there)."""
    texts: set[tuple[str, bool]] = {("", False)}
    for item in items:
        if all(text == "" for text, _ in texts) and _bounds(item):
            texts = {("", True)}
            continue
        whole = _whole(item, _MANY_STARTS, digits)
        if whole is not None and len(texts) * len(whole) <= _MANY_STARTS:
            texts = {(a + b, bounded) for a, bounded in texts for b in whole}
            continue
        # Not known in full: how it starts still tells how the whole starts, then stop.
        inner = _item_starts(item, digits)
        if inner is not None and len(texts) * len(inner) <= _MANY_STARTS:
            texts = {
                (a + b, bounded or (a == "" and inner_bounded))
                for a, bounded in texts
                for b, inner_bounded in inner
            }
        break
    return frozenset(texts)


def _bounds(item: tuple[Any, Any]) -> bool:
    """Whether a zero-width item says the character before is not a letter (or a \\b)."""
    op, value = item
    if _is_boundary(item):
        return True
    if op.name != "ASSERT_NOT" or value[0] != -1 or len(value[1].data) != 1:
        return False
    inner_op, members = value[1].data[0]
    return inner_op.name == "IN" and any(
        kind.name == "CATEGORY" and member.name == "CATEGORY_WORD" for kind, member in members
    )


def _item_starts(item: tuple[Any, Any], digits: bool) -> frozenset[tuple[str, bool]] | None:
    op, value = item
    name = op.name
    if name == "SUBPATTERN" and not value[1] & re.IGNORECASE:
        return _starts(value[-1], digits)
    if name == "BRANCH":
        found: set[tuple[str, bool]] = set()
        for branch in value[1]:
            found |= _starts(branch, digits)
        return frozenset(found)
    if name in _REPEATS and value[0] >= 1:
        return _starts(value[2], digits)
    return None


def _useful_starts(items: Any) -> tuple[frozenset[tuple[str, bool]], bool]:
    """A pattern's first words, if they make good anchors, and whether they name digits."""
    for digits in (False, True):
        starts = _starts(items, digits)
        # A \\b before a letter means a word starts there; before anything else, it says less.
        starts = frozenset(
            (text, bounded and _WORD.match(text) is not None) for text, bounded in starts
        )
        # Every start must be known, and no lone letter inside words: one is in too many words
        # to help. At the start of a word it helps ("a" in "an hour"): the words starting with
        # one letter are a few dozen in a long message, where a scan tries every position.
        if all(
            text and (len(text) > 1 or not text.isalpha() or at_word) for text, at_word in starts
        ):
            return starts, digits
    return frozenset(), False


def _whole(item: tuple[Any, Any], many: int = 0, digits: bool = False) -> frozenset[str] | None:
    """Every text one parsed item can match, when they are few and all literal; else None.

    With `digits`, \\d stands for 0 to 9 only (the engine also takes other scripts' digits:
    whoever uses this checks the text has none).
    """
    many = many or _MANY
    op, value = item
    name = op.name
    if name == "LITERAL":
        return frozenset([chr(value)])
    # \\b, ^, $ and lookarounds match no text: the letters either side stay together.
    if name in ("AT", "ASSERT", "ASSERT_NOT"):
        return frozenset([""])
    if name == "IN":
        letters: set[str] = set()
        for kind, member in value:
            if kind.name == "LITERAL":
                letters.add(chr(member))
            elif digits and kind.name == "CATEGORY" and member.name == "CATEGORY_DIGIT":
                letters.update("0123456789")
            elif kind.name == "RANGE" and member[1] - member[0] < 10:
                letters.update(chr(code) for code in range(member[0], member[1] + 1))
            else:
                return None
        return frozenset(letters)
    if name == "SUBPATTERN" and not value[1] & re.IGNORECASE:
        return _sequence(value[-1], many, digits)
    if name == "BRANCH":
        found: set[str] = set()
        for branch in value[1]:
            one = _sequence(branch, many, digits)
            if one is None or len(found | one) > many:
                return None
            found |= one
        return frozenset(found)
    if name in _REPEATS and value[1] <= 3:
        body = _sequence(value[2], many, digits)
        if body is None:
            return None
        found = {""} if value[0] == 0 else set()
        texts = {""}
        for times in range(1, value[1] + 1):
            texts = {a + b for a in texts for b in body}
            if len(texts) > many:
                return None
            if times >= value[0]:
                found |= texts
        return frozenset(found) if len(found) <= many else None
    return None


def _sequence(items: Any, many: int, digits: bool = False) -> frozenset[str] | None:
    texts = {""}
    for item in items:
        whole = _whole(item, many, digits)
        if whole is None or len(texts) * len(whole) > many:
            return None
        texts = {a + b for a in texts for b in whole}
    return frozenset(texts)


def _rank(needs: frozenset[str]) -> tuple[int, int]:
    """How telling a set is: its shortest piece's length, then how few pieces it has."""
    return min(len(piece) for piece in needs), -len(needs)


def _best(needed: list[frozenset[str]] | None) -> frozenset[str] | None:
    return max(needed, key=_rank) if needed else None
