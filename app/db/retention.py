"""Retention: what certnotify keeps, and for how long (``retention.*``; README, "Personal
data"). The worker purges once a day, after the reminder pass; ``status`` shows it.

* Hook events: the body (the whole Okta event, with names and every decision) of an
  event handled more than ``events_days`` ago is deleted; its uuid, type, campaign and
  times stay, so a late redelivery or a System Log read-back still finds it known.
  Finished command jobs (their output names people) and Slack directory entries not
  checked for as long go too.
* Campaigns retired more than ``messages_days`` ago: their ledger rows, reviewers,
  group reviews, reassignments, decisions, live-message state and events are deleted;
  the campaign's own row (name, dates, why it ended) stays, marked purged. Nothing of
  a campaign that is still followed is ever touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from app.db.table import Table
from app.timeutil import iso

__all__ = ["PurgeResult", "Retention"]

# Tables holding a campaign's people and messages, by campaign id.
_CAMPAIGN_TABLES = (
    "messages",
    "reviewers",
    "unresolved_reviews",
    "reassignments",
    "decisions",
    "live_updates",
    "inbox",
)


@dataclass(frozen=True)
class PurgeResult:
    event_bodies: int = 0
    campaigns: int = 0
    messages: int = 0
    jobs: int = 0
    slack_users: int = 0

    def line(self) -> str:
        return (
            f"purged: {self.event_bodies} event bodies, {self.campaigns} campaigns "
            f"({self.messages} ledger rows), {self.jobs} jobs, {self.slack_users} Slack "
            "directory entries"
        )


class Retention(Table):
    def purge(self, now: datetime, events_days: int, messages_days: int) -> PurgeResult:
        events_before = iso(now - timedelta(days=events_days))
        retired_before = iso(now - timedelta(days=messages_days))
        stamp = iso(now)
        with self.write() as db:
            bodies = db.execute(
                "UPDATE inbox SET payload = '', purged_at = ? WHERE purged_at IS NULL"
                " AND status IN ('done', 'ignored', 'failed')"
                " AND coalesce(finished_at, received_at) < ?",
                [stamp, events_before],
            ).rowcount
            jobs = db.execute(
                "DELETE FROM jobs WHERE status = 'done' AND finished_at < ?", [events_before]
            ).rowcount
            slack_users = db.execute(
                "DELETE FROM slack_users WHERE checked_at < ?", [events_before]
            ).rowcount
            old = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM campaigns WHERE purged_at IS NULL"
                    " AND retired_at IS NOT NULL AND retired_at < ?",
                    [retired_before],
                )
            ]
            messages = 0
            for campaign_id in old:
                for table in _CAMPAIGN_TABLES:
                    deleted = db.execute(
                        f"DELETE FROM {table} WHERE campaign_id = ?",
                        [campaign_id],
                    ).rowcount
                    messages += deleted if table == "messages" else 0
                db.execute("UPDATE campaigns SET purged_at = ? WHERE id = ?", [stamp, campaign_id])
            db.execute(
                "INSERT OR REPLACE INTO kv (key, value, updated_at) VALUES (?, ?, ?)",
                ["retention_last_purge", json.dumps(stamp), stamp],
            )
        return PurgeResult(bodies, len(old), messages, jobs, slack_users)

    def kept(self) -> dict[str, Any]:
        """What the database holds now, for ``status``."""
        row = self._one(
            "SELECT count(*) AS events, sum(purged_at IS NULL) AS with_body,"
            " min(CASE WHEN purged_at IS NULL THEN received_at END) AS oldest_body"
            " FROM inbox"
        )
        campaigns = self._one(
            "SELECT sum(purged_at IS NOT NULL) AS purged,"
            " sum(retired_at IS NOT NULL AND purged_at IS NULL) AS retired_kept,"
            " min(CASE WHEN purged_at IS NULL THEN retired_at END) AS oldest_retired"
            " FROM campaigns"
        )
        last = self._one("SELECT value FROM kv WHERE key = 'retention_last_purge'")
        return {
            "events": (row or {}).get("events") or 0,
            "event_bodies_kept": (row or {}).get("with_body") or 0,
            "oldest_event_body": (row or {}).get("oldest_body"),
            "campaigns_purged": (campaigns or {}).get("purged") or 0,
            "retired_campaigns_kept": (campaigns or {}).get("retired_kept") or 0,
            "oldest_retired_kept": (campaigns or {}).get("oldest_retired"),
            "last_purge": json.loads(last["value"]) if last else None,
        }
