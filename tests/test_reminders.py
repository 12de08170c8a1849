"""Daily reminders: milestones, catch-up, retirement, exactly once, with injected dates."""

from __future__ import annotations

import io
import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.config import ReminderSettings
from app.models import Campaign
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_days import campaign_day, due_milestone, milestone_days
from app.pipeline.reminder_pass import run_reminder_pass
from fakes.okta import FakeOkta
from tests.helpers import make_settings

LA = ZoneInfo("America/Los_Angeles")
START = date(2026, 9, 1)  # the fake's default campaign starts 2026-09-01 09:00 in LA


def campaign_from(start: str, end: str | None, tz: str = "America/Los_Angeles") -> Campaign:
    schedule = {"startDate": start, "timeZone": tz}
    if end:
        schedule["endDate"] = end
    return Campaign.from_api({"id": "ici1", "name": "x", "scheduleSettings": schedule})


# -- pure day arithmetic ----------------------------------------------------------------
def test_default_milestones_of_a_28_day_campaign():
    campaign = campaign_from("2026-09-01T09:00:00-07:00", "2026-09-29T09:00:00-07:00")
    assert milestone_days(campaign, ReminderSettings(), LA) == [7, 14, 21, 25]


def test_days_before_end_join_the_milestones_and_days_outside_the_campaign_drop():
    campaign = campaign_from("2026-09-01T09:00:00-07:00", "2026-09-11T09:00:00-07:00")
    settings = ReminderSettings(
        days_after_start=[4, 14], days_before_end=[3, 1, 20], final_notice_days_before_end=0
    )
    # 4 and 10-1=9 stay; 10-3=7 is within 3 days of 9 and gives way; 14 and 10-20 are outside.
    assert milestone_days(campaign, settings, LA) == [4, 9]


def test_campaign_without_end_keeps_every_day_after_start():
    campaign = campaign_from("2026-09-01T09:00:00-07:00", None)
    days = milestone_days(campaign, ReminderSettings(days_before_end=[2]), LA)
    # Every 7 days, for at most a year; no final notice without an end.
    assert days[:4] == [7, 14, 21, 28]
    assert days[-1] == 364
    assert all(b - a == 7 for a, b in itertools.pairwise(days))


def test_day_is_counted_in_the_campaign_time_zone():
    # 23:30 in Los Angeles on 1 Sep is already 2 Sep in UTC.
    campaign = campaign_from("2026-09-01T23:30:00-07:00", "2026-09-29T23:30:00-07:00")
    assert campaign.start.date() == date(2026, 9, 2)
    assert campaign_day(campaign, date(2026, 9, 8), LA) == 7
    assert campaign_day(campaign, date(2026, 9, 8), ZoneInfo("UTC")) == 6


@pytest.mark.parametrize(
    ("day", "expected"),
    [(0, None), (6, None), (7, 7), (8, 7), (21, 21), (22, 21), (24, 21), (25, 25), (27, 25)],
)
def test_due_milestone_is_the_latest_on_or_before_today(day, expected):
    assert due_milestone([7, 14, 21, 25], day) == expected


# -- passes against the fakes ---------------------------------------------------------
class Org:
    """A launched campaign in the fake org, and helpers to run passes on given days."""

    def __init__(self, services, okta: FakeOkta, slack, **campaign) -> None:
        self.services, self.okta, self.slack = services, okta, slack
        self.id = okta.generate_campaign(**campaign)
        self.reviewers = okta.reviewers_of(self.id)
        self.emails = [r["email"] for r in self.reviewers]
        self.user_ids = slack.generate_users(self.emails)
        launch_campaign(services, self.id)
        services.outbox.drain()
        self.start = Campaign.from_api(okta._campaigns[self.id]).start.astimezone(LA).date()

    def remind(self, day: int, **kwargs):
        before = len(self.slack.messages)
        result = run_reminder_pass(self.services, today=self.start + timedelta(days=day), **kwargs)
        return result, self.slack.messages[before:]

    def who(self, messages) -> set[str]:
        by_id = {uid: email for email, uid in self.user_ids.items()}
        return {by_id[m.channel] for m in messages}

    def decide_all_of(self, email: str) -> None:
        for review in self.okta.reviews_of(self.id):
            if review.get("reviewerProfile", {}).get("email") == email:
                self.okta.decide(review["id"], "APPROVE")


@pytest.fixture
def org(services, fake_okta, fake_slack):
    return Org(services, fake_okta, fake_slack, reviews=12, reviewers=4)


def test_a_thirty_day_lifecycle(org, services):
    a, b, c, d = org.emails
    assert len(org.slack.messages) == 4  # the launch DMs
    log: dict[int, set[str]] = {}
    texts: dict[int, list[str]] = defaultdict(list)
    for day in range(1, 31):
        if day == 10:
            org.decide_all_of(a)  # a finishes between day 7 and 14
        if day == 18:
            org.decide_all_of(b)
            org.decide_all_of(c)
        result, messages = org.remind(day)
        assert result.failed == 0
        log[day] = org.who(messages)
        texts[day] = [m.text for m in messages]

    assert log[7] == {a, b, c, d}
    assert log[14] == {b, c, d}
    assert log[21] == {d}
    assert log[25] == {d}
    assert all(not log[day] for day in log if day not in (7, 14, 21, 25))
    assert texts[7][0].startswith(
        "3 items are still waiting for your review in Generated Access Review"
    )
    assert "due Tue 29 Sep, 09:00 PDT (in 21 days)" in texts[7][0]
    [final] = texts[25]
    assert final.startswith(
        "3 days left: 3 items in Generated Access Review close unreviewed on Tue 29 Sep"
    )
    assert "Unreviewed access may be revoked or escalated." in final
    # Day 28 is the end date: retired, reviewer rows gone, ledger kept.
    row = services.store.campaigns.row(org.id)
    assert row["retired_reason"] == "end date reached"
    # Its reviewers stay as they were at the end: the final figures and reports read them.
    assert len(services.store.campaigns.reviewers(org.id)) == 4
    assert services.store.messages.counts(org.id) == {"sent": 4 + 4 + 3 + 1 + 1}


def test_same_date_twice_sends_nothing_the_second_time(org):
    first, sent = org.remind(7)
    assert (first.sent, len(sent)) == (4, 4)
    second, sent = org.remind(7)
    assert (second.sent, len(sent)) == (0, 0)
    _, sent = org.remind(8)
    assert sent == []


def test_a_missed_milestone_is_caught_up_once_until_the_next_arrives(org):
    org.remind(7)
    org.remind(14)
    # The service was down on day 21.
    result, sent = org.remind(22)
    assert result.sent == 4
    assert all("still waiting" in m.text for m in sent)
    assert org.remind(23)[1] == []
    assert org.remind(24)[1] == []
    _, final = org.remind(25)
    assert len(final) == 4
    assert all("days left" in m.text for m in final)


def test_after_a_long_outage_only_the_latest_milestone_is_sent(org):
    _, sent = org.remind(22)  # 7, 14 and 21 all missed: only 21
    assert len(sent) == 4
    ledger = {d["milestone"] for d in org.services.store.messages.of_campaign(org.id, "reminder")}
    assert ledger == {"day21"}


def test_a_campaign_ended_early_is_retired_and_nobody_is_reminded(org, services):
    org.okta.set_campaign_status(org.id, "COMPLETED")
    result, sent = org.remind(7)
    assert sent == []
    assert result.retired == [org.id]
    row = services.store.campaigns.row(org.id)
    assert row["retired_reason"] == "status COMPLETED"
    # Its reviewers stay as they were at the end: the final figures and reports read them.
    assert len(services.store.campaigns.reviewers(org.id)) == 4
    assert services.store.messages.counts(org.id) == {"sent": 4}  # the ledger is kept
    # Retired campaigns are not even read again.
    requests = len(org.okta.requests)
    org.remind(14)
    assert len(org.okta.requests) == requests


def test_a_campaign_gone_from_okta_for_a_day_is_retired(org, services, clock):
    org.okta._campaigns.pop(org.id)
    result, sent = org.remind(7)
    # One 404 is not enough: a wrong org URL or a limited admin role answers 404 too.
    assert (result.retired, sent) == ([], [])
    assert "not found in Okta" in result.errors[0]
    assert services.store.campaigns.row(org.id)["retired_at"] is None
    clock.advance(hours=23)
    assert org.remind(8)[0].retired == []
    clock.advance(hours=2)
    result, sent = org.remind(9)
    assert (result.retired, sent) == ([org.id], [])
    assert services.store.campaigns.row(org.id)["retired_reason"].startswith(
        "not found in Okta since"
    )


def test_a_campaign_that_answers_again_is_not_retired(org, services, clock):
    campaign = org.okta._campaigns.pop(org.id)
    org.remind(7)
    org.okta.add_campaign(campaign)
    org.remind(8)
    clock.advance(days=2)
    org.okta._campaigns.pop(org.id)
    assert org.remind(9)[0].retired == []  # the clock restarted when Okta answered
    assert services.store.campaigns.row(org.id)["retired_at"] is None


def test_close_event_retires_the_campaign(client, worker, org, services):
    from tests.helpers import post_hook, run_worker, sample

    body = sample("event-close.json")
    body["data"]["events"] = body["data"]["events"][:1]
    body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = org.id
    post_hook(client, body)
    run_worker(worker)
    assert services.store.campaigns.row(org.id)["retired_reason"] == "closed (campaign close event)"
    assert org.remind(7)[1] == []


def test_campaign_starting_at_2330_in_los_angeles(services, fake_okta, fake_slack):
    start = datetime(2026, 9, 1, 23, 30, tzinfo=LA)
    org = Org(services, fake_okta, fake_slack, reviews=2, reviewers=1, start=start)
    assert org.start == date(2026, 9, 1)
    assert run_reminder_pass(services, today=date(2026, 9, 7)).sent == 0
    assert run_reminder_pass(services, today=date(2026, 9, 8)).sent == 1


def test_server_rejecting_the_combined_filter_falls_back(tmp_path, fake_slack, clock):
    from app.services import Services

    with FakeOkta(combined_filter_supported=False, clock=clock.epoch) as okta:
        settings = make_settings(tmp_path, okta, fake_slack)
        services = Services.build(settings, clock=clock, sleep=clock.sleep)
        org = Org(services, okta, fake_slack, reviews=6, reviewers=3)
        org.decide_all_of(org.emails[0])
        result, sent = org.remind(7)
        org.remind(8)
        services.close()
    assert result.sent == 2
    assert org.who(sent) == set(org.emails[1:])
    filters = [r.param("filter") for r in okta.review_page_requests()]
    # One rejected combined filter, then campaign-only reads (the rejection is remembered).
    assert sum(" AND " in f for f in filters) == 1


def test_reviewer_never_told_gets_the_launch_message_once_and_no_reminder_that_day(org, services):
    newcomer = {"id": "00uNewcomer000000000", "email": "late@example.com",
                "firstName": "Lee", "lastName": "Late", "status": "ACTIVE", "type": "USER"}  # fmt: skip
    org.slack.add_user("ULATE00000", "late@example.com")
    first_review = org.okta.reviews_of(org.id)[0]["id"]
    org.okta.reassign(first_review, newcomer)  # a reassignment whose event we never got

    _, sent = org.remind(7)
    to_newcomer = [m for m in sent if m.channel == "ULATE00000"]
    assert len(to_newcomer) == 1
    assert to_newcomer[0].text.startswith(
        "Access review Generated Access Review: you have 1 access item"
    )
    assert len(sent) == 5  # 4 reminders + 1 launch message
    reminder_rows = {
        d["recipient"]: d["status"] for d in services.store.messages.of_campaign(org.id, "reminder")
    }
    assert reminder_rows["00uNewcomer000000000"] == "skipped"
    assert org.remind(7)[1] == []  # told once
    _, day14 = org.remind(14)
    assert "ULATE00000" in {m.channel for m in day14}
    reviewers = {r["recipient"]: r for r in services.store.campaigns.reviewers(org.id)}
    assert reviewers["00uNewcomer000000000"]["pending_items"] == 1
    assert reviewers["00uNewcomer000000000"]["source"] == "reminder"


def test_dry_run_prints_and_records_nothing(org, services):
    out = io.StringIO()
    ledger_before = services.store.messages.of_campaign(org.id)
    posts_before = org.slack.call_count("chat.postMessage")
    result, sent = org.remind(7, dry_run=True, out=out)
    assert sent == []
    assert org.slack.call_count("chat.postMessage") == posts_before
    assert services.store.messages.of_campaign(org.id) == ledger_before
    assert services.store.runs.all() == []
    assert result.line(dry_run=True).startswith("dry run: would_send=4 unmapped=0")
    printed = out.getvalue()
    for email in org.emails:
        assert f"── would DM {email} ({org.id}, reminder day7) ──" in printed
    # The real pass afterwards still sends all four.
    assert org.remind(7)[0].sent == 4


def test_a_pass_is_recorded_for_status(org, services):
    org.remind(7)
    [run] = services.store.runs.all()
    assert run["for_date"] == (org.start + timedelta(days=7)).isoformat()
    assert run["finished_at"] is not None
    from app.ops.status import collect_status

    report = collect_status(services.store, services.clock())
    assert report["last_reminder_run"]["sent"] == 4
    assert report["last_reminder_run"]["trigger"] == "command"


def test_reminders_to_people_without_slack_are_recorded_unmapped(services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=4, reviewers=2)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users(emails[:1])
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    result = run_reminder_pass(services, today=START + timedelta(days=7))
    assert (result.sent, result.unmapped) == (1, 1)
    again = run_reminder_pass(services, today=START + timedelta(days=7))
    assert (again.sent, again.unmapped) == (0, 0)


def test_an_okta_outage_on_one_campaign_does_not_stop_the_others(services, fake_okta, fake_slack):
    from fakes.okta import Fault

    ids = [
        fake_okta.generate_campaign(name=f"C{i}", reviews=2, reviewers=1, email_domain=f"c{i}.com")
        for i in range(2)
    ]
    for campaign_id in ids:
        fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
        launch_campaign(services, campaign_id)
    services.outbox.drain()
    fake_okta.inject(f"/governance/api/v1/campaigns/{ids[0]}", *[Fault(status=500)] * 5)
    result = run_reminder_pass(services, today=START + timedelta(days=7))
    assert result.sent == 1
    assert result.errors
    assert result.errors[0].startswith(ids[0])


def test_scheduled_pass_uses_each_campaigns_own_today(org, services, clock):
    # 2026-09-08 06:30 UTC is still 7 Sep in Los Angeles: day 6, nothing due.
    clock.now = datetime(2026, 9, 8, 6, 30, tzinfo=UTC)
    assert run_reminder_pass(services, trigger="schedule").sent == 0
    clock.now = datetime(2026, 9, 8, 16, 0, tzinfo=UTC)
    assert run_reminder_pass(services, trigger="schedule").sent == 4
