"""``GET /governance/api/v1/reviews``: the review list, filtered and a page at a time.

As the recorded pages show: ``filter`` takes ``prop eq "value"`` terms joined by ``and`` (an
org may refuse combined filters: ``combined_filter_supported=False``), ``limit`` is 1 to 200
(default 20), ``orderBy=created asc`` is the only order, and ``after`` is the id of the last
review of the previous page. The next page's href, on the ``-admin`` host, is in
``_links.next`` or, if asked, in a ``Link`` header.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from fakes.httpserver import Request, Response
from fakes.okta.data import REVIEWS, link
from fakes.okta.responses import ERROR_400_FILTER, error, json_response

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "ListKey", "list_reviews", "parse_filter"]

# Page sizes of the Governance API (campaigns are listed with the same bounds).
DEFAULT_LIMIT = 20
MAX_LIMIT = 200

# A review's place in list order: (created, insertion seq, id). Lists of them are kept sorted.
ListKey = tuple[str, int, str]

# filter = `prop eq "value"` terms joined by AND (any case). Values cannot contain quotes, so
# once the whole string is validated, findall picks the terms out unambiguously.
_TERM = r'(\w+)\s+eq\s+"([^"]*)"'
_FILTER = re.compile(rf"\s*{_TERM}(?:\s+and\s+{_TERM})*\s*", re.IGNORECASE)
_FILTER_TERM = re.compile(_TERM, re.IGNORECASE)
_FILTER_PROPS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "campaignId": lambda r: r.get("campaignId"),
    "decision": lambda r: r.get("decision"),
    "reviewerId": lambda r: (r.get("reviewerProfile") or {}).get("id"),
    "reviewerType": lambda r: r.get("reviewerType"),
}


def list_reviews(
    request: Request,
    reviews: dict[str, dict[str, Any]],
    order: dict[str, list[ListKey]],
    keys: dict[str, ListKey],
    *,
    admin_url: str,
    combined_filter_supported: bool,
    link_header: bool,
) -> Response:
    """One page of reviews (caller holds the lock).

    ``reviews`` maps id to review, ``order`` each campaign id to its reviews' sorted list keys,
    and ``keys`` each review id to its list key.
    """
    filter_text = request.param("filter")
    terms = parse_filter(filter_text) if filter_text else None
    if terms is None or (len(terms) > 1 and not combined_filter_supported):
        return json_response(400, ERROR_400_FILTER)
    limit_text = request.param("limit") or str(DEFAULT_LIMIT)
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        cause = {"errorSummary": f"limit: must be between 1 and {MAX_LIMIT}"}
        return json_response(400, error("E0000001", "Api validation failed: limit", [cause]))
    limit = int(limit_text)
    order_by = request.param("orderBy") or "created asc"
    if order_by != "created asc":  # the only order the fake implements
        return json_response(400, error("E0000001", "Api validation failed: orderBy"))
    after = request.param("after")

    campaign_ids = {value for prop, value in terms if prop == "campaignId"}
    lists = [order.get(c, []) for c in campaign_ids] or list(order.values())
    entries = lists[0] if len(lists) == 1 else sorted(itertools.chain.from_iterable(lists))
    start = 0
    if after:
        # Resume after the cursor review's position, so a page stays correct even if that
        # review stopped matching the filter (decided between two pages).
        key = keys.get(after)
        if key is None:
            return json_response(400, error("E0000001", "Api validation failed: after"))
        start = bisect.bisect_right(entries, key)
    page: list[dict[str, Any]] = []
    more = False
    for i in range(start, len(entries)):
        candidate = reviews[entries[i][2]]
        if all(_FILTER_PROPS[prop](candidate) == value for prop, value in terms):
            if len(page) == limit:
                more = True
                break
            page.append(candidate)

    query = {"filter": filter_text, "limit": str(limit), "orderBy": order_by}
    links = {"self": link(_reviews_href(admin_url, after=after, **query))}
    headers: dict[str, str] = {}
    if more:
        next_href = _reviews_href(admin_url, after=page[-1]["id"], **query)
        if link_header:
            headers["Link"] = f'<{next_href}>; rel="next"'
        else:
            links["next"] = link(next_href)
    return json_response(200, {"data": page, "_links": links}, headers)


def parse_filter(text: str) -> list[tuple[str, str]] | None:
    """The (property, value) terms of a supported filter, or None if it is not one."""
    if not _FILTER.fullmatch(text):
        return None
    terms = _FILTER_TERM.findall(text)
    return terms if all(prop in _FILTER_PROPS for prop, _ in terms) else None


def _reviews_href(admin_url: str, **params: str | None) -> str:
    # Parameters in alphabetical order, %20 for spaces and %22 for quotes: as in the samples.
    items = sorted((k, v) for k, v in params.items() if v is not None)
    return f"{admin_url}{REVIEWS}?{urlencode(items, quote_via=quote, safe='')}"
