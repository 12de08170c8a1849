"""``certnotify status``: what the service has done and whether it is keeping up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from app.config import Settings
from app.db import DatabaseMissing, Store
from app.ops.database_info import database_info, format_database
from app.ops.health import heartbeat_age, problems
from app.pipeline.lock import WorkerLock
from app.timeutil import system_clock

__all__ = ["collect_status", "format_status"]


def collect_status(store: Store, now: datetime, lock: WorkerLock | None = None) -> dict[str, Any]:
    inbox = store.inbox.counts()
    messages = store.messages.counts()
    # One call for every campaign's figures (no query per campaign).
    campaigns = [
        {
            "id": f.campaign.id,
            "name": f.campaign.name,
            "status": f.campaign.status,
            "end": f.campaign.end.isoformat() if f.campaign.end else None,
            "retired": f.retired_at is not None,
            "retired_reason": f.retired_reason,
            "reviewers": f.reviewers,
            "reviewers_pending": f.pending_reviewers,
            "percent_complete": f.percent_complete,
            "messages": f.messages,
        }
        for f in store.views.campaigns()
    ]
    age = heartbeat_age(store, now)
    by_status: dict[str, int] = {}
    for c in campaigns:
        key = "retired" if c["retired"] else str(c["status"] or "UNKNOWN")
        by_status[key] = by_status.get(key, 0) + 1
    return {
        "campaigns_by_status": by_status,
        "inbox_pending": inbox.get("pending", 0) + inbox.get("processing", 0),
        "inbox": inbox,
        "outbox_pending": messages.get("pending", 0) + messages.get("sending", 0),
        # Of those, reminders waiting for their reviewer's working hours (not a backlog).
        "outbox_scheduled": store.messages.scheduled(now),
        "messages": {
            "sent": messages.get("sent", 0),
            "failed": messages.get("failed", 0),
            "unmapped": messages.get("unmapped", 0),
        },
        "hooks": store.inbox.hook_totals(),
        "last_reminder_run": _last_run(store),
        "worker_heartbeat_seconds_ago": age,
        "worker_running": None if lock is None else not lock.is_free(),
        "worker_lock_holder": None if lock is None or lock.is_free() else lock.holder(),
        "problems": problems(store, now),
        "failed_events": store.inbox.failed(),
        "slack_auth_error": store.state.get("slack_auth_error"),
        "okta_auth_error": store.state.get("okta_auth_error"),
        "campaigns": campaigns,
        "database": database_info(store),
    }


def _last_run(store: Store) -> dict[str, Any] | None:
    run = store.runs.last()
    if run is None:
        return None
    return {
        "started_at": run["started_at"],
        "finished_at": run["finished_at"],
        "trigger": run["trigger"],
        "for_date": run["for_date"],
        **(run["summary"] or {}),
    }


def format_status(report: dict[str, Any], settings: Settings | None = None) -> str:
    d = report["messages"]
    beat = report["worker_heartbeat_seconds_ago"]
    lines = [
        "campaigns: "
        + (
            ", ".join(f"{k} {v}" for k, v in sorted(report["campaigns_by_status"].items()))
            or "none"
        ),
        f"inbox pending: {report['inbox_pending']}   outbox pending: {report['outbox_pending']}"
        f" (scheduled for working hours: {report['outbox_scheduled']})",
        f"messages: sent {d['sent']}, failed {d['failed']}, unmapped {d['unmapped']}",
        "last reminder run: " + _format_run(report["last_reminder_run"]),
        "worker heartbeat: " + (f"{beat:.0f} s ago" if beat is not None else "never"),
    ]
    if report.get("database"):
        keep = (settings or Settings()).retention
        lines += format_database(report["database"], keep.events_days, keep.messages_days)
    if report.get("worker_running") is not None:
        running = report["worker_running"]
        lines.append(
            "worker: " + (f"running ({report['worker_lock_holder']})" if running else "not running")
        )
    for problem in report.get("problems") or []:
        lines.append(f"problem: {problem}")
    for event in report.get("failed_events") or []:
        lines.append(
            f"  failed event {event['uuid']} ({event['event_type']}"
            f"{', campaign ' + event['campaign_id'] if event['campaign_id'] else ''}): "
            f"{event['last_error']}"
        )
    for c in report["campaigns"]:
        state = "retired" if c["retired"] else c["status"]
        counts = ", ".join(f"{k} {v}" for k, v in sorted(c["messages"].items())) or "no messages"
        lines.append(f"  {c['id']}  {state:<9} {c['name']}  ({c['reviewers']} reviewers; {counts})")
    return "\n".join(lines)


def _format_run(run: dict[str, Any] | None) -> str:
    if run is None:
        return "never"
    if run.get("finished_at") is None:
        return f"started {run['started_at']} ({run['trigger']}), still running or interrupted"
    dated = f" for {run['for_date']}" if run.get("for_date") else ""
    return (
        f"{run['finished_at']} ({run['trigger']}{dated}): sent {run.get('sent', 0)}, "
        f"unmapped {run.get('unmapped', 0)}, failed {run.get('failed', 0)}, "
        f"retired {len(run.get('retired') or [])}"
    )


class StatusUnavailable(Exception):
    """No status to give (no database, or one that needs migrating): one line."""


@contextmanager
def read_only_store(settings: Settings) -> Iterator[Store]:
    """The database opened read-only, for ``status`` and ``report``: a mistyped path
    must not create an empty database that says "none", and an old one is not migrated
    behind anyone's back."""
    path = settings.database.path
    try:
        store = Store.open(path, settings.database.busy_timeout_seconds, readonly=True)
    except DatabaseMissing:
        raise StatusUnavailable(
            f"no database at {path} (check database.path / CERTNOTIFY_DB)"
        ) from None
    try:
        if store.needs_migration():
            raise StatusUnavailable(
                f"the database at {path} needs migrating to this version of certnotify;"
                " run `certnotify migrate` (serve and worker do it when they start)"
            )
        yield store
    finally:
        store.close()


def status_report(settings: Settings, *, as_json: bool, now: datetime | None = None) -> str:
    """``certnotify status``."""
    with read_only_store(settings) as store:
        report = collect_status(store, now or system_clock(), WorkerLock(settings.database.path))
    if as_json:
        report["database"]["retention"]["events_days"] = settings.retention.events_days
        report["database"]["retention"]["messages_days"] = settings.retention.messages_days
        return json.dumps(report, indent=2)
    return format_status(report, settings)
