"""What reviewers read: Block Kit messages with a one-sentence fallback ``text``.

Pure functions. Each message answers, in its first line, what is asked, by when,
and where to click. Text that comes from Okta (campaign names, descriptions,
people's names, justifications) is untrusted: it goes into ``plain_text`` fields
or is escaped for mrkdwn, so a campaign named ``<!channel>`` pings nobody.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "Message",
    "MessageContext",
    "deadline_phrase",
    "escape_mrkdwn",
    "final_notice_message",
    "launch_message",
    "reassignment_message",
    "reminder_message",
    "render_console",
    "test_message",
]

# Block Kit limits (Slack reference): header text 150, section text 3000,
# button text 75, button url 3000.
HEADER_MAX = 150
SECTION_MAX = 3000
URL_MAX = 3000


def escape_mrkdwn(value: str) -> str:
    """Slack's three control characters, ``&`` first so nothing is escaped twice."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _trim(value: str, limit: int) -> str:
    value = " ".join(value.split())  # one line: newlines in names would break the layout
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


@dataclass(frozen=True)
class Message:
    text: str  # the fallback: notifications and screen readers show this
    blocks: list[dict[str, Any]]


@dataclass(frozen=True)
class MessageContext:
    """What every message needs to know about the campaign and the moment."""

    campaign_name: str
    end: datetime | None  # aware
    zone: ZoneInfo
    review_url: str
    org_name: str
    now: datetime  # aware
    description: str = ""

    @property
    def name(self) -> str:
        return escape_mrkdwn(_trim(self.campaign_name, 200))

    def days_left(self) -> int | None:
        if self.end is None:
            return None
        return (self.end.astimezone(self.zone).date() - self.now.astimezone(self.zone).date()).days

    def due(self) -> str:
        """``Tue 29 Sep, 09:00 PDT (in 28 days)``, in the campaign's time zone."""
        return deadline_phrase(self.end, self.zone, self.now)


def format_date(moment: datetime, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M} {local.tzname()}"


def relative_days(days: int) -> str:
    if days < 0:
        return "ended"
    if days == 0:
        return "today"
    if days == 1:
        return "tomorrow"
    return f"in {days} days"


def deadline_phrase(end: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    if end is None:
        return "the end of the campaign (no end date set)"
    days = (end.astimezone(zone).date() - now.astimezone(zone).date()).days
    return f"{format_date(end, zone)} ({relative_days(days)})"


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _trim_block(mrkdwn)}}


def _trim_block(text: str) -> str:
    return text if len(text) <= SECTION_MAX else text[: SECTION_MAX - 1] + "…"


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": _trim(text, HEADER_MAX), "emoji": False},
    }


def _button(ctx: MessageContext) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "open_reviews",
                "text": {"type": "plain_text", "text": "Start reviewing"},
                "url": ctx.review_url[:URL_MAX],
                "style": "primary",
            }
        ],
    }


def _footer(ctx: MessageContext) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"Sent by certnotify for {escape_mrkdwn(ctx.org_name)}"}
        ],
    }


def _description_line(ctx: MessageContext) -> str:
    lines = [line for line in ctx.description.splitlines() if line.strip()]
    return f"\n_{escape_mrkdwn(_trim(lines[0], 200))}_" if lines else ""


def launch_message(ctx: MessageContext, pending: int) -> Message:
    items = _plural(pending, "access item")
    body = f"You have *{items}* to review by *{ctx.due()}*." + _description_line(ctx)
    text = f"Access review {ctx.name}: you have {items} to review by {ctx.due()}."
    blocks = [
        _header(f"Access review: {ctx.campaign_name}"),
        _section(body),
        _button(ctx),
        _footer(ctx),
    ]
    return Message(text, blocks)


def reminder_message(ctx: MessageContext, pending: int) -> Message:
    items = _plural(pending, "item")
    verb = "is" if pending == 1 else "are"
    sentence = f"{items} {verb} still waiting for your review in {ctx.name} — due {ctx.due()}."
    body = (
        f"*{items}* {verb} still waiting for your review in *{ctx.name}* — due *{ctx.due()}*."
        "\nThanks for keeping access tidy."
    )
    return Message(
        sentence,
        [_header(f"Reminder: {ctx.campaign_name}"), _section(body), _button(ctx), _footer(ctx)],
    )


def final_notice_message(ctx: MessageContext, pending: int, consequence: str) -> Message:
    items = _plural(pending, "item")
    days = ctx.days_left()
    if days is None or ctx.end is None:
        lead = "Final notice"
        closes = "close unreviewed at the end of the campaign"
    else:
        lead = "Last day" if days <= 0 else f"{_plural(days, 'day')} left"
        closes = f"close unreviewed on {format_date(ctx.end, ctx.zone)}"
    sentence = f"{lead}: {items} in {ctx.name} {closes}."
    body = f"*{lead}:* {items} in *{ctx.name}* {closes}."
    if consequence:
        body += f"\n{escape_mrkdwn(_trim(consequence, 300))}"
        sentence += f" {escape_mrkdwn(_trim(consequence, 300))}"
    return Message(
        sentence,
        [_header(f"Final notice: {ctx.campaign_name}"), _section(body), _button(ctx), _footer(ctx)],
    )


def reassignment_message(
    ctx: MessageContext, reassigner: str, count: int, justification: str = ""
) -> Message:
    who = escape_mrkdwn(_trim(reassigner, 100)) or "A reviewer"
    items = _plural(count, "item")
    sentence = (
        f"{who} reassigned {items} in {ctx.name} to you. Due {ctx.due()} — "
        "reassigning does not extend the deadline."
    )
    body = (
        f"*{who}* reassigned *{items}* in *{ctx.name}* to you.\n"
        f"Due *{ctx.due()}* — reassigning does not extend the deadline."
    )
    blocks = [_header(f"Reassigned to you: {ctx.campaign_name}"), _section(body)]
    if justification.strip():
        # plain_text: a justification is free text typed by a person; nothing in it is markup.
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "plain_text",
                    "text": f"“{_trim(justification, 500)}”",
                    "emoji": False,
                },
            }
        )
    blocks += [_button(ctx), _footer(ctx)]
    return Message(sentence, blocks)


def test_message(who: str, at: datetime) -> Message:
    sentence = (
        f"certnotify can reach you. This is a test sent by {escape_mrkdwn(_trim(who, 100))}"
        f" at {at:%Y-%m-%d %H:%M %Z}."
    )
    return Message(sentence, [_section(sentence)])


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def render_console(blocks: list[dict[str, Any]]) -> list[str]:
    """A message as plain lines, for the dry-run sender and the demo."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section"):
            text = block["text"]["text"]
            if block["text"]["type"] == "mrkdwn":
                text = _unescape(text.replace("*", "").replace("_", ""))
            lines.extend(text.splitlines())
        elif kind == "actions":
            for element in block["elements"]:
                lines.append(f"[{element['text']['text']}] {element.get('url', '')}")
        elif kind == "context":
            lines.extend(_unescape(e.get("text", "")) for e in block["elements"])
    return lines
