"""The daily reminder schedule: APScheduler, in the worker process only.

gunicorn's web processes never import this module, so four web workers still
mean one scheduler (and ``certnotify worker`` refuses to run twice on one
database). APScheduler's job store lives in memory: a pass that was due while
the worker was down is caught up at start-up, within ``misfire_grace_hours``,
from the ``reminder_runs`` table; ``coalesce`` folds several missed runs into one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from app.config import ReminderSettings
from app.timeutil import parse_okta_time

__all__ = ["ReminderSchedule", "latest_fire_time"]

log = logging.getLogger(__name__)

JOB_ID = "reminder-pass"


def latest_fire_time(settings: ReminderSettings, now: datetime) -> datetime:
    """The most recent moment (≤ now) the daily pass was due."""
    tz = ZoneInfo(settings.time_zone)
    hour, minute = (int(part) for part in settings.run_at.split(":"))
    local = now.astimezone(tz)
    fire = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if fire > local:
        fire -= timedelta(days=1)
    return fire


class ReminderSchedule:
    def __init__(
        self,
        settings: ReminderSettings,
        run_pass: Callable[[str], float | None],
        last_started: Callable[[], str | None],
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        # Called with the trigger name, in a scheduler thread; returns when to run the
        # pass again (epoch seconds) if Okta was unavailable for part of it, else None.
        self.run_pass = run_pass
        # The latest pass started for today's date, or the database's creation (a new
        # database has no missed pass to catch up).
        self.last_started = last_started
        self.clock = clock
        self.scheduler: BackgroundScheduler | None = None

    @property
    def grace_seconds(self) -> int:
        return max(1, int(self.settings.misfire_grace_hours * 3600))

    def missed(self) -> bool:
        """Was today's pass due while we were down, and is it still worth running?"""
        now = self.clock()
        fire = latest_fire_time(self.settings, now)
        last = parse_okta_time(self.last_started())
        if last is not None and last >= fire:
            return False
        return (now - fire).total_seconds() <= self.grace_seconds

    def _job(self, trigger: str) -> None:
        try:
            retry_at = self.run_pass(trigger)
        except Exception:  # a failed pass must not kill the scheduler thread
            log.exception("reminder pass (%s) failed", trigger)
            return
        if retry_at and self.scheduler is not None and self.scheduler.running:
            # Okta was down for part of the pass: run it again once Okta may answer,
            # the same day (the ledger keeps anyone from being reminded twice).
            when = datetime.fromtimestamp(retry_at, tz=ZoneInfo(self.settings.time_zone))
            log.info("reminder pass will run again at %s (okta was unavailable)", when)
            self.scheduler.add_job(self._job, "date", run_date=when, args=["retry"])

    def start(self) -> None:
        tz = ZoneInfo(self.settings.time_zone)
        hour, minute = (int(part) for part in self.settings.run_at.split(":"))
        self.scheduler = BackgroundScheduler(timezone=tz)
        self.scheduler.add_job(
            self._job,
            CronTrigger(hour=hour, minute=minute, timezone=tz),
            args=["schedule"],
            id=JOB_ID,
            coalesce=True,
            misfire_grace_time=self.grace_seconds,
            max_instances=1,
        )
        if self.missed():
            log.info("today's reminder pass was missed while the worker was down; running it now")
            self.scheduler.add_job(self._job, "date", run_date=self.clock(), args=["startup"])
        self.scheduler.start()
        job = self.scheduler.get_job(JOB_ID)
        log.info(
            "reminder pass scheduled daily at %s %s (next: %s)",
            self.settings.run_at,
            self.settings.time_zone,
            job.next_run_time if job else "?",
        )

    def shutdown(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
