"""Hostile and careless input: secrets, ids, untrusted text in messages, leaks into logs."""

from __future__ import annotations

import hmac
import json
import logging
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.intake.envelope import parse_envelope
from app.integrations.okta import OktaClient, SSWSAuth, build_http_client
from app.logs import RedactingFormatter, configure_logging
from app.messages import (
    MessageContext,
    launch_message,
    reassignment_message,
)
from app.reminder_messages import final_notice_message, reminder_message
from app.services import Services
from tests.helpers import HOOK_SECRET, make_settings, post_hook, run_worker, sample
from tests.slack_rules import read, shown

# -- the shared secret ---------------------------------------------------------------------


@pytest.mark.parametrize("provided", ["", "x", HOOK_SECRET[:-1], HOOK_SECRET, "y" * 10_000])
def test_the_secret_is_compared_in_constant_time_whatever_its_length(client, monkeypatch, provided):
    compared: list[tuple[int, int]] = []
    original = hmac.compare_digest

    def spy(a, b):
        compared.append((len(a), len(b)))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    status = post_hook(client, sample("event-launch.json"), secret=provided).status_code
    assert status == (204 if provided == HOOK_SECRET else 401)
    # Empty means "missing" (no comparison at all); otherwise one comparison of two
    # SHA-256 digests: the time taken says nothing about the secret or its length.
    assert compared == ([] if provided == "" else [(32, 32)])


def test_a_secret_with_non_ascii_or_control_characters_is_just_wrong(client, app):
    for provided in ("sécrét-ünïcode-value-0123", "tab\there-0123456789", "\x00" * 20):
        assert post_hook(client, sample("event-launch.json"), secret=provided).status_code == 401
    store = app.extensions["certnotify"].store()
    assert store.inbox.counts() == {}


# -- ids from outside never reach a URL or a filter -----------------------------------------

ALNUM = re.compile(r"[A-Za-z0-9]{1,64}")


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=80))
def test_any_campaign_id_is_either_refused_or_used_verbatim(candidate):
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"id": "ici1", "data": []})

    http = build_http_client(
        "https://acme.okta.com", SSWSAuth("t"), 5, httpx.MockTransport(handler)
    )
    client = OktaClient(http, sleep=lambda _: None)
    try:
        client.get_campaign(candidate)
        list(client.review_pages(candidate))
    except ValueError:
        assert not ALNUM.fullmatch(candidate)
        assert sent == []
        return
    assert ALNUM.fullmatch(candidate)
    assert sent[0].url.path == f"/governance/api/v1/campaigns/{candidate}"
    assert sent[1].url.params["filter"] == f'campaignId eq "{candidate}"'
    assert all(r.url.host == "acme.okta.com" for r in sent)


@settings(max_examples=200)
@given(campaign=st.text(max_size=40), review=st.text(max_size=40))
def test_events_carrying_bad_ids_are_dropped_at_the_door(campaign, review):
    body = sample("event-decide-reassign.json")
    data = body["data"]["events"][0]["debugContext"]["debugData"]
    data["campaignId"], data["campaignItemReviewerId"] = campaign, review
    delivery = parse_envelope(body)
    if delivery.events:
        assert ALNUM.fullmatch(campaign) or campaign == ""
        assert ALNUM.fullmatch(review)
        assert delivery.events[0].campaign_id == campaign
    else:
        assert len(delivery.dropped) == 1


# -- untrusted text in messages ---------------------------------------------------------------

# Slack mrkdwn control sequences: special mentions, user/channel mentions, links.
CONTROL = re.compile(r"<[!@#]|<https?:|<mailto:")


def _mrkdwn_texts(message) -> list[str]:
    texts = [message.text]
    for block in message.blocks:
        for element in [block.get("text"), *block.get("elements", [])]:
            if isinstance(element, dict) and element.get("type") == "mrkdwn":
                texts.append(element["text"])
    return texts


nasty = st.text(
    alphabet=st.sampled_from(list("<>&!@#|:/ *_~`abcUHX01\n")) | st.characters(), max_size=60
) | st.sampled_from(["<!channel>", "<!here>", "<@U0W0EF78PLZ>", "<https://evil.example|click>",
                     "&lt;!channel&gt;", "<#C123|general>", "<!subteam^S1>"])  # fmt: skip


@settings(max_examples=300)
@given(name=nasty, description=nasty, person=nasty, notes=nasty)
def test_no_mention_or_link_survives_in_any_message(name, description, person, notes):
    ctx = MessageContext(
        campaign_name=name,
        description=description,
        end=datetime(2026, 9, 29, 16, tzinfo=UTC),
        zone=ZoneInfo("America/Los_Angeles"),
        review_url="https://acme.okta.com/app/UserHome",
        org_name=person,
        now=datetime(2026, 9, 1, 16, tzinfo=UTC),
    )
    messages = [
        launch_message(ctx, 3),
        reminder_message(ctx, 1),
        final_notice_message(ctx, 2, notes),
        reassignment_message(ctx, person, 4, notes),
    ]
    for message in messages:
        for text in _mrkdwn_texts(message):
            assert "<" not in text
            assert ">" not in text
            assert not CONTROL.search(text)
    # Escaping is exact: a person reads the name Okta sent (whitespace folded; invisible
    # characters aside, and markers shown as look-alikes).
    for message in messages:
        assert shown(name) in read(message.text)
    # Untrusted text in plain_text fields is never parsed by Slack, so it may stay as is.
    assert json.dumps(messages[0].blocks[0]["text"]["type"]) == '"plain_text"'


# -- secrets never leak -----------------------------------------------------------------------

OKTA_TOKEN = "00SeCrEt-okta-api-token-value-abc"
SLACK_TOKEN = "xoxb-SeCrEt-slack-bot-token-value"


def test_secrets_appear_in_no_log_no_error_and_no_health_report(
    tmp_path, fake_okta, fake_slack, clock, caplog, capfd
):
    from tests.helpers import web_app

    settings = make_settings(
        tmp_path, fake_okta, fake_slack,
        okta={"api_token": OKTA_TOKEN}, slack={"bot_token": SLACK_TOKEN},
    )  # fmt: skip
    secrets = [OKTA_TOKEN, SLACK_TOKEN, HOOK_SECRET]
    configure_logging(secrets, "DEBUG")  # the service's own stderr handler...
    logging.getLogger().addHandler(caplog.handler)  # ...and pytest's, to read the records
    for noisy in ("httpx", "httpcore", "slack_sdk", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    try:
        app = web_app(settings, clock)
        client = app.test_client()
        services = Services.build(settings, clock=clock, sleep=clock.sleep)
        from app.pipeline.worker import Worker

        campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
        body = sample("event-launch.json")
        body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
        post_hook(client, body, secret="wrong-" + HOOK_SECRET)  # 401, logged
        post_hook(client, body)  # accepted
        run_worker(Worker(services))  # Okta answers 401 to our (wrong) token
        errors = [r.get("last_error") for r in services.store.db.query("SELECT * FROM inbox")]
        errors.append(json.dumps(services.store.state.get("okta_auth_error")))
        fake_okta.api_token = OKTA_TOKEN  # now Okta accepts it; Slack will not
        fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
        clock.advance(minutes=10)
        run_worker(Worker(services))
        health = client.get("/healthz").get_data(as_text=True)
        status = json.dumps(__import__("app.ops.status", fromlist=["x"]).collect_status(
            services.store, clock()))  # fmt: skip
        services.close()
    finally:
        logging.getLogger().handlers.clear()
    assert any("invalid_auth" in r.getMessage() for r in caplog.records)  # it did fail
    assert any("E0000011" in (e or "") for e in errors), errors
    everything = [r.getMessage() for r in caplog.records] + [health, status, *map(str, errors)]
    everything += list(capfd.readouterr())
    for secret in secrets:
        assert not [text for text in everything if secret in text], secret


def test_the_log_formatter_redacts_any_secret_anywhere():
    formatter = RedactingFormatter(["abcd-secret", "xoxb-1234"])
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "token %s in %r", ("abcd-secret", {"a": "xoxb-1234"}), None
    )
    line = formatter.format(record)
    assert "abcd-secret" not in line
    assert "xoxb-1234" not in line
    assert line.count("[redacted]") == 2


def test_settings_errors_never_echo_a_secret(tmp_path):
    from app.config import SettingsError, load_settings

    config = tmp_path / "config.yaml"
    config.write_text("okta:\n  api_token: [not, a, string]\n")
    with pytest.raises(SettingsError) as error:
        load_settings(config, environ={"OKTA_HOOK_SECRET": "short-secret"}).require("hook")
    assert "not, a, string" not in str(error.value)
    config.write_text("")
    with pytest.raises(SettingsError) as error:
        load_settings(config, environ={"OKTA_HOOK_SECRET": "short-secret"}).require("hook")
    assert "short-secret" not in str(error.value)


@pytest.mark.parametrize("depth", [33, 1_000, 100_000])
def test_an_envelope_nested_too_deep_is_400_never_500(client, depth):
    body = sample("event-launch.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["extra"] = "@"
    raw = json.dumps(body).replace('"@"', "[" * depth + "]" * depth)
    response = post_hook(client, raw)
    assert response.status_code == 400
    assert "nested more than 32 levels deep" in response.get_json()["error"]


def test_an_envelope_of_ordinary_depth_is_accepted(client):
    body = sample("event-launch.json")
    body["data"]["events"][0]["debugContext"]["debugData"]["extra"] = [[[[[[["deep enough"]]]]]]]
    assert post_hook(client, body).status_code == 204
