"""Reaching reviewers at the right moment (issue 13), against the fake Okta and Slack,
with injected dates and time zones: the rhythm over a whole campaign of any length,
working hours in each reviewer's own zone, one digest, spacing, and Okta's own settings."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.models import Campaign
from app.ops.status import collect_status
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
    # status tells a reminder waiting for its hour from a backlog.
    report = collect_status(services.store, clock())
    assert (report["outbox_pending"], report["outbox_scheduled"]) == (1, 1)
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


# -- one digest, spacing, nudges, escalation ----------------------------------------------
def three_campaigns_for_one_reviewer(services, fake_okta, fake_slack):
    """Three campaigns started together whose one reviewer is the same person in Slack
    (the generator gives each campaign its own Okta id for reviewer00000@example.com)."""
    ids = [
        fake_okta.generate_campaign(name=f"Review {n}", start=START, reviews=2 + n, reviewers=1)
        for n in range(3)
    ]
    [email] = {r["email"] for c in ids for r in fake_okta.reviewers_of(c)}
    user_id = fake_slack.generate_users([email])[email]
    for campaign_id in ids:
        launch_campaign(services, campaign_id)
    services.outbox.drain()
    return ids, user_id


def test_three_campaigns_make_one_digest(services, fake_okta, fake_slack):
    ids, user_id = three_campaigns_for_one_reviewer(services, fake_okta, fake_slack)
    assert len(fake_slack.messages) == 3  # three launch DMs: those stay immediate
    before = len(fake_slack.messages)
    result = run_reminder_pass(services, today=start_date(fake_okta, ids[0]) + timedelta(days=7))
    [digest] = fake_slack.messages[before:]
    assert digest.channel == user_id
    assert result.sent == 3  # one message, one ledger row per campaign
    assert digest.text.startswith("3 access reviews waiting for you:")
    sections = [b for b in digest.blocks if b["type"] == "section"]
    assert len(sections) == 3
    for n, section in enumerate(sections):
        assert (
            f"*{2 + n} items* are still waiting for your review in *Review {n}*"
            in (section["text"]["text"])
        )
        assert "due *Tue 29 Sep" in section["text"]["text"]
        assert section["accessory"]["url"].endswith("/app/UserHome")
    rows = [services.store.messages.of_campaign(c, "reminder")[0] for c in ids]
    assert {(r["status"], r["ts"]) for r in rows} == {("sent", digest.ts)}
    # Once: the next pass on the same day sends nothing.
    run_reminder_pass(services, today=start_date(fake_okta, ids[0]) + timedelta(days=7))
    assert fake_slack.messages[before + 1 :] == []


def test_a_digest_lists_only_what_is_still_due_when_it_goes_out(
    services, fake_okta, fake_slack, clock
):
    ids, _ = three_campaigns_for_one_reviewer(services, fake_okta, fake_slack)
    clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)  # planned for 09:30 in LA
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    # Before it goes out, one campaign ends and another is finished by the reviewer.
    services.store.campaigns.retire(ids[0], "status COMPLETED", clock())
    services.store.campaigns.refresh_pending(ids[1], [], [], clock())
    clock.now = datetime(2026, 9, 8, 16, 30, tzinfo=UTC)
    before = len(fake_slack.messages)
    services.outbox.drain()
    [message] = fake_slack.messages[before:]
    assert "Review 2" in message.text
    assert "Review 0" not in message.text
    assert "Review 1" not in message.text
    statuses = {c: services.store.messages.of_campaign(c, "reminder")[0] for c in ids}
    assert statuses[ids[0]]["error"] == "campaign ended before it was due"
    assert statuses[ids[1]]["error"] == "nothing left to review when it was due"
    assert statuses[ids[2]]["status"] == "sent"


def test_never_two_reminders_within_three_days(services, fake_okta, fake_slack, clock):
    _campaign_id, _ = launch(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    other = fake_okta.generate_campaign(name="Other", start=START + timedelta(days=2), reviews=3,
                                        reviewers=1)  # fmt: skip
    launch_campaign(services, other)
    services.outbox.drain()
    clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)  # day 7 of the first
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    clock.now = datetime(2026, 9, 8, 16, 30, tzinfo=UTC)
    services.outbox.drain()
    # Two days later, day 7 of the other: it waits until 3 days after the first reminder.
    clock.now = datetime(2026, 9, 10, 9, 0, tzinfo=UTC)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    [row] = services.store.messages.of_campaign(other, "reminder")
    due = datetime.fromtimestamp(row["not_before"], UTC)
    assert due == datetime(2026, 9, 11, 16, 30, tzinfo=UTC)  # Fri 11 Sep, 09:30 in LA


def nudge_twice(services, campaign_id, **args):
    from app.pipeline.commands import run_job

    first = run_job(services, "nudge", {"campaign_id": campaign_id, **args}, send=True)
    second = run_job(services, "nudge", {"campaign_id": campaign_id, **args}, send=True)
    return first, second


def test_nudge_twice_in_a_day_sends_once(services, fake_okta, fake_slack, clock):
    campaign_id, _ = launch(services, fake_okta, fake_slack, reviews=6, reviewers=3)
    clock.now = datetime(2026, 9, 4, 9, 0, tzinfo=UTC)  # 02:00 in LA: a nudge is at once
    before = len(fake_slack.messages)
    (code1, out1), (code2, out2) = nudge_twice(services, campaign_id)
    assert (code1, out1["out"].splitlines()[0]) == (0, "sent=3 unmapped=0 failed=0")
    assert (code2, out2["out"].splitlines()[0]) == (
        0,
        "sent=0 unmapped=0 failed=0 already_nudged_today=3",
    )
    nudges = fake_slack.messages[before:]
    assert len(nudges) == 3
    assert all("asked us to remind you" in str(m.blocks) for m in nudges)
    # The next day, once more.
    clock.advance(days=1)
    (_, out3), _ = nudge_twice(services, campaign_id)
    assert out3["out"].startswith("sent=3 ")


def test_nudge_one_reviewer_and_refuse_unknown_ones(services, fake_okta, fake_slack):
    campaign_id, ids = launch(services, fake_okta, fake_slack, reviews=6, reviewers=3)
    email = sorted(ids)[1]
    before = len(fake_slack.messages)
    (code, out), _ = nudge_twice(services, campaign_id, reviewer=email.upper())
    assert code == 0
    [nudge] = fake_slack.messages[before:]
    assert nudge.channel == ids[email]
    from app.pipeline.commands import run_job

    code, out = run_job(services, "nudge", {"campaign_id": campaign_id,
                                            "reviewer": "nobody@example.com"}, send=True)  # fmt: skip
    assert code == 1
    assert out["err"].strip() == (
        f"Error: nobody@example.com has no pending items in campaign {campaign_id}"
    )
    code, out = run_job(services, "nudge", {"campaign_id": "ici0unknown"}, send=True)
    assert code == 1
    assert "is not followed here (run: certnotify sync ici0unknown)" in out["err"]


def test_a_late_reviewers_manager_is_told_once(services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(start=START, reviews=8, reviewers=4, managers=True)
    reviewers = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    managers = sorted(
        {
            u["profile"]["email"]
            for u in fake_okta.directory.users.values()
            if u["profile"]["email"].startswith("manager")
        }
    )
    ids = fake_slack.generate_users(reviewers + managers)
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    first = start_date(fake_okta, campaign_id)
    told: list = []
    for day in range(15, 28):
        before = len(fake_slack.messages)
        run_reminder_pass(services, today=first + timedelta(days=day))
        told += [
            (day, m)
            for m in fake_slack.messages[before:]
            if m.channel in {ids[e] for e in managers}
        ]
    # One manager (manager00000) for the four reviewers: told on day 21, in one message
    # listing the four, and never again.
    assert [day for day, _ in told] == [21]
    [(_, message)] = told
    assert message.text.startswith("Access reviews waiting on your team:")
    assert message.text.count("still has 2 items to review in Generated Access Review") == 4
    rows = services.store.messages.of_campaign(campaign_id, "escalation")
    assert len(rows) == 4
    assert {r["status"] for r in rows} == {"sent"}
