"""Okta requests per launch under Okta's rate limit (50 requests/minute, time-scaled).

A 50,000-review campaign against a fake Okta that enforces 50 requests per minute
with X-Rate-Limit-* headers (on compressed time, scale 60). The client should make
exactly ceil(N/200) review-page requests plus one campaign read, waiting for
X-Rate-Limit-Reset when Remaining reaches 0 rather than earning 429s; and after an
injected 429 it should wait, not retry early.
"""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from app.models import Campaign
from app.services import Services
from bench.timescale import TimeScale
from fakes.okta import FakeOkta, Fault
from fakes.slack import FakeSlack
from tests.helpers import make_settings

REVIEWS, SCALE, LIMIT = 50_000, 60.0, 50


def _read_campaign(inject_429: bool) -> tuple[int, int, int, float]:
    clock = TimeScale(SCALE)
    with FakeOkta(rate_limit_per_minute=LIMIT, clock=clock.epoch) as okta, FakeSlack() as slack:
        campaign_id = okta.generate_campaign(
            reviews=REVIEWS, reviewers=2_500, start=datetime.now(UTC)
        )
        if inject_429:  # a concurrency 429 somewhere in the middle (Limit 0, Reset a hint)
            concurrency_429 = Fault(status=429, reset_in=3, headers={"X-Rate-Limit-Limit": "0"})
            okta.inject("/governance/api/v1/reviews", *[Fault(status=200)] * 100, concurrency_429)
        settings = make_settings(Path(tempfile.mkdtemp()), okta, slack)
        services = Services.build(settings, clock=clock.now, sleep=clock.sleep)
        started = clock.monotonic()
        Campaign.from_api(services.okta.get_campaign(campaign_id))
        reviews = sum(len(page) for page in services.okta.review_pages(campaign_id))
        elapsed = clock.monotonic() - started
        services.close()
        requests = len(okta.requests_to("/governance/"))
        pages = len(okta.review_page_requests())
    assert reviews == REVIEWS
    return requests, pages, okta.rate_limited, elapsed


def run() -> list[tuple[str, str, str]]:
    expected_pages = math.ceil(REVIEWS / 200)
    plain = _read_campaign(inject_429=False)
    hit = _read_campaign(inject_429=True)
    return [
        (f"okta: requests for a {REVIEWS:,}-review launch at {LIMIT}/min",
         f"{plain[0]} ({plain[1]} review pages + 1 campaign read), {plain[2]} rate-limited",
         f"{expected_pages} pages + 1, no 429s"),
        ("okta: the same read, Okta-minutes taken", f"{plain[3] / 60:.1f}",
         f">= {(expected_pages + 1) / LIMIT - 1:.1f} (the limit allows no less)"),
        ("okta: with one injected concurrency 429", f"{hit[0]} requests, {hit[2]} rate-limited",
         f"{expected_pages + 2} (only the 429 itself extra)"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
