"""OktaClient against httpx.MockTransport: paging, host pinning, rate limits, retries."""

from __future__ import annotations

import httpx
import pytest

from app.integrations.okta import (
    OktaAuthError,
    OktaClient,
    OktaError,
    OktaFilterRejected,
    OktaNotFound,
    OktaUnavailable,
    SSWSAuth,
    build_http_client,
)
from tests.helpers import SAMPLE_CAMPAIGN, sample

ORG = "https://acme.okta.com"
TOKEN = "00aTokenValue-should-never-leave-the-org"


class Recorder:
    """A request -> response function for MockTransport that remembers every request."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def client_for(
    recorder: Recorder, now: float = 1_788_278_400.0, **kwargs
) -> tuple[OktaClient, list]:
    sleeps: list[float] = []
    http = build_http_client(ORG, SSWSAuth(TOKEN), 5.0, transport=httpx.MockTransport(recorder))
    client = OktaClient(http, sleep=sleeps.append, clock=lambda: now, backoff=0.5, **kwargs)
    return client, sleeps


def page(name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(200, json=sample(name), headers=headers or {})


def test_pages_follow_the_cursor_but_stay_on_the_org_host():
    recorder = Recorder(page("reviews-page-1.json"), page("reviews-page-2.json"))
    client, _ = client_for(recorder)
    pages = list(client.review_pages(SAMPLE_CAMPAIGN))
    assert [len(p) for p in pages] == [3, 2]
    first, second = recorder.requests
    assert first.url.host == second.url.host == "acme.okta.com"
    assert first.url.path == second.url.path == "/governance/api/v1/reviews"
    assert first.url.params["filter"] == f'campaignId eq "{SAMPLE_CAMPAIGN}"'
    assert first.url.params["limit"] == "200"
    assert b"filter=campaignId%20eq%20%22" in first.url.raw_path
    assert second.url.params["after"] == "icr0tp8ILSlcfr42e0g7"
    assert second.url.params["limit"] == "200"  # ours, not the link's limit=3
    assert all(r.headers["authorization"] == f"SSWS {TOKEN}" for r in recorder.requests)


def test_link_header_is_the_fallback_when_the_body_has_no_next():
    body = sample("reviews-page-1.json")
    next_href = body["_links"].pop("next")["href"]
    recorder = Recorder(
        httpx.Response(200, json=body, headers={"Link": f'<{next_href}>; rel="next"'}),
        page("reviews-page-2.json"),
    )
    client, _ = client_for(recorder)
    assert sum(len(p) for p in client.review_pages(SAMPLE_CAMPAIGN)) == 5
    assert recorder.requests[1].url.host == "acme.okta.com"


def test_429_waits_until_reset_plus_one_second():
    now = 1_788_278_400.0
    recorder = Recorder(
        httpx.Response(429, json=sample("okta-error-429.json"), headers={
            "X-Rate-Limit-Limit": "50", "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": str(int(now) + 60),
        }),
        page("reviews-page-2.json"),
    )  # fmt: skip
    client, sleeps = client_for(recorder, now=now)
    assert len(list(client.review_pages(SAMPLE_CAMPAIGN))) == 1
    assert sleeps == [61.0]
    assert len(recorder.requests) == 2


def test_429_wait_is_capped_and_concurrency_limits_wait_briefly():
    now = 1_788_278_400.0
    far = {"X-Rate-Limit-Limit": "50", "X-Rate-Limit-Reset": str(int(now) + 3600)}
    concurrent = {"X-Rate-Limit-Limit": "0", "X-Rate-Limit-Reset": str(int(now) + 60)}
    recorder = Recorder(
        httpx.Response(429, headers=far),
        httpx.Response(429, headers=concurrent),
        page("reviews-page-2.json"),
    )
    client, sleeps = client_for(recorder, now=now, max_rate_limit_wait=65.0)
    list(client.review_pages(SAMPLE_CAMPAIGN))
    assert sleeps == [65.0, 5.0]


def test_remaining_zero_waits_before_the_next_request_instead_of_earning_a_429():
    now = 1_788_278_400.0
    recorder = Recorder(
        page("reviews-page-1.json", {"X-Rate-Limit-Remaining": "0",
                                     "X-Rate-Limit-Reset": str(int(now) + 20)}),
        page("reviews-page-2.json"),
    )  # fmt: skip
    client, sleeps = client_for(recorder, now=now)
    assert len(list(client.review_pages(SAMPLE_CAMPAIGN))) == 2
    assert sleeps == [21.0]


def test_5xx_and_timeouts_are_retried_with_backoff_then_give_up():
    recorder = Recorder(
        httpx.Response(500),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
        httpx.Response(503),
        httpx.Response(502),
    )
    client, sleeps = client_for(recorder, max_retries=4)
    with pytest.raises(OktaUnavailable):
        client.get_campaign(SAMPLE_CAMPAIGN)
    assert len(recorder.requests) == 5
    # Exponential backoff from 0.5 s, with up to 50% jitter taken off.
    assert [round(s / (0.5 * 2**i), 2) for i, s in enumerate(sleeps)] == pytest.approx(
        [0.75] * 4, abs=0.25
    )


def test_combined_filter_rejected_falls_back_to_filtering_here():
    reviews = sample("reviews-page-1.json")
    del reviews["_links"]["next"]
    recorder = Recorder(httpx.Response(400, json=sample("okta-error-400.json")), page_of(reviews))
    client, _ = client_for(recorder)
    pages = list(client.review_pages(SAMPLE_CAMPAIGN, decision="UNREVIEWED"))
    assert [r["id"] for r in pages[0]] == ["icr4AnyO9BtOt1MYu0g7", "icr0tp8ILSlcfr42e0g7"]
    first, second = recorder.requests
    assert first.url.params["filter"] == (
        f'campaignId eq "{SAMPLE_CAMPAIGN}" AND decision eq "UNREVIEWED"'
    )
    assert second.url.params["filter"] == f'campaignId eq "{SAMPLE_CAMPAIGN}"'


def page_of(body: dict) -> httpx.Response:
    return httpx.Response(200, json=body)


def test_filter_rejection_without_a_decision_is_an_error():
    recorder = Recorder(httpx.Response(400, json=sample("okta-error-400.json")))
    client, _ = client_for(recorder)
    with pytest.raises(OktaFilterRejected, match="E0000053"):
        list(client.review_pages(SAMPLE_CAMPAIGN))


@pytest.mark.parametrize(
    "bad", ["", "../admin", 'ici" or 1 eq 1', "ici%2F", "ici 1", "icí", "a" * 65, "ici\n"]
)
def test_ids_that_are_not_alphanumeric_never_reach_a_request(bad):
    recorder = Recorder()
    client, _ = client_for(recorder)
    with pytest.raises(ValueError, match="letters and digits"):
        client.get_campaign(bad)
    with pytest.raises(ValueError, match="letters and digits"):
        client.get_review(bad)
    with pytest.raises(ValueError, match="letters and digits"):
        list(client.review_pages(bad))
    assert recorder.requests == []


def test_401_and_404_are_permanent_errors_without_the_token_in_them():
    recorder = Recorder(
        httpx.Response(
            401, json={"errorCode": "E0000011", "errorSummary": "Invalid token provided"}
        ),
        httpx.Response(404, json={"errorCode": "E0000007", "errorSummary": "Not found"}),
    )
    client, sleeps = client_for(recorder)
    with pytest.raises(OktaAuthError) as auth:
        client.get_campaign(SAMPLE_CAMPAIGN)
    with pytest.raises(OktaNotFound):
        client.get_review("icr0tp8ILSlcfr42e0g7")
    assert TOKEN not in str(auth.value)
    assert sleeps == []


def test_redirects_are_not_followed():
    recorder = Recorder(httpx.Response(302, headers={"Location": "https://evil.example/"}))
    client, _ = client_for(recorder)
    with pytest.raises(OktaError, match="not JSON"):
        client.get_campaign(SAMPLE_CAMPAIGN)
    assert len(recorder.requests) == 1


def test_a_next_link_that_repeats_its_cursor_stops_with_a_clear_error():
    # Page 1's next link names the cursor icr0tp8ILSlcfr42e0g7; a server answering page 1
    # again for that cursor would be read forever.
    recorder = Recorder(*[page("reviews-page-1.json") for _ in range(5)])
    client, _ = client_for(recorder)
    with pytest.raises(OktaError, match="repeats the cursor 'icr0tp8ILSlcfr42e0g7'"):
        list(client.review_pages(SAMPLE_CAMPAIGN))
    assert len(recorder.requests) == 2  # the first page, then the repeat: no third request


def test_a_next_link_that_never_ends_stops_at_the_page_limit():
    def endless(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("after", "icr0").removeprefix("icr"))
        body = {
            "data": [{"id": f"icr{after + 1}"}],
            "_links": {"next": {"href": f"https://acme-admin.okta.com/x?after=icr{after + 1}"}},
        }
        return httpx.Response(200, json=body)

    http = build_http_client(ORG, SSWSAuth(TOKEN), 5.0, transport=httpx.MockTransport(endless))
    client = OktaClient(http, sleep=lambda _: None, clock=lambda: 0.0, max_pages=5)
    with pytest.raises(OktaError, match="more than 5 pages"):
        list(client.review_pages(SAMPLE_CAMPAIGN))


def test_after_an_outage_one_plain_request_tells_whether_okta_is_back():
    now = [1_788_278_400.0]
    recorder = Recorder(
        *[httpx.Response(503)] * 5, httpx.Response(503), page("campaign-active.json")
    )
    http = build_http_client(ORG, SSWSAuth(TOKEN), 5.0, transport=httpx.MockTransport(recorder))
    client = OktaClient(http, sleep=lambda _: None, clock=lambda: now[0], max_retries=4)
    with pytest.raises(OktaUnavailable) as first:
        client.get_campaign(SAMPLE_CAMPAIGN)
    assert len(recorder.requests) == 5  # 1 + 4 retries
    assert first.value.retry_at == now[0] + 30
    with pytest.raises(OktaUnavailable, match="waiting until"):
        client.get_campaign(SAMPLE_CAMPAIGN)  # within the wait: no request at all
    assert len(recorder.requests) == 5
    now[0] += 31
    with pytest.raises(OktaUnavailable) as second:
        client.get_campaign(SAMPLE_CAMPAIGN)
    assert len(recorder.requests) == 6  # one probe, no retries
    assert second.value.retry_at == now[0] + 60  # the wait doubles
    now[0] += 61
    assert client.get_campaign(SAMPLE_CAMPAIGN)["id"] == SAMPLE_CAMPAIGN
    assert client.outage == ""
