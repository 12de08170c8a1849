"""``/healthz`` and ``/metrics``: what an orchestrator and Prometheus ask the web side."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify
from flask.typing import ResponseReturnValue

from app.intake.context import current
from app.intake.endpoint import INTAKE_TIMEOUT_SECONDS
from app.intake.writer import describe
from app.ops.health import heartbeat_age, problems
from app.ops.metrics import render_metrics

__all__ = ["probes"]

log = logging.getLogger(__name__)

probes = Blueprint("probes", __name__)


@probes.get("/healthz")
def healthz() -> ResponseReturnValue:
    """503 while hooks cannot be stored (a write is proven through the intake writer);
    otherwise 200 with ``status`` "ok", or "degraded" and the ``problems`` that make it so
    (worker silent, credentials refused, Okta or Slack unreachable, events failed)."""
    ctx = current()
    now = ctx.clock()
    cannot_store = ctx.intake.probe(now, timeout=INTAKE_TIMEOUT_SECONDS)
    if cannot_store:
        return jsonify(
            {"status": "error", "problems": [f"hooks cannot be stored: {cannot_store}"]}
        ), 503
    try:
        store = ctx.store()
        found = problems(store, now)
        counts = store.inbox.counts()
        oldest = store.inbox.oldest_pending()
        beat = store.state.get("worker_heartbeat")
    except Exception as exc:  # the point of a health check is to report, not to raise
        ctx.drop_store()
        why = f"the database cannot be read: {describe(exc)}"
        log.error("health check: %s", why)
        return jsonify({"status": "error", "problems": [why]}), 503
    age = heartbeat_age(store, now)
    report: dict[str, Any] = {
        "status": "degraded" if found else "ok",
        "problems": found,
        "db": "ok",
        "inbox_pending": counts.get("pending", 0) + counts.get("processing", 0),
        "inbox_failed": counts.get("failed", 0),
        "inbox_oldest_pending_seconds": round(now.timestamp() - oldest, 1) if oldest else None,
        "worker": (
            {"last_heartbeat_seconds_ago": age, "pid": beat.get("pid")}
            if age is not None and isinstance(beat, dict)
            else None
        ),
    }
    return jsonify(report)


@probes.get("/metrics")
def metrics() -> Response:
    body, content_type = render_metrics(current().store(), current().clock(), current().counters)
    return Response(body, content_type=content_type)
