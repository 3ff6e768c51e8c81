"""Property tests for the files and texts safetybot reads from outside: the TOML config file,
red-flag rule files, exports given to `verify-export`, and the messages "check a message" reads.

Each says what must hold for *any* input: a result or the documented error, never a crash,
never a secret echoed, never an altered export called intact.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import string
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import example, given
from hypothesis import strategies as st

from safetybot.errors import ConfigError, LocaleError
from safetybot.guidance.evaluation import load_examples
from safetybot.guidance.redflags import FILE_NAME, MAX_CHARS, MAX_QUOTE, Level, Rules, check_rules
from safetybot.ops.config import Config
from safetybot.ops.settings import TABLE, parse_config_file
from safetybot.vault.evidence import FIELDS, GENESIS, Kind, make_record
from safetybot.vault.export import AttachmentFile, Labels, build_export, verify_export
from tests.conftest import LOCALES
from tests.fuzzing import FUZZ
from tests.test_export import _members, _meta, _rezip

# -- the TOML config file --------------------------------------------------------------------

KNOWN_KEYS = [s.key for s in TABLE if s.key is not None]
SECRET_KEYS = ["token", "telegram.token", "master_key", "webhook.secret", "vault.password"]
# Values a secret could hold: long and distinctive, so an echo would be found.
SECRET_VALUES = st.text(alphabet=string.ascii_letters + string.digits, min_size=8, max_size=30).map(
    lambda s: f"S3cr3t-{s}"  # a capital and a dash: never a key name the fuzz makes
)

scalars = (
    st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.text(max_size=40)
    | st.sampled_from(
        [
            "",
            ".",
            "..",
            "~",
            "data",
            "en",
            "es",
            "en,es",
            "GB",
            "zz",
            "https://example.org",
            "http://127.0.0.1:8081",
            "127.0.0.1:9464",
            "0.0.0.0:80",
            "+15551234567",
            "a@b.c",
            "webhook",
            "polling",
            "json",
            "DEBUG",
        ]
    )
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
key_names = st.sampled_from([*KNOWN_KEYS, "data_dirr", "rate_limit.per_minit", "x.y"]) | st.text(
    alphabet=string.ascii_lowercase + "_.", min_size=1, max_size=16
)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys as TOML tables; a key that would clash with a table is left out."""
    document: dict[str, Any] = {}
    for dotted, value in flat.items():
        parts = [p for p in dotted.split(".") if p] or ["_"]
        table = document
        for part in parts[:-1]:
            nested = table.setdefault(part, {})
            if not isinstance(nested, dict):
                break
            table = nested
        else:
            table.setdefault(parts[-1], value)
    return document


def _get(document: dict[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def _lines_named(message: str, path: Path) -> list[int]:
    return [int(n) for n in re.findall(re.escape(str(path)) + r":(\d+)", message)]


@FUZZ
@given(
    flat=st.dictionaries(key_names, values, max_size=8),
    secrets=st.dictionaries(st.sampled_from(SECRET_KEYS), SECRET_VALUES, max_size=2),
)
@example(flat={"rate_limit.per_minute": 0, "rate_limit.burst": -1}, secrets={})
@example(flat={"data_dir": {"\x85": 0, "0\u2028": 0}, "rate_limit.per_minute": []}, secrets={})
@example(flat={"vault": "ten"}, secrets={"token": "123456789ABCDEFghij"})
def test_any_config_file_gives_settings_or_one_error_that_never_echoes_a_secret(
    flat: dict[str, Any], secrets: dict[str, str]
) -> None:
    document = _nest({**flat, **secrets})
    secrets = {k: v for k, v in secrets.items() if _get(document, k) == v}  # not lost to a clash
    text = tomli_w.dumps(document)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "safetybot.toml"
        file = parse_config_file(path, text)  # tomli_w wrote it: it is valid TOML
        try:
            config = Config.from_mapping({}, cwd=Path(folder), file=file)
        except ConfigError as error:
            message = "\n".join(error.problems)
            assert message
            for secret in secrets.values():
                assert secret not in message  # a secret in the file is named, never shown
            lines = text.count("\n") + 1
            assert all(1 <= n <= lines for n in _lines_named(message, path))
            return
        assert not secrets  # a secret in the file is always a problem
        raw = document.get("data_dir")
        if isinstance(raw, str) and raw:
            assert config.data_dir == Path(folder) / Path(raw).expanduser()
        assert config.limits.burst >= 1 and config.limits.rate > 0


@FUZZ
@given(text=st.text(max_size=300))
@example(text="[vault]\nunlock_minutes = \n")
@example(text='token = "abc\n')
@example(text="a = 1\na = 2\n")
@example(text="a = " + "[" * 3000 + "]" * 3000)
def test_any_text_as_a_config_file_parses_or_names_the_file(text: str) -> None:
    path = Path("/etc/safetybot/safetybot.toml")
    try:
        file = parse_config_file(path, text)
    except ConfigError as error:
        assert str(error).startswith(f"{path}")
        lines = text.count("\n") + 1
        assert all(1 <= n <= lines for n in _lines_named(str(error), path))
        return
    assert file.data == tomllib.loads(text)


# -- red-flag rule files ---------------------------------------------------------------------

SHIPPED_RULES = tomllib.loads((LOCALES / "en" / FILE_NAME).read_text(encoding="utf-8"))
SAMPLE_MESSAGES = [
    "send me $500 in bitcoin or i'll post your nudes to your family",
    "hi, how are you?",
    "PAGA 300€ o envío tus fotos a tus amigos",
    "ﬁnal warning. İstanbul. straße. 1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
]
# Pieces that make patterns the way people write them, and the ways they go wrong.
PATTERN_PIECES = st.sampled_from(
    [
        "send",
        "nudes?",
        "(?:a|b)",
        "[a-z]{0,40}",
        "\\b",
        "\\d",
        "{you}",
        "{nope}",
        "(",
        ")",
        "*",
        "+",
        "{2,}",
        "{99999999999}",
        "{4294967296}",
        "(?:x{0,60}){0,60}",
        "(a)\\1",
        "(?P<n>a)(?P=n)",
        "(?>a{0,9})",
        "|",
        "Á",
        "\x08",
        "?",
        "[",
        "(?=a)",
        "(?<!b)",
        ".{0,60}",
        "(?(1)a|b)",
        "(" * 120,
        ")" * 120,
    ]
)
patterns = st.lists(PATTERN_PIECES | st.text(max_size=6), min_size=1, max_size=6).map("".join)
rule_values = st.recursive(
    patterns | st.integers(-5, 10**12) | st.floats() | st.booleans(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=5,
)


def _paths(document: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a parsed TOML document: table keys and list positions."""
    found = [prefix] if prefix else []
    if isinstance(document, dict):
        for key, value in document.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            found += _paths(value, (*prefix, index))
    return found


RULE_PATHS = _paths(SHIPPED_RULES)


def _changed(document: dict[str, Any], path: tuple[Any, ...], value: Any, drop: bool) -> Any:
    copy = json.loads(json.dumps(document))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(parent, dict) and not isinstance(path[-1], str):
        raise KeyError(path[-1])  # a list position in what an earlier change made a table
    if drop:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copy


@FUZZ
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(RULE_PATHS), rule_values, st.booleans()), min_size=1, max_size=3
    )
)
@example(changes=[(("flag", "threat_to_share", "rule", 0, "match", 0), "a{99999999999}", False)])
@example(changes=[(("flag", "threat_to_share", "rule", 0, "match", 0), "(" * 200, False)])
@example(changes=[(("scoring", "likely_needs"), [{"x": 1}], False)])
@example(changes=[(("flag", "threat_to_share", "weight"), math.nan, False)])
@example(changes=[(("flag", "threat_to_share", "weight"), math.inf, False)])
@example(changes=[(("scoring", "very_likely"), math.inf, False)])
@example(changes=[(("terms", "you"), "(?:a{0,60}){0,60}", False)])
def test_any_rule_file_loads_or_names_every_problem(
    changes: list[tuple[tuple[Any, ...], Any, bool]],
) -> None:
    document: Any = SHIPPED_RULES
    for path, value, drop in changes:
        try:
            document = _changed(document, path, value, drop)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced that place
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "en").mkdir()
        file = root / "en" / FILE_NAME
        file.write_text(tomli_w.dumps(document), encoding="utf-8")
        problems = check_rules(root)
        assert all(isinstance(p, str) and p.startswith(str(file)) for p in problems)
        try:
            rules = Rules.load(root)
        except LocaleError as error:
            assert problems and str(error) == problems[0]
            return
        assert not problems
        assert all(math.isfinite(w) and w >= 0 for w in rules.weights.values())
        for message in SAMPLE_MESSAGES:
            finding = rules.check(message)
            assert math.isfinite(finding.score)


def test_the_shipped_rules_have_no_problems() -> None:
    assert check_rules(LOCALES) == []


def test_a_repeat_too_large_for_python_is_a_named_problem(tmp_path: Path) -> None:
    shutil.copytree(LOCALES / "en", tmp_path / "en", ignore=shutil.ignore_patterns("guides"))
    document = _changed(
        SHIPPED_RULES, ("flag", "threat_to_share", "rule", 0, "match", 0), "a{99999999999}", False
    )
    (tmp_path / "en" / FILE_NAME).write_text(tomli_w.dumps(document), encoding="utf-8")
    problems = check_rules(tmp_path)
    assert len(problems) == 1
    assert "flag 'threat_to_share': rule 1: match: pattern 'a{99999999999}'" in problems[0]


# -- any message for "check a message" -------------------------------------------------------

RULES = Rules.load(LOCALES)
# Words the rules look for, and characters whose casefolded or unaccented form has another
# length: where a quote's position in the original text could slip.
MESSAGE_PIECES = st.sampled_from(
    [
        "send ",
        "$500 ",
        "500€",
        "nudes ",
        "bitcoin ",
        "gift card ",
        "your family ",
        "24 hours ",
        "i'll post ",
        "fotos ",
        "paga ",
        "\u0301",
        "İ",
        "ß",
        "ﬁ",
        "ǅ",
        "ΐ",
        "\u200b",
        "\n\n",
        "“",
        "1BoatSLRHtKNngkdXEeobR76b53LETtpyT ",
        "GB82WEST12345698765432 ",
        "4111 1111 1111 1111 ",
    ]
)
messages = st.lists(MESSAGE_PIECES | st.text(max_size=8), max_size=30).map("".join)


@FUZZ
@given(text=messages)
@example(text="İİİİ send me $500 or i'll post your nudes")
@example(text="ß" * 30 + " pay 500$ in gift cards")
def test_any_message_gives_a_finding_whose_quotes_are_its_own_words(text: str) -> None:
    finding = RULES.check(text)
    assert finding.truncated == (len(text) > MAX_CHARS)
    assert math.isfinite(finding.score) and finding.score >= 0
    if not finding.flags:
        assert finding.level is Level.NONE
    for hit in finding.flags:
        for quote in hit.quotes:
            assert quote and quote in text  # quoted from the message, never made up
            assert len(quote) <= MAX_QUOTE


def test_a_very_long_message_is_checked_up_to_the_limit() -> None:
    threat = "send me $500 in bitcoin or i'll post your nudes to your family. "
    finding = RULES.check(threat + "x" * (MAX_CHARS * 2))
    assert finding.truncated and finding.flags
    assert not RULES.check("hello " * (MAX_CHARS // 6 + 10) + threat).flags  # past the limit


# -- exports given to verify-export ----------------------------------------------------------

LABELS = Labels.from_catalog(lambda key: key, {name: name for name in FIELDS})
SHOT = b"\x89PNG\r\n\x1a\n not really a picture, just bytes"
PASSWORD = "correct horse battery"


def _export(password: str | None) -> bytes:
    item = _meta(1, "shot.png", SHOT, "image/png")
    first = make_record(
        seq=1,
        prev=GENESIS,
        note=1,
        kind=Kind.NOTE,
        recorded_at="2026-11-21T14:01:00Z",
        fields={"what": "a threat"},
        attachments=[item],
    )
    second = make_record(
        seq=2,
        prev=first["hash"],
        note=2,
        kind=Kind.NOTE,
        recorded_at="2026-11-21T14:02:00Z",
        fields={"what": "another"},
    )
    return build_export(
        [first, second],
        [AttachmentFile(1, "shot.png", "image/png", SHOT)],
        labels=LABELS,
        exported_at="2026-11-21T15:00:00Z",
        password=password,
    )


EXPORTS = {None: _export(None), PASSWORD: _export(PASSWORD)}
CONTENT = {key: verify_export(data, key) for key, data in EXPORTS.items()}


def _seen(report: Any) -> tuple[int, int, int, str]:
    return (report.notes, report.records, report.attachments, report.head)


def test_the_exports_the_fuzz_tests_change_verify() -> None:
    for report in CONTENT.values():
        assert report.ok and _seen(report) == (2, 2, 1, report.head) and report.head


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"PK\x05\x06" + bytes(18))
@example(data=b"PK\x03\x04" + bytes(100))
def test_any_bytes_give_a_report_not_a_crash(data: bytes) -> None:
    report = verify_export(data)
    assert not report.ok and report.problems


@FUZZ
@given(
    encrypted=st.booleans(),
    changes=st.lists(st.tuples(st.integers(0, 10**9), st.integers(1, 255)), min_size=1, max_size=4),
)
def test_an_export_with_changed_bytes_is_never_intact_with_other_contents(
    encrypted: bool, changes: list[tuple[int, int]]
) -> None:
    password = PASSWORD if encrypted else None
    data = bytearray(EXPORTS[password])
    for position, flip in changes:
        data[position % len(data)] ^= flip
    report = verify_export(bytes(data), password)
    if report.ok:
        # A changed date or comment in the ZIP's own headers is not evidence: what it says is.
        assert _seen(report) == _seen(CONTENT[password])
    else:
        assert report.problems


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
RECORD_KEYS = ["seq", "prev", "hash", "note", "kind", "recorded_at", "fields", "attachments"]


def _rewritten(change: Callable[[dict[str, Any]], None]) -> bytes:
    """The plain export with evidence.json changed and MANIFEST.txt made to match it again."""

    def rewrite(members: dict[str, bytes]) -> None:
        document = json.loads(members["evidence.json"])
        change(document)
        body = json.dumps(document).encode()
        old = hashlib.sha256(members["evidence.json"]).hexdigest()
        members["evidence.json"] = body
        manifest = members["MANIFEST.txt"].decode()
        members["MANIFEST.txt"] = manifest.replace(old, hashlib.sha256(body).hexdigest()).encode()

    return _rezip(EXPORTS[None], rewrite)


@FUZZ
@given(
    index=st.integers(0, 1),
    key=st.sampled_from(RECORD_KEYS) | st.text(max_size=6),
    value=json_values,
)
@example(index=0, key="seq", value=True)
@example(index=1, key="attachments", value=[{"id": 1}])
@example(index=0, key="fields", value={"what": None})
def test_a_changed_record_is_found_whatever_it_holds(index: int, key: str, value: Any) -> None:
    def change(document: dict[str, Any]) -> None:
        document["records"][index][key] = value

    original = json.loads(_members(EXPORTS[None])["evidence.json"])
    before = original["records"][index]
    # Compared as JSON: in Python True == 1 == 1.0, in the record's hash they differ.
    unchanged = key in before and json.dumps(before[key]) == json.dumps(value)
    report = verify_export(_rewritten(change))
    assert report.readable
    assert report.ok == unchanged
    assert unchanged or report.problems


@FUZZ
@given(document=json_values)
def test_any_evidence_document_gives_a_report(document: Any) -> None:
    def change(current: dict[str, Any]) -> None:
        current.clear()
        current["anything"] = document

    report = verify_export(_rewritten(change))
    assert not report.ok and report.problems


@pytest.mark.parametrize("password", [None, "wrong password"])
def test_an_encrypted_export_needs_its_password(password: str | None) -> None:
    report = verify_export(EXPORTS[PASSWORD], password)
    assert not report.readable and report.encrypted and report.problems


# -- the labelled messages evaluate-check reads -----------------------------------------------

GOOD_LINE = json.dumps(
    {"id": "a1", "lang": "en", "text": "pay or else", "extortion": True, "flags": ["deadline"]}
)
lines = st.lists(
    st.sampled_from([GOOD_LINE, "", "[" * 5000, '{"id": 1}', "null", '{"flags": {}}'])
    | st.builds(
        json.dumps,
        st.fixed_dictionaries(
            {"id": json_values, "lang": st.sampled_from(["en", "es", "xx"]) | json_values},
            optional={
                "text": json_values,
                "extortion": json_values,
                "flags": json_values,
                "split": json_values,
            },
        ),
    )
    # One line each, and text a file can hold (no lone surrogates).
    | st.text(
        alphabet=st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)),
        max_size=30,
    ),
    max_size=6,
)


@FUZZ
@given(content=lines)
@example(content=["[" * 5000])
@example(content=['{"id": "a",\r"lang": "en"}', "{"])  # a bare \r is space in JSON
def test_any_labelled_file_loads_or_names_its_line(content: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "labelled.jsonl"
        path.write_text("\n".join(content), encoding="utf-8")
        try:
            examples = load_examples(path)
        except ValueError as error:
            named = re.match(re.escape(str(path)) + r":(\d+): ", str(error))
            assert named, error
            # The line named is the first bad one: everything before it loads, it does not.
            number = int(named.group(1))
            path.write_text("\n".join(content[: number - 1]), encoding="utf-8")
            load_examples(path)
            path.write_text("\n".join(content[:number]), encoding="utf-8")
            with pytest.raises(ValueError):
                load_examples(path)
            return
        assert len(examples) == len({e.id for e in examples})
        assert all(isinstance(e.text, str) and isinstance(e.extortion, bool) for e in examples)


def test_a_text_holding_a_line_separator_is_one_example(tmp_path: Path) -> None:
    path = tmp_path / "labelled.jsonl"
    line = GOOD_LINE.replace("pay or", "pay\u2028or\x85")  # JSON lets both stand unescaped
    path.write_text(f"{line}\n", encoding="utf-8")
    (example,) = load_examples(path)
    assert example.text == "pay\u2028or\x85 else"


@pytest.mark.parametrize("value", ["[" * 3000 + "]" * 3000, "{x = " * 3000 + "1" + "}" * 3000])
def test_a_rule_file_nested_too_deeply_is_a_named_problem(tmp_path: Path, value: str) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / FILE_NAME).write_text(f"a = {value}\n", encoding="utf-8")
    assert check_rules(tmp_path) == [
        f"{tmp_path / 'en' / FILE_NAME}: not valid TOML: nested too deeply"
    ]
