"""The Markdown subset every text is written in, rendered to Telegram HTML or plain text.

Supported: paragraphs, **bold**, _italic_, `code`, [links](https://…), bullet and numbered
lists, and headings (shown as a bold line). Raw HTML is never passed through: it is shown as
text. Rendering returns top-level blocks so a long text can be split between blocks.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any

from markdown_it import MarkdownIt

__all__ = ["Format", "escape", "render", "render_static", "split", "visible_length"]


class Format(StrEnum):
    """The output formats front ends ask for."""

    TELEGRAM_HTML = "telegram-html"
    PLAIN = "plain"


_PARSER = MarkdownIt("commonmark", {"html": False}).disable(["image"])
# Every ASCII punctuation character may be backslash-escaped in CommonMark.
_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>&~=\"'])")
_INLINE_TAGS = {"strong": "b", "em": "i"}


def escape(text: str) -> str:
    """Escape text (a note, a number) so it is shown literally inside Markdown."""
    return _PUNCTUATION.sub(r"\\\1", text)


def render(markdown: str, fmt: Format) -> list[str]:
    """Render Markdown to a list of top-level blocks in the given format."""
    tokens = _PARSER.parse(markdown)
    blocks: list[str] = []
    lines: list[str] = []
    number = 0
    ordered: list[bool] = []
    depth = 0
    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            ordered.append(kind == "ordered_list_open")
            number = int(token.attrs.get("start", 1) or 1) - 1
            depth += 1
        elif kind in ("bullet_list_close", "ordered_list_close"):
            ordered.pop()
            depth -= 1
            if depth == 0:
                blocks.append("\n".join(lines))
                lines = []
        elif kind == "list_item_open":
            number += 1
            lines.append(f"{number}. " if ordered and ordered[-1] else "• ")
        elif kind == "inline":
            text = _inline(token.children or [], fmt)
            if depth:
                # A list item may hold more than one paragraph; keep them on one line.
                lines[-1] = lines[-1] + text if lines[-1].endswith(" ") else f"{lines[-1]} {text}"
            elif token.map is not None and _heading_open(tokens, token):
                blocks.append(_wrap(text, "b", fmt))
            else:
                blocks.append(text)
        elif kind in ("fence", "code_block"):
            body = token.content.rstrip("\n")
            blocks.append(f"<pre>{html.escape(body, quote=False)}</pre>" if _is_html(fmt) else body)
        elif kind == "hr":
            blocks.append("—")
    return [block for block in blocks if block.strip()]


def render_static(markdown: str, fmt: Format) -> list[str]:
    """`render`, remembered: only for texts holding none of a person's words (menus, guides).

    Parsing the same menu text for every update was a sixth of the bot's CPU (benchmarks/).
    A text with a person's words must go through `render`, so it is never kept in memory.
    """
    return list(_render_remembered(markdown, fmt))


@functools.lru_cache(maxsize=1024)
def _render_remembered(markdown: str, fmt: Format) -> tuple[str, ...]:
    return tuple(render(markdown, fmt))


_TAG = re.compile(r"<[^>]*>")


def visible_length(telegram_html: str) -> int:
    """How long Telegram counts an HTML message: its text without tags, entities read, in
    UTF-16 code units (an emoji counts two)."""
    text = html.unescape(_TAG.sub("", telegram_html))
    return len(text.encode("utf-16-le")) // 2


def split(blocks: Sequence[str], limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Join blocks into messages of at most `limit` (as `measure` counts), breaking between
    blocks."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        for piece in _cut(block, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if measure(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def _cut(block: str, limit: int) -> list[str]:
    # A single block longer than a message (rare: a very long note) is cut at line breaks,
    # then at spaces; plain text only reaches this path in practice.
    if len(block) <= limit:
        return [block]
    pieces: list[str] = []
    rest = block
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
            # Never cut through an HTML entity such as &amp;.
            amp = rest.rfind("&", max(0, cut - 8), cut)
            if amp > rest.rfind(";", max(0, cut - 8), cut):
                cut = amp or limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _heading_open(tokens: list[Any], inline: Any) -> bool:
    index = tokens.index(inline)
    return index > 0 and tokens[index - 1].type == "heading_open"


def _is_html(fmt: Format) -> bool:
    return fmt is Format.TELEGRAM_HTML


def _wrap(text: str, tag: str, fmt: Format) -> str:
    return f"<{tag}>{text}</{tag}>" if _is_html(fmt) else text


def _inline(children: Sequence[Any], fmt: Format) -> str:
    out: list[str] = []
    link_stack: list[str] = []
    for child in children:
        kind = child.type
        if kind == "text":
            out.append(html.escape(child.content, quote=False) if _is_html(fmt) else child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "code_inline":
            code = child.content
            out.append(f"<code>{html.escape(code, quote=False)}</code>" if _is_html(fmt) else code)
        elif kind.endswith("_open") and kind[:-5] in _INLINE_TAGS:
            if _is_html(fmt):
                out.append(f"<{_INLINE_TAGS[kind[:-5]]}>")
        elif kind.endswith("_close") and kind[:-6] in _INLINE_TAGS:
            if _is_html(fmt):
                out.append(f"</{_INLINE_TAGS[kind[:-6]]}>")
        elif kind == "link_open":
            href = str(child.attrs.get("href", ""))
            link_stack.append(href)
            if _is_html(fmt):
                out.append(f'<a href="{html.escape(href, quote=True)}">')
            out.append("\x00")  # marks where the link text starts, for the plain form
        elif kind == "link_close":
            href = link_stack.pop() if link_stack else ""
            start = len(out) - 1 - out[::-1].index("\x00")
            label = "".join(out[start + 1 :])
            del out[start]
            if _is_html(fmt):
                out.append("</a>")
            elif href and label.strip() != _bare(href):
                out.append(f" ({_bare(href)})")
    return "".join(out).strip()


def _bare(href: str) -> str:
    return re.sub(r"^https?://", "", href).rstrip("/")
