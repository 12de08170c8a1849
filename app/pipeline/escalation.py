"""Manager escalation: from ``escalation.after_day`` (and/or ``escalation.days_before_end``
before the end), a reviewer who still has items pending gets their manager told, once
per campaign.

The manager comes from the reviewer's Okta profile (``escalation.manager_attribute``:
``managerId``, an Okta user id, or an attribute holding an email or login). Only
reviewers we did reach (a launch, reassignment or reminder message sent to them) are
escalated: a manager must not hear that someone ignores messages they never got.
The ledger key (campaign, manager, ``escalation``, reviewer) makes it once per
campaign and reviewer, through restarts and repeated passes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from app.config import Settings
from app.db import Store
from app.integrations.okta import (
    OktaAuthError,
    OktaClient,
    OktaError,
    OktaNotFound,
    OktaUnavailable,
)
from app.integrations.slack.directory import Resolution
from app.models import Campaign, Person, ReviewerCount
from app.pipeline.planning import Planner
from app.pipeline.reminder_batch import DueReminder

__all__ = ["Escalations"]

log = logging.getLogger(__name__)

KIND = "escalation"
# Messages that show a reviewer was reached about the campaign.
REACHED_KINDS = {"launch", "reassign", "reminder", "nudge"}


class Escalations:
    """Finds, for one pass, the managers to tell. Manager lookups are remembered for the
    pass (a reviewer in several campaigns is looked up once)."""

    def __init__(self, okta: OktaClient, store: Store, planner: Planner, settings: Settings):
        self.okta = okta
        self.store = store
        self.planner = planner
        self.settings = settings.escalation
        self._managers: dict[str, Person | None] = {}
        self.refused = ""  # Okta will not read profiles (a missing okta.users.read scope)

    def due_now(self, day: int | None, days_left: int | None) -> bool:
        s = self.settings
        after = s.after_day is not None and day is not None and day >= s.after_day
        near_end = (
            s.days_before_end is not None
            and days_left is not None
            and days_left <= s.days_before_end
        )
        return after or near_end

    def manager(self, reviewer: Person) -> Person | None:
        if reviewer.okta_id in self._managers:
            return self._managers[reviewer.okta_id]
        try:
            found = self.okta.manager_of(reviewer.okta_id, self.settings.manager_attribute)
        except OktaNotFound:
            found = None  # the reviewer's user is gone
        except OktaUnavailable:
            raise  # an outage: the pass handles (and retries) it
        except OktaError as exc:
            # A 403 (an OktaAuthError) is a missing scope, not broken credentials: the
            # reminders go on, managers are not told. A 401 stops the pass (raised).
            if exc.status == 403:
                self.refused = (
                    "okta refused to read user profiles (grant okta.users.read): "
                    "managers are not told"
                )
                log.warning("%s: %s", self.refused, exc)
            raise
        person = None
        if found and str(found.get("status", "ACTIVE")).upper() == "ACTIVE":
            person = Person.from_profile({**(found.get("profile") or {}), "id": found.get("id")})
        self._managers[reviewer.okta_id] = person
        return person

    def due(
        self, campaign: Campaign, pending: Iterable[ReviewerCount], *, persist: bool = True
    ) -> tuple[list[DueReminder], dict[str, Resolution]]:
        """Escalations due for the campaign's pending reviewers (call when ``due_now``);
        ``persist=False`` (a dry run): the managers' Slack lookups are not cached."""
        if self.refused:
            return [], {}
        ledger = self.store.messages.statuses(campaign.id)
        escalated = {milestone for (_, kind, milestone) in ledger if kind == KIND}
        reached = {
            recipient
            for (recipient, kind, _), status in ledger.items()
            if kind in REACHED_KINDS and status == "sent"
        }
        due: list[DueReminder] = []
        for count in pending:
            reviewer = count.person
            key = reviewer.key
            if key in escalated or key not in reached or not reviewer.okta_id:
                continue
            try:
                manager = self.manager(reviewer)
            except OktaError as exc:
                if self.refused:
                    break
                if isinstance(exc, OktaAuthError | OktaUnavailable):
                    raise
                continue
            if manager is None or manager.key == key:
                continue
            due.append(
                DueReminder(campaign, manager, count.pending, KIND, key, "later", about=reviewer)
            )
        resolutions = self.planner.resolve((d.person for d in due), persist=persist) if due else {}
        return due, resolutions
