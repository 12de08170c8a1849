"""The Okta API calls certnotify makes: campaigns and reviews (Identity Governance),
certification events from the System Log, and the directory reads around them (users and
their managers, group members, group names and app labels).

* ids are checked (``[A-Za-z0-9]+``) before they reach a URL path or a filter, and a
  login only goes into a path percent-encoded, after it looked like an email address;
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
from urllib.parse import quote

import httpx

from app.integrations.okta.errors import OktaError, OktaFilterRejected, OktaNotFound
from app.integrations.okta.transport import OktaTransport
from app.models import is_okta_id

__all__ = ["OktaClient", "campaign_filter", "next_cursor_params"]

log = logging.getLogger(__name__)

REVIEWS_PATH = "/governance/api/v1/reviews"
CAMPAIGNS_PATH = "/governance/api/v1/campaigns"
LOGS_PATH = "/api/v1/logs"
USERS_PATH = "/api/v1/users"
GROUPS_PATH = "/api/v1/groups"
APPS_PATH = "/api/v1/apps"
PAGE_SIZE = 200  # the API's maximum
LOG_PAGE_SIZE = 1000  # the System Log's maximum
# Okta's default for group members is 1000 "for historical reasons" and it recommends 200.
MEMBERS_PAGE_SIZE = 200
# A campaign with more pages than this (a million reviews) is a paging loop, not a campaign.
MAX_PAGES = 5000
_LINK_NEXT = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")
# A manager named by email or login: something@domain.tld, at most 100 characters (Okta's
# limit for both). No "/" (Okta documents that such a login can only be fetched by id),
# no whitespace, control character or backslash; the rest is percent-encoded into the path.
_LOGIN = re.compile(r"[^\s/\\@\x00-\x1f\x7f]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")  # an Okta profile attribute name


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

    # -- directory -------------------------------------------------------------
    def get_user(self, user_id: str) -> dict[str, Any]:
        """``GET /api/v1/users/{id}``: ``id``, ``status`` and ``profile`` (``email``,
        ``login``, names, and whatever manager attribute the org's profile has)."""
        _require_user_id(user_id)
        return self._get_json(f"{USERS_PATH}/{user_id}")

    def manager_of(self, user_id: str, attribute: str = "managerId") -> dict[str, Any] | None:
        """The user's manager, as a user, or None when the profile names none or the
        manager is gone (404).

        ``managerId`` holds an Okta user id. Any other attribute (``managerEmail``, or
        ``manager`` where the org keeps a login there) holds an email or login, which
        Okta accepts in place of the id. A value that is neither (Okta's own ``manager``
        attribute is a display name) cannot be looked up: None, with a warning. The
        manager may be inactive: its ``status`` is the caller's to check. A missing
        ``user_id`` (404) is an error, not "no manager".
        """
        if not _ATTRIBUTE.fullmatch(attribute):
            raise ValueError(f"invalid profile attribute name {attribute[:40]!r}")
        profile = self.get_user(user_id).get("profile")
        value = profile.get(attribute) if isinstance(profile, dict) else None
        if not isinstance(value, str) or not value.strip():
            return None
        value = value.strip()
        if attribute == "managerId":
            usable = is_okta_id(value) and value.lower() != "me"
            path = f"{USERS_PATH}/{value}"
        else:
            usable = len(value) <= 100 and _LOGIN.fullmatch(value) is not None
            path = f"{USERS_PATH}/{quote(value, safe='')}"
        if not usable:
            # The value itself stays out of the log: it is someone's personal data.
            log.warning(
                "okta user %s: profile.%s is not %s; no manager looked up",
                user_id,
                attribute,
                "a user id" if attribute == "managerId" else "an email or login",
            )
            return None
        return self._get_json_or_none(path)

    def group_members(self, group_id: str) -> Iterator[list[dict[str, Any]]]:
        """Pages of the group's member users (``GET /api/v1/groups/{id}/users``).

        Every member comes back, whatever its ``status``: only ACTIVE users are people
        to notify, and filtering is the caller's (a report may still want the others).
        The id is checked now, before the first page is asked for.
        """
        _require_id(group_id, "group id")
        return self._member_pages(f"{GROUPS_PATH}/{group_id}/users")

    def _member_pages(self, path: str) -> Iterator[list[dict[str, Any]]]:
        # The list is a JSON array: the next page is in the Link header only.
        for response, body in self._paged(path, {"limit": str(MEMBERS_PAGE_SIZE)}):
            if not isinstance(body, list):
                raise OktaError("group members response is not a list", status=response.status_code)
            yield [user for user in body if isinstance(user, dict)]

    def group_name(self, group_id: str) -> str:
        """``profile.name`` of the group, or "" when the group is gone (404)."""
        _require_id(group_id, "group id")
        group = self._get_json_or_none(f"{GROUPS_PATH}/{group_id}") or {}
        profile = group.get("profile")
        name = profile.get("name") if isinstance(profile, dict) else None
        return name if isinstance(name, str) else ""

    def app_label(self, app_id: str) -> str:
        """The app's ``label`` (what people see on their dashboard), or "" when the app
        is gone (404)."""
        _require_id(app_id, "app id")
        app = self._get_json_or_none(f"{APPS_PATH}/{app_id}") or {}
        label = app.get("label")
        return label if isinstance(label, str) else ""

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

    def _get_json_or_none(self, path: str) -> dict[str, Any] | None:
        """Like ``_get_json``, but None for a 404: the thing may have been deleted."""
        try:
            return self._get_json(path)
        except OktaNotFound:
            return None


def _require_id(value: str, what: str) -> None:
    if not is_okta_id(value):
        raise ValueError(f"invalid {what}: must be letters and digits only")


def _require_user_id(value: str) -> None:
    _require_id(value, "user id")
    # Okta reads /users/me as "the user the API token belongs to": never a person's id.
    if value.lower() == "me":
        raise ValueError("invalid user id: 'me' names the API token's own user")


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise OktaError(
            f"okta answered HTTP {response.status_code} with a body that is not JSON",
            status=response.status_code,
        ) from None
