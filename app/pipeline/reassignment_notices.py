"""Reassignment notices: one message per new reviewer per burst of reassignments.

The decide handler (app.pipeline.on_decide) records each reassigned review. This job,
run by the worker every round, announces them per (campaign, new reviewer) once no new
one has arrived for ``reassign.coalesce_seconds`` (or the first has waited
``max_wait_seconds``): "Ben Okafor reassigned 40 items in … to you. Due …".
"""

from __future__ import annotations

import logging
from datetime import datetime

from app.config import ReassignSettings
from app.db import Store
from app.messages import reassignment_message
from app.models import Person
from app.pipeline.planning import Planner, Recipient, prepare
from app.timeutil import Clock

__all__ = ["ReassignmentNotices"]

log = logging.getLogger(__name__)


def _who(names: list[str]) -> str:
    distinct = list(dict.fromkeys(names))
    if len(distinct) == 1:
        return distinct[0]
    others = len(distinct) - 1
    return f"{distinct[0]} and {others} other{'s' if others > 1 else ''}"


class ReassignmentNotices:
    def __init__(
        self, store: Store, planner: Planner, settings: ReassignSettings, clock: Clock
    ) -> None:
        self.store = store
        self.planner = planner
        self.settings = settings
        self.clock = clock

    def __call__(self, now: datetime | None = None) -> int:
        """Plan one message per (campaign, new reviewer) whose quiet window has closed.

        The ledger row and the link from each reassignment to it are written in one
        transaction, so a crash can neither lose a reassignment nor announce it twice.
        Returns how many messages were planned."""
        now = now or self.clock()
        planned = 0
        for campaign_id, recipient in self.store.reassignments.due_groups(
            now, self.settings.coalesce_seconds, self.settings.max_wait_seconds
        ):
            planned += self._announce(campaign_id, recipient, now)
        return planned

    def _announce(self, campaign_id: str, recipient: str, now: datetime) -> int:
        store = self.store
        rows = store.reassignments.open(campaign_id, recipient)
        campaign = store.campaigns.get(campaign_id)
        if not rows or campaign is None:
            return 0
        first = rows[0]
        person = Person(first["okta_user_id"] or "", first["email"] or "")
        if first["name"] and first["name"] != person.email:
            first_name, _, last_name = first["name"].partition(" ")
            person = Person(person.okta_id, person.email, first_name, last_name)
        notes = [r["notes"] for r in rows if r["notes"]]
        reassigner = _who([r["reassigner"] for r in rows])
        message = reassignment_message(
            self.planner.context(campaign, now), reassigner, len(rows), "\n".join(notes[:3])
        )
        batch = f"batch{first['id']}"
        plan = prepare(
            campaign,
            [Recipient(person, len(rows))],
            self.planner.resolve([person]),
            kind="reassign",
            milestone=batch,
            render=lambda _recipient: message,
        )
        with store.write():
            store.campaigns.set_reviewer_slack(campaign_id, plan.mapping)
            store.messages.plan(plan.rows, now)
            store.reassignments.close([r["id"] for r in rows], batch)
        log.info("reassignment: %d item(s) in %s to %s by %s", len(rows), campaign_id,
                 person.email or recipient, reassigner)  # fmt: skip
        return 1
