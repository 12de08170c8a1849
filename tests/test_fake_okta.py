"""The fake Okta itself: paging, hosts, filters, auth, rate-limit headers, faults, generator."""

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fakes.okta import FakeOkta, Fault

SAMPLES = Path(__file__).parent / "samples"
NOW = 1788278430.0  # 2026-09-01T16:00:30Z: the minute window ends at 1788278460
REVIEWS = "/governance/api/v1/reviews"
SAMPLE_CAMPAIGN = "/governance/api/v1/campaigns/iciZDb1GURItsMuYl0g7"


@pytest.fixture
def fake() -> Iterator[FakeOkta]:
    with FakeOkta(clock=lambda: NOW) as fake:
        yield fake


def client(fake: FakeOkta, token: str | None = None) -> httpx.Client:
    auth = f"SSWS {token or fake.api_token}"
    return httpx.Client(base_url=fake.url, headers={"Authorization": auth})


def sample(name: str, fake: FakeOkta) -> dict:
    text = (SAMPLES / name).read_text().replace("https://acme-admin.okta.com", fake.admin_url)
    return json.loads(text)


def test_pages_follow_cursor_with_next_on_admin_host(fake: FakeOkta) -> None:
    cid = fake.generate_campaign(reviews=7, reviewers=3)
    params = {"filter": f'campaignId eq "{cid}"', "limit": 3}
    seen, remaining = [], []
    with client(fake) as http:
        for _ in range(3):
            response = http.get(REVIEWS, params=params)
            assert response.status_code == 200
            assert response.headers["X-Rate-Limit-Reset"] == "1788278460"
            remaining.append(response.headers["X-Rate-Limit-Remaining"])
            body = response.json()
            seen += [review["id"] for review in body["data"]]
            hrefs = [link["href"] for link in body["_links"].values()]
            assert all(href.startswith(f"{fake.admin_url}{REVIEWS}?") for href in hrefs)
            if "next" in body["_links"]:  # a client keeps the cursor but stays on the org host
                params["after"] = httpx.URL(body["_links"]["next"]["href"]).params["after"]
                assert params["after"] == seen[-1]
    assert "next" not in body["_links"]  # the third page is the last
    assert seen == [review["id"] for review in fake.reviews_of(cid)]
    assert remaining == ["49", "48", "47"]
    assert len(fake.review_page_requests()) == 3
    assert fake.admin_requests == []


def test_sample_pages_reproduced_exactly(fake: FakeOkta) -> None:
    fake.load_samples(SAMPLES)
    page_1 = sample("reviews-page-1.json", fake)
    with client(fake) as http:
        params = {"filter": 'campaignId eq "iciZDb1GURItsMuYl0g7"', "limit": 3}
        first = http.get(REVIEWS, params=params)
        assert first.json() == page_1
        # The next link works on the admin host too, and that request is logged there.
        second = http.get(page_1["_links"]["next"]["href"])
    assert second.json() == sample("reviews-page-2.json", fake)
    assert len(fake.admin_requests) == 1


def test_combined_filter_rejected_when_unsupported() -> None:
    with FakeOkta(combined_filter_supported=False) as fake, client(fake) as http:
        response = http.get(
            REVIEWS, params={"filter": 'campaignId eq "ici1" AND decision eq "UNREVIEWED"'}
        )
    assert response.status_code == 400
    assert response.json() == json.loads((SAMPLES / "okta-error-400.json").read_text())


def test_bad_token_is_401_with_rate_limit_headers(fake: FakeOkta) -> None:
    with client(fake, token="wrong") as http:
        response = http.get("/governance/api/v1/campaigns/anything")
    assert response.status_code == 401
    assert response.json()["errorCode"] == "E0000011"
    assert response.headers["X-Rate-Limit-Limit"] == "50"
    fake.oauth.bearer_tokens.add("oauth-token")
    with httpx.Client(base_url=fake.url, headers={"Authorization": "Bearer oauth-token"}) as http:
        assert http.get("/governance/api/v1/campaigns/nope").json()["errorCode"] == "E0000007"


def test_injected_429_then_success(fake: FakeOkta) -> None:
    fake.load_samples(SAMPLES)
    fake.inject("/governance/api/v1/campaigns", Fault(429, reset_in=42))
    with client(fake) as http:
        limited, ok = http.get(SAMPLE_CAMPAIGN), http.get(SAMPLE_CAMPAIGN)
    assert limited.status_code == 429
    assert limited.json() == json.loads((SAMPLES / "okta-error-429.json").read_text())
    assert limited.headers["X-Rate-Limit-Remaining"] == "0"
    assert limited.headers["X-Rate-Limit-Reset"] == str(int(NOW + 42))
    assert ok.status_code == 200
    assert ok.json() == sample("campaign-active.json", fake)


def test_generate_campaign_counts(fake: FakeOkta) -> None:
    cid = fake.generate_campaign(reviews=300, reviewers=100, group_reviews=20)
    reviews = fake.reviews_of(cid)
    groups = [r for r in reviews if r["reviewerType"] == "GROUP"]
    assert (len(reviews), len(groups)) == (300, 20)
    assert all("reviewerProfile" not in r and r["reviewerGroupProfile"] for r in groups)
    reviewers = fake.reviewers_of(cid)
    assert (len(reviewers), reviewers[0]["email"]) == (100, "reviewer00000@example.com")
    assert [r["created"] for r in reviews] == sorted(r["created"] for r in reviews)
    assert reviews[0]["created"] == "2026-09-01T16:00:03.000Z"
    with client(fake) as http:
        campaign = http.get(f"/governance/api/v1/campaigns/{cid}").json()
    assert campaign["scheduleSettings"]["startDate"] == "2026-09-01T09:00:00-07:00"
    assert campaign["scheduleSettings"]["endDate"] == "2026-09-29T09:00:00-07:00"
    with FakeOkta() as again:  # deterministic: same id, same data (ports aside)
        again.generate_campaign(campaign_id=cid, reviews=300, reviewers=100, group_reviews=20)
        assert [r["id"] for r in again.reviews_of(cid)] == [r["id"] for r in reviews]
