"""Small tables: key-value state, reminder runs, command jobs, the Slack user cache."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from app.db.table import Table
from app.timeutil import iso, parse_okta_time

__all__ = [
    "CachedSlackUser",
    "Jobs",
    "ReminderRuns",
    "SlackUserEntry",
    "SlackUsers",
    "State",
]


class State(Table):
    """Table ``kv``: heartbeats, credential problems, marks such as the last backfill."""

    def set(self, key: str, value: Any, now: datetime) -> None:
        with self.write() as db:
            db.table("kv").upsert(
                {"key": key, "value": json.dumps(value), "updated_at": iso(now)}, pk="key"
            )

    def get(self, key: str, default: Any = None) -> Any:
        row = self._one("SELECT value FROM kv WHERE key = ?", [key])
        return json.loads(row["value"]) if row else default


class ReminderRuns(Table):
    """Table ``reminder_runs``: one row per reminder pass, the audit trail of who ran what."""

    def start(
        self, trigger: str, for_date: str | None, dry_run: bool, pid: int, now: datetime
    ) -> int:
        with self.write() as db:
            cursor = db.execute(
                "INSERT INTO reminder_runs (trigger, for_date, dry_run, pid, started_at)"
                " VALUES (?, ?, ?, ?, ?)",
                [trigger, for_date, int(dry_run), pid, iso(now)],
            )
        return int(cursor.lastrowid or 0)

    def finish(self, run_id: int, summary: dict[str, Any], now: datetime) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE reminder_runs SET finished_at = ?, summary = ? WHERE id = ?",
                [iso(now), json.dumps(summary), run_id],
            )

    def last(self, *, for_today_only: bool = False) -> dict[str, Any] | None:
        """The latest pass; ``for_today_only``: passes for the real today (no --date)."""
        where = " WHERE for_date IS NULL" if for_today_only else ""
        row = self._one(f"SELECT * FROM reminder_runs{where} ORDER BY id DESC LIMIT 1")
        if row and row.get("summary"):
            row["summary"] = json.loads(row["summary"])
        return row

    def last_clean(self) -> float | None:
        """Epoch seconds when the last daily pass (not a ``--date`` rerun) finished with
        no errors; None if none has."""
        for row in self._rows(
            "SELECT finished_at, summary FROM reminder_runs WHERE finished_at IS NOT NULL"
            " AND for_date IS NULL AND dry_run = 0 ORDER BY id DESC LIMIT 20"
        ):
            summary = json.loads(row["summary"] or "{}")
            if not summary.get("errors") and not summary.get("auth_error"):
                finished = parse_okta_time(row["finished_at"])
                return finished.timestamp() if finished else None
        return None

    def all(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM reminder_runs ORDER BY id")


class Jobs(Table):
    """Table ``jobs``: commands handed to the worker (one sender per deployment)."""

    def enqueue(self, kind: str, args: dict[str, Any], requested_by: str, now: datetime) -> int:
        with self.write() as db:
            cursor = db.execute(
                "INSERT INTO jobs (kind, args, status, requested_by, requested_at)"
                " VALUES (?, ?, 'pending', ?, ?)",
                [kind, json.dumps(args), requested_by, iso(now)],
            )
        return int(cursor.lastrowid or 0)

    def claim(self, now: datetime, job_id: int | None = None) -> dict[str, Any] | None:
        """The oldest pending job (or ``job_id`` if still pending), marked running."""
        where = "status = 'pending'" + (" AND id = ?" if job_id is not None else "")
        params: list[Any] = [iso(now)] + ([job_id] if job_id is not None else [])
        with self.write() as db:
            row = db.execute(
                "UPDATE jobs SET status = 'running', started_at = ? WHERE id ="
                f" (SELECT id FROM jobs WHERE {where} ORDER BY id LIMIT 1)"
                " RETURNING id, kind, args",
                params,
            ).fetchone()
        if row is None:
            return None
        return {"id": row[0], "kind": row[1], "args": row[2]}

    def finish(self, job_id: int, exit_code: int, output: dict[str, str], now: datetime) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE jobs SET status = 'done', exit_code = ?, output = ?, finished_at = ?"
                " WHERE id = ?",
                [exit_code, json.dumps(output), iso(now), job_id],
            )

    def get(self, job_id: int) -> dict[str, Any] | None:
        return self._one("SELECT * FROM jobs WHERE id = ?", [job_id])


class SlackUserEntry(NamedTuple):
    """One row to save: what Slack said about an email."""

    email: str
    user_id: str | None  # None: no Slack account has this email
    state: str  # active | deleted | bot | not_found
    tz: str = ""  # the member's IANA zone ("America/Los_Angeles"); "" when unknown


class CachedSlackUser(NamedTuple):
    """What the cache knows about one email (see ``SlackUserEntry``)."""

    user_id: str | None
    state: str
    tz: str = ""


class SlackUsers(Table):
    """Table ``slack_users``: email -> Slack user id, state and time zone, as last seen."""

    def cached(self, emails: Iterable[str], fresher_than: datetime) -> dict[str, CachedSlackUser]:
        """email -> CachedSlackUser for entries checked after ``fresher_than``."""
        wanted = sorted({e.lower() for e in emails})
        rows = self._rows(
            "SELECT email, user_id, state, tz FROM slack_users"
            " WHERE checked_at >= ? AND email IN (SELECT value FROM json_each(?))",
            [iso(fresher_than), json.dumps(wanted)],
        )
        # tz is NULL in rows saved before it was kept, and when Slack gave none.
        return {r["email"]: CachedSlackUser(r["user_id"], r["state"], r["tz"] or "") for r in rows}

    def save(self, entries: Iterable[SlackUserEntry], now: datetime) -> None:
        stamp = iso(now)
        with self.write() as db:
            db.table("slack_users").upsert_all(
                (
                    {
                        "email": email.lower(),
                        "user_id": uid,
                        "state": state,
                        "tz": tz or None,
                        "checked_at": stamp,
                    }
                    for email, uid, state, tz in entries
                ),
                pk="email",
            )
