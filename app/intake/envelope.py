"""An Okta event-hook envelope: ``{"eventType": "com.okta.event_hook", "eventId": …,
"data": {"events": [...]}}`` (pure parsing).

A body that is not an envelope is rejected as a whole (HTTP 400). Inside a valid
envelope each event stands alone: a malformed one, or one naming an invalid campaign
id, is dropped and counted, never a reason to refuse the delivery (Okta does not retry
4xx, so refusing would lose the good events with it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from app.events import TOKEN, Delivery, check_event

__all__ = ["ENVELOPE_TYPE", "MAX_NESTING", "EnvelopeError", "parse_envelope"]

ENVELOPE_TYPE = "com.okta.event_hook"


class EnvelopeError(ValueError):
    """The body is JSON but not an Okta event-hook envelope."""


# An Okta envelope nests about 7 deep (envelope, data, events, event, debugContext,
# debugData, ...). Anything far deeper is an attack on whatever walks it later.
MAX_NESTING = 32


def nested_deeper_than(value: object, limit: int = MAX_NESTING) -> bool:
    """Is any array or object in ``value`` more than ``limit`` levels deep? (Iterative:
    a recursive walk would itself fail on the input it checks.)"""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Iterable[object] = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_envelope(body: object, raw_body: bytes = b"") -> Delivery:
    """Validate the envelope; sort its events into accepted and dropped."""
    if nested_deeper_than(body):
        raise EnvelopeError(f"body nested more than {MAX_NESTING} levels deep")
    if not isinstance(body, Mapping) or body.get("eventType") != ENVELOPE_TYPE:
        raise EnvelopeError("not an Okta event hook envelope (eventType)")
    data = body.get("data")
    events = data.get("events") if isinstance(data, Mapping) else None
    if not isinstance(events, list):
        raise EnvelopeError("not an Okta event hook envelope (data.events)")
    event_id = body.get("eventId")
    if not isinstance(event_id, str) or not TOKEN.fullmatch(event_id):
        # Okta always sends one; without it, the body itself identifies the delivery.
        event_id = "sha256:" + hashlib.sha256(raw_body).hexdigest()[:40]
    delivery = Delivery(event_id=event_id)
    seen: set[str] = set()
    for event in events:
        checked = check_event(event)
        if isinstance(checked, str):
            delivery.dropped.append(checked)
        elif checked.uuid in seen:
            delivery.dropped.append("duplicate uuid within the delivery")
        else:
            seen.add(checked.uuid)
            delivery.events.append(checked)
    return delivery
