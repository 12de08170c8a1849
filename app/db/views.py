"""What operators read: each campaign's figures, and each reviewer's message log.

One call per page (``status``, the admin list, the admin campaign page, ``report``):
a few set-based statements, never one query per campaign or per reviewer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from app.db.table import Table
from app.models import Campaign
from app.timeutil import parse_okta_time

__all__ = [
    "CampaignDetail",
    "CampaignFigures",
    "LoggedMessage",
    "ReviewerLog",
    "Views",
]

# Messages about a campaign that reviewers received (the admin channel's own are apart).
_REVIEWER_KINDS = "kind NOT LIKE 'admin%'"


@dataclass(frozen=True)
class CampaignFigures:
    campaign: Campaign
    retired_at: str | None
    retired_reason: str | None
    reviewers: int
    pending_reviewers: int
    items: int
    pending_items: int
    messages: dict[str, int]  # status -> count (reviewers' messages)

    @property
    def done_reviewers(self) -> int:
        return self.reviewers - self.pending_reviewers

    @property
    def percent_complete(self) -> int | None:
        """Share of the campaign's items reviewed, as far as certnotify has read them."""
        if not self.items:
            return None
        return round(100 * (self.items - self.pending_items) / self.items)


@dataclass(frozen=True)
class LoggedMessage:
    kind: str
    milestone: str
    status: str
    at: str  # when sent, else when planned
    ts: str
    error: str


@dataclass
class ReviewerLog:
    recipient: str
    email: str
    name: str
    total_items: int
    pending_items: int
    slack_user_id: str
    slack_status: str
    messages: list[LoggedMessage] = field(default_factory=list)

    @property
    def slack(self) -> str:
        """The Slack user, or why there is none."""
        if self.slack_user_id:
            return self.slack_user_id
        return {
            "not_found": "no Slack account with this email",
            "deleted": "Slack account deactivated",
            "bot": "Slack account is a bot",
        }.get(self.slack_status, "not looked up yet")


@dataclass(frozen=True)
class CampaignDetail:
    figures: CampaignFigures
    reviewers: list[ReviewerLog]
    unresolved: list[dict[str, Any]]  # pending reviews held by a group or nobody


def _campaign(row: dict[str, Any]) -> Campaign:
    return Campaign(
        id=row["id"],
        name=row["name"] or row["id"],
        description=row["description"] or "",
        status=row["status"] or "UNKNOWN",
        start=parse_okta_time(row["start_at"]),
        end=parse_okta_time(row["end_at"]),
        time_zone=row["time_zone"] or "",
    )


_FIGURES = f"""
SELECT c.*,
       coalesce(r.reviewers, 0) AS n_reviewers,
       coalesce(r.pending_reviewers, 0) AS n_pending_reviewers,
       coalesce(r.items, 0) AS n_items,
       coalesce(r.pending_items, 0) AS n_pending_items,
       m.counts AS message_counts
FROM campaigns c
LEFT JOIN (
    SELECT campaign_id, count(*) AS reviewers, sum(pending_items > 0) AS pending_reviewers,
           sum(total_items) AS items, sum(pending_items) AS pending_items
    FROM reviewers GROUP BY campaign_id
) r ON r.campaign_id = c.id
LEFT JOIN (
    SELECT campaign_id, json_group_object(status, n) AS counts
    FROM (SELECT campaign_id, status, count(*) AS n FROM messages
          WHERE {_REVIEWER_KINDS} GROUP BY campaign_id, status)
    GROUP BY campaign_id
) m ON m.campaign_id = c.id
"""


def _figures(row: dict[str, Any]) -> CampaignFigures:
    return CampaignFigures(
        campaign=_campaign(row),
        retired_at=row["retired_at"],
        retired_reason=row["retired_reason"],
        reviewers=row["n_reviewers"],
        pending_reviewers=row["n_pending_reviewers"],
        items=row["n_items"],
        pending_items=row["n_pending_items"],
        messages=json.loads(row["message_counts"] or "{}"),
    )


class Views(Table):
    """Read-only figures over ``campaigns``, ``reviewers``, ``messages`` and
    ``unresolved_reviews``."""

    def campaigns(self, *, active_only: bool = False) -> list[CampaignFigures]:
        where = " WHERE c.retired_at IS NULL" if active_only else ""
        rows = self._rows(_FIGURES + where + " ORDER BY coalesce(c.start_at, '') DESC, c.id")
        return [_figures(r) for r in rows]

    def campaign(self, campaign_id: str) -> CampaignDetail | None:
        row = self._one(_FIGURES + " WHERE c.id = ?", [campaign_id])
        if row is None:
            return None
        reviewers: dict[str, ReviewerLog] = {}
        for r in self._rows(
            "SELECT r.recipient, r.email, r.name, r.total_items, r.pending_items,"
            " r.slack_user_id, r.slack_status, m.kind, m.milestone, m.status,"
            " coalesce(m.sent_at, m.created_at) AS at, m.ts, m.error"
            " FROM reviewers r LEFT JOIN messages m"
            " ON m.campaign_id = r.campaign_id AND m.recipient = r.recipient"
            f" AND m.{_REVIEWER_KINDS}"
            " WHERE r.campaign_id = ? ORDER BY lower(coalesce(r.email, r.recipient)), m.id",
            [campaign_id],
        ):
            log = reviewers.get(r["recipient"])
            if log is None:
                log = reviewers[r["recipient"]] = ReviewerLog(
                    recipient=r["recipient"],
                    email=r["email"] or "",
                    name=r["name"] or "",
                    total_items=r["total_items"] or 0,
                    pending_items=r["pending_items"] or 0,
                    slack_user_id=r["slack_user_id"] or "",
                    slack_status=r["slack_status"] or "",
                )
            if r["kind"] is not None:
                log.messages.append(
                    LoggedMessage(
                        kind=r["kind"],
                        milestone=r["milestone"] or "",
                        status=r["status"],
                        at=r["at"] or "",
                        ts=r["ts"] or "",
                        error=r["error"] or "",
                    )
                )
        unresolved = self._rows(
            "SELECT review_id, reviewer_type, group_id, group_name FROM unresolved_reviews"
            " WHERE campaign_id = ? ORDER BY group_name, review_id",
            [campaign_id],
        )
        return CampaignDetail(_figures(row), list(reviewers.values()), unresolved)
