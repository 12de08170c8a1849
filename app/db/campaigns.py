"""Campaigns, their reviewers (with pending counts and Slack mapping) and the pending
reviews that have no person behind them (group and resource-owner reviews).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from app.db.table import Table
from app.models import Campaign, ReviewerCount, UnresolvedReview
from app.timeutil import iso, parse_okta_time

__all__ = ["Campaigns"]


def _campaign_from_row(row: dict[str, Any]) -> Campaign:
    return Campaign(
        id=row["id"],
        name=row["name"] or row["id"],
        description=row["description"] or "",
        status=row["status"] or "UNKNOWN",
        start=parse_okta_time(row["start_at"]),
        end=parse_okta_time(row["end_at"]),
        time_zone=row["time_zone"] or "",
        template_id=row.get("template_id") or "",
    )


class Campaigns(Table):
    """Tables ``campaigns``, ``reviewers`` and ``unresolved_reviews``."""

    def save(self, campaign: Campaign, now: datetime, *, launched: bool = False) -> None:
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
            db.table("campaigns").upsert(row, pk="id")
            if launched:
                db.execute(
                    "UPDATE campaigns SET launched_at = coalesce(launched_at, ?) WHERE id = ?",
                    [iso(now), campaign.id],
                )

    def note(self, campaign_id: str, name: str, now: datetime, template_id: str = "") -> None:
        """Remember a campaign as soon as an event names it, before Okta is asked about
        it: if the launch never completes (Okta down for days), the daily pass still
        finds the campaign and announces it. ``template_id`` (only the launch event
        carries it) is kept for per-campaign rules."""
        with self.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO campaigns (id, name, status, refreshed_at)"
                " VALUES (?, ?, 'UNKNOWN', ?)",
                [campaign_id, name or campaign_id, iso(now)],
            )
            if template_id:
                db.execute(
                    "UPDATE campaigns SET template_id = ? WHERE id = ?", [template_id, campaign_id]
                )

    def template_id(self, campaign_id: str) -> str:
        row = self._one("SELECT template_id FROM campaigns WHERE id = ?", [campaign_id])
        return (row["template_id"] if row else None) or ""

    def note_not_found(self, campaign_id: str, now: datetime) -> datetime:
        """Okta answered 404 for the campaign; returns since when it has done so."""
        with self.write() as db:
            db.execute(
                "UPDATE campaigns SET not_found_since = coalesce(not_found_since, ?) WHERE id = ?",
                [iso(now), campaign_id],
            )
        row = self._one("SELECT not_found_since FROM campaigns WHERE id = ?", [campaign_id])
        return parse_okta_time(row["not_found_since"] if row else None) or now

    def unretire(self, campaign_id: str) -> bool:
        """Okta says a retired campaign is active after all (``sync``): follow it again."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE campaigns SET retired_at = NULL, retired_reason = NULL,"
                " not_found_since = NULL WHERE id = ? AND retired_at IS NOT NULL",
                [campaign_id],
            )
        return cursor.rowcount > 0

    def get(self, campaign_id: str) -> Campaign | None:
        row = self._one("SELECT * FROM campaigns WHERE id = ?", [campaign_id])
        return _campaign_from_row(row) if row else None

    def row(self, campaign_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM campaigns WHERE id = ?", [campaign_id])

    def active(self) -> list[Campaign]:
        rows = self._rows("SELECT * FROM campaigns WHERE retired_at IS NULL ORDER BY id")
        return [_campaign_from_row(r) for r in rows]

    def retire(self, campaign_id: str, reason: str, now: datetime) -> bool:
        """Mark retired. Its reviewer rows and the ledger stay, as they were at the end:
        the final figures, ``report`` and the admin page read them (retention purges
        them later, see README)."""
        with self.write() as db:
            cursor = db.execute(
                "UPDATE campaigns SET retired_at = ?, retired_reason = ?"
                " WHERE id = ? AND retired_at IS NULL",
                [iso(now), reason, campaign_id],
            )
        return cursor.rowcount > 0

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
            db.table("reviewers").upsert_all(
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
        *,
        counted_at: datetime | None = None,
    ) -> None:
        """Pending counts from a complete read of a campaign's UNREVIEWED reviews, begun
        at ``counted_at`` (default ``now``): decisions published before then are in them.

        Everyone not in the read has 0 pending; people new to the campaign (second-level
        reviewers, reassignments we missed) join the table.
        """
        stamp = iso(now)
        counted = (counted_at or now).timestamp()
        with self.write() as db:
            db.execute(
                "UPDATE reviewers SET pending_items = 0, updated_at = ?, counted_ts = ?"
                " WHERE campaign_id = ?",
                [stamp, counted, campaign_id],
            )
            db.conn.executemany(
                "INSERT INTO reviewers (campaign_id, recipient, okta_user_id, email, name,"
                " total_items, pending_items, source, updated_at, counted_ts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 'reminder', ?, ?)"
                " ON CONFLICT (campaign_id, recipient) DO UPDATE SET"
                "  pending_items = excluded.pending_items, email = excluded.email,"
                "  name = excluded.name, updated_at = excluded.updated_at,"
                "  counted_ts = excluded.counted_ts,"
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
                        counted,
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
        self.db.table("unresolved_reviews").insert_all(
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
