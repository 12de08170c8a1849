"""The daily schedule: in the worker only, once, with catch-up after downtime."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from app.config import ReminderSettings
from app.pipeline.schedule import JOB_ID, ReminderSchedule, latest_fire_time
from app.pipeline.worker import AnotherWorkerRunning, Worker
from tests.helpers import FakeClock, web_app


@pytest.mark.parametrize(
    ("now", "run_at", "zone", "expected"),
    [
        (datetime(2026, 9, 8, 10, 0, tzinfo=UTC), "09:00", "UTC", datetime(2026, 9, 8, 9, 0, tzinfo=UTC)),
        (datetime(2026, 9, 8, 8, 59, tzinfo=UTC), "09:00", "UTC", datetime(2026, 9, 7, 9, 0, tzinfo=UTC)),
        # 09:00 in Los Angeles is 16:00 UTC in September.
        (datetime(2026, 9, 8, 15, 0, tzinfo=UTC), "09:00", "America/Los_Angeles", datetime(2026, 9, 7, 16, 0, tzinfo=UTC)),
        (datetime(2026, 9, 8, 16, 0, tzinfo=UTC), "09:00", "America/Los_Angeles", datetime(2026, 9, 8, 16, 0, tzinfo=UTC)),
    ],
)  # fmt: skip
def test_latest_fire_time(now, run_at, zone, expected):
    settings = ReminderSettings(run_at=run_at, time_zone=zone)
    assert latest_fire_time(settings, now) == expected


def schedule_at(now: datetime, last_started: str | None, grace_hours: float = 12):
    calls: list[str] = []
    ran = threading.Event()

    def run_pass(trigger: str) -> None:
        calls.append(trigger)
        ran.set()

    settings = ReminderSettings(run_at="09:00", time_zone="UTC", misfire_grace_hours=grace_hours)
    schedule = ReminderSchedule(settings, run_pass, lambda: last_started, FakeClock(now))
    return schedule, calls, ran


@pytest.mark.parametrize(
    ("now", "last", "missed"),
    [
        (datetime(2026, 9, 8, 10, 0, tzinfo=UTC), None, True),  # never ran; due at 09:00
        (datetime(2026, 9, 8, 10, 0, tzinfo=UTC), "2026-09-07T09:00:02+00:00", True),
        (datetime(2026, 9, 8, 10, 0, tzinfo=UTC), "2026-09-08T09:00:01+00:00", False),
        (
            datetime(2026, 9, 8, 21, 30, tzinfo=UTC),
            "2026-09-07T09:00:02+00:00",
            False,
        ),  # past grace
    ],
)
def test_a_pass_missed_while_down_is_run_at_start_within_the_grace(now, last, missed):
    schedule, _, _ = schedule_at(now, last)
    assert schedule.missed() is missed


def test_start_schedules_one_coalescing_daily_job_and_catches_up():
    # The real scheduler runs on the real clock: today's pass was due 5 minutes ago.
    calls: list[str] = []
    ran = threading.Event()
    settings = ReminderSettings(
        run_at=(datetime.now(UTC) - timedelta(minutes=5)).strftime("%H:%M"), time_zone="UTC"
    )
    schedule = ReminderSchedule(
        settings,
        lambda trigger: (calls.append(trigger), ran.set()),
        lambda: None,
        lambda: datetime.now(UTC),
    )
    schedule.start()
    try:
        assert ran.wait(5), "the start-up catch-up pass did not run"
        job = schedule.scheduler.get_job(JOB_ID)
        assert job.coalesce is True
        assert job.misfire_grace_time == 12 * 3600
        assert job.max_instances == 1
        assert str(job.trigger).startswith("cron[")
    finally:
        schedule.shutdown()
    assert calls == ["startup"]


def test_the_web_app_never_starts_a_scheduler(settings, clock):
    before = {t.name for t in threading.enumerate()}
    for _ in range(4):  # like four gunicorn workers importing the app
        web_app(settings, clock)
    started = {t.name for t in threading.enumerate()} - before
    assert not any("APScheduler" in name for name in started)


def test_a_second_worker_on_the_same_database_refuses_to_start(services, settings, clock):
    from app.services import Services

    first = Worker(services)
    first.start()
    other = Services.build(settings, clock=clock, sleep=clock.sleep)
    second = Worker(other)
    with pytest.raises(AnotherWorkerRunning, match=r"worker pid \d+ on .*run one worker per"):
        second.start()
    # The lock is the kernel's: once the holder is gone (closed, crashed, killed), the
    # next worker starts at once. No heartbeat window, whatever the clock or host says.
    other.store.state.set(
        "worker_heartbeat", {"ts": clock.epoch() + 3600, "pid": 1, "host": "elsewhere"}, clock()
    )
    first.lock.release()
    second.start()
    second.lock.release()
    other.close()


def test_a_brand_new_database_has_no_missed_pass_to_catch_up(settings, clock, fake_okta):
    from app.services import Services

    clock.now = datetime(2026, 9, 8, 10, 0, tzinfo=UTC)  # the 09:00 pass was due an hour ago
    fresh = Services.build(settings, clock=clock, sleep=clock.sleep)  # created now
    worker = Worker(fresh, services_factory=lambda: fresh)
    assert worker.schedule().missed() is False
    fresh.close()


def test_a_database_in_use_before_the_pass_was_due_catches_up(settings, clock):
    from app.db import Store
    from app.services import Services

    store = Store.open(settings.database.path)
    store.migrate(datetime(2026, 9, 1, tzinfo=UTC))  # in use for a week
    store.close()
    clock.now = datetime(2026, 9, 8, 10, 0, tzinfo=UTC)
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    worker = Worker(services, services_factory=lambda: services)
    assert worker.schedule().missed() is True
    services.close()


def test_a_pass_okta_cut_short_runs_again_when_okta_may_answer():
    now = datetime.now(UTC)
    retry_at = (now + timedelta(minutes=15)).timestamp()
    settings = ReminderSettings(run_at="03:00", time_zone="UTC", misfire_grace_hours=0)
    schedule = ReminderSchedule(settings, lambda trigger: retry_at, lambda: None, lambda: now)
    schedule.start()
    try:
        schedule._job("schedule")
        [retry] = [job for job in schedule.scheduler.get_jobs() if job.id != JOB_ID]
        assert retry.args == ("retry",)
        assert abs(retry.next_run_time.timestamp() - retry_at) < 1
    finally:
        schedule.shutdown()
