"""Reaching reviewers at the right moment (issue 13), against the fake Okta and Slack,
with injected dates and time zones: the rhythm over a whole campaign of any length,
working hours in each reviewer's own zone, one digest, spacing, and Okta's own settings."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import Campaign
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.services import Services
from tests.helpers import make_settings

LA = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")
START = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)  # Tue 1 Sep, 09:00 in Los Angeles


def build(tmp_path, fake_okta, fake_slack, clock, **overrides) -> Services:
    return Services.build(
        make_settings(tmp_path, fake_okta, fake_slack, **overrides), clock=clock, sleep=clock.sleep
    )


def launch(services, fake_okta, fake_slack, **campaign) -> tuple[str, dict[str, str]]:
    campaign_id = fake_okta.generate_campaign(start=START, **campaign)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    ids = fake_slack.generate_users(emails)
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    return campaign_id, ids


def start_date(fake_okta, campaign_id: str) -> date:
    campaign = Campaign.from_api(fake_okta._campaigns[campaign_id])
    assert campaign.start is not None
    return campaign.start.astimezone(LA).date()


# -- the rhythm over whole campaigns ---------------------------------------------------
def test_a_ninety_day_campaign_is_reminded_weekly_and_told_final_only_at_the_end(
    services, fake_okta, fake_slack
):
    campaign_id, _ids = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1,
                              duration_days=90)  # fmt: skip
    first = start_date(fake_okta, campaign_id)
    launched = len(fake_slack.messages)
    days: dict[int, str] = {}
    bodies: dict[int, str] = {}
    for day in range(1, 92):
        before = len(fake_slack.messages)
        run_reminder_pass(services, today=first + timedelta(days=day))
        sent = fake_slack.messages[before:]
        assert len(sent) <= 1
        if sent:
            days[day] = sent[0].text
            bodies[day] = sent[0].blocks[1]["text"]["text"]
    assert launched == 1
    assert sorted(days) == [*range(7, 85, 7), 87]
    # At most weekly; the final notice 3 days before the end, and only it is final.
    gaps = [b - a for a, b in itertools.pairwise(sorted(days))]
    assert all(gap == 7 for gap in gaps[:-1])
    assert gaps[-1] == 3
    assert days[87].startswith("3 days left: 2 items in Generated Access Review close")
    assert not any("days left:" in days[d] for d in days if d != 87)
    # Each reminder's wording fits its moment: the first, halfway (day 49 of 90), then
    # the days left.
    assert "halfway" in bodies[49]
    assert [d for d in bodies if "halfway" in bodies[d]] == [49]
    assert "days left" not in bodies[7]  # the first one just asks
    assert "41 days left." in bodies[49]
    assert "20 days left." in bodies[70]


@pytest.mark.parametrize(
    ("follow", "expected"), [(False, [7]), (True, [3, 7])], ids=["ours", "with Okta's"]
)
def test_a_ten_day_campaign_gets_its_final_notice_on_day_seven(
    tmp_path, fake_okta, fake_slack, clock, follow, expected
):
    # With Okta's settings followed, its "7 days before close" (day 3) joins.
    services = build(tmp_path, fake_okta, fake_slack, clock,
                     reminders={"follow_okta_settings": follow})  # fmt: skip
    campaign_id, _ = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1,
                            duration_days=10)  # fmt: skip
    first = start_date(fake_okta, campaign_id)
    sent_on = {}
    for day in range(1, 11):
        before = len(fake_slack.messages)
        run_reminder_pass(services, today=first + timedelta(days=day))
        if fake_slack.messages[before:]:
            sent_on[day] = fake_slack.messages[-1].text
    assert list(sent_on) == expected
    assert sent_on[7].startswith("3 days left:")
    services.close()


def test_the_sample_okta_settings_keep_days_7_14_21_25(services, fake_okta, fake_slack):
    # The fake's campaigns carry the sample's notificationSettings (7 days and 1 day
    # before close): 21 coincides, 27 falls after the final notice and gives way.
    campaign_id, _ = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    assert fake_okta._campaigns[campaign_id]["notificationSettings"][
        "remindersReviewerBeforeCampaignCloseInSecs"
    ] == [604800, 86400]
    first = start_date(fake_okta, campaign_id)
    sent_on = []
    for day in range(1, 29):
        before = len(fake_slack.messages)
        run_reminder_pass(services, today=first + timedelta(days=day))
        if fake_slack.messages[before:]:
            sent_on.append(day)
    assert sent_on == [7, 14, 21, 25]


def test_okta_reminder_days_join_the_rhythm(services, fake_okta, fake_slack):
    campaign_id, _ = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1,
                            duration_days=40)  # fmt: skip
    settings = fake_okta._campaigns[campaign_id]["notificationSettings"]
    settings["remindersReviewerBeforeCampaignCloseInSecs"] = [10 * 86400]  # day 30
    first = start_date(fake_okta, campaign_id)
    sent_on = []
    for day in range(1, 41):
        before = len(fake_slack.messages)
        run_reminder_pass(services, today=first + timedelta(days=day))
        if fake_slack.messages[before:]:
            sent_on.append(day)
    # 7, 14, 21, 28 every week; Okta's day 30 is within 3 days of 28, so 28 gives way.
    assert sent_on == [7, 14, 21, 30, 37]


def test_okta_settings_that_do_not_notify_on_assignment_mean_no_launch_dm(
    services, fake_okta, fake_slack
):
    campaign_id = fake_okta.generate_campaign(start=START, reviews=2, reviewers=1)
    fake_okta._campaigns[campaign_id]["notificationSettings"][
        "notifyReviewerWhenReviewAssigned"
    ] = False
    fake_slack.generate_users([r["email"] for r in fake_okta.reviewers_of(campaign_id)])
    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()
    assert "notifyReviewerWhenReviewAssigned: false" in summary.skipped
    assert fake_slack.messages == []
    # The pass does not announce it either, but reminds on day 7 as usual.
    first = start_date(fake_okta, campaign_id)
    run_reminder_pass(services, today=first + timedelta(days=3))
    assert fake_slack.messages == []
    run_reminder_pass(services, today=first + timedelta(days=7))
    [reminder] = fake_slack.messages
    assert "still waiting for your review" in reminder.text


def test_following_okta_settings_can_be_turned_off(tmp_path, fake_okta, fake_slack, clock):
    services = build(tmp_path, fake_okta, fake_slack, clock,
                     reminders={"follow_okta_settings": False})  # fmt: skip
    campaign_id = fake_okta.generate_campaign(start=START, reviews=2, reviewers=1)
    fake_okta._campaigns[campaign_id]["notificationSettings"][
        "notifyReviewerWhenReviewAssigned"
    ] = False
    fake_slack.generate_users([r["email"] for r in fake_okta.reviewers_of(campaign_id)])
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    assert len(fake_slack.messages) == 1  # announced all the same
    services.close()


def test_a_rule_excludes_campaigns_by_name_and_another_sets_its_own_days(
    tmp_path, fake_okta, fake_slack, clock
):
    rules = [
        {"name": "*sandbox*", "notify": False},
        {"name": "Q? SOX *", "every_days": 3, "final_notice_days_before_end": 0},
    ]
    services = build(tmp_path, fake_okta, fake_slack, clock, reminders={"campaigns": rules})
    sandbox, _ = launch(services, fake_okta, fake_slack, name="Dev Sandbox review",
                        reviews=2, reviewers=1, email_domain="sandbox.example")  # fmt: skip
    sox, _ = launch(services, fake_okta, fake_slack, name="Q3 SOX apps", reviews=2, reviewers=1,
                    duration_days=10, email_domain="sox.example")  # fmt: skip
    assert services.store.messages.counts(sandbox) == {}
    assert services.store.messages.counts(sox) == {"sent": 1}
    first = start_date(fake_okta, sox)
    sent_on = []
    for day in range(1, 11):
        before = len(fake_slack.messages)
        run_reminder_pass(services, today=first + timedelta(days=day))
        sent_on += [day] * len(fake_slack.messages[before:])
    # Every 3 days, no dedicated final notice: 3, 6, 9 (the last still reads as final).
    assert sent_on == [3, 6, 9]
    assert fake_slack.messages[-1].text.startswith("1 day left:")
    services.close()


def test_a_rule_matches_the_template_the_campaign_was_launched_from(
    tmp_path, fake_okta, fake_slack, clock
):
    rules = [{"template_id": "icp1zvrgxv2qLBxyN0g7", "notify": False}]
    services = build(tmp_path, fake_okta, fake_slack, clock,
                     reminders={"campaigns": rules, "only_listed_campaigns": False})  # fmt: skip
    campaign_id = fake_okta.generate_campaign(start=START, reviews=2, reviewers=1)
    fake_slack.generate_users([r["email"] for r in fake_okta.reviewers_of(campaign_id)])
    services.store.campaigns.note(campaign_id, "x", clock(), template_id="icp1zvrgxv2qLBxyN0g7")
    summary = launch_campaign(services, campaign_id)
    assert summary.skipped == "not announced: excluded by reminders.campaigns[1]"
    services.close()


# -- working hours in the reviewer's own zone ---------------------------------------------
def test_a_reviewer_in_los_angeles_gets_day_7_at_0930_local_on_a_weekday(
    services, fake_okta, fake_slack, clock
):
    campaign_id, ids = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)  # the scheduled pass: 02:00 in LA
    before = len(fake_slack.messages)
    result = run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    assert (result.scheduled, result.sent) == (1, 0)
    services.outbox.drain()
    assert fake_slack.messages[before:] == []  # not at 2 a.m.
    [row] = services.store.messages.of_campaign(campaign_id, "reminder")
    due = datetime.fromtimestamp(row["not_before"], UTC).astimezone(LA)
    assert (due.date(), due.hour, due.minute, due.strftime("%a")) == (
        date(2026, 9, 8),
        9,
        30,
        "Tue",
    )
    clock.now = due.astimezone(UTC) - timedelta(seconds=1)
    services.outbox.drain()
    assert fake_slack.messages[before:] == []
    clock.now = due.astimezone(UTC)
    services.outbox.drain()
    [reminder] = fake_slack.messages[before:]
    assert reminder.channel == next(iter(ids.values()))
    # Worded as of its delivery: 21 days left on Tue 8 Sep.
    assert "(in 21 days)" in reminder.text


def test_a_reviewer_in_tokyo_after_hours_gets_it_the_next_working_morning(
    services, fake_okta, fake_slack, clock
):
    campaign_id, ids = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    fake_slack.set_time_zone(next(iter(ids.values())), "Asia/Tokyo")
    services.directory.resolve(ids, fresh=True)  # the cache learns the new zone
    # Fri 11 Sep 09:00 UTC is 18:00 in Tokyo, after hours; Monday 09:30 is next.
    clock.now = datetime(2026, 9, 11, 9, 0, tzinfo=UTC)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    [row] = services.store.messages.of_campaign(campaign_id, "reminder")
    due = datetime.fromtimestamp(row["not_before"], UTC).astimezone(TOKYO)
    assert (due.strftime("%a"), due.hour, due.minute) == ("Mon", 9, 30)


def test_a_reviewer_without_a_slack_zone_follows_the_campaign_zone(
    services, fake_okta, fake_slack, clock
):
    campaign_id, ids = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    fake_slack.set_time_zone(next(iter(ids.values())), None)
    services.directory.resolve(ids, fresh=True)
    clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    [row] = services.store.messages.of_campaign(campaign_id, "reminder")
    due = datetime.fromtimestamp(row["not_before"], UTC).astimezone(LA)  # the campaign's zone
    assert (due.hour, due.minute) == (9, 30)


def test_an_operators_remind_sends_at_once_whatever_the_hour(
    services, fake_okta, fake_slack, clock
):
    _campaign_id, _ = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)  # 02:00 in LA
    before = len(fake_slack.messages)
    result = run_reminder_pass(services)
    assert result.sent == 1
    assert len(fake_slack.messages[before:]) == 1


@pytest.mark.parametrize(
    ("weekdays_only", "expected"), [(True, "Mon"), (False, "Sat")], ids=["weekdays", "any day"]
)
def test_a_weekend_milestone_waits_for_monday_unless_weekends_are_allowed(
    tmp_path, fake_okta, fake_slack, clock, weekdays_only, expected
):
    services = build(tmp_path, fake_okta, fake_slack, clock,
                     reminders={"weekdays_only": weekdays_only})  # fmt: skip
    # Started Saturday 29 Aug: day 7 is Saturday 5 Sep.
    campaign_id = fake_okta.generate_campaign(
        start=datetime(2026, 8, 29, 16, 0, tzinfo=UTC), reviews=2, reviewers=1
    )
    fake_slack.generate_users([r["email"] for r in fake_okta.reviewers_of(campaign_id)])
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    clock.now = datetime(2026, 9, 5, 9, 0, tzinfo=UTC)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    [row] = services.store.messages.of_campaign(campaign_id, "reminder")
    due = datetime.fromtimestamp(row["not_before"], UTC).astimezone(LA)
    assert (due.strftime("%a"), due.hour, due.minute) == (expected, 9, 30)
    services.close()
