"""The message ledger: every Slack message certnotify plans, sends, fails or skips.

Unique on (campaign, recipient, kind, milestone): a message is planned once and sent at
most once, whatever replays, restarts or second processes do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.db.inbox import DUE
from app.db.table import Table, ts
from app.models import ClaimedMessage, LedgerKey, MessageScope, PlannedMessage
from app.timeutil import iso, parse_okta_time

__all__ = ["Messages", "ReminderHistory"]

# Kinds that remind a person of pending items (spacing and digests apply to these).
REMINDER_KINDS = ("reminder", "nudge")

_IDS = "id IN (SELECT value FROM json_each(?))"

# Once a message is sent, failed or skipped, its words are not kept: the ledger keeps who
# was told what kind of message, when, and Slack's channel and ts (README, personal data).
_NO_BODY = "text = NULL, blocks = NULL, digest = NULL"

# A row leads its digest when it is the first pending row of its group.
_LEADS = (
    "(group_key IS NULL OR id = (SELECT min(g.id) FROM messages g"
    " WHERE g.group_key = messages.group_key AND g.status = 'pending'))"
)

# Due reminders that no longer make sense: the campaign was retired, or the reviewer's
# pending count (refreshed by each pass) fell to zero (for an escalation, the reviewer
# it is about: its milestone). Skipped, with the reason kept.
_RETIRED = (
    "EXISTS (SELECT 1 FROM campaigns c WHERE c.id = messages.campaign_id"
    " AND c.retired_at IS NOT NULL)"
)
_DONE = (
    "EXISTS (SELECT 1 FROM reviewers r WHERE r.campaign_id = messages.campaign_id"
    " AND r.recipient = CASE WHEN messages.kind = 'escalation' THEN messages.milestone"
    " ELSE messages.recipient END AND r.pending_items = 0)"
)
_SKIP_STALE = (
    f"UPDATE messages SET status = 'skipped', updated_at = ?, {_NO_BODY},"
    f" error = CASE WHEN {_RETIRED} THEN 'campaign ended before it was due'"
    "  ELSE 'nothing left to review when it was due' END"
    " WHERE status = 'pending' AND coalesce(not_before, 0) <= ?"
    " AND kind IN ('reminder', 'nudge', 'escalation')"
    f" AND ({_RETIRED} OR {_DONE})"
)


def _id_list(ids: int | Sequence[int]) -> str:
    return json.dumps([ids] if isinstance(ids, int) else list(ids))


@dataclass(frozen=True)
class ReminderHistory:
    last_sent: datetime | None = None
    waiting_group: str = ""  # a digest planned for later, which new reminders join
    waiting_until: datetime | None = None


class Messages(Table):
    """Table ``messages``: the ledger of Slack messages."""

    def plan(self, planned: Iterable[PlannedMessage], now: datetime) -> list[LedgerKey]:
        """Record messages to send. A key already in the ledger is left alone, except
        an ``unmapped`` row, which is revived when the person can now be reached.
        Returns the keys of the rows that became pending."""
        stamp = iso(now)
        queued: list[LedgerKey] = []
        with self.write() as db:
            for p in planned:
                status = p.status
                cursor = db.execute(
                    "INSERT INTO messages (campaign_id, recipient, kind, milestone, email,"
                    " slack_user_id, status, text, blocks, error, attempts, created_at,"
                    " updated_at, not_before, group_key, digest)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, nullif(?, ''), 0, ?, ?, ?,"
                    " nullif(?, ''), ?)"
                    " ON CONFLICT (campaign_id, recipient, kind, milestone) DO UPDATE SET"
                    "  status = excluded.status, slack_user_id = excluded.slack_user_id,"
                    "  text = excluded.text, blocks = excluded.blocks, error = NULL,"
                    "  updated_at = excluded.updated_at, not_before = excluded.not_before,"
                    "  group_key = excluded.group_key, digest = excluded.digest"
                    " WHERE messages.status = 'unmapped' AND excluded.status = 'pending'",
                    [
                        p.campaign_id,
                        p.recipient,
                        p.kind,
                        p.milestone,
                        p.email,
                        p.slack_user_id,
                        status,
                        # A body only while it is to be sent: none at rest otherwise (an
                        # unmapped row that becomes reachable is planned afresh).
                        p.text if status == "pending" else None,
                        json.dumps(p.blocks) if status == "pending" else None,
                        p.skip_reason or p.unmapped_reason,
                        stamp,
                        stamp,
                        ts(p.not_before) if p.not_before else None,
                        p.group_key,
                        json.dumps(p.digest)
                        if p.digest is not None and status == "pending"
                        else None,
                    ],
                )
                if cursor.rowcount and status == "pending":
                    queued.append((p.campaign_id, p.recipient, p.kind, p.milestone))
        return queued

    def reminder_history(
        self, recipients: Iterable[str], kinds: Sequence[str]
    ) -> dict[str, ReminderHistory]:
        """recipient -> their last reminder sent (any campaign) and the digest they
        have waiting to go out, if any (``kinds``: what counts as a reminder)."""
        wanted = json.dumps(sorted(set(recipients)))
        kind_list = json.dumps(list(kinds))
        history: dict[str, ReminderHistory] = {}
        for r in self._rows(
            "SELECT recipient, max(sent_at) AS at FROM messages WHERE status = 'sent'"
            " AND kind IN (SELECT value FROM json_each(?))"
            " AND recipient IN (SELECT value FROM json_each(?)) GROUP BY recipient",
            [kind_list, wanted],
        ):
            history[r["recipient"]] = ReminderHistory(last_sent=parse_okta_time(r["at"]))
        for r in self._rows(
            "SELECT recipient, group_key, max(not_before) AS t FROM messages"
            " WHERE status = 'pending' AND group_key IS NOT NULL AND not_before IS NOT NULL"
            " AND kind IN (SELECT value FROM json_each(?))"
            " AND recipient IN (SELECT value FROM json_each(?)) GROUP BY recipient",
            [kind_list, wanted],
        ):
            past = history.get(r["recipient"], ReminderHistory())
            waiting = datetime.fromtimestamp(r["t"], UTC)
            history[r["recipient"]] = ReminderHistory(past.last_sent, r["group_key"], waiting)
        return history

    def supersede(self, campaign_id: str, recipient: str, kind: str, milestone: str) -> int:
        """An earlier reminder of the campaign that has not gone out yet gives way to
        ``milestone``'s: one campaign is never listed twice in a digest."""
        with self.write() as db:
            cursor = db.execute(
                f"UPDATE messages SET status = 'skipped', error = ?, {_NO_BODY}"
                " WHERE campaign_id = ? AND recipient = ? AND kind = ? AND milestone != ?"
                " AND status = 'pending'",
                [f"superseded by {milestone}", campaign_id, recipient, kind, milestone],
            )
        return cursor.rowcount

    def statuses(self, campaign_id: str) -> dict[tuple[str, str, str], str]:
        """(recipient, kind, milestone) -> status, for every ledger row of the campaign
        (keys and status only: the rendered messages stay on disk)."""
        rows = self._rows(
            "SELECT recipient, kind, milestone, status FROM messages WHERE campaign_id = ?",
            [campaign_id],
        )
        return {(r["recipient"], r["kind"], r["milestone"]): r["status"] for r in rows}

    def first_told(self, campaign_id: str) -> dict[str, datetime]:
        """recipient -> when they were first told about the campaign: a launch or
        reassignment message sent or queued, or a reassignment waiting for its
        quiet window to close (its message is about to be queued)."""
        rows = self._rows(
            "SELECT recipient, min(coalesce(sent_at, created_at)) AS at FROM messages"
            " WHERE campaign_id = ? AND kind IN ('launch', 'reassign')"
            " AND status IN ('sent', 'pending', 'sending') GROUP BY recipient",
            [campaign_id],
        )
        told = {}
        for r in rows:
            at = parse_okta_time(r["at"])
            if at is not None:
                told[r["recipient"]] = at
        for r in self._rows(
            "SELECT recipient, min(received_ts) AS t FROM reassignments"
            " WHERE campaign_id = ? GROUP BY recipient",
            [campaign_id],
        ):
            at = datetime.fromtimestamp(r["t"], UTC)
            told[r["recipient"]] = min(told.get(r["recipient"], at), at)
        return told

    @staticmethod
    def _scope_sql(scopes: Sequence[MessageScope] | None) -> tuple[str, list[Any]]:
        if scopes is None:
            return "", []
        if not scopes:
            return " AND 0", []
        clauses = " OR ".join("(campaign_id = ? AND kind = ? AND milestone = ?)" for _ in scopes)
        params = [v for s in scopes for v in (s.campaign_id, s.kind, s.milestone)]
        return f" AND ({clauses})", params

    def claim(
        self,
        now: datetime,
        limit: int,
        scopes: Sequence[MessageScope] | None = None,
    ) -> list[ClaimedMessage]:
        """Mark up to ``limit`` due messages as being sent (by the worker lock's holder).

        A digest is claimed whole: its first pending row leads and carries the others
        (``group``), so it is posted once. Reminders that are due but no longer make
        sense (their campaign was retired, or the reviewer has nothing left to review)
        are skipped here instead of sent."""
        t = ts(now)
        scope_sql, scope_params = self._scope_sql(scopes)
        # scope_sql holds only "?" placeholders; the values are bound parameters.
        due = f"({DUE}){scope_sql}"
        if not self._one(f"SELECT 1 AS due FROM messages WHERE {due} LIMIT 1", [t, *scope_params]):
            return []
        with self.write() as db:
            db.execute(_SKIP_STALE, [iso(now), t])
            rows = db.execute(
                "UPDATE messages SET status = 'sending', attempts = attempts + 1, updated_at = ?"
                f" WHERE id IN (SELECT id FROM messages WHERE {due} AND {_LEADS}"
                " ORDER BY id LIMIT ?)"
                " RETURNING id, campaign_id, recipient, kind, milestone, slack_user_id, text,"
                " blocks, attempts, group_key, digest",
                [iso(now), t, *scope_params, limit],
            ).fetchall()
            claimed = []
            for r in rows:
                group: list[tuple[int, str]] = []
                if r[9]:
                    group = db.execute(
                        "UPDATE messages SET status = 'sending', attempts = attempts + 1,"
                        " updated_at = ? WHERE group_key = ? AND status = 'pending'"
                        " RETURNING id, digest",
                        [iso(now), r[9]],
                    ).fetchall()
                    group.sort()
                entries = [json.loads(d) for d in (r[10], *(g[1] for g in group)) if d]
                claimed.append(
                    ClaimedMessage(
                        r[0],
                        r[1],
                        r[2],
                        r[3],
                        r[4],
                        r[5],
                        r[6],
                        json.loads(r[7]),
                        r[8],
                        group=tuple(g[0] for g in group),
                        digest=tuple(entries) if len(entries) == 1 + len(group) else (),
                    )
                )
        claimed.sort(key=lambda d: d.id)
        return claimed

    # Each takes one row id or several (a digest's rows share one Slack message).
    def mark_sent(self, ids: int | Sequence[int], channel: str, ts: str, now: datetime) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE messages SET status = 'sent', channel = ?, ts = ?, sent_at = ?,"
                f" updated_at = ?, lease_until = NULL, error = NULL, {_NO_BODY} WHERE {_IDS}",
                [channel, ts, iso(now), iso(now), _id_list(ids)],
            )

    def mark_failed(self, ids: int | Sequence[int], error: str, now: datetime) -> None:
        with self.write() as db:
            db.execute(
                "UPDATE messages SET status = 'failed', error = ?, updated_at = ?,"
                f" lease_until = NULL, {_NO_BODY} WHERE {_IDS}",
                [error[:500], iso(now), _id_list(ids)],
            )

    def mark_retry(
        self,
        ids: int | Sequence[int],
        error: str,
        not_before: datetime,
        *,
        count_attempt: bool = True,
    ) -> None:
        """Back to pending. ``count_attempt=False`` when the failure was not this
        message's fault (e.g. our Slack token is broken) so it does not use up tries."""
        with self.write() as db:
            db.execute(
                "UPDATE messages SET status = 'pending', error = ?, not_before = ?,"
                f" lease_until = NULL, attempts = attempts - ? WHERE {_IDS}",
                [error[:500], ts(not_before), 0 if count_attempt else 1, _id_list(ids)],
            )

    def unsettled(self, scopes: Sequence[MessageScope] | None = None) -> int:
        """Messages still pending or in flight (within ``scopes`` when given)."""
        scope_sql, params = self._scope_sql(scopes)
        row = self._one(
            "SELECT count(*) AS n FROM messages WHERE status IN ('pending', 'sending')" + scope_sql,
            params,
        )
        return row["n"] if row else 0

    def scheduled(self, now: datetime) -> int:
        """Pending messages waiting for a later moment (a reviewer's working hours)."""
        row = self._one(
            "SELECT count(*) AS n FROM messages WHERE status = 'pending' AND not_before > ?",
            [ts(now)],
        )
        return row["n"] if row else 0

    def next_due(self, scopes: Sequence[MessageScope] | None = None) -> float | None:
        """Earliest time (epoch) an unsettled message becomes claimable."""
        scope_sql, params = self._scope_sql(scopes)
        row = self._one(
            "SELECT min(coalesce(not_before, 0)) AS t FROM messages"
            " WHERE status = 'pending'" + scope_sql,
            params,
        )
        return row["t"] if row else None

    def scope_counts(self, scopes: Sequence[MessageScope]) -> dict[str, int]:
        """Status counts of the ledger rows within ``scopes``."""
        scope_sql, params = self._scope_sql(scopes)
        rows = self._rows(
            f"SELECT status, count(*) AS n FROM messages WHERE 1{scope_sql} GROUP BY status",
            params,
        )
        return {r["status"]: r["n"] for r in rows}

    def outcomes(self, keys: Sequence[LedgerKey]) -> dict[str, int]:
        """Status counts of the given ledger keys (campaign, recipient, kind, milestone)."""
        rows = self._rows(
            "SELECT d.status, count(*) AS n FROM messages d JOIN json_each(?) k"
            " ON d.campaign_id = k.value ->> 0 AND d.recipient = k.value ->> 1"
            " AND d.kind = k.value ->> 2 AND d.milestone = k.value ->> 3 GROUP BY d.status",
            [json.dumps(list(keys))],
        )
        return {r["status"]: r["n"] for r in rows}

    def counts(self, campaign_id: str | None = None) -> dict[str, int]:
        where, params = ("WHERE campaign_id = ?", [campaign_id]) if campaign_id else ("", [])
        rows = self._rows(
            f"SELECT status, count(*) AS n FROM messages {where} GROUP BY status",
            params,
        )
        return {r["status"]: r["n"] for r in rows}

    def of_campaign(self, campaign_id: str, kind: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM messages WHERE campaign_id = ?"
        params: list[Any] = [campaign_id]
        if kind:
            sql += " AND kind = ?"
            params.append(kind)
        return self._rows(sql + " ORDER BY id", params)
