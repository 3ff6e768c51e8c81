"""The labelled lines the intent model is trained and judged on (safetybot/data/intents/).

`train.jsonl` is what rules and model were built and tuned on; `heldout.jsonl` was written by an
author who never saw it and nothing is tuned on it. LABELS.md beside them defines each intent
and the fields of a line (text, lang, intent, source, origin).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from safetybot.core.understanding import Intent

__all__ = ["INTENT_DATA", "SPLITS", "Line", "load_lines"]

INTENT_DATA = Path(__file__).resolve().parent.parent / "data" / "intents"
SPLITS = ("train", "heldout")
_ORIGINS = ("own", "public", "adapted")
_LANGS = ("en", "es")


@dataclass(frozen=True)
class Line:
    """One labelled message."""

    text: str
    lang: str
    intent: str
    source: str
    origin: str
    split: str


def _line(raw: object, split: str, intents: frozenset[str]) -> Line:
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    text, lang, intent = raw.get("text"), raw.get("lang"), raw.get("intent")
    source, origin = raw.get("source"), raw.get("origin")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be non-empty text")
    if lang not in _LANGS:
        raise ValueError(f"lang must be one of {', '.join(_LANGS)}")
    if intent not in intents:
        raise ValueError(f"unknown intent {intent!r}")
    if not isinstance(source, str) or not source.strip():
        raise ValueError("every line needs its source")
    if origin not in _ORIGINS:
        raise ValueError(f"origin must be one of {', '.join(_ORIGINS)}")
    return Line(text, str(lang), str(intent), source, str(origin), split)


def load_lines(folder: Path = INTENT_DATA, splits: tuple[str, ...] = SPLITS) -> list[Line]:
    """Read the labelled lines of the chosen splits; ValueError names the file and line."""
    intents = frozenset(intent.value for intent in Intent)
    lines: list[Line] = []
    for split in splits:
        path = folder / f"{split}.jsonl"
        raw_text = path.read_bytes().decode("utf-8")
        # Split at \n only: a JSON string may hold \u2028, which splitlines() would cut.
        for number, raw in enumerate(raw_text.split("\n"), start=1):
            if not raw.strip():
                continue
            try:
                lines.append(_line(json.loads(raw), split, intents))
            except (ValueError, RecursionError) as error:
                raise ValueError(f"{path.name}, line {number}: {error}") from None
    return lines
