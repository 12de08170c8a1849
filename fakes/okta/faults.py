"""Misbehaviour of the fake Okta org: injected faults and the per-minute rate-limit window.

* A ``Fault`` is queued for a path prefix (``FakeOkta.inject``) and answers the next request
  under that prefix, on either host: an error, a 429 with its reset time, or a stall.
* ``RateWindow`` counts requests in minute-aligned windows, as Okta does, for the
  ``X-Rate-Limit-*`` headers of every answer and for the optional enforced limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from fakes.httpserver import Response
from fakes.okta.responses import ERROR_400_FILTER, ERROR_429, error, json_response

__all__ = ["OKTA_RATE_LIMIT", "Fault", "FaultQueue", "RateWindow", "fault_response"]

OKTA_RATE_LIMIT = 50  # X-Rate-Limit-Limit of the recorded /campaigns and /reviews responses

# Default bodies of injected faults, by status; any other status gets E0000009.
_FAULT_ERRORS = {
    401: ("E0000011", "Invalid token provided"),
    403: ("E0000006", "You do not have permission to perform the requested action"),
    404: ("E0000007", "Not found: Resource not found"),
}


@dataclass
class Fault:
    """One injected answer, consumed by the next request whose path starts with its prefix.

    A status below 400 with ``hang`` gives a slow but otherwise normal answer.
    """

    status: int = 500
    reset_in: float | None = None  # for 429: X-Rate-Limit-Reset = int(clock() + reset_in)
    body: dict[str, Any] | None = None  # default: the Okta error body fitting the status
    hang: float = 0.0  # seconds to stall before answering
    headers: dict[str, str] = field(default_factory=dict)  # applied last (override the rest)


class FaultQueue:
    """Injected faults with their path prefixes, in the order they were injected."""

    def __init__(self) -> None:
        self._queued: list[tuple[str, Fault]] = []

    def add(self, path_prefix: str, faults: Iterable[Fault]) -> None:
        self._queued.extend((path_prefix, fault) for fault in faults)

    def take(self, path: str) -> Fault | None:
        """Remove and return the first fault whose prefix ``path`` starts with."""
        for i, (prefix, fault) in enumerate(self._queued):
            if path.startswith(prefix):
                del self._queued[i]
                return fault
        return None


def fault_response(fault: Fault, clock: Callable[[], float]) -> Response:
    """The answer of a fault with an error status (the caller counts the 429s)."""
    headers: dict[str, str] = {}
    if fault.status == 429:
        headers["X-Rate-Limit-Remaining"] = "0"
        if fault.reset_in is not None:
            headers["X-Rate-Limit-Reset"] = str(int(clock() + fault.reset_in))
    body = fault.body if fault.body is not None else _default_error(fault.status)
    return json_response(fault.status, body, headers)


def _default_error(status: int) -> dict[str, Any]:
    if status == 429:
        return ERROR_429
    if status == 400:
        return ERROR_400_FILTER
    return error(*_FAULT_ERRORS.get(status, ("E0000009", "Internal Server Error")))


class RateWindow:
    """Requests counted per minute-aligned window (the window ends at ``end``)."""

    def __init__(self) -> None:
        self.end = 0.0
        self.used = 0

    def count(self, now: float, limit: int | None) -> dict[str, str]:
        """Count one request; return the ``X-Rate-Limit-*`` headers of its answer.

        ``limit`` is the enforced per-minute limit, or None when nothing is enforced.
        """
        if now >= self.end:
            # Minute-aligned windows, like the sample Reset 1788278460 (16:01:00Z).
            self.end = (now // 60 + 1) * 60
            self.used = 0
        self.used += 1
        # When enforcing a smaller limit, report it: clients that pace themselves on
        # Remaining must see the limit that will actually bite.
        if limit is None:
            limit = OKTA_RATE_LIMIT
        return {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(max(0, limit - self.used)),
            "X-Rate-Limit-Reset": str(int(self.end)),
        }

    def exceeded(self, limit: int | None) -> bool:
        """Whether the requests counted in this window are over an enforced ``limit``."""
        return limit is not None and self.used > limit
