"""The SQLite file: opening it, its write lock, its schema version, and noticing when it
is deleted or replaced under the service.

One file through sqlite-utils, WAL mode, a busy timeout. Several processes share it
(gunicorn's web workers insert hook events; the worker claims and sends). Every write
that reads first runs in ``BEGIN IMMEDIATE`` so the write lock is taken up front: with
deferred transactions a reader that later tries to write can fail with "database is
locked" without waiting for the busy timeout.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlite_utils

from app.config import SettingsError
from app.db.backup import pre_migration_backup
from app.db.migrations import migrations
from app.timeutil import iso

__all__ = ["Connection", "DatabaseMissing", "DatabaseUnavailable"]

# ~40 MB of WAL before a hook connection checkpoints by itself (the worker's do it at ~4 MB).
INTAKE_CHECKPOINT_PAGES = 10_000


class DatabaseMissing(sqlite3.OperationalError):
    """The database file is not there (and this connection may not create it)."""


class DatabaseUnavailable(SettingsError):
    """The database path cannot be used at all: ``str()`` is one line for the operator."""


def _cannot_open(file: Path, exc: BaseException) -> DatabaseUnavailable:
    parent = file.parent
    if isinstance(exc, FileExistsError | NotADirectoryError) or (
        parent.exists() and not parent.is_dir()
    ):
        why = f"{parent} is a file, not a folder"
    elif file.is_dir():
        why = "it is a folder, not a file"
    elif isinstance(exc, PermissionError) or (
        parent.is_dir() and not os.access(parent, os.W_OK | os.X_OK)
    ):
        why = f"no permission to write in {parent} (the service needs the folder, for the WAL)"
    elif "not a database" in str(exc):
        why = "it is not an SQLite database"
    else:
        why = str(exc) or type(exc).__name__
    return DatabaseUnavailable(
        f"database.path: cannot use {file}: {why} (set CERTNOTIFY_DB or database.path)"
    )


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


class Connection:
    def __init__(
        self,
        db: sqlite_utils.Database,
        lock_path: str | None = None,
        *,
        busy_timeout: float = 10.0,
        path: str | None = None,
    ) -> None:
        self.db = db
        self.busy_timeout = busy_timeout
        self.path = path
        # See write(): one lock file per database, one open file per connection.
        self.lock_path = lock_path
        self._lock_file = open(lock_path, "a+b") if lock_path else None  # noqa: SIM115
        # Which file this connection has open: a database deleted or replaced under a
        # running service must be noticed, never written into (see same_file()).
        self.identity = _identity(path) if path else None

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        busy_timeout: float = 10.0,
        *,
        intake: bool = False,
        create: bool = True,
        readonly: bool = False,
    ) -> Connection:
        """Open the database. ``intake=True`` for the hook endpoint's writer.

        ``create=False`` opens an existing file only (``DatabaseMissing`` otherwise): the
        web side never creates the database, so hooks are never acknowledged into a
        fresh file nobody else reads. ``readonly=True`` (``status``) also never writes:
        no journal-mode change, no migration.

        The hook's commits are durable against power loss (``synchronous=FULL``): a 204
        tells Okta the event is safe. Everything else runs with ``NORMAL``, which in WAL
        mode survives any process crash and loses at most the last moments of work on
        power loss (a resent message, a re-run event, both covered by the ledger).
        Checkpoints (copying the WAL into the database) are left to the worker's
        connections: the hook's connections only step in if the WAL grows large, so
        a checkpoint's fsyncs rarely land inside a request Okta is timing.
        """
        file = Path(path)
        memory = str(path) == ":memory:"
        if memory:
            conn = sqlite3.connect(":memory:", timeout=busy_timeout)
        elif create and not readonly:
            try:
                file.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(file), timeout=busy_timeout)
            except (OSError, sqlite3.Error) as exc:
                raise _cannot_open(file, exc) from None
        else:
            if file.is_dir():
                raise _cannot_open(file, IsADirectoryError())
            if not file.is_file():
                raise DatabaseMissing(f"no database file at {file}")
            mode = "ro" if readonly else "rw"
            uri = "file:" + quote(str(file.resolve())) + f"?mode={mode}"
            conn = sqlite3.connect(uri, timeout=busy_timeout, uri=True)
        db = sqlite_utils.Database(conn)
        if readonly:
            return cls(db, busy_timeout=busy_timeout, path=str(file))
        try:
            if not memory:
                db.enable_wal()
            db.execute(f"PRAGMA synchronous={'FULL' if intake else 'NORMAL'}")
            db.execute(f"PRAGMA wal_autocheckpoint={INTAKE_CHECKPOINT_PAGES if intake else 1000}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            raise _cannot_open(file, exc) from None
        except BaseException:
            conn.close()
            raise
        if memory:
            return cls(db, busy_timeout=busy_timeout)
        return cls(db, f"{file}.lock", busy_timeout=busy_timeout, path=str(file))

    def same_file(self) -> bool:
        """Is the file at our path still the one this connection has open?

        SQLite keeps writing into a deleted (unlinked) or replaced file without a word;
        everything written there is lost. One ``stat`` answers it, cheaply."""
        return self.identity is None or _identity(self.path or "") == self.identity

    def close(self) -> None:
        self.db.close()
        if self._lock_file is not None:
            self._lock_file.close()

    def migrate(self, now: datetime | None = None) -> Path | None:
        """Apply pending schema migrations; safe when several processes start at once.

        An existing database is first backed up beside itself (app.db.backup; the last
        three are kept): returns that backup's path, or None when nothing was migrated
        or the database is new. A database created here records when
        (``database_created_at``): a brand-new database has no missed reminder pass to
        catch up."""
        if not migrations.pending(self.db):
            return None
        saved = None
        if self.path and "_sqlite_migrations" in self.db.table_names():
            saved = pre_migration_backup(self.db.conn, self.path, now or datetime.now(UTC))
        with self.write() as db:
            if not migrations.pending(db):  # another process got there first
                return saved
            fresh = "_sqlite_migrations" not in db.table_names()
            migrations.apply(db)
            if fresh:
                stamp = iso(now or datetime.now(UTC))
                db.execute(
                    "INSERT OR IGNORE INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
                    ["database_created_at", f'"{stamp}"', stamp],
                )
        return saved

    def needs_migration(self) -> bool:
        return bool(migrations.pending(self.db))

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction holding the write lock from the start.

        Writers first queue on an exclusive ``flock`` of ``<db>.lock``. SQLite's own
        busy handler waits by sleeping in growing steps (up to 100 ms) and retrying,
        so under steady contention an unlucky writer (a hook request!) can wait
        hundreds of milliseconds for a lock that is free most of the time; the kernel
        hands a released ``flock`` to a waiter at once. ``BEGIN IMMEDIATE`` (with the
        busy timeout) still guards against any writer that does not take the file lock.
        """
        conn = self.db.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield self.db
            return
        if self._lock_file is not None:
            self._take_write_lock()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")
        finally:
            if self._lock_file is not None:
                fcntl.flock(self._lock_file, fcntl.LOCK_UN)

    def _take_write_lock(self) -> None:
        """The writers' file lock, waiting at most ``busy_timeout`` like SQLite would.

        A blocking ``flock`` cannot time out, and a lock held by a stuck process would
        then hang the hook intake for good; polling every few milliseconds keeps the
        hand-over nearly as quick as the kernel's."""
        assert self._lock_file is not None
        deadline = time.monotonic() + self.busy_timeout
        pause = 0.0005
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError(
                        f"database is locked: waited {self.busy_timeout:g} s for {self.lock_path}"
                    ) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.005)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self.rows(sql, params)
        return rows[0] if rows else None

    def ping(self) -> bool:
        self.db.execute("SELECT 1").fetchone()
        return True
