"""Okta event-hook envelopes and the System Log events inside them (pure parsing).

An envelope is ``{"eventType": "com.okta.event_hook", "eventId": …, "data": {"events": [...]}}``.
A body that is not an envelope is rejected as a whole (HTTP 400). Inside a valid
envelope each event stands alone: a malformed one, or one naming an invalid
campaign id, is dropped and counted, never a reason to refuse the delivery
(Okta does not retry 4xx, so refusing would lose the good events with it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.models import is_okta_id

__all__ = [
    "CLOSE",
    "DECIDE",
    "ENVELOPE_TYPE",
    "LAUNCH",
    "Delivery",
    "EnvelopeError",
    "EventView",
    "HookEvent",
    "check_event",
    "parse_envelope",
]

ENVELOPE_TYPE = "com.okta.event_hook"
LAUNCH = "certification.campaign.launch"
CLOSE = "certification.campaign.close"
DECIDE = "certification.campaign.item.decide"
_CAMPAIGN_EVENTS = {LAUNCH, CLOSE, DECIDE}

# uuid and eventType are echoed into logs and the DB: keep them short and printable.
_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


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


@dataclass(frozen=True)
class HookEvent:
    """One accepted event, ready for the inbox."""

    uuid: str
    event_type: str
    published: str
    campaign_id: str
    raw: Mapping[str, Any]

    def payload_json(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"))


@dataclass
class Delivery:
    event_id: str
    events: list[HookEvent] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # one reason per dropped event


def _debug_data(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("debugContext")
    data = context.get("debugData") if isinstance(context, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def check_event(event: object) -> HookEvent | str:
    """A ``HookEvent``, or the reason the event is dropped."""
    if not isinstance(event, Mapping):
        return "event is not an object"
    uuid = event.get("uuid")
    if not isinstance(uuid, str) or not _TOKEN.fullmatch(uuid):
        return "event has no valid uuid"
    event_type = event.get("eventType")
    if not isinstance(event_type, str) or not _TOKEN.fullmatch(event_type):
        return "event has no valid eventType"
    published = event.get("published")
    published = published if isinstance(published, str) and len(published) <= 40 else ""
    campaign_id = ""
    if event_type in _CAMPAIGN_EVENTS:
        data = _debug_data(event)
        raw_campaign = data.get("campaignId")
        review_id = data.get("campaignItemReviewerId")
        if raw_campaign is not None and not is_okta_id(raw_campaign):
            return f"{event_type}: invalid campaignId"
        if review_id is not None and not is_okta_id(review_id):
            return f"{event_type}: invalid campaignItemReviewerId"
        campaign_id = raw_campaign or ""
        # A decision can still be traced through its review id; launch and close cannot.
        if not campaign_id and event_type != DECIDE:
            return f"{event_type}: no campaignId"
        if not campaign_id and not review_id:
            return f"{event_type}: neither campaignId nor campaignItemReviewerId"
    return HookEvent(uuid, event_type, published, campaign_id, event)


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
    if not isinstance(event_id, str) or not _TOKEN.fullmatch(event_id):
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


@dataclass(frozen=True)
class EventView:
    """Read-only accessors for a stored event (worker side)."""

    raw: Mapping[str, Any]

    @property
    def debug(self) -> Mapping[str, Any]:
        return _debug_data(self.raw)

    def debug_str(self, key: str, limit: int = 500) -> str:
        value = self.debug.get(key)
        return value.strip()[:limit] if isinstance(value, str) else ""

    @property
    def actor(self) -> Mapping[str, Any]:
        actor = self.raw.get("actor")
        return actor if isinstance(actor, Mapping) else {}

    @property
    def actor_name(self) -> str:
        for key in ("displayName", "alternateId"):
            value = self.actor.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:200]
        return ""
