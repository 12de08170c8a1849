"""The admin channel (``admin.channel``): what operators hear in Slack.

After each launch, one summary (reviewers told, items, who could not be reached and
why); after each reminder pass, one line per running campaign; when a campaign ends,
its final figures; when Okta or Slack credentials stop working, and when they work
again. Every message is a row of the ledger like any other, keyed so that a restart, a
repeated pass or a duplicate hook never sends it twice; the outbox posts it. Off (every
method does nothing) while ``admin.channel`` is empty.

A Slack credential problem cannot be told through Slack: only its end is ("works again
since …"), once Slack accepts the token again.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from app.admin_messages import (
    CampaignLine,
    campaign_final,
    credentials_alert,
    credentials_recovered,
    launch_summary,
    pass_summary,
)
from app.config import Settings
from app.db import Store
from app.db.views import CampaignFigures
from app.messages import Message
from app.models import Campaign, PlannedMessage
from app.timeutil import Clock, zone

__all__ = ["AdminChannel"]

log = logging.getLogger(__name__)

# What to do about each credential problem, by the state key it is recorded under.
FIXES = {
    "okta_auth_error": "give certnotify a valid Okta API token or service app (README, step 2)",
    "slack_auth_error": "reinstall the Slack app and set SLACK_BOT_TOKEN (README, step 1)",
}


class AdminChannel:
    def __init__(self, store: Store, settings: Settings, clock: Clock) -> None:
        self.store = store
        self.settings = settings
        self.channel = settings.admin.channel
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return bool(self.channel)

    def _plan(self, campaign_id: str, kind: str, milestone: str, message: Message) -> None:
        row = PlannedMessage(
            campaign_id=campaign_id,
            recipient=self.channel,
            kind=kind,
            milestone=milestone,
            email="",
            slack_user_id=self.channel,
            text=message.text,
            blocks=message.blocks,
        )
        self.store.messages.plan([row], self.clock())

    def _line(self, figures: CampaignFigures, now: datetime) -> CampaignLine:
        campaign = figures.campaign
        days_left = None
        if campaign.end is not None:
            tz = zone(campaign.time_zone, self.settings.campaigns.default_time_zone)
            days_left = max(
                0, (campaign.end.astimezone(tz).date() - now.astimezone(tz).date()).days
            )
        return CampaignLine(
            campaign.name,
            figures.percent_complete,
            figures.reviewers,
            figures.pending_reviewers,
            figures.pending_items,
            days_left,
        )

    # -- what happened --------------------------------------------------------------
    def launched(
        self,
        campaign: Campaign,
        told: int,
        pending_items: int,
        unreachable: list[str],
        group_reviews: int,
    ) -> None:
        if not self.enabled:
            return
        message = launch_summary(campaign.name, told, pending_items, unreachable, group_reviews)
        self._plan(campaign.id, "admin_launch", "", message)

    def pass_done(self, day: date) -> None:
        """One message per day, however many passes ran (retries, ``remind``)."""
        if not self.enabled:
            return
        now = self.clock()
        lines = [self._line(f, now) for f in self.store.views.campaigns(active_only=True)]
        self._plan("", "admin_pass", day.isoformat(), pass_summary(day.isoformat(), lines))

    def ended(self, campaign_id: str, reason: str) -> None:
        if not self.enabled:
            return
        detail = self.store.views.campaign(campaign_id)
        if detail is None:
            return
        message = campaign_final(self._line(detail.figures, self.clock()), reason)
        self._plan(campaign_id, "admin_final", "", message)

    def credentials(self, key: str, before: dict | None, after: dict | None) -> None:
        """A credential problem began (``after``) or ended (``before``, ``after`` None).

        Keyed by the problem and when it began: the same problem is told once."""
        if not self.enabled or key not in FIXES:
            return
        if after and not before and key != "slack_auth_error":
            since = str(after.get("at") or "")
            message = credentials_alert(str(after.get("message") or key), FIXES[key])
            self._plan("", "admin_alert", f"{key}:down:{since}", message)
        elif before and not after:
            since = str(before.get("at") or "")
            message = credentials_recovered(str(before.get("message") or key), since)
            self._plan("", "admin_alert", f"{key}:up:{since}", message)
