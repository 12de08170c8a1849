"""What is waiting: the names of the applications (or groups) a reviewer's pending items
are about, so a reminder can say "Salesforce (3), GitHub (2)" and not only "5 items".

Reviews carry only the resource's id (``resourceId``: ``0oa…`` for an app, ``00g…`` for
a group); the name is one Okta call per resource (``okta.apps.read`` /
``okta.groups.read``), remembered for a day. A name is a nicety: when Okta will not
give it (a missing scope, an outage), the reminder just leaves it out.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from app.integrations.okta import OktaClient, OktaError
from app.timeutil import Clock

__all__ = ["ResourceLabels"]

log = logging.getLogger(__name__)

REMEMBER = timedelta(days=1)
# A pass asks Okta for at most this many new names (the rest show as "N more").
MAX_LOOKUPS_PER_PASS = 100


class ResourceLabels:
    def __init__(self, okta: OktaClient, clock: Clock) -> None:
        self.okta = okta
        self.clock = clock
        self._known: dict[str, tuple[str, float]] = {}  # id -> (label, when fetched)
        self._refused = ""  # why Okta will not tell us (logged once)
        self._lookups = 0

    def new_pass(self) -> None:
        self._lookups = 0

    def label(self, resource_id: str) -> str:
        now = self.clock().timestamp()
        known = self._known.get(resource_id)
        if known is not None and now - known[1] < REMEMBER.total_seconds():
            return known[0]
        if self._refused or self._lookups >= MAX_LOOKUPS_PER_PASS:
            return ""
        self._lookups += 1
        try:
            if resource_id.startswith("00g"):
                name = self.okta.group_name(resource_id)
            else:
                name = self.okta.app_label(resource_id)
        except (OktaError, ValueError) as exc:
            status = getattr(exc, "status", None)
            if status in (401, 403):
                self._refused = str(exc)
                log.warning(
                    "okta refused to name applications (%s): reminders show counts only; "
                    "grant okta.apps.read and okta.groups.read to name them",
                    exc,
                )
            return ""
        self._known[resource_id] = (name, now)
        return name

    def waiting(self, counts: Counter[str]) -> tuple[tuple[str, int], ...]:
        """(name, pending items), largest first; items whose resource has no name are
        counted together under ""."""
        named: list[tuple[str, int]] = []
        unnamed = 0
        for resource_id, count in counts.most_common():
            if name := self.label(resource_id):
                named.append((name, count))
            else:
                unnamed += count
        return (*named, ("", unnamed)) if unnamed else tuple(named)
