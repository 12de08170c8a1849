"""The ``certnotify`` commands, run in-process against the fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from app.ops.cli import cli
from tests.harness import command_env

# These commands run on the real clock: campaigns must be running today.
NOW = datetime.now(UTC)


@pytest.fixture
def env(tmp_path, fake_okta, fake_slack) -> dict[str, str]:
    return command_env(tmp_path, fake_okta, fake_slack, config="worker:\n  lease_seconds: 30\n")


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    for command in ("serve", "worker", "sync", "test-message", "status", "demo"):
        assert command in result.output


def test_sync_notifies_and_prints_the_counts(env, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(start=NOW, reviews=250, reviewers=30)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users(emails[:-1])
    result = run(env, "sync", campaign_id)
    assert result.exit_code == 0, result.output
    assert "250 reviews in 2 pages, 30 reviewers" in result.output
    assert "sent=29 unmapped=1 failed=0" in result.output
    assert f"not in Slack: {emails[-1]} (no Slack account with this email)" in result.output
    assert len(fake_slack.messages) == 29
    # Running it again tells nobody twice.
    again = run(env, "sync", campaign_id)
    assert "sent=0 unmapped=1 failed=0" in again.output
    assert len(fake_slack.messages) == 29


def test_sync_refuses_an_id_that_is_not_alphanumeric(env, fake_okta):
    result = run(env, "sync", "ici/../../users")
    assert result.exit_code == 2
    assert "letters and digits" in result.output
    assert fake_okta.requests == []


def test_sync_with_a_broken_slack_token_stops_and_says_so(env, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(start=NOW, reviews=6, reviewers=3)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    env["SLACK_BOT_TOKEN"] = "xoxb-revoked"
    result = run(env, "sync", campaign_id)
    assert result.exit_code == 1
    assert "invalid_auth" in result.output
    assert "xoxb-revoked" not in result.output


def test_status_json_has_the_contract_fields(env, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(start=NOW, name="Q4 <review>", reviews=4, reviewers=2)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    run(env, "sync", campaign_id)
    result = run(env, "status", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["inbox_pending"] == 0
    assert report["outbox_pending"] == 0
    assert report["messages"] == {"sent": 2, "failed": 0, "unmapped": 0}
    [campaign] = report["campaigns"]
    assert campaign["id"] == campaign_id
    assert campaign["name"] == "Q4 <review>"
    assert campaign["status"] == "ACTIVE"
    assert campaign["retired"] is False
    assert campaign["messages"] == {"sent": 2}
    text = run(env, "status").output
    assert "messages: sent 2, failed 0, unmapped 0" in text
    assert "worker heartbeat: never" in text


def test_test_message_to_an_email_a_user_id_and_a_stranger(env, fake_slack):
    fake_slack.add_user("U0W0EF78PLZ", "ana.lopez@example.com", name="Ana Lopez")
    result = run(env, "test-message", "Ana.Lopez@example.com")
    assert result.exit_code == 0, result.output
    assert "sent to Ana.Lopez@example.com" in result.output
    assert run(env, "test-message", "U0W0EF78PLZ").exit_code == 0
    [first, second] = fake_slack.messages
    assert first.channel == second.channel == "U0W0EF78PLZ"
    assert first.text.startswith("certnotify can reach you. This is a test sent by ")
    stranger = run(env, "test-message", "nobody@example.com")
    assert stranger.exit_code == 1
    assert "no Slack account with this email" in stranger.output
    assert run(env, "test-message", "not a target!").exit_code == 2


def test_a_bad_setting_stops_the_command_with_one_line(env):
    env["OKTA_ORG_URL"] = "http://acme.okta.com"
    result = CliRunner().invoke(cli, ["sync", "ici1"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: okta.org_url: must use https://")


def test_remind_as_a_new_user_would_try_it(env, fake_okta, fake_slack):
    """Launch on day D, some decisions, then remind on D+7, D+7 again, D+8, D+22, D+28."""
    from datetime import timedelta

    from app.models import Campaign

    campaign_id = fake_okta.generate_campaign(start=NOW, reviews=12, reviewers=4)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    ids = fake_slack.generate_users(emails)
    assert "sent=4 unmapped=0 failed=0" in run(env, "sync", campaign_id).output
    for review in fake_okta.reviews_of(campaign_id):
        if review["reviewerProfile"]["email"] == emails[0]:
            fake_okta.decide(review["id"], "REVOKE")
    start = Campaign.from_api(fake_okta._campaigns[campaign_id])
    day = start.start.astimezone(ZoneInfo(start.time_zone)).date()

    def remind(n: int, *extra: str) -> str:
        before = len(fake_slack.messages)
        result = run(env, "remind", "--date", (day + timedelta(days=n)).isoformat(), *extra)
        assert result.exit_code == 0, result.output
        return result.output, fake_slack.messages[before:]

    output, sent = remind(7, "--dry-run")
    assert "dry run: would_send=3" in output
    assert sent == []
    output, sent = remind(7)
    assert "sent=3 unmapped=0 failed=0" in output
    assert {m.channel for m in sent} == {ids[e] for e in emails[1:]}
    assert remind(7)[1] == []
    assert remind(8)[1] == []
    output, sent = remind(22)  # day 14 and 21 were missed: 21 is sent once
    assert "sent=3" in output
    assert remind(23)[1] == []
    output, sent = remind(28)
    assert "retired: " + campaign_id in output
    assert sent == []
    status = json.loads(run(env, "status", "--json").output)
    assert status["campaigns"][0]["retired"] is True
