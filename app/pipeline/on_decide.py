"""Reassignment: tell the new reviewer who handed them which campaign's items, and by when.

Okta reports a reassignment as ``certification.campaign.item.decide`` with
``debugData.campaignItemDecision = "DELEGATE"`` (``outcome.result`` ``SKIPPED``).
The event does not name the new reviewer, so the review is read again
(``GET /governance/api/v1/reviews/{campaignItemReviewerId}``); the event's actor
is who reassigned. APPROVE, REVOKE and NORESPONSE (the burst at close) are
ignored without any Okta or Slack call.

A reviewer who reassigns 40 items in one sitting produces 40 events: they are
collected per (campaign, new reviewer) and announced in one message once no new
one has arrived for ``reassign.coalesce_seconds`` (or after ``max_wait_seconds``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.events import EventView
from app.integrations.okta import OktaNotFound
from app.messages import reassignment_message
from app.models import Campaign, ClaimedEvent, Person, Review, is_okta_id
from app.pipeline.planning import Recipient, message_context, prepare, resolve

__all__ = ["DecideHandler", "flush_reassignments"]

log = logging.getLogger(__name__)

REASSIGN = "DELEGATE"
IGNORED_DECISIONS = {"APPROVE", "REVOKE", "NORESPONSE"}


class DecideHandler:
    """Handles ``certification.campaign.item.decide``; only reassignments do anything."""

    def __init__(self) -> None:
        self._unknown_logged: set[str] = set()  # log each unexpected decision value once

    def __call__(self, services, event: ClaimedEvent) -> str:
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
        return self._reassigned(services, event, view, review_id)

    def _reassigned(self, services, event: ClaimedEvent, view: EventView, review_id: str) -> str:
        store = services.store
        try:
            review = Review.from_api(services.okta.get_review(review_id))
        except OktaNotFound:
            log.warning("reassigned review %s no longer exists; ignored", review_id)
            return "ignored"
        if review is None:
            return "ignored"
        campaign_id = event.campaign_id or review.campaign_id
        if not is_okta_id(campaign_id):
            log.warning("reassigned review %s names no campaign; ignored", review_id)
            return "ignored"
        campaign = self._campaign(services, campaign_id)
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
            now=services.clock(),
        )
        if not recorded:
            log.info(
                "reassignment of %s to %s already recorded (redelivery)", review_id, person.key
            )
        return "done"

    @staticmethod
    def _campaign(services, campaign_id: str) -> Campaign:
        """The stored campaign, or (launched before certnotify was installed) fetch and store it."""
        campaign = services.store.campaigns.get(campaign_id)
        if campaign is None:
            campaign = Campaign.from_api(services.okta.get_campaign(campaign_id))
            services.store.campaigns.save(campaign, services.clock())
        return campaign


def _who(names: list[str]) -> str:
    distinct = list(dict.fromkeys(names))
    if len(distinct) == 1:
        return distinct[0]
    others = len(distinct) - 1
    return f"{distinct[0]} and {others} other{'s' if others > 1 else ''}"


def flush_reassignments(services, now: datetime | None = None) -> int:
    """Plan one message per (campaign, new reviewer) whose quiet window has closed.

    The ledger row and the link from each reassignment to it are written in one
    transaction, so a crash can neither lose a reassignment nor announce it twice.
    Returns how many messages were planned."""
    store, settings = services.store, services.settings
    now = now or services.clock()
    planned = 0
    for campaign_id, recipient in store.reassignments.due_groups(
        now, settings.reassign.coalesce_seconds, settings.reassign.max_wait_seconds
    ):
        rows = store.reassignments.open(campaign_id, recipient)
        campaign = store.campaigns.get(campaign_id)
        if not rows or campaign is None:
            continue
        first = rows[0]
        person = Person(first["okta_user_id"] or "", first["email"] or "")
        if first["name"] and first["name"] != person.email:
            first_name, _, last_name = first["name"].partition(" ")
            person = Person(person.okta_id, person.email, first_name, last_name)
        notes = [r["notes"] for r in rows if r["notes"]]
        reassigner = _who([r["reassigner"] for r in rows])
        message = reassignment_message(
            message_context(settings, campaign, now), reassigner, len(rows), "\n".join(notes[:3])
        )
        batch = f"batch{first['id']}"
        plan = prepare(
            campaign,
            [Recipient(person, len(rows))],
            resolve(services, [person]),
            kind="reassign",
            milestone=batch,
            render=lambda _recipient, m=message: m,
        )
        with store.write():
            store.campaigns.set_reviewer_slack(campaign_id, plan.mapping)
            store.messages.plan(plan.rows, now)
            store.reassignments.close([r["id"] for r in rows], batch)
        planned += 1
        log.info("reassignment: %d item(s) in %s to %s by %s", len(rows), campaign_id,
                 person.email or recipient, reassigner)  # fmt: skip
    return planned
