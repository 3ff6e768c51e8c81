"""An installed copy works away from the checkout: a wheel built offline, installed in a new venv.

The wheel is built from a copy of what it is made of (so no build/ or egg-info lands in the
checkout), installed without its dependencies, which come from this venv through a .pth file
placed after the new venv's own site-packages, so the installed safetybot is the one imported.
Every command runs from tmp_path, where no locales/ or data/ folder of the checkout can be found.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import safetybot

ROOT = Path(__file__).resolve().parent.parent
# What pyproject.toml builds the wheel from: the package, its readme and its licence files.
SOURCES = (
    *("pyproject.toml", "README.md", "LICENSE", "LICENSES", "REUSE.toml"),
    *("safetybot", "locales"),
)


def _run(
    command: list[str], cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=env, input=stdin, capture_output=True, text=True, check=False,
        timeout=120,
    )  # fmt: skip


def _build_wheel(tmp_path: Path, env: dict[str, str]) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(origin, source / name)
    dist = tmp_path / "dist"
    # No build isolation and no index: this venv's setuptools (a dev dependency) builds it.
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index", "--no-build-isolation"]
    built = _run([*pip, "--wheel-dir", str(dist), str(source)], tmp_path, env)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("safetybot-*.whl")
    return wheel


def _install(tmp_path: Path, wheel: Path, env: dict[str, str]) -> Path:
    """A new venv holding the wheel, with this venv's packages after its own; its bin folder."""
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    pip = [python, "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)]
    installed = _run(pip, tmp_path, env)
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    site = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], venv, env)
    ours = dict.fromkeys((sysconfig.get_path("purelib"), sysconfig.get_path("platlib")))
    # A .pth line is appended to sys.path; this venv's own .pth files (its editable
    # safetybot among them) are not run, so only the dependencies come from here.
    Path(site.stdout.strip(), "dependencies.pth").write_text("\n".join(ours) + "\n")
    return venv / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(the installed venv's bin folder, the wheel, a clean environment) for the tests below."""
    tmp_path = tmp_path_factory.mktemp("packaging")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAFETYBOT_", "PYTHON"))}
    env |= {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1", "LANG": "C.UTF-8"}
    wheel = _build_wheel(tmp_path, env)
    return _install(tmp_path, wheel, env), wheel, env


def test_the_wheel_ships_every_text_guide_and_rule_file_and_its_type_hints(
    installed: tuple[Path, Path, dict[str, str]],
) -> None:
    _, wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    folder = ROOT / "locales"
    shipped = {
        "safetybot/" + p.relative_to(ROOT).as_posix() for p in folder.rglob("*") if p.is_file()
    }
    assert {"safetybot/locales/en/messages.po", "safetybot/locales/es/guides/privacy.md"} <= shipped
    assert shipped - names == set(), "every file under locales/ goes into the wheel"
    assert "safetybot/py.typed" in names
    assert not any(name.startswith(("locales/", "tests/")) or ".data/" in name for name in names)


def test_the_installed_copy_reads_its_own_texts_and_says_its_version(
    installed: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, wheel, env = installed
    probe = "import safetybot.ops.config as c; print(c.__file__); print(c.default_locales_dir())"
    found = _run([str(bin_dir / "python"), "-c", probe], tmp_path, env)
    assert found.returncode == 0, found.stderr
    module, locales = found.stdout.split()
    venv = bin_dir.parent
    assert Path(module).is_relative_to(venv) and Path(locales).is_relative_to(venv)
    assert (Path(locales) / "es" / "messages.po").is_file()

    version = _run([str(bin_dir / "safetybot"), "--version"], tmp_path, env)
    assert version.stdout.strip() == f"safetybot {safetybot.__version__}"
    assert wheel.name.startswith(f"safetybot-{safetybot.__version__}-")


@pytest.mark.parametrize("command", ["evaluate-check", "evaluate-intents"])
def test_the_evaluations_run_from_an_installed_copy_as_from_the_checkout(
    installed: tuple[Path, Path, dict[str, str]], tmp_path: Path, command: str
) -> None:
    bin_dir, _, env = installed
    there = _run([str(bin_dir / "safetybot"), command], tmp_path, env)
    here = _run([sys.executable, "-m", "safetybot", command], ROOT, env)
    assert there.returncode in (0, 1), there.stderr  # 1: a target missed, still a full report
    assert there.stderr == ""
    assert "held out" in there.stdout or "heldout split" in there.stdout
    assert (there.returncode, there.stdout) == (here.returncode, here.stdout)


def _data(folder: Path) -> dict[str, str]:
    """A data folder of its own: the console remembers the language a person chose."""
    return {"SAFETYBOT_DATA_DIR": str(folder)}


def test_the_installed_console_answers_a_line_in_english_and_spanish(
    installed: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, _, env = installed
    console = [str(bin_dir / "safetybot"), "console"]
    english = _run(console, tmp_path, env | _data(tmp_path / "en"), stdin="Guides\n")
    assert english.returncode == 0, english.stderr
    assert "Spotting sextortion" in english.stdout
    spanish_env = env | _data(tmp_path / "es") | {"LANG": "es_ES.UTF-8"}
    spanish = _run(console, tmp_path, spanish_env, stdin="Guías\n")
    assert spanish.returncode == 0, spanish.stderr
    assert "sextorsión" in spanish.stdout.lower()


def test_safetybot_locales_dir_still_chooses_the_texts_of_an_installed_copy(
    installed: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, _, env = installed
    own = tmp_path / "locales"
    shutil.copytree(ROOT / "locales", own)
    catalog = own / "en" / "messages.po"
    text = catalog.read_text(encoding="utf-8")
    catalog.write_text(text.replace('msgstr ""\n"Hi.\\n"', 'msgstr ""\n"Hello from ours.\\n"', 1))
    chosen = env | _data(tmp_path / "data") | {"SAFETYBOT_LOCALES_DIR": str(own)}
    result = _run([str(bin_dir / "safetybot"), "console"], tmp_path, chosen, stdin="/start\n")
    assert result.returncode == 0, result.stderr
    assert "Hello from ours." in result.stdout and "Hi." not in result.stdout


def test_the_changelog_has_an_entry_for_the_version_being_shipped() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog  # Keep a Changelog: where the next changes go
    entry = re.search(rf"^## \[{re.escape(safetybot.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$",
                      changelog, re.MULTILINE)  # fmt: skip
    assert entry, f"CHANGELOG.md has no entry for {safetybot.__version__}"
    assert "### Added" in changelog[entry.end() :]
