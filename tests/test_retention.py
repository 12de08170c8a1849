"""Retention: what is purged, when, and that nothing of a followed campaign ever is; no
message bodies at rest; status says what is kept (issue 14)."""

from __future__ import annotations

import json
from datetime import timedelta

from app.ops.status import collect_status, format_status
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.timeutil import iso
from tests.helpers import post_hook, run_worker, sample


def launched(services, fake_okta, fake_slack, name: str, *, slack: bool = True) -> str:
    domain = name.lower().replace(" ", "-") + ".example"
    campaign_id = fake_okta.generate_campaign(
        name=name, reviews=4, reviewers=2, email_domain=domain
    )
    if slack:
        fake_slack.generate_users([r["email"] for r in fake_okta.reviewers_of(campaign_id)])
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    return campaign_id


def rows(services, sql: str, params=()) -> list[dict]:
    return services.store.conn.rows(sql, params)


def test_sent_failed_and_unmapped_messages_keep_no_words(services, fake_okta, fake_slack):
    told = launched(services, fake_okta, fake_slack, "Told")
    unreachable = launched(services, fake_okta, fake_slack, "Nobody in Slack", slack=False)
    for campaign_id, status in ((told, "sent"), (unreachable, "unmapped")):
        ledger = rows(services, "SELECT * FROM messages WHERE campaign_id = ?", [campaign_id])
        assert {r["status"] for r in ledger} == {status}
        assert {(r["text"], r["blocks"], r["digest"]) for r in ledger} == {(None, None, None)}
    # Who, what kind, when and where stay: the proof of who was told.
    sent = rows(services, "SELECT * FROM messages WHERE campaign_id = ?", [told])
    assert all(r["recipient"] and r["channel"] and r["ts"] and r["sent_at"] for r in sent)


def test_a_message_waiting_to_be_sent_keeps_its_words_until_then(
    services, fake_okta, fake_slack, clock
):
    campaign_id = launched(services, fake_okta, fake_slack, "Later")
    clock.advance(days=7)
    run_reminder_pass(services, trigger="schedule", timed=True, send=False)
    [waiting] = rows(services, "SELECT * FROM messages WHERE kind = 'reminder' LIMIT 1")
    assert waiting["status"] == "pending"
    assert "still waiting for your review" in waiting["text"]
    assert json.loads(waiting["digest"])["url"]
    clock.advance(days=1)
    services.outbox.drain()
    after = rows(services, "SELECT * FROM messages WHERE id = ?", [waiting["id"]])[0]
    assert (after["status"], after["text"], after["blocks"]) == ("sent", None, None)
    del campaign_id


def test_event_bodies_go_after_events_days_and_nothing_else(
    client, services, worker, fake_okta, fake_slack, clock
):
    campaign_id = fake_okta.generate_campaign(reviews=4, reviewers=2)
    fake_slack.generate_users([r["email"] for r in fake_okta.reviewers_of(campaign_id)])
    body = sample("event-launch.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
    assert post_hook(client, body).status_code == 204
    run_worker(worker)
    store = services.store
    # A second event, still pending (not handled): never purged, whatever its age.
    pending = sample("event-close.json")
    pending["eventId"] = "delivery-pending"
    pending["data"]["events"][0]["uuid"] = "pending-event"
    assert post_hook(client, pending).status_code == 204

    now = clock()
    assert store.retention.purge(now + timedelta(days=29), 30, 400).event_bodies == 0
    result = store.retention.purge(now + timedelta(days=31), 30, 400)
    assert result.event_bodies == 1
    inbox = {r["uuid"]: r for r in rows(services, "SELECT * FROM inbox")}
    handled = inbox[body["data"]["events"][0]["uuid"]]
    assert (handled["payload"], handled["status"]) == ("", "done")
    assert handled["purged_at"] is not None
    assert inbox["pending-event"]["payload"] != ""
    # The uuid stays known: the same delivery again is a duplicate, not new work.
    known = len(rows(services, "SELECT * FROM inbox"))
    again = dict(body, eventId="another-delivery")
    assert post_hook(client, again).status_code == 204
    assert len(rows(services, "SELECT * FROM inbox")) == known
    # The campaign is still followed: its ledger and reviewers are untouched.
    assert store.messages.counts(campaign_id) == {"sent": 2}
    assert len(store.campaigns.reviewers(campaign_id)) == 2


def test_a_campaign_retired_long_ago_loses_its_people_but_not_its_row(
    services, fake_okta, fake_slack, clock
):
    old = launched(services, fake_okta, fake_slack, "Old")
    recent = launched(services, fake_okta, fake_slack, "Recent")
    active = launched(services, fake_okta, fake_slack, "Active")
    store = services.store
    store.campaigns.retire(old, "status COMPLETED", clock() - timedelta(days=401))
    store.campaigns.retire(recent, "status COMPLETED", clock() - timedelta(days=399))
    # The active campaign's messages are old too: age alone never purges them.
    store.conn.db.execute(
        "UPDATE messages SET sent_at = ?, created_at = ? WHERE campaign_id = ?",
        [iso(clock() - timedelta(days=900))] * 2 + [active],
    )
    result = store.retention.purge(clock(), 30, 400)
    assert (result.campaigns, result.messages) == (1, 2)
    assert store.messages.counts(old) == {}
    assert store.campaigns.reviewers(old) == []
    row = store.campaigns.row(old)
    assert (row["name"], row["retired_reason"]) == ("Old", "status COMPLETED")
    assert row["purged_at"] is not None
    for kept in (recent, active):
        assert store.messages.counts(kept) == {"sent": 2}
        assert len(store.campaigns.reviewers(kept)) == 2
    # Once purged, purged: a second purge finds nothing more.
    assert store.retention.purge(clock(), 30, 400).campaigns == 0


def test_status_shows_the_database_and_what_retention_keeps(services, fake_okta, fake_slack, clock):
    launched(services, fake_okta, fake_slack, "Shown")
    services.store.retention.purge(clock(), 30, 400)
    report = collect_status(services.store, clock())
    database = report["database"]
    assert database["quick_check"] == "ok"
    assert database["schema"].startswith("m0")
    applied, known = database["migrations"].split(" of ")
    assert applied == known
    assert database["size_bytes"] > 0
    assert database["retention"]["last_purge"] == iso(clock())
    text = format_status(report)
    assert "quick_check ok" in text
    assert "retention: event bodies kept 30 days after handling" in text
    assert "campaigns' ledger kept 400 days after retirement" in text


def test_the_daily_job_purges_after_the_reminder_pass(settings, services, fake_okta, clock):
    from app.pipeline.worker import Worker
    from app.services import Services

    old = fake_okta.generate_campaign(name="Ended long ago", reviews=2, reviewers=1)
    launch_campaign(services, old)
    services.store.campaigns.retire(old, "status COMPLETED", clock() - timedelta(days=500))
    worker = Worker(
        services,
        services_factory=lambda: Services.build(settings, clock=clock, sleep=clock.sleep),
    )
    worker._reminder_job("schedule")  # what APScheduler runs once a day
    assert services.store.campaigns.row(old)["purged_at"] == iso(clock())
    assert services.store.messages.counts(old) == {}
    assert services.store.retention.kept()["last_purge"] == iso(clock())
