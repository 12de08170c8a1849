"""``certnotify serve`` for real: gunicorn + worker processes, a launch, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.helpers import HOOK_SECRET, sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads processes from /proc"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == str(pid):
                children.append(int(entry.name))
    return children


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie is dead for our purposes


@pytest.fixture
def serve_env(tmp_path, fake_okta, fake_slack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKTA_", "SLACK_"))}
    config = tmp_path / "config.yaml"
    config.write_text("server:\n  web_workers: 2\nworker:\n  poll_seconds: 0.2\n")
    env.update(
        CERTNOTIFY_CONFIG=str(config),
        CERTNOTIFY_DB=str(tmp_path / "serve.db"),
        OKTA_ORG_URL=fake_okta.url,
        OKTA_API_TOKEN=fake_okta.api_token,
        OKTA_HOOK_SECRET=HOOK_SECRET,
        SLACK_BOT_TOKEN=fake_slack.token,
        SLACK_API_URL=fake_slack.url,
    )
    return env


def test_serve_acks_a_launch_sends_dms_and_stops_on_sigterm(serve_env, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=220, reviewers=12, start=datetime.now(UTC))
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=serve_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(lambda: _healthy(base))
        body = sample("event-launch.json")
        body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
        started = time.monotonic()
        response = httpx.post(
            f"{base}/hooks/okta",
            content=json.dumps(body),
            headers={"Authorization": HOOK_SECRET, "Content-Type": "application/json"},
        )
        ack_seconds = time.monotonic() - started
        assert response.status_code == 204
        assert ack_seconds < 1.0
        wait_for(lambda: len(fake_slack.messages) == 12)
        health = httpx.get(f"{base}/healthz").json()
        assert health["status"] == "ok"
        assert health["worker"]["last_heartbeat_seconds_ago"] < 5

        children = children_of(proc.pid)
        assert len(children) == 2  # gunicorn master + worker
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in children), timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate(timeout=5)[0].decode()
    assert HOOK_SECRET not in output
    assert fake_slack.token not in output
    posted_to = [m.channel for m in fake_slack.messages]
    assert len(set(posted_to)) == 12


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_refuses_to_start_without_a_hook_secret(serve_env):
    del serve_env["OKTA_HOOK_SECRET"]
    result = subprocess.run(
        [sys.executable, "-m", "app", "serve", "--port", str(free_port())],
        env=serve_env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: okta.hook_secret: missing (set OKTA_HOOK_SECRET; the hook endpoint refuses to start)"
    )
