"""The labelled lines as people also type them: slips, held letters, shorthand, look-alikes.

`safetybot evaluate-intents --variants` reads each line again in each of these forms and says
how much is lost: the classes of wording the understanding step must hold to (issue 14: typos,
no accents, look-alike letters, slang), measured rather than hoped for. Every change is drawn
from the line itself (a seed made of its words and the variant's name), so a run is the same on
every machine. Nothing is tuned on the held-out split's variants: the speller and the folding
were measured out of fold on the training split.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Callable

__all__ = ["VARIANTS", "variant"]

# The keys around each letter on a QWERTY keyboard (Spanish keyboards add only the ñ).
_NEIGHBOURS = {
    "q": "wa", "w": "qes", "e": "wrd", "r": "etf", "t": "ryg", "y": "tuh", "u": "yij", "i": "uok",
    "o": "ipl", "p": "ok", "a": "qsz", "s": "awdx", "d": "sefc", "f": "drgv", "g": "fthb",
    "h": "gyjn", "j": "hukm", "k": "jil", "l": "kop", "z": "asx", "x": "zdc", "c": "xfv",
    "v": "cgb", "b": "vhn", "n": "bjm", "m": "nk",
}  # fmt: skip
_CYRILLIC = {"a": "а", "e": "е", "o": "о", "c": "с", "p": "р", "x": "х", "i": "і", "y": "у"}
_DIGITS = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5"}
# Texting shorthand in both languages, written for this evaluation (not the bot's lists).
_SHORTHAND = {
    "you": "u", "your": "ur", "are": "r", "please": "pls", "because": "bc", "to": "2",
    "for": "4", "people": "ppl", "really": "rly", "know": "kno", "what": "wat", "tonight": "2nite",
    "tomorrow": "tmrw", "thanks": "thx", "que": "q", "por": "x", "porque": "xq", "también": "tmb",
    "tambien": "tmb", "nada": "nd", "de": "d", "para": "pa", "qué": "q", "bueno": "bno",
    "muy": "mui", "todo": "tdo", "mensaje": "msj", "quiero": "kiero", "mañana": "mñn",
    "favor": "fa", "estoy": "toy", "ahora": "ahr",
}  # fmt: skip
_WORD = re.compile(r"\w+")
_LETTER = re.compile(r"[^\W\d_]")


def _seeded(text: str, name: str) -> random.Random:
    # Not for secrecy: the same changes to the same line on every machine.
    return random.Random(hashlib.sha256(f"{name}\n{text}".encode()).digest())  # noqa: S311


def _unaccented(text: str, _: random.Random) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _plain(text: str, _: random.Random) -> str:
    return re.sub(r"[^\w\s]", "", text.lower())


def _capitals(text: str, _: random.Random) -> str:
    return text.upper()


def _slip(word: str, seed: random.Random) -> str:
    """One slip of the finger inside a word: a letter dropped, doubled, swapped or mistyped."""
    at = seed.randrange(1, len(word) - 1)
    kind = seed.randrange(4)
    if kind == 0:
        return word[:at] + word[at + 1 :]
    if kind == 1:
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if kind == 2:
        return word[:at] + word[at] + word[at:]
    near = _NEIGHBOURS.get(word[at].lower())
    return word[:at] + (seed.choice(near) if near else word[at]) + word[at + 1 :]


def _slips(text: str, seed: random.Random) -> str:
    def one(match: re.Match[str]) -> str:
        word = match.group()
        if len(word) < 4 or not word.isalpha() or seed.random() >= 0.3:
            return word
        return _slip(word, seed)

    return _WORD.sub(one, text)


def _held(text: str, seed: random.Random) -> str:
    def one(match: re.Match[str]) -> str:
        return match.group() + match.group(2) * (3 if seed.random() < 0.4 else 0)

    return re.sub(r"\b(\w*?)([aeiouy])\b", one, text)


def _lookalikes(text: str, seed: random.Random) -> str:
    return "".join(_CYRILLIC[c] if c in _CYRILLIC and seed.random() < 0.4 else c for c in text)


def _digits(text: str, seed: random.Random) -> str:
    out = []
    for index, char in enumerate(text):
        inside = index > 0 and text[index - 1].isalpha()  # "h3lp", not "3nd"
        swap = _DIGITS.get(char.lower()) if inside and seed.random() < 0.4 else None
        out.append(swap or char)
    return "".join(out)


def _shorthand(text: str, _: random.Random) -> str:
    return _WORD.sub(lambda m: _SHORTHAND.get(m.group().lower(), m.group()), text.lower())


# name, what it does to a line
VARIANTS: dict[str, tuple[str, Callable[[str, random.Random], str]]] = {
    "as written": ("the line as it is", lambda text, _: text),
    "no accents": ("every accent and tilde dropped", _unaccented),
    "no capitals or marks": ("lower case, no punctuation", _plain),
    "all capitals": ("shouted", _capitals),
    "slips": ("a slip of the finger in 3 of 10 words of 4 letters or more", _slips),
    "held letters": ("a last vowel held down in 4 of 10 words ('nooo')", _held),
    "look-alike letters": ("4 in 10 of a, e, o, c, p, x, i, y in Cyrillic", _lookalikes),
    "digits for letters": ("4 in 10 of a, e, i, o, s inside a word as 4, 3, 1, 0, 5", _digits),
    "shorthand": ("texting shorthand ('u', '2', 'xq', 'q', 'tmb')", _shorthand),
}


def variant(name: str, text: str) -> str:
    """A line as the variant `name` types it (the same every time)."""
    _, change = VARIANTS[name]
    return change(text, _seeded(text, name))
