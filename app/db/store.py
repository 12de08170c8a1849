"""All SQL lives here: one SQLite file through sqlite-utils, WAL mode, a busy timeout.

Several processes share the file (gunicorn workers insert hook events, the worker
and ``certnotify remind`` claim and send). Every write that reads first runs in
``BEGIN IMMEDIATE`` so the write lock is taken up front: with deferred
transactions a reader that later tries to write can fail with "database is
locked" without waiting for the busy timeout.

Side effects are keyed so a replay does nothing twice: the inbox by event uuid,
the delivery ledger by (campaign, recipient, kind, milestone), reassignments by
(campaign, review, new reviewer).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlite_utils

from app.config import SettingsError
from app.db.migrations import migrations
from app.events import Delivery, HookEvent
from app.models import Campaign, Person, ReviewerCount, UnresolvedReview
from app.timeutil import iso, parse_okta_time

__all__ = [
    "ClaimedDelivery",
    "ClaimedEvent",
    "DeliveryScope",
    "IntakeResult",
    "PlannedDelivery",
    "Store",
]


@dataclass(frozen=True)
class IntakeResult:
    duplicate_delivery: bool
    accepted: int
    duplicates: int
    dropped: int


@dataclass(frozen=True)
class ClaimedEvent:
    uuid: str
    event_id: str
    event_type: str
    campaign_id: str
    received_ts: float
    payload_text: str  # decoded by the worker, per event: one bad body must not stop a batch
    attempts: int

    @property
    def payload(self) -> dict[str, Any]:
        decoded = json.loads(self.payload_text)
        if not isinstance(decoded, dict):
            raise ValueError("stored event is not a JSON object")
        return decoded


# (campaign, recipient, kind, milestone): one message, at most once.
LedgerKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class EventOutcome:
    """What became of a claimed event: a final status, or back to pending at ``retry_at``."""

    uuid: str
    status: str  # done | ignored | failed | pending
    error: str = ""
    retry_at: datetime | None = None
    # An outage of Okta or our own credentials, not this event: the try is given back.
    uncounted: bool = False


@dataclass(frozen=True)
class PlannedDelivery:
    campaign_id: str
    recipient: str
    kind: str
    milestone: str
    email: str
    slack_user_id: str | None  # None: nobody to send to -> recorded as unmapped
    text: str
    blocks: list[dict[str, Any]]
    unmapped_reason: str = ""
    skip_reason: str = ""  # recorded as "skipped": decided not to send, kept for audit

    @property
    def status(self) -> str:
        if self.skip_reason:
            return "skipped"
        return "pending" if self.slack_user_id else "unmapped"


@dataclass(frozen=True)
class DeliveryScope:
    """The ledger rows one job is responsible for (it waits for these to settle)."""

    campaign_id: str
    kind: str
    milestone: str


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    campaign_id: str
    recipient: str
    kind: str
    milestone: str
    slack_user_id: str
    text: str
    blocks: list[dict[str, Any]]
    attempts: int


# Rows the sender may claim now (one "?": now). There are no leases: only the holder of
# the worker lock (app.pipeline.lock) claims, and whoever takes that lock first puts back
# what a dead holder left in flight (reclaim_orphans). The idle-poll read and the claim
# itself use the same test.
_DUE = "status = 'pending' AND coalesce(not_before, 0) <= ?"

# ~40 MB of WAL before a hook connection checkpoints by itself (the worker's do it at ~4 MB).
INTAKE_CHECKPOINT_PAGES = 10_000


def _ts(moment: datetime) -> float:
    return moment.timestamp()


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


class Store:
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

    # -- opening -------------------------------------------------------------
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

    def migrate(self, now: datetime | None = None) -> None:
        """Apply pending schema migrations; safe when several processes start at once.

        A database created here records when (``database_created_at``): a brand-new
        database has no missed reminder pass to catch up."""
        if not migrations.pending(self.db):
            return
        with self.write() as db:
            if not migrations.pending(db):  # another process got there first
                return
            fresh = "_sqlite_migrations" not in db.table_names()
            migrations.apply(db)
            if fresh:
                stamp = iso(now or datetime.now(UTC))
                db.execute(
                    "INSERT OR IGNORE INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
                    ["database_created_at", json.dumps(stamp), stamp],
                )

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

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    # -- hook intake (web process) ---------------------------------------------
    def record_delivery(self, delivery: Delivery, now: datetime) -> IntakeResult:
        """Store a delivery's events in one transaction; duplicates are counted, not stored."""
        received_at = iso(now)
        with self.write() as db:
            accepted = 0
            for event in delivery.events:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO inbox (uuid, event_id, event_type, campaign_id,"
                    " published, received_at, received_ts, payload, status, attempts)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0)",
                    [
                        event.uuid,
                        delivery.event_id,
                        event.event_type,
                        event.campaign_id,
                        event.published,
                        received_at,
                        _ts(now),
                        event.payload_json(),
                    ],
                )
                accepted += cursor.rowcount
            duplicates = len(delivery.events) - accepted
            new = db.execute(
                "INSERT OR IGNORE INTO hook_deliveries (event_id, received_at, events, accepted,"
                " duplicates, dropped, drop_reasons) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    delivery.event_id,
                    received_at,
                    len(delivery.events) + len(delivery.dropped),
                    accepted,
                    duplicates,
                    len(delivery.dropped),
                    json.dumps(delivery.dropped[:20]),
                ],
            ).rowcount
            if not new:  # the same delivery again: count it, store nothing
                db.execute(
                    "UPDATE hook_deliveries SET duplicates = duplicates + ? WHERE event_id = ?",
                    [len(delivery.events), delivery.event_id],
                )
        return IntakeResult(not new, accepted, duplicates, len(delivery.dropped))

    def record_deliveries(self, items: Sequence[tuple[Delivery, datetime]]) -> list[IntakeResult]:
        """Several deliveries in one transaction (one commit, one fsync): group commit."""
        with self.write():
            return [self.record_delivery(delivery, now) for delivery, now in items]

    # -- inbox (worker) --------------------------------------------------------
    def claim_events(self, now: datetime, limit: int) -> list[ClaimedEvent]:
        """Mark due events as being processed (by the worker lock's holder only)."""
        t = _ts(now)
        # A read first: an idle worker then polls without ever taking the write lock.
        if not self._one(f"SELECT 1 AS due FROM inbox WHERE {_DUE} LIMIT 1", [t]):
            return []
        with self.write() as db:
            rows = db.execute(
                "UPDATE inbox SET status = 'processing', attempts = attempts + 1"
                f" WHERE uuid IN (SELECT uuid FROM inbox WHERE {_DUE}"
                "  ORDER BY published, received_ts LIMIT ?)"
                " RETURNING uuid, event_id, event_type, campaign_id, received_ts, payload,"
                " attempts, published",
                [t, limit],
            ).fetchall()
        rows.sort(key=lambda r: (r[7] or "", r[4] or 0.0))
        return [
            ClaimedEvent(r[0], r[1], r[2], r[3] or "", r[4] or 0.0, r[5] or "", r[6]) for r in rows
        ]

    def reclaim_orphans(self) -> dict[str, int]:
        """Put back what a dead lock holder left in flight: events being processed,
        messages being sent, jobs being run. Called once, right after taking the worker
        lock: nobody else can be working on them, so there is nothing to wait for."""
        with self.write() as db:
            return {
                "events": db.execute(
                    "UPDATE inbox SET status = 'pending' WHERE status = 'processing'"
                ).rowcount,
                "messages": db.execute(
                    "UPDATE deliveries SET status = 'pending' WHERE status = 'sending'"
                ).rowcount,
                "jobs": db.execute(
                    "UPDATE jobs SET status = 'pending', started_at = NULL WHERE status = 'running'"
                ).rowcount,
            }

    def record_outcomes(self, outcomes: Iterable[EventOutcome], now: datetime) -> None:
        """What became of a batch of claimed events, in one transaction."""
        finished, retried = [], []
        for o in outcomes:
            if o.retry_at is None:
                finished.append((o.status, iso(now), o.error[:1000], o.uuid))
            else:
                retried.append((_ts(o.retry_at), o.error[:1000], int(o.uncounted), o.uuid))
        with self.write() as db:
            db.conn.executemany(
                "UPDATE inbox SET status = ?, lease_until = NULL, finished_at = ?,"
                " last_error = nullif(?, '') WHERE uuid = ?",
                finished,
            )
            db.conn.executemany(
                "UPDATE inbox SET status = 'pending', lease_until = NULL, not_before = ?,"
                " last_error = ?, attempts = attempts - ? WHERE uuid = ?",
                retried,
            )

    def record_backfilled(self, events: Sequence[HookEvent], now: datetime) -> int:
        """Events read back from Okta's System Log: into the inbox unless already there
        (same uuid as a hook delivered). Returns how many were new."""
        received_at = iso(now)
        with self.write() as db:
            new = 0
            for event in events:
                new += db.execute(
                    "INSERT OR IGNORE INTO inbox (uuid, event_id, event_type, campaign_id,"
                    " published, received_at, received_ts, payload, status, attempts)"
                    " VALUES (?, 'systemlog', ?, ?, ?, ?, ?, ?, 'pending', 0)",
                    [
                        event.uuid,
                        event.event_type,
                        event.campaign_id,
                        event.published,
                        received_at,
                        _ts(now),
                        event.payload_json(),
                    ],
                ).rowcount
        return new

    def newest_event_published(self) -> str | None:
        row = self._one("SELECT max(published) AS p FROM inbox WHERE published != ''")
        return row["p"] if row else None

    def failed_events_since(self, since: datetime) -> int:
        row = self._one(
            "SELECT count(*) AS n FROM inbox WHERE status = 'failed' AND finished_at >= ?",
            [iso(since)],
        )
        return row["n"] if row else 0

    def failed_events(self, limit: int = 20) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT uuid, event_type, campaign_id, attempts, last_error, finished_at FROM inbox"
            " WHERE status = 'failed' ORDER BY finished_at DESC LIMIT ?",
            [limit],
        )

    def inbox_counts(self) -> dict[str, int]:
        rows = self._rows("SELECT status, count(*) AS n FROM inbox GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def inbox_oldest_pending(self) -> float | None:
        row = self._one(
            "SELECT min(received_ts) AS t FROM inbox WHERE status IN ('pending', 'processing')"
        )
        return row["t"] if row else None

    def hook_totals(self) -> dict[str, int]:
        row = self._one(
            "SELECT count(*) AS deliveries, coalesce(sum(accepted), 0) AS accepted,"
            " coalesce(sum(duplicates), 0) AS duplicates, coalesce(sum(dropped), 0) AS dropped"
            " FROM hook_deliveries"
        )
        return dict(row or {})

    # -- campaigns ---------------------------------------------------------------
    def save_campaign(self, campaign: Campaign, now: datetime, *, launched: bool = False) -> None:
        row = {
            "id": campaign.id,
            "name": campaign.name,
            "description": campaign.description,
            "status": campaign.status,
            "start_at": iso(campaign.start) if campaign.start else None,
            "end_at": iso(campaign.end) if campaign.end else None,
            "time_zone": campaign.time_zone,
            "refreshed_at": iso(now),
            "not_found_since": None,  # Okta just answered for it
        }
        with self.write() as db:
            db["campaigns"].upsert(row, pk="id")
            if launched:
                db.execute(
                    "UPDATE campaigns SET launched_at = coalesce(launched_at, ?) WHERE id = ?",
                    [iso(now), campaign.id],
                )

    def note_campaign(self, campaign_id: str, name: str, now: datetime) -> None:
        """Remember a campaign as soon as an event names it, before Okta is asked about
        it: if the launch never completes (Okta down for days), the daily pass still
        finds the campaign and announces it."""
        with self.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO campaigns (id, name, status, refreshed_at)"
                " VALUES (?, ?, 'UNKNOWN', ?)",
                [campaign_id, name or campaign_id, iso(now)],
            )

    def note_not_found(self, campaign_id: str, now: datetime) -> datetime:
        """Okta answered 404 for the campaign; returns since when it has done so."""
        with self.write() as db:
            db.execute(
                "UPDATE campaigns SET not_found_since = coalesce(not_found_since, ?) WHERE id = ?",
                [iso(now), campaign_id],
            )
        row = self._one("SELECT not_found_since FROM campaigns WHERE id = ?", [campaign_id])
        return parse_okta_time(row["not_found_since"] if row else None) or now

    def unretire_campaign(self, campaign_id: str) -> bool:
        """Okta says a retired campaign is active after all (``sync``): follow it again."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE campaigns SET retired_at = NULL, retired_reason = NULL,"
                " not_found_since = NULL WHERE id = ? AND retired_at IS NOT NULL",
                [campaign_id],
            )
        return cursor.rowcount > 0

    def campaign(self, campaign_id: str) -> Campaign | None:
        row = self._one("SELECT * FROM campaigns WHERE id = ?", [campaign_id])
        return _campaign_from_row(row) if row else None

    def campaign_row(self, campaign_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM campaigns WHERE id = ?", [campaign_id])

    def active_campaigns(self) -> list[Campaign]:
        rows = self._rows("SELECT * FROM campaigns WHERE retired_at IS NULL ORDER BY id")
        return [_campaign_from_row(r) for r in rows]

    def retire_campaign(self, campaign_id: str, reason: str, now: datetime) -> bool:
        """Mark retired and drop its reviewer rows; the ledger stays for audit."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE campaigns SET retired_at = ?, retired_reason = ?"
                " WHERE id = ? AND retired_at IS NULL",
                [iso(now), reason, campaign_id],
            )
            db.execute("DELETE FROM reviewers WHERE campaign_id = ?", [campaign_id])
            db.execute("DELETE FROM unresolved_reviews WHERE campaign_id = ?", [campaign_id])
        return cursor.rowcount > 0

    # -- reviewers -------------------------------------------------------------------
    def replace_reviewers(
        self,
        campaign_id: str,
        counts: Iterable[ReviewerCount],
        unresolved: Iterable[UnresolvedReview],
        source: str,
        now: datetime,
    ) -> None:
        """Make the reviewer table match a complete read of the campaign's reviews.

        Reviewers missing from the read keep their row (they were told, and the
        ledger refers to them) with their pending count set to 0.
        """
        stamp = iso(now)
        with self.write() as db:
            db.execute(
                "UPDATE reviewers SET pending_items = 0, updated_at = ? WHERE campaign_id = ?",
                [stamp, campaign_id],
            )
            db["reviewers"].upsert_all(
                (
                    {
                        "campaign_id": campaign_id,
                        "recipient": c.person.key,
                        "okta_user_id": c.person.okta_id,
                        "email": c.person.email,
                        "name": c.person.display_name,
                        "total_items": c.total,
                        "pending_items": c.pending,
                        "source": source,
                        "updated_at": stamp,
                    }
                    for c in counts
                ),
                pk=("campaign_id", "recipient"),
            )
            self._replace_unresolved(campaign_id, unresolved, stamp)

    def refresh_pending(
        self,
        campaign_id: str,
        counts: Iterable[ReviewerCount],
        unresolved: Iterable[UnresolvedReview],
        now: datetime,
    ) -> None:
        """Pending counts from a complete read of a campaign's UNREVIEWED reviews.

        Everyone not in the read has 0 pending; people new to the campaign (second-level
        reviewers, reassignments we missed) join the table.
        """
        stamp = iso(now)
        with self.write() as db:
            db.execute(
                "UPDATE reviewers SET pending_items = 0, updated_at = ? WHERE campaign_id = ?",
                [stamp, campaign_id],
            )
            db.conn.executemany(
                "INSERT INTO reviewers (campaign_id, recipient, okta_user_id, email, name,"
                " total_items, pending_items, source, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'reminder', ?)"
                " ON CONFLICT (campaign_id, recipient) DO UPDATE SET"
                "  pending_items = excluded.pending_items, email = excluded.email,"
                "  name = excluded.name, updated_at = excluded.updated_at,"
                "  total_items = max(coalesce(total_items, 0), excluded.pending_items)",
                [
                    (
                        campaign_id,
                        c.person.key,
                        c.person.okta_id,
                        c.person.email,
                        c.person.display_name,
                        c.pending,
                        c.pending,
                        stamp,
                    )
                    for c in counts
                ],
            )
            self._replace_unresolved(campaign_id, unresolved, stamp)

    def _replace_unresolved(
        self, campaign_id: str, unresolved: Iterable[UnresolvedReview], stamp: str
    ) -> None:
        """The campaign's pending reviews without a person, as of this read (in a write)."""
        self.db.execute("DELETE FROM unresolved_reviews WHERE campaign_id = ?", [campaign_id])
        self.db["unresolved_reviews"].insert_all(
            (
                {
                    "campaign_id": campaign_id,
                    "review_id": u.review_id,
                    "reviewer_type": u.reviewer_type,
                    "group_id": u.group_id,
                    "group_name": u.group_name,
                    "seen_at": stamp,
                }
                for u in unresolved
            ),
            pk=("campaign_id", "review_id"),
            replace=True,
        )

    def set_reviewer_slack(
        self, campaign_id: str, mapping: dict[str, tuple[str | None, str]]
    ) -> None:
        """``mapping``: recipient -> (slack user id or None, slack_status)."""
        with self.write() as db:
            db.conn.executemany(
                "UPDATE reviewers SET slack_user_id = ?, slack_status = ?"
                " WHERE campaign_id = ? AND recipient = ?",
                [(uid, status, campaign_id, key) for key, (uid, status) in mapping.items()],
            )

    def reviewers(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM reviewers WHERE campaign_id = ? ORDER BY recipient", [campaign_id]
        )

    def unresolved_reviews(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM unresolved_reviews WHERE campaign_id = ? ORDER BY review_id",
            [campaign_id],
        )

    # -- Slack directory cache ------------------------------------------------------
    def cached_slack_users(
        self, emails: Iterable[str], fresher_than: datetime
    ) -> dict[str, tuple[str | None, str]]:
        """email -> (user id or None, state) for entries checked after ``fresher_than``."""
        wanted = sorted({e.lower() for e in emails})
        rows = self._rows(
            "SELECT email, user_id, state FROM slack_users"
            " WHERE checked_at >= ? AND email IN (SELECT value FROM json_each(?))",
            [iso(fresher_than), json.dumps(wanted)],
        )
        return {r["email"]: (r["user_id"], r["state"]) for r in rows}

    def save_slack_users(
        self, entries: Iterable[tuple[str, str | None, str]], now: datetime
    ) -> None:
        stamp = iso(now)
        with self.write() as db:
            db["slack_users"].upsert_all(
                (
                    {"email": email.lower(), "user_id": uid, "state": state, "checked_at": stamp}
                    for email, uid, state in entries
                ),
                pk="email",
            )

    # -- delivery ledger / outbox -----------------------------------------------------
    def plan_deliveries(self, planned: Iterable[PlannedDelivery], now: datetime) -> list[LedgerKey]:
        """Record messages to send. A key already in the ledger is left alone, except
        an ``unmapped`` row, which is revived when the person can now be reached.
        Returns the keys of the rows that became pending."""
        stamp = iso(now)
        queued: list[LedgerKey] = []
        with self.write() as db:
            for p in planned:
                status = p.status
                cursor = db.execute(
                    "INSERT INTO deliveries (campaign_id, recipient, kind, milestone, email,"
                    " slack_user_id, status, text, blocks, error, attempts, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, nullif(?, ''), 0, ?, ?)"
                    " ON CONFLICT (campaign_id, recipient, kind, milestone) DO UPDATE SET"
                    "  status = excluded.status, slack_user_id = excluded.slack_user_id,"
                    "  text = excluded.text, blocks = excluded.blocks, error = NULL,"
                    "  updated_at = excluded.updated_at"
                    " WHERE deliveries.status = 'unmapped' AND excluded.status = 'pending'",
                    [
                        p.campaign_id,
                        p.recipient,
                        p.kind,
                        p.milestone,
                        p.email,
                        p.slack_user_id,
                        status,
                        p.text,
                        json.dumps(p.blocks),
                        p.skip_reason or p.unmapped_reason,
                        stamp,
                        stamp,
                    ],
                )
                if cursor.rowcount and status == "pending":
                    queued.append((p.campaign_id, p.recipient, p.kind, p.milestone))
        return queued

    def ledger_statuses(self, campaign_id: str) -> dict[tuple[str, str, str], str]:
        """(recipient, kind, milestone) -> status, for every ledger row of the campaign
        (keys and status only: the rendered messages stay on disk)."""
        rows = self._rows(
            "SELECT recipient, kind, milestone, status FROM deliveries WHERE campaign_id = ?",
            [campaign_id],
        )
        return {(r["recipient"], r["kind"], r["milestone"]): r["status"] for r in rows}

    def first_told(self, campaign_id: str) -> dict[str, datetime]:
        """recipient -> when they were first told about the campaign: a launch or
        reassignment message sent or queued, or a reassignment waiting for its
        quiet window to close (its message is about to be queued)."""
        rows = self._rows(
            "SELECT recipient, min(coalesce(sent_at, created_at)) AS at FROM deliveries"
            " WHERE campaign_id = ? AND kind IN ('launch', 'reassign')"
            " AND status IN ('sent', 'pending', 'sending') GROUP BY recipient",
            [campaign_id],
        )
        told = {}
        for r in rows:
            at = parse_okta_time(r["at"])
            if at is not None:
                told[r["recipient"]] = at
        for r in self._rows(
            "SELECT recipient, min(received_ts) AS t FROM reassignments"
            " WHERE campaign_id = ? GROUP BY recipient",
            [campaign_id],
        ):
            at = datetime.fromtimestamp(r["t"], UTC)
            told[r["recipient"]] = min(told.get(r["recipient"], at), at)
        return told

    def reassigned_recipients(self, campaign_id: str) -> set[str]:
        """Everyone handed items in this campaign by a reassignment we saw."""
        rows = self._rows(
            "SELECT DISTINCT recipient FROM reassignments WHERE campaign_id = ?", [campaign_id]
        )
        return {r["recipient"] for r in rows}

    # -- reassignments ---------------------------------------------------------------
    def record_reassignment(
        self,
        campaign_id: str,
        review_id: str,
        person: Person,
        *,
        reassigner: str,
        reassigner_id: str,
        notes: str,
        event_uuid: str,
        received_ts: float,
        now: datetime,
    ) -> bool:
        """Remember a reassigned review; False when it was already known (a redelivery).

        The new reviewer joins the campaign's reviewer table in the same transaction."""
        stamp = iso(now)
        with self.write() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO reassignments (campaign_id, review_id, recipient,"
                " okta_user_id, email, name, reassigner, reassigner_id, notes, event_uuid,"
                " received_ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    campaign_id,
                    review_id,
                    person.key,
                    person.okta_id,
                    person.email,
                    person.display_name,
                    reassigner,
                    reassigner_id,
                    notes,
                    event_uuid,
                    received_ts,
                ],
            )
            if not cursor.rowcount:
                return False
            db.execute(
                "INSERT INTO reviewers (campaign_id, recipient, okta_user_id, email, name,"
                " total_items, pending_items, source, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 1, 1, 'reassign', ?)"
                " ON CONFLICT (campaign_id, recipient) DO UPDATE SET"
                "  total_items = coalesce(total_items, 0) + 1,"
                "  pending_items = coalesce(pending_items, 0) + 1,"
                "  updated_at = excluded.updated_at",
                [campaign_id, person.key, person.okta_id, person.email, person.display_name, stamp],
            )
        return True

    def due_reassignment_groups(
        self, now: datetime, quiet_seconds: float, max_wait_seconds: float
    ) -> list[tuple[str, str]]:
        """(campaign, new reviewer) pairs whose reassignments are ready to announce: no new
        one for ``quiet_seconds``, or the first waiting for ``max_wait_seconds``."""
        t = _ts(now)
        rows = self._rows(
            "SELECT campaign_id, recipient FROM reassignments WHERE batch IS NULL"
            " GROUP BY campaign_id, recipient"
            " HAVING max(received_ts) <= ? OR min(received_ts) <= ?"
            " ORDER BY min(received_ts)",
            [t - quiet_seconds, t - max_wait_seconds],
        )
        return [(r["campaign_id"], r["recipient"]) for r in rows]

    def open_reassignments(self, campaign_id: str, recipient: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM reassignments WHERE campaign_id = ? AND recipient = ?"
            " AND batch IS NULL ORDER BY id",
            [campaign_id, recipient],
        )

    def close_reassignments(self, row_ids: Sequence[int], batch: str) -> None:
        with self.write() as db:
            db.conn.executemany(
                "UPDATE reassignments SET batch = ? WHERE id = ? AND batch IS NULL",
                [(batch, row_id) for row_id in row_ids],
            )

    def reassignments(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM reassignments WHERE campaign_id = ? ORDER BY id", [campaign_id]
        )

    # -- reminder runs -------------------------------------------------------------
    def start_reminder_run(
        self, trigger: str, for_date: str | None, dry_run: bool, pid: int, now: datetime
    ) -> int:
        with self.write() as db:
            cursor = db.execute(
                "INSERT INTO reminder_runs (trigger, for_date, dry_run, pid, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [trigger, for_date, int(dry_run), pid, iso(now)],
            )
        return int(cursor.lastrowid)

    def finish_reminder_run(self, run_id: int, summary: dict[str, Any], now: datetime) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE reminder_runs SET finished_at = ?, summary = ? WHERE id = ?",
                [iso(now), json.dumps(summary), run_id],
            )

    def last_reminder_run(self, *, for_today_only: bool = False) -> dict[str, Any] | None:
        """The latest pass; ``for_today_only``: passes for the real today (no --date)."""
        where = " WHERE for_date IS NULL" if for_today_only else ""
        row = self._one(f"SELECT * FROM reminder_runs{where} ORDER BY id DESC LIMIT 1")
        if row and row.get("summary"):
            row["summary"] = json.loads(row["summary"])
        return row

    def last_clean_reminder_run(self) -> float | None:
        """Epoch seconds when the last daily pass (not a ``--date`` rerun) finished with
        no errors; None if none has."""
        for row in self._rows(
            "SELECT finished_at, summary FROM reminder_runs WHERE finished_at IS NOT NULL"
            " AND for_date IS NULL AND dry_run = 0 ORDER BY id DESC LIMIT 20"
        ):
            summary = json.loads(row["summary"] or "{}")
            if not summary.get("errors") and not summary.get("auth_error"):
                finished = parse_okta_time(row["finished_at"])
                return finished.timestamp() if finished else None
        return None

    def reminder_runs(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM reminder_runs ORDER BY id")

    @staticmethod
    def _scope_sql(scopes: Sequence[DeliveryScope] | None) -> tuple[str, list[Any]]:
        if scopes is None:
            return "", []
        if not scopes:
            return " AND 0", []
        clauses = " OR ".join("(campaign_id = ? AND kind = ? AND milestone = ?)" for _ in scopes)
        params = [v for s in scopes for v in (s.campaign_id, s.kind, s.milestone)]
        return f" AND ({clauses})", params

    def claim_deliveries(
        self,
        now: datetime,
        limit: int,
        scopes: Sequence[DeliveryScope] | None = None,
    ) -> list[ClaimedDelivery]:
        """Mark up to ``limit`` due messages as being sent (by the worker lock's holder)."""
        t = _ts(now)
        scope_sql, scope_params = self._scope_sql(scopes)
        # scope_sql holds only "?" placeholders; the values are bound parameters.
        due = f"({_DUE}){scope_sql}"
        if not self._one(
            f"SELECT 1 AS due FROM deliveries WHERE {due} LIMIT 1", [t, *scope_params]
        ):
            return []
        with self.write() as db:
            rows = db.execute(
                "UPDATE deliveries SET status = 'sending', attempts = attempts + 1, updated_at = ?"
                f" WHERE id IN (SELECT id FROM deliveries WHERE {due} ORDER BY id LIMIT ?)"
                " RETURNING id, campaign_id, recipient, kind, milestone, slack_user_id, text,"
                " blocks, attempts",
                [iso(now), t, *scope_params, limit],
            ).fetchall()
        claimed = [
            ClaimedDelivery(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8])
            for r in rows
        ]
        claimed.sort(key=lambda d: d.id)
        return claimed

    def mark_sent(self, delivery_id: int, channel: str, ts: str, now: datetime) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE deliveries SET status = 'sent', channel = ?, ts = ?, sent_at = ?,"
                " updated_at = ?, lease_until = NULL, error = NULL WHERE id = ?",
                [channel, ts, iso(now), iso(now), delivery_id],
            )

    def mark_failed(self, delivery_id: int, error: str, now: datetime) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE deliveries SET status = 'failed', error = ?, updated_at = ?,"
                " lease_until = NULL WHERE id = ?",
                [error[:500], iso(now), delivery_id],
            )

    def mark_retry(
        self, delivery_id: int, error: str, not_before: datetime, *, count_attempt: bool = True
    ) -> None:
        """Back to pending. ``count_attempt=False`` when the failure was not this
        message's fault (e.g. our Slack token is broken) so it does not use up tries."""
        with self.write() as db:
            db.execute(
                "UPDATE deliveries SET status = 'pending', error = ?, not_before = ?,"
                " lease_until = NULL, attempts = attempts - ? WHERE id = ?",
                [error[:500], _ts(not_before), 0 if count_attempt else 1, delivery_id],
            )

    def unsettled(self, scopes: Sequence[DeliveryScope] | None = None) -> int:
        """Deliveries still pending or in flight (within ``scopes`` when given)."""
        scope_sql, params = self._scope_sql(scopes)
        row = self._one(
            "SELECT count(*) AS n FROM deliveries WHERE status IN ('pending', 'sending')"
            + scope_sql,
            params,
        )
        return row["n"] if row else 0

    def next_due_delivery(self, scopes: Sequence[DeliveryScope] | None = None) -> float | None:
        """Earliest time (epoch) an unsettled delivery becomes claimable."""
        scope_sql, params = self._scope_sql(scopes)
        row = self._one(
            "SELECT min(coalesce(not_before, 0)) AS t FROM deliveries"
            " WHERE status = 'pending'" + scope_sql,
            params,
        )
        return row["t"] if row else None

    def scope_counts(self, scopes: Sequence[DeliveryScope]) -> dict[str, int]:
        """Status counts of the ledger rows within ``scopes``."""
        scope_sql, params = self._scope_sql(scopes)
        rows = self._rows(
            f"SELECT status, count(*) AS n FROM deliveries WHERE 1{scope_sql} GROUP BY status",
            params,
        )
        return {r["status"]: r["n"] for r in rows}

    def ledger_outcomes(self, keys: Sequence[LedgerKey]) -> dict[str, int]:
        """Status counts of the given ledger keys (campaign, recipient, kind, milestone)."""
        rows = self._rows(
            "SELECT d.status, count(*) AS n FROM deliveries d JOIN json_each(?) k"
            " ON d.campaign_id = k.value ->> 0 AND d.recipient = k.value ->> 1"
            " AND d.kind = k.value ->> 2 AND d.milestone = k.value ->> 3 GROUP BY d.status",
            [json.dumps(list(keys))],
        )
        return {r["status"]: r["n"] for r in rows}

    def delivery_counts(self, campaign_id: str | None = None) -> dict[str, int]:
        where, params = ("WHERE campaign_id = ?", [campaign_id]) if campaign_id else ("", [])
        rows = self._rows(
            f"SELECT status, count(*) AS n FROM deliveries {where} GROUP BY status",
            params,
        )
        return {r["status"]: r["n"] for r in rows}

    def deliveries(self, campaign_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM deliveries WHERE campaign_id = ?"
        params: list[Any] = [campaign_id]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        return self._rows(sql + " ORDER BY id", params)

    # -- jobs: commands handed to the worker (one sender per deployment) ----------------
    def enqueue_job(self, kind: str, args: dict[str, Any], requested_by: str, now: datetime) -> int:
        with self.write() as db:
            cursor = db.execute(
                "INSERT INTO jobs (kind, args, status, requested_by, requested_at)"
                " VALUES (?, ?, 'pending', ?, ?)",
                [kind, json.dumps(args), requested_by, iso(now)],
            )
        return int(cursor.lastrowid)

    def claim_job(self, now: datetime, job_id: int | None = None) -> dict[str, Any] | None:
        """The oldest pending job (or ``job_id`` if still pending), marked running."""
        where = "status = 'pending'" + (" AND id = ?" if job_id is not None else "")
        params: list[Any] = [iso(now)] + ([job_id] if job_id is not None else [])
        with self.write() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'running', started_at = ? WHERE id ="
                f" (SELECT id FROM jobs WHERE {where} ORDER BY id LIMIT 1)"
                " RETURNING id, kind, args",
                params,
            ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "kind": row[1], "args": row[2]}

    def finish_job(
        self, job_id: int, exit_code: int, output: dict[str, str], now: datetime
    ) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE jobs SET status = 'done', exit_code = ?, output = ?, finished_at = ?"
                " WHERE id = ?",
                [exit_code, json.dumps(output), iso(now), job_id],
            )

    def job(self, job_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", [job_id])

    # -- small state -------------------------------------------------------------------
    def set_state(self, key: str, value: Any, now: datetime) -> None:
        with self.write() as db:
            db["kv"].upsert(
                {"key": key, "value": json.dumps(value), "updated_at": iso(now)}, pk="key"
            )

    def state(self, key: str, default: Any = None) -> Any:
        row = self._one("SELECT value FROM kv WHERE key = ?", [key])
        return json.loads(row["value"]) if row else default

    def ping(self) -> bool:
        self.db.execute("SELECT 1").fetchone()
        return True


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _campaign_from_row(row: dict[str, Any]) -> Campaign:
    return Campaign(
        id=row["id"],
        name=row["name"] or row["id"],
        description=row["description"] or "",
        status=row["status"] or "UNKNOWN",
        start=parse_okta_time(row["start_at"]),
        end=parse_okta_time(row["end_at"]),
        time_zone=row["time_zone"] or "",
    )
