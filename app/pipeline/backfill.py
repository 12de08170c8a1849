"""Events Okta sent while certnotify was down, read back from the System Log.

Okta retries a hook delivery once; events sent during a longer downtime never arrive
through the hook. They are all in the org's System Log, so at start-up, once a day
and on demand (``certnotify backfill --since``) the worker reads the certification
events published since the newest one it holds and feeds any it never received
through the same inbox, where the event uuid deduplicates them against hook
deliveries. Paging follows ``Link`` headers under the same host rule as every other
cursor: only the cursor is taken, the request goes to the configured org.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.db import Store
from app.events import CLOSE, DECIDE, LAUNCH, HookEvent, check_event
from app.integrations.okta import OktaClient
from app.timeutil import iso, parse_okta_time

__all__ = ["EVENT_TYPES", "BackfillResult", "automatic_since", "backfill"]

log = logging.getLogger(__name__)

EVENT_TYPES = (LAUNCH, CLOSE, DECIDE)
CHECKED_KEY = "systemlog_checked_until"
# Events become visible in the System Log a little after they are published, and the
# clocks differ: read a few minutes back from where the last read ended (uuids dedup).
OVERLAP = timedelta(minutes=5)


@dataclass
class BackfillResult:
    since: datetime
    until: datetime
    seen: int = 0
    new: int = 0
    dropped: int = 0

    def line(self) -> str:
        return (
            f"system log {iso(self.since)} .. {iso(self.until)}: {self.seen} certification "
            f"events, {self.new} not received before (queued), {self.dropped} unusable"
        )


def _okta_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def automatic_since(store: Store) -> datetime | None:
    """Where an automatic backfill starts: the newest event held or the end of the last
    read (whichever is later), minus the overlap. None for a database with neither:
    a new deployment has missed nothing."""
    marks = [
        parse_okta_time(store.inbox.newest_published()),
        parse_okta_time(store.state.get(CHECKED_KEY)),
    ]
    known = [m for m in marks if m is not None]
    return max(known) - OVERLAP if known else None


def backfill(okta: OktaClient, store: Store, since: datetime, until: datetime) -> BackfillResult:
    result = BackfillResult(since, until)
    for page in okta.log_events(_okta_time(since), _okta_time(until), EVENT_TYPES):
        events: list[HookEvent] = []
        for raw in page:
            checked = check_event(raw)
            if isinstance(checked, str):
                result.dropped += 1
            else:
                events.append(checked)
        result.seen += len(page)
        if events:
            result.new += store.inbox.record_backfilled(events, until)
    store.state.set(CHECKED_KEY, iso(until), until)
    log.info("backfill: %s", result.line())
    return result
