"""``certnotify nudge CAMPAIGN_ID [--reviewer EMAIL]``: an extra reminder, now, to whoever
still has items pending in one campaign (or to one of them).

An operator's explicit request: sent at once, outside working hours and the 3-day
spacing of scheduled reminders (which it does count towards: the next scheduled
reminder waits 3 days after a nudge). The ledger key (campaign, reviewer, ``nudge``,
date in the campaign's zone) makes it at most once a day per person and campaign,
however often the command runs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, TextIO

from app.models import Campaign
from app.pipeline.on_launch import campaign_has_ended
from app.pipeline.pending_reviews import read_pending, record_pending
from app.pipeline.reminder_batch import DueReminder, ReminderBatch
from app.pipeline.reminder_days import local_date
from app.timeutil import zone

if TYPE_CHECKING:
    from app.services import Services

__all__ = ["NudgeError", "NudgeResult", "nudge"]


class NudgeError(Exception):
    """The nudge cannot be done (unknown campaign, ended, reviewer not in it)."""


@dataclass
class NudgeResult:
    pending_reviewers: int = 0
    sent: int = 0
    unmapped: int = 0
    failed: int = 0
    already: int = 0  # nudged today already
    auth_error: str = ""
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        line = f"sent={self.sent} unmapped={self.unmapped} failed={self.failed}"
        return line + (f" already_nudged_today={self.already}" if self.already else "")


def nudge(
    services: Services,
    campaign_id: str,
    reviewer: str = "",
    *,
    send: bool = True,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> NudgeResult:
    store, settings = services.store, services.settings
    result = NudgeResult()
    row = store.campaigns.row(campaign_id)
    if row is None:
        raise NudgeError(
            f"campaign {campaign_id} is not followed here (run: certnotify sync {campaign_id})"
        )
    campaign = Campaign.from_api(services.okta.get_campaign(campaign_id))
    campaign = replace(campaign, template_id=store.campaigns.template_id(campaign_id))
    now = services.clock()
    store.campaigns.save(campaign, now)
    if ended := campaign_has_ended(campaign, now):
        raise NudgeError(f"campaign {campaign_id} is over ({ended}): nobody to nudge")
    read = read_pending(services.okta, campaign.id, services.clock)
    record_pending(store, campaign.id, read, services.clock)
    pending = read.tally.pending_reviewers
    if reviewer:
        wanted = reviewer.strip().lower()
        pending = [c for c in pending if c.person.email.lower() == wanted]
        if not pending:
            raise NudgeError(f"{reviewer} has no pending items in campaign {campaign_id}")
    result.pending_reviewers = len(pending)
    if not pending:
        result.notes.append(f"campaign {campaign_id}: everyone is done, nobody to nudge")
        return result

    tz = zone(campaign.time_zone, settings.campaigns.default_time_zone)
    today = local_date(now, tz).isoformat()
    resolutions = services.planner.resolve(c.person for c in pending)
    ledger = store.messages.statuses(campaign.id)
    batch = ReminderBatch(settings, store, timed=False)
    batch.add(
        (
            DueReminder(
                campaign, c.person, c.pending, "nudge", today, "nudge",
                waiting=services.labels.waiting(c.waiting),
            )
            for c in pending
        ),
        resolutions,
    )  # fmt: skip
    rows = batch.rows(now)
    with store.write():
        store.campaigns.set_reviewer_slack(
            campaign.id, {r.recipient: (r.slack_user_id, "mapped") for r in rows if r.slack_user_id}
        )
        queued = store.messages.plan(rows, now)
    result.already = sum(1 for r in rows if ledger.get((r.recipient, "nudge", today)) == "sent")
    result.unmapped = sum(1 for r in rows if r.status == "unmapped")
    for r in rows:
        if r.status == "unmapped":
            result.notes.append(f"not in Slack: {r.email} ({r.unmapped_reason})")
    drained = services.outbox.settle(batch.scopes, sleep=services.sleep, stop=stop, send=send)
    outcome = store.messages.outcomes(queued)
    result.sent = outcome.get("sent", 0)
    result.failed = outcome.get("failed", 0)
    result.auth_error = drained.auth_error
    return result
