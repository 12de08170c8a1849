"""Sends what the delivery ledger says is pending, exactly once where humanly possible.

A message is first *planned* (a ledger row, unique per campaign, recipient, kind
and milestone), then *claimed* with a lease, posted, and marked sent with
Slack's channel and ts. If the process dies between posting and marking, the
lease expires and the message is sent again: at most one duplicate, and only
for a message that was in flight. Losing a message would be worse.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta

from app.slack import (
    Posted,
    SlackAuthError,
    SlackPermanentError,
    SlackSender,
    SlackTransientError,
)
from app.store import ClaimedDelivery, DeliveryScope, Store
from app.timeutil import Clock, iso

__all__ = ["DrainResult", "Outbox"]

log = logging.getLogger(__name__)


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    auth_error: str = ""
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainResult) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.retrying += other.retrying
        self.auth_error = other.auth_error or self.auth_error
        self.errors.extend(other.errors)


class Outbox:
    def __init__(
        self,
        store: Store,
        slack: SlackSender,
        clock: Clock,
        *,
        lease_seconds: float = 120.0,
        max_attempts: int = 8,
        batch_size: int = 50,
        concurrency: int = 1,
    ) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.concurrency = concurrency

    def _retry_delay(self, attempts: int, hint: float) -> float:
        return max(hint, min(2.0**attempts, 600.0))

    def _settle(
        self, item: ClaimedDelivery, outcome: Posted | Exception, result: DrainResult
    ) -> None:
        now = self.clock()
        if isinstance(outcome, Posted):
            self.store.mark_sent(item.id, outcome.channel, outcome.ts, now)
            result.sent += 1
            return
        if isinstance(outcome, SlackAuthError):
            # Not this message's fault: put it back untouched and stop sending.
            self.store.mark_retry(
                item.id, outcome.code, now + timedelta(seconds=60), count_attempt=False
            )
            self.store.set_state("slack_auth_error", {"error": outcome.code, "at": iso(now)}, now)
            result.auth_error = outcome.code
            return
        if isinstance(outcome, SlackPermanentError):
            self.store.mark_failed(item.id, outcome.code, now)
            result.failed += 1
            result.errors.append(outcome.code)
            log.warning(
                "delivery %d to %s failed for good: %s", item.id, item.recipient, outcome.code
            )
            return
        code = outcome.code if isinstance(outcome, SlackTransientError) else type(outcome).__name__
        hint = outcome.retry_after if isinstance(outcome, SlackTransientError) else 0.0
        if item.attempts >= self.max_attempts:
            self.store.mark_failed(item.id, f"{code} (gave up after {item.attempts} tries)", now)
            result.failed += 1
            result.errors.append(code)
            return
        delay = self._retry_delay(item.attempts, hint)
        self.store.mark_retry(item.id, code, now + timedelta(seconds=delay))
        result.retrying += 1

    def _send(self, item: ClaimedDelivery) -> Posted | Exception:
        try:
            return self.slack.post(item.slack_user_id, item.text, item.blocks)
        except Exception as exc:  # sorted by _settle; nothing may escape a sender thread
            return exc

    def drain(
        self, scopes: Sequence[DeliveryScope] | None = None, *, max_batches: int | None = None
    ) -> DrainResult:
        """Send what is due now, batch by batch. Stops early on a broken Slack token."""
        result = DrainResult()
        batches = 0
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            while max_batches is None or batches < max_batches:
                # Claim no more than can be in flight at once: a crash then risks
                # duplicating only those few messages.
                claimed = self.store.claim_deliveries(
                    self.clock(), self.lease_seconds, self.batch_size, scopes
                )
                if not claimed:
                    break
                batches += 1
                if self.concurrency == 1:
                    for item in claimed:
                        if result.auth_error:
                            self.store.mark_retry(
                                item.id, result.auth_error, self.clock(), count_attempt=False
                            )
                            continue
                        self._settle(item, self._send(item), result)
                else:
                    futures: dict[Future[Posted | Exception], ClaimedDelivery] = {
                        pool.submit(self._send, item): item for item in claimed
                    }
                    for future in as_completed(futures):
                        self._settle(futures[future], future.result(), result)
                if result.auth_error:
                    log.error("slack rejected our token (%s); sending paused", result.auth_error)
                    break
        return result

    def settle(
        self,
        scopes: Sequence[DeliveryScope],
        *,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 3600.0,
        stop: threading.Event | None = None,
        send: bool = True,
    ) -> DrainResult:
        """Drain ``scopes`` until each of their messages is sent or has failed for good.

        Rows another process is sending count as unsettled until it marks them, so
        this polls at least once a second. ``stop`` (worker shutdown) ends the wait
        early; whatever is left is sent later by whoever runs next. ``send=False``
        only waits: inside the worker, its main loop is the one sender, so a crash
        leaves at most one message in flight.
        """
        total = DrainResult()
        deadline = time.monotonic() + timeout
        while True:
            if send:
                total.add(self.drain(scopes))
            else:
                problem = self.store.state("slack_auth_error")
                if isinstance(problem, dict):  # the sender stopped: waiting is pointless
                    total.auth_error = str(problem.get("error") or "slack auth error")
            if total.auth_error or not self.store.unsettled(scopes):
                return total
            if stop is not None and stop.is_set():
                total.errors.append("stopped before every message was settled")
                return total
            due = self.store.next_due_delivery(scopes)
            wait = 1.0 if due is None else due - self.clock().timestamp()
            if time.monotonic() + max(wait, 0) > deadline:
                total.errors.append("timed out waiting for deliveries to settle")
                return total
            sleep(min(max(wait, 0.05), 1.0))
