"""``certification.campaign.item.decide``: record reassignments (``DELEGATE``); ignore the rest.

Okta reports a reassignment as ``certification.campaign.item.decide`` with
``debugData.campaignItemDecision = "DELEGATE"`` (``outcome.result`` ``SKIPPED``).
The event does not name the new reviewer, so the review is read again
(``GET /governance/api/v1/reviews/{campaignItemReviewerId}``); the event's actor
is who reassigned. APPROVE, REVOKE and NORESPONSE (the burst at close) are
ignored without any Okta or Slack call.

A reviewer who reassigns 40 items in one sitting produces 40 events: this handler
records each; app.pipeline.reassignment_notices announces them in one message once no
new one has arrived for ``reassign.coalesce_seconds`` (or after ``max_wait_seconds``).
"""

from __future__ import annotations

import logging

from app.db import Store
from app.events import EventView
from app.integrations.okta import OktaClient, OktaNotFound
from app.models import Campaign, ClaimedEvent, Review, is_okta_id
from app.timeutil import Clock

__all__ = ["DecideHandler"]

log = logging.getLogger(__name__)

REASSIGN = "DELEGATE"
IGNORED_DECISIONS = {"APPROVE", "REVOKE", "NORESPONSE"}


class DecideHandler:
    """Handles ``certification.campaign.item.decide``; only reassignments do anything."""

    def __init__(self, okta: OktaClient, store: Store, clock: Clock) -> None:
        self.okta = okta
        self.store = store
        self.clock = clock
        self._unknown_logged: set[str] = set()  # log each unexpected decision value once

    def __call__(self, event: ClaimedEvent) -> str:
        view = EventView(event.payload)
        decision = view.debug_str("campaignItemDecision", 40).upper()
        if decision != REASSIGN:
            if decision not in IGNORED_DECISIONS and decision not in self._unknown_logged:
                self._unknown_logged.add(decision)
                log.warning("decide event with unknown decision %r ignored (logged once)", decision)
            return "ignored"
        review_id = view.debug_str("campaignItemReviewerId", 64)
        if not is_okta_id(review_id):
            log.warning("reassignment event %s has no review id; ignored", event.uuid)
            return "ignored"
        return self._reassigned(event, view, review_id)

    def _reassigned(self, event: ClaimedEvent, view: EventView, review_id: str) -> str:
        store = self.store
        try:
            review = Review.from_api(self.okta.get_review(review_id))
        except OktaNotFound:
            log.warning("reassigned review %s no longer exists; ignored", review_id)
            return "ignored"
        if review is None:
            return "ignored"
        campaign_id = event.campaign_id or review.campaign_id
        if not is_okta_id(campaign_id):
            log.warning("reassigned review %s names no campaign; ignored", review_id)
            return "ignored"
        campaign = self._campaign(campaign_id)
        row = store.campaigns.row(campaign_id)
        if row and row["retired_at"]:
            return "ignored"  # the campaign is over
        if not review.pending:
            log.info("review %s was reassigned but is already %s; nothing to say", review_id,
                     review.decision)  # fmt: skip
            return "ignored"
        person = review.reviewer
        if person is None:
            log.info("review %s was reassigned to a %s reviewer: no one person to tell",
                     review_id, review.reviewer_type.lower())  # fmt: skip
            return "ignored"
        actor_id = str(view.actor.get("id") or "")[:64]
        if actor_id and actor_id == person.okta_id:
            return "ignored"  # the reviewer still holds it: nothing changed hands
        recorded = store.reassignments.record(
            campaign.id,
            review.id,
            person,
            reassigner=view.actor_name or "A reviewer",
            reassigner_id=actor_id,
            notes=view.debug_str("campaignItemDecisionNotes", 1000),
            event_uuid=event.uuid,
            received_ts=event.received_ts,
            now=self.clock(),
        )
        if not recorded:
            log.info(
                "reassignment of %s to %s already recorded (redelivery)", review_id, person.key
            )
        return "done"

    def _campaign(self, campaign_id: str) -> Campaign:
        """The stored campaign, or (launched before certnotify was installed) fetch and store it."""
        campaign = self.store.campaigns.get(campaign_id)
        if campaign is None:
            campaign = Campaign.from_api(self.okta.get_campaign(campaign_id))
            self.store.campaigns.save(campaign, self.clock())
        return campaign
