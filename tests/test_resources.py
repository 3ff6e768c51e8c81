"""The resource directory: the shipped helplines, an organization's own file, and bad files."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from safetybot.errors import LocaleError
from safetybot.guidance.resources import (
    Ages,
    Country,
    Directory,
    Kind,
    Resource,
    check_directory,
    display_phone,
)
from tests.conftest import LOCALES

SHIPPED = LOCALES / "resources.toml"
BOTH = ("en", "es")

ENTRY = """
[[resource]]
id = "us-test"
country = "US"
name = "Test line"
kinds = ["support"]
url = "https://example.org/"
helps_with = { en = "Help.", es = "Ayuda." }
ages = "any"
languages = ["en"]
source = "https://example.org/about"
reviewed = 2026-12-07
"""


def _write(tmp_path: Path, text: str, name: str = "resources.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _entry(**changes: str | None) -> str:
    """The valid ENTRY with some lines replaced (a TOML value) or removed (None)."""
    lines = []
    for line in ENTRY.strip().splitlines():
        key = line.split(" = ")[0]
        if key in changes:
            if changes[key] is not None:
                lines.append(f"{key} = {changes.pop(key)}")
            else:
                changes.pop(key)
        else:
            lines.append(line)
    lines += [f"{key} = {value}" for key, value in changes.items()]  # new fields go last
    return "\n".join(lines) + "\n"


def _ids(found: Iterable[Resource]) -> list[str]:
    return [r.id for r in found]


@pytest.fixture
def shipped() -> Directory:
    return Directory.load(SHIPPED, locales=BOTH)


# ---------------------------------------------------------------- the shipped file


def test_the_shipped_file_loads_and_passes_the_check(shipped: Directory) -> None:
    assert len(shipped) == len(list(shipped)) >= 15
    assert check_directory(SHIPPED, locales=BOTH) == []
    assert not any(r.own for r in shipped)


def test_every_shipped_entry_says_what_it_helps_with_in_english_and_spanish(
    shipped: Directory,
) -> None:
    for resource in shipped:
        assert resource.helps_with["en"].strip(), resource.id
        assert resource.helps_with["es"].strip(), resource.id
        assert resource.phone or resource.url or resource.text_line, resource.id


def test_every_country_offers_an_emergency_or_crisis_line(shipped: Directory) -> None:
    urgent = {Kind.EMERGENCY, Kind.CRISIS}
    for country in Country:
        if country is not Country.INT:
            assert shipped.find(country, kinds=urgent, include_international=False), country


def test_anywhere_else_gets_the_crisis_line_directory_first_then_stopncii_and_take_it_down(
    shipped: Directory,
) -> None:
    names = [r.name for r in shipped.find(Country.INT)]
    assert names == ["Find A Helpline", "StopNCII.org", "Take It Down (NCMEC)"]
    assert _ids(shipped.find(Country.INT, kinds=[Kind.CRISIS])) == ["int-find-a-helpline"]


def test_a_child_in_the_uk_gets_childline_and_no_adults_only_service(shipped: Directory) -> None:
    found = _ids(shipped.find(Country.GB, age=Ages.UNDER_18))
    assert "gb-childline-report-remove" in found
    assert "int-take-it-down" in found
    assert "gb-revenge-porn-helpline" not in found  # 18+
    assert "int-stopncii" not in found  # 18+
    adult = _ids(shipped.find(Country.GB, age=Ages.ADULT))
    assert "gb-revenge-porn-helpline" in adult
    assert "gb-childline-report-remove" not in adult


def test_an_unknown_age_sees_every_service(shipped: Directory) -> None:
    every = _ids(shipped.find(Country.GB))
    assert "gb-revenge-porn-helpline" in every
    assert "gb-childline-report-remove" in every
    assert _ids(shipped.find(Country.GB, age=Ages.ANY)) == every


def test_international_services_come_after_the_countrys_own_in_file_order(
    shipped: Directory,
) -> None:
    found = shipped.find(Country.US)
    assert _ids(found) == [
        "us-ccri",
        "us-ncmec-cybertipline",
        "us-fbi",
        "us-988",
        "us-thorn-crisis-text",
        "us-911",
        "us-domestic-violence-hotline",
        "int-find-a-helpline",
        "int-stopncii",
        "int-take-it-down",
    ]
    only_us = shipped.find(Country.US, include_international=False)
    assert {r.country for r in only_us} == {Country.US}


def test_the_kinds_filter_keeps_entries_with_any_of_the_kinds(shipped: Directory) -> None:
    assert _ids(shipped.find(Country.US, kinds=[Kind.EMERGENCY])) == ["us-911"]
    crisis = shipped.find(Country.US, kinds=[Kind.EMERGENCY, Kind.CRISIS])
    assert _ids(crisis) == ["us-988", "us-thorn-crisis-text", "us-911", "int-find-a-helpline"]
    removal = shipped.find(Country.AU, kinds=[Kind.REMOVAL])
    assert _ids(removal) == ["au-esafety", "int-stopncii", "int-take-it-down"]
    assert shipped.find(Country.US, kinds=[]) == []


def test_get_returns_an_entry_and_refuses_an_unknown_id(shipped: Directory) -> None:
    ccri = shipped.get("us-ccri")
    assert ccri.country is Country.US
    assert ccri.phone == "+18448782274"
    assert Kind.SEXTORTION in ccri.kinds
    with pytest.raises(KeyError):
        shipped.get("us-nothing")


def test_texts_fall_back_to_the_default_locale_and_cannot_be_changed(
    shipped: Directory,
) -> None:
    line = shipped.get("us-911")
    assert line.localized(line.text_line, "es", "en") == "Llama al 911"
    assert line.localized(line.text_line, "fr", "en") == "Call 911"
    assert line.localized(line.hours, "en", "en") is None
    with pytest.raises(TypeError):
        line.helps_with["en"] = "changed"  # type: ignore[index]


def test_every_shipped_entry_says_where_and_when_it_was_checked(shipped: Directory) -> None:
    for resource in shipped:
        assert resource.source and resource.source.startswith("https://"), resource.id
        assert resource.reviewed is not None and resource.reviewed.year >= 2026, resource.id


NEW_COUNTRIES = (Country.ES, Country.MX, Country.AR, Country.CO)


@pytest.mark.parametrize("country", NEW_COUNTRIES)
def test_every_spanish_speaking_country_has_an_emergency_number_and_a_crisis_line(
    shipped: Directory, country: Country
) -> None:
    mine = shipped.find(country, include_international=False)
    assert any(Kind.EMERGENCY in r.kinds for r in mine), country
    assert any(Kind.CRISIS in r.kinds for r in mine), country
    assert all("es" in r.languages for r in mine), country
    assert any(Kind.DV in r.kinds for r in mine), country


def test_the_numbers_named_in_the_issue_are_listed(shipped: Directory) -> None:
    assert shipped.get("es-incibe-017").phone == "+34900116117"
    assert "017" in shipped.get("es-incibe-017").text_line["es"]
    assert "024" in shipped.get("es-024").text_line["es"]
    assert shipped.get("mx-linea-de-la-vida").phone == "+528009112000"
    assert "088" in shipped.get("mx-088").text_line["es"]
    assert shipped.get("us-domestic-violence-hotline").phone == "+18007997233"
    assert shipped.get("gb-domestic-abuse-helpline").phone == "+448082000247"
    assert "1800 737 732" in shipped.get("au-1800respect").text_line["en"]
    assert "016" in shipped.get("es-016").text_line["es"]
    assert "144" in shipped.get("ar-144").text_line["es"]
    assert "155" in shipped.get("co-155").text_line["es"]


def test_988_and_take_it_down_serve_spanish_speakers_in_the_us(shipped: Directory) -> None:
    line = shipped.get("us-988")
    assert "es" in line.languages
    assert "marca 2" in line.text_line["es"]
    assert "es" in shipped.get("int-take-it-down").languages
    spanish = [r.id for r in shipped.find(Country.US) if "es" in r.languages]
    assert spanish[:2] == ["us-988", "us-domestic-violence-hotline"]


def test_police_and_child_protection_follow_age(shipped: Directory) -> None:
    child = _ids(shipped.find(Country.GB, age=Ages.UNDER_18))
    adult = _ids(shipped.find(Country.GB, age=Ages.ADULT))
    assert "gb-ceop" in child and "gb-ceop" not in adult
    assert "gb-police-101" in adult and "gb-police-101" not in child
    assert "au-accce" in _ids(shipped.find(Country.AU, age=Ages.UNDER_18))
    assert "au-accce" not in _ids(shipped.find(Country.AU, age=Ages.ADULT))
    canada = _ids(shipped.find(Country.CA, kinds=[Kind.POLICE], age=Ages.ADULT))
    assert "ca-anti-fraud-centre" in canada and "ca-cybertip" in _ids(
        shipped.find(Country.CA, kinds=[Kind.POLICE], age=Ages.UNDER_18)
    )
    assert "ca-anti-fraud-centre" not in _ids(shipped.find(Country.CA, age=Ages.UNDER_18))
    police = shipped.find(Country.US, kinds=[Kind.POLICE], age=Ages.ADULT)
    assert "us-fbi" in _ids(police)
    fbi = next(resource for resource in police if resource.id == "us-fbi")
    assert "ic3.gov" in fbi.helps_with["en"] and "ic3.gov" in fbi.helps_with["es"]


# ---------------------------------------------------------------- an organization's own file


def test_an_organizations_entry_may_leave_out_source_and_reviewed(tmp_path: Path) -> None:
    own = _write(tmp_path, _entry(id='"us-acme"', source=None, reviewed=None), "own.toml")
    directory = Directory.load(SHIPPED, own, locales=BOTH)
    assert directory.get("us-acme").source is None
    assert directory.get("us-acme").reviewed is None


def test_an_organizations_new_entry_comes_first_for_its_country(
    tmp_path: Path, shipped: Directory
) -> None:
    own = _write(tmp_path, _entry(id='"gb-acme"', country='"GB"', name='"Acme"'), "own.toml")
    directory = Directory.load(SHIPPED, own, locales=BOTH)
    assert len(directory) == len(shipped) + 1
    found = directory.find(Country.GB)
    assert found[0].id == "gb-acme"
    assert found[0].own is True
    assert _ids(found[1:]) == _ids(shipped.find(Country.GB))
    assert "gb-acme" not in _ids(directory.find(Country.US))


def test_an_organizations_international_entry_comes_first_everywhere(tmp_path: Path) -> None:
    own = _write(tmp_path, _entry(id='"int-acme"', country='"INT"'), "own.toml")
    directory = Directory.load(SHIPPED, own, locales=BOTH)
    assert directory.find(Country.AU)[0].id == "int-acme"
    assert "int-acme" not in _ids(directory.find(Country.AU, include_international=False))


def test_a_correction_replaces_the_shipped_entry_in_place(
    tmp_path: Path, shipped: Directory
) -> None:
    fixed = _entry(id='"us-fbi"', name='"FBI"', phone='"+18002255324"')
    directory = Directory.load(SHIPPED, _write(tmp_path, fixed, "own.toml"), locales=BOTH)
    fbi = directory.get("us-fbi")
    assert fbi.phone == "+18002255324"
    assert fbi.url == "https://example.org/"  # the whole entry is replaced, not merged
    assert fbi.own is True
    assert len(directory) == len(shipped)
    assert _ids(directory) == _ids(shipped)  # same position when listing the directory


def test_new_entries_come_first_in_file_order_and_corrections_keep_their_place(
    tmp_path: Path, shipped: Directory
) -> None:
    own = _entry(id='"us-zeta"') + _entry(id='"us-911"', name='"911"') + _entry(id='"us-acme"')
    directory = Directory.load(SHIPPED, _write(tmp_path, own, "own.toml"), locales=BOTH)
    found = _ids(directory.find(Country.US))
    assert found[:2] == ["us-zeta", "us-acme"]
    assert found[2:] == _ids(shipped.find(Country.US))


def test_hidden_removes_a_shipped_entry(tmp_path: Path, shipped: Directory) -> None:
    own = _write(tmp_path, '[[resource]]\nid = "us-thorn-crisis-text"\nhidden = true\n', "o.toml")
    directory = Directory.load(SHIPPED, own, locales=BOTH)
    assert len(directory) == len(shipped) - 1
    with pytest.raises(KeyError):
        directory.get("us-thorn-crisis-text")
    assert "us-thorn-crisis-text" not in _ids(directory.find(Country.US))


def test_hiding_an_unknown_id_or_with_other_fields_is_refused(tmp_path: Path) -> None:
    own = _write(
        tmp_path,
        '[[resource]]\nid = "us-thorm"\nhidden = true\n'
        '[[resource]]\nid = "us-911"\nhidden = true\nname = "x"\n',
        "own.toml",
    )
    assert check_directory(SHIPPED, own, BOTH) == [
        f"{own}: resource 'us-911': a hidden entry takes only an id, not name",
        f"{own}: resource 'us-thorm': hidden, but not shipped",
    ]


def test_hidden_is_not_allowed_in_the_shipped_file(tmp_path: Path) -> None:
    path = _write(tmp_path, _entry(hidden="true"))
    with pytest.raises(LocaleError) as caught:
        Directory.load(path)
    assert str(caught.value) == f"{path}: resource 'us-test': unknown field 'hidden'"


def test_an_organizations_file_may_hold_only_a_review_date(tmp_path: Path) -> None:
    own = _write(tmp_path, "reviewed = 2026-11-01\n", "own.toml")
    assert len(Directory.load(SHIPPED, own, locales=BOTH)) == len(Directory.load(SHIPPED))


# ---------------------------------------------------------------- bad files

ERRORS = [
    ({"name": None}, "missing field 'name'"),
    ({"helps_with": None}, "missing field 'helps_with'"),
    (
        {"url": '"http://example.org/"'},
        "url 'http://example.org/' is not an https:// address with a host",
    ),
    ({"url": '"not a url"'}, "url 'not a url' is not an https:// address with a host"),
    ({"url": '"https://"'}, "url 'https://' is not an https:// address with a host"),
    ({"phone": '"+1 844 878 2274"'}, "phone '+1 844 878 2274' is not E.164 (+ and 8-15 digits)"),
    ({"phone": '"999"'}, "phone '999' is not E.164 (+ and 8-15 digits)"),
    ({"country": '"FR"'}, "country 'FR' is not one of US, GB, CA, AU, ES, MX, AR, CO, INT"),
    ({"ages": '"adult"'}, "ages 'adult' is not one of any, under-18, 18+"),
    ({"phnoe": '"+18448782274"'}, "unknown field 'phnoe'"),
    ({"helps_with": '{ en = "Help." }'}, "helps_with has no 'es' text"),
    ({"helps_with": '{ en = "Help.", es = " " }'}, "helps_with.es must be non-empty text"),
    ({"hours": '{ es = "Siempre" }'}, "hours has no 'en' text"),
    ({"text_line": '"Call 999"'}, 'text_line must be a table such as { en = "…" }'),
    ({"kinds": "[]"}, "kinds [] must be a non-empty list of " + ", ".join(Kind)),
    (
        {"kinds": '["helpline"]'},
        "kinds ['helpline'] must be a non-empty list of " + ", ".join(Kind),
    ),
    ({"languages": '["english"]'}, "languages ['english'] must list 2-letter codes"),
    ({"languages": "[]"}, "languages [] must list 2-letter codes"),
    ({"url": None}, "needs at least one of phone, url, text_line"),
    ({"id": '"US_test"'}, "id must look like 'us-name' (lowercase letters, digits, hyphens)"),
    ({"source": None}, "missing field 'source'"),
    ({"reviewed": None}, "missing field 'reviewed'"),
    ({"source": '"example.org"'}, "source 'example.org' is not an https:// address with a host"),
    ({"reviewed": '"last week"'}, "reviewed 'last week' must be a date such as 2026-01-31"),
]


@pytest.mark.parametrize(("changes", "problem"), ERRORS)
def test_a_bad_entry_is_refused_naming_the_file_and_the_entry(
    tmp_path: Path, changes: dict[str, str | None], problem: str
) -> None:
    path = _write(tmp_path, _entry(**changes))
    entry = "'US_test'" if "id" in changes else "'us-test'"
    with pytest.raises(LocaleError) as caught:
        Directory.load(path, locales=BOTH)
    assert str(caught.value) == f"{path}: resource {entry}: {problem}"
    assert check_directory(path, locales=BOTH) == [str(caught.value)]


def test_an_entry_without_an_id_is_named_by_its_number(tmp_path: Path) -> None:
    path = _write(tmp_path, ENTRY + _entry(id=None))
    with pytest.raises(LocaleError) as caught:
        Directory.load(path, locales=BOTH)
    assert str(caught.value) == f"{path}: resource #2: missing field 'id'"


def test_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, ENTRY + ENTRY)
    with pytest.raises(LocaleError) as caught:
        Directory.load(path, locales=BOTH)
    assert str(caught.value) == f"{path}: resource 'us-test': id is used twice in this file"


def test_spanish_is_only_required_when_spanish_is_shipped(tmp_path: Path) -> None:
    path = _write(tmp_path, _entry(helps_with='{ en = "Help." }'))
    assert len(Directory.load(path, locales=("en",))) == 1
    with pytest.raises(LocaleError, match="helps_with has no 'es' text"):
        Directory.load(path, locales=BOTH)


def test_a_toml_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path, ENTRY.replace('name = "Test line"', 'name = "Test line'))
    with pytest.raises(LocaleError) as caught:
        Directory.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not valid TOML: ")
    assert "line 5" in message


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(LocaleError) as caught:
        Directory.load(SHIPPED, path)
    assert str(caught.value) == f"{path}: file not found"


def test_a_file_with_no_entries_or_unknown_top_level_fields_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'reviewed = "last week"\nresources = []\n')
    assert check_directory(path) == [
        f"{path}: unknown top-level field 'resources'",
        f"{path}: reviewed must be a date such as 2026-01-31",
        f"{path}: has no [[resource]] entries",
    ]


def test_the_check_lists_every_problem_in_both_files(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _entry(url='"http://example.org/"')
        + _entry(id='"gb-test"', country='"UK"', phnoe='"+443456000459"')
        + _entry(id='"au-test"', country='"AU"'),
    )
    own = _write(tmp_path, _entry(id='"ca-test"', country='"CA"', ages='"adults"'), "own.toml")
    assert check_directory(path, own, BOTH) == [
        f"{path}: resource 'us-test': url 'http://example.org/' is not an https:// address"
        " with a host",
        f"{path}: resource 'gb-test': unknown field 'phnoe'",
        f"{path}: resource 'gb-test': country 'UK' is not one of US, GB, CA, AU, ES, MX, AR, CO,"
        " INT",
        f"{own}: resource 'ca-test': ages 'adults' is not one of any, under-18, 18+",
    ]
    with pytest.raises(LocaleError) as caught:
        Directory.load(path, own, locales=BOTH)
    assert str(caught.value) == check_directory(path, own, BOTH)[0]


# ---------------------------------------------------------------- phone numbers for display


@pytest.mark.parametrize(
    ("e164", "shown"),
    [
        ("+18448782274", "+1 844 878 2274"),
        ("+18002255324", "+1 800 225 5324"),
        ("+443456000459", "+44 345 600 0459"),
        ("+442079460000", "+44 20 7946 0000"),
        ("+447700900123", "+44 7700 900123"),
        ("+61412345678", "+61 412 345 678"),
        ("+61291234567", "+61 2 9123 4567"),
        ("+33612345678", "+33 612 345 678"),
        ("+4930123456", "+49 3012 3456"),
        ("+2348012345678", "+234 801 234 5678"),
        ("911", "911"),
    ],
)
def test_display_phone_groups_digits_readably(e164: str, shown: str) -> None:
    assert display_phone(e164) == shown


@pytest.mark.parametrize(
    ("e164", "country", "shown"),
    [
        ("+448001111", "GB", "0800 1111"),
        ("+443456000459", "GB", "0345 6000 459"),
        ("+448082000247", "GB", "0808 2000 247"),
        ("+442079460000", "GB", "020 7946 0000"),
        ("+528009112000", "MX", "800 911 2000"),
        ("+34900116117", "ES", "900 116 117"),
        ("+18448782274", "US", "1-844-878-2274"),
        ("+18006686868", "CA", "1-800-668-6868"),
        ("+61412345678", "AU", "0412 345 678"),
        # Someone elsewhere sees the international form.
        ("+448001111", "US", "+44 800 1111"),
        ("+528009112000", "ES", "+52 800 911 2000"),
        ("+18448782274", "INT", "+1 844 878 2274"),
    ],
)
def test_display_phone_writes_a_number_as_dialled_in_the_persons_country(
    e164: str, country: str, shown: str
) -> None:
    assert display_phone(e164, country) == shown


def test_every_shipped_phone_number_displays_with_its_own_digits(shipped: Directory) -> None:
    for resource in shipped:
        if resource.phone:
            shown = display_phone(resource.phone)
            assert " " in shown
            assert shown.replace(" ", "") == resource.phone
