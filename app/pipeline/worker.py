"""The worker: drains the inbox, sends the outbox, keeps a heartbeat, runs the schedule.

One worker per deployment (``certnotify worker``, or the one ``certnotify serve``
starts), enforced by an OS lock (app.pipeline.lock) held for the worker's life. Each
loop ("tick") handles a batch of inbox events, announces reassignments whose quiet
window closed, edits launch DMs whose reviewer's decisions went quiet, starts a queued
command job, then sends a batch of due messages, so a 5,000-message launch never
starves new events or the heartbeat.

Nothing an upstream does uses up an item's tries: Okta or Slack unreachable, failing
or rate limiting, or refusing our credentials, puts the work back untouched behind a
growing backoff, and ``/healthz`` says why. A credential check at start-up and every
few minutes finds a refused token before any event needs it.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from app.db import Store
from app.integrations.okta import OktaAuthError, OktaError, OktaUnavailable
from app.pipeline.backfill import automatic_since, backfill
from app.pipeline.commands import CommandRunner
from app.pipeline.credentials import (
    OKTA_AUTH,
    OKTA_DOWN,
    SLACK_AUTH,
    SLACK_DOWN,
    CredentialCheck,
)
from app.pipeline.event_runner import EventRunner
from app.pipeline.lock import AnotherWorkerRunning, WorkerLock
from app.pipeline.registry import Handler, RoundJob, event_handlers, round_jobs
from app.pipeline.schedule import ReminderSchedule
from app.services import Services
from app.timeutil import iso

__all__ = ["AnotherWorkerRunning", "DatabaseReplaced", "Worker"]

log = logging.getLogger(__name__)

HEARTBEAT_KEY = "worker_heartbeat"
HEARTBEAT_SECONDS = 5.0
BACKFILL_EVERY = timedelta(hours=24)
# Consecutive unexpected loop failures before the worker gives up and lets its
# supervisor start a fresh process.
MAX_LOOP_FAILURES = 10


class DatabaseReplaced(RuntimeError):
    """The database file was deleted or replaced under us: stop writing into it."""


class Worker:
    def __init__(
        self,
        services: Services,
        *,
        handlers: dict[str, Handler] | None = None,
        jobs: list[RoundJob] | None = None,
        services_factory: Callable[[], Services] | None = None,
        lock: WorkerLock | None = None,
        backfill_enabled: bool = True,
    ) -> None:
        self.services = services
        self.handlers = event_handlers(services) if handlers is None else handlers
        self.round_jobs = round_jobs(services) if jobs is None else jobs
        # The reminder job and command jobs run in their own threads and need their
        # own services (a SQLite connection belongs to one thread). None: no schedule
        # and no jobs (tests that drive tick() by hand).
        self.services_factory = services_factory
        self.settings = services.settings.worker
        self.lock = lock or WorkerLock(services.settings.database.path)
        self.credentials = CredentialCheck(
            services.settings,
            services.store,
            services.okta,
            services.slack,
            services.clock,
            outbox=services.outbox,
            admin=services.admin,
        )
        self.events = EventRunner(
            self.handlers,
            services.store,
            self.credentials,
            services.settings,
            services.clock,
        )
        self.stop_event = threading.Event()
        self.commands = (
            CommandRunner(services.store, self.thread_services, services.clock, self.stop_event)
            if services_factory is not None
            else None
        )
        self.backfill_enabled = backfill_enabled
        self._next_backfill = 0.0  # at start-up
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self._last_beat: datetime | None = None
        self._noted_down = {OKTA_DOWN: "", SLACK_DOWN: ""}

    def thread_services(self) -> Services:
        assert self.services_factory is not None
        return self.services_factory()

    # -- heartbeat ------------------------------------------------------------
    def _beat(self, store: Store) -> datetime:
        now = self.services.clock()
        store.state.set(
            HEARTBEAT_KEY, {"ts": now.timestamp(), "pid": self.pid, "host": self.host}, now
        )
        return now

    def heartbeat(self) -> None:
        now = self.services.clock()
        if self._last_beat is not None and now - self._last_beat < timedelta(seconds=1):
            return  # at most once a second from the loop; the heartbeat thread does the rest
        self._last_beat = self._beat(self.services.store)

    # -- housekeeping -------------------------------------------------------------------
    def _check_database_file(self) -> None:
        if not self.services.store.same_file():
            raise DatabaseReplaced(
                f"the database file {self.services.settings.database.path} was deleted or "
                "replaced while the worker ran; stopping so a fresh start opens the right file"
            )

    def _note_outages(self) -> None:
        """Say on /healthz while Okta or Slack is unreachable (and when it is over)."""
        now = self.services.clock()
        for key, outage, what in (
            (OKTA_DOWN, self.services.okta.outage, "OKTA_ORG_URL unreachable"),
            (SLACK_DOWN, self.services.outbox.outage, "slack unavailable"),
        ):
            if outage == self._noted_down[key]:
                continue
            self._noted_down[key] = outage
            value = {"message": f"{what}: {outage}"[:300], "since": iso(now)} if outage else None
            self.services.store.state.set(key, value, now)

    def _maybe_backfill(self) -> None:
        if not self.backfill_enabled or self.services.clock().timestamp() < self._next_backfill:
            return
        store, clock = self.services.store, self.services.clock
        since = automatic_since(store)
        if since is None:  # a new database has missed nothing
            self._next_backfill = (clock() + BACKFILL_EVERY).timestamp()
            return
        try:
            backfill(self.services.okta, store, since, clock())
        except OktaUnavailable as exc:
            self._next_backfill = max(exc.retry_at, clock().timestamp() + 60)
            return
        except OktaAuthError as exc:
            self._okta_refused_backfill(str(exc))
            return
        except OktaError as exc:
            log.error("backfill from the system log failed: %s", exc)
            self._next_backfill = (clock() + timedelta(hours=1)).timestamp()
            return
        self._next_backfill = (clock() + BACKFILL_EVERY).timestamp()

    def _okta_refused_backfill(self, error: str) -> None:
        log.error("backfill: okta refused our credentials: %s", error)
        self.credentials.problem_reported()
        self._next_backfill = self.services.clock().timestamp() + 300

    # -- loop ------------------------------------------------------------------------
    def tick(self) -> bool:
        """One round of work. True when something was done (so loop again at once)."""
        services = self.services
        store = services.store
        self.heartbeat()
        self._check_database_file()
        if self.credentials.due():
            self.credentials.run()
        busy = False
        if not self.events.credentials_refused():
            busy = self.events.run_batch(self.settings.batch_size)
            self._maybe_backfill()
        slack_ok = not store.state.get(SLACK_AUTH)
        if slack_ok:
            for job in self.round_jobs:
                job()
            if store.state.get(SLACK_AUTH):  # a job's Slack call was refused (live edits)
                self.credentials.problem_reported()
                slack_ok = False
        if self.commands is not None:
            self.commands.poll()
        if slack_ok:
            sent = services.outbox.drain(limit=self.settings.batch_size)
            if sent.auth_error:
                self.credentials.problem_reported()
            busy = busy or bool(sent.sent or sent.failed)
        self._note_outages()
        return busy

    def _reminder_job(self, trigger: str) -> float | None:
        from app.pipeline.reminder_pass import run_reminder_pass

        services = self.thread_services()
        try:
            if self.backfill_enabled:
                self._next_backfill = 0.0  # the main loop reads the system log first
            # The main loop sends; the pass plans and waits (one sender per process).
            result = run_reminder_pass(
                services, trigger=trigger, stop=self.stop_event, send=False, timed=True
            )
            return result.retry_at or None
        finally:
            self._purge(services)
            services.close()

    def _purge(self, services: Services) -> None:
        """Retention, once a day with the pass (app.db.retention)."""
        keep = services.settings.retention
        try:
            purged = services.store.retention.purge(
                services.clock(), keep.events_days, keep.messages_days
            )
        except sqlite3.Error as exc:  # tried again tomorrow; nothing is lost by waiting
            log.error("retention purge failed: %s", exc)
            return
        log.info("retention: %s", purged.line())

    def schedule(self) -> ReminderSchedule | None:
        if self.services_factory is None:
            return None
        store = self.services.store

        def last_started() -> str | None:
            run = store.runs.last(for_today_only=True)
            marks = [run["started_at"] if run else None, store.state.get("database_created_at")]
            known = [m for m in marks if isinstance(m, str)]
            return max(known) if known else None

        return ReminderSchedule(
            self.services.settings.reminders, self._reminder_job, last_started, self.services.clock
        )

    def _beat_until(self, stop: threading.Event) -> None:
        """Heartbeat from its own thread (and connection): a long launch or an Okta
        rate-limit wait inside a tick must not make the worker look dead."""
        db = self.services.settings.database
        store: Store | None = None
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                if store is None or not store.same_file():
                    if store is not None:
                        store.close()
                    store = Store.open(db.path, db.busy_timeout_seconds, create=False)
                self._beat(store)
            except Exception as exc:  # keep beating: a silent heartbeat reads as a dead worker
                log.warning("heartbeat not recorded: %s", exc)
                if store is not None:
                    store.close()
                store = None
        if store is not None:
            store.close()

    def _nap(self, stop: threading.Event, stop_requested: Callable[[], bool]) -> None:
        """Idle for poll_seconds, in short naps so a signal is noticed within 0.25 s."""
        deadline = time.monotonic() + self.settings.poll_seconds
        while not stop_requested() and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.25))

    def start(self) -> None:
        """Take the worker lock and put back what a dead worker left in flight."""
        self.lock.acquire(self.services.clock())
        orphans = self.services.store.reclaim_orphans()
        if any(orphans.values()):
            log.warning(
                "put back what the previous worker left in flight: %d events, %d messages, %d jobs",
                orphans["events"],
                orphans["messages"],
                orphans["jobs"],
            )

    def run(
        self, stop: threading.Event, stop_requested: Callable[[], bool] = lambda: False
    ) -> None:
        """Loop until ``stop`` is set, or ``stop_requested()`` (a signal) says so."""
        self.stop_event = stop
        if self.commands is not None:
            self.commands.stop = stop
        self.start()
        try:
            self._loop(stop, stop_requested)
        finally:
            self.lock.release()

    def startup_checks(self) -> None:
        """Before any event: wrong credentials show at once, and events sent while we
        were down are read back from the System Log."""
        self.heartbeat()
        self.credentials.run()
        if not self.services.store.state.get(OKTA_AUTH):
            self._maybe_backfill()

    def _loop(self, stop: threading.Event, stop_requested: Callable[[], bool]) -> None:
        log.info("worker started (pid %d)", self.pid)
        self.startup_checks()
        beat = threading.Thread(
            target=self._beat_until, args=(stop,), name="heartbeat", daemon=True
        )
        beat.start()
        schedule = self.schedule()
        if schedule is not None:
            schedule.start()
        failures = 0
        try:
            while not stop.is_set():
                if stop_requested():
                    stop.set()  # wakes the heartbeat thread and a running reminder pass
                    break
                try:
                    busy = self.tick()
                    failures = 0
                except DatabaseReplaced:
                    raise
                except Exception as exc:
                    failures += 1
                    if isinstance(exc, sqlite3.OperationalError):
                        log.error("worker: database error: %s", exc)
                    else:
                        log.exception("worker: unexpected error in the loop")
                    if failures >= MAX_LOOP_FAILURES:
                        raise
                    busy = False
                    stop.wait(min(30.0, 0.5 * 2**failures))
                if not busy:
                    self._nap(stop, stop_requested)
        finally:
            stop.set()
            if schedule is not None:
                schedule.shutdown()
        log.info("worker stopped")
