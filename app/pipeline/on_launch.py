"""``certification.campaign.launch``: fetch the campaign, read every review, tell each
reviewer once.

Runs for launch events and for ``certnotify sync``.
Safe to repeat: the campaign and reviewer rows are upserted and the ledger's
unique key means a reviewer already told is not told again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING

from app.db import Store
from app.events import EventView
from app.integrations.okta import OktaClient, OktaError, OktaNotFound
from app.messages import launch_message
from app.models import Campaign, ClaimedEvent, MessageScope, ReviewerTally, is_okta_id
from app.pipeline.admin_channel import AdminChannel
from app.pipeline.group_reviews import GroupReviewers
from app.pipeline.planning import Planner, Recipient
from app.pipeline.reminder_days import campaign_plan
from app.timeutil import Clock, zone

if TYPE_CHECKING:
    from app.services import Services

__all__ = ["LaunchHandler", "LaunchSummary", "Launcher", "RetryLater", "launch_campaign"]

log = logging.getLogger(__name__)

ENDED_STATUSES = {"COMPLETED", "DELETED"}


class RetryLater(Exception):
    """Not an error: the work cannot be done yet (e.g. Okta is still creating reviews)."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass
class LaunchSummary:
    campaign_id: str
    name: str = ""
    review_pages: int = 0
    reviews: int = 0
    reviewers: int = 0
    pending_reviewers: int = 0
    queued: int = 0
    unmapped: list[str] = field(default_factory=list)
    unresolved_reviews: int = 0
    skipped: str = ""
    scopes: list[MessageScope] = field(default_factory=list)
    group_members: int = 0  # members of groups holding reviews, told too
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.skipped:
            return f"campaign {self.campaign_id}: {self.skipped}"
        return (
            f"campaign {self.campaign_id} ({self.name}): {self.reviews} reviews in "
            f"{self.review_pages} pages, {self.reviewers} reviewers "
            f"({self.pending_reviewers} with pending items), {self.queued} DMs queued, "
            f"{len(self.unmapped)} not in Slack, {self.unresolved_reviews} pending reviews "
            f"without a person (group or resource owner; {self.group_members} group members "
            "told)"
        )


def campaign_has_ended(campaign: Campaign, now: datetime) -> str:
    """The reason a campaign is over, or "" while it runs."""
    if campaign.status in ENDED_STATUSES:
        return f"status {campaign.status}"
    if campaign.end is not None and campaign.end <= now:
        return "end date passed"
    return ""


class Launcher:
    """Fetch a campaign, read every review, tell each reviewer once."""

    def __init__(
        self,
        okta: OktaClient,
        store: Store,
        planner: Planner,
        clock: Clock,
        admin: AdminChannel | None = None,
    ) -> None:
        self.okta = okta
        self.store = store
        self.planner = planner
        self.clock = clock
        self.admin = admin

    def launch(self, campaign_id: str, *, revive: bool = False) -> LaunchSummary:
        """``revive`` (``certnotify sync``): a campaign retired here that Okta says is still
        running (retired after a misconfiguration, say) is followed again."""
        store, now = self.store, self.clock()
        campaign = Campaign.from_api(self.okta.get_campaign(campaign_id))
        campaign = replace(campaign, template_id=store.campaigns.template_id(campaign.id))
        summary = LaunchSummary(campaign_id=campaign.id, name=campaign.name)
        if campaign.status == "LAUNCHING":
            # Okta is still generating reviews; reading them now would miss people.
            raise RetryLater("campaign is still LAUNCHING", delay=60.0)
        store.campaigns.save(campaign, now, launched=True)
        ended = campaign_has_ended(campaign, now)
        if (
            revive
            and not ended
            and campaign.status == "ACTIVE"
            and store.campaigns.unretire(campaign.id)
        ):
            log.info("campaign %s is active in Okta: followed again", campaign.id)
        if ended:
            store.campaigns.retire(campaign.id, ended, now)
            summary.skipped = f"not announced: {ended}"
            return summary
        if campaign.status not in ("ACTIVE",):
            summary.skipped = f"not announced: status {campaign.status}"
            return summary

        tally = ReviewerTally()
        for page in self.okta.review_pages(campaign.id):
            # Reviews decided before this read are not counted as pending: their decide
            # events (often still queued behind this launch) must not count them again.
            store.live.note_decided(campaign.id, tally.add_page(page), now)
            summary.review_pages += 1
        store.campaigns.replace_reviewers(
            campaign.id, tally.reviewers.values(), tally.unresolved, "launch", now
        )
        summary.reviews = tally.reviews_seen
        summary.reviewers = len(tally.reviewers)
        summary.unresolved_reviews = len(tally.unresolved)
        recipients = [Recipient(c.person, c.pending) for c in tally.pending_reviewers]
        summary.pending_reviewers = len(recipients)
        tz = zone(campaign.time_zone, self.planner.settings.campaigns.default_time_zone)
        rules = campaign_plan(campaign, self.planner.settings.reminders, tz)
        if not rules.notify:
            summary.skipped = f"not announced: excluded by {rules.why}"
            log.info("launch: %s", summary.line())
            return summary
        if not rules.launch_message:
            # Okta's own settings for the campaign: reviewers are not told on assignment
            # (reminders.follow_okta_settings); they hear from us at the first reminder.
            summary.skipped = (
                "not announced: the campaign's Okta settings say reviewers are not "
                "notified on assignment (notifyReviewerWhenReviewAssigned: false)"
            )
            log.info("launch: %s", summary.line())
            return summary

        ctx = self.planner.context(campaign, now)
        plan = self.planner.plan(
            campaign,
            recipients,
            kind="launch",
            milestone="",
            render=lambda r: launch_message(ctx, r.count),
            now=now,
        )
        # Reviews held by a group: its members are told too (app.pipeline.group_reviews).
        groups = GroupReviewers(self.okta, self.planner)
        group_plan = self.planner.commit(groups.plan(campaign, tally.unresolved, ctx), now)
        summary.queued = len(plan.queued) + len(group_plan.queued)
        summary.unmapped = plan.unmapped + group_plan.unmapped
        summary.scopes = plan.scopes + group_plan.scopes
        summary.group_members = len({r.recipient for r in group_plan.rows})
        summary.notes = groups.notes
        if self.admin is not None:
            self.admin.launched(
                campaign,
                told=len(recipients) - len(plan.unmapped),
                pending_items=sum(r.count for r in recipients),
                unreachable=plan.unmapped,
                group_reviews=len(tally.unresolved),
            )
        log.info("launch: %s", summary.line())
        for entry in plan.unmapped:
            log.warning("launch %s: reviewer not reachable in Slack: %s", campaign.id, entry)
        return summary


class LaunchHandler:
    """``certification.campaign.launch``: note the campaign, then launch it."""

    def __init__(self, launcher: Launcher, store: Store, clock: Clock) -> None:
        self.launcher = launcher
        self.store = store
        self.clock = clock

    def __call__(self, event: ClaimedEvent) -> str:
        view = EventView(event.payload)
        name = view.debug_str("campaignName", 300)
        template_id = view.debug_str("campaignTemplateId", 64)
        # Remembered before Okta is asked: if the launch never completes (Okta down for
        # days), the daily pass still finds the campaign and announces it.
        self.store.campaigns.note(
            event.campaign_id,
            name,
            self.clock(),
            template_id=template_id if is_okta_id(template_id) else "",
        )
        try:
            self.launcher.launch(event.campaign_id)
        except OktaNotFound as exc:
            # Kept as a campaign to check: the daily pass retires it only if the 404 lasts
            # a day (a wrong org URL or a limited admin role answers 404 too).
            self.store.campaigns.note_not_found(event.campaign_id, self.clock())
            raise OktaError(f"campaign not found in Okta (HTTP 404): {exc}") from None
        return "done"


def launch_campaign(services: Services, campaign_id: str, *, revive: bool = False) -> LaunchSummary:
    """The launch with the service's own parts (``sync``, tests)."""
    launcher = Launcher(
        services.okta, services.store, services.planner, services.clock, services.admin
    )
    return launcher.launch(campaign_id, revive=revive)
