"""The PDF evidence log inside an export, and `Labels`: every word it shows, from the catalogs.
(The drawing itself is in pdfpages.py, loaded only when a PDF is made.)

The log opens with what it is and how to check it, then a chronological table (one row per
version of each note), then each note in full (every version, its attachments: PNG and JPEG
images embedded, other files listed, each with its SHA-256), then the notes the person deleted.

Text a person typed can be anything. Characters DejaVu Sans has no glyph for are written as
[U+1F608] rather than left to fpdf2, which would draw an empty box and log the missing
characters (personal text) as a warning. Layout never depends on that text's length: table cells
are shortened, and the full text follows in paragraphs that break long words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from safetybot.vault.evidence import FIELDS
from safetybot.vault.notices import MINOR_ANSWERS

__all__ = ["COLUMNS", "Labels", "render_pdf", "render_text_pdf"]

COLUMNS: tuple[str, ...] = ("recorded", "note", "when", "platform", "other_person", "what")


@dataclass(frozen=True)
class Labels:
    """Every word the PDF shows, in one language: labels that a value follows after a colon.

    Labels hold no placeholders, so any catalog reader works (rendered or raw), and word order
    never depends on how a value is filled in.
    """

    title: str
    exported: str
    intro: str
    proves: str
    signed_by: str
    not_signed: str
    verify: str
    head: str
    table_heading: str
    columns: Mapping[str, str]  # one label per COLUMNS name
    entries_heading: str
    note: str
    version: str
    recorded: str
    record: str
    fingerprint: str
    fields: Mapping[str, str]  # one label per evidence.FIELDS name
    forwarded: str
    attachment: str
    bytes: str
    received: str
    attachment_listed: str
    attachment_shown: str
    attachment_missing: str
    no_notes: str
    deleted_heading: str
    deleted: str
    page: str
    # A button's stored answer (notices.MINOR_ANSWERS) in words; older callers may leave it out.
    answers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_catalog(cls, text: Callable[[str], str], fields: Mapping[str, str]) -> Labels:
        """Labels from `text("export.<key>")` (plain text) and a label per evidence field."""
        missing = [name for name in FIELDS if not fields.get(name)]
        if missing:
            raise ValueError(f"no label for field(s) {', '.join(missing)}")
        mappings = ("columns", "fields", "answers")
        names = [f.name for f in dataclasses.fields(cls) if f.name not in mappings]
        values = {name: text(f"export.{name}") for name in names}
        columns = {name: text(f"export.column.{name}") for name in COLUMNS}
        answers = {answer: text(f"answer.{answer}") for answer in MINOR_ANSWERS}
        chosen = {name: fields[name] for name in FIELDS}
        return cls(**values, columns=columns, fields=chosen, answers=answers)


def render_pdf(
    records: Sequence[Mapping[str, Any]],
    contents: Mapping[int, bytes],
    paths: Mapping[int, str],
    *,
    labels: Labels,
    exported_at: str,
    head: str,
    command: str,
    signer: str = "",
) -> bytes:
    """The evidence log for a chain; `contents` and `paths` are attachment bytes and ZIP paths.

    The same inputs always give the same bytes, so a checker can make the PDF again from the
    records and compare. `signer` is the fingerprint of the key that signs the export, or "".
    """
    # fpdf2 and Pillow load only when a PDF is made: half a second less at start-up.
    from safetybot.vault.pdfpages import draw_log

    return draw_log(
        records,
        contents,
        paths,
        labels=labels,
        exported_at=exported_at,
        head=head,
        command=command,
        signer=signer,
    )


def render_text_pdf(texts: Sequence[str], *, title: str, page: str, made_at: str) -> bytes:
    """Plain texts (a removal request in two languages), each from a new page; text only."""
    from safetybot.vault.pdfpages import draw_texts

    return draw_texts(texts, title=title, page=page, made_at=made_at)
