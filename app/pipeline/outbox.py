"""Sends what the message ledger says is pending, exactly once where humanly possible.

A message is first *planned* (a ledger row, unique per campaign, recipient, kind
and milestone), then *claimed* right before it is posted (only as many as are in
flight at once), posted, and marked sent with Slack's channel and ts. Only the
holder of the worker lock sends; if it dies between posting and marking, whoever
takes the lock next puts the row back and sends it again: at most one duplicate,
and only for a message that was in flight. Losing a message would be worse.

Slack being down, slow or rate limiting us, and our own token being refused, are
not a message's fault: the message goes back untouched (no try used up), sending
pauses with a growing backoff, and it resumes by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.db import Store
from app.integrations.slack import (
    Posted,
    SlackAuthError,
    SlackPermanentError,
    SlackSender,
    SlackTransientError,
)
from app.models import ClaimedMessage, MessageScope
from app.reminder_messages import digest_message
from app.timeutil import Clock, iso

__all__ = ["DrainResult", "Outbox"]

log = logging.getLogger(__name__)

# After a Slack outage, sending waits this long before trying again, doubling to the cap.
OUTAGE_BACKOFF_FIRST = 15.0
OUTAGE_BACKOFF_MAX = 900.0


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    auth_error: str = ""
    outage: str = ""  # Slack unreachable, 5xx or rate limited past the SDK's retries
    errors: list[str] = field(default_factory=list)

    def add(self, other: DrainResult) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.retrying += other.retrying
        self.auth_error = other.auth_error or self.auth_error
        self.outage = other.outage or self.outage
        self.errors.extend(other.errors)


class Outbox:
    def __init__(
        self,
        store: Store,
        slack: SlackSender,
        clock: Clock,
        *,
        max_attempts: int = 8,
        batch_size: int = 50,
        concurrency: int = 1,
    ) -> None:
        self.store = store
        self.slack = slack
        self.clock = clock
        self.max_attempts = max_attempts
        self.batch_size = batch_size
        self.concurrency = concurrency
        # Outage circuit (in this process): no post before paused_until (epoch seconds).
        self.paused_until = 0.0
        self.outage = ""
        self._backoff = 0.0

    def _open_circuit(self, error: str, hint: float) -> float:
        self._backoff = min(OUTAGE_BACKOFF_MAX, max(OUTAGE_BACKOFF_FIRST, self._backoff * 2))
        wait = max(self._backoff, hint)
        self.paused_until = self.clock().timestamp() + wait
        if not self.outage:
            log.warning("slack unavailable (%s); sending paused for %.0f s", error, wait)
        self.outage = error
        return self.paused_until

    def unreachable(self, error: str) -> None:
        """Slack could not be reached (by the credential check): sending waits too."""
        if self.clock().timestamp() >= self.paused_until:
            self._open_circuit(error, 0.0)

    def answered(self) -> None:
        self._close_circuit()

    def paused(self) -> bool:
        """Sending waits for Slack to come back (see ``unavailable``)."""
        return self.clock().timestamp() < self.paused_until

    def unavailable(self, error: SlackTransientError) -> float:
        """A Slack call met an outage or a rate limit past the SDK's retries: every
        sender (posts, live edits) waits. Returns until when (epoch seconds)."""
        return self._open_circuit(error.code, error.retry_after)

    def refused(self, error: SlackAuthError) -> None:
        """Slack refused our token (or the API URL is wrong): recorded for /healthz and
        ``status``; the worker sends nothing until the credential check passes again."""
        now = self.clock()
        message = (
            f"SLACK_BOT_TOKEN rejected: {error.code}"
            if error.setting == "SLACK_BOT_TOKEN"
            else f"{error.setting}: {error}"
        )
        self.store.state.set(
            "slack_auth_error",
            {"setting": error.setting, "error": error.code, "message": message, "at": iso(now)},
            now,
        )

    def _close_circuit(self) -> None:
        if self.outage:
            log.info("slack answers again after: %s", self.outage)
        self.outage, self._backoff, self.paused_until = "", 0.0, 0.0

    def _retry_delay(self, attempts: int, hint: float) -> float:
        return max(hint, min(2.0**attempts, 600.0))

    def _settle(
        self, item: ClaimedMessage, outcome: Posted | Exception, result: DrainResult
    ) -> None:
        now = self.clock()
        if isinstance(outcome, Posted):
            self.store.messages.mark_sent(item.ids, outcome.channel, outcome.ts, now)
            result.sent += 1
            self._close_circuit()
            return
        if isinstance(outcome, SlackAuthError):
            # Not this message's fault: put it back untouched and stop sending until the
            # credential check (app.pipeline.credentials) sees the token work again.
            self.store.messages.mark_retry(item.ids, outcome.code, now, count_attempt=False)
            self.refused(outcome)
            result.auth_error = outcome.code
            return
        if isinstance(outcome, SlackTransientError):
            # Slack is down, failing or rate limiting past the SDK's own retries: an
            # upstream outage. The message keeps its tries; everyone waits.
            until = self.unavailable(outcome)
            self.store.messages.mark_retry(
                item.ids, outcome.code, datetime.fromtimestamp(until, UTC), count_attempt=False
            )
            result.outage = outcome.code
            result.retrying += 1
            return
        if isinstance(outcome, SlackPermanentError):
            self.store.messages.mark_failed(item.ids, outcome.code, now)
            result.failed += 1
            result.errors.append(outcome.code)
            log.warning(
                "message %d to %s failed for good: %s", item.id, item.recipient, outcome.code
            )
            return
        # Anything else is unexpected (a bug, a malformed row): retried a few times.
        code = f"{type(outcome).__name__}: {outcome}"[:200]
        log.error("message %d to %s: unexpected error: %s", item.id, item.recipient, code)
        hint = 0.0
        if item.attempts >= self.max_attempts:
            self.store.messages.mark_failed(
                item.ids, f"{code} (gave up after {item.attempts} tries)", now
            )
            result.failed += 1
            result.errors.append(code)
            return
        delay = self._retry_delay(item.attempts, hint)
        self.store.messages.mark_retry(item.ids, code, now + timedelta(seconds=delay))
        result.retrying += 1

    def _send(self, item: ClaimedMessage) -> Posted | Exception:
        try:
            if item.group and item.digest:
                # Reminders due in several campaigns: one message lists them all.
                digest = digest_message(item.digest)
                return self.slack.post(item.slack_user_id, digest.text, digest.blocks)
            return self.slack.post(item.slack_user_id, item.text, item.blocks)
        except Exception as exc:  # sorted by _settle; nothing may escape a sender thread
            return exc

    def drain(
        self, scopes: Sequence[MessageScope] | None = None, *, limit: int | None = None
    ) -> DrainResult:
        """Send what is due now, at most ``limit`` messages (all when None).

        Claims only what goes in flight next (``concurrency`` rows), so no claim waits
        in a queue behind slow posts. Stops early when Slack refuses our token or is
        unavailable."""
        result = DrainResult()
        done = 0
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            while limit is None or done < limit:
                if self.clock().timestamp() < self.paused_until:
                    break
                take = self.concurrency if limit is None else min(self.concurrency, limit - done)
                claimed = self.store.messages.claim(self.clock(), take, scopes)
                if not claimed:
                    break
                done += len(claimed)
                if len(claimed) == 1:
                    self._settle(claimed[0], self._send(claimed[0]), result)
                else:
                    futures: dict[Future[Posted | Exception], ClaimedMessage] = {
                        pool.submit(self._send, item): item for item in claimed
                    }
                    for future in as_completed(futures):
                        self._settle(futures[future], future.result(), result)
                if result.auth_error:
                    log.error("slack rejected our token (%s); sending paused", result.auth_error)
                    break
                if result.outage:
                    break
        return result

    def settle(
        self,
        scopes: Sequence[MessageScope],
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
                problem = self.store.state.get("slack_auth_error")
                if isinstance(problem, dict):  # the sender stopped: waiting is pointless
                    total.auth_error = str(problem.get("message") or problem.get("error"))
            if total.auth_error or not self.store.messages.unsettled(scopes):
                return total
            if stop is not None and stop.is_set():
                total.errors.append("stopped before every message was settled")
                return total
            due = self.store.messages.next_due(scopes)
            wait = 1.0 if due is None else due - self.clock().timestamp()
            if time.monotonic() + max(wait, 0) > deadline:
                total.errors.append("timed out waiting for messages to settle")
                return total
            sleep(min(max(wait, 0.05), 1.0))
