"""Which reminder is due when (pure day arithmetic, in the campaign's time zone).

Day N of a campaign is its start date + N calendar days in the campaign's zone.

The rhythm: a reminder every ``every_days`` after the start (or the explicit
``days_after_start``), plus ``days_before_end`` counted back from the end, plus, when
``follow_okta_settings``, the campaign's own Okta reminder days (its
``notificationSettings``: days before close, and the midpoint when Okta would remind
then). The final notice, ``final_notice_days_before_end`` before the end, is the last
reminder: nothing is planned after it, and earlier days closer than ``MIN_GAP_DAYS``
to the next one kept give way (walking back from the final notice), so nobody is
reminded twice within 3 days. A 28-day campaign gets days 7, 14, 21 and 25, with or
without Okta's usual "7 days and 1 day before close".

Catch-up: the milestone due is the latest one on or before today, so a pass missed on
day 21 and run on day 22 sends day 21's reminder; once day 25 arrives, 21 is skipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.config import ReminderSettings, Rhythm
from app.models import Campaign

__all__ = [
    "MIN_GAP_DAYS",
    "CampaignPlan",
    "campaign_day",
    "campaign_plan",
    "due_milestone",
    "local_date",
    "milestone_days",
    "reminder_days",
]

MIN_GAP_DAYS = 3
# A campaign without an end date is reminded for at most this long.
OPEN_ENDED_DAYS = 366


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def campaign_day(campaign: Campaign, today: date, tz: ZoneInfo) -> int | None:
    """Days since the start date, counted in the campaign's zone (None without a start)."""
    if campaign.start is None:
        return None
    return (today - local_date(campaign.start, tz)).days


def campaign_length(campaign: Campaign, tz: ZoneInfo) -> int | None:
    if campaign.start is None or campaign.end is None:
        return None
    return (local_date(campaign.end, tz) - local_date(campaign.start, tz)).days


def reminder_days(
    length: int | None,
    rhythm: Rhythm,
    okta_before_end: tuple[int, ...] = (),
    midpoint: bool = False,
) -> list[int]:
    """Reminder days (after the start) for a campaign of ``length`` days (None: no end).

    ``okta_before_end``: the campaign's own Okta reminder days before close, in days.
    """
    horizon = length if length is not None else OPEN_ENDED_DAYS
    if rhythm.days_after_start:
        days = set(rhythm.days_after_start)
    else:
        days = set(range(rhythm.every_days, horizon, rhythm.every_days))
    final = None
    if length is not None:
        days |= {length - before for before in rhythm.days_before_end}
        if rhythm.follow_okta_settings:
            days |= {length - before for before in okta_before_end}
            if midpoint:
                days.add(length // 2)
        if rhythm.final_notice_days_before_end:
            final = length - rhythm.final_notice_days_before_end
            days.add(final)
    inside = sorted(d for d in days if 1 <= d < horizon)
    if final is not None and 1 <= final < horizon:
        inside = [d for d in inside if d <= final]  # the final notice is the last one
    kept: list[int] = []
    for day in reversed(inside):  # later reminders (closer to the deadline) win
        if not kept or kept[-1] - day >= MIN_GAP_DAYS:
            kept.append(day)
    return sorted(kept)


@dataclass(frozen=True)
class CampaignPlan:
    """What a campaign's reviewers get: its reminder days, or why they get nothing."""

    days: tuple[int, ...]
    notify: bool = True  # false: excluded by a rule (no message at all)
    launch_message: bool = True  # false: Okta's settings say not to notify on assignment
    why: str = ""  # which rule applied, for logs and status ("" = the defaults)


def campaign_plan(campaign: Campaign, settings: ReminderSettings, tz: ZoneInfo) -> CampaignPlan:
    """Rules first (the first match applies), then the campaign's own Okta settings."""
    rhythm: Rhythm = settings
    why = ""
    match = settings.rule_for(campaign.name, campaign.template_id)
    if match is not None:
        number, rule = match
        why = f"reminders.campaigns[{number}]"
        if not rule.notify:
            return CampaignPlan((), notify=False, launch_message=False, why=why)
        rhythm = rule.applied_to(Rhythm(**settings.model_dump(include=set(Rhythm.model_fields))))
    elif settings.only_listed_campaigns:
        return CampaignPlan(
            (), notify=False, launch_message=False, why="no rule in reminders.campaigns"
        )
    if campaign.start is None:
        return CampaignPlan((), why=why)
    okta = campaign.okta
    before = tuple(math.ceil(gap.total_seconds() / 86400) for gap in okta.reminders_before_end)
    days = reminder_days(campaign_length(campaign, tz), rhythm, before, okta.midpoint)
    follow = rhythm.follow_okta_settings
    return CampaignPlan(
        tuple(days), launch_message=okta.notify_on_assignment or not follow, why=why
    )


def milestone_days(campaign: Campaign, settings: ReminderSettings, tz: ZoneInfo) -> list[int]:
    """Reminder days for this campaign under ``settings`` (no days when excluded)."""
    return list(campaign_plan(campaign, settings, tz).days)


def due_milestone(milestones: list[int] | tuple[int, ...], day: int) -> int | None:
    """The latest milestone on or before ``day``: today's, or the one a missed pass owes."""
    due = [m for m in milestones if m <= day]
    return due[-1] if due else None
