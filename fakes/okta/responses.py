"""JSON answers and error bodies of the fake Okta org, in the shape of the recorded samples.

Every answer is JSON-encoded when it is built, while the caller holds the fake's lock, so the
bytes are a consistent snapshot of the data even if a test thread edits it a moment later.
"""

from __future__ import annotations

import json
import random
import string
from typing import Any

from fakes.httpserver import Response

__all__ = ["ERROR_400_FILTER", "ERROR_429", "error", "json_response", "not_found"]

_ALNUM = string.ascii_letters + string.digits

# Exact bodies of tests/samples/okta-error-429.json and okta-error-400.json.
ERROR_429: dict[str, Any] = {
    "errorCode": "E0000047",
    "errorSummary": "The API call exceeded the rate limit due to too many requests.",
    "errorLink": "E0000047",
    "errorId": "oaeD3sPVcX86V0GVh9iLFvndS",
    "errorCauses": [],
}
ERROR_400_FILTER: dict[str, Any] = {
    "errorCode": "E0000053",
    "errorSummary": "Invalid SCIM filter",
    "errorLink": "E0000053",
    "errorId": "oaea6y1OxzVwwCywxvUiae8Tp",
    "errorCauses": [
        {
            "errorSummary": "Invalid `filter` syntax",
            "reason": "STRING_FORMAT_INVALID",
            "locationType": "query",
            "location": "/filter",
            "domain": "governance",
        }
    ],
}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    # Encoded now (the caller holds the lock), not later by the base class, so the bytes are
    # a consistent snapshot of the data.
    return Response(
        status, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def error(code: str, summary: str, causes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An Okta error body with a fresh random errorId, as every real error answer has."""
    error_id = "oae" + "".join(random.choices(_ALNUM, k=22))
    return {
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": error_id,
        "errorCauses": causes or [],
    }


def not_found(item_id: str, kind: str) -> Response:
    """Okta's 404 for an id it does not know (``kind`` as Okta names it: ``User``…)."""
    summary = f"Not found: Resource not found: {item_id} ({kind})"
    return json_response(404, error("E0000007", summary))
