"""``certification.campaign.close``: the campaign is over; stop following it.

Retiring keeps the message ledger (the audit trail) and drops the reviewer rows. The
burst of ``NORESPONSE`` decide events that comes with a close is ignored by the decide
handler.
"""

from __future__ import annotations

import logging

from app.db import Store
from app.models import ClaimedEvent
from app.timeutil import Clock

__all__ = ["CloseHandler"]

log = logging.getLogger(__name__)


class CloseHandler:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def __call__(self, event: ClaimedEvent) -> str:
        if self.store.campaigns.row(event.campaign_id) is None:
            return "ignored"  # never followed: nothing to retire
        self.store.campaigns.retire(
            event.campaign_id, "closed (campaign close event)", self.clock()
        )
        log.info("campaign %s closed: retired", event.campaign_id)
        return "done"
