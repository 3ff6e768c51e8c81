"""Drawing the PDFs that pdf.py describes, with fpdf2 and Pillow: imported only when a PDF is
made, so that starting the bot does not load them."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import unicodedata
from collections.abc import Mapping, Sequence
from importlib.resources import as_file, files
from typing import Any

from fpdf import FPDF
from fpdf.fonts import TTFFont
from PIL import Image

from safetybot.vault.evidence import FIELDS, Kind, current_notes
from safetybot.vault.pdf import COLUMNS, Labels

__all__ = ["draw_log", "draw_texts"]

_WIDTHS = (27, 13, 28, 25, 32, 65)  # millimetres; A4 text width is 190
_CELL = 120  # characters of a table cell; the entry in full follows the table
_MAX_PIXELS = 40_000_000  # larger images are listed, not decoded into memory
_EMBEDDED = frozenset({"PNG", "JPEG"})
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
_FAMILY = "dejavu"


def draw_log(
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
    """The evidence log for `pdf.render_pdf`."""
    log = _Log(labels, head)
    moment = dt.datetime.strptime(exported_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    log.set_creation_date(moment)
    log.set_title(log.clean(labels.title))
    log.add_page()
    log.heading(labels.title, 16)
    log.paragraph(_pair(labels.exported, _when(exported_at)))
    log.paragraph(labels.intro)
    log.paragraph(labels.proves)
    if signer:
        log.paragraph(_grouped(signer), label=labels.signed_by)
    else:
        log.paragraph(labels.not_signed)
    log.paragraph(f"{labels.verify}\n{command} FILE")
    log.paragraph(head, label=labels.head)
    notes = current_notes(records)
    live = [
        r for r in records if r.get("kind") in (Kind.NOTE, Kind.EDIT) and r.get("note") in notes
    ]
    log.heading(labels.table_heading, 12)
    if live:
        log.timeline(live, notes)
        log.heading(labels.entries_heading, 12)
    else:
        log.paragraph(labels.no_notes)
    shown: set[int] = set()
    for number, latest in notes.items():
        log.heading(f"{labels.note} {number}", 11)
        history = [r for r in live if r.get("note") == number]
        for index, record in enumerate(history, start=1):
            log.entry(record, (index, latest["versions"]), contents, paths, shown)
    log.deleted(records)
    return bytes(log.output())


def draw_texts(texts: Sequence[str], *, title: str, page: str, made_at: str) -> bytes:
    """Plain texts for `pdf.render_text_pdf`."""
    doc = _Page(page, "\n".join((made_at, *texts)))
    moment = dt.datetime.strptime(made_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    doc.set_creation_date(moment)
    doc.set_title(doc.clean(title))
    for text in texts:
        doc.add_page()
        doc.paragraph(text)
    return bytes(doc.output())


class _Page(FPDF):
    """An A4 page flow with DejaVu Sans, page numbers, and text made safe to draw."""

    def __init__(self, page: str, seed: str) -> None:
        super().__init__(format="A4")
        self.page_label = page
        # The page-count alias comes from a hash of what the PDF shows (the chain head, or the
        # texts themselves): typed text can never hold it (and be replaced by the page count),
        # and the same inputs make the same PDF, which a checker can make again and compare.
        self.pages_alias = "{" + hashlib.sha256(f"pages {seed}".encode()).hexdigest()[:16] + "}"
        self.alias_nb_pages(self.pages_alias)
        fonts = files("safetybot.fonts")
        for style, name in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf")):
            with as_file(fonts / name) as path:
                self.add_font(_FAMILY, style, str(path))
        regular, bold = (self.fonts[key] for key in (_FAMILY, _FAMILY + "B"))
        if not isinstance(regular, TTFFont) or not isinstance(bold, TTFFont):
            raise TypeError("DejaVu Sans did not load as a TrueType font")
        self.glyphs = frozenset(regular.cmap) & frozenset(bold.cmap)
        self.set_auto_page_break(auto=True, margin=15)
        self.set_font(_FAMILY, size=10)

    def footer(self) -> None:
        """Page numbers on every page."""
        self.set_y(-12)
        self.set_font(_FAMILY, size=7)
        text = f"{self.clean(self.page_label)} {self.page_no()} / {self.pages_alias}"
        self.cell(0, 5, text, align="C")

    def clean(self, text: str) -> str:
        """Text that can be drawn: controls dropped, missing glyphs written as code points."""
        out: list[str] = []
        for char in text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    "):
            code = ord(char)
            if char == "\n" or code in self.glyphs:
                out.append(char)
            elif not _invisible(char):  # variation selectors, joiners, marks: nothing to draw
                out.append(f"[U+{code:04X}]")
        return "".join(out)

    def heading(self, text: str, size: int) -> None:
        """A bold line, never alone at the foot of a page."""
        if self.will_page_break(25):
            self.add_page()
        self.ln(2)
        self.set_font(_FAMILY, "B", size)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.set_font(_FAMILY, size=10)
        self.ln(1)

    def paragraph(self, text: str, *, label: str = "", size: int = 10) -> None:
        """Wrapped text, after a bold label on its own line when there is one."""
        if label and self.will_page_break(15):
            self.add_page()  # a label stays on the page of the text it names
        if label:
            self.set_font(_FAMILY, "B", size)
            self.multi_cell(
                0, size * 0.5, self.clean(label), new_x="LMARGIN", new_y="NEXT", align="L"
            )
        self.set_font(_FAMILY, size=size)
        self.multi_cell(0, size * 0.5, self.clean(text), new_x="LMARGIN", new_y="NEXT", align="L")
        self.ln(1)


class _Log(_Page):
    """The evidence log: its table, entries, attachments and deleted notes."""

    def __init__(self, labels: Labels, head: str) -> None:
        super().__init__(labels.page, head)
        self.labels = labels

    def timeline(self, versions: Sequence[Mapping[str, Any]], notes: Mapping[int, Any]) -> None:
        """The chronological table: one row per version of each note."""
        self.set_font(_FAMILY, size=8)
        counts: dict[int, int] = {}
        with self.table(col_widths=_WIDTHS, text_align="LEFT", line_height=4) as table:
            header = table.row()
            for name in COLUMNS:
                header.cell(self.clean(self.labels.columns[name]))
            for record in versions:
                number = record["note"]
                counts[number] = counts.get(number, 0) + 1
                total = notes[number]["versions"]
                fields = _fields(record)
                cells = [
                    _when(str(record.get("recorded_at", ""))),
                    f"{number}" + (f" ({counts[number]}/{total})" if total > 1 else ""),
                    fields.get("when", ""),
                    fields.get("platform", ""),
                    fields.get("other_person", ""),
                    fields.get("what", ""),
                ]
                row = table.row()
                for cell in cells:
                    row.cell(self.clean(_short(cell)) or "—")
        self.set_font(_FAMILY, size=10)

    def entry(
        self,
        record: Mapping[str, Any],
        version: tuple[int, int],
        contents: Mapping[int, bytes],
        paths: Mapping[int, str],
        shown: set[int],
    ) -> None:
        """One version of a note in full: fingerprint, fields, origin, attachments."""
        labels = self.labels
        heading = _pair(labels.recorded, _when(str(record.get("recorded_at", ""))))
        if version[1] > 1:
            heading = f"{labels.version} {version[0]}/{version[1]} · {heading}"
        fingerprint = f"{labels.record} {record['seq']} · {_pair(labels.fingerprint, '')}"
        self.paragraph(f"{fingerprint}{record['hash']}", label=heading, size=9)
        for name, value in _fields(record).items():
            if name == "minor_then":  # the stored answer stays in evidence.json as it is
                value = labels.answers.get(value, value)
            self.paragraph(value, label=labels.fields.get(name, name))
        origin = record.get("forwarded")
        if isinstance(origin, Mapping) and origin:
            values = "; ".join(str(v) for v in origin.values() if v)
            self.paragraph(_pair(labels.forwarded, values))
        attachments = record.get("attachments")
        for item in attachments if isinstance(attachments, list) else ():
            if isinstance(item, Mapping):
                self.attachment(item, contents, paths, shown)
        self.ln(3)

    def attachment(
        self,
        item: Mapping[str, Any],
        contents: Mapping[int, bytes],
        paths: Mapping[int, str],
        shown: set[int],
    ) -> None:
        """An attachment's description and fingerprint, then the image or where the file is."""
        labels = self.labels
        ident = item.get("id")
        size = item.get("size")
        amount = f"{size:,} {labels.bytes}" if isinstance(size, int) else "?"
        title = f"{labels.attachment} {ident}: {item.get('name')} ({item.get('type')}, {amount})"
        details = [
            _pair(labels.received, _when(str(item.get("received_at", "")))),
            _pair(labels.fingerprint, str(item.get("sha256", ""))),
        ]
        self.paragraph("\n".join(details), label=title, size=9)
        data = contents.get(ident) if isinstance(ident, int) else None
        if data is None or not isinstance(ident, int):
            self.paragraph(labels.attachment_missing, size=9)
        elif ident in shown:
            self.paragraph(labels.attachment_shown, size=9)
        elif not self.image_of(data, str(item.get("type", ""))):
            self.paragraph(_pair(labels.attachment_listed, paths.get(ident, "")), size=9)
        if isinstance(ident, int) and data is not None:
            shown.add(ident)

    def image_of(self, data: bytes, declared: str) -> bool:
        """Embed a PNG or JPEG at page width (or page height); False when it cannot be shown."""
        try:
            with Image.open(io.BytesIO(data)) as probe:
                kind, (width, height) = probe.format, probe.size
        except Exception:  # Pillow raises many types for one cause: not an image it can read
            return False
        if not declared.startswith("image/") or kind not in _EMBEDDED:
            return False
        if not width or not height or width * height > _MAX_PIXELS:
            return False
        w, h = self.epw, self.epw * height / width
        room = self.eph - 10
        if h > room:
            w, h = room * width / height, room
        try:
            self.image(io.BytesIO(data), w=w, h=h)
        except Exception:  # a damaged image is listed instead: the export must still build
            return False
        self.ln(2)
        return True

    def deleted(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Notes the person deleted: when, and the fingerprints that keep the chain whole."""
        removed: dict[int, list[Mapping[str, Any]]] = {}
        when: dict[int, str] = {}
        for record in records:
            kind, number = record.get("kind"), record.get("note")
            if not isinstance(number, int) or kind not in (Kind.DELETE, Kind.DELETED):
                continue
            removed.setdefault(number, []).append(record)
            if kind == Kind.DELETE:
                when[number] = str(record.get("recorded_at", ""))
            else:
                when.setdefault(number, str(record.get("deleted_at", "")))
        if not removed:
            return
        labels = self.labels
        self.heading(labels.deleted_heading, 12)
        for number in sorted(removed):
            lines = [
                f"{labels.record} {r.get('seq')} · {_pair(labels.fingerprint, str(r.get('hash')))}"
                for r in removed[number]
            ]
            title = f"{labels.note} {number} · {_pair(labels.deleted, _when(when[number]))}"
            self.paragraph("\n".join(lines), label=title, size=9)


def _fields(record: Mapping[str, Any]) -> dict[str, str]:
    fields = record.get("fields")
    if not isinstance(fields, Mapping):
        return {}
    return {name: str(fields[name]) for name in FIELDS if fields.get(name)}


def _grouped(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def _pair(label: str, value: str) -> str:
    return f"{label}: {value}"


def _when(stamp: str) -> str:
    """2026-11-21T14:03:00Z as 2026-11-21 14:03:00; anything else as it is."""
    if _STAMP.fullmatch(stamp):
        return f"{stamp[:10]} {stamp[11:19]}"
    return stamp


def _short(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _CELL else flat[: _CELL - 1].rstrip() + "…"


def _invisible(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Cc", "Cf")
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0100 <= code <= 0xE01EF
    )
