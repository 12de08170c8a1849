"""Process-level faults: kill -9 in the middle of a fan-out, concurrent writers on SQLite."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.db import Store
from app.intake.envelope import parse_envelope
from app.models import Campaign
from app.pipeline.on_launch import launch_campaign
from app.services import Services
from fakes.slack import FakeSlack
from tests.harness import post_hook, serve, service_env, wait_for
from tests.helpers import HOOK_SECRET, make_settings, sample

pytestmark = pytest.mark.slow

REVIEWERS = 500
FAST_RECOVERY = "worker:\n  lease_seconds: 5\n  poll_seconds: 0.1\n  batch_size: 20\n"


def launch_event(campaign_id: str) -> dict:
    body = sample("event-launch.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
    return body


@pytest.fixture
def slow_slack():
    with FakeSlack(latency=0.004) as slack:  # 500 posts take a few seconds
        yield slack


@pytest.fixture
def big_campaign(fake_okta, slow_slack):
    campaign_id = fake_okta.generate_campaign(
        reviews=REVIEWERS, reviewers=REVIEWERS, start=datetime.now(UTC)
    )
    slow_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    return campaign_id


def start(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "--log-level", "WARNING", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def counts(slack: FakeSlack) -> Counter:
    return Counter(m.channel for m in slack.messages)


def test_kill_9_mid_launch_then_restart_tells_everyone_once(
    tmp_path, fake_okta, slow_slack, big_campaign
):
    env = service_env(fake_okta, slow_slack, tmp_path, FAST_RECOVERY)
    store = Store.open(env["CERTNOTIFY_DB"])
    store.migrate()
    store.inbox.record_delivery(parse_envelope(launch_event(big_campaign)), datetime.now(UTC))

    worker = start(env, "worker")
    wait_for(lambda: len(slow_slack.messages) >= 150, timeout=60)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    at_kill = len(slow_slack.messages)
    assert at_kill < REVIEWERS  # really killed in the middle

    worker = start(env, "worker")  # the dead worker's heartbeat is fresh, its pid is not
    try:
        wait_for(
            lambda: len(counts(slow_slack)) == REVIEWERS and not store.messages.unsettled(), 90
        )
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    sent = counts(slow_slack)
    assert len(sent) == REVIEWERS  # every reviewer
    assert sum(sent.values()) - REVIEWERS <= 1  # at most the one in flight, twice
    assert store.messages.counts(big_campaign) == {"sent": REVIEWERS}
    store.close()


def test_kill_9_mid_reminder_pass_then_rerun_reminds_everyone_once(
    tmp_path, fake_okta, slow_slack, big_campaign, clock
):
    env = service_env(fake_okta, slow_slack, tmp_path, FAST_RECOVERY)
    unpaced = {"chat.postMessage": 0, "users.lookupByEmail": 0, "users.list": 0}
    settings = make_settings(
        tmp_path, fake_okta, slow_slack,
        database={"path": env["CERTNOTIFY_DB"]}, slack={"calls_per_minute": unpaced},
    )  # fmt: skip
    services = Services.build(settings)
    launch_campaign(services, big_campaign)
    services.outbox.drain()
    launched = len(slow_slack.messages)
    assert launched == REVIEWERS
    campaign = Campaign.from_api(fake_okta._campaigns[big_campaign])
    date = campaign.start.astimezone(ZoneInfo(campaign.time_zone)).date() + timedelta(days=7)

    remind = start(env, "remind", "--date", date.isoformat())
    wait_for(lambda: len(slow_slack.messages) - launched >= 150, timeout=60)
    os.kill(remind.pid, signal.SIGKILL)
    remind.wait()
    assert len(slow_slack.messages) - launched < REVIEWERS

    result = subprocess.run(
        [sys.executable, "-m", "app", "remind", "--date", date.isoformat()],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    reminders = Counter(m.channel for m in slow_slack.messages[launched:])
    assert len(reminders) == REVIEWERS
    assert sum(reminders.values()) - REVIEWERS <= 1
    assert services.store.messages.counts(big_campaign) == {"sent": 2 * REVIEWERS}
    services.close()


def test_50_concurrent_posts_while_the_worker_writes_lose_nothing(
    tmp_path, fake_okta, slow_slack, big_campaign
):
    log = (tmp_path / "serve.log").open("wb")
    with serve(fake_okta, slow_slack, output=log, workdir=tmp_path) as served:
        assert (
            post_hook(served.base, json.dumps(launch_event(big_campaign)).encode()).status_code
            == 204
        )
        wait_for(lambda: len(slow_slack.messages) >= 20, timeout=30)  # the worker is writing
        statuses: list[int] = []
        barrier = threading.Barrier(50)

        def deliver(i: int) -> None:
            body = sample("event-decide-approve.json")
            body["eventId"] = f"concurrent-{i}"
            for n, event in enumerate(body["data"]["events"]):
                event["uuid"] = f"concurrent-{i}-{n}"
            barrier.wait()
            response = httpx.post(
                f"{served.base}/hooks/okta",
                content=json.dumps(body),
                headers={"Authorization": HOOK_SECRET, "Content-Type": "application/json"},
                timeout=10,
            )
            statuses.append(response.status_code)

        threads = [threading.Thread(target=deliver, args=(i,)) for i in range(50)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        store = Store.open(served.db)
        stored = store.db.execute("SELECT count(*) FROM inbox WHERE uuid LIKE 'concurrent-%'")
        stored = stored.fetchone()[0]
        store.close()
    output = Path(tmp_path / "serve.log").read_text()
    assert statuses == [204] * 50
    assert stored == 100  # 2 events in each of the 50 deliveries
    assert "database is locked" not in output
    assert "OperationalError" not in output
