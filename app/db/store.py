"""The database, one object: the connection plus one object per group of tables.

``store.inbox``, ``store.campaigns``, ``store.messages``, ``store.reassignments``,
``store.live`` (decisions, live launch messages), ``store.runs``, ``store.jobs``,
``store.state``, ``store.slack_users``, ``store.retention`` and ``store.views`` (what
operators read) each live in their own module of this package; only this package writes
SQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import sqlite_utils

from app.db.campaigns import Campaigns
from app.db.connection import Connection, DatabaseMissing, DatabaseUnavailable
from app.db.inbox import Inbox
from app.db.live import LiveUpdates
from app.db.messages import Messages
from app.db.reassignments import Reassignments
from app.db.retention import Retention
from app.db.state import Jobs, ReminderRuns, SlackUsers, State
from app.db.views import Views

__all__ = ["DatabaseMissing", "DatabaseUnavailable", "Store"]


class Store:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.inbox = Inbox(conn)
        self.campaigns = Campaigns(conn)
        self.messages = Messages(conn)
        self.reassignments = Reassignments(conn)
        self.live = LiveUpdates(conn)
        self.runs = ReminderRuns(conn)
        self.jobs = Jobs(conn)
        self.retention = Retention(conn)
        self.state = State(conn)
        self.slack_users = SlackUsers(conn)
        self.views = Views(conn)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        busy_timeout: float = 10.0,
        *,
        intake: bool = False,
        create: bool = True,
        readonly: bool = False,
    ) -> Store:
        """See ``Connection.open``."""
        return cls(
            Connection.open(path, busy_timeout, intake=intake, create=create, readonly=readonly)
        )

    @property
    def db(self) -> sqlite_utils.Database:
        return self.conn.db

    @property
    def path(self) -> str | None:
        return self.conn.path

    def close(self) -> None:
        self.conn.close()

    def migrate(self, now: datetime | None = None) -> Path | None:
        """See ``Connection.migrate``: returns the backup written first, if any."""
        return self.conn.migrate(now)

    def needs_migration(self) -> bool:
        return self.conn.needs_migration()

    def same_file(self) -> bool:
        return self.conn.same_file()

    def ping(self) -> bool:
        return self.conn.ping()

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One write transaction across tables (joins an outer one)."""
        with self.conn.write() as db:
            yield db

    def reclaim_orphans(self) -> dict[str, int]:
        """Put back what a dead lock holder left in flight: events being processed,
        messages being sent, jobs being run. Called once, right after taking the worker
        lock: nobody else can be working on them, so there is nothing to wait for."""
        with self.conn.write() as db:
            return {
                "events": db.execute(
                    "UPDATE inbox SET status = 'pending' WHERE status = 'processing'"
                ).rowcount,
                "messages": db.execute(
                    "UPDATE messages SET status = 'pending' WHERE status = 'sending'"
                ).rowcount,
                "jobs": db.execute(
                    "UPDATE jobs SET status = 'pending', started_at = NULL WHERE status = 'running'"
                ).rowcount,
            }
