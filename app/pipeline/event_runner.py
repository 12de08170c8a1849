"""Handling claimed events: each in its own ``try``, and what became of it.

Each event stands alone: one that cannot be decoded or handled fails with its reason,
and the rest of the batch goes on. Nothing an upstream does uses up an event's tries:
Okta or Slack unreachable, or refusing our credentials, puts the event back untouched
(``uncounted``) behind the outage's own wait. Anything else unexpected is retried with
a growing delay, up to ``worker.max_attempts``.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta

from app.config import Settings
from app.db import Store
from app.integrations.okta import OktaAuthError, OktaError, OktaUnavailable
from app.integrations.slack import SlackAuthError, SlackTransientError
from app.logs import EVENT_ID
from app.models import ClaimedEvent, EventOutcome
from app.pipeline.credentials import OKTA_AUTH, SLACK_AUTH, CredentialCheck, okta_setting
from app.pipeline.on_launch import RetryLater
from app.pipeline.registry import Handler
from app.timeutil import Clock, iso

__all__ = ["EventRunner"]

log = logging.getLogger(__name__)


class EventRunner:
    def __init__(
        self,
        handlers: dict[str, Handler],
        store: Store,
        credentials: CredentialCheck,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.handlers = handlers
        self.store = store
        self.credentials = credentials
        self.settings = settings
        self.clock = clock

    def _retry(self, event: ClaimedEvent, delay: float, error: str) -> EventOutcome:
        now = self.clock()
        if event.attempts >= self.settings.worker.max_attempts:
            log.error("event %s (%s) failed for good: %s", event.uuid, event.event_type, error)
            return EventOutcome(
                event.uuid, "failed", f"gave up after {event.attempts} tries: {error}"
            )
        log.warning(
            "event %s (%s) will be retried in %.0f s: %s",
            event.uuid,
            event.event_type,
            delay,
            error,
        )
        return EventOutcome(event.uuid, "pending", error, now + timedelta(seconds=delay))

    def _wait_for_upstream(self, event: ClaimedEvent, error: str, retry_at: float) -> EventOutcome:
        """An outage, not this event's fault: back to pending, its try given back."""
        now = self.clock()
        when = max(datetime.fromtimestamp(retry_at, UTC), now) if retry_at else now
        return EventOutcome(event.uuid, "pending", error[:300], when, uncounted=True)

    def _okta_refused(self, event: ClaimedEvent, error: str) -> EventOutcome:
        now = self.clock()
        setting = okta_setting(self.settings)
        message = f"{setting} rejected: {error}"[:300]
        self.credentials.record(
            OKTA_AUTH, {"setting": setting, "error": error[:200], "message": message,
                        "at": iso(now)},
        )  # fmt: skip
        self.credentials.problem_reported()
        log.error("%s; event %s kept until it works again", message, event.uuid)
        return self._wait_for_upstream(event, error, now.timestamp() + 60)

    def process(self, event: ClaimedEvent) -> EventOutcome:
        """Run the event's handler; say what became of it (the caller records it).

        Each event stands alone: one that cannot be decoded or handled fails with its
        reason, and the rest of the batch goes on."""
        handler = self.handlers.get(event.event_type)
        if handler is None:
            return EventOutcome(event.uuid, "ignored")
        try:
            event.payload  # noqa: B018 - decode now, inside this event's own try
        except (ValueError, RecursionError, MemoryError) as exc:
            log.error("event %s cannot be decoded: %s", event.uuid, type(exc).__name__)
            return EventOutcome(event.uuid, "failed", f"stored body unusable: {type(exc).__name__}")
        backoff = min(30.0 * 2 ** (event.attempts - 1), 3600.0)
        try:
            status = handler(event)
        except RetryLater as exc:
            return self._retry(event, exc.delay, str(exc))
        except OktaAuthError as exc:
            return self._okta_refused(event, str(exc))
        except OktaUnavailable as exc:
            return self._wait_for_upstream(event, str(exc), exc.retry_at)
        except SlackAuthError as exc:
            now = self.clock()
            self.credentials.record(
                SLACK_AUTH, {"setting": exc.setting, "error": exc.code,
                             "message": f"{exc.setting} rejected: {exc.code}",
                             "at": iso(now)},
            )  # fmt: skip
            self.credentials.problem_reported()
            return self._wait_for_upstream(event, exc.code, now.timestamp() + 60)
        except SlackTransientError as exc:
            return self._wait_for_upstream(event, f"slack: {exc}", self.clock().timestamp() + 60)
        except sqlite3.OperationalError as exc:
            return self._retry(event, backoff, f"database: {exc}")
        except (OktaError, ValueError) as exc:
            log.error("event %s (%s) failed: %s", event.uuid, event.event_type, exc)
            return EventOutcome(event.uuid, "failed", str(exc))
        except Exception as exc:
            log.exception("event %s (%s): unexpected error", event.uuid, event.event_type)
            return self._retry(event, backoff, f"{type(exc).__name__}: {exc}")
        return EventOutcome(event.uuid, status)

    def run_batch(self, limit: int) -> bool:
        """Claim up to ``limit`` due events, handle each, record what became of them."""
        store = self.store
        events = store.inbox.claim(self.clock(), limit)
        outcomes = []
        for event in events:
            if self.credentials_refused():  # refused mid-batch: the rest waits, untouched
                outcomes.append(self._wait_for_upstream(event, "credentials refused", 0.0))
                continue
            token = EVENT_ID.set(event.uuid)  # every line logged for it names it
            try:
                outcomes.append(self.process(event))
            finally:
                EVENT_ID.reset(token)
        # Outcomes are recorded together: one write per batch, not per event, keeps the
        # write lock free for the hook endpoint during an event storm. A crash before
        # this just means the batch is handled again (handlers are idempotent).
        if outcomes:
            store.inbox.record_outcomes(outcomes, self.clock())
        return bool(events)

    def credentials_refused(self) -> bool:
        """Events wait while Okta or Slack refuses our credentials: handling them needs
        both (a launch reads Okta, then looks people up in Slack)."""
        store = self.store
        return bool(store.state.get(OKTA_AUTH) or store.state.get(SLACK_AUTH))
