"""The live launch DM: edited in place as the reviewer decides, "1 of 4 left", then "All done".

Decide events go through the real hook endpoint into the real worker; Slack is the fake
workspace (``chat.update`` edits the post in place and is recorded in ``updates``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from app.live_messages import all_done_message, live_launch_message
from app.messages import MessageContext
from app.pipeline.credentials import SLACK_AUTH
from app.pipeline.on_launch import launch_campaign
from app.pipeline.worker import Worker
from app.services import Services
from fakes.slack import Fault
from tests.helpers import event_requests, make_settings, post_hook, run_worker, sample, web_app

QUIET = 60  # messages.live_update_seconds, the default
DEADLINE = "Tue 29 Sep, 09:00 PDT (in 28 days)"
NAME = "Generated Access Review"


@dataclass
class Reviewer:
    campaign_id: str
    okta_id: str
    email: str
    slack_id: str
    reviews: list[str]


def launched(
    services,
    fake_okta,
    fake_slack,
    *,
    reviews: int = 4,
    drain: bool = True,
    decided_before: int = 0,
) -> Reviewer:
    """A campaign with one reviewer holding ``reviews`` items, told at launch (the first
    ``decided_before`` of them decided in Okta before the launch read them)."""
    campaign_id = fake_okta.generate_campaign(reviews=reviews, reviewers=1)
    for review in fake_okta.reviews_of(campaign_id)[:decided_before]:
        fake_okta.decide(review["id"])
    [profile] = fake_okta.reviewers_of(campaign_id)
    [slack_id] = fake_slack.generate_users([profile["email"]]).values()
    launch_campaign(services, campaign_id)
    if drain:
        services.outbox.drain()
    review_ids = [r["id"] for r in fake_okta.reviews_of(campaign_id)]
    return Reviewer(campaign_id, profile["id"], profile["email"], slack_id, review_ids)


def decided(who: Reviewer, review_id: str, decision: str = "APPROVE", *, uuid: str = "") -> Any:
    """A hook delivery: ``who`` decided ``review_id`` (built from the APPROVE sample)."""
    body = sample("event-decide-approve.json")
    event = body["data"]["events"][0]
    body["data"]["events"] = [event]
    uuid = uuid or f"{decision.lower()}-{review_id}"
    body["eventId"] = f"delivery-{uuid}"
    event["uuid"] = uuid
    event["actor"].update(id=who.okta_id, alternateId=who.email, displayName="Reviewer Zero")
    event["debugContext"]["debugData"].update(
        campaignId=who.campaign_id, campaignItemReviewerId=review_id, campaignItemDecision=decision
    )
    return body


def pending(services, who: Reviewer) -> int:
    [row] = [
        r
        for r in services.store.campaigns.reviewers(who.campaign_id)
        if r["recipient"] == who.okta_id
    ]
    return int(row["pending_items"])


@pytest.fixture
def reviewer(services, fake_okta, fake_slack) -> Reviewer:
    return launched(services, fake_okta, fake_slack)


# -- the story ---------------------------------------------------------------------------------
def test_a_burst_of_decisions_is_one_edit_and_the_last_one_says_all_done(
    reviewer, services, client, worker, fake_okta, fake_slack, clock
):
    [launch_dm] = fake_slack.messages_to(reviewer.slack_id)
    assert "4 access items to review" in launch_dm.text
    okta_before = len(event_requests(fake_okta))

    for review_id, decision in zip(
        reviewer.reviews[:3], ["APPROVE", "REVOKE", "APPROVE"], strict=True
    ):
        assert post_hook(client, decided(reviewer, review_id, decision)).status_code == 204
        run_worker(worker)
        clock.advance(seconds=5)
    assert pending(services, reviewer) == 1
    # The last decision came 5 s ago: the quiet window closes 55 s from now.
    clock.advance(seconds=QUIET - 6)
    run_worker(worker)
    assert fake_slack.updates == []
    clock.advance(seconds=1)
    run_worker(worker)

    [edit] = fake_slack.updates
    assert (edit.channel, edit.dm_channel, edit.ts) == (
        reviewer.slack_id,
        launch_dm.dm_channel,
        launch_dm.ts,
    )
    assert edit.text == (
        f"Access review {NAME}: you have 1 of 4 access items left to review by {DEADLINE}."
    )
    assert "You have *1 of 4 access items* left" in edit.blocks[1]["text"]["text"]
    # Edited in place: still one message in the DM, and it reads the new count.
    assert [m.text for m in fake_slack.messages_to(reviewer.slack_id)] == [edit.text]
    [row] = services.store.live.of_campaign(reviewer.campaign_id)
    assert (row["shown_pending"], row["shown_total"], row["ts"]) == (1, 4, launch_dm.ts)
    assert row["first_ts"] is None

    post_hook(client, decided(reviewer, reviewer.reviews[3], "REVOKE"))
    run_worker(worker)
    clock.advance(seconds=QUIET)
    run_worker(worker)
    assert len(fake_slack.updates) == 2
    done = fake_slack.updates[1]
    assert done.text == (
        f"All done: you reviewed all 4 items in {NAME}, 0 left before the deadline of "
        f"{DEADLINE}. Thank you."
    )
    assert "*All done:* you reviewed all 4 items" in done.blocks[1]["text"]["text"]
    assert [b["type"] for b in done.blocks] == ["header", "section", "context"]  # no button
    assert pending(services, reviewer) == 0

    # Okta redelivers every event, and retries arrive as new deliveries with new uuids.
    for review_id in reviewer.reviews:
        for decision in ("APPROVE", "REVOKE"):
            post_hook(client, decided(reviewer, review_id, decision))
            post_hook(client, decided(reviewer, review_id, decision, uuid=f"retry-{review_id}"))
    run_worker(worker)
    clock.advance(seconds=10 * QUIET)
    run_worker(worker)
    assert len(fake_slack.updates) == 2
    assert pending(services, reviewer) == 0
    assert len(services.store.live.decisions(reviewer.campaign_id)) == 4
    # Not one Okta call for any of it, and one Slack call per edit.
    assert len(event_requests(fake_okta)) == okta_before
    assert fake_slack.call_count("chat.update") == 2
    assert len(fake_slack.messages_to(reviewer.slack_id)) == 1


def test_noresponse_events_at_close_change_nothing(
    reviewer, services, client, worker, fake_slack, clock
):
    for review_id in reviewer.reviews:
        post_hook(client, decided(reviewer, review_id, "NORESPONSE"))
    run_worker(worker)
    clock.advance(seconds=10 * QUIET)
    run_worker(worker)
    assert fake_slack.call_count("chat.update") == 0
    assert pending(services, reviewer) == 4
    assert services.store.live.decisions(reviewer.campaign_id) == []
    assert services.store.inbox.counts() == {"ignored": 4}


def test_decisions_by_strangers_or_in_unknown_campaigns_are_ignored(
    reviewer, services, client, worker, fake_slack, clock
):
    stranger = replace(reviewer, okta_id="00uSomeoneElse000000")
    unknown = replace(reviewer, campaign_id="iciNeverLaunched0000")
    post_hook(client, decided(stranger, reviewer.reviews[0]))
    post_hook(client, decided(unknown, reviewer.reviews[1]))
    run_worker(worker)
    clock.advance(seconds=10 * QUIET)
    run_worker(worker)
    assert services.store.inbox.counts() == {"ignored": 2}
    assert pending(services, reviewer) == 4
    assert fake_slack.call_count("chat.update") == 0


def test_a_steady_stream_of_decisions_still_shows_after_five_quiet_windows(
    services, fake_okta, fake_slack, client, worker, clock
):
    who = launched(services, fake_okta, fake_slack, reviews=12)
    for review_id in who.reviews[:7]:  # one every 50 s, from t=0 to t=300: never 60 s quiet
        post_hook(client, decided(who, review_id))
        run_worker(worker)
        if not fake_slack.updates:
            clock.advance(seconds=50)
            run_worker(worker)
    # At t=300 the first (t=0) had waited 5 x 60 s: shown then, with the six so far.
    [edit] = fake_slack.updates
    assert "you have 6 of 12 access items left" in edit.text
    clock.advance(seconds=QUIET)  # the stream stops: the seventh shows after the quiet window
    run_worker(worker)
    assert "you have 5 of 12 access items left" in fake_slack.updates[1].text


def test_a_launch_dm_still_queued_is_edited_once_it_is_out(
    services, fake_okta, fake_slack, client, worker, clock
):
    who = launched(services, fake_okta, fake_slack, drain=False)
    post_hook(client, decided(who, who.reviews[0]))
    clock.advance(seconds=QUIET)
    # One round: the edit waits behind the queued launch DM, which then goes out.
    worker.tick()
    [dm] = fake_slack.messages_to(who.slack_id)
    assert "4 access items to review" in dm.text
    assert fake_slack.updates == []
    clock.advance(seconds=QUIET)
    run_worker(worker)
    [edit] = fake_slack.updates
    assert "3 of 4 access items left" in edit.text
    assert edit.ts == dm.ts


def test_each_level_of_a_multi_level_review_counts_for_its_own_reviewer(
    services, fake_okta, fake_slack, client, worker, clock
):
    # Okta keeps one review through its levels: the first-level reviewer decides it, then
    # the second-level reviewer decides the same review id.
    campaign_id = fake_okta.generate_campaign(reviews=4, reviewers=2)
    first, second = fake_okta.reviewers_of(campaign_id)
    fake_slack.generate_users([first["email"], second["email"]])
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    review = fake_okta.reviews_of(campaign_id)[0]["id"]
    level_1 = Reviewer(campaign_id, first["id"], first["email"], "", [review])
    level_2 = Reviewer(campaign_id, second["id"], second["email"], "", [review])
    post_hook(client, decided(level_1, review))
    post_hook(client, decided(level_2, review, uuid="level-2"))
    post_hook(client, decided(level_2, review, uuid="level-2-again"))  # a redelivery
    run_worker(worker)
    assert (pending(services, level_1), pending(services, level_2)) == (1, 1)
    clock.advance(seconds=QUIET)
    run_worker(worker)
    assert sorted(u.text.split(": ", 1)[1][:30] for u in fake_slack.updates) == [
        "you have 1 of 2 access items l",
        "you have 1 of 2 access items l",
    ]


# -- counts that Okta's reads already hold ----------------------------------------------------
def test_a_review_decided_before_the_launch_read_is_not_counted_twice(
    services, fake_okta, fake_slack, client, worker, clock
):
    # Decided just before the launch read it; its event is queued behind the launch.
    who = launched(services, fake_okta, fake_slack, decided_before=1)
    assert pending(services, who) == 3
    assert "3 access items to review" in fake_slack.messages_to(who.slack_id)[0].text
    post_hook(client, decided(who, who.reviews[0]))
    run_worker(worker)
    clock.advance(seconds=10 * QUIET)
    run_worker(worker)
    assert pending(services, who) == 3
    assert fake_slack.call_count("chat.update") == 0


def test_an_event_handled_after_the_daily_read_that_counted_it_changes_nothing(
    reviewer, services, client, worker, fake_okta, fake_slack, clock
):
    from datetime import date

    from app.pipeline.reminder_pass import run_reminder_pass

    fake_okta.decide(reviewer.reviews[0])
    body = decided(reviewer, reviewer.reviews[0])
    body["data"]["events"][0]["published"] = clock().isoformat().replace("+00:00", "Z")
    clock.advance(seconds=30)
    run_reminder_pass(services, today=date(2026, 9, 2))  # no milestone: counts only
    assert pending(services, reviewer) == 3
    post_hook(client, body)  # the event, handled late (a backlog after downtime)
    run_worker(worker)
    assert pending(services, reviewer) == 3
    assert services.store.inbox.counts() == {"done": 1}
    post_hook(client, decided(reviewer, reviewer.reviews[1]))  # a new one still counts
    run_worker(worker)
    assert pending(services, reviewer) == 2


def test_the_daily_read_corrects_a_live_dm_showing_another_count(
    reviewer, services, client, worker, fake_okta, fake_slack, clock
):
    from datetime import date

    from app.pipeline.reminder_pass import run_reminder_pass

    post_hook(client, decided(reviewer, reviewer.reviews[0]))
    fake_okta.decide(reviewer.reviews[0])
    run_worker(worker)
    clock.advance(seconds=QUIET)
    run_worker(worker)
    assert "3 of 4 access items left" in fake_slack.updates[0].text
    for review_id in reviewer.reviews[1:]:  # decided, but these events never arrive
        fake_okta.decide(review_id)
    run_reminder_pass(services, today=date(2026, 9, 2))
    run_worker(worker)
    assert len(fake_slack.updates) == 1  # after the quiet window, like any other edit
    clock.advance(seconds=QUIET)
    run_worker(worker)
    assert fake_slack.updates[1].text.startswith("All done: you reviewed all 4 items")


# -- no launch DM to edit ---------------------------------------------------------------------
def test_a_reviewer_whose_launch_dm_was_never_sent_gets_no_edit(
    services, fake_okta, fake_slack, client, worker, clock
):
    campaign_id = fake_okta.generate_campaign(reviews=4, reviewers=2)
    reached, unreached = fake_okta.reviewers_of(campaign_id)
    fake_slack.generate_users([reached["email"]])  # the other has no Slack account
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    reviews = [
        r["id"]
        for r in fake_okta.reviews_of(campaign_id)
        if r["reviewerProfile"]["id"] == unreached["id"]
    ]
    who = Reviewer(campaign_id, unreached["id"], unreached["email"], "", reviews)
    post_hook(client, decided(who, reviews[0]))
    run_worker(worker)
    clock.advance(seconds=QUIET)
    run_worker(worker)
    assert fake_slack.call_count("chat.update") == 0
    assert pending(services, who) == 1  # the count still follows the decisions
    [row] = services.store.live.of_campaign(campaign_id)
    assert (row["error"], row["first_ts"]) == ("no launch message sent (unmapped)", None)


def test_someone_told_only_by_a_reassignment_gets_no_edit(
    reviewer, services, fake_okta, fake_slack, client, worker, clock
):
    newcomer = {"id": "00uNewReviewer000000", "email": "dana.kim@example.com",
                "firstName": "Dana", "lastName": "Kim", "status": "ACTIVE", "type": "USER"}  # fmt: skip
    fake_slack.generate_users([newcomer["email"]])
    fake_okta.reassign(reviewer.reviews[0], newcomer)
    body = sample("event-decide-reassign.json")
    body["data"]["events"][0]["debugContext"]["debugData"].update(
        campaignId=reviewer.campaign_id, campaignItemReviewerId=reviewer.reviews[0]
    )
    post_hook(client, body)
    clock.advance(seconds=31)
    run_worker(worker)  # Dana hears of the reassignment
    dana = Reviewer(reviewer.campaign_id, newcomer["id"], newcomer["email"], "", [])
    post_hook(client, decided(dana, reviewer.reviews[0]))
    run_worker(worker)
    clock.advance(seconds=QUIET)
    run_worker(worker)
    assert fake_slack.call_count("chat.update") == 0
    rows = {r["recipient"]: r for r in services.store.live.of_campaign(reviewer.campaign_id)}
    assert rows[newcomer["id"]]["error"] == "no launch message sent (none)"


# -- Slack refusing -----------------------------------------------------------------------------
def test_a_message_slack_cannot_find_is_given_up_and_never_retried(
    reviewer, services, client, worker, fake_slack, clock
):
    fake_slack.inject("chat.update", Fault(error="message_not_found"))
    post_hook(client, decided(reviewer, reviewer.reviews[0]))
    run_worker(worker)
    clock.advance(seconds=QUIET)
    run_worker(worker)
    assert fake_slack.call_count("chat.update") == 1
    [row] = services.store.live.of_campaign(reviewer.campaign_id)
    assert (row["gave_up"], row["first_ts"]) == ("message_not_found", None)
    for review_id in reviewer.reviews[1:]:  # more decisions: still nothing to edit
        post_hook(client, decided(reviewer, review_id))
        run_worker(worker)
        clock.advance(seconds=QUIET)
        run_worker(worker)
    assert fake_slack.call_count("chat.update") == 1
    assert pending(services, reviewer) == 0
    assert services.store.state.get(SLACK_AUTH) is None


def test_an_edit_waits_out_a_revoked_token_and_goes_out_when_it_works_again(
    reviewer, services, client, worker, fake_slack, clock
):
    post_hook(client, decided(reviewer, reviewer.reviews[0]))
    run_worker(worker)
    clock.advance(seconds=QUIET)
    fake_slack.revoked = True
    for _ in range(30):  # 30 minutes, a round every minute
        run_worker(worker)
        clock.advance(seconds=60)
    assert fake_slack.call_count("chat.update") == 1  # found out once, then paused
    assert fake_slack.updates == []
    assert services.store.state.get(SLACK_AUTH)["error"] == "token_revoked"
    [row] = services.store.live.of_campaign(reviewer.campaign_id)
    assert (row["error"], row["attempts"]) == ("token_revoked", 0)
    assert row["first_ts"] is not None

    fake_slack.revoked = False  # an admin reinstalls the app
    for _ in range(20):
        run_worker(worker)
        clock.advance(seconds=60)
    [edit] = fake_slack.updates
    assert "3 of 4 access items left" in edit.text
    assert services.store.state.get(SLACK_AUTH) is None


def test_an_edit_waits_out_a_slack_outage_without_hammering(
    reviewer, services, client, worker, fake_slack, clock
):
    post_hook(client, decided(reviewer, reviewer.reviews[0]))
    run_worker(worker)
    clock.advance(seconds=QUIET)
    fake_slack.outage_status = 503
    for _ in range(40):  # 20 minutes, a round every 30 s
        run_worker(worker)
        clock.advance(seconds=30)
    # Each try is the SDK's retries (1 + 3); between tries everyone waits 15 s, 30 s, …
    assert fake_slack.call_count("chat.update") <= 6 * 4
    assert fake_slack.updates == []
    fake_slack.outage_status = None
    for _ in range(40):
        run_worker(worker)
        clock.advance(seconds=30)
    [edit] = fake_slack.updates
    assert "3 of 4 access items left" in edit.text


# -- settings and dry run ---------------------------------------------------------------------
def test_live_updates_off_sends_no_edits(tmp_path, fake_okta, fake_slack, clock):
    settings = make_settings(tmp_path, fake_okta, fake_slack, messages={"live_updates": False})
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    try:
        worker = Worker(services)
        worker.startup_checks()
        client = web_app(settings, clock).test_client()
        who = launched(services, fake_okta, fake_slack)
        for review_id in who.reviews:
            post_hook(client, decided(who, review_id))
        run_worker(worker)
        clock.advance(seconds=10 * QUIET)
        run_worker(worker)
        assert fake_slack.call_count("chat.update") == 0
        assert services.store.live.of_campaign(who.campaign_id) == []
        assert pending(services, who) == 0  # the counts still follow the decisions
    finally:
        services.close()


def test_a_shorter_quiet_window_is_honoured(tmp_path, fake_okta, fake_slack, clock):
    settings = make_settings(tmp_path, fake_okta, fake_slack, messages={"live_update_seconds": 5})
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    try:
        worker = Worker(services)
        worker.startup_checks()
        client = web_app(settings, clock).test_client()
        who = launched(services, fake_okta, fake_slack)
        post_hook(client, decided(who, who.reviews[0]))
        run_worker(worker)
        clock.advance(seconds=5)
        run_worker(worker)
        assert len(fake_slack.updates) == 1
    finally:
        services.close()


def test_dry_run_prints_the_edit(tmp_path, fake_okta, fake_slack, clock):
    settings = make_settings(tmp_path, fake_okta, fake_slack, slack={"dry_run": True})
    out = io.StringIO()
    services = Services.build(settings, clock=clock, sleep=clock.sleep, out=out)
    try:
        worker = Worker(services)
        worker.startup_checks()
        client = web_app(settings, clock).test_client()
        campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
        [profile] = fake_okta.reviewers_of(campaign_id)
        launch_campaign(services, campaign_id)
        run_worker(worker)
        who = Reviewer(campaign_id, profile["id"], profile["email"], "", [
            r["id"] for r in fake_okta.reviews_of(campaign_id)
        ])  # fmt: skip
        post_hook(client, decided(who, who.reviews[0]))
        run_worker(worker)
        clock.advance(seconds=QUIET)
        run_worker(worker)
    finally:
        services.close()
    printed = out.getvalue()
    assert f"── Slack DM to {profile['email']} (dry run)" in printed
    assert f"── Slack DM to {profile['email']} updated (dry run)" in printed
    assert "   You have 1 of 2 access items left to review by Tue 29 Sep" in printed
    assert fake_slack.call_count() == 0


# -- the messages -----------------------------------------------------------------------------
def context(name: str = "Q3 <Review> & *friends*") -> MessageContext:
    return MessageContext(
        campaign_name=name,
        end=datetime(2026, 9, 29, 16, tzinfo=UTC),
        zone=ZoneInfo("America/Los_Angeles"),
        review_url="https://acme.okta.com/app/UserHome",
        org_name="Acme",
        now=datetime(2026, 9, 8, 16, tzinfo=UTC),
        description="Quarterly review",
    )


def test_the_live_message_keeps_the_launch_layout_with_the_new_count():
    message = live_launch_message(context(), 3, 12)
    name = "Q3 &lt;Review&gt; &amp; \u2217friends\u2217"
    due = "Tue 29 Sep, 09:00 PDT (in 21 days)"
    assert message.text == (
        f"Access review {name}: you have 3 of 12 access items left to review by {due}."
    )
    assert [b["type"] for b in message.blocks] == ["header", "section", "actions", "context"]
    assert message.blocks[0]["text"]["text"] == "Access review: Q3 <Review> & *friends*"
    assert message.blocks[1]["text"]["text"] == (
        f"You have *3 of 12 access items* left to review by *{due}*.\n_Quarterly review_"
    )
    assert "1 of 1 access item left" in live_launch_message(context(), 1, 1).text
    # A count above the total (a reminder pass found more) never reads "5 of 4".
    assert "5 of 5 access items" in live_launch_message(context(), 5, 4).text


def test_all_done_names_the_campaign_the_count_and_the_deadline():
    assert live_launch_message(context(), 0, 12) == all_done_message(context(), 12)
    message = all_done_message(context("Q3"), 12)
    assert message.text == (
        "All done: you reviewed all 12 items in Q3, 0 left before the deadline of "
        "Tue 29 Sep, 09:00 PDT (in 21 days). Thank you."
    )
    assert message.blocks[1]["text"]["text"] == (
        "*All done:* you reviewed all 12 items in *Q3*. Thank you."
    )
    assert "you reviewed your 1 item in Q3" in all_done_message(context("Q3"), 1).text
