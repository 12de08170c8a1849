"""What is wrong right now, as lines an operator can act on (``/healthz`` and ``status``).

Read from the database, so every process (gunicorn's, the worker, a command) sees the
same answer. Each line names its cause and, where there is one, the setting to fix.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.db import Store
from app.pipeline.credentials import OKTA_AUTH, OKTA_DOWN, SLACK_AUTH, SLACK_DOWN

__all__ = ["HEARTBEAT_STALE_SECONDS", "heartbeat_age", "problems"]

# The worker writes a heartbeat every 5 s from its own thread.
HEARTBEAT_STALE_SECONDS = 60
FAILED_EVENTS_WINDOW = timedelta(hours=24)


def heartbeat_age(store: Store, now: datetime) -> float | None:
    beat = store.state.get("worker_heartbeat")
    ts = beat.get("ts") if isinstance(beat, dict) else None
    if isinstance(ts, int | float):
        return round(now.timestamp() - float(ts), 1)
    return None


def _line(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("message") or value.get("error") or "problem")
    return str(value)


def problems(store: Store, now: datetime) -> list[str]:
    """Everything that makes the service degraded; empty when all is well."""
    found: list[str] = []
    age = heartbeat_age(store, now)
    if age is None:
        found.append("no worker has checked in yet (is `certnotify worker` running?)")
    elif age > HEARTBEAT_STALE_SECONDS:
        found.append(f"worker silent for {age:.0f} s (last heartbeat)")
    for key in (SLACK_AUTH, OKTA_AUTH, SLACK_DOWN, OKTA_DOWN):
        value = store.state.get(key)
        if value:
            found.append(_line(value))
    failed = store.inbox.failed_since(now - FAILED_EVENTS_WINDOW)
    if failed:
        found.append(
            f"{failed} hook event(s) failed in the last 24 h (`certnotify status` says why)"
        )
    return found
