"""Okta text in any message can neither ping, link nor format, and still reads the same.

Every message kind is built twice: once with hostile text in every untrusted field, once
with a benign word in the same fields. The checker in ``tests/slack_rules.py`` (written
from Slack's documentation) must find nothing in the hostile mrkdwn strings, and the
hostile ones must carry exactly the formatting markers of the benign ones: ours.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.live_messages import all_done_message, live_launch_message
from app.messages import (
    Message,
    MessageContext,
    inert_mrkdwn,
    inert_plain,
    launch_message,
    reassignment_message,
    render_console,
)
from app.messages import test_message as make_test_message
from app.reminder_messages import final_notice_message, reminder_message
from tests.slack_rules import (
    BIDI_CONTROLS,
    formatting_spans,
    link_problems,
    marker_counts,
    problems,
    read,
    shown,
    text_objects,
)

SENT_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)

HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U123>",
    "<#C123>",
    "<#C123|general>",
    "<!subteam^S1>",
    "<https://evil.example|click>",
    "https://evil.example/login",
    "HTTP://EVIL.EXAMPLE",
    "evil.example",
    "evil.com/reset",
    "evil\u3002com",
    "www.evil.example",
    "mailto:a@b.example",
    "a@evil.example",
    "@here @channel #general",
    ":rotating_light: :joy:",
    "*bold*",
    "_italic_",
    "~strike~",
    "`code`",
    "```block```",
    "\uff0abold\uff0a",
    "> quote",
    ">>> quote",
    "   > indented quote",
    "\u3000\uff1e fullwidth quote",
    "&lt;!channel&gt;",
    "&amp;lt;",
    "Tom & Jerry's <b>",
    "Review \u202eexe.txt",
    "\u2066isolated\u2069 \u202btail",
    "first line\n> second line\n*third*",
    "name\u200b*zero*\u200bwidth",
    "N" * 5000,
    "a." * 2000,
    "&" * 5000,
    "Q3 Access Review - Sales & Finance Apps",
]


def build(text: str) -> dict[str, Message]:
    """Every message kind, with ``text`` in every field that comes from outside."""
    ctx = MessageContext(
        campaign_name=text,
        description=text,
        end=datetime(2026, 9, 29, 16, tzinfo=UTC),
        zone=ZoneInfo("America/Los_Angeles"),
        review_url="https://acme.okta.com/app/UserHome",
        org_name=text,
        now=datetime(2026, 9, 1, 16, tzinfo=UTC),
    )
    return {
        "launch": launch_message(ctx, 3),
        "live launch": live_launch_message(ctx, 3, 12),
        "all done": all_done_message(ctx, 12),
        "reminder": reminder_message(ctx, 1),
        "final notice": final_notice_message(ctx, 2, text),
        "reassignment": reassignment_message(ctx, text, 4, text),
        "test": make_test_message(text, SENT_AT),
    }


def benign(text: str) -> str:
    """The same fields filled with a plain word (or left empty where ``text`` shows nothing)."""
    return "Benign" if text.translate(BIDI_CONTROLS).split() else ""


def mrkdwn_strings(message: Message) -> list[str]:
    """The fallback text (always mrkdwn) and every mrkdwn text object."""
    objects = text_objects(message.blocks)
    return [message.text] + [t["text"] for t in objects if t["type"] == "mrkdwn"]


def assert_inert(text: str) -> None:
    hostile, harmless = build(text), build(benign(text))
    for kind, message in hostile.items():
        ours = mrkdwn_strings(harmless[kind])
        theirs = mrkdwn_strings(message)
        assert len(theirs) == len(ours), kind
        for got, reference in zip(theirs, ours, strict=True):
            assert problems(got) == [], (kind, got)
            assert marker_counts(got) == marker_counts(reference), (kind, got)
            assert [m for m, _ in formatting_spans(got)] == [
                m for m, _ in formatting_spans(reference)
            ], (kind, got)
        for obj in text_objects(message.blocks):
            if obj["type"] == "mrkdwn":
                assert obj.get("verbatim") is True, (kind, obj)
            else:  # nothing is parsed in plain_text, but a client may still link a URL
                assert link_problems(obj["text"]) == [], (kind, obj)


def assert_readable(text: str) -> None:
    """The fallback names the campaign (or the reassigner, who ran the test) as Okta sent it,
    and the header shows the start of the name."""
    visible = shown(text)[:90]  # names are trimmed to 100 characters and more
    for kind, message in build(text).items():
        assert visible in read(message.text), (kind, message.text)
        if message.blocks[0]["type"] == "header":
            header = shown(message.blocks[0]["text"]["text"]).removesuffix("…")
            assert shown(text).startswith(header.partition(": ")[2]), (kind, header)


# -- a list of hostile names, through every message kind ----------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: ascii(t)[:40])
def test_hostile_text_is_inert_in_every_message_kind(text):
    assert_inert(text)


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: ascii(t)[:40])
def test_hostile_text_still_reads_the_same(text):
    assert_readable(text)


def test_an_ordinary_campaign_name_is_left_as_it_is():
    name = "Q3 Access Review - Sales & Finance Apps"
    assert inert_mrkdwn(name) == "Q3 Access Review - Sales &amp; Finance Apps"
    # Nothing invisible is added to a name that needs nothing.
    for message in build(name).values():
        assert not [c for c in message.text if unicodedata.category(c) == "Cf"]


@pytest.mark.parametrize(
    ("raw", "reads"),
    [
        ("https://evil.example/login", "https://evil.example/login"),
        ("a@evil.example", "a@evil.example"),
        ("<!channel> & <b>", "<!channel> & <b>"),
        ("&lt;!channel&gt;", "&lt;!channel&gt;"),
        ("> quote", "> quote"),
        ("*bold* _it_ ~s~ `c`", "*bold* _it_ ~s~ `c`"),  # as look-alikes, folded by read()
    ],
)
def test_a_reader_sees_the_characters_okta_sent(raw, reads):
    assert read(inert_mrkdwn(raw)) == reads


def test_urls_and_addresses_keep_every_visible_character_in_order():
    # No look-alike for links: only invisible characters are added, so copy-paste of the
    # visible text gives the same letters.
    for raw in ("https://evil.example/login", "www.evil.example", "mailto:a@b.example"):
        out = inert_mrkdwn(raw)
        assert "".join(c for c in out if c.isprintable() and c.isascii()) == raw


def test_whole_untrusted_pieces_go_into_plain_text():
    messages = build("Dana <Kim>")
    for message in messages.values():
        for block in message.blocks:
            if block["type"] == "header":
                assert block["text"]["type"] == "plain_text"
            if block["type"] == "context":
                assert [e["type"] for e in block["elements"]] == ["plain_text"]
    [test_section] = messages["test"].blocks
    assert test_section["text"] == {
        "type": "plain_text",
        "text": "certnotify can reach you. This is a test sent by Dana <Kim> at 2026-11-23 09:30 UTC.",
        "emoji": False,
    }
    blocks = messages["reassignment"].blocks
    quotes = [b["text"]["text"] for b in blocks if b.get("text", {}).get("type") == "plain_text"]
    assert quotes == ["Reassigned to you: Dana <Kim>", "“Dana <Kim>”"]


def test_worst_case_expansion_stays_inside_block_kit_limits():
    for text in ("&" * 5000, "a." * 5000, "<>" * 3000, "@:" * 3000):
        for message in build(text).values():
            for header in (b for b in message.blocks if b["type"] == "header"):
                assert len(header["text"]["text"]) <= 150
            for obj in text_objects(message.blocks):
                assert len(obj["text"]) <= 3000
                if obj["type"] == "mrkdwn":  # and no entity cut in half by a limit
                    assert problems(obj["text"]) == []


def test_the_console_shows_what_a_reader_sees_without_invisible_characters():
    name = "*Q3* https://evil.example <!here> & co"
    lines = render_console(build(name)["reminder"].blocks)
    assert lines[0] == f"Reminder: {name}"
    assert "review in \u2217Q3\u2217 https://evil.example <!here> & co — due" in lines[1]
    assert lines[-1] == f"Sent by certnotify for {name}"
    assert not any("\u2060" in line or "\u00ad" in line for line in lines)


# -- properties -----------------------------------------------------------------------------

FRAGMENTS = [
    "<", ">", "&", "!", "@", "#", "|", ":", "/", "//", ".", " ", "\n", "*", "_", "~", "`",
    "```", "&lt;", "&gt;", "&amp;", "<!channel>", "<!here>", "<@U123>", "<#C1|x>",
    "https://", "mailto:", "www", "evil", "com", "example", "a", "9", "\u202e", "\u2066",
    "\u2069", "\u200b", "\u2060", "\u00ad", "\uff0a", "\uff1e", "\u3002", "joy", "here",
]  # fmt: skip
hostile_text = st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_any_text_comes_out_inert_and_reads_the_same(raw):
    out = inert_mrkdwn(raw)
    assert problems(out) == []
    assert marker_counts(out) == {}
    assert formatting_spans(out) == []
    assert read(out) == shown(raw)
    plain = inert_plain(raw)
    assert link_problems(plain) == []
    assert shown(plain) == shown(raw)


@settings(max_examples=300, deadline=None)
@given(hostile_text)
def test_text_built_from_hostile_fragments_comes_out_inert_and_reads_the_same(raw):
    out = inert_mrkdwn(raw)
    assert problems(out) == []
    assert marker_counts(out) == {}
    assert formatting_spans(out) == []
    assert read(out) == shown(raw)
    assert link_problems(inert_plain(raw)) == []


@settings(max_examples=150, deadline=None)
@given(st.one_of(hostile_text, st.text(max_size=60)))
def test_every_message_kind_is_inert_and_readable_for_any_text(raw):
    assert_inert(raw)
    assert_readable(raw)
