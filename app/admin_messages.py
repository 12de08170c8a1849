"""What the admin channel reads (pure): launch summaries, the daily progress lines,
final figures, and credential alerts, each with the fix in one line where there is one.

Okta text (campaign names) and people's emails are untrusted like everywhere else:
made inert before they reach mrkdwn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.messages import (
    Message,
    header_block,
    inert_mrkdwn,
    mrkdwn_section,
    one_line,
    plain_section,
    plural,
)

__all__ = [
    "CampaignLine",
    "campaign_final",
    "credentials_alert",
    "credentials_recovered",
    "launch_summary",
    "pass_summary",
]

MAX_LISTED = 40  # people listed by name in one message; the rest are counted


@dataclass(frozen=True)
class CampaignLine:
    """One campaign's progress, as a line of the daily summary or the final figures."""

    name: str
    percent_complete: int | None
    reviewers: int
    pending_reviewers: int
    pending_items: int
    days_left: int | None

    def text(self) -> str:
        done = (
            "no reviews read yet"
            if self.percent_complete is None
            else f"{self.percent_complete}% done"
        )
        left = "" if self.days_left is None else f", {plural(self.days_left, 'day')} left"
        return (
            f"*{inert_mrkdwn(one_line(self.name, 150))}*: {done}, "
            f"{self.pending_reviewers} of {plural(self.reviewers, 'reviewer')} still pending"
            f" ({plural(self.pending_items, 'item')}){left}"
        )


def _listed(lines: Sequence[str]) -> str:
    shown = [f"• {inert_mrkdwn(one_line(line, 200))}" for line in lines[:MAX_LISTED]]
    if len(lines) > MAX_LISTED:
        shown.append(f"• … and {len(lines) - MAX_LISTED} more (`certnotify report`)")
    return "\n".join(shown)


def launch_summary(
    campaign: str,
    told: int,
    pending_items: int,
    unreachable: Sequence[str],
    group_reviews: int,
) -> Message:
    """``unreachable``: "email (why)" per reviewer not told."""
    name = inert_mrkdwn(one_line(campaign, 150))
    text = (
        f"Campaign {name} launched: {plural(told, 'reviewer')} told, "
        f"{plural(pending_items, 'item')} to review, {len(unreachable)} not reachable in Slack."
    )
    blocks = [
        header_block("Campaign launched", campaign),
        mrkdwn_section(
            f"*{plural(told, 'reviewer')}* told in Slack, "
            f"*{plural(pending_items, 'item')}* to review."
        ),
    ]
    if unreachable:
        blocks.append(
            mrkdwn_section(
                f"*Not reachable in Slack ({len(unreachable)}):*\n" + _listed(unreachable)
            )
        )
    if group_reviews:
        blocks.append(
            mrkdwn_section(
                f"*{plural(group_reviews, 'review')}* held by a group or nobody: "
                "no one person was told (see the admin page)."
            )
        )
    return Message(text, blocks)


def pass_summary(date: str, lines: Sequence[CampaignLine]) -> Message:
    if not lines:
        text = f"Reminder pass {date}: no campaign running."
        return Message(text, [plain_section(text)])
    text = f"Reminder pass {date}: {plural(len(lines), 'campaign')} running."
    body = "\n".join(f"• {line.text()}" for line in lines[:MAX_LISTED])
    return Message(text, [mrkdwn_section(f"*Reminder pass {date}*"), mrkdwn_section(body)])


def campaign_final(line: CampaignLine, reason: str) -> Message:
    text = f"Campaign {inert_mrkdwn(one_line(line.name, 150))} ended ({reason})."
    final = CampaignLine(
        line.name, line.percent_complete, line.reviewers, line.pending_reviewers,
        line.pending_items, None,
    )  # fmt: skip
    return Message(
        text,
        [
            header_block("Campaign ended", line.name),
            mrkdwn_section(final.text()),
            plain_section(f"Why: {one_line(reason, 200)}"),
        ],
    )


def credentials_alert(problem: str, fix: str) -> Message:
    text = f"certnotify cannot work: {problem}"
    return Message(
        text,
        [
            mrkdwn_section(f"*certnotify cannot work:* {inert_mrkdwn(one_line(problem, 300))}"),
            plain_section(f"Fix: {fix}. Nothing is lost: the work waits and resumes by itself."),
        ],
    )


def credentials_recovered(problem: str, since: str) -> Message:
    text = f"certnotify works again (since {since}: {problem})."
    return Message(
        text,
        [
            mrkdwn_section(
                f"*certnotify works again.* Since {inert_mrkdwn(since)}: "
                f"{inert_mrkdwn(one_line(problem, 300))}. What waited is being sent now."
            )
        ],
    )
