"""The launch DM as a live message: edited in place (``chat.update``) as the reviewer's
decisions arrive, "3 of 12 access items left", then "All done" with thanks.

Same rules as app.messages: Okta text goes through ``inert_*``, the header stays the
launch message's own, and the fallback ``text`` names the campaign, the count and the
deadline in one sentence.
"""

from __future__ import annotations

from app.messages import (
    Message,
    MessageContext,
    campaign_message,
    description_line,
    footer_block,
    header_block,
    mrkdwn_section,
    plural,
)

__all__ = ["all_done_message", "live_launch_message"]


def live_launch_message(ctx: MessageContext, pending: int, total: int) -> Message:
    """The launch message with the reviewer's current count; ``all_done_message`` at 0."""
    total = max(total, pending)
    if pending <= 0:
        return all_done_message(ctx, total)
    items = f"{pending} of {plural(total, 'access item')}"
    body = f"You have *{items}* left to review by *{ctx.due()}*." + description_line(ctx)
    text = f"Access review {ctx.name}: you have {items} left to review by {ctx.due()}."
    return campaign_message(ctx, "Access review", text, body)


def all_done_message(ctx: MessageContext, total: int) -> Message:
    """Nothing left to review: thanks, and no button."""
    reviewed = "your 1 item" if total <= 1 else f"all {plural(total, 'item')}"
    body = f"*All done:* you reviewed {reviewed} in *{ctx.name}*. Thank you."
    text = (
        f"All done: you reviewed {reviewed} in {ctx.name}, 0 left before the deadline "
        f"of {ctx.due()}. Thank you."
    )
    blocks = [
        header_block("Access review", ctx.campaign_name),
        mrkdwn_section(body),
        footer_block(ctx.org_name),
    ]
    return Message(text, blocks)
