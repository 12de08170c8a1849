"""One pass's due reminders, turned into ledger rows: when each goes out, and which go
out together as one digest.

* **Scheduled pass** (``timed``): each person's reminders wait for their working hours
  in their own Slack time zone (``reminders.local_time`` to ``send_until``, weekdays),
  and for 3 days after their last reminder (any campaign). A person who already has a
  digest waiting to go out has the new reminders join it.
* **Operator's request** (``remind``, ``nudge``): sent at once.

Either way, a person with reminders due in several campaigns gets one digest; each
campaign keeps its own ledger row (so exactly-once holds per campaign), and the rows
share a ``group_key``. Each row also stores its single-campaign message and its entry
in the digest, so whatever is still due when the digest goes out is what it lists.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from app.config import Settings
from app.db import Store
from app.db.messages import REMINDER_KINDS, ReminderHistory
from app.integrations.slack.directory import Resolution
from app.messages import Message
from app.models import Campaign, MessageScope, Person, PlannedMessage
from app.pipeline.planning import message_context
from app.pipeline.working_hours import WorkingHours
from app.reminder_messages import (
    Moment,
    digest_entry,
    final_notice_message,
    reminder_message,
)
from app.team_messages import escalation_entry, escalation_message
from app.timeutil import iso, zone

__all__ = ["DueReminder", "ReminderBatch"]


@dataclass(frozen=True)
class DueReminder:
    """One person, one campaign: a message that is due: a ``reminder`` or ``nudge`` to a
    reviewer, or an ``escalation`` to their manager (``person``) about them (``about``)."""

    campaign: Campaign
    person: Person
    pending: int
    kind: str
    milestone: str  # dayN for reminders, the date for nudges, the reviewer for escalations
    moment: Moment
    waiting: tuple[tuple[str, int], ...] = ()  # (application, pending items), largest first
    skip_reason: str = ""  # recorded, not sent (told about the campaign the same day)
    about: Person | None = None  # escalation: the reviewer who is late

    @property
    def scope(self) -> MessageScope:
        return MessageScope(self.campaign.id, self.kind, self.milestone)


@dataclass
class ReminderBatch:
    """Collects a pass's due reminders, then plans them together (``rows``)."""

    settings: Settings
    store: Store
    timed: bool  # the scheduled pass: working hours and spacing apply
    due: list[DueReminder] = field(default_factory=list)
    resolutions: dict[str, Resolution] = field(default_factory=dict)
    superseded: list[DueReminder] = field(default_factory=list)
    # Unique per pass: an operator's pass groups its own rows, never older ones.
    token: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def add(self, due: Iterable[DueReminder], resolutions: dict[str, Resolution]) -> None:
        self.due += due
        self.resolutions.update(resolutions)

    @property
    def scopes(self) -> list[MessageScope]:
        return list(dict.fromkeys(d.scope for d in self.due))

    def _resolution(self, person: Person) -> Resolution | None:
        return self.resolutions.get(person.email.lower()) if person.email else None

    def _zone(self, resolution: Resolution | None, campaign: Campaign) -> ZoneInfo:
        """The person's own zone from Slack, else the campaign's."""
        campaign_zone = zone(campaign.time_zone, self.settings.campaigns.default_time_zone)
        if resolution is not None and resolution.tz:
            return zone(resolution.tz, campaign_zone.key)
        return campaign_zone

    def rows(self, now: datetime, render_now: datetime | None = None) -> list[PlannedMessage]:
        """Ledger rows for everything due; ``render_now``: the moment messages speak of
        when not timed (``remind --date`` words them as of that date)."""
        # Grouped by who receives them: the Slack user (two Okta identities may map to one
        # person through slack.email_aliases), else the Okta person (not sent anyway). A
        # manager's escalations form their own digest, apart from their own reminders.
        groups: dict[tuple[str, str], list[DueReminder]] = {}
        for due in self.due:
            resolution = self._resolution(due.person)
            who = (resolution.user_id if resolution else None) or f"okta:{due.person.key}"
            family = "escalation" if due.kind == "escalation" else "reminder"
            groups.setdefault((who, family), []).append(due)
        history = (
            self.store.messages.reminder_history(
                {d.person.key for d in self.due if d.kind in REMINDER_KINDS}, REMINDER_KINDS
            )
            if self.timed
            else {}
        )
        rows: list[PlannedMessage] = []
        for (who, family), items in groups.items():
            resolution = self._resolution(items[0].person)
            when, group = None, ""
            if resolution and resolution.user_id and any(not d.skip_reason for d in items):
                if not self.timed:
                    group = f"{who}@{self.token}/{family}"
                else:
                    past = [history[d.person.key] for d in items if d.person.key in history]
                    tz = self._zone(resolution, items[0].campaign)
                    when, group = self._slot(now, tz, past if family == "reminder" else [])
                    group = group or f"{who}@{iso(when)}/{family}"
            for due in items:
                rows.append(self._row(due, resolution, when, group, render_now or when or now))
        return rows

    def _slot(
        self, now: datetime, tz: ZoneInfo, past: list[ReminderHistory]
    ) -> tuple[datetime, str]:
        """When a scheduled reminder goes out, and the digest it joins ("" for a new one):
        the digest already waiting for this person, else their next working moment at
        least 3 days after their last reminder. (Escalations, a manager's first message
        about it, pass no history: working hours only.)"""
        for waiting in past:
            if waiting.waiting_group and waiting.waiting_until and waiting.waiting_until > now:
                return waiting.waiting_until, waiting.waiting_group
        sent = [p.last_sent for p in past if p.last_sent is not None]
        hours = WorkingHours.of(self.settings.reminders)
        return hours.send_time(now, tz, max(sent) if sent else None), ""

    def _row(
        self,
        due: DueReminder,
        resolution: Resolution | None,
        when: datetime | None,
        group: str,
        speak_as_of: datetime,
    ) -> PlannedMessage:
        campaign = due.campaign
        user_id = resolution.user_id if resolution else None
        skip = due.skip_reason
        if not skip and user_id and when is not None and campaign.end and when >= campaign.end:
            skip = "its working-hours slot came after the campaign's end"
        ctx = message_context(self.settings, campaign, speak_as_of)
        final = due.moment == "final"
        message: Message
        entry: dict[str, Any]
        if due.about is not None:
            reviewer = due.about.display_name
            message = escalation_message(ctx, reviewer, due.pending)
            entry = escalation_entry(ctx, reviewer, due.pending)
        elif final:
            consequence = self.settings.messages.final_notice_consequence
            message = final_notice_message(ctx, due.pending, consequence, waiting=due.waiting)
        else:
            message = reminder_message(ctx, due.pending, moment=due.moment, waiting=due.waiting)
        if due.about is None:
            entry = digest_entry(ctx, due.pending, final=final, waiting=due.waiting)
        reason = (
            "" if user_id else (resolution.reason if resolution else "no email address in Okta")
        )
        sendable = bool(user_id) and not skip
        return PlannedMessage(
            campaign_id=campaign.id,
            recipient=due.person.key,
            kind=due.kind,
            milestone=due.milestone,
            email=due.person.email,
            slack_user_id=user_id,
            text=message.text,
            blocks=message.blocks,
            unmapped_reason=reason,
            skip_reason=skip,
            not_before=when if sendable else None,
            group_key=group if sendable else "",
            digest=entry if sendable else None,
        )

    def supersede(self) -> int:
        """An earlier reminder of the same campaign still waiting for its slot gives way
        to the one planned now (a campaign is never listed twice in one digest)."""
        count = 0
        for due in self.due:
            if due.kind == "reminder" and not due.skip_reason:
                count += self.store.messages.supersede(
                    due.campaign.id, due.person.key, due.kind, due.milestone
                )
        return count
