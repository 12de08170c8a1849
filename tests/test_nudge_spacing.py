"""Nudges and the scheduled reminders around them (issue 13): spacing after a nudge, a
reminder joining a digest that is already waiting, ``remind --dry-run`` and the
``nudge`` command's errors, with injected dates against the fake Okta and Slack."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from app.ops.cli import cli
from app.pipeline.commands import run_job
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.services import Services
from fakes.okta.data import person
from fakes.okta.people import user_record
from tests.harness import command_env
from tests.helpers import make_settings

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)  # Tue 1 Sep, 09:00 in Los Angeles


def at(text: str) -> datetime:
    """A moment given in Los Angeles time ("2026-09-08 09:30"), as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=LA).astimezone(UTC)


def launched(services, fake_okta, fake_slack, *, reviewer=None, **campaign) -> str:
    """A launched campaign; ``reviewer``: the Okta reviewer profile every user review gets
    (one person across campaigns has one Okta id), else the generated ones."""
    campaign_id = fake_okta.generate_campaign(**{"start": START, **campaign})
    if reviewer is not None:
        for review in fake_okta.reviews_of(campaign_id):
            fake_okta.add_review({**review, "reviewerProfile": reviewer})
    else:
        fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    return campaign_id


def row(services, campaign_id: str, kind: str) -> dict:
    [found] = services.store.messages.of_campaign(campaign_id, kind)
    return found


def not_before(found: dict) -> datetime:
    return datetime.fromtimestamp(found["not_before"], UTC)


# -- the 3 days after a nudge -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("nudged", "expected"),
    [
        # Nudged Monday 07:00: three days later is before opening time, so 09:30 Thursday.
        ("2026-09-07 07:00", "2026-09-10 09:30"),
        # Nudged Saturday noon: Tuesday's reminder waits until Tuesday noon.
        ("2026-09-05 12:00", None),
        # Nudged Friday: more than 3 days before Tuesday's slot, which stays.
        ("2026-09-04 10:00", "2026-09-08 09:30"),
    ],
    ids=["before-hours", "within-hours", "long-before"],
)
def test_a_scheduled_reminder_waits_three_days_after_a_nudge(
    services, fake_okta, fake_slack, clock, nudged, expected
):
    campaign_id = launched(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    clock.now = at(nudged)
    code, out = run_job(services, "nudge", {"campaign_id": campaign_id}, send=True)
    assert (code, out["out"]) == (0, "sent=1 unmapped=0 failed=0\n")
    nudge = row(services, campaign_id, "nudge")
    sent_at = datetime.fromisoformat(nudge["sent_at"])
    assert clock.now - timedelta(seconds=5) <= sent_at.astimezone(UTC) <= clock.now
    # Day 7, the scheduled pass at 09:00 UTC (02:00 in Los Angeles).
    clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    due = not_before(row(services, campaign_id, "reminder"))
    assert due == (at(expected) if expected else sent_at + timedelta(days=3))
    # Not a moment before.
    before = len(fake_slack.messages)
    clock.now = due - timedelta(seconds=1)
    services.outbox.drain()
    assert fake_slack.messages[before:] == []
    clock.now = due
    services.outbox.drain()
    [reminder] = fake_slack.messages[before:]
    assert "still waiting for your review" in reminder.text


# -- a reminder joins the digest already waiting ---------------------------------------------
def test_a_reminder_planned_while_a_digest_waits_joins_it(
    tmp_path, services, fake_okta, fake_slack, clock
):
    first = launched(services, fake_okta, fake_slack, name="Review A", reviews=2, reviewers=1,
                     start=at("2026-08-29 09:00"))  # fmt: skip  # Saturday: day 7 is a Saturday
    [reviewer] = fake_okta.reviewers_of(first)
    user_id = fake_slack.messages[-1].channel
    second = launched(services, fake_okta, fake_slack, name="Review B", reviews=3, reviewers=1,
                      start=at("2026-08-30 09:00"), reviewer=reviewer)  # fmt: skip
    assert len(fake_slack.messages_to(user_id)) == 2  # the two launch DMs
    # Saturday 5 Sep: Review A's day 7, kept for Monday 09:30.
    clock.now = datetime(2026, 9, 5, 9, 0, tzinfo=UTC)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    waiting = row(services, first, "reminder")
    assert not_before(waiting) == at("2026-09-07 09:30")
    # Sunday: Review B's day 7. The service was restarted meanwhile with a later opening
    # time (its own slot would be Monday 10:00), but the reminder joins Monday's digest.
    later = Services.build(
        make_settings(tmp_path, fake_okta, fake_slack, reminders={"local_time": "10:00"}),
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    clock.now = datetime(2026, 9, 6, 9, 0, tzinfo=UTC)
    run_reminder_pass(later, trigger="schedule", timed=True, send=False)
    joined = row(later, second, "reminder")
    assert joined["group_key"] == waiting["group_key"]
    assert not_before(joined) == at("2026-09-07 09:30")
    # One message on Monday at 09:30, listing both.
    clock.now = at("2026-09-07 09:30")
    later.outbox.drain()
    [digest] = fake_slack.messages_to(user_id)[2:]
    assert digest.text.startswith("2 access reviews waiting for you:")
    assert "Review A" in digest.text
    assert "Review B" in digest.text
    rows = [row(later, c, "reminder") for c in (first, second)]
    assert {(r["status"], r["ts"]) for r in rows} == {("sent", digest.ts)}
    later.close()


# -- remind --dry-run -------------------------------------------------------------------------
def snapshot(services) -> dict[str, list]:
    """Every row of every table."""
    db = services.store.db
    tables = [r["name"] for r in db.query("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {t: list(db.query(f"SELECT * FROM [{t}]")) for t in sorted(tables)}  # noqa: S608


def test_a_dry_run_prints_reminders_escalations_and_group_messages_and_records_nothing(
    services, fake_okta, fake_slack
):
    campaign_id = fake_okta.generate_campaign(
        start=START, reviews=6, reviewers=2, managers=True, group_reviews=1, group_members=1
    )
    reviewers = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users([*reviewers, "manager00000@example.com", "member0-0@example.com"])
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    # Someone joined the group since: told by the next real pass (not by a dry run).
    [(group, members)] = [
        (fake_okta.directory.groups[g], fake_okta.directory.members[g])
        for g in fake_okta.directory.groups
    ]
    newcomer = user_record(person("00uNewMember00000000", 2, "joiner@example.com"),
                           created="2026-09-10T00:00:00Z", admin=fake_okta.admin_url)  # fmt: skip
    fake_okta.add_group(group, [*(fake_okta.directory.users[m] for m in members), newcomer])
    fake_slack.generate_users(["joiner@example.com"])
    before = snapshot(services)
    posts = fake_slack.call_count("chat.postMessage")
    out = io.StringIO()
    day21 = START.astimezone(LA).date() + timedelta(days=21)
    result = run_reminder_pass(services, today=day21, dry_run=True, out=out)
    printed = out.getvalue()
    # Two reminders, two escalations (one digest to the manager when sent), one member.
    assert result.line(dry_run=True) == (
        "dry run: would_send=5 unmapped=0 retire=0 (nothing was sent or recorded)"
    )
    for email in reviewers:
        assert f"── would DM {email} ({campaign_id}, reminder day21) ──" in printed
    assert f"── would DM manager00000@example.com ({campaign_id}, escalation " in printed
    assert f"── would DM joiner@example.com ({campaign_id}, group {group['id']}) ──" in printed
    assert "member0-0@example.com" not in printed  # told at the launch
    assert "Reminder: Generated Access Review" in printed
    assert fake_slack.call_count("chat.postMessage") == posts
    assert snapshot(services) == before  # not even the Slack directory cache
    # The real pass then sends what the dry run showed: the two reviewers, their manager
    # (one digest), the newcomer.
    real = run_reminder_pass(services, today=day21)
    assert real.sent == 5
    assert fake_slack.call_count("chat.postMessage") == posts + 4


# -- the nudge command --------------------------------------------------------------------------
@pytest.fixture
def env(tmp_path, fake_okta, fake_slack) -> dict[str, str]:
    return command_env(tmp_path, fake_okta, fake_slack)


def nudge_cli(env, *args: str):
    # catch_exceptions=False: a traceback fails the test instead of hiding in the output.
    return CliRunner().invoke(cli, ["nudge", *args], env=env, catch_exceptions=False)


def test_nudge_of_a_campaign_not_followed_is_one_line(env, fake_okta, fake_slack):
    result = nudge_cli(env, "ici0unknown")
    assert result.exit_code == 1
    assert result.output == (
        "Error: campaign ici0unknown is not followed here (run: certnotify sync ici0unknown)\n"
    )
    assert fake_okta.requests_to("/governance/api/v1/campaigns/") == []
    assert fake_slack.messages == []


@pytest.mark.parametrize("bad", ["ici/../users", "ici 1", "ici1;rm"])
def test_nudge_refuses_a_malformed_campaign_id_before_asking_anyone(env, fake_okta, bad):
    result = nudge_cli(env, bad)
    assert result.exit_code == 2
    [error] = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error == "Error: Invalid value for CAMPAIGN_ID: must be letters and digits only"
    assert "Traceback" not in result.output
    assert fake_okta.requests == []


def test_nudge_of_an_ended_campaign_and_a_bad_reviewer_are_one_line(env, fake_okta, fake_slack):
    now = datetime.now(UTC)
    running = fake_okta.generate_campaign(start=now - timedelta(days=2), reviews=2, reviewers=1)
    ended = fake_okta.generate_campaign(name="Old", start=now - timedelta(days=40), reviews=2,
                                        reviewers=1, email_domain="old.example")  # fmt: skip
    for campaign_id in (running, ended):
        fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
        assert CliRunner().invoke(cli, ["sync", campaign_id], env=env).exit_code == 0
    result = nudge_cli(env, ended)
    assert (result.exit_code, result.output) == (
        1, f"Error: campaign {ended} is over (end date passed): nobody to nudge\n"
    )  # fmt: skip
    result = nudge_cli(env, running, "--reviewer", "not-an-email")
    assert (result.exit_code, result.output) == (
        1, "Error: --reviewer: use the reviewer's email address\n"
    )  # fmt: skip
    result = nudge_cli(env, running)
    assert (result.exit_code, result.output) == (0, "sent=1 unmapped=0 failed=0\n")
