"""``certification.campaign.item.decide``: decisions and reassignments.

* ``APPROVE`` / ``REVOKE``: the event's actor (an Okta user id, the reviewer's key in the
  reviewer table) decided the review ``debugData.campaignItemReviewerId``. Each review is
  recorded once; the first time, the reviewer's pending count goes down by one and their
  launch DM is due for an edit (app.pipeline.live_updates). No Okta call: a busy
  campaign has thousands of decisions and Okta allows about 50 requests a minute. A
  campaign or reviewer certnotify does not know is ignored.
* ``DELEGATE`` (a reassignment, ``outcome.result`` ``SKIPPED``): the event does not name
  the new reviewer, so the review is read again
  (``GET /governance/api/v1/reviews/{campaignItemReviewerId}``); the event's actor is who
  reassigned. A reviewer who reassigns 40 items in one sitting produces 40 events: this
  handler records each; app.pipeline.reassignment_notices announces them in one message
  once no new one has arrived for ``reassign.coalesce_seconds`` (or after
  ``max_wait_seconds``).
* ``NORESPONSE`` (the burst at close) and unknown values are ignored without any Okta or
  Slack call.
"""

from __future__ import annotations

import logging

from app.db import Store
from app.events import EventView
from app.integrations.okta import OktaClient, OktaNotFound
from app.models import Campaign, ClaimedEvent, Review, is_okta_id
from app.timeutil import Clock, parse_okta_time

__all__ = ["DecideHandler"]

log = logging.getLogger(__name__)

REASSIGN = "DELEGATE"
DECIDED = {"APPROVE", "REVOKE"}
IGNORED_DECISIONS = {"NORESPONSE"}


class DecideHandler:
    """Handles ``certification.campaign.item.decide``: decisions lower the reviewer's
    count (and refresh their launch DM), reassignments are announced."""

    def __init__(
        self, okta: OktaClient, store: Store, clock: Clock, *, live_updates: bool = True
    ) -> None:
        self.okta = okta
        self.store = store
        self.clock = clock
        self.live_updates = live_updates  # messages.live_updates: schedule launch DM edits
        self._unknown_logged: set[str] = set()  # log each unexpected decision value once

    def __call__(self, event: ClaimedEvent) -> str:
        view = EventView(event.payload)
        decision = view.debug_str("campaignItemDecision", 40).upper()
        if decision in DECIDED:
            return self._decided(event, view, decision)
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

    def _decided(self, event: ClaimedEvent, view: EventView, decision: str) -> str:
        review_id = view.debug_str("campaignItemReviewerId", 64)
        reviewer = str(view.actor.get("id") or "")[:64]
        campaign_id = event.campaign_id
        if not (is_okta_id(review_id) and is_okta_id(reviewer) and is_okta_id(campaign_id)):
            log.info("decision event %s lacks a campaign, review or actor id; ignored", event.uuid)
            return "ignored"
        row = self.store.campaigns.row(campaign_id)
        if row is None or row["retired_at"]:
            return "ignored"  # a campaign we never followed, or one that is over
        recorded = self.store.live.record_decision(
            campaign_id,
            review_id,
            reviewer,
            decision,
            event_uuid=event.uuid,
            received_ts=event.received_ts,
            published_ts=_epoch(view.raw.get("published")),
            now=self.clock(),
            schedule=self.live_updates,
        )
        if recorded == "unknown_reviewer":
            log.info("decision on %s by %s, not a reviewer we know in %s; ignored",
                     review_id, reviewer, campaign_id)  # fmt: skip
            return "ignored"
        if recorded == "known":
            log.info("decision on %s already recorded (redelivery)", review_id)
        elif recorded == "counted":
            log.info("decision on %s predates the last count of %s's items; recorded only",
                     review_id, reviewer)  # fmt: skip
        return "done"

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


def _epoch(published: object) -> float | None:
    moment = parse_okta_time(published)
    return moment.timestamp() if moment else None
