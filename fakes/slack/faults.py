"""Scripted misbehaviour of the fake Slack workspace: one-shot faults and their answers.

``FakeSlack.inject(method, Fault(...))`` queues faults per Web API method; each call to the
method takes the next one, first-in first-out, and gets its answer instead of the real one.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.client import responses as http_reasons

from fakes.httpserver import Response
from fakes.slack.responses import ratelimited

__all__ = ["Fault", "fault_response"]


@dataclass
class Fault:
    """One scripted misbehaviour, answered instead of the real result of one call."""

    status: int = 200
    error: str | None = None  # ok:false error name, e.g. "invalid_auth", "account_inactive"
    retry_after: int | None = None  # with status 429: Retry-After seconds (None = no header)
    delay: float = 0.0  # stall before answering (client timeouts)

    def __post_init__(self) -> None:
        # A 4xx other than 429 needs an error name, or the fault would silently answer normally.
        if self.error is None and self.status not in (200, 429) and self.status < 500:
            raise ValueError(f"Fault(status={self.status}) needs an error name")


def fault_response(fault: Fault) -> Response | None:
    """The fault's answer, or None for a delay-only fault (stall, then answer normally)."""
    if fault.status >= 500:
        # Slack's edge answers 5xx with a non-JSON body; clients must not try to parse it.
        reason = fault.error or http_reasons.get(fault.status, "Server Error")
        return Response(fault.status, reason, {"Content-Type": "text/plain"})
    if fault.status == 429:
        return ratelimited(fault.retry_after, fault.error or "ratelimited")
    if fault.error is not None:
        return Response(fault.status, {"ok": False, "error": fault.error})
    return None
