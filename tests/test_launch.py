"""Campaign launch, end to end: hook -> inbox -> worker -> Okta -> store -> Slack."""

from __future__ import annotations

import math

import pytest

from app.pipeline.on_launch import launch_campaign
from app.pipeline.worker import Worker
from fakes.okta import Fault as OktaFault
from fakes.slack import Fault as SlackFault
from tests.helpers import (
    SAMPLE_CAMPAIGN,
    SAMPLES,
    event_requests,
    post_hook,
    run_worker,
    sample,
)


def launch_envelope(campaign_id: str) -> dict:
    body = sample("event-launch.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
    body["eventId"] = f"delivery-{campaign_id}"
    body["data"]["events"][0]["uuid"] = f"event-{campaign_id}"
    return body


@pytest.fixture
def sample_org(fake_okta, fake_slack):
    """The story of the samples: Ana (active), Ben (deleted in Slack), Omar (no Slack)."""
    fake_okta.load_samples(SAMPLES)
    fake_slack.add_users_from_samples(SAMPLES)
    return fake_okta


def test_sample_launch_through_the_endpoint(client, worker, services, sample_org, fake_slack):
    assert post_hook(client, sample("event-launch.json")).status_code == 204
    run_worker(worker)

    # Ana has 1 pending review (B is approved): one DM, to her user id.
    [dm] = fake_slack.messages
    assert dm.channel == "U0W0EF78PLZ"
    assert "Q3 2026 Access Review - Sales &amp; Finance Apps" in dm.text
    assert "1 access item to review by Tue 29 Sep, 09:00 PDT (in 28 days)" in dm.text

    store = services.store
    reviewers = {r["email"]: r for r in store.campaigns.reviewers(SAMPLE_CAMPAIGN)}
    assert reviewers["ana.lopez@example.com"]["pending_items"] == 1
    assert reviewers["ana.lopez@example.com"]["total_items"] == 2
    assert reviewers["ana.lopez@example.com"]["slack_status"] == "mapped"
    # Ben is deactivated in Slack: never posted to, recorded as unmapped.
    assert reviewers["ben.okafor@example.com"]["slack_status"] == "deleted"
    # Omar decided everything: no message at all.
    assert reviewers["omar.haddad@example.com"]["pending_items"] == 0
    ledger = {(d["email"], d["status"]) for d in store.messages.of_campaign(SAMPLE_CAMPAIGN)}
    assert ledger == {("ana.lopez@example.com", "sent"), ("ben.okafor@example.com", "unmapped")}
    # The group review has no person behind it: reported, not crashed on.
    [group] = store.campaigns.unresolved_reviews(SAMPLE_CAMPAIGN)
    assert (group["review_id"], group["reviewer_type"], group["group_name"]) == (
        "icre4HJvPLFlWdE3d0g7",
        "GROUP",
        "Sales Ops Reviewers",
    )
    campaign = store.campaigns.row(SAMPLE_CAMPAIGN)
    assert campaign["status"] == "ACTIVE"
    assert campaign["time_zone"] == "America/Los_Angeles"
    assert campaign["end_at"] == "2026-09-29T16:00:00+00:00"
    assert campaign["launched_at"] is not None
    inbox = store.inbox.counts()
    assert inbox == {"done": 1}


def test_three_page_campaign_one_dm_per_reviewer(services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=450, reviewers=100, group_reviews=3)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users(emails)
    # The groups holding the 3 group reviews: their active members are told too.
    members = [
        fake_okta.directory.users[uid]
        for uid in (u for ids in fake_okta.directory.members.values() for u in ids)
    ]
    active = [m["profile"]["email"] for m in members if m["status"] == "ACTIVE"]
    fake_slack.generate_users(active)

    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()

    assert summary.reviews == 450
    assert summary.review_pages == math.ceil(450 / 200) == 3
    assert len(fake_okta.review_page_requests()) == 3
    assert fake_okta.count("/governance/api/v1/campaigns/") == 1
    # The next links named the admin host; the token never went there.
    assert fake_okta.admin_requests == []
    assert summary.unresolved_reviews == 3
    posted_to = [m.channel for m in fake_slack.messages]
    assert summary.group_members == len(active) > 0
    assert len(posted_to) == len(set(posted_to)) == 100 + len(active)
    # One users.list sweep (it cached the group members too; the inactive member is
    # never looked up), then one post per person.
    assert fake_slack.call_count("users.list") == 1
    assert fake_slack.call_count("users.lookupByEmail") == 0
    assert fake_slack.call_count("chat.postMessage") == 100 + len(active)


def test_second_launch_event_for_the_same_campaign_sends_nothing(
    client, worker, services, fake_okta, fake_slack
):
    campaign_id = fake_okta.generate_campaign(reviews=40, reviewers=10)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    post_hook(client, launch_envelope(campaign_id))
    run_worker(worker)
    assert len(fake_slack.messages) == 10
    # Okta redelivers the launch under a new delivery and event id: still nothing new.
    again = launch_envelope(campaign_id)
    again["eventId"], again["data"]["events"][0]["uuid"] = "redelivery", "another-uuid"
    post_hook(client, again)
    run_worker(worker)
    assert len(fake_slack.messages) == 10
    assert services.store.messages.counts(campaign_id) == {"sent": 10}


def test_reviewer_without_slack_account_is_recorded_as_unmapped(services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=6, reviewers=3)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users(emails[:2])  # the third has no Slack account

    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()

    assert len(fake_slack.messages) == 2
    assert summary.unmapped == [f"{emails[2]} (no Slack account with this email)"]
    rows = {d["email"]: d for d in services.store.messages.of_campaign(campaign_id)}
    assert rows[emails[2]]["status"] == "unmapped"
    assert rows[emails[2]]["error"] == "no Slack account with this email"
    # Few unknown people: looked up one by one, no users.list sweep.
    assert fake_slack.call_count("users.list") == 0
    assert fake_slack.call_count("users.lookupByEmail") == 3


def test_unmapped_reviewer_is_messaged_once_they_join_slack(services, fake_okta, fake_slack, clock):
    campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
    [email] = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    launch_campaign(services, campaign_id)
    assert services.store.messages.counts(campaign_id) == {"unmapped": 1}

    fake_slack.generate_users([email])
    clock.advance(hours=25)  # the "not found" answer is cached for 24 h
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    assert services.store.messages.counts(campaign_id) == {"sent": 1}
    assert len(fake_slack.messages) == 1


def test_slack_429_then_success_sends_once(services, fake_okta, fake_slack, clock):
    campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    fake_slack.inject("chat.postMessage", SlackFault(status=429, retry_after=7))

    launch_campaign(services, campaign_id)
    result = services.outbox.drain()

    assert result.sent == 1
    assert len(fake_slack.messages) == 1
    assert fake_slack.call_count("chat.postMessage") == 2
    # The SDK's handler waited Retry-After on our (fake) clock: no real sleep.
    assert any(7 <= s < 8 for s in clock.sleeps)


def test_slack_ok_false_rate_limited_is_retried_later(services, fake_okta, fake_slack, clock):
    campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    fake_slack.inject("chat.postMessage", SlackFault(error="rate_limited"))

    launch_campaign(services, campaign_id)
    first = services.outbox.drain()
    assert (first.sent, first.retrying) == (0, 1)
    # Slack's own limit, not the message's fault: no try used up; sending pauses a while.
    [row] = services.store.messages.of_campaign(campaign_id)
    assert row["attempts"] == 0
    assert services.outbox.drain().sent == 0  # still paused
    clock.advance(seconds=16)
    second = services.outbox.drain()
    assert second.sent == 1
    assert len(fake_slack.messages) == 1


def test_okta_429_waits_for_reset_then_succeeds(services, fake_okta, fake_slack, clock):
    campaign_id = fake_okta.generate_campaign(reviews=300, reviewers=20)
    fake_okta.inject("/governance/api/v1/reviews", OktaFault(status=429, reset_in=30))

    summary = launch_campaign(services, campaign_id)

    assert summary.reviews == 300
    # The 429 cost one request; then exactly ceil(300/200) pages.
    assert len(fake_okta.review_page_requests()) == 1 + 2
    assert any(30 <= s <= 31.5 for s in clock.sleeps), clock.sleeps


def test_okta_5xx_is_retried(services, fake_okta):
    campaign_id = fake_okta.generate_campaign(reviews=10, reviewers=5)
    fake_okta.inject(f"/governance/api/v1/campaigns/{campaign_id}", OktaFault(status=503))
    assert launch_campaign(services, campaign_id).reviews == 10


def test_what_a_dead_sender_left_in_flight_is_sent_at_once_by_the_next(
    settings, fake_okta, fake_slack, clock
):
    from app.pipeline.lock import WorkerLock
    from app.services import Services

    campaign_id = fake_okta.generate_campaign(reviews=30, reviewers=10)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    crashed = Services.build(settings, clock=clock, sleep=clock.sleep)
    launch_campaign(crashed, campaign_id)
    # The sender claims one message and dies before posting it.
    [claimed] = crashed.store.messages.claim(clock(), 1)
    crashed.close()

    survivor = Services.build(settings, clock=clock, sleep=clock.sleep)
    assert survivor.outbox.drain().sent == 9  # the claimed one is still marked in flight
    # Whoever takes the worker lock next puts it back: no lease to wait out, no clock.
    lock = WorkerLock(settings.database.path)
    assert lock.try_acquire(clock())
    assert survivor.store.reclaim_orphans()["messages"] == 1
    assert survivor.outbox.drain().sent == 1
    lock.release()
    survivor.close()

    posted_to = [m.channel for m in fake_slack.messages]
    assert len(posted_to) == len(set(posted_to)) == 10
    assert claimed.slack_user_id in posted_to


def test_worker_crash_mid_event_is_picked_up_by_the_next_worker_at_once(
    client, services, settings, fake_okta, fake_slack, clock
):
    campaign_id = fake_okta.generate_campaign(reviews=4, reviewers=2)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    post_hook(client, launch_envelope(campaign_id))
    # The first worker claims the event, then dies.
    assert len(services.store.inbox.claim(clock(), 10)) == 1
    worker = Worker(services)
    run_worker(worker)
    assert fake_slack.messages == []  # nobody else touches a claimed event...
    worker.start()  # ...until a worker takes the lock: then at once
    run_worker(worker)
    worker.lock.release()
    assert len(fake_slack.messages) == 2


def test_campaign_named_like_a_mention_pings_nobody(services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(name="<!channel> & <b>", reviews=1, reviewers=1)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    launch_campaign(services, campaign_id)
    services.outbox.drain()

    [dm] = fake_slack.messages
    assert "&lt;!channel&gt; &amp; &lt;b&gt;" in dm.text
    assert "<!channel>" not in dm.text
    for block in dm.blocks:
        text = block.get("text", {})
        if text.get("type") == "mrkdwn":
            assert "<" not in text["text"]
            assert ">" not in text["text"]
        if text.get("type") == "plain_text":  # plain_text is never parsed for mentions
            assert text["text"] == "Access review: <!channel> & <b>"


def test_unknown_campaign_fails_the_event_without_retrying(client, worker, services, fake_okta):
    post_hook(client, launch_envelope("iciDoesNotExist000000"))
    run_worker(worker)
    [row] = services.store.db.query("SELECT status, attempts, last_error FROM inbox")
    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert "E0000007" in row["last_error"]


def test_okta_outage_retries_the_event_later(client, worker, services, fake_okta, clock):
    campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
    fake_okta.inject(f"/governance/api/v1/campaigns/{campaign_id}", *[OktaFault(status=500)] * 5)
    post_hook(client, launch_envelope(campaign_id))
    run_worker(worker)
    [row] = services.store.db.query("SELECT status, last_error FROM inbox")
    assert row["status"] == "pending"
    assert "500" in row["last_error"]
    clock.advance(minutes=5)
    run_worker(worker)
    assert services.store.inbox.counts() == {"done": 1}


def test_unknown_event_types_are_marked_ignored(client, worker, services, fake_okta):
    body = sample("event-launch.json")
    body["data"]["events"][0]["eventType"] = "user.session.start"
    post_hook(client, body)
    run_worker(worker)
    assert services.store.inbox.counts() == {"ignored": 1}
    assert event_requests(fake_okta) == []


def test_dry_run_prints_each_message_and_sends_nothing(tmp_path, fake_okta, fake_slack, clock):
    import io

    from app.services import Services
    from tests.helpers import make_settings

    settings = make_settings(tmp_path, fake_okta, fake_slack, slack={"dry_run": True})
    out = io.StringIO()
    services = Services.build(settings, clock=clock, sleep=clock.sleep, out=out)
    campaign_id = fake_okta.generate_campaign(name="Q4 & <friends>", reviews=5, reviewers=2)
    launch_campaign(services, campaign_id)
    result = services.outbox.drain()
    services.close()

    assert result.sent == 2
    assert fake_slack.call_count() == 0
    printed = out.getvalue()
    for reviewer in fake_okta.reviewers_of(campaign_id):
        assert f"── Slack DM to {reviewer['email']} (dry run)" in printed
    assert "   Access review: Q4 & <friends>" in printed
    assert "[Start reviewing] " in printed
