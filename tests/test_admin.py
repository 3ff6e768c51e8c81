"""Operator commands: backup while the bot writes, checked restore, purge, stats, migrate."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from pathlib import Path

import pytest

from safetybot.cli import main
from safetybot.core.records import Person
from safetybot.ops.backup import RunLock, describe_database
from safetybot.store import MIGRATIONS, Store
from safetybot.vault.crypto import Keyring, new_master_key, parse_master_key

DAY = 86_400


def _env(tmp_path: Path, key: str | None = None) -> dict[str, str]:
    return {
        "SAFETYBOT_DATA_DIR": str(tmp_path / "data"),
        "SAFETYBOT_MASTER_KEY": key or new_master_key(),
        "SAFETYBOT_RETENTION_DAYS": "90",
    }


async def _populate(path: Path, key: str, days_ago: list[int], prefix: str = "73910") -> None:
    """People last seen so many days ago, a vault row for the first, the pseudonym key."""
    store = await Store.open(path)
    keyring = Keyring(parse_master_key(key, "key"))
    await store.pseudonym_key(keyring.wrap_pseudonym_key)
    today = int(time.time() // DAY)
    for number, ago in enumerate(days_ago):
        pseudonym = keyring.pseudonym("test", f"{prefix}{number}")
        await store.save_person(Person(pseudonym, b"w" * 60, None, None, today - ago))
        await store.remember_messages(pseudonym, [1, 2, 3], int(time.time()))
    await store.close()


def test_stats_prints_counts_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = _env(tmp_path)
    db = tmp_path / "data" / "safetybot.db"
    asyncio.run(_populate(db, env["SAFETYBOT_MASTER_KEY"], [0, 3, 40]))
    assert main(["stats"], env=env) == 0
    out = capsys.readouterr().out
    assert "people: 3" in out and "active in the last 7 days: 2" in out
    assert "vaults (private notes turned on): 0" in out
    assert "73910" not in out and all(len(word) < 20 for word in out.split())  # no ids


def test_purge_erases_only_people_past_the_retention_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path)
    db = tmp_path / "data" / "safetybot.db"
    asyncio.run(_populate(db, env["SAFETYBOT_MASTER_KEY"], [1, 89, 91, 400]))
    assert main(["purge"], env=env) == 0
    assert capsys.readouterr().out.strip() == "Erased 2 people inactive for more than 90 days."
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM people").fetchone() == (2,)
        assert connection.execute("SELECT count(*) FROM messages").fetchone() == (6,)


def test_commands_on_a_missing_database_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for command in ("stats", "purge"):
        assert main([command], env=_env(tmp_path)) == 1
        assert "there is no database" in capsys.readouterr().err
    assert not (tmp_path / "data" / "safetybot.db").exists()


async def test_backup_is_a_consistent_copy_while_the_bot_writes(tmp_path: Path) -> None:
    key = new_master_key()
    env = _env(tmp_path, key)
    db = tmp_path / "data" / "safetybot.db"
    await _populate(db, key, [0])
    store = await Store.open(db)  # the running bot's connection
    keyring = Keyring(parse_master_key(key, "key"))
    stop = asyncio.Event()

    async def write() -> int:
        count = 0
        while not stop.is_set():
            pseudonym = keyring.pseudonym("test", f"w{count}")
            await store.save_person(Person(pseudonym, b"k" * 60, None, None, 1))
            count += 1
            await asyncio.sleep(0)
        return count

    writer = asyncio.create_task(write())
    await asyncio.sleep(0.05)
    status = await asyncio.to_thread(main, ["backup", str(tmp_path / "copy.db")], env)
    stop.set()
    written = await writer
    await store.close()
    assert status == 0 and written > 0
    copy = tmp_path / "copy.db"
    info = describe_database(copy)
    assert info.ok and info.schema == len(MIGRATIONS)
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    with sqlite3.connect(copy) as connection:
        people = connection.execute("SELECT count(*) FROM people").fetchone()[0]
    assert 1 <= people <= written + 1
    # A second backup to the same name is refused rather than overwriting it.
    assert await asyncio.to_thread(main, ["backup", str(copy)], env) == 1


def test_restore_checks_the_copy_and_refuses_a_live_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_master_key()
    env = _env(tmp_path, key)
    db = tmp_path / "data" / "safetybot.db"
    asyncio.run(_populate(db, key, [0, 1]))
    assert main(["backup", str(tmp_path / "two.db")], env=env) == 0
    asyncio.run(_populate(db, key, [2], prefix="later"))  # a third person, after the backup
    capsys.readouterr()

    assert main(["restore", str(tmp_path / "two.db")], env=env) == 1
    assert "--force" in capsys.readouterr().err
    with RunLock(tmp_path / "data"):  # the bot is running
        assert main(["restore", str(tmp_path / "two.db"), "--force"], env=env) == 1
        assert "stop it first" in capsys.readouterr().err
    Path(f"{db}-wal").write_bytes(b"stale")
    assert main(["restore", str(tmp_path / "two.db"), "--force"], env=env) == 0
    assert "Restored" in capsys.readouterr().out
    assert not Path(f"{db}-wal").exists()
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT count(*) FROM people").fetchone() == (2,)

    other = _env(tmp_path, new_master_key())
    assert main(["restore", str(tmp_path / "two.db"), "--force"], env=other) == 1
    assert "different master key" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["not a database", "newer schema", "truncated"])
def test_restore_refuses_a_damaged_or_newer_backup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    env = _env(tmp_path)
    bad = tmp_path / "bad.db"
    if damage == "not a database":
        bad.write_bytes(b"hello" * 1000)
    else:
        asyncio.run(_populate(bad, env["SAFETYBOT_MASTER_KEY"], [0]))
        if damage == "newer schema":
            with sqlite3.connect(bad) as connection:
                connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
        else:
            data = bad.read_bytes()
            bad.write_bytes(data[: len(data) // 2])
    assert main(["restore", str(bad), "--force"], env=env) == 1
    err = capsys.readouterr().err
    assert "nothing was changed" in err
    assert not (tmp_path / "data" / "safetybot.db").exists()


def test_migrate_applies_missing_steps_and_prints_the_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path)
    db = tmp_path / "data" / "safetybot.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as connection:  # a database from the first release
        for statement in MIGRATIONS[0].statements:
            connection.execute(statement)
        connection.execute("PRAGMA user_version = 1")
    assert main(["stats"], env=env) == 1
    assert "run `safetybot migrate`" in capsys.readouterr().err
    assert main(["migrate"], env=env) == 0
    out = capsys.readouterr().out
    assert f"Schema version {len(MIGRATIONS)} ({len(MIGRATIONS) - 1} migration(s) applied)" in out
    assert main(["migrate"], env=env) == 0
    assert "(0 migration(s) applied)" in capsys.readouterr().out


def test_health_follows_the_heartbeat_in_polling_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path)
    assert main(["health"], env=env) == 1
    beat = tmp_path / "data" / "heartbeat"
    beat.parent.mkdir()
    beat.write_text("1\n")
    assert main(["health"], env=env) == 0
    os.utime(beat, (time.time() - 600, time.time() - 600))
    assert main(["health"], env=env) == 1
    assert "stuck or stopped" in capsys.readouterr().out


def test_keygen_makes_a_webhook_secret_telegram_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keygen", "--webhook-secret"], env={}) == 0
    secret = capsys.readouterr().out.strip()
    assert 32 <= len(secret) <= 256
    assert all(c.isalnum() or c in "_-" for c in secret)


def test_a_backup_keeps_data_keys_apart_and_an_erased_person_does_not_come_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_master_key()
    env = _env(tmp_path, key)
    db = tmp_path / "data" / "safetybot.db"
    asyncio.run(_populate(db, key, [0, 1, 2]))
    backups = tmp_path / "backups"
    backups.mkdir()
    first = backups / "monday.db"
    assert main(["backup", str(first)], env=env) == 0
    keys = Path(f"{first}.keys")
    assert oct(keys.stat().st_mode & 0o777) == "0o600"
    assert b"w" * 60 not in first.read_bytes()  # the copy alone holds no data key
    assert (b"w" * 60).hex() in keys.read_text()

    # The second person erases themselves; two more daily backups are made.
    keyring = Keyring(parse_master_key(key, "key"))
    erased = keyring.pseudonym("test", "739101")

    async def erase() -> None:
        store = await Store.open(db)
        await store.erase_person(erased)
        await store.close()

    asyncio.run(erase())
    for day in ("tuesday", "wednesday"):
        os.utime(keys, (time.time() - 86_400, time.time() - 86_400))  # older than the next
        assert main(["backup", str(backups / f"{day}.db")], env=env) == 0
    assert not keys.exists()  # only the newest keys files are kept
    assert sorted(p.name for p in backups.glob("*.keys")) == [
        "tuesday.db.keys",
        "wednesday.db.keys",
    ]

    # Monday's copy still holds the erased person's sealed rows, but no key for them anywhere:
    # restoring it brings back everyone else, not them.
    capsys.readouterr()
    assert main(["restore", str(first), "--force"], env=env) == 0
    out = capsys.readouterr().out
    assert "wednesday.db.keys" in out and "1 people erased since the backup were left out" in out
    with sqlite3.connect(db) as connection:
        people = {
            bytes(row[0]): bytes(row[1])
            for row in connection.execute("SELECT pseudonym, wrapped_key FROM people")
        }
    assert erased not in people and len(people) == 2
    assert set(people.values()) == {b"w" * 60}  # the others' keys are back in place


def test_a_backup_without_its_keys_file_is_not_restored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = new_master_key()
    env = _env(tmp_path, key)
    db = tmp_path / "data" / "safetybot.db"
    asyncio.run(_populate(db, key, [0]))
    copy = tmp_path / "alone" / "copy.db"
    copy.parent.mkdir()
    assert main(["backup", str(copy)], env=env) == 0
    Path(f"{copy}.keys").unlink()
    capsys.readouterr()
    assert main(["restore", str(copy), "--force"], env=env) == 1
    assert "no keys file" in capsys.readouterr().err
