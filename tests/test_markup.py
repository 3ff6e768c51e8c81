"""The Markdown subset: Telegram HTML, plain text, escaping, splitting."""

from __future__ import annotations

from safetybot.markup import Format, escape, render, split, visible_length


def test_bold_italic_links_and_lists_become_telegram_html() -> None:
    blocks = render(
        "**Stop** _now_ [StopNCII](https://stopncii.org/)\n\n- one\n- two\n\n1. a\n2. b",
        Format.TELEGRAM_HTML,
    )
    assert blocks == [
        '<b>Stop</b> <i>now</i> <a href="https://stopncii.org/">StopNCII</a>',
        "• one\n• two",
        "1. a\n2. b",
    ]


def test_plain_text_shows_where_links_go() -> None:
    assert render("See [StopNCII](https://stopncii.org/).", Format.PLAIN) == [
        "See StopNCII (stopncii.org)."
    ]


def test_raw_html_is_shown_as_text_never_as_markup() -> None:
    assert render("<b>x</b> & <script>", Format.TELEGRAM_HTML) == [
        "&lt;b&gt;x&lt;/b&gt; &amp; &lt;script&gt;"
    ]


def test_escaped_text_is_shown_literally() -> None:
    typed = "*not bold* _no_ [link](https://evil.example) 1. not a list\n- nor this <b>"
    html = "\n".join(render(escape(typed), Format.TELEGRAM_HTML))
    assert "<b>" not in html and "<a" not in html and "<i>" not in html
    assert "\n".join(render(escape(typed), Format.PLAIN)) == typed


def test_split_breaks_between_paragraphs_under_the_limit() -> None:
    blocks = ["a" * 3000, "b" * 3000, "c" * 100]
    messages = split(blocks, 4096)
    assert messages == ["a" * 3000, "b" * 3000 + "\n\n" + "c" * 100]


def test_telegram_counts_what_is_shown_not_the_tags_and_links_around_it() -> None:
    # A list of links: the HTML is well over 4,096 characters, the text a person reads is not.
    blocks = render(
        "\n\n".join(f"[help {n}](https://example.org/{'x' * 60}/{n})" for n in range(120)),
        Format.TELEGRAM_HTML,
    )
    assert len("\n\n".join(blocks)) > 4096
    assert len(split(blocks, 4096, visible_length)) == 1
    assert len(split(blocks, 4096)) > 1  # counting the tags, it would not fit
    assert visible_length("<b>a &amp; b</b>") == len("a & b")
    assert visible_length("\U0001f600") == 2  # an emoji is two UTF-16 units, as Telegram counts


def test_a_block_longer_than_a_message_is_cut_at_spaces() -> None:
    words = " ".join(["word"] * 2000)
    messages = split([words], 4096)
    assert all(len(m) <= 4096 for m in messages)
    assert " ".join(messages).split() == words.split()


def test_a_long_run_without_spaces_never_cuts_an_entity() -> None:
    html = render(escape("&" * 5000), Format.TELEGRAM_HTML)
    for message in split(html, 4096):
        assert len(message) <= 4096
        assert message.replace("&amp;", "") == ""
