"""Pacing Slack calls: one rate per method for every thread of the process, and the
SDK's retry handlers wired so a 429's ``Retry-After`` pauses everyone.

The SDK's own handlers do the retrying (429 with ``Retry-After``, 500/503, connection
resets); ``RateGate`` makes the pause shared instead of each thread discovering the
limit on its own.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Mapping

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

__all__ = ["RateGate", "build_web_client"]


class RateGate:
    """Paces Slack calls per method, for every thread of the process at once.

    Two things hold a call back: the method's pace (``calls_per_minute``: a token
    bucket holding ten seconds' worth of calls, so a handful go at once and a
    fan-out settles at Slack's tier instead of bursting into 429s) and a pause
    (after a 429, *everyone* waits ``Retry-After``, not just the caller).

    Slack does not publish the workspace-wide posting limit, so the pace adapts:
    a 429 lowers the method's rate by 15% (once per pause: the other calls already
    in flight when it came are the same event), and every 50 calls without one raise
    it by 5%, never above the configured rate. A fan-out then runs just under the
    real limit with few 429s.
    """

    BURST_SECONDS = 10.0
    BACK_OFF = 0.85
    RECOVER_EVERY, RECOVER_BY = 50, 1.05

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        calls_per_minute: Mapping[str, float] | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._ceiling = {m: r for m, r in (calls_per_minute or {}).items() if r > 0}
        self.rate = dict(self._ceiling)  # current calls per minute, per method
        self._ok_calls: dict[str, int] = {}
        self._interval = {m: 60.0 / r for m, r in self.rate.items()}
        self._burst = {
            m: max(1.0, self.BURST_SECONDS / i) * i for m, i in self._interval.items()
        }  # in seconds of pace
        self._until: dict[str, float] = {}  # paused until (after a 429)
        # The bucket as a "virtual time": the next slot is free at _next; up to a burst's
        # worth of slots may be taken ahead of now.
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def pause(self, method: str, seconds: float) -> None:
        with self._lock:
            already_paused = self._until.get(method, 0.0) > self._clock()
            until = max(self._until.get(method, 0.0), self._clock() + seconds)
            self._until[method] = until
            # After a 429 the bucket starts empty: no burst straight into the next 429.
            self._next[method] = max(self._next.get(method, 0.0), until)
            if method in self.rate and not already_paused:
                slower = max(self._ceiling[method] / 10, self.rate[method] * self.BACK_OFF)
                self._set_rate(method, slower)

    def _set_rate(self, method: str, rate: float) -> None:
        self.rate[method] = rate
        self._interval[method] = 60.0 / rate
        self._ok_calls[method] = 0

    def _count_ok(self, method: str) -> None:
        if method not in self.rate or self.rate[method] >= self._ceiling[method]:
            return
        self._ok_calls[method] = self._ok_calls.get(method, 0) + 1
        if self._ok_calls[method] >= self.RECOVER_EVERY:
            self._set_rate(method, min(self._ceiling[method], self.rate[method] * self.RECOVER_BY))

    def acquire(self, method: str) -> None:
        """Wait for this method's next slot (and for any pause) before a call."""
        while True:
            with self._lock:
                now = self._clock()
                slot = max(self._next.get(method, 0.0), now - self._burst.get(method, 0.0))
                start = max(now, self._until.get(method, 0.0), slot)
                if start - now <= 0.001:  # below clock resolution: go (and no busy loop)
                    self._next[method] = slot + self._interval.get(method, 0.0)
                    self._count_ok(method)
                    return
                if self._until.get(method, 0.0) < start:
                    # Only the pace holds us back: take the slot now, then sleep to it.
                    self._next[method] = start + self._interval.get(method, 0.0)
                    self._count_ok(method)
                    reserved = True
                else:
                    reserved = False  # paused: look again when the pause ends
            self._sleep(start - now)
            if reserved:
                return


def _method_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


class SharedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """The SDK's 429 handler, but the ``Retry-After`` pause is shared (``RateGate``)."""

    def __init__(self, gate: RateGate, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.gate = gate

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # pragma: no cover - the SDK only calls us with a 429 response
            raise error  # type: ignore[misc]
        retry_after = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                with contextlib.suppress(ValueError):
                    retry_after = float(values[0])
        # A little jitter so parallel senders don't all return in the same instant.
        method = _method_of(request.url)
        self.gate.pause(method, retry_after + random.random() * 0.2)  # noqa: S311
        self.gate.acquire(method)
        state.next_attempt_requested = True
        state.increment_current_attempt()


class ProportionalJitter(Jitter):
    """Up to half the pause again, at random. The SDK's own jitter adds up to a whole
    second whatever the pause, which makes a short backoff setting meaningless."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random() / 2)  # noqa: S311 - jitter, not crypto


def build_web_client(
    token: str,
    base_url: str,
    timeout: float,
    max_retries: int,
    gate: RateGate,
    backoff: float = 0.5,
) -> WebClient:
    # The SDK's own backoff between retries of one call (0.5 s, 1 s, 2 s... plus jitter).
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff, jitter=ProportionalJitter())
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=int(max(1, round(timeout))),
        retry_handlers=[
            SharedRateLimitRetryHandler(gate, max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
            ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        ],
    )
