"""The database schema, as ordered sqlite-utils migrations.

Each migration runs once, in a transaction, recorded in ``_sqlite_migrations``;
upgrades are safe to repeat. Add new ones at the end; never edit an applied one.
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

__all__ = ["migrations"]

migrations = Migrations("certnotify")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("hook_deliveries").create(
        {
            "event_id": str,
            "received_at": str,
            "events": int,
            "accepted": int,
            "duplicates": int,
            "dropped": int,
            "drop_reasons": str,
        },
        pk="event_id",
        not_null={"received_at"},
    )
    db.table("inbox").create(
        {
            "uuid": str,
            "event_id": str,
            "event_type": str,
            "campaign_id": str,
            "published": str,
            "received_at": str,
            "received_ts": float,
            "payload": str,
            "status": str,  # pending | processing | done | ignored | failed
            "attempts": int,
            "lease_until": float,
            "not_before": float,
            "last_error": str,
            "finished_at": str,
        },
        pk="uuid",
        not_null={"event_id", "event_type", "received_at", "payload", "status", "attempts"},
        defaults={"status": "pending", "attempts": 0},
    )
    db.table("inbox").create_index(["status", "not_before"], index_name="inbox_due")
    db.table("campaigns").create(
        {
            "id": str,
            "name": str,
            "description": str,
            "status": str,
            "start_at": str,
            "end_at": str,
            "time_zone": str,
            "launched_at": str,
            "refreshed_at": str,
            "retired_at": str,
            "retired_reason": str,
        },
        pk="id",
    )
    db.table("reviewers").create(
        {
            "campaign_id": str,
            "recipient": str,  # Okta user id, else lower-cased email
            "okta_user_id": str,
            "email": str,
            "name": str,
            "total_items": int,
            "pending_items": int,
            "slack_user_id": str,
            "slack_status": str,  # mapped | not_found | deleted | bot | unknown
            "source": str,  # launch | reminder | reassign
            "updated_at": str,
        },
        pk=("campaign_id", "recipient"),
    )
    db.table("unresolved_reviews").create(
        {
            "campaign_id": str,
            "review_id": str,
            "reviewer_type": str,
            "group_id": str,
            "group_name": str,
            "seen_at": str,
        },
        pk=("campaign_id", "review_id"),
    )
    db.table("deliveries").create(
        {
            "id": int,
            "campaign_id": str,
            "recipient": str,
            "kind": str,  # launch | reminder | reassign
            "milestone": str,  # "" for launch, "day7" for reminders, a batch key for reassign
            "email": str,
            "slack_user_id": str,
            # pending | sending | sent | failed | unmapped | skipped (m005 renames the
            # table to messages)
            "status": str,
            "text": str,
            "blocks": str,
            "channel": str,
            "ts": str,
            "error": str,
            "attempts": int,
            "lease_until": float,
            "not_before": float,
            "created_at": str,
            "updated_at": str,
            "sent_at": str,
        },
        pk="id",
        not_null={"campaign_id", "recipient", "kind", "milestone", "status", "attempts"},
        defaults={"attempts": 0, "milestone": ""},
    )
    db.table("deliveries").create_index(
        ["campaign_id", "recipient", "kind", "milestone"], unique=True, index_name="ledger_key"
    )
    db.table("deliveries").create_index(["status", "not_before"], index_name="deliveries_due")
    db.table("slack_users").create(
        {"email": str, "user_id": str, "state": str, "checked_at": str},
        pk="email",
    )
    db.table("kv").create({"key": str, "value": str, "updated_at": str}, pk="key")


@migrations()
def m002_reminder_runs(db: sqlite_utils.Database) -> None:
    """One row per reminder pass: the audit trail of who ran what, and when."""
    db.table("reminder_runs").create(
        {
            "id": int,
            "trigger": str,  # schedule | startup | command
            "for_date": str,  # the --date given, else null (each campaign's own today)
            "dry_run": int,
            "pid": int,
            "started_at": str,
            "finished_at": str,
            "summary": str,  # JSON: sent, unmapped, failed, skipped, retired, errors
        },
        pk="id",
        not_null={"trigger", "started_at"},
    )


@migrations()
def m003_reassignments(db: sqlite_utils.Database) -> None:
    """Reassigned reviews, one row per (campaign, review, new reviewer): redelivered
    events find their row and add nothing. ``batch`` names the message that told the
    new reviewer (the ledger milestone), set when it is planned."""
    db.table("reassignments").create(
        {
            "id": int,
            "campaign_id": str,
            "review_id": str,
            "recipient": str,
            "okta_user_id": str,
            "email": str,
            "name": str,
            "reassigner": str,
            "reassigner_id": str,
            "notes": str,
            "event_uuid": str,
            "received_ts": float,
            "batch": str,
        },
        pk="id",
        not_null={"campaign_id", "review_id", "recipient", "received_ts"},
    )
    db.table("reassignments").create_index(
        ["campaign_id", "review_id", "recipient"], unique=True, index_name="reassignment_key"
    )
    db.table("reassignments").create_index(
        ["batch", "received_ts"], index_name="reassignments_open"
    )


@migrations()
def m004_recovery(db: sqlite_utils.Database) -> None:
    """Recovery without leases or lost work.

    * ``campaigns.not_found_since``: Okta answered 404 for the campaign since then; it is
      retired only when that persists for a day (a wrong org URL or a custom admin role
      answers 404 too, and one such answer must not end a live campaign).
    * ``jobs``: one sender per deployment. ``remind``, ``sync`` and ``test-message`` hand
      their work to the live worker through this table and wait for its result.
    """
    db.table("campaigns").add_column("not_found_since", str)
    db.table("jobs").create(
        {
            "id": int,
            "kind": str,  # remind | sync | test-message
            "args": str,  # JSON
            "status": str,  # pending | running | done
            "requested_by": str,
            "requested_at": str,
            "started_at": str,
            "finished_at": str,
            "exit_code": int,
            "output": str,
        },
        pk="id",
        not_null={"kind", "args", "status", "requested_at"},
    )
    db.table("jobs").create_index(["status", "id"], index_name="jobs_due")


@migrations()
def m005_messages(db: sqlite_utils.Database) -> None:
    """One word per thing: hook *deliveries* are Okta's; Slack *messages* are ours. The
    ledger table ``deliveries`` becomes ``messages`` (its rows and unique key unchanged)."""
    db.execute("ALTER TABLE deliveries RENAME TO messages")
    db.execute("DROP INDEX IF EXISTS deliveries_due")
    db.table("messages").create_index(["status", "not_before"], index_name="messages_due")


@migrations()
def m006_live_updates(db: sqlite_utils.Database) -> None:
    """The launch DM as a live message.

    * ``decisions``: one row per review and reviewer who decided it, so a redelivered
      event finds its row and changes nothing. Keyed by the reviewer too: in a
      multi-level campaign one review is decided at each level, by a different person.
      From a decide event (APPROVE or REVOKE, ``event_uuid`` set; ``recipient`` is the
      reviewer whose pending count it lowered), or seen already decided by a launch's
      read of the reviews (no ``event_uuid``: that read's counts leave it out, so its
      event must not lower them again).
    * ``reviewers.counted_ts``: when the daily pass began the read that set the
      reviewer's pending count; a decision Okta published before then is in that count.
    * ``live_updates``: per (campaign, reviewer), what is waiting to be shown in their
      launch DM and what was shown last. ``first_ts`` / ``last_ts``: the first and latest
      decision not shown yet (``first_ts`` NULL: nothing waiting); ``not_before``: Slack
      was down or refused our token; ``shown_*``: the count of the last ``chat.update``;
      ``gave_up``: why this message is no longer edited (``message_not_found``, …).
    """
    db.table("decisions").create(
        {
            "campaign_id": str,
            "review_id": str,
            "recipient": str,
            "decision": str,  # APPROVE | REVOKE (or what a launch's read found)
            "event_uuid": str,
            "received_ts": float,
        },
        pk=("campaign_id", "review_id", "recipient"),
        not_null={"recipient", "received_ts"},
    )
    db.table("live_updates").create(
        {
            "campaign_id": str,
            "recipient": str,
            "first_ts": float,
            "last_ts": float,
            "not_before": float,
            "attempts": int,
            "shown_pending": int,
            "shown_total": int,
            "shown_at": str,
            "ts": str,  # the launch DM's ts, as the last update answered
            "error": str,  # why the last round did not update (kept for status and tests)
            "gave_up": str,
        },
        pk=("campaign_id", "recipient"),
        defaults={"attempts": 0},
    )
    db.table("live_updates").create_index(["first_ts"], index_name="live_updates_waiting")
    db.table("reviewers").add_column("counted_ts", float)


@migrations()
def m007_timing(db: sqlite_utils.Database) -> None:
    """Reaching reviewers at the right moment (issue 13).

    * ``slack_users.tz``: the member's IANA time zone from Slack, for working hours;
    * ``campaigns.template_id``: from the launch event, for per-campaign rules;
    * ``messages.group_key``: reminders to one person sent as one digest share it;
      ``messages.digest``: the row's own entry in such a digest (JSON), so the digest is
      put together when it is sent, from whichever of its rows are still due.
    """
    db.table("slack_users").add_column("tz", str)
    db.table("campaigns").add_column("template_id", str)
    db.table("messages").add_column("group_key", str)
    db.table("messages").add_column("digest", str)
    db.table("messages").create_index(["group_key"], index_name="messages_group")
    db.table("messages").create_index(["recipient", "kind"], index_name="messages_recipient")


@migrations()
def m008_retention(db: sqlite_utils.Database) -> None:
    """Keeping data only as long as it is needed (issue 14).

    * ``inbox.purged_at``: the event's body was deleted (``retention.events_days`` after it
      was handled); its uuid, type and times stay, so a redelivery is still recognised;
    * ``campaigns.purged_at``: the campaign's ledger, reviewers and events were deleted
      (``retention.messages_days`` after it was retired); its name and dates stay;
    * no message bodies at rest: what was sent, failed or skipped keeps who, what kind,
      when and Slack's channel and ts, not the words.
    """
    db.table("inbox").add_column("purged_at", str)
    db.table("campaigns").add_column("purged_at", str)
    db.execute(
        "UPDATE messages SET text = NULL, blocks = NULL, digest = NULL"
        " WHERE status NOT IN ('pending', 'sending')"
    )
