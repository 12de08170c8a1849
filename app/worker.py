"""The worker: drains the inbox, sends the outbox, keeps a heartbeat, runs the schedule.

One worker per deployment (``certnotify worker``, or the one ``certnotify serve``
starts). Each loop ("tick") claims a batch of inbox events with a lease,
dispatches them by event type, then sends one batch of due messages, so a
5,000-message launch never starves new events or the heartbeat.
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

from app.events import CLOSE, DECIDE, LAUNCH
from app.launch import RetryLater, launch_campaign
from app.okta import OktaAuthError, OktaError, OktaUnavailable
from app.outbox import DrainResult
from app.schedule import ReminderSchedule
from app.services import Services
from app.slack import SlackAuthError, SlackTransientError
from app.store import ClaimedEvent, EventOutcome, Store
from app.timeutil import iso

__all__ = ["AnotherWorkerRunning", "Worker"]

log = logging.getLogger(__name__)

Handler = Callable[[Services, ClaimedEvent], str]
HEARTBEAT_KEY = "worker_heartbeat"
HEARTBEAT_SECONDS = 5.0
SINGLETON_WINDOW_SECONDS = 30.0


class AnotherWorkerRunning(RuntimeError):
    pass


def handle_launch(services: Services, event: ClaimedEvent) -> str:
    launch_campaign(services, event.campaign_id)
    return "done"


def handle_close(services: Services, event: ClaimedEvent) -> str:
    if services.store.campaign_row(event.campaign_id) is None:
        return "ignored"  # never followed: nothing to retire
    services.store.retire_campaign(
        event.campaign_id, "closed (campaign close event)", services.clock()
    )
    log.info("campaign %s closed: retired", event.campaign_id)
    return "done"


def default_handlers() -> dict[str, Handler]:
    from app.reassignment import DecideHandler

    return {LAUNCH: handle_launch, CLOSE: handle_close, DECIDE: DecideHandler()}


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Worker:
    def __init__(
        self,
        services: Services,
        *,
        handlers: dict[str, Handler] | None = None,
        after_tick: Callable[[Services], object] | None = None,
        services_factory: Callable[[], Services] | None = None,
    ) -> None:
        self.services = services
        self.handlers = default_handlers() if handlers is None else handlers
        # Runs every tick: by default, announce reassignments whose quiet window closed.
        if after_tick is None:
            from app.reassignment import flush_reassignments

            after_tick = flush_reassignments
        self.after_tick = after_tick
        # The reminder job runs in a scheduler thread and needs its own services
        # (a SQLite connection belongs to one thread). None: no schedule.
        self.services_factory = services_factory
        self.settings = services.settings.worker
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._last_beat: datetime | None = None

    # -- singleton -------------------------------------------------------------
    def claim_singleton(self) -> None:
        """Refuse to run beside a live worker on this database (one scheduler only)."""
        now = self.services.clock()
        beat = self.services.store.state(HEARTBEAT_KEY)
        if isinstance(beat, dict) and beat.get("pid") != self.pid:
            age = now.timestamp() - float(beat.get("ts") or 0)
            same_host = beat.get("host") == self.host
            if age < SINGLETON_WINDOW_SECONDS and (not same_host or _pid_alive(beat.get("pid"))):
                raise AnotherWorkerRunning(
                    f"another worker (pid {beat.get('pid')} on {beat.get('host')}) checked in "
                    f"{age:.0f} s ago; run one worker per deployment"
                )
        self.heartbeat()

    def _beat(self, store: Store) -> datetime:
        now = self.services.clock()
        store.set_state(
            HEARTBEAT_KEY, {"ts": now.timestamp(), "pid": self.pid, "host": self.host}, now
        )
        return now

    def heartbeat(self) -> None:
        now = self.services.clock()
        if self._last_beat is not None and now - self._last_beat < timedelta(seconds=1):
            return  # at most once a second from the loop; the heartbeat thread does the rest
        self._last_beat = self._beat(self.services.store)

    # -- events ------------------------------------------------------------------
    def _retry(self, event: ClaimedEvent, delay: float, error: str) -> EventOutcome:
        now = self.services.clock()
        if event.attempts >= self.settings.max_attempts:
            log.error("event %s (%s) failed for good: %s", event.uuid, event.event_type, error)
            return EventOutcome(
                event.uuid, "failed", f"gave up after {event.attempts} tries: {error}"
            )
        log.warning(
            "event %s (%s) will be retried in %.0f s: %s",
            event.uuid,
            event.event_type,
            delay,
            error,
        )
        return EventOutcome(event.uuid, "pending", error, now + timedelta(seconds=delay))

    def _credentials_rejected(self, event: ClaimedEvent, key: str, error: str) -> EventOutcome:
        """Our Okta or Slack credentials, not this event: keep it, say so (``/healthz``,
        ``status``), and try again in five minutes."""
        now = self.services.clock()
        self.services.store.set_state(key, {"error": error, "at": iso(now)}, now)
        log.error("%s: %s; event %s kept for later", key.replace("_", " "), error, event.uuid)
        return EventOutcome(event.uuid, "pending", error, now + timedelta(minutes=5))

    def process(self, event: ClaimedEvent) -> EventOutcome:
        """Run the event's handler; say what became of it (the caller records it)."""
        store = self.services.store
        handler = self.handlers.get(event.event_type)
        if handler is None:
            return EventOutcome(event.uuid, "ignored")
        backoff = min(30.0 * 2 ** (event.attempts - 1), 3600.0)
        try:
            status = handler(self.services, event)
        except RetryLater as exc:
            return self._retry(event, exc.delay, str(exc))
        except OktaAuthError as exc:
            return self._credentials_rejected(event, "okta_auth_error", str(exc)[:300])
        except SlackAuthError as exc:
            return self._credentials_rejected(event, "slack_auth_error", exc.code)
        except (OktaUnavailable, SlackTransientError, sqlite3.OperationalError) as exc:
            return self._retry(event, backoff, f"{type(exc).__name__}: {exc}")
        except (OktaError, ValueError) as exc:
            log.error("event %s (%s) failed: %s", event.uuid, event.event_type, exc)
            return EventOutcome(event.uuid, "failed", str(exc))
        except Exception as exc:
            log.exception("event %s (%s): unexpected error", event.uuid, event.event_type)
            return self._retry(event, backoff, f"{type(exc).__name__}: {exc}")
        if status == "done" and store.state("okta_auth_error"):
            store.set_state("okta_auth_error", None, self.services.clock())
        return EventOutcome(event.uuid, status)

    # -- loop ------------------------------------------------------------------------
    def tick(self) -> bool:
        """One round of work. True when something was done (so loop again at once)."""
        store = self.services.store
        self.heartbeat()
        events = store.claim_events(
            self.services.clock(), self.settings.lease_seconds, self.settings.batch_size
        )
        # Outcomes are recorded together: one write per batch, not per event, keeps the
        # write lock free for the hook endpoint during an event storm. A crash before
        # this just means the batch is handled again (handlers are idempotent).
        outcomes = [self.process(event) for event in events]
        if outcomes:
            store.record_outcomes(outcomes, self.services.clock())
        self.after_tick(self.services)
        sent: DrainResult = self.services.outbox.drain(max_batches=1)
        if sent.sent and self.services.store.state("slack_auth_error"):
            self.services.store.set_state("slack_auth_error", None, self.services.clock())
        return bool(events) or bool(sent.sent or sent.failed or sent.retrying)

    def _reminder_job(self, trigger: str) -> None:
        from app.reminders import run_reminder_pass

        assert self.services_factory is not None
        services = self.services_factory()
        try:
            # The main loop sends; the pass plans and waits (one sender per process).
            run_reminder_pass(services, trigger=trigger, stop=self._stop, send=False)
        finally:
            services.close()

    def schedule(self) -> ReminderSchedule | None:
        if self.services_factory is None:
            return None
        store = self.services.store

        def last_started() -> str | None:
            run = store.last_reminder_run(for_today_only=True)
            return run["started_at"] if run else None

        return ReminderSchedule(
            self.services.settings.reminders, self._reminder_job, last_started, self.services.clock
        )

    def _beat_until(self, stop: threading.Event) -> None:
        """Heartbeat from its own thread (and connection): a long launch or an Okta
        rate-limit wait inside a tick must not make the worker look dead."""
        db = self.services.settings.database
        store = Store.open(db.path, db.busy_timeout_seconds)
        try:
            while not stop.wait(HEARTBEAT_SECONDS):
                try:
                    self._beat(store)
                except sqlite3.OperationalError as exc:
                    log.warning("heartbeat not recorded: %s", exc)
        finally:
            store.close()

    def _nap(self, stop: threading.Event, stop_requested: Callable[[], bool]) -> None:
        """Idle for poll_seconds, in short naps so a signal is noticed within 0.25 s."""
        deadline = time.monotonic() + self.settings.poll_seconds
        while not stop_requested() and not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            stop.wait(min(left, 0.25))

    def run(
        self, stop: threading.Event, stop_requested: Callable[[], bool] = lambda: False
    ) -> None:
        """Loop until ``stop`` is set, or ``stop_requested()`` (a signal) says so."""
        self._stop = stop
        self.claim_singleton()
        log.info("worker started (pid %d)", self.pid)
        beat = threading.Thread(
            target=self._beat_until, args=(stop,), name="heartbeat", daemon=True
        )
        beat.start()
        schedule = self.schedule()
        if schedule is not None:
            schedule.start()
        try:
            while not stop.is_set():
                if stop_requested():
                    stop.set()  # wakes the heartbeat thread and a running reminder pass
                    break
                try:
                    busy = self.tick()
                except sqlite3.OperationalError as exc:
                    log.error("worker: database error: %s", exc)
                    busy = False
                if not busy:
                    self._nap(stop, stop_requested)
        finally:
            if schedule is not None:
                schedule.shutdown()
        log.info("worker stopped")
