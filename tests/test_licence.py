"""The licence is stated where people and tools look for it: LICENSE, pyproject, REUSE.toml."""

from __future__ import annotations

import tomllib
from importlib.metadata import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPDX = "AGPL-3.0-or-later"


def test_the_full_licence_text_ships_at_the_top_and_in_licenses() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.lstrip().startswith("GNU AFFERO GENERAL PUBLIC LICENSE")
    assert "Version 3, 19 November 2007" in text
    assert "13. Remote Network Interaction; Use with the GNU General Public License." in text
    assert (ROOT / "LICENSES" / f"{SPDX}.txt").read_text(encoding="utf-8") == text


def test_the_package_declares_its_licence() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == SPDX
    # What pip and package indexes show, from the installed copy's metadata.
    assert metadata("safetybot")["License-Expression"] == SPDX


def test_every_file_is_covered_and_every_licence_named_has_its_text() -> None:
    reuse = tomllib.loads((ROOT / "REUSE.toml").read_text(encoding="utf-8"))
    annotations = reuse["annotations"]
    everything = [a for a in annotations if a["path"] == "**"]
    assert everything and everything[0]["SPDX-License-Identifier"] == SPDX
    for annotation in annotations:
        assert annotation["SPDX-FileCopyrightText"]
        licence = annotation["SPDX-License-Identifier"]
        assert (ROOT / "LICENSES" / f"{licence}.txt").is_file(), licence
    fonts = [a for a in annotations if a["path"] == "safetybot/fonts/**"]
    assert fonts and fonts[0]["SPDX-License-Identifier"] == "LicenseRef-DejaVu"
    assert (ROOT / "safetybot" / "fonts" / "LICENSE-DejaVu.txt").read_text(encoding="utf-8") == (
        ROOT / "LICENSES" / "LicenseRef-DejaVu.txt"
    ).read_text(encoding="utf-8")
