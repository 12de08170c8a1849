"""Turning "these people should hear about this campaign" into ledger rows.

Shared by launch, reminders and reassignment, in three steps so a dry run can
stop before writing anything:

1. ``resolve``: who is who in Slack;
2. ``prepare``: render one message per person into ``PlannedMessage`` rows;
3. ``commit``: record the Slack mapping and the rows (the ledger keeps each key once).

Planning never sends; the outbox does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from app.config import Settings
from app.db import Store
from app.integrations.slack.directory import Resolution, SlackDirectory
from app.messages import Message, MessageContext
from app.models import Campaign, LedgerKey, MessageScope, Person, PlannedMessage
from app.timeutil import zone

__all__ = ["Plan", "Planner", "Recipient", "message_context", "prepare"]


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
    skip_reason: str = ""  # record, but do not send


@dataclass
class Plan:
    campaign_id: str
    rows: list[PlannedMessage] = field(default_factory=list)
    mapping: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)  # "email (reason)"
    queued: list[LedgerKey] = field(default_factory=list)  # rows that became pending
    scopes: list[MessageScope] = field(default_factory=list)

    def extend(self, other: Plan) -> None:
        self.rows += other.rows
        self.mapping.update(other.mapping)
        self.unmapped += other.unmapped
        self.scopes += [s for s in other.scopes if s not in self.scopes]


class Planner:
    """Resolve, prepare and commit, with what they need: the store, the Slack directory,
    and the settings that shape messages (review URL, org name, default time zone)."""

    def __init__(self, store: Store, directory: SlackDirectory, settings: Settings) -> None:
        self.store = store
        self.directory = directory
        self.settings = settings

    def context(self, campaign: Campaign, now: datetime) -> MessageContext:
        return message_context(self.settings, campaign, now)

    def resolve(self, people: Iterable[Person], *, persist: bool = True) -> dict[str, Resolution]:
        return self.directory.resolve((p.email for p in people if p.email), persist=persist)

    def commit(self, plan: Plan, now: datetime) -> Plan:
        """Record the Slack mapping and the rows (one transaction)."""
        with self.store.write():
            self.store.campaigns.set_reviewer_slack(plan.campaign_id, plan.mapping)
            plan.queued = self.store.messages.plan(plan.rows, now)
        return plan

    def plan(
        self,
        campaign: Campaign,
        recipients: Iterable[Recipient],
        *,
        kind: str,
        milestone: str,
        render: Callable[[Recipient], Message],
        now: datetime,
    ) -> Plan:
        recipients = list(recipients)
        resolutions = self.resolve(r.person for r in recipients)
        plan = prepare(
            campaign, recipients, resolutions, kind=kind, milestone=milestone, render=render
        )
        return self.commit(plan, now)


def prepare(
    campaign: Campaign,
    recipients: Iterable[Recipient],
    resolutions: dict[str, Resolution],
    *,
    kind: str,
    milestone: str,
    render: Callable[[Recipient], Message],
) -> Plan:
    plan = Plan(campaign.id, scopes=[MessageScope(campaign.id, kind, milestone)])
    for recipient in recipients:
        person = recipient.person
        resolution = resolutions.get(person.email.lower()) if person.email else None
        user_id = resolution.user_id if resolution else None
        status = resolution.status if resolution else "not_found"
        reason = resolution.reason if resolution else "no email address in Okta"
        plan.mapping[person.key] = (user_id, status)
        if not user_id and not recipient.skip_reason:
            plan.unmapped.append(f"{person.email or person.okta_id} ({reason})")
        message = render(recipient)
        plan.rows.append(
            PlannedMessage(
                campaign_id=campaign.id,
                recipient=person.key,
                kind=kind,
                milestone=milestone,
                email=person.email,
                slack_user_id=user_id,
                text=message.text,
                blocks=message.blocks,
                unmapped_reason="" if user_id else reason,
                skip_reason=recipient.skip_reason,
            )
        )
    return plan
