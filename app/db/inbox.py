"""Hook deliveries and the inbox of events: stored by the web side, claimed by the worker.

Keyed so a replay does nothing twice: deliveries by ``eventId``, events by ``uuid``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from app.db.table import Table, ts
from app.events import Delivery, HookEvent
from app.models import ClaimedEvent, EventOutcome, IntakeResult
from app.timeutil import iso

__all__ = ["DUE", "Inbox"]

# Rows the sender may claim now (one "?": now). There are no leases: only the holder of
# the worker lock (app.pipeline.lock) claims, and whoever takes that lock first puts back
# what a dead holder left in flight (Store.reclaim_orphans). The idle-poll read and the
# claim itself use the same test (here and in app.db.messages).
DUE = "status = 'pending' AND coalesce(not_before, 0) <= ?"


class Inbox(Table):
    """Tables ``hook_deliveries`` and ``inbox``."""

    def _insert(self, event: HookEvent, event_id: str, now: datetime) -> int:
        """One event into the inbox unless its uuid is there already (inside a write);
        1 when it was new."""
        return self.db.execute(
            "INSERT OR IGNORE INTO inbox (uuid, event_id, event_type, campaign_id,"
            " published, received_at, received_ts, payload, status, attempts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0)",
            [
                event.uuid,
                event_id,
                event.event_type,
                event.campaign_id,
                event.published,
                iso(now),
                ts(now),
                event.payload_json(),
            ],
        ).rowcount

    def record_delivery(self, delivery: Delivery, now: datetime) -> IntakeResult:
        """Store a delivery's events in one transaction; duplicates are counted, not stored."""
        received_at = iso(now)
        with self.write() as db:
            accepted = 0
            for event in delivery.events:
                accepted += self._insert(event, delivery.event_id, now)
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

    def claim(self, now: datetime, limit: int) -> list[ClaimedEvent]:
        """Mark due events as being processed (by the worker lock's holder only)."""
        t = ts(now)
        # A read first: an idle worker then polls without ever taking the write lock.
        if not self._one(f"SELECT 1 AS due FROM inbox WHERE {DUE} LIMIT 1", [t]):
            return []
        with self.write() as db:
            rows = db.execute(
                "UPDATE inbox SET status = 'processing', attempts = attempts + 1"
                f" WHERE uuid IN (SELECT uuid FROM inbox WHERE {DUE}"
                "  ORDER BY published, received_ts LIMIT ?)"
                " RETURNING uuid, event_id, event_type, campaign_id, received_ts, payload,"
                " attempts, published",
                [t, limit],
            ).fetchall()
        rows.sort(key=lambda r: (r[7] or "", r[4] or 0.0))
        return [
            ClaimedEvent(r[0], r[1], r[2], r[3] or "", r[4] or 0.0, r[5] or "", r[6]) for r in rows
        ]

    def record_outcomes(self, outcomes: Iterable[EventOutcome], now: datetime) -> None:
        """What became of a batch of claimed events, in one transaction."""
        finished, retried = [], []
        for o in outcomes:
            if o.retry_at is None:
                finished.append((o.status, iso(now), o.error[:1000], o.uuid))
            else:
                retried.append((ts(o.retry_at), o.error[:1000], int(o.uncounted), o.uuid))
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
        with self.write():
            return sum(self._insert(event, "systemlog", now) for event in events)

    def newest_published(self) -> str | None:
        row = self._one("SELECT max(published) AS p FROM inbox WHERE published != ''")
        return row["p"] if row else None

    def failed_since(self, since: datetime) -> int:
        row = self._one(
            "SELECT count(*) AS n FROM inbox WHERE status = 'failed' AND finished_at >= ?",
            [iso(since)],
        )
        return row["n"] if row else 0

    def failed(self, limit: int = 20) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT uuid, event_type, campaign_id, attempts, last_error, finished_at FROM inbox"
            " WHERE status = 'failed' ORDER BY finished_at DESC LIMIT ?",
            [limit],
        )

    def counts(self) -> dict[str, int]:
        rows = self._rows("SELECT status, count(*) AS n FROM inbox GROUP BY status")
        return {r["status"]: r["n"] for r in rows}

    def oldest_pending(self) -> float | None:
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
