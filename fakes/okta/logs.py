"""The fake org's System Log: ``GET /api/v1/logs`` over the events a test records.

A bounded query (``since`` and ``until``), ``filter`` with ``eventType eq "…"`` terms
joined by ``or``, ``limit`` and ``sortOrder``; the next page is named by a
``Link: <…>; rel="next"`` header on the ``-admin`` host (``after`` is an opaque
cursor), and no ``next`` link after the last page, as Okta documents for bounded
queries.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fakes.httpserver import Request

__all__ = ["LOGS", "SystemLog", "log_event"]

LOGS = "/api/v1/logs"
MAX_LIMIT = 1000
_TYPE_TERM = re.compile(r'\s*eventType\s+eq\s+"([a-z0-9_.]+)"\s*', re.IGNORECASE)


def log_event(
    event_type: str,
    campaign_id: str,
    published: datetime,
    *,
    campaign_name: str = "",
    debug: dict[str, Any] | None = None,
    actor: dict[str, Any] | None = None,
    outcome: str = "SUCCESS",
) -> dict[str, Any]:
    """A System Log event in the shape of the hook samples' ``data.events[]``."""
    return {
        "uuid": str(uuid.uuid4()),
        "published": published.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "eventType": event_type,
        "version": "0",
        "displayMessage": "Campaign launched",
        "severity": "INFO",
        "actor": actor
        or {
            "id": "spryNYaeCS2aMI3Jf0g7",
            "type": "SystemPrincipal",
            "alternateId": "system@okta.com",
            "displayName": "Okta System",
        },
        "outcome": {"result": outcome, "reason": None},
        "target": [],
        "debugContext": {
            "debugData": {
                "campaignId": campaign_id,
                "campaignName": campaign_name,
                **(debug or {}),
            }
        },
    }


def _parse_types(text: str) -> set[str] | None:
    terms = re.split(r"\s+or\s+", text.strip(), flags=re.IGNORECASE)
    types = set()
    for term in terms:
        match = _TYPE_TERM.fullmatch(term)
        if match is None:
            return None
        types.add(match[1])
    return types


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


class SystemLog:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []  # in published order
        self.queries: list[Request] = []

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        self.events.sort(key=lambda e: e["published"])

    def answer(self, request: Request, admin_url: str) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body, headers) for one ``/api/v1/logs`` request."""
        self.queries.append(request)
        types = _parse_types(request.param("filter") or "") if request.param("filter") else None
        since, until = _time(request.param("since")), _time(request.param("until"))
        limit_text = request.param("limit") or "100"
        if (request.param("filter") and types is None) or since is None or until is None:
            return 400, {"errorCode": "E0000001", "errorSummary": "Api validation failed"}, {}
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            return 400, {"errorCode": "E0000001", "errorSummary": "limit"}, {}
        matching = [
            e
            for e in self.events
            if (types is None or e["eventType"] in types)
            and since <= datetime.fromisoformat(e["published"].replace("Z", "+00:00")) < until
        ]
        start = int(request.param("after") or 0)
        limit = int(limit_text)
        page = matching[start : start + limit]
        headers: dict[str, str] = {}
        if start + limit < len(matching):
            query = {k: v[0] for k, v in request.query.items()}
            query["after"] = str(start + limit)
            link = f"{admin_url}{LOGS}?{urlencode(sorted(query.items()), quote_via=quote)}"
            headers["Link"] = f'<{link}>; rel="next"'
        return 200, page, headers
