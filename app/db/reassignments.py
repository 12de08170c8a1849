"""Reassigned reviews, one row per (campaign, review, new reviewer), collected until their
quiet window closes and one message announces them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.db.table import Table, ts
from app.models import Person
from app.timeutil import iso

__all__ = ["Reassignments"]


class Reassignments(Table):
    """Table ``reassignments`` (and the new reviewer's row in ``reviewers``)."""

    def recipients(self, campaign_id: str) -> set[str]:
        """Everyone handed items in this campaign by a reassignment we saw."""
        rows = self._rows(
            "SELECT DISTINCT recipient FROM reassignments WHERE campaign_id = ?", [campaign_id]
        )
        return {r["recipient"] for r in rows}

    def record(
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

    def due_groups(
        self, now: datetime, quiet_seconds: float, max_wait_seconds: float
    ) -> list[tuple[str, str]]:
        """(campaign, new reviewer) pairs whose reassignments are ready to announce: no new
        one for ``quiet_seconds``, or the first waiting for ``max_wait_seconds``."""
        t = ts(now)
        rows = self._rows(
            "SELECT campaign_id, recipient FROM reassignments WHERE batch IS NULL"
            " GROUP BY campaign_id, recipient"
            " HAVING max(received_ts) <= ? OR min(received_ts) <= ?"
            " ORDER BY min(received_ts)",
            [t - quiet_seconds, t - max_wait_seconds],
        )
        return [(r["campaign_id"], r["recipient"]) for r in rows]

    def open(self, campaign_id: str, recipient: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM reassignments WHERE campaign_id = ? AND recipient = ?"
            " AND batch IS NULL ORDER BY id",
            [campaign_id, recipient],
        )

    def close(self, row_ids: Sequence[int], batch: str) -> None:
        with self.write() as db:
            db.conn.executemany(
                "UPDATE reassignments SET batch = ? WHERE id = ? AND batch IS NULL",
                [(batch, row_id) for row_id in row_ids],
            )

    def of_campaign(self, campaign_id: str) -> list[dict[str, Any]]:
        return self._rows(
            "SELECT * FROM reassignments WHERE campaign_id = ? ORDER BY id", [campaign_id]
        )
