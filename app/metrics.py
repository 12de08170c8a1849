"""``GET /metrics``: Prometheus text built from the database at scrape time.

gunicorn runs several processes and the worker runs in another; counters kept in
process memory would each see a slice. The database sees everything, so the
gauges below are read from it on every scrape (a handful of indexed counts).
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from app.store import Store

__all__ = ["render_metrics"]


class _StoreCollector:
    def __init__(self, store: Store, now: datetime) -> None:
        self.store = store
        self.now = now

    def collect(self):
        inbox = GaugeMetricFamily(
            "certnotify_inbox_events", "Hook events in the inbox, by status", labels=["status"]
        )
        for status, n in sorted(self.store.inbox_counts().items()):
            inbox.add_metric([status], n)
        yield inbox

        deliveries = GaugeMetricFamily(
            "certnotify_deliveries", "Slack messages in the ledger, by status", labels=["status"]
        )
        for status, n in sorted(self.store.delivery_counts().items()):
            deliveries.add_metric([status], n)
        yield deliveries

        hooks = GaugeMetricFamily(
            "certnotify_hook_events_total",
            "Events received through the hook since the database was created",
            labels=["outcome"],
        )
        for outcome, n in sorted(self.store.hook_totals().items()):
            hooks.add_metric([outcome], n)
        yield hooks

        campaigns = GaugeMetricFamily(
            "certnotify_active_campaigns", "Campaigns being followed (not retired)"
        )
        campaigns.add_metric([], len(self.store.active_campaigns()))
        yield campaigns

        beat = self.store.state("worker_heartbeat")
        age = GaugeMetricFamily(
            "certnotify_worker_heartbeat_age_seconds", "Seconds since the worker last checked in"
        )
        if isinstance(beat, dict) and isinstance(beat.get("ts"), int | float):
            age.add_metric([], max(0.0, self.now.timestamp() - beat["ts"]))
        yield age


def render_metrics(store: Store, now: datetime) -> tuple[bytes, str]:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(store, now))
    return generate_latest(registry), CONTENT_TYPE_LATEST
