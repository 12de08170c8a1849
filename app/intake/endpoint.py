"""``/hooks/okta``: Okta's event hook (verification and deliveries).

The request path does authentication, parsing and one insert, and answers; it never
calls Okta or Slack (Okta gives up after 3 s). Answers, in order: 413 body over 1 MiB
(before reading it), 401 missing or wrong secret (nothing stored), 400 not JSON or not
an envelope, 503 not stored (Okta retries once), 204 accepted (duplicates and unknown
event types included).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, jsonify, request

from app.intake.context import current, problem
from app.intake.envelope import MAX_NESTING, EnvelopeError, parse_envelope
from app.intake.writer import StoreUnusable

__all__ = ["INTAKE_TIMEOUT_SECONDS", "MAX_BODY_BYTES", "hooks"]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
CHALLENGE_HEADER = "x-okta-verification-challenge"
MAX_CHALLENGE_CHARS = 1024
# Okta waits 3 s for an answer: a 503 before that gets its one retry.
INTAKE_TIMEOUT_SECONDS = 2.5

hooks = Blueprint("hooks", __name__)


def _refuse(status: int, message: str) -> Response:
    """A refused hook delivery: answered, and counted for /metrics."""
    current().counters.refused(status)
    return problem(status, message)


@hooks.get("/hooks/okta")
def verify() -> Response:
    """Okta's one-time verification: echo the challenge header, byte for byte."""
    challenge = request.headers.get(CHALLENGE_HEADER)
    if not challenge:
        return problem(400, f"missing {CHALLENGE_HEADER} header")
    if len(challenge) > MAX_CHALLENGE_CHARS:
        return problem(400, "verification challenge too long")
    return jsonify({"verification": challenge})


@hooks.post("/hooks/okta")
def receive() -> Response:
    ctx = current()
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
