"""Recovery without losing or repeating anything: outages, poison events, refused
credentials, a database that goes away, events missed while down, one sender.

In-process, on the fake clock; tests/test_recovery_processes.py does the same with
real processes (kill -9, restarts, a slow Slack beside `sync`).
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest

from app.pipeline.commands import hand_off_or_run
from app.pipeline.credentials import OKTA_AUTH, SLACK_AUTH
from app.pipeline.lock import WorkerLock
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.pipeline.worker import Worker
from app.services import Services
from fakes.okta.logs import log_event
from tests.helpers import make_settings, post_hook, run_worker, sample


def launch_envelope(campaign_id: str, uuid: str = "") -> dict:
    body = sample("event-launch.json")
    event = body["data"]["events"][0]
    event["debugContext"]["debugData"]["campaignId"] = campaign_id
    event["uuid"] = uuid or f"event-{campaign_id}"
    body["eventId"] = f"delivery-{event['uuid']}"
    return body


def told(fake_slack) -> Counter:
    return Counter(m.channel for m in fake_slack.messages)


def run_for(worker: Worker, clock, minutes: int, step_seconds: float = 60.0) -> None:
    """Tick the worker while the fake clock moves on (as the real loop would)."""
    end = clock() + timedelta(minutes=minutes)
    while clock() < end:
        run_worker(worker)
        clock.advance(seconds=step_seconds)


@pytest.fixture
def campaign(fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=24, reviewers=12)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    return campaign_id


# -- Okta outages -------------------------------------------------------------------------
def test_a_two_hour_okta_outage_loses_no_launch(
    client, worker, services, fake_okta, fake_slack, campaign, clock
):
    fake_okta.down_until(clock.epoch() + 2 * 3600)
    assert post_hook(client, launch_envelope(campaign)).status_code == 204
    run_for(worker, clock, minutes=30)
    health = client.get("/healthz").get_json()
    assert health["status"] == "degraded"
    assert any(p.startswith("OKTA_ORG_URL unreachable") for p in health["problems"])
    [row] = services.store.db.query("SELECT status, attempts FROM inbox")
    assert row == {"status": "pending", "attempts": 0}  # waiting, no try used up
    requests_in_first_half_hour = len(fake_okta.requests)

    run_for(worker, clock, minutes=120)  # the outage ends at 2 h; backoff is 15 min at most
    assert services.store.inbox.counts() == {"done": 1}
    assert set(told(fake_slack).values()) == {1}  # each once
    assert len(told(fake_slack)) == 12
    assert client.get("/healthz").get_json()["problems"] == []
    # Backing off, not hammering: a few probes per half hour (credential check + retries).
    assert requests_in_first_half_hour < 25


def test_a_launch_okta_never_answered_is_announced_by_the_daily_pass(
    client, worker, services, fake_okta, fake_slack, campaign, clock
):
    fake_okta.down_until(clock.epoch() + 3 * 86400)  # down for days
    post_hook(client, launch_envelope(campaign))
    run_worker(worker)
    # The campaign id was recorded when its event arrived, before Okta was asked.
    assert services.store.campaigns.row(campaign)["status"] == "UNKNOWN"
    clock.advance(days=3, minutes=1)
    result = run_reminder_pass(services)
    assert result.sent == 12  # the safety net announced the campaign
    run_for(worker, clock, minutes=20)  # the launch event, retried now, tells nobody twice
    assert services.store.inbox.counts() == {"done": 1}
    assert set(told(fake_slack).values()) == {1}


def test_one_404_does_not_fail_a_launch_for_good(client, worker, services, fake_okta, clock):
    post_hook(client, launch_envelope("iciNotVisibleToUs0000"))
    run_worker(worker)
    [row] = services.store.db.query("SELECT status, last_error FROM inbox")
    assert row["status"] == "failed"
    # ...but the campaign is kept, and the daily pass asks again for a day.
    stored = services.store.campaigns.row("iciNotVisibleToUs0000")
    assert stored["not_found_since"]
    assert stored["retired_at"] is None


def test_sync_brings_back_a_retired_campaign_okta_says_is_active(
    services, fake_okta, fake_slack, campaign, clock
):
    launch_campaign(services, campaign)
    services.store.campaigns.retire(campaign, "not found in Okta since yesterday", clock())
    code, output = run_sync(services, campaign)
    assert code == 0, output
    assert services.store.campaigns.row(campaign)["retired_at"] is None
    assert len(services.store.campaigns.reviewers(campaign)) == 12


def run_sync(services: Services, campaign_id: str):
    from app.pipeline.commands import run_job

    return run_job(services, "sync", {"campaign_id": campaign_id}, send=True)


# -- poison events ----------------------------------------------------------------------------
def test_a_poison_event_fails_alone_and_the_batch_goes_on(
    client, worker, services, fake_okta, fake_slack, campaign
):
    body = launch_envelope(campaign)
    decide = sample("event-decide-approve.json")["data"]["events"]
    body["data"]["events"] += decide
    assert post_hook(client, body).status_code == 204
    # A stored body nested far past what a JSON decoder will recurse into.
    deep = "[" * 200_000 + "]" * 200_000
    services.store.db.execute(
        "UPDATE inbox SET payload = ? WHERE uuid = ?", [deep, decide[0]["uuid"]]
    )
    services.store.db.conn.commit()
    run_worker(worker)
    rows = {r["uuid"]: r for r in services.store.db.query("SELECT * FROM inbox")}
    assert rows[decide[0]["uuid"]]["status"] == "failed"
    assert "RecursionError" in rows[decide[0]["uuid"]]["last_error"]
    assert rows[f"event-{campaign}"]["status"] == "done"
    assert rows[decide[1]["uuid"]]["status"] == "ignored"
    assert len(told(fake_slack)) == 12
    problems = client.get("/healthz").get_json()["problems"]
    assert "1 hook event(s) failed in the last 24 h (`certnotify status` says why)" in problems


# -- Slack outages and refused credentials -----------------------------------------------------
def test_a_slack_outage_keeps_every_try_and_backs_off(
    client, worker, services, fake_slack, campaign, clock
):
    launch_campaign(services, campaign)
    fake_slack.outage_status = 503
    run_for(worker, clock, minutes=20, step_seconds=15)
    rows = services.store.messages.of_campaign(campaign)
    assert {r["status"] for r in rows} == {"pending"}
    assert all(r["attempts"] == 0 for r in rows)
    # The SDK retries each post a few times; then everyone waits 15 s, 30 s, ... 15 min.
    posts = fake_slack.call_count("chat.postMessage")
    assert posts < 40
    assert "slack unavailable: http_503" in client.get("/healthz").get_json()["problems"]
    fake_slack.outage_status = None  # Slack is back
    run_for(worker, clock, minutes=16, step_seconds=15)
    assert len(told(fake_slack)) == 12
    assert client.get("/healthz").get_json()["problems"] == []


def test_a_revoked_slack_token_pauses_sending_instead_of_hammering_and_resumes(
    client, worker, services, fake_slack, campaign, clock
):
    launch_campaign(services, campaign)
    fake_slack.revoked = True
    run_for(worker, clock, minutes=30, step_seconds=1)
    assert fake_slack.call_count("chat.postMessage") == 1  # found out once, then paused
    assert fake_slack.call_count("auth.test") <= 8  # checked again with a growing backoff
    assert {r["attempts"] for r in services.store.messages.of_campaign(campaign)} == {0}
    health = client.get("/healthz").get_json()
    assert "SLACK_BOT_TOKEN rejected: token_revoked" in health["problems"]
    fake_slack.revoked = False  # an admin reinstalls the app
    run_for(worker, clock, minutes=20, step_seconds=5)
    assert len(told(fake_slack)) == 12
    assert services.store.state.get(SLACK_AUTH) is None


def test_refused_credentials_show_at_start_up_before_any_event(
    tmp_path, fake_okta, fake_slack, clock
):
    settings = make_settings(tmp_path, fake_okta, fake_slack, okta={"api_token": "wrong-token"})
    fake_slack.revoked = True
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    Worker(services).startup_checks()
    from app.ops.health import problems

    found = problems(services.store, clock())
    assert "SLACK_BOT_TOKEN rejected: token_revoked" in found
    assert any(p.startswith("OKTA_API_TOKEN rejected: HTTP 401 E0000011") for p in found)
    assert services.store.state.get(OKTA_AUTH)["setting"] == "OKTA_API_TOKEN"
    services.close()


def test_missing_slack_scopes_are_named(tmp_path, fake_okta, fake_slack, clock):
    fake_slack.scopes = "chat:write,users:read"
    services = Services.build(make_settings(tmp_path, fake_okta, fake_slack), clock=clock)
    Worker(services).startup_checks()
    assert services.store.state.get(SLACK_AUTH)["message"] == (
        "SLACK_BOT_TOKEN lacks the scopes users:read.email (add them to the Slack app and "
        "reinstall it)"
    )
    services.close()


# -- the database going away -----------------------------------------------------------------
def test_database_folder_away_and_back_makes_hooks_succeed_again(app, client, settings, tmp_path):
    from pathlib import Path

    folder = Path(settings.database.path).parent
    moved = tmp_path.parent / (tmp_path.name + "-away")
    folder.rename(moved)
    try:
        first = post_hook(client, launch_envelope("iciAway00000000000000"))
        assert first.status_code == 503
        assert client.get("/healthz").status_code == 503
    finally:
        moved.rename(folder)
    assert post_hook(client, launch_envelope("iciBack00000000000000")).status_code == 204
    assert client.get("/healthz").status_code == 200


def test_a_deleted_database_is_noticed_never_written_into(app, client, settings, clock):
    import os

    from app.db import Store

    assert post_hook(client, launch_envelope("iciBefore000000000000")).status_code == 204
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(settings.database.path + suffix):
            os.unlink(settings.database.path + suffix)
    assert post_hook(client, launch_envelope("iciLost00000000000000")).status_code == 503
    health = client.get("/healthz")
    assert health.status_code == 503
    assert "hooks cannot be stored" in health.get_json()["problems"][0]
    # A new database at the path (the worker's restart makes one): hooks go there.
    fresh = Store.open(settings.database.path)
    fresh.migrate(clock())
    assert post_hook(client, launch_envelope("iciAfter0000000000000")).status_code == 204
    assert [r["campaign_id"] for r in fresh.db.query("SELECT campaign_id FROM inbox")] == [
        "iciAfter0000000000000"
    ]
    fresh.close()


def test_a_held_write_lock_costs_a_503_within_okta_s_3_seconds_not_a_hang(
    tmp_path, fake_okta, fake_slack, clock
):
    import fcntl
    import time

    from tests.helpers import web_app

    settings = make_settings(tmp_path, fake_okta, fake_slack, database={"busy_timeout_seconds": 1})
    client = web_app(settings, clock).test_client()
    with open(settings.database.path + ".lock", "a+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        started = time.monotonic()
        assert post_hook(client, launch_envelope("iciHeld00000000000000")).status_code == 503
        assert time.monotonic() - started < 3.0
        fcntl.flock(held, fcntl.LOCK_UN)
    assert post_hook(client, launch_envelope("iciFree00000000000000")).status_code == 204


def test_a_full_disk_shows_on_healthz_and_recovers(tmp_path, fake_okta, fake_slack, clock):
    import shutil
    import subprocess

    from tests.helpers import web_app

    disk = tmp_path / "small-disk"
    disk.mkdir()
    mount, umount = shutil.which("mount") or "mount", shutil.which("umount") or "umount"
    mounted = subprocess.run(
        [mount, "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"a full disk is simulated with a 1 MiB tmpfs, which needs root: {mounted.stderr!r}"
        )
    try:
        settings = make_settings(
            tmp_path, fake_okta, fake_slack, database={"path": str(disk / "certnotify.db")}
        )
        client = web_app(settings, clock).test_client()
        filler = disk / "filler"
        with open(filler, "wb") as file:  # take what is left
            try:
                while True:
                    file.write(b"x" * 65536)
                    file.flush()
            except OSError:
                pass
        answers = [
            post_hook(client, launch_envelope(f"iciFull{i:014d}")).status_code for i in range(20)
        ]
        assert 503 in answers
        health = client.get("/healthz")
        assert health.status_code == 503
        assert "disk is full" in health.get_json()["problems"][0]
        filler.unlink()
        assert post_hook(client, launch_envelope("iciRoomAgain000000000")).status_code == 204
        assert client.get("/healthz").status_code == 200
    finally:
        subprocess.run([umount, "-l", str(disk)], check=False)


# -- downtime: events read back from the System Log ---------------------------------------------
def test_a_launch_sent_while_down_is_found_in_the_system_log_at_start_up(
    client, services, fake_okta, fake_slack, campaign, clock
):
    earlier = fake_okta.generate_campaign(reviews=2, reviewers=2, email_domain="early.example")
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(earlier))
    post_hook(client, launch_envelope(earlier))
    first = Worker(services)
    first.startup_checks()
    run_worker(first)
    # Down for two hours; Okta launches a campaign meanwhile and its hook is lost.
    clock.advance(hours=1)
    fake_okta.log(log_event("certification.campaign.launch", campaign, clock()))
    fake_okta.log(log_event("user.session.start", "", clock()))  # not ours: not asked for
    clock.advance(hours=1)
    restarted = Worker(services)
    restarted.startup_checks()
    run_worker(restarted)
    assert len(told(fake_slack)) == 12 + 2
    assert set(told(fake_slack).values()) == {1}
    query = fake_okta.system_log.queries[-1]  # the restarted worker's
    assert query.param("since") < clock().isoformat()
    assert 'eventType eq "certification.campaign.launch"' in query.param("filter")
    # The hook Okta retried late (same event uuid) is a duplicate: nothing more is sent.
    late = launch_envelope(campaign, uuid=fake_okta.system_log.events[0]["uuid"])
    post_hook(client, late)
    run_worker(restarted)
    assert len(fake_slack.messages) == 14


def test_a_new_database_reads_nothing_back(services, fake_okta):
    Worker(services).startup_checks()
    assert fake_okta.system_log.queries == []


def test_backfill_pages_through_link_headers_on_the_org_host(services, fake_okta, clock):
    from app.integrations.okta import LOG_PAGE_SIZE
    from app.pipeline.backfill import backfill

    for i in range(LOG_PAGE_SIZE + 5):
        fake_okta.log(
            log_event("certification.campaign.item.decide", "iciSome0000000000000",
                      clock() - timedelta(minutes=30, seconds=-i))
        )  # fmt: skip
    result = backfill(services.okta, services.store, clock() - timedelta(hours=1), clock())
    assert (result.seen, result.new) == (LOG_PAGE_SIZE + 5, LOG_PAGE_SIZE + 5)
    assert len(fake_okta.system_log.queries) == 2
    assert fake_okta.admin_requests == []  # the token never went to the -admin host
    again = backfill(services.okta, services.store, clock() - timedelta(hours=1), clock())
    assert again.new == 0


# -- one sender -------------------------------------------------------------------------------
def test_a_command_hands_its_job_to_the_live_worker(settings, services, fake_slack, clock):
    fake_slack.generate_users(["ana@example.com"])
    lock = WorkerLock(settings.database.path)
    assert lock.try_acquire(clock())  # a live worker holds the lock
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            hand_off_or_run(
                settings.database.path, 5, lambda: Services.build(settings), "test-message",
                {"target": "ana@example.com", "who": "tester"}, sleep=lambda _: None,
            )
        )
    )  # fmt: skip
    thread.start()
    worker = Worker(
        services, services_factory=lambda: Services.build(settings, slack=services.slack)
    )
    worker.lock = lock
    for _ in range(200):
        worker.tick()
        if results:
            break
        if worker.commands.thread is not None:
            worker.commands.thread.join(5)
    thread.join(10)
    [(code, output)] = results
    assert code == 0
    assert output["out"].startswith("sent to ana@example.com (channel ")
    [job] = services.store.db.query("SELECT kind, status, exit_code FROM jobs")
    assert job == {"kind": "test-message", "status": "done", "exit_code": 0}
    assert fake_slack.call_count("chat.postMessage") == 1
    lock.release()


def test_a_waiting_command_takes_over_when_the_worker_goes_away(settings, services, fake_slack):
    fake_slack.generate_users(["ana@example.com"])
    worker_lock = WorkerLock(settings.database.path)
    assert worker_lock.try_acquire(services.clock())
    waits = []

    def sleep(_: float) -> None:
        waits.append(1)
        if len(waits) == 3:
            worker_lock.release()  # the worker dies before it took the job

    code, output = hand_off_or_run(
        settings.database.path, 5, lambda: Services.build(settings), "test-message",
        {"target": "ana@example.com", "who": "tester"}, sleep=sleep,
    )  # fmt: skip
    assert code == 0
    assert "sent to ana@example.com" in output["out"]
    [job] = services.store.db.query("SELECT status FROM jobs")
    assert job["status"] == "done"
    assert fake_slack.call_count("chat.postMessage") == 1


def test_with_no_worker_the_command_runs_here_and_queues_nothing(settings, services, fake_slack):
    fake_slack.generate_users(["ana@example.com"])
    code, _output = hand_off_or_run(
        settings.database.path, 5, lambda: Services.build(settings), "test-message",
        {"target": "ana@example.com", "who": "tester"},
    )  # fmt: skip
    assert code == 0
    assert list(services.store.db.query("SELECT * FROM jobs")) == []


def test_test_message_always_looks_the_person_up_afresh(settings, services, fake_slack):
    services.directory.resolve(["newcomer@example.com"])  # cached: no Slack account
    fake_slack.generate_users(["newcomer@example.com"])  # invited a minute later
    code, output = hand_off_or_run(
        settings.database.path, 5, lambda: Services.build(settings), "test-message",
        {"target": "newcomer@example.com", "who": "tester"},
    )  # fmt: skip
    assert code == 0, output
