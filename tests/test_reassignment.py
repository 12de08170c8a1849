"""Reassignment DMs: who handed which items, by when; one message per burst; nothing twice."""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime

import pytest

from app.pipeline.on_launch import launch_campaign
from tests.helpers import SAMPLE_CAMPAIGN, SAMPLES, post_hook, run_worker, sample

REVIEW_C = "icr0tp8ILSlcfr42e0g7"
CHEN = sample("review-single.json")["reviewerProfile"]
CHEN_SLACK = "U0SJ8JPA3O8"


@pytest.fixture
def story(services, fake_okta, fake_slack, clock):
    """The samples' story up to 8 Sep: launched, then Ben reassigns review C to Chen."""
    fake_okta.load_samples(SAMPLES)
    fake_slack.add_users_from_samples(SAMPLES)
    launch_campaign(services, SAMPLE_CAMPAIGN)
    services.outbox.drain()
    fake_okta.reassign(REVIEW_C, CHEN)
    clock.now = datetime(2026, 9, 8, 15, 41, 30, tzinfo=UTC)
    return fake_okta


def review_reads(okta) -> int:
    return len(list(okta.requests_to("/governance/api/v1/reviews/")))


def test_single_reassignment_through_the_endpoint(
    story, client, worker, fake_slack, clock, services
):
    before = len(fake_slack.messages)
    assert post_hook(client, sample("event-decide-reassign.json")).status_code == 204
    run_worker(worker)
    assert len(fake_slack.messages) == before  # the quiet window is still open
    clock.advance(seconds=30)
    run_worker(worker)

    [dm] = fake_slack.messages[before:]
    assert dm.channel == CHEN_SLACK
    assert dm.text == (
        "Ben Okafor reassigned 1 item in Q3 2026 Access Review - Sales &amp; Finance Apps to you. "
        "Due Tue 29 Sep, 09:00 PDT (in 21 days) — reassigning does not extend the deadline."
    )
    quoted = [b["text"]["text"] for b in dm.blocks if b.get("text", {}).get("type") == "plain_text"]
    assert "“Gus moved to Chen's team in August; Chen owns GitHub access now.”" in quoted
    assert review_reads(story) == 1
    # Chen joins the reviewer table, so reminders include him.
    reviewers = {r["email"]: r for r in services.store.campaigns.reviewers(SAMPLE_CAMPAIGN)}
    assert reviewers["chen.wei@example.com"]["pending_items"] == 1
    assert reviewers["chen.wei@example.com"]["source"] == "reassign"
    [row] = services.store.messages.of_campaign(SAMPLE_CAMPAIGN, "reassign")
    assert (row["status"], row["email"]) == ("sent", "chen.wei@example.com")


def test_redelivered_event_sends_nothing_more(story, client, worker, fake_slack, clock):
    body = sample("event-decide-reassign.json")
    post_hook(client, body)
    clock.advance(seconds=31)
    run_worker(worker)
    count = len(fake_slack.messages)
    # Okta redelivers (same event), and a retry arrives as a new delivery and event id.
    post_hook(client, body)
    again = copy.deepcopy(body)
    again["eventId"] = "another-delivery"
    again["data"]["events"][0]["uuid"] = "another-event-uuid"
    post_hook(client, again)
    clock.advance(seconds=60)
    run_worker(worker)
    assert len(fake_slack.messages) == count


def test_a_burst_of_40_reassignments_is_one_message(
    services, fake_okta, fake_slack, client, worker, clock
):
    campaign_id = fake_okta.generate_campaign(reviews=40, reviewers=1)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    newcomer = {"id": "00uNewReviewer000000", "email": "dana.kim@example.com",
                "firstName": "Dana", "lastName": "Kim", "status": "ACTIVE", "type": "USER"}  # fmt: skip
    [dana] = fake_slack.generate_users(["dana.kim@example.com"]).values()
    template = sample("event-decide-reassign.json")
    for i, review in enumerate(fake_okta.reviews_of(campaign_id)):
        fake_okta.reassign(review["id"], newcomer)
        body = copy.deepcopy(template)
        body["eventId"] = f"delivery-{i}"
        event = body["data"]["events"][0]
        event["uuid"] = f"event-{i}"
        event["debugContext"]["debugData"].update(
            campaignId=campaign_id, campaignItemReviewerId=review["id"]
        )
        post_hook(client, body)
        run_worker(worker)
        clock.advance(seconds=2)  # one reassignment every 2 s: 78 s in all
    # The last came at t=78 s; now t=80 s. The quiet window closes at t=108 s.
    assert fake_slack.messages_to(dana) == []
    clock.advance(seconds=27)
    run_worker(worker)
    assert fake_slack.messages_to(dana) == []
    clock.advance(seconds=1)
    run_worker(worker)
    [dm] = fake_slack.messages_to(dana)
    assert dm.text.startswith("Ben Okafor reassigned 40 items in Generated Access Review to you.")
    assert len(services.store.reassignments.of_campaign(campaign_id)) == 40


def test_a_steady_stream_is_still_announced_after_max_wait(services, fake_okta, fake_slack, clock):
    from app.models import ClaimedEvent
    from app.pipeline.on_decide import DecideHandler
    from app.pipeline.reassignment_notices import ReassignmentNotices

    campaign_id = fake_okta.generate_campaign(reviews=30, reviewers=1)
    launch_campaign(services, campaign_id)
    [dana] = fake_slack.generate_users(["dana.kim@example.com"]).values()
    newcomer = {"id": "00uNewReviewer000000", "email": "dana.kim@example.com"}
    handler = DecideHandler(services.okta, services.store, services.clock)
    flush_reassignments = ReassignmentNotices(
        services.store, services.planner, services.settings.reassign, services.clock
    )
    announced_at = None
    for i, review in enumerate(fake_okta.reviews_of(campaign_id)):
        fake_okta.reassign(review["id"], newcomer)
        payload = sample("event-decide-reassign.json")["data"]["events"][0]
        payload["debugContext"]["debugData"]["campaignItemReviewerId"] = review["id"]
        event = ClaimedEvent(f"u{i}", f"d{i}", "certification.campaign.item.decide",
                             campaign_id, clock.epoch(), json.dumps(payload), 1)  # fmt: skip
        assert handler(event) == "done"
        if flush_reassignments() and announced_at is None:
            announced_at = i
        clock.advance(seconds=20)  # never 30 s of quiet
    services.outbox.drain()
    # The first arrived at t=0; max_wait is 300 s, reached with the 16th (t=300).
    assert announced_at == 15
    [first] = fake_slack.messages_to(dana)
    assert "reassigned 16 items" in first.text
    clock.advance(seconds=30)  # the stream stops: the rest go out after 30 s of quiet
    flush_reassignments()
    services.outbox.drain()
    assert "reassigned 14 items" in fake_slack.messages_to(dana)[1].text


def test_a_batch_mixing_decisions_reads_okta_once_and_sends_one_dm(
    story, client, worker, fake_slack, clock
):
    approve = sample("event-decide-approve.json")["data"]["events"]
    delegate = sample("event-decide-reassign.json")["data"]["events"]
    noresponse = sample("event-close.json")["data"]["events"][1:]
    body = sample("event-decide-reassign.json")
    body["data"]["events"] = approve + delegate + noresponse
    before_reads, before = review_reads(story), len(fake_slack.messages)
    post_hook(client, body)
    clock.advance(seconds=31)
    run_worker(worker)
    assert review_reads(story) - before_reads == 1
    assert [m.channel for m in fake_slack.messages[before:]] == [CHEN_SLACK]
    statuses = worker.services.store.inbox.counts()
    # Ana's APPROVE and Omar's REVOKE are recorded (no Okta call: see test_live_updates);
    # the three NORESPONSE of the close are ignored.
    assert statuses == {"ignored": 3, "done": 3}


def test_reassignment_in_a_campaign_launched_before_install(
    services, fake_okta, fake_slack, client, worker, clock
):
    fake_okta.load_samples(SAMPLES)  # certnotify never saw the launch
    fake_slack.add_users_from_samples(SAMPLES)
    fake_okta.reassign(REVIEW_C, CHEN)
    clock.now = datetime(2026, 9, 8, 15, 41, 30, tzinfo=UTC)
    post_hook(client, sample("event-decide-reassign.json"))
    clock.advance(seconds=31)
    run_worker(worker)
    assert services.store.campaigns.row(SAMPLE_CAMPAIGN)["name"].startswith("Q3 2026 Access Review")
    assert [m.channel for m in fake_slack.messages] == [CHEN_SLACK]
    assert "Due Tue 29 Sep, 09:00 PDT" in fake_slack.messages[0].text


def test_reassigned_to_a_group_nobody_is_messaged(story, client, worker, fake_slack, clock):
    review = sample("reviews-page-2.json")["data"][0]  # review D: a GROUP review
    body = sample("event-decide-reassign.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["campaignItemReviewerId"] = review["id"]
    before = len(fake_slack.messages)
    post_hook(client, body)
    clock.advance(seconds=31)
    run_worker(worker)
    assert fake_slack.messages[before:] == []
    assert worker.services.store.inbox.counts().get("ignored") == 1


def test_review_already_decided_is_ignored(story, client, worker, fake_slack, clock):
    story.decide(REVIEW_C, "APPROVE")
    before = len(fake_slack.messages)
    post_hook(client, sample("event-decide-reassign.json"))
    clock.advance(seconds=31)
    run_worker(worker)
    assert fake_slack.messages[before:] == []


def test_new_reviewer_without_slack_is_recorded_unmapped(
    story, client, worker, fake_slack, clock, services
):
    stranger = dict(CHEN, id="00uNoSlack0000000000", email="no.slack@example.com")
    story.reassign(REVIEW_C, stranger)
    before = len(fake_slack.messages)
    post_hook(client, sample("event-decide-reassign.json"))
    clock.advance(seconds=31)
    run_worker(worker)
    assert fake_slack.messages[before:] == []
    [row] = services.store.messages.of_campaign(SAMPLE_CAMPAIGN, "reassign")
    assert (row["status"], row["error"]) == ("unmapped", "no Slack account with this email")


def test_other_decisions_make_no_calls_and_unknown_values_are_logged_once(
    story, client, worker, caplog, fake_slack
):
    body = sample("event-decide-approve.json")
    odd = copy.deepcopy(body["data"]["events"][0])
    odd["uuid"] = "odd-1"
    odd["debugContext"]["debugData"]["campaignItemDecision"] = "ESCALATE"
    odd2 = copy.deepcopy(odd)
    odd2["uuid"] = "odd-2"
    body["data"]["events"] += [odd, odd2]
    okta_before, slack_before = len(story.requests), fake_slack.call_count()
    with caplog.at_level(logging.WARNING, logger="app.pipeline.on_decide"):
        post_hook(client, body)
        run_worker(worker)
    assert len(story.requests) == okta_before
    assert fake_slack.call_count() == slack_before
    assert sum("ESCALATE" in r.message for r in caplog.records) == 1


def test_reassigned_people_are_not_also_sent_the_launch_message_by_the_safety_net(
    story, client, worker, fake_slack, clock, services
):
    from datetime import date

    from app.pipeline.reminder_pass import run_reminder_pass

    post_hook(client, sample("event-decide-reassign.json"))
    run_worker(worker)  # recorded, still inside its quiet window
    run_reminder_pass(services, today=date(2026, 9, 8))
    clock.advance(seconds=31)
    run_worker(worker)
    to_chen = fake_slack.messages_to(CHEN_SLACK)
    assert len(to_chen) == 1
    assert to_chen[0].text.startswith("Ben Okafor reassigned 1 item")
    # Chen is reminded like everyone else from then on.
    run_reminder_pass(services, today=date(2026, 9, 15))
    assert len(fake_slack.messages_to(CHEN_SLACK)) == 2
