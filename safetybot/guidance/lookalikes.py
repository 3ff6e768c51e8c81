"""Look-alike letters ("ⲣау", "ʋour ₚics", "ᴠɪᴅᴇᴏ") read as the Latin letters they imitate.

Scam e-mails and extorters write their threats in letters from other scripts so that word
filters miss them; people sometimes do the same to hide what they type. Unicode's own folding
(NFKD) handles accents and styled letters ("𝐧𝐮𝐝𝐞𝐬", "ｎｕｄｅｓ"), but not letters of another
alphabet that merely look alike. Those are read through a table, `data/lookalikes.tsv`, that
`safetybot build-lookalikes` derives from Unicode's confusables list (UTS #39, as packaged by
confusable-homoglyphs, a dev dependency) and from the letters' Unicode names: each non-ASCII
letter that looks like exactly one Latin letter maps to it, with a few letters and symbols
chosen by hand. The bot reads only the shipped table; a test rebuilds it and compares.
"""

from __future__ import annotations

import collections
import functools
import importlib.resources
import json
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["TABLE_FILE", "build", "built_with", "load", "render", "source_table", "translation"]

TABLE_FILE = Path(__file__).resolve().parent.parent / "data" / "lookalikes.tsv"
# Coptic letters look like the Greek ones they come from ("ⲁ", ALFA, is an alpha): they go the
# way their Greek namesake goes. Their names, where the Greek one differs.
_COPTIC_AS_GREEK = {
    "ALFA": "ALPHA", "VIDA": "BETA", "DALDA": "DELTA", "EIE": "EPSILON", "HATE": "ETA",
    "IAUDA": "IOTA", "KAPA": "KAPPA", "LAULA": "LAMDA", "MI": "MU", "NI": "NU", "SIMA": "SIGMA",
    "UA": "UPSILON", "KHI": "CHI", "RO": "RHO", "O": "OMICRON",
}  # fmt: skip
# A Latin letter named with one of these words before it still looks like that letter
# ("LATIN SMALL LETTER SCRIPT G"); others do not ("TURNED W" looks like an m).
_STILL_ALIKE = ("SCRIPT", "DOTLESS", "OPEN", "CLOSED")
# How far through chains of look-alikes a letter may go to reach a Latin one ("ʍ" looks like
# "ᴍ", a small capital M): further links drift to letters that no longer look alike.
_HOPS = 2
# Only letters are read as letters: a symbol that looks like one ("©", "×") is usually meant as
# that symbol. The few symbols used as letters are chosen by hand below.
_CATEGORIES = ("Lu", "Ll", "Lt", "Lm", "Lo")
# Chosen by hand where the confusables list has no Latin look-alike for a common letter, or more
# than one (these are the ones scam e-mails use). They override the derived table.
_BY_HAND = {
    "в": "b", "н": "h", "п": "n", "г": "r", "т": "t", "μ": "u", "η": "n", "α": "a", "β": "b",
    "ε": "e", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "χ": "x", "ρ": "p", "ο": "o",
    "ł": "l", "ø": "o", "ı": "i", "ɩ": "i", "ӏ": "l", "ǀ": "l", "ℓ": "l", "ⲛ": "n", "ⲉ": "e",
    "є": "e", "ԑ": "e", "ə": "e", "ɘ": "e", "ґ": "r", "ҥ": "h", "ƿ": "p",
    "⍳": "i", "⍺": "a", "⍴": "p", "⍵": "w",
}  # fmt: skip


def _bare(text: str) -> str:
    """Compatibility-decomposed, marks dropped: what the folds already make of a character."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _latin(char: str) -> str | None:
    """The ASCII letter a character is (after folding) or is named after, if any."""
    bare = _bare(char).casefold()
    if len(bare) == 1 and bare.isascii() and bare.isalpha():
        return bare
    name = unicodedata.name(char, "") if len(char) == 1 else ""
    for prefix in ("LATIN SMALL LETTER ", "LATIN CAPITAL LETTER ", "LATIN LETTER SMALL CAPITAL "):
        # "LATIN SMALL LETTER T WITH HOOK" is a t; "LATIN SMALL LETTER TURNED W" is not a w.
        if name.startswith(prefix):
            rest = name[len(prefix) :].split(" WITH ")[0]
            for word in _STILL_ALIKE:
                rest = rest.removeprefix(word + " ")
            return rest.lower() if len(rest) == 1 and rest.isalpha() else None
    return None


def build(confusables: Mapping[str, Iterable[Mapping[str, str]]]) -> dict[str, str]:
    """The table: each non-ASCII character that looks like exactly one Latin letter, and it.

    `confusables` maps a character to its look-alikes (each a mapping with the look-alike in
    "c"), as confusable-homoglyphs ships them. Characters the folds already make ASCII are
    left out, and so is any character whose nearest Latin look-alikes disagree.
    """
    near: dict[str, set[str]] = collections.defaultdict(set)
    for char, alikes in confusables.items():
        for alike in alikes:
            other = alike["c"] if len(alike["c"]) == 1 else _bare(alike["c"])
            if len(other) == 1 and other != char:
                near[char].add(other)
                near[other].add(char)
    table: dict[str, str] = {}
    for char in sorted(near):
        if len(char) != 1 or char.isascii() or unicodedata.category(char) not in _CATEGORIES:
            continue
        if _bare(char.casefold()).isascii():
            continue  # NFKD already folds it ("ｎ", "𝐧", "ñ")
        found = _nearest_latin(char, near)
        if found == "l" and unicodedata.category(char) == "Lu":
            found = "i"  # Unicode's list joins I and l; a capital that looks like either is an I
        if found is not None:
            table[char] = found
    for char, latin in _coptic(table):
        table.setdefault(char, latin)
    table.update(_BY_HAND)
    return dict(sorted(table.items()))


def _nearest_latin(char: str, near: Mapping[str, set[str]]) -> str | None:
    """The one Latin letter closest to `char` through look-alikes, if it is only one."""
    own = _BY_HAND.get(char) or _latin(char)
    if own is not None:
        return own
    seen, frontier = {char}, [char]
    for _ in range(_HOPS):
        found: set[str] = set()
        following: list[str] = []
        for node in frontier:
            for other in sorted(near.get(node, ())):
                if other in seen:
                    continue
                seen.add(other)
                following.append(other)
                latin = _BY_HAND.get(other) or _latin(other)
                if latin is not None:
                    found.add(latin)
        if found:
            return found.pop() if len(found) == 1 else None
        frontier = following
    return None


def _coptic(table: Mapping[str, str]) -> list[tuple[str, str]]:
    """Coptic letters mapped as their Greek namesakes are ("ⲁ" as "α", an a)."""
    pairs = []
    for code in range(0x2C80, 0x2CE4):
        char = chr(code)
        name = unicodedata.name(char, "")
        for case in ("SMALL", "CAPITAL"):
            prefix = f"COPTIC {case} LETTER "
            if not name.startswith(prefix):
                continue
            letter = name[len(prefix) :]
            try:
                namesake = unicodedata.lookup(
                    f"GREEK {case} LETTER {_COPTIC_AS_GREEK.get(letter, letter)}"
                )
            except KeyError:
                continue
            latin = _BY_HAND.get(namesake.lower()) or table.get(namesake) or _latin(namesake)
            if latin is not None:
                pairs.append((char, latin))
    return pairs


def render(table: Mapping[str, str]) -> str:
    """The table as the shipped file: one character per line, its code point, letter and name."""
    lines = [
        "# Look-alike letters read as Latin ones. Made by `safetybot build-lookalikes` from",
        "# Unicode's confusables (UTS #39, via confusable-homoglyphs) and character names.",
        "# Do not edit: change safetybot/guidance/lookalikes.py and rebuild.",
        "# Derived from Unicode Data Files: Copyright © 1991-2026 Unicode, Inc., under the",
        "# Unicode License v3 (LICENSES/Unicode-3.0.txt, https://www.unicode.org/license.txt).",
        f"# Character names and folding: Unicode {unicodedata.unidata_version}.",
    ]
    for char, latin in table.items():
        lines.append(f"U+{ord(char):04X}\t{latin}\t{unicodedata.name(char, '?')}")
    return "\n".join(lines) + "\n"


def source_table() -> dict[str, str]:
    """Build the table from the installed confusable-homoglyphs data (a dev dependency)."""
    data = importlib.resources.files("confusable_homoglyphs").joinpath("confusables.json")
    return build(json.loads(data.read_text(encoding="utf-8")))


def built_with(path: Path = TABLE_FILE) -> str:
    """The Unicode version of the Python that built the table (names and folding differ a little
    between versions)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# Character names and folding: Unicode "):
            return line.rsplit(" ", 1)[1].rstrip(".")
    return ""


@functools.cache
def load(path: Path = TABLE_FILE) -> dict[str, str]:
    """The shipped table, read once per process: character -> Latin letter."""
    table: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        code, latin, _name = line.split("\t", 2)
        table[chr(int(code[2:], 16))] = latin
    return table


@functools.cache
def translation() -> dict[int, str]:
    """The shipped table as a str.translate table (one pass in C over a text)."""
    return str.maketrans(load())
