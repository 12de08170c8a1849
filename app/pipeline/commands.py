"""One sender per deployment: ``remind``, ``sync``, ``nudge`` and ``test-message`` as jobs.

Slack paces a workspace as a whole, and only one process at a time may send (the
holder of the worker lock, see app.pipeline.lock). So a command that sends asks first:
when a worker is alive, the command writes a job row and waits while the worker runs
it and records its output and exit code; the command prints them as if it had done
the work itself. With no worker alive, the command takes the lock and runs the job in
its own process. If the worker dies while the command waits, the command takes over.
"""

from __future__ import annotations

import getpass
import io
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any, TextIO

from app.db import Store
from app.integrations.okta import OktaError
from app.integrations.slack import SlackError
from app.messages import test_message
from app.models import is_okta_id
from app.pipeline.lock import WorkerLock
from app.pipeline.nudge import NudgeError, nudge
from app.pipeline.on_launch import RetryLater, launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.services import Services, open_existing
from app.timeutil import Clock, system_clock

__all__ = ["KINDS", "CommandRunner", "JobError", "hand_off_or_run", "run_job"]

log = logging.getLogger(__name__)

KINDS = ("remind", "sync", "nudge", "test-message")
POLL_SECONDS = 0.2
_SLACK_TARGET = re.compile(r"[UWCGD][A-Z0-9]{2,20}|#[a-z0-9_-]{1,80}")


class JobError(Exception):
    """A job's known failure: one line for the operator, exit code 1."""


def requested_by() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"


# -- the jobs themselves ------------------------------------------------------------------
def _remind(
    services: Services,
    args: dict[str, Any],
    out: TextIO,
    send: bool,
    stop: threading.Event | None,
) -> int:
    day = date.fromisoformat(args["date"]) if args.get("date") else None
    result = run_reminder_pass(services, today=day, stop=stop, send=send, out=out)
    notes = [f"retired: {c}" for c in result.retired] + [f"error: {e}" for e in result.errors]
    return _outcome(out, result.line(), notes, result.auth_error)


def _outcome(out: TextIO, line: str, notes: list[str], auth_error: str) -> int:
    """The ``sent=N unmapped=N failed=N`` line and one indented line per note; a refused
    Slack or Okta credential makes the job fail."""
    print(line, file=out)
    for note in notes:
        print(f"  {note}", file=out)
    if auth_error:
        raise JobError(auth_error)
    return 0


def _sync(
    services: Services,
    args: dict[str, Any],
    out: TextIO,
    send: bool,
    stop: threading.Event | None,
) -> int:
    campaign_id = args["campaign_id"]
    try:
        summary = launch_campaign(services, campaign_id, revive=True)
    except RetryLater as exc:
        raise JobError(f"campaign {campaign_id}: {exc}; try again in a minute") from None
    print(summary.line(), file=out)
    store = services.store
    before = store.messages.scope_counts(summary.scopes)
    result = services.outbox.settle(summary.scopes, sleep=services.sleep, stop=stop, send=send)
    after = store.messages.scope_counts(summary.scopes)
    # Counted from the ledger, whoever sent them (this process or the worker): messages
    # of this launch that went out, or failed for good, while the command ran.
    sent = after.get("sent", 0) - before.get("sent", 0)
    failed = after.get("failed", 0) - before.get("failed", 0)
    print(
        f"sent={sent} unmapped={len(summary.unmapped)} failed={failed}"
        + (f" slack_error={result.auth_error}" if result.auth_error else ""),
        file=out,
    )
    for entry in summary.unmapped:
        print(f"  not in Slack: {entry}", file=out)
    return 1 if result.auth_error else 0


def _nudge(
    services: Services,
    args: dict[str, Any],
    out: TextIO,
    send: bool,
    stop: threading.Event | None,
) -> int:
    try:
        result = nudge(
            services, args["campaign_id"], args.get("reviewer") or "", send=send, stop=stop
        )
    except NudgeError as exc:
        raise JobError(str(exc)) from None
    return _outcome(out, result.line(), result.notes, result.auth_error)


def _test_message(
    services: Services,
    args: dict[str, Any],
    out: TextIO,
    send: bool,
    stop: threading.Event | None,
) -> int:
    target = args["target"]
    channel = target
    if "@" in target and not target.startswith("#"):
        # Always asked afresh: "no Slack account" may be cached from before an invite.
        resolution = services.directory.resolve([target], fresh=True)[target.strip().lower()]
        if not resolution.user_id:
            raise JobError(f"{target}: {resolution.reason}")
        channel = resolution.user_id
    message = test_message(args.get("who") or "certnotify", services.clock())
    posted = services.slack.post(channel, message.text, message.blocks)
    print(f"sent to {target} (channel {posted.channel}, ts {posted.ts})", file=out)
    return 0


_JOBS: dict[
    str, Callable[[Services, dict[str, Any], TextIO, bool, threading.Event | None], int]
] = {
    "remind": _remind,
    "sync": _sync,
    "nudge": _nudge,
    "test-message": _test_message,
}


def check_args(kind: str, args: dict[str, Any]) -> None:
    """Refuse bad input before anything is queued (the worker trusts its jobs table
    only as far as this check)."""
    if kind not in _JOBS:
        raise JobError(f"unknown job kind {kind!r}")
    if kind in ("sync", "nudge") and not is_okta_id(args.get("campaign_id")):
        raise JobError("CAMPAIGN_ID must be letters and digits only")
    if kind == "nudge" and args.get("reviewer"):
        reviewer = str(args["reviewer"])
        if "@" not in reviewer or len(reviewer) > 320 or any(c.isspace() for c in reviewer):
            raise JobError("--reviewer: use the reviewer's email address")
    if kind == "test-message":
        target = str(args.get("target") or "")
        if not ("@" in target and not target.startswith("#")) and not _SLACK_TARGET.fullmatch(
            target
        ):
            raise JobError("TARGET: use an email, a Slack user id (U…) or #channel")
    if kind == "remind" and args.get("date"):
        date.fromisoformat(args["date"])


def run_job(
    services: Services,
    kind: str,
    args: dict[str, Any],
    *,
    send: bool,
    stop: threading.Event | None = None,
) -> tuple[int, dict[str, str]]:
    """Run one job; returns (exit code, {"out": stdout text, "err": stderr text})."""
    out, err = io.StringIO(), io.StringIO()
    try:
        check_args(kind, args)
        code = _JOBS[kind](services, args, out, send, stop)
    except JobError as exc:
        print(f"Error: {exc}", file=err)
        code = 1
    except (OktaError, SlackError) as exc:
        print(f"Error: {exc}", file=err)
        code = 1
    except Exception as exc:  # reported to the waiting command, not swallowed
        log.exception("job %s failed", kind)
        print(f"Error: {kind} failed: {type(exc).__name__}: {exc}", file=err)
        code = 1
    return code, {"out": out.getvalue(), "err": err.getvalue()}


# -- the command side -------------------------------------------------------------------
def _run_here(
    lock: WorkerLock,
    build: Callable[[], Services],
    kind: str,
    args: dict[str, Any],
    job_id: int | None,
) -> tuple[int, dict[str, str]]:
    """We hold the lock: put back what a dead sender left in flight, then do the job."""
    services = build()
    try:
        services.store.reclaim_orphans()
        if job_id is not None and services.store.jobs.claim(services.clock(), job_id) is None:
            row = services.store.jobs.get(job_id) or {}
            if row.get("status") == "done":  # finished just before the worker went away
                return int(row["exit_code"] or 0), json.loads(row["output"] or "{}")
        code, output = run_job(services, kind, args, send=True)
        if job_id is not None:
            services.store.jobs.finish(job_id, code, output, services.clock())
        return code, output
    finally:
        services.close()
        lock.release()


def hand_off_or_run(
    db_path: str,
    busy_timeout: float,
    build: Callable[[], Services],
    kind: str,
    args: dict[str, Any],
    *,
    clock: Clock = system_clock,
    sleep: Callable[[float], None] = time.sleep,
    notice: Callable[[str], None] = lambda line: log.debug("%s", line),
) -> tuple[int, dict[str, str]]:
    """Run ``kind`` through the live worker, or here when there is none."""
    check_args(kind, args)
    # The database (and its folder, where the lock lives) first: a bad path is one line.
    # Never created or migrated here: serve, worker and migrate do that.
    store = open_existing(db_path, busy_timeout)
    lock = WorkerLock(db_path)
    if lock.try_acquire(clock(), role=f"certnotify {kind}"):
        store.close()
        return _run_here(lock, build, kind, args, None)
    try:
        job_id = store.jobs.enqueue(kind, args, requested_by(), clock())
        notice(f"a worker is running ({lock.holder()}): {kind} handed to it as job {job_id}")
        while True:
            row = store.jobs.get(job_id)
            if row is not None and row["status"] == "done":
                return int(row["exit_code"] or 0), json.loads(row["output"] or "{}")
            if lock.try_acquire(clock(), role=f"certnotify {kind}"):
                notice(f"the worker went away; running job {job_id} here")
                return _run_here(lock, build, kind, args, job_id)
            sleep(POLL_SECONDS)
    finally:
        store.close()


class CommandRunner:
    """Inside the worker: runs the jobs commands hand over, one at a time, in a thread
    with its own services (and the worker's Slack sender and pace); the worker's main
    loop does the sending."""

    def __init__(
        self,
        store: Store,
        thread_services: Callable[[], Services],
        clock: Clock,
        stop: threading.Event,
    ) -> None:
        self.store = store
        self.thread_services = thread_services
        self.clock = clock
        self.stop = stop
        self.thread: threading.Thread | None = None

    def poll(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        job = self.store.jobs.claim(self.clock())
        if job is None:
            return
        self.thread = threading.Thread(
            target=self._run, args=(job,), name=f"job-{job['id']}", daemon=True
        )
        self.thread.start()

    def _run(self, job: dict[str, Any]) -> None:
        try:
            services = self.thread_services()
        except Exception as exc:  # the waiting command must hear about it
            log.exception("job %s: could not start", job["id"])
            output = {"out": "", "err": f"Error: the worker could not run the job: {exc}\n"}
            self.store.jobs.finish(job["id"], 1, output, self.clock())
            return
        try:
            log.info("job %s (%s) started", job["id"], job["kind"])
            code, output = run_job(
                services, job["kind"], json.loads(job["args"]), send=False, stop=self.stop
            )
            services.store.jobs.finish(job["id"], code, output, services.clock())
            log.info("job %s (%s) finished with exit code %d", job["id"], job["kind"], code)
        except Exception:
            # Left 'running': the next worker to take the lock runs it again.
            log.exception("job %s: not recorded", job["id"])
        finally:
            services.close()
