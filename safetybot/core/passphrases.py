"""What a new vault passphrase must be: long enough, and not one everybody tries first.

A vault's notes are only as safe as its passphrase against someone with the database and the
master key, who can try guesses as fast as Argon2id lets them. Six characters, or a
five-word phrase from a short list, fell in seconds. The rule (issue 16): at least
MIN_CHARACTERS characters, or at least MIN_WORDS words, and not on the list of passphrases
too common to protect anything (safetybot/data/common_passphrases.txt, compared without
spaces, capitals or accents).
"""

from __future__ import annotations

import functools
import importlib.resources
import itertools

from safetybot.core.signals import normalize

__all__ = ["MIN_CHARACTERS", "MIN_WORDS", "problem"]

MIN_CHARACTERS = 12
MIN_WORDS = 3
_WORD_LETTERS = 2  # "a b c" is not three words


def _folded(text: str) -> str:
    return normalize(text).replace(" ", "")


@functools.cache
def _common() -> frozenset[str]:
    source = importlib.resources.files("safetybot") / "data" / "common_passphrases.txt"
    lines = source.read_text("utf-8").splitlines()
    return frozenset(_folded(line) for line in lines if line.strip() and line[0] != "#")


def _trivial(folded: str) -> bool:
    """One character over and over, or a run like 123456789012 or abcdefghijkl."""
    if len(set(folded)) <= 2:
        return True
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(folded)}
    if folded.isdigit():  # 1234567890123 runs on past 9
        steps = {step % 10 for step in steps}
        return steps <= {1} or steps <= {9}
    return steps <= {1} or steps <= {-1}


def problem(passphrase: str) -> str | None:
    """Why a new passphrase is refused, as a text key ("vault.too_short"...), or None."""
    words = [word for word in passphrase.split() if len(word) >= _WORD_LETTERS]
    if len(passphrase.strip()) < MIN_CHARACTERS and len(words) < MIN_WORDS:
        return "vault.too_short"
    folded = _folded(passphrase)
    if folded in _common() or _trivial(folded):
        return "vault.too_common"
    return None
