"""A fake Okta Identity Governance API (campaigns and reviews) on real loopback sockets.

Used by tests, benchmarks and the no-credentials demo. It imitates what the recorded real
responses in ``tests/samples/`` show (see the README there):

* Two hosts over one in-memory org. Clients call the org host (``url``), but every ``_links``
  href names the ``-admin`` host (``admin_url``), as real Okta does. The admin host serves the
  same API; its requests are logged in ``admin_requests`` (and not in ``requests``), so a test
  can prove a client never sent its token to another host: ``assert fake.admin_requests == []``.
* ``GET /governance/api/v1/campaigns/{id}``, ``GET /governance/api/v1/reviews`` (filter, limit,
  ``after`` cursor, ``orderBy=created asc``) and ``GET /governance/api/v1/reviews/{id}``.
* The directory: users (by id or login), groups and their members, apps.
* SSWS or Bearer auth, ``X-Rate-Limit-*`` headers on every response, optional enforcement of a
  per-minute limit, and faults (errors, 429s, hangs) queued per path prefix.

This module holds the org's data and routes requests; the endpoints and behaviours with more
to them live beside it: ``reviews`` (the paged review list), ``directory`` (users, groups,
members, apps; ``people`` generates them), ``oauth`` (the token endpoint), ``logs`` (the
System Log), ``faults`` (injected faults and the rate-limit window) and ``responses`` (JSON
answers and Okta error bodies).
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

from fakes.httpserver import FakeHTTPServer, Request, Response
from fakes.okta.data import API, REVIEWS, generate, link, okta_id, timestamp
from fakes.okta.directory import Directory
from fakes.okta.faults import Fault, FaultQueue, RateWindow, fault_response
from fakes.okta.logs import LOGS, SystemLog
from fakes.okta.oauth import TOKEN_PATH, TokenEndpoint
from fakes.okta.people import app_record, generate_people
from fakes.okta.responses import ERROR_400_FILTER, ERROR_429, error, json_response, not_found
from fakes.okta.reviews import DEFAULT_LIMIT, MAX_LIMIT, ListKey, list_reviews

# The error bodies and Fault now live in faults/responses; they stay importable from here.
__all__ = ["ERROR_400_FILTER", "ERROR_429", "FakeOkta", "Fault"]

CAMPAIGNS = f"{API}/campaigns"
_REVIEW_PATH = re.compile(rf"{REVIEWS}/([^/]+)")
_CAMPAIGN_PATH = re.compile(rf"{API}/campaigns/([^/]+)")

SAMPLE_ADMIN_HOST = "https://acme-admin.okta.com"


class _AdminHost(FakeHTTPServer):
    """The ``-admin`` host: same API and data, its own port and request log."""

    def __init__(self, okta: FakeOkta) -> None:
        super().__init__()
        self._okta = okta

    def handle(self, request: Request) -> Response:
        return self._okta.handle(request)


class FakeOkta(FakeHTTPServer):
    """The org host (this server) plus an admin host, over one in-memory org."""

    def __init__(
        self,
        *,
        api_token: str = "test-okta-token",
        combined_filter_supported: bool = True,
        link_header: bool = False,
        rate_limit_per_minute: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.api_token = api_token
        self.combined_filter_supported = combined_filter_supported
        self.link_header = link_header  # next link in a Link header instead of the body
        self.rate_limit_per_minute = rate_limit_per_minute
        self.clock = clock
        self._admin = _AdminHost(self)
        self.admin_requests: list[Request] = self._admin.requests
        self._campaigns: dict[str, dict[str, Any]] = {}
        self._reviews: dict[str, dict[str, Any]] = {}
        # Per campaign, (created, seq, id) kept sorted: the list order, and what `after` resumes
        # from. Ties on `created` keep insertion order (seq): the recorded pages list reviews
        # created in the same second in neither id order nor any other visible order.
        self._order: dict[str, list[ListKey]] = {}
        self._keys: dict[str, ListKey] = {}
        self._seq = itertools.count()
        self._faults = FaultQueue()
        self.oauth = TokenEndpoint()
        self._window = RateWindow()
        self.rate_limited = 0  # 429 answers, enforced or injected
        self.system_log = SystemLog()
        self.directory = Directory()
        # An outage: every API call answers ``outage_status`` until this time (clock).
        self.outage_until = 0.0
        self.outage_status = 503

    # -- lifecycle -------------------------------------------------------------
    @property
    def url(self) -> str:
        return self.base_url

    @property
    def admin_url(self) -> str:
        return self._admin.base_url

    def start(self) -> Self:
        super().start()
        self._admin.start()
        return self

    def stop(self) -> None:
        self._admin.stop()
        super().stop()

    def __enter__(self) -> Self:
        return self.start()

    # -- data ------------------------------------------------------------------
    def add_campaign(self, campaign: dict[str, Any]) -> None:
        with self.lock:
            self._campaigns[campaign["id"]] = _copy(campaign)

    def add_review(self, review: dict[str, Any]) -> None:
        with self.lock:
            self._store_review(_copy(review))

    def add_user(self, user: dict[str, Any]) -> None:
        """An Okta user (``id``, ``status``, ``profile`` with ``login`` or ``email``…)."""
        with self.lock:
            self.directory.add_user(_copy(user))

    def add_group(self, group: dict[str, Any], members: Iterable[dict[str, Any]] = ()) -> None:
        """An Okta group (``id``, ``profile.name``…) and its member users, in list order."""
        with self.lock:
            self.directory.add_group(_copy(group), _copy(list(members)))

    def add_app(self, app_id: str, label: str) -> None:
        """An app whose ``label`` ``GET /api/v1/apps/{app_id}`` answers."""
        with self.lock:
            self.directory.add_app(app_record(app_id, label, created=self._now()))

    def load_samples(self, samples_dir: str | Path) -> None:
        """Load campaign-active.json and the reviews of reviews-page-1/2.json, in page order.

        Sample hrefs name acme-admin.okta.com; they are pointed at ``admin_url`` so that a
        client following one reaches this fake, never the internet.
        """
        directory = Path(samples_dir)

        def read(name: str) -> Any:
            text = (directory / name).read_text(encoding="utf-8")
            return json.loads(text.replace(SAMPLE_ADMIN_HOST, self.admin_url))

        self.add_campaign(read("campaign-active.json"))
        for page in ("reviews-page-1.json", "reviews-page-2.json"):
            for review in read(page)["data"]:
                self.add_review(review)

    def generate_campaign(
        self,
        *,
        campaign_id: str | None = None,
        name: str = "Generated Access Review",
        reviews: int = 300,
        reviewers: int = 100,
        group_reviews: int = 0,
        start: datetime | None = None,
        duration_days: int = 28,
        time_zone: str = "America/Los_Angeles",
        status: str = "ACTIVE",
        email_domain: str = "example.com",
        description: str = "Generated access review for tests, benchmarks and the demo.",
        managers: bool = False,
        group_members: int = 3,
    ) -> str:
        """Add a generated campaign (see ``fakes.okta.data.generate``) and the users, groups
        and apps behind it (``fakes.okta.people.generate_people``); return its id."""
        with self.lock:
            seed = f"{name}/{len(self._campaigns)}"
        campaign, generated = generate(
            campaign_id=campaign_id or okta_id("ici", random.Random(seed)),
            admin=self.admin_url,
            name=name,
            reviews=reviews,
            reviewers=reviewers,
            group_reviews=group_reviews,
            start=start,
            duration_days=duration_days,
            time_zone=time_zone,
            status=status,
            email_domain=email_domain,
            description=description,
        )
        people = generate_people(
            campaign,
            generated,
            admin=self.admin_url,
            email_domain=email_domain,
            managers=managers,
            group_members=group_members,
        )
        # Profiles and link dicts are shared between generated reviews (fast, small); that is
        # safe because the fake only ever replaces them, never edits them in place.
        with self.lock:
            self._campaigns[campaign["id"]] = campaign
            for review in generated:
                self._store_review(review)
            self.directory.add_people(people)
        return str(campaign["id"])

    def reviews_of(self, campaign_id: str) -> list[dict[str, Any]]:
        """Copies of the campaign's reviews, in list order."""
        with self.lock:
            return _copy([self._reviews[rid] for *_, rid in self._order.get(campaign_id, [])])

    def reviewers_of(self, campaign_id: str) -> list[dict[str, Any]]:
        """The campaign's unique reviewerProfile dicts, in first-seen (list) order."""
        with self.lock:
            seen: dict[str, dict[str, Any]] = {}
            for *_, rid in self._order.get(campaign_id, []):
                profile = self._reviews[rid].get("reviewerProfile")
                if profile:
                    seen.setdefault(profile["id"], profile)
            return _copy(list(seen.values()))

    def decide(self, review_id: str, decision: str = "APPROVE") -> None:
        with self.lock:
            now = self._now()
            self._reviews[review_id].update(decision=decision, decided=now, lastUpdated=now)

    def reassign(self, review_id: str, new_reviewer: dict[str, Any]) -> None:
        """Give a pending review to one person, as Okta's reassign does (decision unchanged)."""
        with self.lock:
            review = self._reviews[review_id]
            if review["decision"] != "UNREVIEWED":  # Okta only reassigns pending reviews
                raise ValueError(f"review {review_id} is {review['decision']}, not UNREVIEWED")
            review.pop("reviewerGroupProfile", None)
            review.update(
                reviewerType="USER", reviewerProfile=_copy(new_reviewer), lastUpdated=self._now()
            )

    def set_campaign_status(self, campaign_id: str, status: str) -> None:
        with self.lock:
            self._campaigns[campaign_id].update(status=status, lastUpdated=self._now())

    # -- faults and request log --------------------------------------------------
    def log(self, event: dict[str, Any]) -> None:
        """Record a System Log event (``fakes.okta.logs.log_event`` builds one)."""
        with self.lock:
            self.system_log.add(event)

    def down_until(self, until: float, status: int = 503) -> None:
        """Every API call answers ``status`` until ``until`` (this fake's clock)."""
        with self.lock:
            self.outage_until, self.outage_status = until, status

    def inject(self, path_prefix: str, *faults: Fault) -> None:
        """Queue faults; each is used once, by the next request (either host) under the prefix."""
        with self.lock:
            self._faults.add(path_prefix, faults)

    def review_page_requests(self) -> list[Request]:
        """Review list requests (not ``/reviews/{id}``) that reached the org host."""
        with self.lock:
            return [r for r in self.requests if r.method == "GET" and r.path.rstrip("/") == REVIEWS]

    # -- serving -----------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        # Answers are built and JSON-encoded under the lock: a test thread may be editing the
        # data (decide, reassign) while a page is served.
        with self.lock:
            rate_headers = self._window.count(self.clock(), self.rate_limit_per_minute)
            fault = self._faults.take(request.path)
            if self.clock() < self.outage_until:
                fault = Fault(status=self.outage_status)
            if fault is not None and fault.status >= 400:
                if fault.status == 429:
                    self.rate_limited += 1
                response = fault_response(fault, self.clock)
            else:
                response = self._answer(request)
            response.headers = {**rate_headers, **response.headers}
            if fault is not None:
                response.delay = fault.hang
                response.headers.update(fault.headers)
            return response

    def register_oauth_client(
        self, client_id: str, public_key_pem: str, scopes: Iterable[str] | None = None
    ) -> None:
        """An API service app whose private_key_jwt assertions this org accepts, granted
        ``scopes`` (None: any)."""
        with self.lock:
            self.oauth.register(client_id, public_key_pem, scopes)

    def revoke_bearer_tokens(self) -> None:
        with self.lock:
            self.oauth.bearer_tokens.clear()

    def _token(self, request: Request) -> Response:
        return self.oauth.answer(request, self.url + TOKEN_PATH)

    def _answer(self, request: Request) -> Response:
        if self._window.exceeded(self.rate_limit_per_minute):
            self.rate_limited += 1
            return json_response(429, ERROR_429)
        if request.path == TOKEN_PATH and request.method == "POST":
            return self._token(request)
        if not self._authorized(request.headers.get("authorization", "")):
            return json_response(401, error("E0000011", "Invalid token provided"))
        path = request.path.rstrip("/")
        if path == LOGS and request.method == "GET":
            status, body, headers = self.system_log.answer(request, self.admin_url)
            return json_response(status, body, headers)
        if path == CAMPAIGNS and request.method == "GET":
            return self._list_campaigns(request)
        directory = self.directory.answer(request, path, self.admin_url)
        if directory is not None:
            return directory
        review = _REVIEW_PATH.fullmatch(path)
        campaign = _CAMPAIGN_PATH.fullmatch(path)
        if path != REVIEWS and not review and not campaign:
            return not_found(request.path, request.method)
        if request.method != "GET":
            summary = "The endpoint does not support the provided HTTP method"
            return json_response(405, error("E0000022", summary))
        if review:
            return _get(self._reviews, review[1], "Review")
        if campaign:
            return _get(self._campaigns, campaign[1], "Campaign")
        return list_reviews(
            request,
            self._reviews,
            self._order,
            self._keys,
            admin_url=self.admin_url,
            combined_filter_supported=self.combined_filter_supported,
            link_header=self.link_header,
        )

    def _list_campaigns(self, request: Request) -> Response:
        """``GET /governance/api/v1/campaigns?limit=N``: the first N, newest first (no
        filter or cursor: certnotify lists campaigns only to check its credentials)."""
        limit_text = request.param("limit") or str(DEFAULT_LIMIT)
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return json_response(400, error("E0000001", "Api validation failed: limit"))
        page = list(self._campaigns.values())[::-1][: int(limit_text)]
        return json_response(
            200, {"data": page, "_links": {"self": link(self.admin_url + CAMPAIGNS)}}
        )

    def _authorized(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme == "SSWS":
            return bool(token) and token == self.api_token
        return scheme == "Bearer" and token in self.oauth.bearer_tokens

    def _store_review(self, review: dict[str, Any]) -> None:
        """Insert or replace a review (caller holds the lock and owns the dict)."""
        review_id = review["id"]
        old = self._reviews.get(review_id)
        if old is not None:
            self._order[old.get("campaignId", "")].remove(self._keys[review_id])
        key = (review.get("created", ""), next(self._seq), review_id)
        bisect.insort(self._order.setdefault(review.get("campaignId", ""), []), key)
        self._reviews[review_id] = review
        self._keys[review_id] = key

    def _now(self) -> str:
        return timestamp(datetime.fromtimestamp(self.clock(), UTC))


def _get(store: dict[str, dict[str, Any]], item_id: str, kind: str) -> Response:
    item = store.get(item_id)
    return not_found(item_id, kind) if item is None else json_response(200, item)


def _copy(data: Any) -> Any:
    """Deep copy of JSON-like data: several times faster than copy.deepcopy (no memo, no
    dispatch), which matters for ``reviews_of`` on 50,000 reviews."""
    if isinstance(data, dict):
        return {key: _copy(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_copy(value) for value in data]
    return data
