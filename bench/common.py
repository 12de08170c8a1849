"""Shared by the benchmarks: run the real service against local fakes, on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "tests" / "samples"
HOOK_SECRET = "bench-hook-secret-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 120.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


def launch_body(campaign_id: str, n: int = 0) -> bytes:
    body = json.loads((SAMPLES / "event-launch.json").read_text())
    body["eventId"] = f"bench-delivery-{campaign_id}-{n}"
    event = body["data"]["events"][0]
    event["uuid"] = f"bench-event-{campaign_id}-{n}"
    event["debugContext"]["debugData"]["campaignId"] = campaign_id
    return json.dumps(body).encode()


@contextmanager
def serve(
    okta_url: str,
    okta_token: str,
    slack_url: str,
    slack_token: str,
    *,
    config: str = "",
    extra_args: tuple[str, ...] = (),
) -> Iterator[tuple[str, Path]]:
    """`certnotify serve` as a real process group; yields (base URL, database path)."""
    workdir = Path(tempfile.mkdtemp(prefix="certnotify-bench-"))
    db = workdir / "bench.db"
    (workdir / "config.yaml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKTA_", "SLACK_"))}
    env.update(
        CERTNOTIFY_CONFIG=str(workdir / "config.yaml"),
        CERTNOTIFY_DB=str(db),
        OKTA_ORG_URL=okta_url,
        OKTA_API_TOKEN=okta_token,
        OKTA_HOOK_SECRET=HOOK_SECRET,
        SLACK_BOT_TOKEN=slack_token,
        SLACK_API_URL=slack_url,
    )
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "--log-level", "WARNING", "serve",
         "--host", "127.0.0.1", "--port", str(port), *extra_args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(base), timeout=30)
        yield base, db
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def post_hook(base: str, body: bytes) -> int:
    return httpx.post(
        f"{base}/hooks/okta",
        content=body,
        headers={"Authorization": HOOK_SECRET, "Content-Type": "application/json"},
        timeout=10,
    ).status_code
