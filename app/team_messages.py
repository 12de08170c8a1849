"""Messages about someone else's reviews: to a pending reviewer's manager (escalation),
and to the members of a group that holds reviews (group reviewers).

Pure functions, built from ``app.messages``'s blocks and escaping: people's and
groups' names come from Okta and are untrusted.
"""

from __future__ import annotations

from typing import Any

from app.messages import (
    Message,
    MessageContext,
    campaign_message,
    header_block,
    inert_mrkdwn,
    inert_plain,
    mrkdwn_section,
    one_line,
    plural,
)

__all__ = ["ESCALATION_HEADER", "escalation_entry", "escalation_message", "group_message"]

ESCALATION_HEADER = "Access reviews waiting on your team"


def _escalation_sentence(ctx: MessageContext, reviewer: str, pending: int) -> tuple[str, str]:
    who = inert_mrkdwn(one_line(reviewer, 100)) or "A reviewer"
    items = plural(pending, "item")
    text = f"{who} still has {items} to review in {ctx.name} — due {ctx.due()}."
    body = f"*{who}* still has *{items}* to review in *{ctx.name}* — due *{ctx.due()}*."
    return text, body


def _why_you(reviewer: str, org_name: str) -> dict[str, Any]:
    who = inert_plain(one_line(reviewer, 100)) or "this reviewer"
    org = inert_plain(one_line(org_name, 100))
    text = (
        f"You get this because Okta names you as the manager of {who}. Sent by certnotify for {org}"
    )
    return {"type": "context", "elements": [{"type": "plain_text", "text": text, "emoji": False}]}


def escalation_message(ctx: MessageContext, reviewer: str, pending: int) -> Message:
    """To a manager, once per campaign and reviewer: whose review is late, how much is
    left, by when. No review button: the review page is the reviewer's, not theirs."""
    text, body = _escalation_sentence(ctx, reviewer, pending)
    body += "\nA word from you may help them finish in time."
    return Message(
        text,
        [
            header_block("Review waiting on your team", ctx.campaign_name),
            mrkdwn_section(body),
            _why_you(reviewer, ctx.org_name),
        ],
    )


def escalation_entry(ctx: MessageContext, reviewer: str, pending: int) -> dict[str, Any]:
    """One reviewer's line when a manager hears about several at once (a digest)."""
    text, body = _escalation_sentence(ctx, reviewer, pending)
    return {"text": text, "mrkdwn": body, "url": "", "org": ctx.org_name,
            "header": ESCALATION_HEADER}  # fmt: skip


def group_message(ctx: MessageContext, group: str, pending: int) -> Message:
    """To each member of a group that holds reviews, once per campaign and group."""
    name = inert_mrkdwn(one_line(group, 100)) or "a group you are in"
    items = plural(pending, "access item")
    text = (
        f"Access review {ctx.name}: your group {name} has {items} to review by {ctx.due()}. "
        "Anyone in the group can decide them."
    )
    body = (
        f"Your group *{name}* has *{items}* to review by *{ctx.due()}*.\n"
        "Anyone in the group can decide them."
    )
    return campaign_message(ctx, "Access review", text, body)
