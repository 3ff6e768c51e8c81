"""The `safetybot` command: its arguments, and which module runs each command.

The only reader of os.environ, and of the config file named by SAFETYBOT_CONFIG (or --config);
both are handed to Config.from_mapping as mappings.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from safetybot import __version__, wiring
from safetybot.errors import ConfigError, SafetybotError
from safetybot.ops import admin, health, logs
from safetybot.ops.backup import RunLock
from safetybot.ops.config import Config
from safetybot.ops.preflight import diagnose
from safetybot.ops.settings import parse_config_file

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="safetybot", description="A private helper bot for people facing sextortion or NCII."
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="the TOML config file (else SAFETYBOT_CONFIG)"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot on Telegram (polling or webhook) or Signal")
    run.add_argument("--transport", choices=["telegram", "signal"], default="telegram")
    run.add_argument("--webhook", action="store_true", help="webhook mode, whatever the config")
    check = commands.add_parser(
        "check", help="check config, secrets, data folder, texts, overrides and resources"
    )
    check.add_argument("--transport", choices=["telegram", "signal"], default="telegram")
    check.add_argument("--webhook", action="store_true", help="check for webhook mode")
    commands.add_parser("health", help="exit 0 if the running bot is alive (container checks)")
    commands.add_parser("console", help="talk to the bot in this terminal (no token, no network)")
    keygen = commands.add_parser("keygen", help="print a new master key (base64 of 32 bytes)")
    keygen.add_argument(
        "--webhook-secret", action="store_true", help="print a webhook secret instead"
    )
    keygen.add_argument(
        "--signing",
        action="store_true",
        help="write a new Ed25519 key that signs exports "
        "(to --out, else SAFETYBOT_SIGNING_KEY_FILE, else ./signing.key)",
    )
    keygen.add_argument(
        "--out", type=Path, default=None, help="the new signing key file (with --signing)"
    )
    commands.add_parser(
        "signing-key", help="print the public key and fingerprint of the export signing key"
    )
    backup = commands.add_parser("backup", help="copy the database, while the bot runs")
    backup.add_argument("file", type=Path, help="a new file for the copy")
    restore = commands.add_parser("restore", help="replace the database with a backup")
    restore.add_argument("file", type=Path, help="the backup")
    restore.add_argument("--force", action="store_true", help="replace an existing database")
    restore.add_argument(
        "--keys", type=Path, help="the keys file to use (default: the newest beside the backup)"
    )
    commands.add_parser("purge", help="erase people inactive for longer than retention_days")
    commands.add_parser("stats", help="counts: people, active this week, vaults, notes")
    commands.add_parser("migrate", help="bring the database schema up to date")
    rotate = commands.add_parser(
        "rotate-key", help="re-wrap every key under a new master key (stop the bot first)"
    )
    rotate.add_argument("new_key_file", type=Path, help="file holding the new key (from keygen)")
    locales = commands.add_parser(
        "check-locales",
        help="the texts part of `check`, for translators: texts, guides, overrides, resources",
    )
    locales.add_argument("--locales", type=Path, default=None, help="locales folder to check")
    verify = commands.add_parser(
        "verify-export", help="check that a vault export (ZIP) was not changed; names what was"
    )
    verify.add_argument("file", type=Path, help="the export ZIP")
    verify.add_argument(
        "--password-file", type=Path, default=None, help="file holding the export password"
    )
    verify.add_argument("--head", default=None, help="a chain head recorded elsewhere to expect")
    verify.add_argument(
        "--signing-key",
        default=None,
        help="the organization's published public key (or a file holding it); "
        "default: the key SAFETYBOT_SIGNING_KEY_FILE names, if set",
    )
    verify.add_argument(
        "--tsa-ca",
        type=Path,
        default=None,
        help="PEM file of the time-stamping service's root certificate(s), to check a time stamp",
    )
    evaluate = commands.add_parser(
        "evaluate-check", help="measure the red-flag rules on labelled messages (0: targets met)"
    )
    evaluate.add_argument(
        "--data", type=Path, default=None, help="labelled messages (default: the held-out split)"
    )
    evaluate.add_argument(
        "--rules-only", action="store_true", help="measure the red-flag rules without the model"
    )
    evaluate.add_argument(
        "--variants",
        action="store_true",
        help="also check every message with slips, held letters, shorthand, look-alike letters...",
    )
    check_train = commands.add_parser(
        "train-check", help="train the check model from its labelled messages (needs scikit-learn)"
    )
    check_train.add_argument("--data", type=Path, default=None, help="the training messages")
    check_train.add_argument(
        "--out", type=Path, default=None, help="the weights file to write (flags.npz beside it)"
    )
    intents = commands.add_parser(
        "evaluate-intents",
        help="measure how typed words are understood, per intent and language (0: targets met)",
    )
    intents.add_argument(
        "--data", type=Path, default=None, help="folder of train.jsonl and heldout.jsonl"
    )
    intents.add_argument("--split", choices=["heldout", "train", "all"], default="heldout")
    intents.add_argument(
        "--variants",
        action="store_true",
        help="also read every line with slips, held letters, shorthand, look-alike letters...",
    )
    lookalike = commands.add_parser(
        "build-lookalikes",
        help="rebuild the look-alike letters table from Unicode's confusables (dev extra)",
    )
    lookalike.add_argument("--out", type=Path, default=None, help="the table file to write")
    train = commands.add_parser(
        "train-intents", help="train the intent model from the labelled lines (needs scikit-learn)"
    )
    train.add_argument("--data", type=Path, default=None, help="folder of train.jsonl")
    train.add_argument("--out", type=Path, default=None, help="the weights file to write")
    return parser


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """Entry point of the `safetybot` command; returns the exit status."""
    args = _parser().parse_args(argv)
    environ = dict(os.environ if env is None else env)
    if args.config is not None:
        environ["SAFETYBOT_CONFIG"] = str(args.config)
    if args.command == "keygen":
        if args.signing:
            default = environ.get("SAFETYBOT_SIGNING_KEY_FILE") or "signing.key"
            return admin.keygen_signing(args.out or Path(default), sys.stdout)
        return admin.keygen(args.webhook_secret)
    if args.command == "verify-export":  # needs no settings: advocates run it on their own
        public = _verifying_key(args.signing_key, environ)
        if public is None:
            return 2
        return admin.verify_export_file(
            args.file, args.password_file, args.head, public or None, args.tsa_ca
        )
    if args.command == "check":
        return _check(environ, args.transport, args.webhook)
    if args.command == "train-intents":  # a maintainer's command: needs no settings
        return _train_intents(args.data, args.out)
    if args.command == "build-lookalikes":
        return _build_lookalikes(args.out)
    if args.command == "train-check":
        return _train_check(args.data, args.out)
    try:
        config = _config(environ)
        if args.command in ("run", "check") and args.webhook:
            config = replace(config, telegram_mode="webhook")
        if args.command == "health":
            alive, why = health.check(config)
            print(why)
            return 0 if alive else 1
        if args.command == "rotate-key":
            with RunLock(config.data_dir):
                return asyncio.run(admin.rotate_key(config, args.new_key_file))
        if args.command in _OPERATOR:
            return _operate(args, config)
        if args.command == "signing-key":
            return admin.signing_key(config, sys.stdout)
        if args.command == "check-locales":
            root = args.locales or config.locales_dir
            return admin.check_locales(replace(config, locales_dir=root))
        if args.command == "evaluate-check":
            from safetybot.guidance.evaluation import DEFAULT_DATA, run

            data = args.data or DEFAULT_DATA
            return run(
                data, config.locales_dir, sys.stdout, sys.stderr, args.rules_only, args.variants
            )
        if args.command == "evaluate-intents":
            return _evaluate_intents(args.data, args.split, config.locales_dir, args.variants)
        if args.command == "console":
            # The terminal is the conversation: only warnings and errors go to stderr.
            level = config.log_level if "SAFETYBOT_LOG_LEVEL" in environ else "WARNING"
            logs.setup(level, sys.stderr, config.log_format)
            asyncio.run(wiring.console(config, environ))
            return 0
        return wiring.run(config, args.transport)
    except ConfigError as error:
        for problem in error.problems:
            print(f"safetybot: {problem}", file=sys.stderr)
        return 2
    except SafetybotError as error:
        # Our errors name a setting, file or entry and never hold personal data.
        print(f"safetybot: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _config(environ: Mapping[str, str]) -> Config:
    """The settings: the config file SAFETYBOT_CONFIG names (if any), under the environment."""
    name = environ.get("SAFETYBOT_CONFIG")
    file = None
    if name:
        path = Path(name)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "not UTF-8 text"
            raise ConfigError(f"SAFETYBOT_CONFIG: cannot read {path} ({reason})") from None
        file = parse_config_file(path, text)
    return Config.from_mapping(environ, file=file)


def _verifying_key(given: str | None, environ: Mapping[str, str]) -> bytes | None:
    """The public key to check exports against: b"" for none, None after naming a problem.

    The one given wins; else the organization's own (SAFETYBOT_SIGNING_KEY_FILE), so an
    operator checks against their key without copying it.
    """
    from safetybot.vault.signing import parse_public_key, public_bytes

    if given is not None:
        text = given
        path = Path(given).expanduser()
        try:
            if len(given) < 4096 and path.is_file():
                text = path.read_text(encoding="utf-8")
            return parse_public_key(text)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            print(
                f"safetybot: --signing-key is not a public key as `safetybot signing-key` "
                f"prints it ({error})",
                file=sys.stderr,
            )
            return None
    if not environ.get("SAFETYBOT_SIGNING_KEY_FILE"):
        return b""
    try:
        key = _config(environ).vault.signing_key
    except ConfigError as error:
        for problem in error.problems:
            print(f"safetybot: {problem}", file=sys.stderr)
        return None
    return public_bytes(key) if key is not None else b""


def _check(environ: Mapping[str, str], transport: str, webhook: bool) -> int:
    """`safetybot check`: print every problem, with file and line or setting; 1 if any."""
    try:
        config = _config(environ)
        if webhook:
            config = replace(config, telegram_mode="webhook")
        findings = [str(f) for f in diagnose(config, transport, deep=True)]
    except ConfigError as error:
        findings = list(error.problems)
    in_order = "Config, secrets, data folder, texts, guides, overrides and resources are in order."
    return admin.report(findings, in_order)


_OPERATOR = ("backup", "restore", "purge", "stats", "migrate")


def _operate(args: argparse.Namespace, config: Config) -> int:
    if args.command == "backup":
        return admin.backup(config, args.file, sys.stdout)
    if args.command == "restore":
        return admin.restore(config, args.file, args.force, sys.stdout, args.keys)
    if args.command == "purge":
        return asyncio.run(admin.purge(config, sys.stdout))
    if args.command == "stats":
        return asyncio.run(admin.stats(config, sys.stdout))
    return asyncio.run(admin.migrate(config, sys.stdout))


def _evaluate_intents(data: Path | None, split: str, locales_dir: Path, variants: bool) -> int:
    """`safetybot evaluate-intents`: the understanding step on labelled lines."""
    from safetybot.guidance import intenteval
    from safetybot.guidance.intentdata import INTENT_DATA, SPLITS, load_lines

    splits = SPLITS if split == "all" else (split,)
    try:
        lines = load_lines(data or INTENT_DATA, splits)
    except (OSError, ValueError) as error:
        print(f"safetybot: {error}", file=sys.stderr)
        return 2
    understand = intenteval.understand_with(locales_dir)
    status = intenteval.run(lines, understand, split, sys.stdout)
    if variants:  # a report: the targets stay those of the lines as written
        intenteval.run_variants(lines, understand, sys.stdout)
    return status


def _build_lookalikes(out: Path | None) -> int:
    """`safetybot build-lookalikes`: rebuild the shipped look-alike letters table."""
    from safetybot.guidance import lookalikes

    try:
        table = lookalikes.source_table()
    except ModuleNotFoundError:
        print(
            "safetybot: build-lookalikes needs confusable-homoglyphs: pip install -e '.[train]'",
            file=sys.stderr,
        )
        return 2
    path = out or lookalikes.TABLE_FILE
    path.write_text(lookalikes.render(table), encoding="utf-8")
    print(f"wrote {path}: {len(table)} look-alike letters", file=sys.stdout)
    return 0


def _train_intents(data: Path | None, out: Path | None) -> int:
    """`safetybot train-intents`: rebuild the shipped weights file from the training split."""
    try:
        from safetybot.guidance import training
    except ImportError:
        print(
            "safetybot: train-intents needs scikit-learn: pip install -e '.[train]'",
            file=sys.stderr,
        )
        return 2
    from safetybot.guidance.intentdata import INTENT_DATA, load_lines

    try:
        lines = load_lines(data or INTENT_DATA, ("train",))
    except (OSError, ValueError) as error:
        print(f"safetybot: {error}", file=sys.stderr)
        return 2
    return training.run(lines, out or training.MODEL_FILE, sys.stdout)


def _train_check(data: Path | None, out: Path | None) -> int:
    """`safetybot train-check`: rebuild the check model from its training split."""
    try:
        from safetybot.guidance import training
    except ImportError:
        print(
            "safetybot: train-check needs scikit-learn: pip install -e '.[train]'", file=sys.stderr
        )
        return 2
    from safetybot.guidance.evaluation import CHECK_DATA, load_examples

    try:
        examples = load_examples(data or CHECK_DATA / "train.jsonl")
    except (OSError, ValueError) as error:
        print(f"safetybot: {error}", file=sys.stderr)
        return 2
    folder = out.parent if out else training.CHECK_MODEL_FILE.parent
    return training.run_check(
        examples,
        out or training.CHECK_MODEL_FILE,
        folder / training.FLAGS_MODEL_FILE.name,
        sys.stdout,
    )
