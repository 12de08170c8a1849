"""``certnotify report CAMPAIGN_ID [--csv]``: one row per reviewer, for audits.

Email, the Slack user (or why there is none), items total and pending, and every
message sent to them (kind, milestone, when, state). Read-only, from one store call
(the same figures as the admin page's campaign page).

CSV cells that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab,
carriage return first) are prefixed with ``'``: names come from Okta and are not ours
to execute.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from app.db.views import CampaignDetail, ReviewerLog

__all__ = ["CSV_COLUMNS", "report_csv", "report_rows", "report_text"]

CSV_COLUMNS = [
    "email",
    "name",
    "slack_user",
    "slack_problem",
    "items_total",
    "items_pending",
    "messages",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _messages(log: ReviewerLog) -> str:
    return "; ".join(
        " ".join(part for part in (m.kind, m.milestone, m.status, m.at, m.error) if part)
        for m in log.messages
    )


def report_rows(detail: CampaignDetail) -> list[dict[str, Any]]:
    return [
        {
            "email": r.email,
            "name": r.name,
            "slack_user": r.slack_user_id,
            "slack_problem": "" if r.slack_user_id else r.slack,
            "items_total": r.total_items,
            "items_pending": r.pending_items,
            "messages": _messages(r),
        }
        for r in detail.reviewers
    ]


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def report_csv(detail: CampaignDetail) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in report_rows(detail):
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return out.getvalue()


def report_text(detail: CampaignDetail) -> str:
    figures = detail.figures
    lines = [
        f"{figures.campaign.name} ({figures.campaign.id}): {figures.reviewers} reviewers, "
        f"{figures.pending_items} of {figures.items} items pending",
    ]
    for r in detail.reviewers:
        slack = r.slack_user_id or f"not in Slack: {r.slack}"
        lines.append(
            f"{r.email or r.recipient}  {r.pending_items}/{r.total_items} pending  {slack}"
        )
        for m in r.messages:
            detail_text = f" ({m.error})" if m.error else ""
            lines.append(f"    {m.kind} {m.milestone} {m.status} {m.at}{detail_text}".rstrip())
    if detail.unresolved:
        lines.append(f"{len(detail.unresolved)} pending review(s) held by a group or nobody")
    return "\n".join(lines) + "\n"
