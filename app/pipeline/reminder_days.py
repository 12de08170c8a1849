"""Which reminder is due when (pure day arithmetic, in the campaign's time zone).

Day N of a campaign is its start date + N calendar days in the campaign's zone.
Catch-up: the milestone due is the latest one on or before today, so a pass missed on
day 21 and run on day 22 sends day 21's reminder; once day 25 arrives, 21 is skipped.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from app.config import ReminderSettings
from app.models import Campaign

__all__ = ["campaign_day", "due_milestone", "local_date", "milestone_days"]


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def campaign_day(campaign: Campaign, today: date, tz: ZoneInfo) -> int | None:
    """Days since the start date, counted in the campaign's zone (None without a start)."""
    if campaign.start is None:
        return None
    return (today - local_date(campaign.start, tz)).days


def milestone_days(campaign: Campaign, settings: ReminderSettings, tz: ZoneInfo) -> list[int]:
    """Reminder days for this campaign: ``days_after_start`` plus ``days_before_end``
    mapped onto days after start, keeping only days strictly inside the campaign."""
    if campaign.start is None:
        return []
    length = None
    if campaign.end is not None:
        length = (local_date(campaign.end, tz) - local_date(campaign.start, tz)).days
    days = set(settings.days_after_start)
    if length is not None:
        days |= {length - before for before in settings.days_before_end}
    return sorted(d for d in days if d >= 1 and (length is None or d < length))


def due_milestone(milestones: list[int], day: int) -> int | None:
    """The latest milestone on or before ``day``: today's, or the one a missed pass owes."""
    due = [m for m in milestones if m <= day]
    return due[-1] if due else None
