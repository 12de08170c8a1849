"""Turning "these people should hear about this campaign" into ledger rows.

Shared by launch, reminders and reassignment: resolve the people in Slack,
record the mapping on the reviewer table, render each message, and plan one
ledger row per person. Planning never sends; the outbox does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from app.config import Settings
from app.messages import Message, MessageContext
from app.models import Campaign, Person
from app.store import DeliveryScope, PlannedDelivery
from app.timeutil import zone

__all__ = ["PlanResult", "Recipient", "message_context", "plan_messages"]


def message_context(settings: Settings, campaign: Campaign, now: datetime) -> MessageContext:
    return MessageContext(
        campaign_name=campaign.name,
        description=campaign.description,
        end=campaign.end,
        zone=zone(campaign.time_zone, settings.campaigns.default_time_zone),
        review_url=settings.review_url(campaign.id),
        org_name=settings.org_name(),
        now=now,
    )


@dataclass(frozen=True)
class Recipient:
    person: Person
    count: int  # the number the message quotes (pending items, reassigned items)


@dataclass
class PlanResult:
    queued: int = 0
    mapped: int = 0
    unmapped: list[str] = field(default_factory=list)  # "email (reason)"
    scopes: list[DeliveryScope] = field(default_factory=list)


def plan_messages(
    services,  # app.services.Services (not imported: it imports us)
    campaign: Campaign,
    recipients: Iterable[Recipient],
    *,
    kind: str,
    milestone: str,
    render: Callable[[Recipient], Message],
    now: datetime,
) -> PlanResult:
    recipients = list(recipients)
    resolutions = services.directory.resolve(r.person.email for r in recipients if r.person.email)
    result = PlanResult(scopes=[DeliveryScope(campaign.id, kind, milestone)])
    planned: list[PlannedDelivery] = []
    mapping: dict[str, tuple[str | None, str]] = {}
    for recipient in recipients:
        person = recipient.person
        resolution = resolutions.get(person.email.lower()) if person.email else None
        user_id = resolution.user_id if resolution else None
        status = resolution.status if resolution else "not_found"
        reason = resolution.reason if resolution else "no email address in Okta"
        mapping[person.key] = (user_id, status)
        if user_id:
            result.mapped += 1
        else:
            result.unmapped.append(f"{person.email or person.okta_id} ({reason})")
        message = render(recipient)
        planned.append(
            PlannedDelivery(
                campaign_id=campaign.id,
                recipient=person.key,
                kind=kind,
                milestone=milestone,
                email=person.email,
                slack_user_id=user_id,
                text=message.text,
                blocks=message.blocks,
                unmapped_reason="" if user_id else reason,
            )
        )
    services.store.set_reviewer_slack(campaign.id, mapping)
    result.queued = services.store.plan_deliveries(planned, now)
    return result
