"""Sending a request to Okta: authentication, retries, rate limits and outages.

One long-lived ``httpx.Client`` carries the org base URL, the timeout and the auth
(``SSWSAuth``, or ``PrivateKeyJWTAuth`` from app.integrations.okta.oauth). On top:

* 429 waits until ``X-Rate-Limit-Reset`` (+1 s, capped), and a response that says
  ``Remaining: 0`` makes the next call wait instead of earning a 429;
* 5xx, timeouts and connection errors are retried with exponential backoff;
* an outage (no answer, 429, 502/503/504 after the retries) opens a circuit: every call
  fails at once until a growing wait is over, then one plain request probes.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Generator
from urllib.parse import quote

import httpx

from app.integrations.okta.errors import (
    OktaAuthError,
    OktaError,
    OktaFilterRejected,
    OktaNotFound,
    OktaUnavailable,
    error_from,
    transport_problem,
)

__all__ = ["OktaTransport", "SSWSAuth", "build_http_client"]

log = logging.getLogger(__name__)

OUTAGE_BACKOFF_FIRST = 30.0
OUTAGE_BACKOFF_MAX = 900.0
# What says "Okta is down or throttling us" (all calls wait): no answer at all (None),
# 429, and the gateway/unavailable 5xx. A plain 500 is about the one request.
CIRCUIT_STATUSES = {None, 429, 502, 503, 504}
RESOURCE_RETRY_SECONDS = 300.0


class SSWSAuth(httpx.Auth):
    """``Authorization: SSWS <token>``: Okta's API-token scheme."""

    def __init__(self, token: str) -> None:
        self._header = f"SSWS {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:  # never show the token
        return "SSWSAuth(<redacted>)"


def build_http_client(
    org_url: str,
    auth: httpx.Auth,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    return httpx.Client(
        base_url=org_url,
        auth=auth,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        # A redirect could carry the token to another host; Okta's API never redirects.
        follow_redirects=False,
        headers={"Accept": "application/json", "User-Agent": "certnotify/0.1"},
        transport=transport,
    )


class OktaTransport:
    def __init__(
        self,
        http: httpx.Client,
        *,
        max_retries: int = 4,
        max_rate_limit_wait: float = 65.0,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0  # set when Okta says the window is used up
        # Outage circuit: after OktaUnavailable, calls fail at once until _down_until.
        self._down_until = 0.0
        self._outage_backoff = 0.0
        self.outage: str = ""  # the last outage's error, "" while Okta answers

    def close(self) -> None:
        self.http.close()

    @property
    def down_until(self) -> float:
        """Epoch seconds until which calls fail at once (0 while Okta answers)."""
        return self._down_until if self.outage else 0.0

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    def _rate_limit_wait(self, response: httpx.Response) -> float:
        """Seconds until X-Rate-Limit-Reset (+1), capped; Okta sends no Retry-After."""
        try:
            reset = float(response.headers["x-rate-limit-reset"])
        except (KeyError, ValueError):
            return min(5.0, self.max_rate_limit_wait)
        wait = reset - self._clock() + 1.0
        # Concurrent-request limits report Limit 0: their Reset is only a hint.
        if response.headers.get("x-rate-limit-limit") == "0":
            wait = min(wait, 5.0)
        return max(1.0, min(wait, self.max_rate_limit_wait))

    def _note_remaining(self, response: httpx.Response) -> None:
        if response.headers.get("x-rate-limit-remaining") == "0":
            try:
                reset = float(response.headers["x-rate-limit-reset"])
            except (KeyError, ValueError):
                return
            self._not_before = min(reset + 1.0, self._clock() + self.max_rate_limit_wait)

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None,
        *,
        retries: int | None = None,
        circuit: bool = True,
    ) -> httpx.Response:
        if circuit and self.outage and self._clock() < self._down_until:
            raise OktaUnavailable(
                f"{self.outage} (waiting until {_hhmmss(self._down_until)} before trying again)",
                retry_at=self._down_until,
            )
        if retries is None:
            # Half-open: after an outage, one plain request tells whether Okta is back.
            retries = 0 if circuit and self.outage else self.max_retries
        try:
            response = self._send_with_retries(method, path, params, retries)
        except OktaUnavailable as exc:
            if circuit and exc.status in CIRCUIT_STATUSES:
                self._open_circuit(str(exc))
                exc.retry_at = self._down_until
            elif not exc.retry_at:
                # One resource failing (a 500 on one campaign) is no outage of Okta:
                # the others go on, and this one is tried again in a while.
                exc.retry_at = self._clock() + RESOURCE_RETRY_SECONDS
            raise
        if circuit:
            self.answered()
        return response

    def answered(self) -> None:
        """Okta answered: the outage (if any) is over."""
        if self.outage:
            log.info("okta answers again after: %s", self.outage)
        self.outage, self._outage_backoff, self._down_until = "", 0.0, 0.0

    def unreachable(self, error: str) -> None:
        """Okta could not be reached (by a probe): calls wait, as after a failed call."""
        if not self.outage or self._clock() >= self._down_until:
            self._open_circuit(error)

    def _open_circuit(self, error: str) -> None:
        self._outage_backoff = min(
            OUTAGE_BACKOFF_MAX, max(OUTAGE_BACKOFF_FIRST, self._outage_backoff * 2)
        )
        self._down_until = self._clock() + self._outage_backoff
        self.outage = error
        log.warning("okta unavailable: %s; next try in %.0f s", error, self._outage_backoff)

    def _send_with_retries(
        self, method: str, path: str, params: dict[str, str] | None, max_retries: int
    ) -> httpx.Response:
        # Encode spaces as %20 and quotes as %22, like Okta's own links.
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in (params or {}).items())
        url = f"{path}?{query}" if query else path
        attempt = 0
        while True:
            self._wait(self._not_before - self._clock())
            attempt += 1
            try:
                response = self.http.request(method, url)
            except httpx.TransportError as exc:
                if attempt > max_retries:
                    raise OktaUnavailable(transport_problem(self.http.base_url, exc)) from None
                self._wait(self._backoff(attempt))
                continue
            status = response.status_code
            if status < 400:
                self._note_remaining(response)
                return response
            code, summary = error_from(response)
            what = f"okta {method} {path}: HTTP {status} {code} {summary}".strip()
            if status == 429:
                if attempt > max_retries:
                    raise OktaUnavailable(what, status=status, code=code)
                wait = self._rate_limit_wait(response)
                log.warning("okta rate limit on %s; waiting %.1f s", path, wait)
                self._wait(wait)
                continue
            if status >= 500:
                if attempt > max_retries:
                    raise OktaUnavailable(what, status=status, code=code)
                self._wait(self._backoff(attempt))
                continue
            if status in (401, 403):
                raise OktaAuthError(what, status=status, code=code)
            if status == 404:
                raise OktaNotFound(what, status=status, code=code)
            if status == 400 and code == "E0000053":
                raise OktaFilterRejected(what, status=status, code=code)
            raise OktaError(what, status=status, code=code)

    def _backoff(self, attempt: int) -> float:
        base = self.backoff * (2 ** (attempt - 1))
        return float(min(base, 30.0) * (0.5 + random.random() / 2))  # noqa: S311 - jitter


def _hhmmss(epoch: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))
