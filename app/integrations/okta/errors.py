"""What can go wrong talking to Okta, sorted by what to do about it."""

from __future__ import annotations

import httpx

__all__ = [
    "OktaAuthError",
    "OktaError",
    "OktaFilterRejected",
    "OktaNotFound",
    "OktaUnavailable",
    "error_from",
    "transport_problem",
]


class OktaError(Exception):
    """An Okta API failure. ``permanent`` ones are not worth retrying."""

    permanent = True

    def __init__(self, message: str, *, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class OktaAuthError(OktaError):
    """401/403: the token or the app's scopes are wrong. Nothing will work until fixed."""


class OktaNotFound(OktaError):
    pass


class OktaFilterRejected(OktaError):
    """400 E0000053: the server does not accept this ``filter`` expression."""


class OktaUnavailable(OktaError):
    """5xx, timeouts, connection errors or rate limits that outlasted our retries.

    Not the work's fault: whatever needed Okta waits (``retry_at``, epoch seconds) and
    keeps its tries."""

    permanent = False

    def __init__(
        self, message: str, *, status: int | None = None, code: str = "", retry_at: float = 0.0
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_at = retry_at


def error_from(response: httpx.Response) -> tuple[str, str]:
    """(errorCode, a one-line summary) from an Okta error body, tolerating anything."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("errorCode") or "")[:20]
    summary = str(body.get("errorSummary") or response.reason_phrase or "error")[:200]
    causes = body.get("errorCauses")
    if isinstance(causes, list) and causes and isinstance(causes[0], dict):
        cause = causes[0].get("errorSummary")
        if cause:
            summary += f" ({str(cause)[:120]})"
    error_id = str(body.get("errorId") or "")[:40]
    if error_id:
        summary += f" [errorId {error_id}]"
    return code, summary


def transport_problem(base_url: httpx.URL, exc: httpx.TransportError) -> str:
    """One line an operator can act on: which host, and what went wrong."""
    host = base_url.host or str(base_url)
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError) and (
        "Name or service not known" in reason
        or "nodename nor servname" in reason
        or "Temporary failure in name resolution" in reason
        or "No address associated" in reason
    ):
        reason = "the host name does not resolve (check OKTA_ORG_URL)"
    elif isinstance(exc, httpx.TimeoutException):
        reason = f"no answer in time ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError):
        reason = f"connection failed: {reason}"
    return f"cannot reach okta at {host}: {reason}"[:300]
