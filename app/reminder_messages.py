"""Reminders, final notices, nudges and the daily digest: what a reviewer with items
still pending reads.

Pure functions, like ``app.messages`` (whose building blocks and escaping they use).
Every reminder keeps the sentence reviewers know: "{n} items still waiting for your
review in {campaign} — due {date} ({in N days})"; what changes with the moment is the
line after it (first reminder, halfway, days left, a nudge) and the final notice,
which leads with the deadline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from app.messages import (
    Message,
    MessageContext,
    campaign_message,
    footer_block,
    format_date,
    inert_mrkdwn,
    mrkdwn_section,
    one_line,
    plural,
    review_button,
)

__all__ = [
    "Moment",
    "digest_entry",
    "digest_message",
    "final_notice_message",
    "moment_of",
    "reminder_message",
    "waiting_line",
]

Moment = Literal["first", "halfway", "later", "final", "nudge"]

# Applications named in "what is waiting"; the rest are counted as "N more".
WAITING_SHOWN = 3
# Block Kit allows 50 blocks; a digest lists at most this many campaigns by name.
DIGEST_LISTED = 40


def moment_of(milestone: int, days: Sequence[int], length: int | None) -> Moment:
    """Where a reminder falls in its campaign's rhythm (``days``: all reminder days)."""
    if days and milestone == days[-1] and length is not None:
        return "final"
    earlier = [d for d in days if d < milestone]
    if not earlier:
        return "first"
    if length is not None and milestone * 2 >= length > earlier[-1] * 2:
        return "halfway"
    return "later"


def waiting_line(waiting: Sequence[tuple[str, int]]) -> str:
    """ "Waiting: Salesforce (3), GitHub (2) and 4 more" (mrkdwn; names are Okta text,
    and "" stands for items whose application has no name we could get)."""
    items = [(label, n) for label, n in waiting if n > 0]
    shown = [(label, n) for label, n in items if label][:WAITING_SHOWN]
    if not shown:
        return ""
    names = ", ".join(f"{inert_mrkdwn(one_line(label, 80))} ({n})" for label, n in shown)
    rest = sum(n for _, n in items) - sum(n for _, n in shown)
    return f"Waiting: {names} and {rest} more" if rest else f"Waiting: {names}"


def _still_waiting(ctx: MessageContext, pending: int) -> tuple[str, str]:
    """The reminder sentence, as fallback text and as mrkdwn."""
    items = plural(pending, "item")
    verb = "is" if pending == 1 else "are"
    text = f"{items} {verb} still waiting for your review in {ctx.name} — due {ctx.due()}."
    body = f"*{items}* {verb} still waiting for your review in *{ctx.name}* — due *{ctx.due()}*."
    return text, body


def _moment_line(ctx: MessageContext, moment: Moment) -> str:
    days = ctx.days_left()
    left = f"{plural(days, 'day')} left. " if days is not None and days > 0 else ""
    if moment == "halfway":
        return f"The review is halfway through: {left}Thanks for keeping access tidy."
    if moment == "later":
        return f"{left}Thanks for keeping access tidy."
    if moment == "nudge":
        return "Your access review team asked us to remind you. Thanks for keeping access tidy."
    return "Thanks for keeping access tidy."


def reminder_message(
    ctx: MessageContext,
    pending: int,
    *,
    moment: Moment = "first",
    waiting: Sequence[tuple[str, int]] = (),
) -> Message:
    text, body = _still_waiting(ctx, pending)
    lines = [body, _moment_line(ctx, moment)]
    if what := waiting_line(waiting):
        lines.append(what)
    return campaign_message(ctx, "Reminder", text, "\n".join(lines))


def _final_lead(ctx: MessageContext) -> tuple[str, str]:
    days = ctx.days_left()
    if days is None or ctx.end is None:
        return "Final notice", "close unreviewed at the end of the campaign"
    lead = "Last day" if days <= 0 else f"{plural(days, 'day')} left"
    return lead, f"close unreviewed on {format_date(ctx.end, ctx.zone)}"


def final_notice_message(
    ctx: MessageContext,
    pending: int,
    consequence: str,
    *,
    waiting: Sequence[tuple[str, int]] = (),
) -> Message:
    items = plural(pending, "item")
    lead, closes = _final_lead(ctx)
    sentence = f"{lead}: {items} in {ctx.name} {closes}."
    body = f"*{lead}:* {items} in *{ctx.name}* {closes}."
    if consequence := inert_mrkdwn(one_line(consequence, 300)):
        body += f"\n{consequence}"
        sentence += f" {consequence}"
    if what := waiting_line(waiting):
        body += f"\n{what}"
    return campaign_message(ctx, "Final notice", sentence, body)


# -- the digest: one message for reminders due in several campaigns ------------------
def digest_entry(
    ctx: MessageContext,
    pending: int,
    *,
    final: bool,
    waiting: Sequence[tuple[str, int]] = (),
) -> dict[str, Any]:
    """A campaign's line in a digest, stored with its ledger row (JSON) so the digest is
    put together when it is sent, from whichever of its campaigns are still due."""
    text, body = _still_waiting(ctx, pending)
    if final:
        lead, closes = _final_lead(ctx)
        text = f"{lead}: {plural(pending, 'item')} in {ctx.name} {closes}."
        body = f"*Final notice · {lead}:* {body}"
    if what := waiting_line(waiting):
        body += f"\n{what}"
    return {"text": text, "mrkdwn": body, "url": ctx.review_url, "org": ctx.org_name}


def digest_message(entries: Sequence[dict[str, Any]]) -> Message:
    """One message listing each campaign with its pending count, deadline and link."""
    listed = list(entries[:DIGEST_LISTED])
    # Entries say their own header (a manager's digest is about their team's reviews).
    header = str(listed[0].get("header") or "") if listed else ""
    if not header:
        header = f"{plural(len(entries), 'access review')} waiting for you"
    text = f"{header}: " + " ".join(e["text"] for e in listed)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}}
    ]
    for entry in listed:
        section = mrkdwn_section(entry["mrkdwn"])
        if entry.get("url"):
            section["accessory"] = review_button(entry["url"], "Review")["elements"][0]
        blocks.append(section)
    if len(entries) > len(listed):
        blocks.append(mrkdwn_section(f"…and {len(entries) - len(listed)} more."))
    blocks.append(footer_block(str(listed[0].get("org", "")) if listed else ""))
    return Message(text, blocks)
