"""The fake Slack workspace, driven by the real slack_sdk WebClient."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from fakes.slack import FakeSlack, Fault, SlackLimits

SAMPLES = Path(__file__).parent / "samples"
ANA, BEN, BOT, CHEN = "U0W0EF78PLZ", "U0VLS2RYADG", "U015D7PARYR", "U0SJ8JPA3O8"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(token="xoxb-good") as server:
        server.add_users_from_samples(SAMPLES)
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token="xoxb-good", base_url=fake.url)


def test_users_list_pages_with_an_opaque_cursor(fake: FakeSlack, client: WebClient) -> None:
    # Iterating a SlackResponse follows next_cursor (and reuses one object for every page).
    pages = [dict(page.data) for page in client.users_list(limit=3)]

    assert [[m["id"] for m in page["members"]] for page in pages] == [[ANA, BEN, BOT], [CHEN]]
    cursor = pages[0]["response_metadata"]["next_cursor"]
    assert base64.b64decode(cursor) == f"user:{CHEN}".encode()
    assert pages[1]["response_metadata"]["next_cursor"] == ""
    assert "email" not in pages[0]["members"][2]["profile"]  # the bot
    assert fake.call_count("users.list") == 2


def test_lookup_by_email_finds_deleted_users_and_reports_missing(client: WebClient) -> None:
    assert client.users_lookupByEmail(email="Chen.Wei@Example.com")["user"]["id"] == CHEN
    ben = client.users_lookupByEmail(email="ben.okafor@example.com")["user"]
    assert ben["deleted"] is True

    with pytest.raises(SlackApiError) as err:
        client.users_lookupByEmail(email="omar.haddad@example.com")
    assert err.value.response["error"] == "users_not_found"


def test_post_message_answers_with_a_stable_dm_and_records_it(
    fake: FakeSlack, client: WebClient
) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = client.chat_postMessage(channel=ANA, text="hello", blocks=blocks)  # JSON body
    dm = client.conversations_open(users=ANA)["channel"]["id"]
    # A form body, as other clients send it: blocks travel as a JSON string.
    second = client.api_call(
        "chat.postMessage", params={"channel": dm, "blocks": json.dumps(blocks)}
    )

    assert first["channel"] == second["channel"] == dm
    assert re.fullmatch(r"D[0-9A-Z]{10}", dm)
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == blocks
    assert [(m.channel, m.text, m.blocks) for m in fake.messages_to(ANA)] == [
        (ANA, "hello", blocks),
        (ANA, "", blocks),
    ]
    with pytest.raises(SlackApiError, match="cannot_dm_bot"):
        client.chat_postMessage(channel=BOT, text="hi")
    assert client.chat_postMessage(channel=BEN, text="into the void")["ok"]  # deleted user


def test_chat_update_edits_a_post_in_its_dm_as_slack_documents(
    fake: FakeSlack, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel=ANA, text="3 left", blocks=[])
    dm, ts = posted["channel"], posted["ts"]
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*2 left*"}}]
    edited = client.chat_update(channel=dm, ts=ts, text="2 left", blocks=blocks)

    assert (edited["channel"], edited["ts"], edited["message"]["blocks"]) == (dm, ts, blocks)
    [message] = fake.messages_to(ANA)  # edited in place, not posted again
    assert (message.text, message.blocks, message.ts) == ("2 left", blocks, ts)
    assert [(u.channel, u.dm_channel, u.ts, u.text) for u in fake.updates] == [
        (ANA, dm, ts, "2 left")
    ]
    # For a DM, Slack wants the D… id: the user id is not a channel here.
    for channel, message_ts, error in [
        (ANA, ts, "channel_not_found"),
        (dm, "1700000000.000001", "message_not_found"),
        (fake.messages_to(ANA)[0].dm_channel, "", "message_not_found"),
    ]:
        with pytest.raises(SlackApiError) as err:
            client.api_call("chat.update", json={"channel": channel, "ts": message_ts, "text": "x"})
        assert err.value.response["error"] == error
    with pytest.raises(SlackApiError, match="no_text"):
        client.api_call("chat.update", json={"channel": dm, "ts": ts})
    assert len(fake.updates) == 1


def test_wrong_token_is_invalid_auth(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(token="xoxb-revoked", base_url=fake.url).auth_test()
    assert err.value.response.status_code == 200
    assert err.value.response["error"] == "invalid_auth"


def test_injected_429_is_retried_after_retry_after(fake: FakeSlack) -> None:
    fake.inject("chat.postMessage", Fault(status=429, retry_after=1))
    client = WebClient(
        token="xoxb-good", base_url=fake.url, retry_handlers=[RateLimitErrorRetryHandler()]
    )

    assert client.chat_postMessage(channel=ANA, text="hello")["ok"]
    assert fake.call_count("chat.postMessage") == 2
    assert len(fake.messages) == 1
    first_try, retry = fake.calls("chat.postMessage")
    assert retry.received_at - first_try.received_at >= 1.0  # the client honoured Retry-After


def test_tier3_limit_refuses_calls_beyond_the_burst_until_time_passes() -> None:
    now = [0.0]
    limits = SlackLimits(tier3_per_minute=50, burst=3)
    with FakeSlack(limits=limits, clock=lambda: now[0]) as fake:
        fake.add_users_from_samples(SAMPLES)
        client = WebClient(token="xoxb-test-token", base_url=fake.url)
        for _ in range(3):
            client.users_lookupByEmail(email="ana.lopez@example.com")

        with pytest.raises(SlackApiError) as err:
            client.users_lookupByEmail(email="ana.lopez@example.com")
        assert err.value.response.status_code == 429
        assert err.value.response.headers["Retry-After"] == "2"  # 1 token at 50/min: 1.2 s
        assert fake.rate_limited == {"users.lookupByEmail": 1}

        now[0] += 1.5
        assert client.users_lookupByEmail(email="ana.lopez@example.com")["ok"]
        assert client.auth_test()["ok"]  # auth.test has no limit
