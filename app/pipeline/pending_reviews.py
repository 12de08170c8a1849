"""Who still has items to review in a campaign, read afresh from Okta, and recorded: the
reminder pass and ``nudge`` both start from this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from app.db import Store
from app.integrations.okta import OktaClient
from app.models import PENDING, ReviewerTally
from app.timeutil import Clock

__all__ = ["PendingRead", "read_pending", "record_pending"]


@dataclass(frozen=True)
class PendingRead:
    tally: ReviewerTally
    read_at: datetime  # when the read began: decisions Okta published before are in it


def read_pending(okta: OktaClient, campaign_id: str, clock: Clock) -> PendingRead:
    """Every ``UNREVIEWED`` review of the campaign, page by page, tallied per reviewer."""
    read_at = clock()
    tally = ReviewerTally()
    for page in okta.review_pages(campaign_id, decision=PENDING):
        tally.add_page(page)
    return PendingRead(tally, read_at)


def record_pending(store: Store, campaign_id: str, read: PendingRead, clock: Clock) -> None:
    """The reviewer table takes the read's counts; a launch DM showing a count the read
    contradicts (a reassigned item, a decision event lost) is edited to Okta's figure."""
    tally = read.tally
    store.campaigns.refresh_pending(
        campaign_id, tally.pending_reviewers, tally.unresolved, clock(), counted_at=read.read_at
    )
    store.live.resync(campaign_id, clock())
