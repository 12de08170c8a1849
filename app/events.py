"""The System Log events certnotify handles (delivered by the hook or read back from
the System Log): their types, checks, and read-only views (pure).

The envelope around hook deliveries is parsed in app.intake.envelope.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from app.models import is_okta_id

__all__ = [
    "CLOSE",
    "DECIDE",
    "LAUNCH",
    "TOKEN",
    "Delivery",
    "EventView",
    "HookEvent",
    "check_event",
]

LAUNCH = "certification.campaign.launch"
CLOSE = "certification.campaign.close"
DECIDE = "certification.campaign.item.decide"
_CAMPAIGN_EVENTS = {LAUNCH, CLOSE, DECIDE}

# uuid and eventType are echoed into logs and the DB: keep them short and printable.
TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")


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
    if not isinstance(uuid, str) or not TOKEN.fullmatch(uuid):
        return "event has no valid uuid"
    event_type = event.get("eventType")
    if not isinstance(event_type, str) or not TOKEN.fullmatch(event_type):
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
