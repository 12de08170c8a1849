"""Backups that can be trusted, restores that lose nothing and send nothing twice, and
schema changes only where the operator expects them (issue 14)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.db import Store
from app.db.backup import (
    KEEP_PRE_MIGRATION,
    BackupError,
    backup_database,
    check_file,
    known_migrations,
)
from app.db.migrations import migrations
from app.ops.cli import cli
from app.pipeline.lock import WorkerLock
from app.pipeline.on_launch import launch_campaign
from app.services import Services
from tests.harness import command_env
from tests.helpers import make_settings


def count(path: Path, table: str) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
    finally:
        conn.close()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def env(tmp_path, fake_okta, fake_slack) -> dict[str, str]:
    return command_env(tmp_path, fake_okta, fake_slack, migrate=False)


def run(env, *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


# -- backups -------------------------------------------------------------------------
def test_a_file_copy_of_the_running_database_misses_what_the_backup_has(
    services, fake_okta, fake_slack, tmp_path
):
    """What a user saw: `cp certnotify.db` beside a live WAL held 0 campaigns of 2."""
    for n in range(2):
        campaign_id = fake_okta.generate_campaign(
            name=f"C{n}", reviews=4, reviewers=2, email_domain=f"c{n}.example"
        )
        fake_slack.generate_users([r["email"] for r in fake_okta.reviewers_of(campaign_id)])
        launch_campaign(services, campaign_id)
    live = Path(services.store.path)
    assert Path(f"{live}-wal").stat().st_size > 0  # the recent writes are in the WAL
    copied = tmp_path / "copied.db"
    shutil.copyfile(live, copied)
    try:
        in_copy = count(copied, "campaigns")
    except sqlite3.DatabaseError:  # even the tables may still be only in the WAL
        in_copy = 0
    assert in_copy < 2
    check = backup_database(services.store.db.conn, tmp_path / "backup.db")
    assert (check.quick_check, check.campaigns) == ("ok", 2)
    assert count(tmp_path / "backup.db", "campaigns") == 2
    assert not Path(f"{tmp_path / 'backup.db'}-wal").exists()  # self-contained


def test_backup_command_writes_a_checked_copy_and_never_overwrites(env, tmp_path):
    assert run(env, "migrate").exit_code == 0
    result = run(env, "backup", str(tmp_path / "b1.db"))
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"backup written: {tmp_path / 'b1.db'}: quick_check ok")
    again = run(env, "backup", str(tmp_path / "b1.db"))
    assert again.exit_code == 1
    assert "already exists; choose a new file name" in again.output
    missing = run(env, "backup", str(tmp_path / "nope" / "b.db"))
    assert missing.exit_code == 1
    assert "is not a folder" in missing.output
    assert not list(tmp_path.glob(".*partial"))  # nothing half-written left behind


def test_check_file_refuses_what_is_not_a_certnotify_database(tmp_path):
    (tmp_path / "notes.db").write_text("hello " * 2000)
    with pytest.raises(BackupError, match="not a usable SQLite database"):
        check_file(tmp_path / "notes.db")
    sqlite3.connect(tmp_path / "other.db").execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(BackupError, match="not a certnotify database"):
        check_file(tmp_path / "other.db")


# -- restore -------------------------------------------------------------------------
def test_restore_refuses_while_a_worker_holds_the_database(env, tmp_path, clock):
    assert run(env, "migrate").exit_code == 0
    assert run(env, "backup", str(tmp_path / "b.db")).exit_code == 0
    before = digest(tmp_path / "certnotify.db")
    worker = WorkerLock(env["CERTNOTIFY_DB"])
    assert worker.try_acquire(clock(), role="worker")
    try:
        result = run(env, "restore", str(tmp_path / "b.db"))
    finally:
        worker.release()
    assert result.exit_code == 1
    assert "a worker is running on this database (worker pid" in result.output
    assert digest(tmp_path / "certnotify.db") == before


def test_restore_refuses_a_damaged_or_newer_backup(env, tmp_path):
    assert run(env, "migrate").exit_code == 0
    assert run(env, "backup", str(tmp_path / "b.db")).exit_code == 0
    newer = tmp_path / "newer.db"
    shutil.copyfile(tmp_path / "b.db", newer)
    conn = sqlite3.connect(newer)
    conn.execute(
        "INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
        " VALUES ('certnotify', 'm999_future', '2030-01-01')"
    )
    conn.commit()
    conn.close()
    result = run(env, "restore", str(newer))
    assert result.exit_code == 1
    assert "written by a newer certnotify (migrations m999_future)" in result.output
    (tmp_path / "junk.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 5000)
    assert run(env, "restore", str(tmp_path / "junk.db")).exit_code == 1


def test_a_backup_taken_mid_fan_out_restores_without_loss_or_duplicates(
    tmp_path, fake_okta, fake_slack, clock
):
    settings = make_settings(tmp_path, fake_okta, fake_slack)
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    campaign_id = fake_okta.generate_campaign(reviews=60, reviewers=30)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    ids = fake_slack.generate_users(emails)
    launch_campaign(services, campaign_id)
    services.outbox.drain(limit=12)  # twelve told...
    in_flight = services.store.messages.claim(clock(), 1)  # ...one being posted...
    assert len(in_flight) == 1
    check = backup_database(services.store.db.conn, tmp_path / "mid-fan-out.db")
    assert check.quick_check == "ok"
    # ...and the host dies here: the database is lost, the backup is what is left.
    services.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{settings.database.path}{suffix}").unlink(missing_ok=True)
    env = {"CERTNOTIFY_DB": settings.database.path, "CERTNOTIFY_CONFIG": str(tmp_path / "c.yaml")}
    (tmp_path / "c.yaml").write_text("")
    result = run(env, "restore", str(tmp_path / "mid-fan-out.db"))
    assert result.exit_code == 0, result.output
    assert "restored: " in result.output
    # The service starts on the restored copy: it puts back the one in flight, sends the
    # rest, and a redelivered launch tells nobody again.
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    services.store.reclaim_orphans()
    services.outbox.drain()
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    told = [m.channel for m in fake_slack.messages]
    assert sorted(told) == sorted(ids.values())  # everyone once: none lost, none twice
    assert services.store.messages.counts(campaign_id) == {"sent": 30}
    services.close()


def test_restore_keeps_the_database_it_replaces(env, tmp_path):
    assert run(env, "migrate").exit_code == 0
    assert run(env, "backup", str(tmp_path / "b.db")).exit_code == 0
    conn = sqlite3.connect(env["CERTNOTIFY_DB"])
    conn.execute("INSERT INTO campaigns (id, name, status) VALUES ('ici1', 'later', 'ACTIVE')")
    conn.commit()
    conn.close()
    result = run(env, "restore", str(tmp_path / "b.db"))
    assert result.exit_code == 0, result.output
    [kept] = tmp_path.glob("certnotify.db.replaced-*Z.db")
    assert f"the database it replaced is kept as {kept}" in result.output
    assert count(kept, "campaigns") == 1  # the WAL was folded in before it was kept
    assert count(tmp_path / "certnotify.db", "campaigns") == 0


# -- schema changes only where expected ------------------------------------------------
def old_database(path: Path) -> None:
    """A database one migration behind this version (as the previous release left it)."""
    store = Store.open(path)
    migrations.apply(store.db, stop_before=known_migrations()[-1])
    assert store.needs_migration()
    store.close()


def test_read_only_and_sending_commands_never_migrate(env, tmp_path):
    db = Path(env["CERTNOTIFY_DB"])
    old_database(db)
    before = digest(db)
    status = run(env, "status")
    assert status.exit_code == 1
    assert "needs migrating to this version of certnotify; run `certnotify migrate`" in (
        status.output
    )
    remind = run(env, "remind")
    assert remind.exit_code == 1
    assert "needs migrating to this version of certnotify: run `certnotify migrate`" in (
        remind.output
    )
    assert digest(db) == before
    assert not list(tmp_path.glob("*.pre-migration-*"))
    # Nor do they create one.
    env["CERTNOTIFY_DB"] = str(tmp_path / "typo.db")
    assert "no database at" in run(env, "sync", "ici0x").output
    assert not (tmp_path / "typo.db").exists()


def test_migrate_backs_up_first_and_keeps_the_last_three(env, tmp_path):
    db = Path(env["CERTNOTIFY_DB"])
    old_database(db)
    for stamp in ("20260101T000000Z", "20260201T000000Z", "20260301T000000Z"):
        (tmp_path / f"certnotify.db.pre-migration-{stamp}.db").write_text("old")
    result = run(env, "migrate")
    assert result.exit_code == 0, result.output
    assert "migrated to the current schema (backup first: " in result.output
    kept = sorted(p.name for p in tmp_path.glob("certnotify.db.pre-migration-*.db"))
    assert len(kept) == KEEP_PRE_MIGRATION
    assert kept[0] == "certnotify.db.pre-migration-20260201T000000Z.db"
    newest = check_file(tmp_path / kept[-1])
    assert newest.quick_check == "ok"
    assert len(newest.missing) == 1  # the backup is of the database as it was
    assert run(env, "migrate").output.endswith("already current\n")


# -- integrity -------------------------------------------------------------------------
def test_healthz_fails_when_the_database_cannot_be_read(app, client, settings):
    assert client.get("/healthz").status_code == 200
    # The file is replaced by something that is not a database (a bad restore by hand).
    damaged = Path(settings.database.path)
    for suffix in ("-wal", "-shm"):
        Path(f"{damaged}{suffix}").unlink(missing_ok=True)
    damaged.unlink()
    damaged.write_bytes(b"not a database " * 1000)
    health = client.get("/healthz")
    assert health.status_code == 503
    [problem] = health.get_json()["problems"]
    # Named, whichever check met it first (the write probe's answer is reused for 1 s).
    assert problem.startswith(("hooks cannot be stored", "the database cannot be read"))
    assert "it is not an SQLite database" in problem


def test_restore_refuses_while_another_process_holds_the_database_open(env, tmp_path):
    """A Litestream sidecar keeps a read transaction open: the WAL cannot be folded into
    the file that is kept, and deleting it would lose transactions."""
    assert run(env, "migrate").exit_code == 0
    assert run(env, "backup", str(tmp_path / "b.db")).exit_code == 0
    writer = sqlite3.connect(env["CERTNOTIFY_DB"])
    writer.execute("INSERT INTO campaigns (id, name, status) VALUES ('ici1', 'late', 'ACTIVE')")
    writer.commit()
    reader = sqlite3.connect(env["CERTNOTIFY_DB"], timeout=0.1)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM campaigns").fetchone()  # holds a read snapshot
    try:
        result = run(env, "restore", str(tmp_path / "b.db"))
    finally:
        reader.rollback()
        reader.close()
        writer.close()
    assert result.exit_code == 1
    assert "still has" in result.output
    assert "stop it first, nothing was changed" in result.output
    assert count(tmp_path / "certnotify.db", "campaigns") == 1
    assert not list(tmp_path.glob("certnotify.db.replaced-*"))
