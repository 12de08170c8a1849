"""The daily reminder pass (the scheduled job and ``certnotify remind`` run this code).

For every campaign still followed:

1. refresh it from Okta; ``COMPLETED``/``DELETED``/gone, or today on or after its
   end date → retire it (reviewer rows dropped, ledger kept) and send nothing;
2. re-read its ``UNREVIEWED`` reviews and refresh the reviewer table;
3. safety net: anyone with pending items who was never told about the campaign
   (no launch or reassignment message) gets the launch message now;
4. if a milestone is due (app.pipeline.reminder_days: the rhythm, rules and Okta's own
   settings), remind everyone with pending items, once per milestone;
5. plan everything due together (app.pipeline.reminder_batch): one digest per person,
   and, for the scheduled pass, at their working hours.

Day N of a campaign is its start date + N calendar days in the campaign's time
zone. Catch-up: the milestone sent is the latest one on or before today, so a
pass missed on day 21 and run on day 22 sends day 21's reminder; once day 25
arrives, 21 is skipped for good. The ledger key (campaign, reviewer,
``reminder``, ``dayN``) means a second pass, a restart or a second process
never repeats one.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, TextIO
from zoneinfo import ZoneInfo

from app.integrations.okta import (
    OktaAuthError,
    OktaError,
    OktaNotFound,
    OktaUnavailable,
)
from app.messages import launch_message, render_console
from app.models import (
    Campaign,
    LedgerKey,
    MessageScope,
    PlannedMessage,
    ReviewerCount,
)
from app.pipeline.escalation import Escalations
from app.pipeline.group_reviews import GroupReviewers
from app.pipeline.on_launch import ENDED_STATUSES
from app.pipeline.pass_parts import PassParts, PassResult
from app.pipeline.pending_reviews import read_pending, record_pending
from app.pipeline.planning import Plan, Recipient, prepare
from app.pipeline.reminder_batch import DueReminder, ReminderBatch
from app.pipeline.reminder_days import (
    campaign_day,
    campaign_length,
    campaign_plan,
    due_milestone,
    local_date,
)
from app.reminder_messages import moment_of
from app.timeutil import iso, zone

if TYPE_CHECKING:
    from app.services import Services

__all__ = ["PassParts", "PassResult", "ReminderPass", "run_reminder_pass"]

log = logging.getLogger(__name__)

NOT_FOUND_RETIRES_AFTER = timedelta(days=1)


class ReminderPass:
    def __init__(
        self,
        parts: PassParts,
        *,
        today: date | None,
        dry_run: bool,
        out: TextIO | None = None,
        stop: threading.Event | None = None,
        send: bool = True,
        timed: bool = False,
    ) -> None:
        """``timed``: the scheduled pass (working hours and spacing apply, and it does
        not wait for its messages: the worker sends them when their time comes)."""
        self.parts = parts
        self.settings = parts.settings
        self.today = today
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.result = PassResult()
        self.scopes: list[MessageScope] = []
        self.queued: list[LedgerKey] = []  # what this pass queued
        self.stop = stop
        self.send = send
        self.timed = timed
        self.batch = ReminderBatch(parts.settings, parts.store, timed=timed)
        # Each campaign's ledger (recipient, kind, milestone) -> status, before this pass.
        self.ledgers: dict[str, dict[tuple[str, str, str], str]] = {}
        self.groups = GroupReviewers(parts.okta, parts.planner)
        self.escalations = Escalations(parts.okta, parts.store, parts.planner, parts.settings)

    def _today_in(self, tz: ZoneInfo) -> date:
        return self.today or local_date(self.parts.clock(), tz)

    def _moment(self, today: date, tz: ZoneInfo) -> datetime:
        """ "Now" for message wording: the real now, or midday of the date asked for."""
        if self.today is None:
            return self.parts.clock()
        return datetime.combine(today, time(12, 0), tz)

    def run(self) -> PassResult:
        for stored in self.parts.store.campaigns.active():
            if self.stop is not None and self.stop.is_set():
                self.result.errors.append("stopped: the worker is shutting down")
                break
            self.result.campaigns += 1
            try:
                self._campaign(stored)
            except OktaAuthError as exc:
                self.result.auth_error = str(exc)
                log.error("reminder pass stopped: okta rejected our credentials: %s", exc)
                break
            except OktaUnavailable as exc:
                # An outage is nobody's fault: the pass runs again once Okta answers,
                # and the ledger keeps anyone from being reminded twice.
                self.result.errors.append(f"{stored.id}: {exc}")
                self.result.retry_at = max(self.result.retry_at, exc.retry_at)
                log.warning("reminder pass: campaign %s postponed: %s", stored.id, exc)
            except (OktaError, OSError) as exc:
                # One campaign's trouble must not cost the others their reminders.
                self.result.errors.append(f"{stored.id}: {exc}")
                log.error("reminder pass: campaign %s skipped: %s", stored.id, exc)
        if not self.result.auth_error:
            self._plan_reminders()
        if not self.dry_run and not self.timed and self.scopes and not self.result.auth_error:
            drained = self.parts.outbox.settle(
                self.scopes, sleep=self.parts.sleep, stop=self.stop, send=self.send
            )
            self.result.auth_error = drained.auth_error
            self.result.errors += drained.errors
            # Whoever sent them (this process or the worker), count what became of ours.
            outcome = self.parts.store.messages.outcomes(self.queued)
            self.result.sent = outcome.get("sent", 0)
            self.result.failed = outcome.get("failed", 0)
        return self.result

    def _retire(self, campaign: Campaign, reason: str) -> None:
        self.result.retired.append(campaign.id)
        if self.dry_run:
            print(f"would retire campaign {campaign.id} ({campaign.name}): {reason}", file=self.out)
            return
        if self.parts.store.campaigns.retire(campaign.id, reason, self.parts.clock()):
            self.parts.admin.ended(campaign.id, reason)
        log.info("campaign %s retired: %s", campaign.id, reason)

    def _not_found(self, stored: Campaign) -> None:
        """A 404 ends a campaign only when it lasts a day: a wrong org URL or an admin
        role that cannot see the campaign answers 404 too."""
        now = self.parts.clock()
        if self.dry_run:
            print(f"campaign {stored.id} ({stored.name}): not found in Okta", file=self.out)
            return
        since = self.parts.store.campaigns.note_not_found(stored.id, now)
        if now - since >= NOT_FOUND_RETIRES_AFTER:
            self._retire(stored, f"not found in Okta since {since:%Y-%m-%d %H:%M} UTC")
            return
        self.result.errors.append(
            f"{stored.id}: not found in Okta since {since:%Y-%m-%d %H:%M} UTC "
            "(retired if that lasts a day)"
        )
        log.warning("campaign %s not found in Okta (since %s)", stored.id, since)

    def _campaign(self, stored: Campaign) -> None:
        parts, store = self.parts, self.parts.store
        try:
            campaign = Campaign.from_api(parts.okta.get_campaign(stored.id))
        except OktaNotFound:
            self._not_found(stored)
            return
        campaign = replace(campaign, template_id=stored.template_id)
        tz = zone(campaign.time_zone, self.settings.campaigns.default_time_zone)
        today = self._today_in(tz)
        if not self.dry_run:
            store.campaigns.save(campaign, parts.clock())
        if campaign.status in ENDED_STATUSES:
            self._retire(campaign, f"status {campaign.status}")
            return
        if campaign.end is not None and today >= local_date(campaign.end, tz):
            self._retire(campaign, "end date reached")
            return

        read = read_pending(parts.okta, campaign.id, parts.clock)
        tally = read.tally
        if not self.dry_run:
            record_pending(store, campaign.id, read, parts.clock)
        pending = tally.pending_reviewers
        rules = campaign_plan(campaign, self.settings.reminders, tz)
        if not rules.notify or not (pending or tally.unresolved):
            return
        resolutions = parts.planner.resolve((c.person for c in pending), persist=not self.dry_run)
        ctx = parts.planner.context(campaign, self._moment(today, tz))
        ledger = store.messages.statuses(campaign.id)
        self.ledgers[campaign.id] = ledger

        # Safety net: pending items but never told (a second-level reviewer, a missed
        # event, a launch before install). People handed items by a reassignment are
        # told by that message (or will be, once its quiet window closes). Not when
        # Okta's settings for the campaign say reviewers are not told on assignment.
        reassigned = store.reassignments.recipients(campaign.id)
        untold = []
        if rules.launch_message:
            untold = [
                Recipient(c.person, c.pending) for c in pending if c.person.key not in reassigned
            ]
        plan = prepare(
            campaign, untold, resolutions, kind="launch", milestone="",
            render=lambda r: launch_message(ctx, r.count),
        )  # fmt: skip
        for c in pending:  # everyone's Slack mapping, for the admin page
            found = resolutions.get(c.person.email.lower()) if c.person.email else None
            plan.mapping.setdefault(
                c.person.key, (found.user_id, found.status) if found else (None, "not_found")
            )
        # Told in this very pass: no launch row yet, or an unmapped one that can now be sent.
        launched = {r.person.key: ledger.get((r.person.key, "launch", "")) for r in untold}
        newly_told = {
            r.person.key
            for r in untold
            if launched[r.person.key] is None
            or (launched[r.person.key] == "unmapped" and plan.mapping[r.person.key][0])
        }
        self._record(campaign, plan, ledger)
        if rules.launch_message and tally.unresolved:
            groups = self.groups.plan(campaign, tally.unresolved, ctx, persist=not self.dry_run)
            self._record(campaign, groups, ledger)

        day = campaign_day(campaign, today, tz)
        milestone = due_milestone(rules.days, day) if day is not None else None
        if milestone is not None:
            due = self._reminders(campaign, pending, milestone, rules.days, newly_told, tz)
            self.batch.add(due, resolutions)
        days_left = (local_date(campaign.end, tz) - today).days if campaign.end else None
        if self.escalations.due_now(day, days_left):
            self.batch.add(*self.escalations.due(campaign, pending, persist=not self.dry_run))

    def _reminders(
        self,
        campaign: Campaign,
        pending: list[ReviewerCount],
        milestone: int,
        days: tuple[int, ...],
        newly_told: set[str],
        tz: ZoneInfo,
    ) -> list[DueReminder]:
        """One reminder per pending reviewer for ``milestone``, unless they were first
        told about the campaign on or after that day: a reminder would then repeat
        the message they just got (and two messages in one day help nobody)."""
        assert campaign.start is not None  # a milestone is due only for a campaign with a start
        first_told = self.parts.store.messages.first_told(campaign.id)
        milestone_date = local_date(campaign.start, tz).toordinal() + milestone
        moment = moment_of(milestone, days, campaign_length(campaign, tz))
        due = []
        for c in pending:
            told_at = first_told.get(c.person.key)
            told_late = c.person.key in newly_told or (
                told_at is not None and local_date(told_at, tz).toordinal() >= milestone_date
            )
            skip = "told about the campaign on or after this reminder's day" if told_late else ""
            due.append(
                DueReminder(
                    campaign, c.person, c.pending, "reminder", f"day{milestone}", moment,
                    waiting=self.parts.labels.waiting(c.waiting), skip_reason=skip,
                )
            )  # fmt: skip
        return due

    def _plan_reminders(self) -> None:
        """Everything due in this pass, planned together: one digest per person."""
        batch = self.batch
        if not batch.due:
            return
        now = self.parts.clock()
        render_now = None
        if self.today is not None:
            render_now = datetime.combine(self.today, time(12, 0), UTC)
        rows = batch.rows(now, render_now)
        if self.dry_run:
            self._print_rows(rows)
            return
        with self.parts.store.write():
            batch.supersede()
            queued = self.parts.store.messages.plan(rows, now)
        fresh = [
            r
            for r in rows
            if (r.recipient, r.kind, r.milestone) not in self.ledgers.get(r.campaign_id, {})
        ]
        self.queued += queued
        self.result.planned += len(queued)
        self.result.scheduled += sum(
            1 for r in rows if r.not_before is not None and r.not_before > now
        )
        self.result.unmapped += sum(1 for r in fresh if r.status == "unmapped")
        self.result.skipped += sum(1 for r in fresh if r.status == "skipped")
        self.scopes += [s for s in batch.scopes if s not in self.scopes]

    def _record(
        self, campaign: Campaign, plan: Plan, ledger: dict[tuple[str, str, str], str]
    ) -> None:
        """``ledger``: the campaign's rows before this pass (store.ledger_statuses)."""
        if self.dry_run:
            self._print(campaign, plan, ledger)
            return
        fresh = [r for r in plan.rows if (r.recipient, r.kind, r.milestone) not in ledger]
        self.parts.planner.commit(plan, self.parts.clock())
        self.queued += plan.queued
        self.result.planned += len(plan.queued)
        self.result.unmapped += sum(1 for r in fresh if r.status == "unmapped")
        self.result.skipped += sum(1 for r in fresh if r.status == "skipped")
        self.scopes += [s for s in plan.scopes if s not in self.scopes]

    def _print(
        self, campaign: Campaign, plan: Plan, ledger: dict[tuple[str, str, str], str]
    ) -> None:
        """Dry run: show what a real pass would send, given what the ledger already has."""
        self._print_rows(plan.rows, ledger)

    def _print_rows(
        self,
        rows: list[PlannedMessage],
        ledger: dict[tuple[str, str, str], str] | None = None,
    ) -> None:
        for row in rows:
            known = ledger if ledger is not None else self.ledgers.get(row.campaign_id, {})
            status = known.get((row.recipient, row.kind, row.milestone))
            if status not in (None, "unmapped") or row.status == "skipped":
                continue
            if row.status == "unmapped":
                self.result.unmapped += 1
                print(f"would not reach {row.email}: {row.unmapped_reason}", file=self.out)
                continue
            self.result.planned += 1
            label = row.kind if row.kind == "launch" else f"{row.kind} {row.milestone}"
            when = f", at {iso(row.not_before)}" if row.not_before else ""
            print(f"── would DM {row.email} ({row.campaign_id}, {label}{when}) ──", file=self.out)
            for line in render_console(row.blocks):
                print(f"   {line}", file=self.out)


def run_reminder_pass(
    services: Services,
    *,
    today: date | None = None,
    dry_run: bool = False,
    trigger: str = "command",
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    send: bool = True,
    timed: bool = False,
) -> PassResult:
    """One pass over every followed campaign; recorded in ``reminder_runs``.

    ``timed``: the scheduled pass, whose reminders wait for each reviewer's working
    hours; an operator's ``remind`` sends at once and waits for the outcome."""
    parts = PassParts.of(services)
    store, clock = parts.store, parts.clock
    if dry_run:  # a dry run records nothing, not even that it ran
        return ReminderPass(parts, today=today, dry_run=True, out=out).run()
    run_id = store.runs.start(
        trigger, today.isoformat() if today else None, False, os.getpid(), clock()
    )
    parts.labels.new_pass()
    result = ReminderPass(
        parts, today=today, dry_run=False, out=out, stop=stop, send=send, timed=timed
    ).run()
    store.runs.finish(run_id, result.summary(), clock())
    parts.admin.pass_done(today or clock().date())
    log.info("reminder pass (%s): %s", trigger, result.line())
    return result
