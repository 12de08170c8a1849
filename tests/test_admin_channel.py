"""The admin channel, the report, email aliases and the Slack app manifest."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import yaml

from app.integrations.slack import REQUIRED_SCOPES
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.pipeline.worker import Worker
from app.services import Services
from tests.helpers import make_settings, post_hook, run_worker, sample, web_app

CHANNEL = "C0ADMINS0001"
ROOT = Path(__file__).parent.parent


def admin_services(tmp_path, fake_okta, fake_slack, clock, **overrides):
    settings = make_settings(
        tmp_path, fake_okta, fake_slack, admin={"channel": CHANNEL}, **overrides
    )
    fake_slack.add_channel(CHANNEL)
    return settings, Services.build(settings, clock=clock, sleep=clock.sleep)


def channel_texts(fake_slack) -> list[str]:
    return [m.text for m in fake_slack.messages_to(CHANNEL)]


def launch_body(campaign_id: str) -> dict:
    body = sample("event-launch.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
    return body


def test_a_launch_posts_one_summary_naming_who_cannot_be_reached(
    tmp_path, fake_okta, fake_slack, clock
):
    settings, services = admin_services(tmp_path, fake_okta, fake_slack, clock)
    campaign_id = fake_okta.generate_campaign(reviews=12, reviewers=6, group_reviews=2)
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users(emails[:4])  # two reviewers have no Slack account
    client = web_app(settings, clock).test_client()
    post_hook(client, launch_body(campaign_id))
    run_worker(Worker(services))
    # A restart, a duplicate hook and a manual sync: still one summary.
    restarted = Services.build(settings, clock=clock, sleep=clock.sleep)
    post_hook(client, launch_body(campaign_id))
    duplicate = launch_body(campaign_id)
    duplicate["eventId"] = "another-delivery"
    duplicate["data"]["events"][0]["uuid"] = "another-event-uuid"
    post_hook(client, duplicate)
    run_worker(Worker(restarted))
    launch_campaign(restarted, campaign_id)
    restarted.outbox.drain()
    [summary] = channel_texts(fake_slack)
    assert summary.startswith("Campaign Generated Access Review launched: 4 reviewers told")
    assert "2 not reachable in Slack" in summary
    [posted] = fake_slack.messages_to(CHANNEL)
    body = " ".join(b["text"]["text"] for b in posted.blocks if "text" in b)
    for missing in emails[4:]:
        assert missing.replace("@", "@\u2060").replace(".", "\u2060.\u2060") in body
    assert "no Slack account with this email" in body
    assert "2 reviews* held by a group or nobody" in body
    restarted.close()
    services.close()


def test_each_reminder_pass_day_and_each_ended_campaign_are_told_once(
    tmp_path, fake_okta, fake_slack, clock
):
    from datetime import date, timedelta

    _, services = admin_services(tmp_path, fake_okta, fake_slack, clock)
    campaign_id = fake_okta.generate_campaign(reviews=6, reviewers=3)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    launch_campaign(services, campaign_id)
    day7 = date(2026, 9, 1) + timedelta(days=7)
    run_reminder_pass(services, today=day7)
    run_reminder_pass(services, today=day7)  # a retry the same day
    services.outbox.drain()
    passes = [t for t in channel_texts(fake_slack) if t.startswith("Reminder pass")]
    assert passes == ["Reminder pass 2026-09-08: 1 campaign running."]
    [posted] = [m for m in fake_slack.messages_to(CHANNEL) if m.text.startswith("Reminder pass")]
    line = posted.blocks[1]["text"]["text"]
    assert "0% done, 3 of 3 reviewers still pending (6 items)" in line
    fake_okta.set_campaign_status(campaign_id, "COMPLETED")
    run_reminder_pass(services, today=day7 + timedelta(days=1))
    run_reminder_pass(services, today=day7 + timedelta(days=2))
    services.outbox.drain()
    ended = [t for t in channel_texts(fake_slack) if " ended " in t]
    assert ended == ["Campaign Generated Access Review ended (status COMPLETED)."]
    services.close()


def test_credential_problems_are_told_once_when_they_begin_and_when_they_end(
    tmp_path, fake_okta, fake_slack, clock
):
    _, services = admin_services(
        tmp_path, fake_okta, fake_slack, clock, okta={"api_token": "wrong-token"}
    )
    worker = Worker(services)
    worker.startup_checks()
    run_worker(worker)
    clock.advance(minutes=1)
    worker.credentials.run()  # the same problem again: no second alert
    run_worker(worker)
    [alert] = channel_texts(fake_slack)
    assert alert.startswith("certnotify cannot work: OKTA_API_TOKEN rejected: HTTP 401")
    fake_okta.api_token = "wrong-token"  # an admin fixes the token
    clock.advance(minutes=5)
    worker.credentials.run()
    run_worker(worker)
    texts = channel_texts(fake_slack)
    assert len(texts) == 2
    assert texts[1].startswith("certnotify works again (since 2026-09-01T16:05:00+00:00: OKTA")
    services.close()


def test_the_report_has_one_row_per_reviewer_and_opens_in_a_spreadsheet(
    tmp_path, fake_okta, fake_slack, clock
):
    from click.testing import CliRunner

    from app.ops.cli import cli

    settings, services = admin_services(tmp_path, fake_okta, fake_slack, clock)
    campaign_id = fake_okta.generate_campaign(
        name='=HYPERLINK("https://evil.example")', reviews=6, reviewers=3
    )
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users(emails[:2])
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    services.close()
    env = {
        "CERTNOTIFY_DB": settings.database.path,
        "OKTA_ORG_URL": fake_okta.url,
        "CERTNOTIFY_CONFIG": str(tmp_path / "none.yaml"),
    }
    (tmp_path / "none.yaml").write_text("")
    result = CliRunner().invoke(cli, ["report", campaign_id, "--csv"], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["email"] for r in rows] == sorted(emails)
    first = rows[0]
    assert first["slack_user"].startswith("U")
    assert (first["items_total"], first["items_pending"]) == ("2", "2")
    assert first["messages"].startswith("launch sent 2026-09-01T16:05:00+00:00")
    last = rows[-1]
    assert (last["slack_user"], last["slack_problem"]) == ("", "no Slack account with this email")
    assert last["messages"].startswith("launch unmapped")
    text = CliRunner().invoke(cli, ["report", campaign_id], env=env).output
    assert text.startswith('=HYPERLINK("https://evil.example") (')
    missing = CliRunner().invoke(cli, ["report", "iciNoSuchCampaign000"], env=env)
    assert missing.exit_code == 1
    assert "no campaign iciNoSuchCampaign000" in missing.output


def test_report_cells_that_look_like_formulas_are_defused():
    from app.db.views import CampaignDetail, CampaignFigures, ReviewerLog
    from app.models import Campaign
    from app.ops.report import report_csv

    campaign = Campaign("ici1", "x", "", "ACTIVE", None, None, "")
    figures = CampaignFigures(campaign, None, None, 1, 1, 1, 1, {})
    log = ReviewerLog("u1", "=cmd|' /C calc'!A0@example.com", "+Eve -Doe", 1, 1, "", "not_found")
    text = report_csv(CampaignDetail(figures, [log], []))
    [row] = list(csv.DictReader(io.StringIO(text)))
    assert row["email"] == "'=cmd|' /C calc'!A0@example.com"
    assert row["name"] == "'+Eve -Doe"


def test_an_alias_makes_a_reviewer_reachable(tmp_path, fake_okta, fake_slack, clock):
    campaign_id = fake_okta.generate_campaign(reviews=3, reviewers=3)
    okta_emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    ids = fake_slack.generate_users(["first.slack@example.com", "second.slack@example.com"])
    aliases = tmp_path / "aliases.yaml"
    aliases.write_text(
        f"{okta_emails[0].upper()}: first.slack@example.com\n"
        f"{okta_emails[1]}: {ids['second.slack@example.com']}\n"
    )
    settings = make_settings(tmp_path, fake_okta, fake_slack, slack={"email_aliases": str(aliases)})
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()
    assert summary.unmapped == [f"{okta_emails[2]} (no Slack account with this email)"]
    assert {m.channel for m in fake_slack.messages} == set(ids.values())
    services.close()


def test_aliases_are_checked_when_settings_load(tmp_path, fake_okta, fake_slack):
    import pytest

    from app.config import SettingsError, load_settings

    config = tmp_path / "config.yaml"
    config.write_text("slack:\n  email_aliases:\n    not-an-email: someone@example.com\n")
    with pytest.raises(SettingsError, match=r"slack\.email_aliases: 'not-an-email' is not an"):
        load_settings(config, environ={})
    config.write_text("slack:\n  email_aliases: /nonexistent/aliases.yaml\n")
    with pytest.raises(SettingsError, match="cannot read the aliases file"):
        load_settings(config, environ={})


def test_the_manifest_asks_for_exactly_the_scopes_the_code_uses():
    manifest = yaml.safe_load((ROOT / "slack-app-manifest.yaml").read_text(encoding="utf-8"))
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(REQUIRED_SCOPES)
    assert "im:write" not in manifest["oauth_config"]["scopes"]["bot"]
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"] == "certnotify"
    assert manifest["display_information"]["name"] == "certnotify"
