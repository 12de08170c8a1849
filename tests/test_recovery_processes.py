"""Recovery with real processes: kill -9 of `serve` and an immediate restart, a second
worker, a slow Slack with `sync` beside the worker, refused credentials at start-up,
and commands handed to the live worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from app.db import Store
from fakes.slack import FakeSlack
from tests.harness import (
    alive,
    children_of,
    free_port,
    healthy,
    post_hook,
    serve,
    service_env,
    stop_process,
    wait_for,
)
from tests.helpers import sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc"),
]

FAST = "worker:\n  poll_seconds: 0.1\n"


def launch_body(campaign_id: str) -> bytes:
    body = sample("event-launch.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
    return json.dumps(body).encode()


def start_serve(env: dict[str, str], port: int, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "app", "--log-level", "INFO", "serve",
         "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


@pytest.fixture
def quick_slack():
    with FakeSlack(latency=0.01) as slack:  # 300 posts take a few seconds
        yield slack


def test_kill_9_of_serve_then_an_immediate_restart_tells_everyone_once(
    tmp_path, fake_okta, quick_slack
):
    reviewers = 300
    campaign_id = fake_okta.generate_campaign(
        reviews=reviewers, reviewers=reviewers, start=datetime.now(UTC)
    )
    quick_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    env = service_env(fake_okta, quick_slack, tmp_path, FAST)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    first = start_serve(env, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(base))
        family = children_of(first.pid)
        family += [pid for child in family for pid in children_of(child)]
        assert post_hook(base, launch_body(campaign_id)).status_code == 204
        wait_for(lambda: len(quick_slack.messages) >= 100, timeout=60)
        os.kill(first.pid, signal.SIGKILL)  # serve alone: its children must follow it
        first.wait()
        at_kill = len(quick_slack.messages)
        assert at_kill < reviewers
        # What used to block a new worker: a fresh heartbeat from another host, an hour
        # "in the future" (a clock set back). The kernel's lock ignores all of that.
        store = Store.open(env["CERTNOTIFY_DB"])
        store.state.set(
            "worker_heartbeat",
            {"ts": time.time() + 3600, "pid": 1, "host": "another-host"},
            datetime.now(UTC),
        )
        restarted_at = time.monotonic()
        second = start_serve(env, port, log)
        try:
            wait_for(
                lambda: len(Counter(m.channel for m in quick_slack.messages)) == reviewers,
                timeout=30,
            )
            took = time.monotonic() - restarted_at
            wait_for(lambda: not store.messages.unsettled(), timeout=10)
        finally:
            stop_process(second)
        # The old children did not outlive serve.
        wait_for(lambda: not any(alive(pid) for pid in family), timeout=10)
    finally:
        stop_process(first)
    sent = Counter(m.channel for m in quick_slack.messages)
    assert len(sent) == reviewers
    assert sum(sent.values()) - reviewers <= 1  # at most the one message in flight
    assert took < 30
    assert store.messages.counts(campaign_id) == {"sent": reviewers}
    store.close()


def test_a_second_worker_is_refused_and_serve_keeps_taking_hooks(tmp_path, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=4, reviewers=2, start=datetime.now(UTC))
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    env = service_env(fake_okta, fake_slack, tmp_path, FAST)
    assert cli(env, "migrate").returncode == 0
    standalone = subprocess.Popen(
        [sys.executable, "-m", "app", "worker"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        store = Store.open(env["CERTNOTIFY_DB"])
        wait_for(lambda: (store.state.get("worker_heartbeat") or {}).get("pid") == standalone.pid)
        refused = cli(env, "worker", timeout=30)
        assert refused.returncode == 1
        [line] = refused.stderr.strip().splitlines()
        assert "another worker is running on this database" in line
        assert f"pid {standalone.pid}" in line
        log = (tmp_path / "serve.log").open("wb")
        with serve(fake_okta, fake_slack, config=FAST, workdir=tmp_path, output=log) as served:
            # serve's own worker is refused too, but the web side serves meanwhile.
            assert post_hook(served.base, launch_body(campaign_id)).status_code == 204
            wait_for(lambda: len(fake_slack.messages) == 2, timeout=20)  # by the standalone
            standalone.terminate()
            standalone.wait(timeout=15)
            # serve restarts its worker (1 s, 2 s, 4 s...): it takes over by itself.
            wait_for(
                lambda: (
                    (store.state.get("worker_heartbeat") or {}).get("pid")
                    not in (None, standalone.pid)
                ),
                timeout=30,
            )
            health = httpx.get(f"{served.base}/healthz", timeout=5).json()
            assert health["status"] == "ok", health
        store.close()
    finally:
        stop_process(standalone)
    assert "exited with code 1" in (tmp_path / "serve.log").read_text()


def test_a_slow_slack_with_sync_beside_the_worker_sends_no_duplicate(tmp_path, fake_okta):
    reviewers = 16
    with FakeSlack(latency=0.4) as slack:  # a batch outlives the old 5 s lease below
        campaign_id = fake_okta.generate_campaign(
            reviews=reviewers, reviewers=reviewers, start=datetime.now(UTC)
        )
        slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
        config = FAST + "  lease_seconds: 5\n  batch_size: 50\n"
        with serve(fake_okta, slack, config=config, workdir=tmp_path) as served:
            env = service_env(fake_okta, slack, tmp_path, config)
            assert post_hook(served.base, launch_body(campaign_id)).status_code == 204
            wait_for(lambda: len(slack.messages) >= 2, timeout=30)
            result = cli(env, "sync", campaign_id, timeout=120)
            assert result.returncode == 0, result.stderr
            # The hook's launch queued every message; sync found them queued and waited
            # for them: it reports what went out while it ran (the worker sent them).
            sent_line = result.stdout.strip().splitlines()[-1]
            assert sent_line.startswith("sent=")
            assert sent_line.endswith("unmapped=0 failed=0")
            assert 0 <= int(sent_line.split()[0].removeprefix("sent=")) <= reviewers
            wait_for(lambda: len({m.channel for m in slack.messages}) == reviewers, timeout=60)
            time.sleep(1.0)  # room for a duplicate to show itself
            store = Store.open(served.db)
            [job] = store.db.query("SELECT kind, status, exit_code FROM jobs")
            store.close()
        sent = Counter(m.channel for m in slack.messages)
    assert len(sent) == reviewers
    assert set(sent.values()) == {1}
    assert job == {"kind": "sync", "status": "done", "exit_code": 0}


def test_refused_credentials_show_within_20_s_of_start_before_any_event(
    tmp_path, fake_okta, fake_slack
):
    fake_slack.revoked = True
    env = service_env(fake_okta, fake_slack, tmp_path, FAST)
    env["OKTA_API_TOKEN"] = "a-wrong-okta-token"
    port = free_port()
    started = time.monotonic()
    process = start_serve(env, port, subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:

        def both_reported():
            try:
                health = httpx.get(f"{base}/healthz", timeout=2).json()
            except httpx.HTTPError:
                return None
            found = health.get("problems") or []
            slack = "SLACK_BOT_TOKEN rejected: token_revoked" in found
            okta = any(p.startswith("OKTA_API_TOKEN rejected: HTTP 401") for p in found)
            return health if slack and okta else None

        health = wait_for(both_reported, timeout=20)
        assert time.monotonic() - started < 20
        assert health["status"] == "degraded"
        status = cli(env, "status")
        assert "problem: SLACK_BOT_TOKEN rejected: token_revoked" in status.stdout
        assert "problem: OKTA_API_TOKEN rejected: HTTP 401 E0000011" in status.stdout
    finally:
        stop_process(process)
    assert fake_slack.call_count("chat.postMessage") == 0


def test_commands_hand_their_work_to_the_running_worker(tmp_path, fake_okta, fake_slack):
    fake_slack.generate_users(["ana@example.com"])
    with serve(fake_okta, fake_slack, config=FAST, workdir=tmp_path) as served:
        env = service_env(fake_okta, fake_slack, tmp_path, FAST)
        sent = cli(env, "test-message", "ana@example.com")
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("sent to ana@example.com (channel ")
        reminded = cli(env, "remind")
        assert reminded.returncode == 0, reminded.stderr
        assert reminded.stdout.splitlines()[0] == "sent=0 unmapped=0 failed=0"
        missing = cli(env, "test-message", "nobody@example.com")
        assert missing.returncode == 1
        assert (
            missing.stderr.strip() == "Error: nobody@example.com: no Slack account with this email"
        )
        store = Store.open(served.db)
        jobs = list(store.db.query("SELECT kind, status, exit_code FROM jobs ORDER BY id"))
        store.close()
    assert jobs == [
        {"kind": "test-message", "status": "done", "exit_code": 0},
        {"kind": "remind", "status": "done", "exit_code": 0},
        {"kind": "test-message", "status": "done", "exit_code": 1},
    ]
