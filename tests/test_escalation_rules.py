"""Manager escalation (issue 13): who is escalated, to whom, when, and what stops it,
against the fake Okta directory (reviewers' ``managerId`` / ``managerEmail``) and Slack."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.config import SettingsError, load_settings
from app.models import Campaign
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.services import Services
from fakes.okta import Fault
from fakes.okta.data import person
from fakes.okta.people import user_record
from tests.helpers import make_settings

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)  # Tue 1 Sep, 09:00 in Los Angeles
MANAGER = "manager00000@example.com"  # the generated manager of reviewers 0 to 3
NAMES = ["Ana Lopez", "Ben Lopez", "Chen Lopez", "Dana Lopez"]  # reviewers 0 to 3


class Team:
    """A launched campaign whose reviewers share one manager (``managers=True``)."""

    def __init__(self, services, okta, slack, *, reviewers=4, in_slack=None, edit=None) -> None:
        self.services, self.okta, self.slack = services, okta, slack
        self.id = okta.generate_campaign(
            start=START, reviews=2 * reviewers, reviewers=reviewers, managers=True
        )
        self.reviewers = [r["email"] for r in okta.reviewers_of(self.id)]
        if edit:
            edit(self)
        reachable = self.reviewers if in_slack is None else in_slack(self.reviewers)
        self.ids = slack.generate_users([*reachable, MANAGER])
        launch_campaign(services, self.id)
        services.outbox.drain()
        campaign = Campaign.from_api(okta._campaigns[self.id])
        assert campaign.start is not None
        self.start = campaign.start.astimezone(LA).date()

    def user(self, email: str) -> dict:
        found = self.okta.directory.user(email)
        assert found is not None
        return found

    def set_profile(self, email: str, **profile) -> None:
        user = self.user(email)
        self.okta.add_user({**user, "profile": {**user["profile"], **profile}})

    def remind(self, day: int, **kwargs):
        before = len(self.slack.messages)
        result = run_reminder_pass(self.services, today=self.start + timedelta(days=day), **kwargs)
        return result, self.slack.messages[before:]

    def to_manager(self, messages) -> list:
        return [m for m in messages if m.channel == self.ids[MANAGER]]

    def escalations(self) -> list[dict]:
        return self.services.store.messages.of_campaign(self.id, "escalation")

    def about(self) -> set[str]:
        """Whom the escalation rows are about (their milestone: the reviewer's key)."""
        by_key = {self.user(e)["id"]: e for e in self.reviewers}
        return {by_key[r["milestone"]] for r in self.escalations()}


def build(tmp_path, fake_okta, fake_slack, clock, **overrides) -> Services:
    return Services.build(
        make_settings(tmp_path, fake_okta, fake_slack, **overrides), clock=clock, sleep=clock.sleep
    )


def test_a_reviewer_never_reached_in_slack_is_not_escalated(services, fake_okta, fake_slack):
    team = Team(services, fake_okta, fake_slack, in_slack=lambda emails: emails[1:])
    _, sent = team.remind(21)
    [message] = team.to_manager(sent)
    assert "Ana Lopez" not in message.text  # reviewer 0 never got a message from us
    for name in NAMES[1:]:
        assert f"{name} still has 2 items to review in Generated Access Review" in message.text
    assert team.about() == set(team.reviewers[1:])
    # Not later either.
    _, sent = team.remind(25)
    assert team.to_manager(sent) == []
    assert len(team.escalations()) == 3


def test_an_inactive_manager_is_not_told(services, fake_okta, fake_slack):
    def suspend(team: Team) -> None:
        fake_okta.add_user({**team.user(MANAGER), "status": "SUSPENDED"})

    team = Team(services, fake_okta, fake_slack, edit=suspend)
    result, sent = team.remind(21)
    assert team.to_manager(sent) == []
    assert team.escalations() == []
    # The reviewers' own reminders go out as usual.
    assert (result.sent, {m.channel for m in sent}) == (4, {team.ids[e] for e in team.reviewers})


def test_a_reviewer_who_is_their_own_manager_is_not_told_about_themselves(
    services, fake_okta, fake_slack
):
    def own_manager(team: Team) -> None:
        first = team.user(team.reviewers[0])
        team.set_profile(team.reviewers[0], managerId=first["id"])

    team = Team(services, fake_okta, fake_slack, edit=own_manager)
    _, sent = team.remind(21)
    to_first = [m for m in sent if m.channel == team.ids[team.reviewers[0]]]
    [reminder] = to_first  # their own day-21 reminder, nothing about themselves
    assert "still waiting for your review" in reminder.text
    [message] = team.to_manager(sent)
    assert "Ana Lopez" not in message.text
    assert team.about() == set(team.reviewers[1:])


def test_days_before_end_alone_escalates_on_day_25_of_28_only(
    tmp_path, fake_okta, fake_slack, clock
):
    services = build(tmp_path, fake_okta, fake_slack, clock,
                     escalation={"after_day": None, "days_before_end": 3})  # fmt: skip
    team = Team(services, fake_okta, fake_slack, reviewers=2)
    told: dict[int, list] = {}
    for day in range(1, 28):
        _, sent = team.remind(day)
        if to_manager := team.to_manager(sent):
            told[day] = to_manager
    assert list(told) == [25]
    [message] = told[25]
    assert "Ana Lopez still has 2 items" in message.text
    assert "Ben Lopez still has 2 items" in message.text
    assert "due Tue 29 Sep" in message.text
    assert {r["status"] for r in team.escalations()} == {"sent"}
    assert len(team.escalations()) == 2
    services.close()


def test_the_manager_can_come_from_an_email_attribute(tmp_path, fake_okta, fake_slack, clock):
    services = build(tmp_path, fake_okta, fake_slack, clock,
                     escalation={"manager_attribute": "managerEmail"})  # fmt: skip
    decoy = user_record(person("00uDecoyBoss00000000", 5, "decoy@example.com"),
                        created="2026-08-01T00:00:00Z", admin=fake_okta.admin_url)  # fmt: skip

    def other_manager_ids(team: Team) -> None:
        # managerId names someone else: only managerEmail leads to manager00000.
        fake_okta.add_user(decoy)
        for email in team.reviewers:
            team.set_profile(email, managerId=decoy["id"])

    team = Team(services, fake_okta, fake_slack, reviewers=2, edit=other_manager_ids)
    decoy_id = fake_slack.generate_users(["decoy@example.com"])["decoy@example.com"]
    _, sent = team.remind(21)
    [message] = team.to_manager(sent)
    assert "Ana Lopez" in message.text
    assert "Ben Lopez" in message.text
    assert [m for m in sent if m.channel == decoy_id] == []
    looked_up = [r.path for r in fake_okta.requests_to("/api/v1/users/")]
    assert "/api/v1/users/manager00000%40example.com" in looked_up
    services.close()


def test_okta_refusing_user_reads_stops_neither_reminders_nor_the_next_pass(
    services, fake_okta, fake_slack, caplog
):
    team = Team(services, fake_okta, fake_slack)
    # As Okta answers a service app without okta.users.read.
    fake_okta.inject("/api/v1/users/", Fault(status=403))
    with caplog.at_level(logging.WARNING):
        result, sent = team.remind(21)
    assert result.auth_error == ""
    assert result.sent == 4
    assert {m.channel for m in sent} == {team.ids[e] for e in team.reviewers}
    assert team.to_manager(sent) == []
    assert team.escalations() == []
    # One refusal is enough to know: the other reviewers' managers are not asked for
    # (Okta would have answered them: the fault was for one request).
    assert len(fake_okta.requests_to("/api/v1/users/")) == 1
    refusals = [r for r in caplog.records if "okta refused to read user profiles" in r.message]
    assert len(refusals) == 1
    # Once Okta answers (the scope granted), the next pass tells the manager.
    _, sent = team.remind(22)
    [message] = team.to_manager(sent)
    assert all(name in message.text for name in NAMES)
    assert len(team.escalations()) == 4


def test_an_escalation_is_skipped_when_the_reviewer_finishes_before_its_slot(
    services, fake_okta, fake_slack, clock
):
    team = Team(services, fake_okta, fake_slack, reviewers=2)
    # Day 21, 09:00 UTC: 02:00 in Los Angeles, where the manager's Slack account is.
    clock.now = datetime(2026, 9, 22, 9, 0, tzinfo=UTC)
    result = run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    assert result.scheduled == 4  # two reminders, two escalations
    rows = team.escalations()
    assert len(rows) == 2
    slot = datetime(2026, 9, 22, 16, 30, tzinfo=UTC)  # 09:30 PDT
    assert {datetime.fromtimestamp(r["not_before"], UTC) for r in rows} == {slot}
    # Ana finishes her reviews that morning; the next pass reads that from Okta.
    for review in fake_okta.reviews_of(team.id):
        if review["reviewerProfile"]["email"] == team.reviewers[0]:
            fake_okta.decide(review["id"])
    clock.now = datetime(2026, 9, 22, 12, 0, tzinfo=UTC)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    services.outbox.drain()
    assert team.to_manager(fake_slack.messages) == []  # not before the slot
    clock.now = slot
    services.outbox.drain()
    [message] = team.to_manager(fake_slack.messages)
    assert "Ben Lopez still has 2 items" in message.text
    assert "Ana Lopez" not in message.text
    ana = team.user(team.reviewers[0])["id"]
    by_reviewer = {r["milestone"]: r for r in team.escalations()}
    assert by_reviewer[ana]["status"] == "skipped"
    assert by_reviewer[ana]["error"] == "nothing left to review when it was due"
    assert {r["status"] for k, r in by_reviewer.items() if k != ana} == {"sent"}
    # Ana's own reminder was skipped too; Ben's went out.
    reminders = {r["recipient"]: r["status"] for r in
                 services.store.messages.of_campaign(team.id, "reminder")}  # fmt: skip
    assert reminders[ana] == "skipped"
    assert sorted(reminders.values()) == ["sent", "skipped"]


@pytest.mark.parametrize("attribute", ["profile.managerEmail", "1manager", "managér"])
def test_a_manager_attribute_okta_could_not_be_asked_for_stops_start_up(tmp_path, attribute):
    # Accepted here, it would make every reminder pass fail from the escalation day on.
    config = tmp_path / "config.yaml"
    config.write_text(f"escalation:\n  manager_attribute: '{attribute}'\n", encoding="utf-8")
    with pytest.raises(SettingsError) as error:
        load_settings(config, environ={})
    assert str(error.value).startswith(
        "escalation.manager_attribute: must be an Okta profile attribute name"
    )
