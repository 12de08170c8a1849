"""What reviewers read: Block Kit messages with a one-sentence fallback ``text``.

Pure functions. Each message answers, in its first line, what is asked, by when,
and where to click. Text that comes from Okta (campaign names, descriptions,
people's names, justifications) is untrusted: it goes through ``inert_plain`` into
``plain_text`` fields or through ``inert_mrkdwn`` into mrkdwn, so a campaign named
``<!channel>`` pings nobody, one named ``https://evil.example`` links nowhere and one
named ``*urgent*`` is not bold.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "Message",
    "MessageContext",
    "campaign_message",
    "deadline_phrase",
    "description_line",
    "escape_mrkdwn",
    "footer_block",
    "format_date",
    "header_block",
    "inert_mrkdwn",
    "inert_plain",
    "launch_message",
    "mrkdwn_section",
    "one_line",
    "plain_section",
    "plural",
    "reader_text",
    "reassignment_message",
    "render_console",
    "review_button",
    "test_message",
    "visible_text",
]

# Block Kit limits (Slack reference): header text 150, section text 3000,
# button text 75, button url 3000.
HEADER_MAX = 150
SECTION_MAX = 3000
URL_MAX = 3000


def escape_mrkdwn(value: str) -> str:
    """Slack's three control characters, ``&`` first so nothing is escaped twice."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- Okta text inside messages ---------------------------------------------------------------
# Slack documents an escape for &, < and > only. Nothing escapes the formatting markers, and
# Slack links URLs, domains, emails and channel names it finds in mrkdwn by itself; a text
# object can opt out of that linking ("verbatim": true, set on every one we send), the
# top-level fallback text cannot, and clients may link a URL even in plain_text. So each
# remaining trick is disarmed with the technique that has evidence of working, and a
# person still reads the same text.

WORD_JOINER = "\u2060"  # zero width, and no line-break opportunity inside names or domains
SOFT_HYPHEN = "\u00ad"  # zero width at the start of a line

# Explicit bidi embeddings, overrides and isolates (UAX #9): invisible, but an unclosed U+202E
# in a name would show the rest of our sentence ("due Tue 29 Sep") reversed.
_BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))

# Formatting markers become look-alikes that no formatter reads (as jsx-slack's <Escape>
# does). A zero-width space beside a marker would not do: Slack takes it for a word boundary,
# which turns formatting on (jsx-slack's "exact mode" relies on that). Fullwidth forms count
# as markers too; no look-alike here folds back to a marker under NFKC.
_MARKER_LOOKALIKES = str.maketrans(
    {
        "*": "\u2217", "\uff0a": "\u2217",  # (fullwidth) asterisk -> asterisk operator
        "_": "\u02cd", "\uff3f": "\u02cd",  # (fullwidth) low line -> modifier low macron
        "~": "\u223c", "\uff5e": "\u223c",  # (fullwidth) tilde -> tilde operator
        "`": "\u02cb", "\uff40": "\u02cb",  # (fullwidth) grave -> modifier grave accent
    }
)  # fmt: skip

# A quote needs ">" first on its line: a soft hyphen in front keeps the ">" but not first
# (jsx-slack does the same for a leading "&gt;").
_QUOTE = re.compile(r"^([^\S\n]*)(?=[>\uff1e])", re.MULTILINE)

# Links, mentions and emoji are found by literal sequences: "scheme:" or "scheme://",
# "@name", "#channel", ":emoji:", "www.", "label.tld". A word joiner inside each breaks the
# match and shows nothing: after a sigil (also at the end of the text, where our "_" or "*"
# may follow), and on both sides of a dot, so that neither "www." nor a TLD right after the
# dot survives, whichever side a linkifier counts the joiner on. A dot before a space or at
# the end is left alone, so sentences stay as typed: no host name continues there, as long
# as no template puts a letter or digit right after Okta text (test_safe_text holds every
# message kind to that). Ideographic and fullwidth full stops are dots to IDNA, so to a
# linkifier too.
_LINK_SEQUENCE = re.compile(r"[:@#](?!\s)|[.\u3002\uff0e\uff61](?=\S)")


def _break_links(match: re.Match[str]) -> str:
    c = match.group()
    return c + WORD_JOINER if c in ":@#" else WORD_JOINER + c + WORD_JOINER


def inert_plain(value: str) -> str:
    """Untrusted text for a plain_text object: nothing in it is parsed, but links are broken."""
    return _LINK_SEQUENCE.sub(_break_links, value.translate(_BIDI_CONTROLS))


def inert_mrkdwn(value: str) -> str:
    """Untrusted text for a mrkdwn string: it reads the same, and pings, links and formats
    nothing. ``&``, ``<``, ``>`` are escaped last, so no inserted character splits an entity."""
    text = _QUOTE.sub(lambda m: m.group(1) + SOFT_HYPHEN, value.translate(_BIDI_CONTROLS))
    return escape_mrkdwn(inert_plain(text.translate(_MARKER_LOOKALIKES)))


def visible_text(text: str) -> str:
    """Text without the invisible characters that ``inert_*`` insert."""
    return text.replace(WORD_JOINER, "").replace(SOFT_HYPHEN, "")


def reader_text(mrkdwn: str) -> str:
    """What a person reads of inert mrkdwn (for the console): no invisible characters, and
    the three entities decoded, ``&amp;`` last so ``&amp;lt;`` reads ``&lt;``."""
    text = visible_text(mrkdwn)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def one_line(value: str, limit: int) -> str:
    # One line (newlines in names would break the layout), and no bidi controls: plain_text
    # fields show them as they are, so a reversed tail would reach the header too.
    value = " ".join(value.translate(_BIDI_CONTROLS).split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def plural(n: int, word: str) -> str:
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
        return inert_mrkdwn(one_line(self.campaign_name, 200))

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


def mrkdwn_section(mrkdwn: str) -> dict[str, Any]:
    # verbatim: Slack links no URL, domain or channel name it finds in this text by itself.
    text = {"type": "mrkdwn", "text": _trim_block(mrkdwn), "verbatim": True}
    return {"type": "section", "text": text}


def plain_section(text: str) -> dict[str, Any]:
    """Text that needs no formatting: no markup or mention is parsed in plain_text."""
    return {"type": "section", "text": {"type": "plain_text", "text": text, "emoji": False}}


def _trim_block(text: str) -> str:
    return text if len(text) <= SECTION_MAX else text[: SECTION_MAX - 1] + "…"


def header_block(lead: str, name: str) -> dict[str, Any]:
    # Trimmed after inert_plain: the limit counts the invisible characters too.
    text = one_line(f"{lead}: {inert_plain(name)}", HEADER_MAX)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def review_button(url: str, label: str = "Start reviewing") -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": "open_reviews",
                "text": {"type": "plain_text", "text": label},
                "url": url[:URL_MAX],
                "style": "primary",
            }
        ],
    }


def footer_block(org_name: str) -> dict[str, Any]:
    text = f"Sent by certnotify for {inert_plain(one_line(org_name, 100))}"
    return {"type": "context", "elements": [{"type": "plain_text", "text": text, "emoji": False}]}


def description_line(ctx: MessageContext) -> str:
    lines = [line for line in (one_line(raw, 200) for raw in ctx.description.splitlines()) if line]
    return f"\n_{inert_mrkdwn(lines[0])}_" if lines else ""


def campaign_message(
    ctx: MessageContext, lead: str, text: str, body: str, *extra: dict[str, Any]
) -> Message:
    """The shape every message about one campaign shares: a header naming it, the body,
    any extra blocks, the review button and who sent it."""
    blocks = [header_block(lead, ctx.campaign_name), mrkdwn_section(body), *extra]
    return Message(text, [*blocks, review_button(ctx.review_url), footer_block(ctx.org_name)])


def launch_message(ctx: MessageContext, pending: int) -> Message:
    items = plural(pending, "access item")
    body = f"You have *{items}* to review by *{ctx.due()}*." + description_line(ctx)
    text = f"Access review {ctx.name}: you have {items} to review by {ctx.due()}."
    return campaign_message(ctx, "Access review", text, body)


def reassignment_message(
    ctx: MessageContext, reassigner: str, count: int, justification: str = ""
) -> Message:
    who = inert_mrkdwn(one_line(reassigner, 100)) or "A reviewer"
    items = plural(count, "item")
    sentence = (
        f"{who} reassigned {items} in {ctx.name} to you. Due {ctx.due()} — "
        "reassigning does not extend the deadline."
    )
    body = (
        f"*{who}* reassigned *{items}* in *{ctx.name}* to you.\n"
        f"Due *{ctx.due()}* — reassigning does not extend the deadline."
    )
    extra = []
    if quote := one_line(justification, 500):
        # plain_text: a justification is free text typed by a person; nothing in it is markup.
        extra.append(plain_section(f"“{inert_plain(quote)}”"))
    return campaign_message(ctx, "Reassigned to you", sentence, body, *extra)


def test_message(who: str, at: datetime) -> Message:
    def sentence(name: str) -> str:
        return f"certnotify can reach you. This is a test sent by {name} at {at:%Y-%m-%d %H:%M %Z}."

    name = one_line(who, 100)
    return Message(sentence(inert_mrkdwn(name)), [plain_section(sentence(inert_plain(name)))])


def _shown(text_object: dict[str, Any]) -> str:
    text = text_object.get("text", "")
    if text_object.get("type") != "mrkdwn":
        return visible_text(text)
    # Okta's markers are look-alikes by now, so the ASCII ones left are our own formatting.
    return reader_text(text.replace("*", "").replace("_", ""))


def render_console(blocks: list[dict[str, Any]]) -> list[str]:
    """A message as plain lines, for the dry-run sender and the demo."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section"):
            lines.extend(_shown(block["text"]).splitlines())
        elif kind == "actions":
            for element in block["elements"]:
                lines.append(f"[{element['text']['text']}] {element.get('url', '')}")
        elif kind == "context":
            lines.extend(_shown(e) for e in block["elements"])
    return lines
