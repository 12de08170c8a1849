"""When a scheduled reminder may reach a person: inside their working hours, in their
own time zone (Slack's ``tz``), and not within ``MIN_GAP`` of their last reminder.

Pure time arithmetic on aware datetimes; the reminder pass supplies "now", the zone and
the last reminder from the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from app.config import ReminderSettings

__all__ = ["MIN_GAP", "WorkingHours"]

# Never two reminders to one person within this (launch and reassignment DMs aside).
MIN_GAP = timedelta(days=3)

SATURDAY = 5


def _clock(value: str) -> time:
    hour, minute = (int(part) for part in value.split(":"))
    return time(hour, minute)


@dataclass(frozen=True)
class WorkingHours:
    """From ``start`` to ``end`` local time, Monday to Friday when ``weekdays_only``."""

    start: time = time(9, 30)
    end: time = time(17, 0)
    weekdays_only: bool = True

    @classmethod
    def of(cls, settings: ReminderSettings) -> WorkingHours:
        return cls(_clock(settings.local_time), _clock(settings.send_until), settings.weekdays_only)

    def working_day(self, moment: datetime) -> bool:
        return not self.weekdays_only or moment.weekday() < SATURDAY

    def first_moment(self, base: datetime, tz: ZoneInfo) -> datetime:
        """The earliest moment at or after ``base`` inside working hours in ``tz``:
        ``base`` itself when it already is, else the next opening (09:30 local)."""
        local = base.astimezone(tz)
        day = local.date()
        for _ in range(8):  # a working day comes within a week
            opens = datetime.combine(day, self.start, tz)
            closes = datetime.combine(day, self.end, tz)
            if self.working_day(opens):
                if local < opens:
                    return opens
                if local < closes:
                    return base
            day += timedelta(days=1)
        raise AssertionError("no working day within a week")  # weekdays always exist

    def send_time(
        self, now: datetime, tz: ZoneInfo, last_reminder: datetime | None = None
    ) -> datetime:
        """When a reminder planned ``now`` goes out: not before ``MIN_GAP`` after the
        person's last reminder, and then at the first working moment."""
        base = now
        if last_reminder is not None and last_reminder + MIN_GAP > base:
            base = last_reminder + MIN_GAP
        return self.first_moment(base, tz)
