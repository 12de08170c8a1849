"""The HTTP side: Okta's event hook, health and metrics (a Flask app factory).

The request path does authentication, parsing and one insert, and answers;
it never calls Okta or Slack (Okta gives up after 3 s). Answers, in order:
413 body over 1 MiB (before reading it), 401 missing or wrong secret (nothing
stored), 400 not JSON or not an envelope, 204 accepted (duplicates and unknown
event types included).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import threading
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from app.config import Settings, SettingsError, load_settings
from app.db import DatabaseMissing, Store
from app.events import MAX_NESTING, EnvelopeError, parse_envelope
from app.intake.forwarded import ForwardedFor
from app.intake.writer import IntakeWriter, StoreUnusable, describe
from app.logs import LEVEL_ENV, configure_logging
from app.ops.health import heartbeat_age, problems
from app.ops.metrics import HookCounters, render_metrics
from app.timeutil import Clock, system_clock

__all__ = ["MAX_BODY_BYTES", "create_app"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
CHALLENGE_HEADER = "x-okta-verification-challenge"
MAX_CHALLENGE_CHARS = 1024
# Okta waits 3 s for an answer: a 503 before that gets its one retry.
INTAKE_TIMEOUT_SECONDS = 2.5

bp = Blueprint("hooks", __name__)


class WebContext:
    """Per-app state: settings, the clock, and one store connection per thread."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        secret = settings.okta.hook_secret.get_secret_value().encode()
        # Compare digests, not the strings: equal lengths, so the comparison time
        # says nothing about the secret's length either.
        self.secret_digest = hashlib.sha256(secret).digest()
        self.secret_header = settings.okta.hook_secret_header
        self._local = threading.local()
        self.intake = IntakeWriter(lambda: self.open_store(intake=True))
        self.counters = HookCounters()

    def open_store(self, *, intake: bool = False) -> Store:
        # Never create: the web side only writes into the database the worker reads.
        db = self.settings.database
        return Store.open(db.path, db.busy_timeout_seconds, intake=intake, create=False)

    def store(self) -> Store:
        """This thread's reading connection (reopened if the file was replaced)."""
        store = getattr(self._local, "store", None)
        if store is not None and not store.same_file():
            self.drop_store()
            store = None
        if store is None:
            store = self._local.store = self.open_store()
        return store

    def drop_store(self) -> None:
        store = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                store.close()

    def secret_ok(self, provided: str | None) -> bool:
        if not provided:
            return False
        digest = hashlib.sha256(provided.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(digest, self.secret_digest)


def _ctx() -> WebContext:
    return current_app.extensions["certnotify"]


def _problem(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _refuse(status: int, message: str) -> Response:
    """A refused hook delivery: answered, and counted for /metrics."""
    _ctx().counters.refused(status)
    return _problem(status, message)


@bp.get("/hooks/okta")
def verify() -> Response:
    """Okta's one-time verification: echo the challenge header, byte for byte."""
    challenge = request.headers.get(CHALLENGE_HEADER)
    if not challenge:
        return _problem(400, f"missing {CHALLENGE_HEADER} header")
    if len(challenge) > MAX_CHALLENGE_CHARS:
        return _problem(400, "verification challenge too long")
    return jsonify({"verification": challenge})


@bp.post("/hooks/okta")
def receive() -> Response:
    ctx = _ctx()
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        return _refuse(413, "body over 1 MiB")
    if not ctx.secret_ok(request.headers.get(ctx.secret_header)):
        log.warning("hook delivery refused: missing or wrong secret from %s", request.remote_addr)
        return _refuse(401, "missing or wrong secret")
    if length is None:
        # Chunked: no Content-Length to check first. Read one byte past the limit from
        # the server's own stream (werkzeug's would stop at the limit and say nothing).
        raw = request.environ["wsgi.input"].read(MAX_BODY_BYTES + 1)
        if len(raw) > MAX_BODY_BYTES:
            return _refuse(413, "body over 1 MiB")
    else:
        raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except RecursionError:
        return _refuse(400, f"body nested more than {MAX_NESTING} levels deep")
    except (ValueError, UnicodeDecodeError):
        return _refuse(400, "body is not JSON")
    try:
        delivery = parse_envelope(body, raw)
    except EnvelopeError as exc:
        return _refuse(400, str(exc))
    try:
        result = ctx.intake.record(delivery, ctx.clock(), timeout=INTAKE_TIMEOUT_SECONDS)
    except Exception as exc:
        # Not stored: a 5xx makes Okta retry once; a duplicate of a late commit is dropped.
        why = str(exc) if isinstance(exc, StoreUnusable) else type(exc).__name__
        if isinstance(exc, TimeoutError):
            why = f"not stored within {INTAKE_TIMEOUT_SECONDS} s"
        log.error("hook delivery %s not stored: %s", delivery.event_id, why)
        return _refuse(503, "could not store the delivery; retry")
    # Every request is in the access log already; say more only when it is news.
    level = logging.INFO if result.duplicates or result.dropped else logging.DEBUG
    log.log(
        level,
        "hook delivery %s: %d accepted, %d duplicate, %d dropped%s",
        delivery.event_id,
        result.accepted,
        result.duplicates,
        result.dropped,
        f" ({'; '.join(sorted(set(delivery.dropped)))})" if delivery.dropped else "",
    )
    return Response(status=204)


@bp.get("/healthz")
def healthz() -> Response:
    """503 while hooks cannot be stored (a write is proven through the intake writer);
    otherwise 200 with ``status`` "ok", or "degraded" and the ``problems`` that make it so
    (worker silent, credentials refused, Okta or Slack unreachable, events failed)."""
    ctx = _ctx()
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


@bp.get("/metrics")
def metrics() -> Response:
    body, content_type = render_metrics(_ctx().store(), _ctx().clock(), _ctx().counters)
    return Response(body, content_type=content_type)


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> Flask:
    """Build the web app. Without ``settings``, read config.yaml and the environment."""
    if settings is None:
        settings = load_settings()
    settings.require("hook")
    app = Flask("certnotify")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # The proxy in front says who the client is; nobody else may (see app.intake.forwarded).
    app.wsgi_app = ForwardedFor(app.wsgi_app, settings.server.forwarded_allow_ips)  # type: ignore[method-assign]
    context = WebContext(settings, clock)
    # Fail at start-up, not on the first hook, if the database is missing or old:
    # `certnotify serve` creates and migrates it before starting gunicorn.
    try:
        store = context.store()
    except DatabaseMissing:
        raise SettingsError(
            f"database.path: no database at {settings.database.path} (run `certnotify migrate`"
            " or start the service with `certnotify serve`, which creates it)"
        ) from None
    if store.needs_migration():
        raise SettingsError(
            f"database.path: {settings.database.path} needs migrating; run `certnotify migrate`"
        )
    app.extensions["certnotify"] = context

    @app.errorhandler(413)
    def too_large(_: Exception) -> Response:
        return _problem(413, "body over 1 MiB")

    app.register_blueprint(bp)
    return app


def wsgi_app() -> Flask:
    """gunicorn entry point: ``gunicorn 'app.web:wsgi_app()'``."""
    try:
        settings = load_settings()
        # The app's own loggers in this web process: same formatter, redaction and level
        # as every other process (`serve` passes its --log-level down).
        configure_logging(
            settings.secrets(), os.environ.get(LEVEL_ENV, "INFO"), settings.logging.format
        )
        return create_app(settings)
    except SettingsError as exc:
        # One line, then exit: gunicorn would otherwise print a traceback per worker.
        print(f"certnotify: {exc}", flush=True)
        raise SystemExit(2) from None
