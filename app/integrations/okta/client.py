"""The Okta Identity Governance API calls certnotify makes: campaigns, reviews, and
certification events from the System Log.

* ids are checked (``[A-Za-z0-9]+``) before they reach a URL path or a filter;
* pages stream (generators), so a 50,000-review campaign never sits in memory;
* the ``next`` link names the ``-admin`` host: only its cursor is kept, and the request
  goes to the configured org, so the token never goes anywhere else; a cursor that
  repeats, or paging that never ends, stops with a clear error.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import httpx

from app.integrations.okta.errors import OktaError, OktaFilterRejected
from app.integrations.okta.transport import OktaTransport
from app.models import is_okta_id

__all__ = ["OktaClient", "campaign_filter", "next_cursor_params"]

log = logging.getLogger(__name__)

REVIEWS_PATH = "/governance/api/v1/reviews"
CAMPAIGNS_PATH = "/governance/api/v1/campaigns"
LOGS_PATH = "/api/v1/logs"
PAGE_SIZE = 200  # the API's maximum
LOG_PAGE_SIZE = 1000  # the System Log's maximum
# A campaign with more pages than this (a million reviews) is a paging loop, not a campaign.
MAX_PAGES = 5000
_LINK_NEXT = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")


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


class OktaClient(OktaTransport):
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
        super().__init__(
            http,
            max_retries=max_retries,
            max_rate_limit_wait=max_rate_limit_wait,
            backoff=backoff,
            sleep=sleep,
            clock=clock,
        )
        self.page_size = page_size
        self.max_pages = max_pages
        # Once Okta rejects "campaignId eq … AND decision eq …", filter decisions here
        # for the rest of this client's life instead of paying a 400 per campaign.
        self.combined_filter_ok = True

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

    def log_events(
        self, since: str, until: str, event_types: Iterable[str]
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
