"""The error answers of the fake Slack Web API.

Slack answers most errors with HTTP 200 and ``ok:false``; clients must read the body, not
the status. Rate limiting is the exception: HTTP 429 with a ``Retry-After`` header.
"""

from __future__ import annotations

from fakes.httpserver import Response

__all__ = ["error", "ratelimited"]


def error(name: str) -> Response:
    return Response(200, {"ok": False, "error": name})


def ratelimited(retry_after: int | None, error: str = "ratelimited") -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Response(429, {"ok": False, "error": error}, headers)
