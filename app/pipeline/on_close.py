"""``certification.campaign.close``: the campaign is over; stop following it.

Retiring keeps the message ledger (the audit trail) and drops the reviewer rows. The
burst of ``NORESPONSE`` decide events that comes with a close is ignored by the decide
handler.
"""

from __future__ import annotations

import logging

from app.db import Store
from app.models import ClaimedEvent
from app.pipeline.admin_channel import AdminChannel
from app.timeutil import Clock

__all__ = ["CloseHandler"]

log = logging.getLogger(__name__)


class CloseHandler:
    def __init__(self, store: Store, clock: Clock, admin: AdminChannel | None = None) -> None:
        self.store = store
        self.clock = clock
        self.admin = admin

    def __call__(self, event: ClaimedEvent) -> str:
        if self.store.campaigns.row(event.campaign_id) is None:
            return "ignored"  # never followed: nothing to retire
        retired = self.store.campaigns.retire(
            event.campaign_id, "closed (campaign close event)", self.clock()
        )
        if retired and self.admin is not None:
            self.admin.ended(event.campaign_id, "closed in Okta")
        log.info("campaign %s closed: retired", event.campaign_id)
        return "done"
