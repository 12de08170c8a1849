"""The arguments of a fake Slack Web API call, read the ways Slack accepts them.

A method's arguments may come in the query string, a form body or a JSON body; arguments
Slack would refuse raise ``ParamError``, whose message is the ``ok:false`` error name.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fakes.httpserver import Request

__all__ = ["ParamError", "blocks", "params"]


class ParamError(Exception):
    """A request whose parameters Slack would refuse; the message is the error name."""


def params(request: Request) -> dict[str, Any]:
    """Arguments from the query string and a form or JSON body, as Slack accepts all three.

    slack_sdk's sync client POSTs form bodies even for "GET" methods, its async client puts
    them in the query, and chat.postMessage goes as JSON.
    """
    found: dict[str, Any] = {name: values[0] for name, values in request.query.items()}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # slack_sdk labels even body-less calls (auth.test) as JSON, so an empty body is no error.
    if content_type == "application/json" and request.body:
        try:
            body = request.json()
        except ValueError as exc:
            raise ParamError("invalid_json") from exc
        if not isinstance(body, dict):
            raise ParamError("invalid_json")
        found.update(body)
    elif content_type == "application/x-www-form-urlencoded":
        form = parse_qs(request.body.decode(errors="replace"), keep_blank_values=True)
        found.update({name: values[0] for name, values in form.items()})
    return found


def blocks(raw: Any) -> list[Any] | None:
    """Blocks arrive as a list in JSON bodies and as a JSON string in form bodies."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise ParamError("invalid_blocks_format") from exc
    if not isinstance(raw, list):
        raise ParamError("invalid_blocks_format")
    return raw or None
