"""What a person's own words are about: one intent, its evidence, and what they already told.

Run on every text no command, button or open step claims (and, for a crisis, on every text but a
secret). Two layers, because each fails where the other holds:
  - word lists from the catalogs (`match.*`, every locale at once, since people mix languages):
    self-harm phrases and bare cries for help decide outright; deadlines, "paid", "my ex" and
    "a stranger" add what triage would ask;
  - a small learned model over letter pieces and words (guidance/textmodel.py), for wording
    nobody wrote down: typos, missing accents, slang, voseo, look-alike letters.
Self-harm wins over everything (a miss is worse than a false alarm), then danger to the body
now, then a short request for one of the bot's features by name ("make my plan": the model reads
the bot's own "plan" and "note" as self-harm), then the model's self-harm score, then a bare
cry, then a situation that happens to someone else (the helper path), then a near deadline, then
the model's best guess, if it is sure enough; otherwise `other`, whose reply says what the bot
can do. Nothing is kept or logged: the evidence names cues and scores, never the words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from safetybot.guidance.speller import Speller
from safetybot.guidance.textmodel import MAX_CHARS, LinearModel, fold, hashed_words

__all__ = ["FEATURES", "MAYBE_PASTED", "Intent", "Understander", "Understanding", "WordLists"]


class Intent(StrEnum):
    """What a typed message is about; the value is stable (labelled data, texts, metrics)."""

    SELF_HARM = "self_harm"
    URGENT = "urgent"
    THREATENED = "threatened"
    SHARED = "shared"
    DEEPFAKE = "deepfake"
    ASKED_FOR_IMAGES = "asked_for_images"
    PAID = "paid"
    HELPER = "helper"
    ERASE = "erase"
    PASTED = "pasted"
    OTHER = "other"


# Intents about what someone is doing to the person: a near deadline makes them urgent.
_THREATS = frozenset({Intent.THREATENED, Intent.PAID, Intent.DEEPFAKE, Intent.ASKED_FOR_IMAGES})
# What is happening, as the model names it: about someone else, the helper path instead.
_SITUATIONS = _THREATS | {Intent.SHARED}
_SOS = "\U0001f198"  # 🆘, SQUARED SOS


@dataclass(frozen=True)
class Understanding:
    """An intent, how sure, why (cue names and scores, never words), and triage answers."""

    intent: Intent
    confidence: float = 1.0
    evidence: tuple[str, ...] = ()
    answers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class WordLists:
    """The catalog phrases (comma-separated `match.*` texts of every locale)."""

    self_harm: tuple[str, ...] = ()
    # Everyday phrases that hold a self-harm phrase ("me corté el pelo", "me quemé con el
    # horno"): taken out before the self-harm list is read, so the model decides them.
    everyday: tuple[str, ...] = ()
    cry: tuple[str, ...] = ()
    # A whole message that is only a greeting ("hey", "hola", "buenas tardes"): the "what I can
    # do" reply, never "this looks like a message someone sent you".
    greeting: tuple[str, ...] = ()
    deadline: tuple[str, ...] = ()
    erase: tuple[str, ...] = ()
    paid: tuple[str, ...] = ()
    known: tuple[str, ...] = ()
    stranger: tuple[str, ...] = ()
    # Danger now, to the body ("he is hitting me", "está afuera de mi casa"): the danger screen.
    danger: tuple[str, ...] = ()
    # Numbers written as words ("two", "cuarenta y ocho"): what "#" matches besides digits.
    numbers: tuple[str, ...] = ()
    # It happens to someone else ("my son", "mi alumna"), unless the words say it is the
    # writer's own ("my pics", "me amenaza"): a situation becomes the helper path.
    someone_else: tuple[str, ...] = ()
    mine: tuple[str, ...] = ()
    # The writer's own images or recordings ("my pics", "mi contenido", "fotos mías"): with no
    # one else named, the helper path is not theirs (see Understander.understand).
    my_images: tuple[str, ...] = ()
    # A fake account or profile ("perfil falso"), and words for images that were faked ("ai",
    # "edited", "montaje"): a fake account posting real images is not a deepfake.
    fake_account: tuple[str, ...] = ()
    faked_images: tuple[str, ...] = ()
    # A short request for one of the bot's own features, by the command that opens it
    # ("triage": "make my plan", "note": "quiero escribir una nota").
    features: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # Words that turn a request around ("no quiero ningún plan", "dont need the guides").
    negations: tuple[str, ...] = ()
    # Someone else's words urging the reader to hurt themselves ("kill yourself", "mátate"):
    # in a checked message, they add a warm line and "Talk to someone now".
    push_self_harm: tuple[str, ...] = ()
    # Texting shorthand, "word = short forms" ("to = 2", "porque = xq pq"): every list's
    # phrases also match the short forms.
    shorthand: tuple[str, ...] = ()


# The bot's features a typed request may name (`match.feature.<command>`), and the longest such
# request, in words: a longer message tells more than a request, and is read as such.
FEATURES: tuple[str, ...] = ("triage", "check", "guides", "helplines", "note", "privacy")
_FEATURE_WORDS = 8
# The word lists read this much of a message (Telegram's longest); the model reads its first
# MAX_CHARS and, in a longer one, its last MAX_CHARS for self-harm.
LIST_CHARS = 4096
# Words read as `other` whose `pasted` probability is at least this, in three words or more
# (not a bare "hola"), may be someone else's message the model was unsure of: the "what I can
# do" reply then offers to check them as they are. Out of fold on the training split: 93 of
# the 140 pasted messages read as `other` get the offer, and 193 of the 2,197 other lines
# read as `other` (docs/INTENTS.md).
MAYBE_PASTED = 0.15
_MAYBE_PASTED_WORDS = 3


def _shorthand(entries: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """ "to = 2", "porque = xq pq": each folded word and the folded short forms typed for it."""
    short: dict[str, set[str]] = {}
    for entry in entries:
        word, _, forms = entry.partition("=")
        folded = fold(word)
        if len(folded) != 1:
            continue  # single words only; a multi-word entry is left out
        short.setdefault(folded[0], set()).update(f for form in forms.split() for f in fold(form))
    return {word: tuple(sorted(forms - {word})) for word, forms in short.items() if forms}


def _piece(word: str, numbers: str, short: Mapping[str, tuple[str, ...]]) -> str:
    if word == "*":
        return r"(?:\S+ ){0,3}"  # up to three words in between: "want to [just] die"
    if word == "#":
        # Any number: digits (the model's folding writes them as zeros) or a number word.
        return rf"(?:0{{1,4}}{numbers}) "
    if word.startswith("#") and word[1:].isalpha():
        # A number glued to its unit ("48h", "10min", "24hs"): folding leaves those as typed.
        return rf"[0-9]{{1,4}}{re.escape(word[1:])} "
    return "".join(_part(part, short) + " " for part in fold(word))


def _part(part: str, short: Mapping[str, tuple[str, ...]]) -> str:
    """One folded word, or any of its short forms ("to" or "2", which folds to "0")."""
    forms = short.get(part)
    if not forms:
        return re.escape(part)
    return "(?:" + "|".join(re.escape(f) for f in (part, *forms)) + ")"


def _compile(
    phrases: Iterable[str],
    numbers: Iterable[str] = (),
    short: Mapping[str, tuple[str, ...]] = MappingProxyType({}),
) -> re.Pattern[str] | None:
    """One pattern for whole-word phrases, matched on folded text joined by single spaces."""
    words = sorted({" ".join(fold(n)) for n in numbers} - {""}, key=len, reverse=True)
    number_words = "".join("|" + re.escape(w) for w in words)
    compiled = []
    for phrase in phrases:
        body = "".join(_piece(word, number_words, short) for word in phrase.split())
        if body.strip():
            compiled.append(body)
    if not compiled:
        return None
    # Folded text is matched with a space before and after, so every phrase is whole words.
    return re.compile(" (?:" + "|".join(sorted(set(compiled), key=len, reverse=True)) + ")")


def _listed(words: WordLists) -> set[str]:
    """Every word of every list, folded (what the speller mends towards)."""
    phrases = [
        *words.self_harm, *words.everyday, *words.cry, *words.deadline, *words.erase, *words.paid,
        *words.known, *words.stranger, *words.danger, *words.numbers, *words.someone_else,
        *words.mine, *words.my_images, *words.fake_account, *words.faked_images,
        *words.negations, *words.push_self_harm,
        *(phrase for listed in words.features.values() for phrase in listed),
    ]  # fmt: skip
    return {word for phrase in phrases for word in fold(phrase, len(phrase)) if word.isalpha()}


def _spelled(words: list[str]) -> list[str]:
    """Words typed letter by letter ("y a n o p u e d o"), each run of four or more single
    letters joined into one string ("yanopuedo"): the word lists are matched inside them."""
    joined: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        if len(run) >= 4:
            joined.append("".join(run))
        run = []
    return joined


def _spaced(words: list[str]) -> str:
    """Folded words joined by single spaces, with one before and after: the lists match whole
    words."""
    return " " + " ".join(words) + " "


def _squeeze(text: str) -> str:
    return re.sub(r"(.)\1+", r"\1", text)


class Understander:
    """Reads a typed message; built once from the catalogs' word lists and the shipped model."""

    def __init__(self, words: WordLists, model: LinearModel | None) -> None:
        # Every list also matches texting shorthand ("want 2 die", "xq", "q sentido tiene").
        short = _shorthand(words.shorthand)
        phrases = functools.partial(_compile, short=short)
        self._self_harm = phrases(words.self_harm)
        self._everyday = phrases(words.everyday)
        # The same phrases without spaces, for words typed letter by letter (see _spelled).
        self._self_harm_tight = tuple(
            {"".join(fold(p)) for p in words.self_harm if len("".join(fold(p))) >= 6}
        )
        self._deadline = phrases(words.deadline, words.numbers)
        self._danger = phrases(words.danger, words.numbers)
        self._erase = phrases(words.erase)
        self._paid = phrases(words.paid)
        self._known = phrases(words.known)
        self._stranger = phrases(words.stranger)
        self._someone_else = phrases(words.someone_else, words.numbers)
        self._mine = phrases(words.mine)
        self._my_images = phrases(words.my_images)
        self._fake_account = phrases(words.fake_account)
        self._faked_images = phrases(words.faked_images)
        self._features = {name: phrases(words.features.get(name, ())) for name in FEATURES}
        self._negations = phrases(words.negations)
        self._push_self_harm = phrases(words.push_self_harm)
        # A bare cry ("help!!", "AYUDAAA", "please help me") is the whole message.
        self._cries = frozenset(_squeeze(" ".join(fold(cry))) for cry in words.cry)
        self._greetings = frozenset(_squeeze(" ".join(fold(g))) for g in words.greeting)
        self._model = model
        # Slips mended towards the lists' own words and the training lines' common ones.
        self._speller = (
            Speller(model.vocabulary, _listed(words)) if model and model.vocabulary else None
        )
        meta = model.meta if model is not None else {}
        self._self_harm_min = float(meta.get("self_harm_min", 0.5))
        self._floor = float(meta.get("floor", 0.0))

    def understand(self, text: str) -> Understanding:
        """The intent of one typed message, with its evidence and the triage answers it gives."""
        # The lists read the whole message (up to Telegram's longest), the model its start: a
        # long story may say at its end what its start does not ("...and now i want to die").
        words = self._read(text, LIST_CHARS)
        plain = _spaced(words)
        evidence: list[str] = []
        model = self._model
        start = words if len(text) <= MAX_CHARS else self._read(text)
        scores = model.probabilities_of(hashed_words(start)) if model is not None else {}
        best = max(scores, key=scores.__getitem__, default=Intent.OTHER.value)
        confidence = scores.get(best, 0.0)
        intent = Intent(best) if confidence >= self._floor else Intent.OTHER
        if scores:
            evidence.append(f"model:{best}:{confidence:.2f}")
        harm = scores.get(Intent.SELF_HARM.value, 0.0)
        if model is not None and len(text) > MAX_CHARS:
            # Its end read too, for self-harm only: the start still says what it is about.
            end = self._read(text[:LIST_CHARS][-MAX_CHARS:])
            end_harm = model.probabilities_of(hashed_words(end)).get(Intent.SELF_HARM.value, 0)
            if end_harm > harm:
                evidence.append(f"model:self_harm_at_end:{end_harm:.2f}")
                harm = end_harm
        intent = self._whose_situation(intent, plain, scores, evidence)
        crisis = self._crisis(words, plain)
        if crisis == "self_harm":
            evidence.append("words:self_harm")
            intent, confidence = Intent.SELF_HARM, 1.0
        elif self._found(self._danger, plain):
            # Before the model's self-harm score, which "kill" and "matar" raise: someone else
            # is hurting the person now. The danger screen lists the crisis lines too.
            evidence.append("words:danger")
            intent, confidence = Intent.URGENT, 1.0
        elif (feature := self._feature(words, plain)) and not (
            # "do you keep my messages? delete them": asked about privacy to have it erased.
            feature == "privacy" and best == Intent.ERASE.value
        ):
            # "make my plan", "quiero escribir una nota": the bot's own words, which the model
            # reads as self-harm ("plan", "note"); after the self-harm lists and danger.
            evidence.append(f"words:feature:{feature}")
            intent, confidence = Intent.OTHER, 1.0
        elif _squeeze(" ".join(words)) in self._greetings:
            # "hey" reads like a stranger's opener pasted here (the training lines hold "hey
            # beautiful"); alone, it is the person saying hello.
            evidence.append("words:greeting")
            intent, confidence = Intent.OTHER, 1.0
        elif harm >= self._self_harm_min:
            intent, confidence = Intent.SELF_HARM, harm
        elif crisis == "cry":
            evidence.append("words:cry")
            intent, confidence = Intent.URGENT, 1.0
        elif intent in _SITUATIONS and self._about_someone_else(plain):
            # "my son paid", "someone made ai nudes of my daughter": a parent, a friend or a
            # teacher is writing, and the helper path speaks to them (deadline or not).
            evidence.append("words:someone_else")
            intent = Intent.HELPER
        elif intent in _THREATS and self._found(self._deadline, plain):
            evidence.append("words:deadline")
            intent = Intent.URGENT
        elif intent is Intent.OTHER and self._found(self._erase, plain):
            evidence.append("words:erase")
            intent, confidence = Intent.ERASE, 1.0
        if (
            intent is Intent.OTHER
            and not any(e.startswith("words:") for e in evidence)
            and scores.get(Intent.PASTED.value, 0.0) >= MAYBE_PASTED
            and len(words) >= _MAYBE_PASTED_WORDS
        ):
            evidence.append("model:maybe_pasted")
        return Understanding(
            intent, confidence, tuple(evidence), self._answers(intent, plain, scores)
        )

    def _whose_situation(
        self, intent: Intent, plain: str, scores: Mapping[str, float], evidence: list[str]
    ) -> Intent:
        """The model's reading, corrected where the words say whose situation it is and what
        was faked (before the rules below, which then read it as the model's own)."""
        if (
            intent is Intent.HELPER
            and self._found(self._my_images, plain)
            and not self._found(self._someone_else, plain)
        ):
            # "i'm a sex worker and someone reposted my content", "soy maestra y subieron mis
            # fotos": naming one's own work reads like a professional asking for someone else,
            # but the images are the writer's own. The likeliest situation is theirs.
            evidence.append("words:my_images")
            situations = (i for i in Intent if i in _SITUATIONS)  # in order: ties go the same way
            return max(situations, key=lambda i: scores.get(i.value, 0.0))
        if (
            intent is Intent.DEEPFAKE
            and self._found(self._fake_account, plain)
            and not self._found(self._faked_images, plain)
        ):
            # "someone made a fake profile with my private photos": the account is fake, the
            # images are real. Shared or threatened, whichever the model leans to.
            evidence.append("words:fake_account")
            return max((Intent.SHARED, Intent.THREATENED), key=lambda i: scores.get(i.value, 0.0))
        return intent

    def crisis_words(self, text: str) -> bool:
        """Whether the word lists alone say self-harm or a bare cry for help (no model: cheap
        enough for every message of a flood)."""
        words = self._read(text)
        return self._crisis(words, _spaced(words)) is not None

    def self_harm_words(self, text: str) -> bool:
        """Whether the self-harm word list alone reads self-harm in a text (all of it: a note)."""
        words = self._read(text, len(text))
        return self._crisis(words, _spaced(words)) == "self_harm"

    def self_harm_in_message(self, text: str) -> str | None:
        """What a checked message (all of it) says of self-harm, by the word lists alone:
        "push_self_harm" when it urges its reader to hurt themselves ("kill yourself"),
        "self_harm_words" when its writer speaks of it (a friend's goodbye), else None."""
        words = fold(text, len(text))  # folded once for both lists
        if self._found(self._push_self_harm, _spaced(words)):
            return "push_self_harm"
        mended = self._speller.mend(words) if self._speller is not None else words
        return "self_harm_words" if self._crisis(mended, _spaced(mended)) == "self_harm" else None

    def _read(self, text: str, limit: int = MAX_CHARS) -> list[str]:
        """The words of a text, folded, with slips mended (guidance/speller.py)."""
        if _SOS in text:  # the SOS sign is a word of its own, which folding would drop
            text = text.replace(_SOS, " sos ")
        words = fold(text, limit)
        return self._speller.mend(words) if self._speller is not None else words

    def _crisis(self, words: list[str], plain: str) -> str | None:
        """What the word lists alone decide: "self_harm", a bare "cry" for help, or nothing."""
        if self._everyday is not None:
            plain = self._everyday.sub(" ", plain)
        if self._found(self._self_harm, plain) or self._spelled_out(words):
            return "self_harm"
        # Said once or again and again ("help help help", "🆘🆘🆘").
        once = [word for index, word in enumerate(words) if not index or word != words[index - 1]]
        if _squeeze(" ".join(once)) in self._cries:
            return "cry"
        # A cry typed letter by letter ("h e l p", "a y u d a"): the whole message again.
        spelled = len(words) >= 3 and all(len(word) == 1 for word in words)
        return "cry" if spelled and _squeeze("".join(words)) in self._cries else None

    def _spelled_out(self, words: list[str]) -> bool:
        """Whether letters typed one by one spell a self-harm phrase."""
        return any(phrase in run for run in _spelled(words) for phrase in self._self_harm_tight)

    def _feature(self, words: list[str], plain: str) -> str | None:
        """The feature a short message asks for by name, if any: not when it refuses it, nor
        when it holds a deadline (then it is a threat with little time, not a request)."""
        if len(words) > _FEATURE_WORDS or any(
            self._found(p, plain) for p in (self._negations, self._deadline)
        ):
            return None
        return next((n for n, p in self._features.items() if self._found(p, plain)), None)

    def _about_someone_else(self, plain: str) -> bool:
        return self._found(self._someone_else, plain) and not self._found(self._mine, plain)

    @staticmethod
    def _found(pattern: re.Pattern[str] | None, plain: str) -> bool:
        return pattern is not None and pattern.search(plain) is not None

    def _answers(
        self, intent: Intent, plain: str, scores: Mapping[str, float]
    ) -> Mapping[str, str]:
        """What triage would ask that the words already say (situation, paid, who)."""
        answers: dict[str, str] = {}
        situation = {
            Intent.THREATENED: "threat",
            Intent.PAID: "threat",
            Intent.SHARED: "shared",
            Intent.ASKED_FOR_IMAGES: "unsure",
            Intent.URGENT: "threat",
        }.get(intent)
        if intent is Intent.DEEPFAKE:
            shared = scores.get(Intent.SHARED.value, 0.0) > scores.get(Intent.THREATENED.value, 0.0)
            situation = "shared" if shared else "threat"
        if situation:
            answers["s"] = situation
        if intent is Intent.PAID or self._found(self._paid, plain):
            answers["p"] = "yes"
        if self._found(self._known, plain):
            answers["w"] = "known"
        elif self._found(self._stranger, plain):
            answers["w"] = "stranger"
        return MappingProxyType(answers)
