"""Slack and Okta misbehaving: bursts of 429, 5xx, timeouts, revoked tokens, unknown people."""

from __future__ import annotations

import pytest

from app.integrations.okta import OktaUnavailable
from app.integrations.slack import RateGate
from app.pipeline.on_launch import launch_campaign
from app.services import Services
from fakes.okta import Fault as OktaFault
from fakes.slack import Fault as SlackFault
from tests.helpers import make_settings


@pytest.fixture
def campaign(services, fake_okta, fake_slack):
    """A launched campaign of 5 reviewers, messages planned but not sent yet."""
    campaign_id = fake_okta.generate_campaign(reviews=10, reviewers=5)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    launch_campaign(services, campaign_id)
    return campaign_id


def test_a_burst_of_429s_is_waited_out_and_everyone_is_told_once(
    services, campaign, fake_slack, clock
):
    fake_slack.inject("chat.postMessage", *[SlackFault(status=429, retry_after=2)] * 3)
    result = services.outbox.drain()
    assert result.sent == 5
    assert len({m.channel for m in fake_slack.messages}) == len(fake_slack.messages) == 5
    assert fake_slack.call_count("chat.postMessage") == 8
    # Each 429 paused every sender for Retry-After (on the fake clock: no real waiting).
    assert len([s for s in clock.sleeps if 2 <= s < 2.3]) == 3
    assert all(s < 2.3 for s in clock.sleeps)


def test_server_errors_are_retried_by_the_sdk(services, campaign, fake_slack):
    fake_slack.inject("chat.postMessage", SlackFault(status=500), SlackFault(status=503))
    assert services.outbox.drain().sent == 5
    assert len(fake_slack.messages) == 5


def test_a_timed_out_post_is_retried_later_and_nobody_is_missed(
    tmp_path, fake_okta, fake_slack, clock
):
    settings = make_settings(tmp_path, fake_okta, fake_slack, slack={"timeout_seconds": 1})
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    launch_campaign(services, campaign_id)
    fake_slack.inject("chat.postMessage", SlackFault(delay=2.5))
    first = services.outbox.drain()
    assert (first.sent, first.retrying) == (0, 1)
    clock.advance(seconds=30)
    assert services.outbox.drain().sent == 1
    services.close()
    # Slack may have accepted the timed-out post too: at least once, at most twice.
    assert 1 <= len(fake_slack.messages) <= 2


@pytest.mark.parametrize("error", ["invalid_auth", "account_inactive", "token_revoked"])
def test_a_rejected_token_stops_sending_without_burning_the_queue(
    services, campaign, fake_slack, client, error
):
    fake_slack.inject("chat.postMessage", SlackFault(error=error))
    result = services.outbox.drain()
    assert result.auth_error == error
    assert (result.sent, result.failed) == (0, 0)
    assert fake_slack.call_count("chat.postMessage") == 1  # stopped at the first
    rows = services.store.messages.of_campaign(campaign)
    assert {r["status"] for r in rows} == {"pending"}
    assert all(r["attempts"] == 0 for r in rows)  # nobody's tries were used up
    health = client.get("/healthz").get_json()
    assert f"SLACK_BOT_TOKEN rejected: {error}" in health["problems"]
    assert health["status"] == "degraded"


def test_people_slack_cannot_reach_are_failed_once_and_not_retried(
    services, campaign, fake_slack, clock
):
    fake_slack.inject("chat.postMessage", SlackFault(error="messages_tab_disabled"))
    first = services.outbox.drain()
    assert (first.sent, first.failed) == (4, 1)
    clock.advance(hours=1)
    assert services.outbox.drain().sent == 0
    assert fake_slack.call_count("chat.postMessage") == 5
    failed = [r for r in services.store.messages.of_campaign(campaign) if r["status"] == "failed"]
    assert [r["error"] for r in failed] == ["messages_tab_disabled"]


def test_users_not_found_is_recorded_and_not_asked_again(services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)  # not in Slack
    launch_campaign(services, campaign_id)
    launch_campaign(services, campaign_id)
    assert fake_slack.call_count("users.lookupByEmail") == 1  # cached "not found"
    assert services.store.messages.counts(campaign_id) == {"unmapped": 1}


def test_okta_hung_connection_times_out_and_is_retried(tmp_path, fake_okta, fake_slack, clock):
    settings = make_settings(tmp_path, fake_okta, fake_slack, okta={"timeout_seconds": 0.5})
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    campaign_id = fake_okta.generate_campaign(reviews=3, reviewers=1)
    fake_okta.inject("/governance/api/v1/campaigns", OktaFault(status=200, hang=3))
    assert launch_campaign(services, campaign_id).reviews == 3
    assert fake_okta.count("/governance/api/v1/campaigns") == 2
    services.close()


def test_okta_that_never_answers_gives_up_with_a_clear_error(
    tmp_path, fake_okta, fake_slack, clock
):
    settings = make_settings(
        tmp_path, fake_okta, fake_slack, okta={"timeout_seconds": 0.3, "max_retries": 1}
    )
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    fake_okta.inject("/governance", *[OktaFault(status=200, hang=2)] * 2)
    with pytest.raises(OktaUnavailable, match="ReadTimeout"):
        services.okta.get_campaign("iciAnything")
    services.close()


# -- the shared pace ---------------------------------------------------------------------
class Ticks:
    def __init__(self) -> None:
        self.t = 1000.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def test_pace_allows_a_burst_then_spaces_calls_evenly():
    ticks = Ticks()
    gate = RateGate(ticks.now, ticks.sleep, {"chat.postMessage": 60})
    starts = []
    for _ in range(14):
        gate.acquire("chat.postMessage")
        starts.append(round(ticks.t - 1000, 3))
    assert starts == [0.0] * 11 + [1.0, 2.0, 3.0]
    assert gate.acquire("users.list") is None  # unpaced methods never wait
    assert ticks.t - 1000 == 3.0


def test_a_429_pauses_every_caller_and_slows_the_pace_until_calls_succeed():
    ticks = Ticks()
    gate = RateGate(ticks.now, ticks.sleep, {"chat.postMessage": 600})
    gate.pause("chat.postMessage", 5)
    gate.pause("chat.postMessage", 5)  # a second 429 from the same burst: one slow-down
    assert gate.rate["chat.postMessage"] == pytest.approx(510)
    gate.acquire("chat.postMessage")
    assert ticks.t - 1000 == pytest.approx(5.0)
    for _ in range(50 * 4):
        gate.acquire("chat.postMessage")
    assert gate.rate["chat.postMessage"] == 600  # recovered, and never above the setting
