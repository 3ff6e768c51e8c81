"""Property tests for parsers of outside input: typed lines, button data, Telegram updates,
forwarded origins, settings, resource and locale files, Markdown escaping, stored state.
(Config and rule files, exports and messages to check: test_fuzz_files.py; signal-cli's
stream and envelopes: test_fuzz_signal.py.)

Each says what must hold for *any* input: no exception but the documented one, and nothing
unknown let through.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import string
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from telegram import MessageOrigin, Update

from safetybot.core.events import Attachment, Command, Forwarded, Pressed, Text, Unsupported
from safetybot.core.flow import Context, Mode, State, step
from safetybot.core.menus import (
    ANSWERS,
    AUTO_CLEAR_CHOICES,
    COUNTRIES,
    PANIC_MODES,
    Action,
    AutoClearPick,
    CountryPick,
    GuideId,
    LanguagePick,
    PanicModePick,
    TriageAnswer,
    parse_button,
)
from safetybot.errors import ConfigError, LocaleError
from safetybot.guidance.resources import check_directory
from safetybot.i18n import Texts, read_guide
from safetybot.markup import Format, escape, render
from safetybot.ops.config import SETTINGS, Config
from safetybot.transports.choices import parse_line
from safetybot.transports.telegram import _origin, to_incoming
from tests.conftest import LOCALES
from tests.fakebotapi import parse_html
from tests.fuzzing import FUZZ

# -- typed lines (console, Signal) -----------------------------------------------------------

choices = st.lists(st.tuples(st.text(max_size=20), st.text(max_size=12)), max_size=12)


@FUZZ
@given(line=st.text(max_size=300), offered=choices)
def test_a_typed_line_is_a_choice_offered_a_command_or_text(
    line: str, offered: list[tuple[str, str]]
) -> None:
    event = parse_line(line, offered)
    assert isinstance(event, Pressed | Command | Text)
    if isinstance(event, Pressed):
        assert event.data in [data for _, data in offered]
    if isinstance(event, Command):
        assert line.strip().startswith("/")


@FUZZ
@given(offered=choices.filter(bool), data=st.data())
def test_a_number_in_range_presses_that_choice(
    offered: list[tuple[str, str]], data: st.DataObject
) -> None:
    number = data.draw(st.integers(1, len(offered)))
    spaced = data.draw(st.sampled_from(["{}", " {} ", "{}\n"])).format(number)
    assert parse_line(spaced, offered) == Pressed(offered[number - 1][1])


# -- button data -----------------------------------------------------------------------------

KNOWN_DATA = [
    *(a.value for a in Action),
    *(f"g:{g.value}" for g in GuideId),
    *(f"t:{q.value}:{a}" for q, answers in ANSWERS.items() for a in answers),
    *(f"{p}:{c}" for p in ("cc", "hc") for c in COUNTRIES),
    *(f"ac:{s}" for s in AUTO_CLEAR_CHOICES),
    *(f"pm:{m}" for m in PANIC_MODES),
    "l:en",
    "l:es",
]
button_data = st.one_of(
    st.text(max_size=80),
    st.sampled_from(KNOWN_DATA),
    st.builds(
        lambda head, rest: f"{head}:{rest}",
        st.sampled_from(["g", "t", "l", "cc", "hc", "ac", "pm", "v", "t:c", "t:zz"]),
        st.text(max_size=20),
    ),
    st.binary(max_size=64).map(lambda raw: raw.decode("latin-1")),
)


@FUZZ
@given(data=button_data)
@example(data="ac:٣٠٠")  # Arabic-Indic digits: isdecimal, and int() accepts them
@example(data="t:c:us")
def test_forged_button_data_never_raises_and_names_only_known_targets(data: str) -> None:
    target = parse_button(data)
    match target:
        case None:
            return
        case Action():
            assert target.value == data
        case GuideId():
            assert data == f"g:{target.value}"
        case TriageAnswer(question=question, answer=answer):
            assert answer in ANSWERS[question]
        case CountryPick(country=country):
            assert country in COUNTRIES
        case LanguagePick(code=code):
            assert code.isascii() and code.isalpha() and len(code) <= 8
        case AutoClearPick(seconds=seconds):
            assert seconds in AUTO_CLEAR_CHOICES
        case PanicModePick(mode=mode):
            assert mode in PANIC_MODES
        case _:
            raise AssertionError(f"unknown target {target!r}")


@FUZZ
@given(data=button_data, mode=st.sampled_from(list(Mode)))
def test_the_flow_takes_any_press_in_any_state(data: str, mode: Mode) -> None:
    outcome = step(State(mode=mode), Pressed(data), Context(locales=("en", "es")))
    assert isinstance(outcome.state, State)


# -- Telegram updates ------------------------------------------------------------------------

ids = st.integers(min_value=1, max_value=2**52)
dates = st.integers(min_value=1, max_value=2**31 - 1)
names = st.text(max_size=40)
handles = st.text(alphabet=string.ascii_letters + string.digits + "_", min_size=1, max_size=32)
users = st.fixed_dictionaries(
    {"id": ids, "is_bot": st.booleans(), "first_name": names},
    optional={
        "last_name": names,
        "username": handles,
        "language_code": st.sampled_from(["en", "es", "es-MX", "pt-BR", "", "zz"])
        | st.text(max_size=12),
    },
)
chats = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=-(2**52), max_value=2**52),
        "type": st.sampled_from(["private", "group", "supergroup", "channel"]),
    },
    optional={"title": names, "username": handles, "first_name": names},
)
origins = st.one_of(
    st.fixed_dictionaries({"type": st.just("user"), "date": dates, "sender_user": users}),
    st.fixed_dictionaries(
        {"type": st.just("hidden_user"), "date": dates, "sender_user_name": names}
    ),
    st.fixed_dictionaries(
        {"type": st.just("chat"), "date": dates, "sender_chat": chats},
        optional={"author_signature": names},
    ),
    st.fixed_dictionaries(
        {"type": st.just("channel"), "date": dates, "chat": chats, "message_id": ids},
        optional={"author_signature": names},
    ),
)
file_ids = st.text(min_size=1, max_size=20)
sizes = st.integers(min_value=0, max_value=2**40)
media: dict[str, st.SearchStrategy[Any]] = {
    "photo": st.lists(
        st.fixed_dictionaries(
            {"file_id": file_ids, "file_unique_id": file_ids, "width": sizes, "height": sizes},
            optional={"file_size": sizes},
        ),
        min_size=1,
        max_size=3,
    ),
    "document": st.fixed_dictionaries(
        {"file_id": file_ids, "file_unique_id": file_ids},
        optional={
            "file_name": names,
            "mime_type": st.sampled_from(["image/png", "application/pdf", "video/mp4"])
            | st.text(max_size=30),
            "file_size": sizes,
        },
    ),
    "sticker": st.fixed_dictionaries(
        {
            "file_id": file_ids,
            "file_unique_id": file_ids,
            "type": st.sampled_from(["regular", "mask", "custom_emoji"]),
            "width": sizes,
            "height": sizes,
            "is_animated": st.booleans(),
            "is_video": st.booleans(),
        }
    ),
    "voice": st.fixed_dictionaries(
        {"file_id": file_ids, "file_unique_id": file_ids, "duration": sizes}
    ),
    "location": st.fixed_dictionaries(
        {"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)}
    ),
    "contact": st.fixed_dictionaries({"phone_number": names, "first_name": names}),
}
entities = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["bot_command", "bold", "url", "mention", "text_link"]),
        "offset": st.integers(0, 60),
        "length": st.integers(0, 60),
    }
)
messages = st.fixed_dictionaries(
    {"message_id": ids, "date": dates, "chat": chats},
    optional={
        "from": users,
        "text": st.text(max_size=300) | st.builds("/{}".format, st.text(max_size=40)),
        "caption": st.text(max_size=100),
        "entities": st.lists(entities, max_size=3),
        "forward_origin": origins,
        **media,
    },
)
callbacks = st.fixed_dictionaries(
    {"id": file_ids, "from": users, "chat_instance": file_ids},
    optional={"message": messages, "data": button_data},
)
updates = st.one_of(
    st.fixed_dictionaries({"update_id": ids, "message": messages}),
    st.fixed_dictionaries({"update_id": ids, "callback_query": callbacks}),
    st.fixed_dictionaries({"update_id": ids}),
)


def _update(data: dict[str, Any]) -> Update:
    try:
        return Update.de_json(data, None)
    except (KeyError, TypeError, ValueError, OverflowError):
        assume(False)  # python-telegram-bot refuses it: it never reaches our code
        raise AssertionError("unreachable") from None


@FUZZ
@given(data=updates)
def test_any_update_becomes_a_core_event_or_nothing(data: dict[str, Any]) -> None:
    incoming = to_incoming(_update(data))
    if incoming is None:
        return
    assert isinstance(
        incoming.event, Command | Text | Pressed | Attachment | Forwarded | Unsupported
    )
    sender = (data.get("callback_query") or data.get("message") or {})["from"]
    assert incoming.user_id == str(sender["id"])
    assert incoming.transport == "telegram"
    if "message" in data:
        assert data["message"]["chat"]["type"] == "private"
        assert incoming.message_id == data["message"]["message_id"]


@FUZZ
@given(data=origins)
def test_a_forwarded_origin_is_described_and_keeps_its_id(data: dict[str, Any]) -> None:
    origin = MessageOrigin.de_json(data, None)
    assert origin is not None
    described = _origin(origin)
    assert isinstance(described, str)
    holder = data.get("sender_user") or data.get("sender_chat") or data.get("chat")
    if holder is not None:
        assert f"id {holder['id']}" in described


# -- settings --------------------------------------------------------------------------------

USEFUL_VALUES = [
    "0",
    "5",
    "30",
    "19456",
    "-1",
    "1e3",
    "",
    " ",
    "https://api.telegram.org",
    "http://127.0.0.1:8081/",
    "ftp://x",
    "127.0.0.1:7583",
    "[::1]:7583",
    "10.0.0.1:7583",
    "+15551234567",
    "123456789:ABCDEFGHIJKLMNOPQRSTUVWXYZ_abc",
    base64.b64encode(bytes(32)).decode(),
    base64.b64encode(bytes(16)).decode(),
    "DEBUG",
    "info",
    ".",
    "..",
    "locales",
]
# The environment cannot hold a NUL character.
env_text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=40)
environments = st.dictionaries(
    st.sampled_from([*SETTINGS, "SAFETYBOT_TYPO", "HOME", "XDG_DATA_HOME", "PATH"]),
    st.sampled_from(USEFUL_VALUES) | env_text,
    max_size=8,
)


@FUZZ
@given(env=environments)
@example(env={"SAFETYBOT_DATA_DIR": "~no_such_account_here"})  # expanduser raises RuntimeError
@example(env={"XDG_DATA_HOME": "~no_such_account_here"})
def test_any_environment_gives_settings_or_one_config_error(env: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        try:
            config = Config.from_mapping(env, cwd=Path(folder))
        except ConfigError as error:
            assert str(error)
            return
        assert config.data_dir.is_relative_to(folder) or Path(env["SAFETYBOT_DATA_DIR"])
        assert "SAFETYBOT_MASTER_KEY" not in repr(config) or config.master_key is None


# -- resource files --------------------------------------------------------------------------

FIELD_NAMES = [
    "id",
    "country",
    "name",
    "kinds",
    "helps_with",
    "ages",
    "languages",
    "phone",
    "url",
    "text_line",
    "hours",
    "hidden",
]
toml_scalars = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30),
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.sampled_from(["us-x", "US", "GB", "INT", "crisis", "any", "18+", "en", "https://a.org"]),
    st.sampled_from(["+15551234567", "+4412", "https://", "http://a.org", "us-crisis-line"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["en", "es", "fr", "x y"]), inner, max_size=3)
    ),
    max_leaves=6,
)
entries = st.dictionaries(
    st.sampled_from(FIELD_NAMES) | st.text(alphabet="abcxyz_", min_size=1, max_size=8),
    toml_values,
    max_size=10,
)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + "}"


def _resource_file(items: list[dict[str, Any]], reviewed: str | None) -> str:
    lines = [f"reviewed = {reviewed}"] if reviewed else []
    for item in items:
        lines.append("[[resource]]")
        lines += [f"{json.dumps(k)} = {_toml(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


@FUZZ
@given(
    items=st.lists(entries, max_size=4),
    reviewed=st.sampled_from([None, "2026-01-31", '"yesterday"', "7"]),
    as_overrides=st.booleans(),
)
def test_any_resource_file_gives_a_list_of_problems(
    items: list[dict[str, Any]], reviewed: str | None, as_overrides: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resources.toml"
        path.write_text(_resource_file(items, reviewed), encoding="utf-8")
        if as_overrides:
            problems = check_directory(LOCALES / "resources.toml", path, ("en", "es"))
        else:
            problems = check_directory(path, None, ("en", "es"))
    assert all(isinstance(problem, str) and problem for problem in problems)


def test_a_hidden_entry_with_a_list_for_its_id_is_named_as_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "own.toml"
    path.write_text("[[resource]]\nid = [1]\nhidden = true\n", encoding="utf-8")
    problems = check_directory(LOCALES / "resources.toml", path, ("en", "es"))
    assert any("own.toml" in problem for problem in problems)


@FUZZ
@given(raw=st.binary(max_size=400))
@example(raw=b"a = " + b"[" * 3000 + b"]" * 3000)  # deeper than tomllib goes
def test_any_bytes_as_a_resource_file_give_problems_not_a_crash(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "resources.toml"
        path.write_bytes(raw)
        assert isinstance(check_directory(path, None, ("en",)), list)


# -- locale files ----------------------------------------------------------------------------

front_matter = st.lists(
    st.sampled_from(
        [
            'title = "Right now"',
            "title = 5",
            'title = ""',
            "reviewed = 2026-01-31",
            "reviewed = 2026-01-31T10:00:00",
            'reviewed = "2026-01-31"',
            'sources = [{ name = "A", url = "https://a.org" }]',
            'sources = [{ name = "A", url = "http://a.org" }]',
            "sources = []",
            'sources = ["https://a.org"]',
            "sources = [{ name = 1 }]",
            "= broken",
        ]
    ),
    max_size=5,
)


@FUZZ
@given(meta=front_matter, body=st.text(max_size=200), fence=st.sampled_from(["+++", "---", ""]))
def test_any_guide_file_reads_or_names_its_problem(meta: list[str], body: str, fence: str) -> None:
    text = f"{fence}\n" + "\n".join(meta) + f"\n{fence}\n{body}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "right_now.md"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            guide = read_guide(path)
        except LocaleError as error:
            assert "right_now.md" in str(error)
            return
    assert guide.title and guide.body and guide.sources


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_as_a_guide_file_read_or_name_the_problem(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "right_now.md"
        path.write_bytes(b"+++\n" + raw)
        with contextlib.suppress(LocaleError):
            read_guide(path)


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_a_guide_that_is_not_utf8_is_named_as_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "right_now.md"
    path.write_bytes(b'+++\ntitle = "\x80"\n+++\nbody\n')
    with pytest.raises(LocaleError, match=r"right_now\.md"):
        read_guide(path)


@FUZZ
@given(
    entries=st.lists(
        st.tuples(
            st.text(alphabet=string.ascii_lowercase + "._{}", min_size=1, max_size=12),
            st.text(max_size=40),
        ),
        max_size=6,
    ),
    garbage=st.sampled_from(["", 'msgid "x"\n', '"unterminated\n', "#, fuzzy\n", "msgstr\n"]),
)
def test_any_catalog_loads_or_names_its_file(entries: list[tuple[str, str]], garbage: str) -> None:
    lines = [garbage]
    for key, text in entries:
        lines += [f"msgid {json.dumps(key)}", f"msgstr {json.dumps(text)}", ""]
    with tempfile.TemporaryDirectory() as folder:
        catalog = Path(folder) / "en" / "messages.po"
        catalog.parent.mkdir()
        catalog.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        try:
            texts = Texts.load(Path(folder))
        except LocaleError as error:
            assert "messages.po" in str(error) or "locale" in str(error)
            return
    assert texts.locales == ("en",)


# -- Markdown: what a person typed is shown as typed -----------------------------------------

# Text as people type it on one line: no control characters, single spaces between words.
words = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs", "Co", "Cn")),
    min_size=1,
    max_size=20,
)
typed = st.lists(words, min_size=1, max_size=8).map(" ".join)


@FUZZ
@given(text=typed)
@example(text="**bold** _it_ [link](https://evil.example) <b>x</b> &amp; `code` # 1. - >")
def test_escaped_text_renders_literally(text: str) -> None:
    assert "\n\n".join(render(escape(text), Format.PLAIN)) == text
    html_blocks = render(escape(text), Format.TELEGRAM_HTML)
    assert parse_html("\n\n".join(html_blocks)) == text


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_renders_without_raising(text: str) -> None:
    for fmt in Format:
        assert all(isinstance(block, str) for block in render(text, fmt))
    html = "\n\n".join(render(escape(text), Format.TELEGRAM_HTML))
    parse_html(html)  # valid Telegram HTML, whatever was typed


# -- stored state ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
state_fields = st.dictionaries(
    st.sampled_from(list(json.loads(State().to_bytes()))) | st.text(max_size=10),
    json_values,
    max_size=8,
)
states = st.builds(
    State,
    mode=st.sampled_from(list(Mode)),
    locale=st.none() | st.sampled_from(["en", "es"]),
    country=st.none() | st.sampled_from(COUNTRIES),
    draft_step=st.none() | st.integers(0, 64),
    panic=st.none() | st.text(max_size=64),
    panic_mode=st.sampled_from(PANIC_MODES),
    auto_clear=st.none() | st.sampled_from(AUTO_CLEAR_CHOICES),
    silent=st.booleans(),
)


@FUZZ
@given(raw=st.binary(max_size=200) | state_fields.map(lambda d: json.dumps(d).encode()))
def test_any_stored_state_bytes_give_a_state(raw: bytes) -> None:
    state = State.from_bytes(raw)
    assert isinstance(state, State) and isinstance(state.mode, Mode)
    assert state.country is None or state.country in COUNTRIES
    assert state.auto_clear is None or state.auto_clear in AUTO_CLEAR_CHOICES
    assert state.locale is None or isinstance(state.locale, str)


def test_a_stored_locale_that_is_not_text_falls_back() -> None:
    assert State.from_bytes(b'{"locale": []}').locale is None


@FUZZ
@given(state=states)
def test_a_state_survives_its_own_round_trip(state: State) -> None:
    assert State.from_bytes(state.to_bytes()) == state


def test_the_environment_is_left_alone() -> None:
    # The settings fuzzing passes mappings; it must never read or change os.environ.
    before = dict(os.environ)
    Config.from_mapping({}, cwd=LOCALES.parent)
    assert dict(os.environ) == before
