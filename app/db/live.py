"""Decisions and the live launch message: each decided review once, the reviewer's pending
count lowered by it, and what their launch DM should show next (and showed last).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from app.db.table import Table, ts
from app.models import Review
from app.timeutil import iso

__all__ = ["LiveUpdates"]

Recorded = Literal["new", "known", "counted", "unknown_reviewer"]

# What the job needs to edit one reviewer's launch DM, in one read.
_TARGET = (
    "SELECT l.campaign_id, l.recipient, l.first_ts, l.last_ts, l.attempts, l.shown_pending,"
    " l.shown_total, r.pending_items, r.total_items, m.status AS launch_status, m.channel,"
    " m.ts AS launch_ts, c.retired_at"
    " FROM live_updates l"
    " LEFT JOIN reviewers r ON r.campaign_id = l.campaign_id AND r.recipient = l.recipient"
    " LEFT JOIN messages m ON m.campaign_id = l.campaign_id AND m.recipient = l.recipient"
    "  AND m.kind = 'launch' AND m.milestone = ''"
    " LEFT JOIN campaigns c ON c.id = l.campaign_id"
    " WHERE l.campaign_id = ? AND l.recipient = ?"
)
# After a round: nothing waits any more, unless a decision arrived while we worked (then
# its quiet window runs from it).
_SETTLED = "first_ts = CASE WHEN last_ts > ? THEN last_ts ELSE NULL END"


class LiveUpdates(Table):
    """Tables ``decisions`` and ``live_updates`` (and ``reviewers.pending_items``)."""

    def record_decision(
        self,
        campaign_id: str,
        review_id: str,
        reviewer: str,
        decision: str,
        *,
        event_uuid: str,
        received_ts: float,
        published_ts: float | None,
        now: datetime,
        schedule: bool,
    ) -> Recorded:
        """Remember that ``reviewer`` (a ``reviewers.recipient`` key: their Okta user id)
        decided ``review_id`` (at their level: in a multi-level campaign another level's
        reviewer decides the same review, and that counts for them).

        The first time: their pending count goes down by one (never below 0) and, with
        ``schedule``, an edit of their launch DM is due once the quiet window closes; all
        in one transaction. ``known``: a redelivery, nothing changed. ``counted``: Okta
        published it before the read that set the count began (an event handled late),
        so the count already leaves it out. ``unknown_reviewer``: nobody by that key in
        the campaign, nothing stored."""
        with self.write() as db:
            row = db.execute(
                "SELECT counted_ts FROM reviewers WHERE campaign_id = ? AND recipient = ?",
                [campaign_id, reviewer],
            ).fetchone()
            if row is None:
                return "unknown_reviewer"
            cursor = db.execute(
                "INSERT OR IGNORE INTO decisions (campaign_id, review_id, recipient, decision,"
                " event_uuid, received_ts) VALUES (?, ?, ?, ?, ?, ?)",
                [campaign_id, review_id, reviewer, decision, event_uuid, received_ts],
            )
            if not cursor.rowcount:
                return "known"
            counted_ts = row[0]
            if published_ts is not None and counted_ts is not None and published_ts < counted_ts:
                return "counted"
            db.execute(
                "UPDATE reviewers SET pending_items = max(0, coalesce(pending_items, 0) - 1),"
                " updated_at = ? WHERE campaign_id = ? AND recipient = ?",
                [iso(now), campaign_id, reviewer],
            )
            if schedule:
                db.execute(
                    "INSERT INTO live_updates (campaign_id, recipient, first_ts, last_ts)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (campaign_id, recipient) DO UPDATE SET"
                    "  first_ts = coalesce(live_updates.first_ts, excluded.first_ts),"
                    "  last_ts = max(coalesce(live_updates.last_ts, 0), excluded.last_ts)"
                    " WHERE live_updates.gave_up IS NULL",
                    [campaign_id, reviewer, received_ts, received_ts],
                )
        return "new"

    def note_decided(self, campaign_id: str, reviews: Sequence[Review], now: datetime) -> None:
        """Reviews a complete read of the campaign found decided (launch, ``sync``): the
        read's counts already leave them out, so their decide events change nothing."""
        if not reviews:
            return
        with self.write() as db:
            db.conn.executemany(
                "INSERT OR IGNORE INTO decisions (campaign_id, review_id, recipient, decision,"
                " received_ts) VALUES (?, ?, ?, ?, ?)",
                [
                    (campaign_id, r.id, r.reviewer.key, r.decision, ts(now))
                    for r in reviews
                    if r.reviewer is not None
                ],
            )

    def resync(self, campaign_id: str, now: datetime) -> int:
        """After the daily pass refreshed the counts from Okta: launch DMs already edited
        that show another count are due for an edit (after the quiet window)."""
        t = ts(now)
        with self.write() as db:
            cursor = db.execute(
                "UPDATE live_updates SET first_ts = coalesce(first_ts, ?),"
                " last_ts = max(coalesce(last_ts, 0), ?)"
                " WHERE campaign_id = ? AND gave_up IS NULL AND shown_pending IS NOT NULL"
                " AND shown_pending IS NOT (SELECT coalesce(r.pending_items, 0) FROM reviewers r"
                "  WHERE r.campaign_id = live_updates.campaign_id"
                "  AND r.recipient = live_updates.recipient)",
                [t, t, campaign_id],
            )
        return int(cursor.rowcount)

    def due(
        self, now: datetime, quiet_seconds: float, max_wait_seconds: float, limit: int
    ) -> list[tuple[str, str]]:
        """(campaign, reviewer) pairs whose launch DM should be edited now: no decision for
        ``quiet_seconds``, or the first one waiting ``max_wait_seconds``; oldest first."""
        t = ts(now)
        rows = self._rows(
            "SELECT campaign_id, recipient FROM live_updates"
            " WHERE first_ts IS NOT NULL AND gave_up IS NULL AND coalesce(not_before, 0) <= ?"
            " AND (last_ts <= ? OR first_ts <= ?) ORDER BY first_ts LIMIT ?",
            [t, t - quiet_seconds, t - max_wait_seconds, limit],
        )
        return [(r["campaign_id"], r["recipient"]) for r in rows]

    def target(self, campaign_id: str, recipient: str) -> dict[str, Any] | None:
        """The waiting update with the reviewer's counts, their launch DM's ledger row
        (``launch_status``, ``channel``, ``launch_ts``) and whether the campaign is retired."""
        return self._one(_TARGET, [campaign_id, recipient])

    def shown(
        self,
        campaign_id: str,
        recipient: str,
        *,
        seen_last_ts: float,
        pending: int,
        total: int,
        message_ts: str,
        now: datetime,
    ) -> None:
        """Slack accepted the edit: remember what it shows."""
        with self.write() as db:
            db.execute(
                f"UPDATE live_updates SET {_SETTLED}, shown_pending = ?, shown_total = ?,"
                " shown_at = ?, ts = ?, error = NULL, not_before = NULL, attempts = 0"
                " WHERE campaign_id = ? AND recipient = ?",
                [seen_last_ts, pending, total, iso(now), message_ts, campaign_id, recipient],
            )

    def settle(self, campaign_id: str, recipient: str, seen_last_ts: float, note: str) -> None:
        """Nothing to send this time (the count shown is still right, or there is no launch
        DM to edit: ``note`` says which); the next decision schedules a new round."""
        with self.write() as db:
            db.execute(
                f"UPDATE live_updates SET {_SETTLED}, error = nullif(?, ''), not_before = NULL,"
                " attempts = 0 WHERE campaign_id = ? AND recipient = ?",
                [seen_last_ts, note[:500], campaign_id, recipient],
            )

    def later(
        self,
        campaign_id: str,
        recipient: str,
        error: str,
        not_before: datetime,
        *,
        count_attempt: bool = False,
    ) -> None:
        """Keep the update for later (Slack down or our token refused: no try used up)."""
        with self.write() as db:
            db.execute(
                "UPDATE live_updates SET error = ?, not_before = ?, attempts = attempts + ?"
                " WHERE campaign_id = ? AND recipient = ?",
                [error[:500], ts(not_before), 1 if count_attempt else 0, campaign_id, recipient],
            )

    def give_up(self, campaign_id: str, recipient: str, error: str) -> None:
        """This launch DM can no longer be edited (deleted, not ours, channel gone): stop."""
        with self.write() as db:
            db.execute(
                "UPDATE live_updates SET gave_up = ?, error = ?, first_ts = NULL,"
                " not_before = NULL WHERE campaign_id = ? AND recipient = ?",
                [error[:500], error[:500], campaign_id, recipient],
            )

    def of_campaign(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM live_updates WHERE campaign_id = ? ORDER BY recipient", [campaign_id]
        )

    def decisions(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM decisions WHERE campaign_id = ? ORDER BY received_ts, review_id",
            [campaign_id],
        )
