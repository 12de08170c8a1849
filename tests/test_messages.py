"""What reviewers read: wording, dates in the campaign's zone, limits, escaping."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from app.messages import (
    MessageContext,
    deadline_phrase,
    escape_mrkdwn,
    launch_message,
    render_console,
)
from app.messages import (
    test_message as make_test_message,
)
from app.models import Campaign
from tests.helpers import sample

LA = ZoneInfo("America/Los_Angeles")


def context(**overrides) -> MessageContext:
    campaign = Campaign.from_api(sample("campaign-active.json"))
    values = {
        "campaign_name": campaign.name,
        "description": campaign.description,
        "end": campaign.end,
        "zone": LA,
        "review_url": "https://acme.okta.com/app/UserHome",
        "org_name": "Acme",
        "now": datetime(2026, 9, 1, 16, 5, tzinfo=UTC),
    }
    values.update(overrides)
    return MessageContext(**values)


def test_launch_message_answers_what_by_when_and_where():
    message = launch_message(context(), 2)
    assert message.text == (
        "Access review Q3 2026 Access Review - Sales &amp; Finance Apps: you have 2 access "
        "items to review by Tue 29 Sep, 09:00 PDT (in 28 days)."
    )
    header, body, actions, footer = message.blocks
    assert header == {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": "Access review: Q3 2026 Access Review - Sales & Finance Apps",
            "emoji": False,
        },
    }
    assert body["text"]["text"].startswith(
        "You have *2 access items* to review by *Tue 29 Sep, 09:00 PDT (in 28 days)*."
    )
    assert (
        "_Quarterly manager review of Salesforce and GitHub Enterprise access"
        in (body["text"]["text"])
    )
    button = actions["elements"][0]
    assert (button["text"]["text"], button["url"]) == (
        "Start reviewing",
        "https://acme.okta.com/app/UserHome",
    )
    assert footer["elements"][0]["text"] == "Sent by certnotify for Acme"


def test_one_item_is_singular():
    assert "you have 1 access item to review" in launch_message(context(), 1).text


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2026, 9, 23, 16, 0, tzinfo=UTC), "Tue 29 Sep, 09:00 PDT (in 6 days)"),
        (datetime(2026, 9, 28, 6, 59, tzinfo=UTC), "Tue 29 Sep, 09:00 PDT (in 2 days)"),
        # 07:00 UTC on the 28th is midnight in Los Angeles: the 28th there.
        (datetime(2026, 9, 28, 7, 0, tzinfo=UTC), "Tue 29 Sep, 09:00 PDT (tomorrow)"),
        (datetime(2026, 9, 29, 8, 0, tzinfo=UTC), "Tue 29 Sep, 09:00 PDT (today)"),
        (datetime(2026, 9, 30, 8, 0, tzinfo=UTC), "Tue 29 Sep, 09:00 PDT (ended)"),
    ],
)
def test_deadline_in_the_campaign_time_zone(now, expected):
    end = datetime(2026, 9, 29, 16, 0, tzinfo=UTC)
    assert deadline_phrase(end, LA, now) == expected


def test_deadline_without_an_end_date_says_so():
    assert "no end date" in deadline_phrase(None, LA, datetime(2026, 9, 1, tzinfo=UTC))


def test_block_kit_limits_are_respected_for_huge_names():
    message = launch_message(context(campaign_name="N" * 5000, description="D" * 5000), 3)
    header = message.blocks[0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("…")
    assert all(len(b["text"]["text"]) <= 3000 for b in message.blocks if b["type"] == "section")
    assert len(message.blocks) <= 50


def test_names_with_newlines_stay_on_one_line():
    message = launch_message(context(campaign_name="Line one\nLine two"), 1)
    assert message.blocks[0]["text"]["text"] == "Access review: Line one Line two"


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),  # escaped once, & first
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
        ("<@U0W0EF78PLZ>", "&lt;@U0W0EF78PLZ&gt;"),
    ],
)
def test_escape_mrkdwn(raw, escaped):
    assert escape_mrkdwn(raw) == escaped


def test_render_console_shows_plain_text():
    lines = render_console(launch_message(context(campaign_name="A & <B>"), 2).blocks)
    assert lines[0] == "Access review: A & <B>"
    assert lines[1].startswith("You have 2 access items to review by Tue 29 Sep")
    assert "[Start reviewing] https://acme.okta.com/app/UserHome" in lines


def test_test_message_names_who_and_when():
    message = make_test_message("dana", datetime(2026, 11, 23, 9, 30, tzinfo=UTC))
    assert message.text == (
        "certnotify can reach you. This is a test sent by dana at 2026-11-23 09:30 UTC."
    )
