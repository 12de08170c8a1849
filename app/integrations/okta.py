"""Okta Identity Governance API client (campaigns and reviews).

One long-lived ``httpx.Client`` carries the org base URL, the timeout and the
auth; this class adds what the API needs on top:

* ids are checked (``[A-Za-z0-9]+``) before they reach a URL path or a filter;
* review pages stream (a generator), so a 50,000-review campaign never sits in
  memory;
* the ``next`` link names the ``-admin`` host: only its query is kept, and the
  request goes to the configured org, so the token never goes anywhere else;
* 429 waits until ``X-Rate-Limit-Reset`` (+1 s, capped), and a response that
  says ``Remaining: 0`` makes the next call wait instead of earning a 429;
* 5xx, timeouts and connection errors are retried with exponential backoff.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from app.models import is_okta_id

__all__ = [
    "OktaAuthError",
    "OktaClient",
    "OktaError",
    "OktaFilterRejected",
    "OktaNotFound",
    "OktaUnavailable",
    "SSWSAuth",
    "build_http_client",
]

log = logging.getLogger(__name__)

REVIEWS_PATH = "/governance/api/v1/reviews"
CAMPAIGNS_PATH = "/governance/api/v1/campaigns"
LOGS_PATH = "/api/v1/logs"
PAGE_SIZE = 200  # the API's maximum
LOG_PAGE_SIZE = 1000  # the System Log's maximum
# A campaign with more pages than this (a million reviews) is a paging loop, not a campaign.
MAX_PAGES = 5000
# After an outage, calls wait this long before trying again, doubling up to the cap:
# one probe per wait, however many events are queued behind it.
OUTAGE_BACKOFF_FIRST = 30.0
OUTAGE_BACKOFF_MAX = 900.0
# What says "Okta is down or throttling us" (all calls wait): no answer at all (None),
# 429, and the gateway/unavailable 5xx. A plain 500 is about the one request.
CIRCUIT_STATUSES = {None, 429, 502, 503, 504}
RESOURCE_RETRY_SECONDS = 300.0
_LINK_NEXT = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")


class OktaError(Exception):
    """An Okta API failure. ``permanent`` ones are not worth retrying."""

    permanent = True

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class OktaAuthError(OktaError):
    """401/403: the token or the app's scopes are wrong. Nothing will work until fixed."""


class OktaNotFound(OktaError):
    pass


class OktaFilterRejected(OktaError):
    """400 E0000053: the server does not accept this ``filter`` expression."""


class OktaUnavailable(OktaError):
    """5xx, timeouts, connection errors or rate limits that outlasted our retries.

    Not the work's fault: whatever needed Okta waits (``retry_at``, epoch seconds) and
    keeps its tries."""

    permanent = False

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", retry_at: float = 0.0
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_at = retry_at


class SSWSAuth(httpx.Auth):
    """``Authorization: SSWS <token>``: Okta's API-token scheme."""

    def __init__(self, token: str) -> None:
        self._header = f"SSWS {token}"

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
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


def _error_from(response: httpx.Response) -> tuple[str, str]:
    """(errorCode, a one-line summary) from an Okta error body, tolerating anything."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("errorCode") or "")[:20]
    summary = str(body.get("errorSummary") or response.reason_phrase or "error")[:200]
    causes = body.get("errorCauses")
    if isinstance(causes, list) and causes and isinstance(causes[0], dict):
        cause = causes[0].get("errorSummary")
        if cause:
            summary += f" ({str(cause)[:120]})"
    error_id = str(body.get("errorId") or "")[:40]
    if error_id:
        summary += f" [errorId {error_id}]"
    return code, summary


def next_cursor_params(response: httpx.Response, body: Any) -> dict[str, str] | None:
    """The query of the ``next`` link (body ``_links.next.href``, else a ``Link`` header).

    The host of that link is deliberately ignored: it names the ``-admin`` host.
    """
    href = None
    if isinstance(body, dict):
        links = body.get("_links")
        nxt = links.get("next") if isinstance(links, dict) else None
        if isinstance(nxt, dict) and isinstance(nxt.get("href"), str):
            href = nxt["href"]
    if href is None:
        match = _LINK_NEXT.search(response.headers.get("link", ""))
        href = match.group(1) if match else None
    if not href:
        return None
    params = dict(httpx.URL(href).params.multi_items())
    if not params.get("after"):
        return None  # a next link without a cursor would loop forever
    return params


def campaign_filter(campaign_id: str, decision: str | None = None) -> str:
    expr = f'campaignId eq "{campaign_id}"'
    if decision:
        expr += f' AND decision eq "{decision}"'
    return expr


class OktaClient:
    def __init__(
        self,
        http: httpx.Client,
        *,
        max_retries: int = 4,
        max_rate_limit_wait: float = 65.0,
        backoff: float = 1.0,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.http = http
        self.max_retries = max_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        self.backoff = backoff
        self.page_size = page_size
        self.max_pages = max_pages
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0  # set when Okta says the window is used up
        # Once Okta rejects "campaignId eq … AND decision eq …", filter decisions here
        # for the rest of this client's life instead of paying a 400 per campaign.
        self.combined_filter_ok = True
        self.requests_sent = 0
        # Outage circuit: after OktaUnavailable, calls fail at once until _down_until.
        self._down_until = 0.0
        self._outage_backoff = 0.0
        self.outage: str = ""  # the last outage's error, "" while Okta answers

    def close(self) -> None:
        self.http.close()

    # -- API -----------------------------------------------------------------
    def get_campaign(self, campaign_id: str) -> dict[str, Any]:
        _require_id(campaign_id, "campaign id")
        return self._get_json(f"{CAMPAIGNS_PATH}/{campaign_id}")

    def get_review(self, review_id: str) -> dict[str, Any]:
        _require_id(review_id, "review id")
        return self._get_json(f"{REVIEWS_PATH}/{review_id}")

    def probe(self) -> None:
        """One cheap authenticated read (the credential check): raises on any failure.

        No retries and no outage circuit: it answers "does Okta take our credentials
        right now" in one request."""
        self._send("GET", CAMPAIGNS_PATH, {"limit": "1"}, retries=0, circuit=False)

    @property
    def down_until(self) -> float:
        """Epoch seconds until which calls fail at once (0 while Okta answers)."""
        return self._down_until if self.outage else 0.0

    def log_events(
        self, since: str, until: str, event_types: Iterator[str] | list[str]
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of System Log events of ``event_types`` published in [since, until).

        A bounded query (``until`` given): Okta omits the ``next`` link after the last
        page. An empty page also ends it (a polling-style answer never runs out of
        ``next`` links)."""
        types = list(event_types)
        for name in types:
            if not re.fullmatch(r"[a-z][a-z0-9_.]{1,100}", name):
                raise ValueError(f"invalid event type {name!r}")
        expr = " or ".join(f'eventType eq "{name}"' for name in types)
        base = {
            "filter": expr,
            "since": since,
            "until": until,
            "limit": str(LOG_PAGE_SIZE),
            "sortOrder": "ASCENDING",
        }
        for response, body in self._paged(LOGS_PATH, base):
            if not isinstance(body, list):
                raise OktaError("system log response is not a list", status=response.status_code)
            events = [e for e in body if isinstance(e, dict)]
            if not events:
                return
            yield events

    def review_pages(
        self, campaign_id: str, *, decision: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield each page of the campaign's reviews (optionally one decision only).

        With ``decision``, the combined filter is tried first; if Okta rejects it
        (400 E0000053), the campaign filter alone is used and the decision is
        filtered here.
        """
        _require_id(campaign_id, "campaign id")
        if decision is not None and not re.fullmatch(r"[A-Z_]{1,40}", decision):
            raise ValueError("decision must be an upper-case Okta enum value")
        if decision is not None and not self.combined_filter_ok:
            yield from self._pages(campaign_filter(campaign_id), decision)
            return
        try:
            yield from self._pages(campaign_filter(campaign_id, decision), None)
        except OktaFilterRejected:
            if decision is None:
                raise
            log.info("okta rejected the combined reviews filter; filtering decisions locally")
            self.combined_filter_ok = False
            yield from self._pages(campaign_filter(campaign_id), decision)

    def _pages(self, filter_expr: str, local_decision: str | None) -> Iterator[list[dict]]:
        base = {"filter": filter_expr, "limit": str(self.page_size)}
        for response, body in self._paged(REVIEWS_PATH, base):
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise OktaError("reviews response has no data list", status=response.status_code)
            if local_decision is not None:
                data = [
                    r for r in data if isinstance(r, dict) and r.get("decision") == local_decision
                ]
            yield data

    def _paged(self, path: str, base: dict[str, str]) -> Iterator[tuple[httpx.Response, Any]]:
        """Follow ``next`` links (body or ``Link`` header) to the end, guarding against
        a link that repeats its cursor or never ends."""
        params = dict(base)
        seen: set[str] = set()
        for _ in range(self.max_pages):
            response = self._send("GET", path, params)
            body = _json(response)
            yield response, body
            cursor = next_cursor_params(response, body)
            if cursor is None:
                return
            after = cursor["after"]
            if after in seen:
                raise OktaError(
                    f"okta {path}: the next link repeats the cursor {after[:40]!r}; "
                    "stopped instead of reading the same page forever"
                )
            seen.add(after)
            # Keep our own query; take only the paging state from the link.
            params = {**base, "after": after}
        raise OktaError(f"okta {path}: more than {self.max_pages} pages; stopped (a paging loop?)")

    # -- transport -------------------------------------------------------------
    def _get_json(self, path: str) -> dict[str, Any]:
        body = _json(self._send("GET", path, None))
        if not isinstance(body, dict):
            raise OktaError(f"unexpected response body from {path}")
        return body

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
                self.requests_sent += 1
                response = self.http.request(method, url)
            except httpx.TransportError as exc:
                if attempt > max_retries:
                    raise OktaUnavailable(_transport_problem(self.http.base_url, exc)) from None
                self._wait(self._backoff(attempt))
                continue
            status = response.status_code
            if status < 400:
                self._note_remaining(response)
                return response
            code, summary = _error_from(response)
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
        return min(base, 30.0) * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto


def _hhmmss(epoch: float) -> str:
    return time.strftime("%H:%M:%S UTC", time.gmtime(epoch))


def _transport_problem(base_url: httpx.URL, exc: httpx.TransportError) -> str:
    """One line an operator can act on: which host, and what went wrong."""
    host = base_url.host or str(base_url)
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and (
        "Name or service not known" in reason
        or "nodename nor servname" in reason
        or "Temporary failure in name resolution" in reason
        or "No address associated" in reason
    ):
        reason = "the host name does not resolve (check OKTA_ORG_URL)"
    elif isinstance(exc, httpx.TimeoutException):
        reason = f"no answer in time ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError):
        reason = f"connection failed: {reason}"
    return f"cannot reach okta at {host}: {reason}"[:300]


def _require_id(value: str, what: str) -> None:
    if not is_okta_id(value):
        raise ValueError(f"invalid {what}: must be letters and digits only")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise OktaError(
            f"okta answered HTTP {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from None
