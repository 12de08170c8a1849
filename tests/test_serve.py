"""``certnotify serve`` for real: gunicorn + worker processes, a launch, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.harness import alive, children_of, free_port, post_hook, serve, service_env, wait_for
from tests.helpers import HOOK_SECRET, sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc"),
]


def test_serve_acks_a_launch_sends_dms_and_stops_on_sigterm(tmp_path, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=220, reviewers=12, start=datetime.now(UTC))
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    log = (tmp_path / "serve.log").open("wb")
    with serve(fake_okta, fake_slack, config="worker:\n  poll_seconds: 0.2\n",
               output=log, workdir=tmp_path) as served:  # fmt: skip
        body = sample("event-launch.json")
        body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
        started = time.monotonic()
        response = post_hook(served.base, json.dumps(body).encode())
        ack_seconds = time.monotonic() - started
        assert response.status_code == 204
        assert ack_seconds < 1.0
        wait_for(lambda: len(fake_slack.messages) == 12)
        health = httpx.get(f"{served.base}/healthz").json()
        assert health["status"] == "ok"
        assert health["worker"]["last_heartbeat_seconds_ago"] < 5

        children = children_of(served.process.pid)
        assert len(children) == 2  # gunicorn master + worker
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in children), timeout=2)
    output = (tmp_path / "serve.log").read_text()
    assert HOOK_SECRET not in output
    assert fake_slack.token not in output
    posted_to = [m.channel for m in fake_slack.messages]
    assert len(set(posted_to)) == 12


def test_serve_refuses_to_start_without_a_hook_secret(tmp_path, fake_okta, fake_slack):
    env = service_env(fake_okta, fake_slack, tmp_path)
    del env["OKTA_HOOK_SECRET"]
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: okta.hook_secret: missing (set OKTA_HOOK_SECRET; the hook endpoint refuses to start)"
    )


def test_four_web_workers_and_one_worker_run_one_reminder_pass(tmp_path, fake_okta, fake_slack):
    """gunicorn-style multi-process start: only the worker schedules reminders."""
    from datetime import timedelta

    from app.db import Store

    # The pass was due a minute ago, so the worker runs it at start-up (catch-up).
    run_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%H:%M")
    config = (
        "server:\n  web_workers: 4\n"
        f"reminders:\n  run_at: '{run_at}'\n  time_zone: UTC\n"
        "worker:\n  poll_seconds: 0.2\n"
    )
    campaign_id = fake_okta.generate_campaign(
        reviews=10, reviewers=5, start=datetime.now(UTC) - timedelta(days=7, hours=1)
    )
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    # The campaign is known (stored) but its reviewers were never told: the pass's
    # safety net tells each of them once, and skips the day-7 reminder for them.
    from app.models import Campaign

    store = Store.open(tmp_path / "certnotify.db")
    store.migrate(datetime.now(UTC) - timedelta(hours=1))  # in use before the pass was due
    store.campaigns.save(Campaign.from_api(fake_okta._campaigns[campaign_id]), datetime.now(UTC))
    with serve(fake_okta, fake_slack, config=config, workdir=tmp_path) as served:
        assert served.db == tmp_path / "certnotify.db"
        wait_for(lambda: len(store.runs.all()) == 1 and store.runs.all()[0]["finished_at"])
        wait_for(lambda: len(fake_slack.messages) == 5)
        time.sleep(1.5)  # room for a second (wrong) pass to show itself
    runs = store.runs.all()
    assert len(runs) == 1
    assert runs[0]["trigger"] == "startup"
    posted_to = [m.channel for m in fake_slack.messages]
    assert len(posted_to) == len(set(posted_to)) == 5
    # Started again the same day: the pass already ran, nothing more happens.
    with serve(fake_okta, fake_slack, config=config, workdir=tmp_path):
        time.sleep(1.5)
    assert len(store.runs.all()) == 1
    assert len(fake_slack.messages) == 5
    store.close()


def test_hostile_requests_through_gunicorn_get_contract_answers(tmp_path, fake_okta, fake_slack):
    """What the test client cannot show: chunked bodies, huge headers, a real server."""
    import http.client

    from app.db import Store

    with serve(fake_okta, fake_slack, workdir=tmp_path) as served:
        port = int(served.base.rsplit(":", 1)[1])
        auth = {"Authorization": HOOK_SECRET, "Content-Type": "application/json"}
        two_mib = b"{" + b" " * (2 * 1024 * 1024) + b"}"

        def post(body, headers, chunked=False) -> int:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            if chunked:
                chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
                conn.request("POST", "/hooks/okta", body=chunks, headers=headers,
                             encode_chunked=True)  # fmt: skip
            else:
                conn.request("POST", "/hooks/okta", body=body, headers=headers)
            status = conn.getresponse().status
            conn.close()
            return status

        assert post(two_mib, auth) == 413
        assert post(two_mib, {}) == 413  # too large is said before the secret is checked
        assert post(two_mib, auth, chunked=True) == 413  # no Content-Length to go by
        assert post(b"{not json", auth, chunked=True) == 400
        deep = (
            b'{"eventType": "com.okta.event_hook", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        )
        assert post(deep, auth) == 400  # nested too deep: refused, never a 500
        assert post(json.dumps(sample("event-launch.json")).encode(), auth, chunked=True) == 204
        # 10 KB: gunicorn refuses header fields over 8190 bytes itself (431); 5 KB reaches
        # the app, which refuses challenges over 1 KiB (400). Never a 5xx.
        for size, status in ((10_000, 431), (5_000, 400)):
            challenge = {"x-okta-verification-challenge": 'a"b' + "c" * size}
            assert httpx.get(f"{served.base}/hooks/okta", headers=challenge).status_code == status
        quoted = httpx.get(f"{served.base}/hooks/okta",
                           headers={"x-okta-verification-challenge": 'say "hi"'})  # fmt: skip
        assert quoted.json() == {"verification": 'say "hi"'}
        store = Store.open(served.db)
        assert sum(store.inbox.counts().values()) == 1
        store.close()


def test_a_volley_of_signals_stops_everything_and_orphans_nothing(tmp_path, fake_okta, fake_slack):
    """Ctrl-C reaches the whole process group and an orchestrator's SIGTERM follows: the
    handlers must not deadlock or exit half-way and leave a child running."""
    env = service_env(fake_okta, fake_slack, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: len(children_of(proc.pid)) == 2, timeout=30)
        time.sleep(1.0)  # let both children settle into their loops
        family = children_of(proc.pid)
        family += [pid for child in family for pid in children_of(child)]
        for signum in (signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGTERM):
            os.killpg(proc.pid, signum)
            time.sleep(0.02)
        proc.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in family), timeout=5)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
