"""Copies of the database that can be trusted: online backups, checks, restores, and the
backup written before every migration.

A plain file copy of a WAL database is not a backup: what the WAL holds is missing, and
a copy taken during a write is torn (a ``cp`` of a running certnotify once held 0 of its
2 campaigns). SQLite's online backup API copies a consistent snapshot page by page while
the service keeps writing; the copy is then made self-contained (no ``-wal`` file) and
checked with ``PRAGMA quick_check`` before it is called a backup.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from app.db.migrations import migrations

__all__ = [
    "KEEP_PRE_MIGRATION",
    "BackupError",
    "FileCheck",
    "backup_database",
    "check_file",
    "pre_migration_backup",
    "replace_database",
]

KEEP_PRE_MIGRATION = 3
_PRE_MIGRATION = re.compile(r"\.pre-migration-\d{8}T\d{6}Z\.db$")


class BackupError(Exception):
    """One line for the operator: what is wrong with the copy, or why it cannot be made."""


@dataclass(frozen=True)
class FileCheck:
    path: str
    quick_check: str  # "ok", or SQLite's first complaint
    applied: tuple[str, ...]  # certnotify migrations the file has
    unknown: tuple[str, ...]  # migrations this version does not know (a newer release)
    campaigns: int
    messages: int
    size_bytes: int

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(m for m in known_migrations() if m not in self.applied)

    def line(self) -> str:
        schema = self.applied[-1] if self.applied else "empty"
        return (
            f"{self.path}: quick_check {self.quick_check}, schema {schema} "
            f"({len(self.applied)} of {len(known_migrations())} migrations), "
            f"{self.campaigns} campaigns, {self.messages} messages, {self.size_bytes} bytes"
        )


def known_migrations() -> list[str]:
    return [m.name for m in migrations._migrations]


def _read_only(path: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    return sqlite3.connect(uri, uri=True, timeout=10)


def check_file(path: str | os.PathLike[str]) -> FileCheck:
    """Is this a sound certnotify database? Read-only; raises ``BackupError`` when it is
    not an SQLite file at all or not certnotify's."""
    file = Path(path)
    if not file.is_file():
        raise BackupError(f"{file}: no such file")
    try:
        conn = _read_only(file)
        try:
            result = conn.execute("PRAGMA quick_check").fetchall()
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if "_sqlite_migrations" not in tables:
                raise BackupError(f"{file}: not a certnotify database (no migrations table)")
            applied = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM _sqlite_migrations WHERE migration_set = 'certnotify'"
                    " ORDER BY rowid"
                )
            ]
            count = {
                table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in ("campaigns", "messages", "deliveries")
                if table in tables
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{file}: not a usable SQLite database ({exc})") from None
    known = known_migrations()
    verdict = "ok" if [r[0] for r in result] == ["ok"] else "; ".join(r[0] for r in result[:3])
    return FileCheck(
        path=str(file),
        quick_check=verdict,
        applied=tuple(a for a in known if a in applied),
        unknown=tuple(a for a in applied if a not in known),
        campaigns=count.get("campaigns", 0),
        messages=count.get("messages", count.get("deliveries", 0)),
        size_bytes=file.stat().st_size,
    )


def backup_database(source: sqlite3.Connection, dest: str | os.PathLike[str]) -> FileCheck:
    """A consistent copy of the open database ``source`` at ``dest`` (which must not
    exist), self-contained and checked. Written beside ``dest`` first and renamed into
    place, so a failed backup never leaves a half file under the name asked for."""
    target = Path(dest)
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a folder")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        copy = sqlite3.connect(str(partial))
        try:
            # One step (pages=-1): the whole snapshot under one read transaction, so
            # writes going on meanwhile are either all in the copy or all out of it.
            source.backup(copy, pages=-1)
            # The copy stands alone: no WAL to carry along.
            copy.execute("PRAGMA journal_mode=DELETE")
            copy.commit()
        finally:
            copy.close()
        check = check_file(partial)
        if check.quick_check != "ok":
            raise BackupError(f"the copy failed its check: {check.quick_check}")
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        partial.rename(target)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return check_file(target)


def pre_migration_backup(
    source: sqlite3.Connection, db_path: str | os.PathLike[str], now: datetime
) -> Path:
    """The backup written beside the database before a migration; the last
    ``KEEP_PRE_MIGRATION`` are kept."""
    db = Path(db_path)
    dest = db.with_name(f"{db.name}.pre-migration-{now:%Y%m%dT%H%M%S}Z.db")
    backup_database(source, dest)
    older = sorted(
        (
            p
            for p in db.parent.iterdir()
            if p.name.startswith(db.name) and _PRE_MIGRATION.search(p.name)
        ),
        key=lambda p: p.name,
    )
    for stale in older[:-KEEP_PRE_MIGRATION]:  # names sort by their time
        (db.parent / stale).unlink(missing_ok=True)
    return dest


def replace_database(
    db_path: str | os.PathLike[str], source: str | os.PathLike[str], now: datetime
) -> Path | None:
    """Put the checked backup ``source`` in place of the database; the replaced file is
    kept as ``<db>.replaced-<time>.db`` (returned; None when there was none). The caller
    holds the worker lock, so nothing sends meanwhile."""
    db = Path(db_path)
    kept: Path | None = None
    if db.exists():
        # Fold the WAL into the file first, so the kept copy is whole on its own. That
        # cannot finish while another process reads the database (a Litestream sidecar
        # holds a read transaction for good): deleting the WAL then would lose its
        # transactions, so refuse instead.
        conn = sqlite3.connect(str(db), timeout=3)
        try:
            busy, log, done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            conn.close()
        if busy or (log != -1 and done != log):
            raise BackupError(
                f"another process still has {db} open (a Litestream sidecar, a web "
                "process, a backup?): stop it first, nothing was changed"
            )
        kept = db.with_name(f"{db.name}.replaced-{now:%Y%m%dT%H%M%S}Z.db")
        db.rename(kept)
        for suffix in ("-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    incoming = db.with_name(f".{db.name}.restoring")
    try:
        source_conn = _read_only(Path(source))
        try:
            backup_database(source_conn, incoming)
        finally:
            source_conn.close()
        incoming.rename(db)
    except BaseException:
        incoming.unlink(missing_ok=True)
        if kept is not None and not db.exists():
            kept.rename(db)  # put the original back: never leave no database at all
        raise
    return kept
