"""The ``certnotify`` commands, run in-process against the fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.helpers import HOOK_SECRET

# These commands run on the real clock: campaigns must be running today.
NOW = datetime.now(UTC)


@pytest.fixture
def env(tmp_path, fake_okta, fake_slack) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text("messages:\n  org_name: Acme\nworker:\n  lease_seconds: 30\n")
    return {
        "CERTNOTIFY_CONFIG": str(config),
        "CERTNOTIFY_DB": str(tmp_path / "cli.db"),
        "OKTA_ORG_URL": fake_okta.url,
        "OKTA_API_TOKEN": fake_okta.api_token,
        "OKTA_HOOK_SECRET": HOOK_SECRET,
        "SLACK_BOT_TOKEN": fake_slack.token,
        "SLACK_API_URL": fake_slack.url,
    }


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
    assert report["deliveries"] == {"sent": 2, "failed": 0, "unmapped": 0}
    [campaign] = report["campaigns"]
    assert campaign["id"] == campaign_id
    assert campaign["name"] == "Q4 <review>"
    assert campaign["status"] == "ACTIVE"
    assert campaign["retired"] is False
    assert campaign["deliveries"] == {"sent": 2}
    text = run(env, "status").output
    assert "deliveries: sent 2, failed 0, unmapped 0" in text
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
