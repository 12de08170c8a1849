"""The Okta event hook endpoint: verification, authentication, limits, dedup, answers."""

from __future__ import annotations

import copy
import json

import pytest

from tests.helpers import HOOK_SECRET, SAMPLES, post_hook, sample


def inbox_rows(app) -> list[dict]:
    store = app.extensions["certnotify"].store()
    return list(store.db.query("SELECT uuid, event_id, event_type, status FROM inbox"))


def test_verification_echoes_the_challenge_exactly(client):
    challenge = "7Jq2cN0kWfX9rT4vLb8sZ1mHd6yPe3Ga5uKo"  # from hook-verification.txt
    assert challenge in (SAMPLES / "hook-verification.txt").read_text()
    response = client.get("/hooks/okta", headers={"x-okta-verification-challenge": challenge})
    assert response.status_code == 200
    assert response.get_json() == {"verification": challenge}


def test_verification_header_name_is_case_insensitive_and_quotes_stay_json(client):
    challenge = 'a"b\\c'
    response = client.get("/hooks/okta", headers={"X-OKTA-VERIFICATION-CHALLENGE": challenge})
    assert response.status_code == 200
    assert json.loads(response.data) == {"verification": challenge}


def test_verification_without_challenge_is_400(client):
    assert client.get("/hooks/okta").status_code == 400


def test_verification_challenge_of_10_kb_is_refused_not_crashed(client):
    response = client.get("/hooks/okta", headers={"x-okta-verification-challenge": "x" * 10_240})
    assert response.status_code == 400


def test_launch_delivery_is_stored_and_answered_204(app, client):
    body = sample("event-launch.json")
    response = post_hook(client, body)
    assert response.status_code == 204
    assert response.data == b""
    rows = inbox_rows(app)
    assert rows == [
        {
            "uuid": "7cb44bdb-bc46-4abc-b6b5-1386e5a9bc2b",
            "event_id": "6b755c33-6b99-4c37-9181-2336b4da0af0",
            "event_type": "certification.campaign.launch",
            "status": "pending",
        }
    ]


def test_request_path_never_calls_okta_or_slack(client, fake_okta, fake_slack):
    assert post_hook(client, sample("event-launch.json")).status_code == 204
    assert post_hook(client, sample("event-decide-reassign.json")).status_code == 204
    assert fake_okta.requests == []
    assert fake_slack.call_count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},  # missing
        {"Authorization": ""},
        {"Authorization": "wrong-secret-of-some-length-000"},
        {"Authorization": HOOK_SECRET[:-1]},  # wrong length
        {"Authorization": HOOK_SECRET + "x"},
        {"Authorization": f"Bearer {HOOK_SECRET}"},
        {"X-Other": HOOK_SECRET},
    ],
)
def test_missing_or_wrong_secret_is_401_and_nothing_is_stored(app, client, headers):
    response = post_hook(client, sample("event-launch.json"), secret=None, **headers)
    assert response.status_code == 401
    assert inbox_rows(app) == []
    assert HOOK_SECRET not in response.get_data(as_text=True)


def test_body_over_one_mebibyte_is_413_before_authentication(app, client):
    big = b'{"pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = post_hook(client, big, secret=None)
    assert response.status_code == 413
    response = post_hook(client, big)
    assert response.status_code == 413
    assert inbox_rows(app) == []


def test_body_of_exactly_one_mebibyte_is_not_413(client):
    body = json.dumps(sample("event-launch.json")).encode()
    padded = body[:-1] + b" " * (1024 * 1024 - len(body)) + b"}"
    assert len(padded) == 1024 * 1024
    assert post_hook(client, padded).status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"\xff\xfe",
        b"[1, 2, 3]",
        b'"a string"',
        b'{"eventType": "com.okta.event_hook"}',
        b'{"eventType": "com.okta.event_hook", "data": {"events": {}}}',
        b'{"eventType": "something.else", "data": {"events": []}}',
        b'{"data": {"events": []}}',
    ],
)
def test_bodies_that_are_not_envelopes_are_400(app, client, body):
    response = post_hook(client, body)
    assert response.status_code == 400
    assert inbox_rows(app) == []


def test_same_delivery_twice_is_acknowledged_and_stored_once(app, client):
    body = sample("event-close.json")
    assert post_hook(client, body).status_code == 204
    assert post_hook(client, body).status_code == 204
    assert len(inbox_rows(app)) == 4
    store = app.extensions["certnotify"].store()
    assert store.inbox.hook_totals() == {
        "deliveries": 1,
        "accepted": 4,
        "duplicates": 4,
        "dropped": 0,
    }


def test_same_event_inside_another_envelope_is_dropped(app, client):
    first = sample("event-launch.json")
    second = copy.deepcopy(first)
    second["eventId"] = "00000000-0000-4000-8000-000000000001"
    assert post_hook(client, first).status_code == 204
    assert post_hook(client, second).status_code == 204
    rows = inbox_rows(app)
    assert len(rows) == 1
    assert rows[0]["event_id"] == first["eventId"]


def test_malformed_events_are_dropped_and_counted_but_the_delivery_is_204(app, client):
    body = sample("event-launch.json")
    good = body["data"]["events"][0]
    bad_campaign = copy.deepcopy(good)
    bad_campaign["uuid"] = "11111111-1111-4111-8111-111111111111"
    bad_campaign["debugContext"]["debugData"]["campaignId"] = '../x" or 1=1'
    no_uuid = copy.deepcopy(good)
    del no_uuid["uuid"]
    body["data"]["events"] = [good, bad_campaign, no_uuid, "not an object"]
    assert post_hook(client, body).status_code == 204
    assert [r["uuid"] for r in inbox_rows(app)] == [good["uuid"]]
    store = app.extensions["certnotify"].store()
    assert store.inbox.hook_totals()["dropped"] == 3


def test_unknown_event_types_are_accepted(app, client):
    body = sample("event-launch.json")
    body["data"]["events"][0]["eventType"] = "user.session.start"
    assert post_hook(client, body).status_code == 204
    assert inbox_rows(app)[0]["event_type"] == "user.session.start"


def test_configured_secret_header_name_is_used(tmp_path, fake_okta, fake_slack, clock):
    from tests.helpers import make_settings, web_app

    settings = make_settings(
        tmp_path, fake_okta, fake_slack, okta={"hook_secret_header": "X-Certnotify-Secret"}
    )
    client = web_app(settings, clock).test_client()
    body = sample("event-launch.json")
    assert post_hook(client, body).status_code == 401  # Authorization is not the header now
    assert (
        post_hook(client, body, secret=None, **{"X-Certnotify-Secret": HOOK_SECRET}).status_code
        == 204
    )


def test_healthz_reports_database_backlog_and_worker(app, client, services, clock):
    from app.pipeline.worker import Worker

    post_hook(client, sample("event-close.json"))
    report = client.get("/healthz")
    assert report.status_code == 200
    data = report.get_json()
    assert data["db"] == "ok"
    assert data["inbox_pending"] == 4
    assert data["worker"] is None
    assert data["status"] == "degraded"
    assert data["problems"] == ["no worker has checked in yet (is `certnotify worker` running?)"]
    Worker(services).heartbeat()
    clock.advance(seconds=5)
    data = client.get("/healthz").get_json()
    assert data["worker"]["last_heartbeat_seconds_ago"] == 5.0
    assert (data["status"], data["problems"]) == ("ok", [])
    clock.advance(seconds=120)
    data = client.get("/healthz").get_json()
    assert data["status"] == "degraded"
    assert data["problems"] == ["worker silent for 125 s (last heartbeat)"]
    assert HOOK_SECRET not in report.get_data(as_text=True)


def test_metrics_are_prometheus_text(client):
    post_hook(client, sample("event-launch.json"))
    response = client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert 'certnotify_inbox_events{status="pending"} 1.0' in text
    assert 'certnotify_hook_events_total{outcome="accepted"} 1.0' in text
