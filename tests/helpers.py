"""Test helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from app.config import Settings
from app.pipeline.worker import Worker
from fakes.okta import FakeOkta
from fakes.slack import FakeSlack

SAMPLES = Path(__file__).parent / "samples"
HOOK_SECRET = "test-hook-secret-0123456789abcdef"
# 2026-09-01 16:05 UTC: five minutes after the sample campaign launched.
LAUNCH_TIME = datetime(2026, 9, 1, 16, 5, tzinfo=UTC)
SAMPLE_CAMPAIGN = "iciZDb1GURItsMuYl0g7"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


class FakeClock:
    """Injected time: ``now()`` is fixed until a test (or a ``sleep``) moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        # Round up to the microsecond: datetime cannot move by less.
        self.now += timedelta(microseconds=math.ceil(max(seconds, 0) * 1_000_000))

    def epoch(self) -> float:
        return self.now.timestamp()


def make_settings(
    tmp_path: Path, fake_okta: FakeOkta, fake_slack: FakeSlack, **overrides: Any
) -> Settings:
    tree: dict[str, Any] = {
        "okta": {
            "org_url": fake_okta.url,
            "api_token": fake_okta.api_token,
            "hook_secret": HOOK_SECRET,
            "backoff_seconds": 0.01,
            "timeout_seconds": 5,
        },
        "slack": {
            "bot_token": fake_slack.token,
            "api_url": fake_slack.url,
            "max_retries": 3,
            "backoff_seconds": 0.01,
        },
        "database": {"path": str(tmp_path / "certnotify.db")},
        "messages": {"org_name": "Acme"},
        "campaigns": {"default_time_zone": "UTC"},
    }
    for section, values in overrides.items():
        tree.setdefault(section, {}).update(values)
    return Settings.model_validate(tree)


def web_app(settings: Settings, clock: FakeClock):
    """The Flask app on a migrated database, as `certnotify serve` starts it."""
    from app.db import Store
    from app.web import create_app

    store = Store.open(settings.database.path)
    store.migrate(clock())
    store.close()
    return create_app(settings, clock=clock)


def post_hook(client, body: Any, secret: str | None = HOOK_SECRET, **headers: str):
    if secret is not None:
        headers["Authorization"] = secret
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(
        "/hooks/okta", data=data, headers={"Content-Type": "application/json", **headers}
    )


def event_requests(fake_okta: FakeOkta) -> list:
    """Requests made for events and passes: all but the worker's credential check
    (``GET /governance/api/v1/campaigns?limit=1``)."""
    return [
        r
        for r in fake_okta.requests
        if not (r.path == "/governance/api/v1/campaigns" and r.param("limit") == "1")
    ]


def run_worker(worker: Worker, max_ticks: int = 200) -> int:
    """Tick until there is nothing left to do; returns the number of busy ticks."""
    for busy in range(max_ticks):
        if not worker.tick():
            return busy
    raise AssertionError("worker still busy after max_ticks")
