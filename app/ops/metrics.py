"""``GET /metrics``: Prometheus text for alerting.

Two sources, because certnotify runs as several processes (gunicorn's and the worker):

* the database, read at scrape time: what was stored and sent, the backlog, the
  worker's heartbeat, the current problems, the last good reminder pass. Correct
  whichever process answers the scrape.
* counters kept in memory by the web processes (hook refusals by answer), shared
  through prometheus_client's multiprocess mode: ``serve`` gives every child one
  ``PROMETHEUS_MULTIPROC_DIR`` and the scrape adds the processes up. Without that
  folder (the app alone, in tests) they are this process's own.

Every series is present at zero, so an alert on ``increase(...)`` or ``== 1`` works
from the first scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from app.db import Store
from app.ops.health import heartbeat_age
from app.pipeline.credentials import OKTA_AUTH, OKTA_DOWN, SLACK_AUTH, SLACK_DOWN
from app.timeutil import parse_okta_time

__all__ = ["REFUSAL_REASONS", "HookCounters", "render_metrics"]

INBOX_STATUSES = ("pending", "processing", "done", "ignored", "failed")
MESSAGE_STATUSES = ("pending", "sending", "sent", "failed", "unmapped", "skipped")
REFUSAL_REASONS = ("400", "401", "413", "503")
PROBLEMS = {
    "slack_credentials": SLACK_AUTH,
    "okta_credentials": OKTA_AUTH,
    "slack_unavailable": SLACK_DOWN,
    "okta_unavailable": OKTA_DOWN,
}


class HookCounters:
    """What the web processes count in memory: refused hook deliveries, by answer."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.refusals = Counter(
            "certnotify_hook_refusals",
            "Hook deliveries refused, by HTTP answer (400 bad body, 401 secret, 413 size,"
            " 503 not stored)",
            ["code"],
            registry=None,
        )
        for code in REFUSAL_REASONS:
            self.refusals.labels(code)  # present at zero

    def refused(self, code: int) -> None:
        self.refusals.labels(str(code)).inc()

    def collect(self) -> Iterator[Metric]:
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from self.refusals.collect()


class _StoreCollector:
    def __init__(self, store: Store, now: datetime) -> None:
        self.store = store
        self.now = now

    def collect(self) -> Iterator[Metric]:
        store, now = self.store, self.now
        inbox = GaugeMetricFamily(
            "certnotify_inbox_events", "Hook events in the inbox, by status", labels=["status"]
        )
        counts = store.inbox.counts()
        for status in INBOX_STATUSES:
            inbox.add_metric([status], counts.get(status, 0))
        yield inbox

        oldest = store.inbox.oldest_pending()
        age = GaugeMetricFamily(
            "certnotify_inbox_oldest_pending_age_seconds",
            "Age of the oldest event not handled yet (0 when none waits)",
        )
        age.add_metric([], max(0.0, now.timestamp() - oldest) if oldest else 0.0)
        yield age

        messages = GaugeMetricFamily(
            "certnotify_messages", "Slack messages in the ledger, by status", labels=["status"]
        )
        counts = store.messages.counts()
        for status in MESSAGE_STATUSES:
            messages.add_metric([status], counts.get(status, 0))
        yield messages

        hooks = CounterMetricFamily(
            "certnotify_hook_events",
            "Events received through the hook since the database was created, by outcome",
            labels=["outcome"],
        )
        totals = store.inbox.hook_totals()
        for outcome in ("accepted", "duplicates", "dropped"):
            hooks.add_metric([outcome], totals.get(outcome, 0))
        yield hooks

        campaigns = GaugeMetricFamily(
            "certnotify_active_campaigns", "Campaigns being followed (not retired)"
        )
        campaigns.add_metric([], len(store.campaigns.active()))
        yield campaigns

        beat = GaugeMetricFamily(
            "certnotify_worker_heartbeat_age_seconds",
            "Seconds since the worker last checked in (+Inf when it never has)",
        )
        seconds = heartbeat_age(store, now)
        beat.add_metric([], float("inf") if seconds is None else max(0.0, seconds))
        yield beat

        problem = GaugeMetricFamily(
            "certnotify_problem",
            "1 while the problem lasts: credentials refused, or the service unreachable",
            labels=["kind"],
        )
        for kind, key in PROBLEMS.items():
            problem.add_metric([kind], 1.0 if store.state.get(key) else 0.0)
        yield problem

        passed = GaugeMetricFamily(
            "certnotify_last_reminder_pass_success_timestamp_seconds",
            "When the last reminder pass that finished without errors ended (0: never)",
        )
        passed.add_metric([], store.runs.last_clean() or 0.0)
        yield passed

        size = GaugeMetricFamily(
            "certnotify_database_bytes",
            "Size of the database file and of its write-ahead log",
            labels=["file"],
        )
        path = store.path or ""
        for file, name in (("database", path), ("wal", f"{path}-wal")):
            try:
                size.add_metric([file], float(os.path.getsize(name)))
            except OSError:  # no WAL right after a clean stop
                size.add_metric([file], 0.0)
        yield size

        purged = GaugeMetricFamily(
            "certnotify_last_retention_purge_timestamp_seconds",
            "When retention last deleted what is kept no longer (0: never)",
        )
        last = store.retention.kept()["last_purge"]
        when = parse_okta_time(last) if last else None
        purged.add_metric([], when.timestamp() if when else 0.0)
        yield purged


def render_metrics(store: Store, now: datetime, counters: HookCounters) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(store, now))
    registry.register(counters)
    return generate_latest(registry), CONTENT_TYPE_LATEST
