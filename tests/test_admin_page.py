"""The admin page with Flask's test client: its own credential, read-only, escaped, the
same figures as ``status``, one store call per page."""

from __future__ import annotations

import base64

import pytest

from app.config import SettingsError
from tests.helpers import (
    HOOK_SECRET,
    SAMPLES,
    make_settings,
    post_hook,
    run_worker,
    sample,
    web_app,
)

ADMIN_TOKEN = "admin-token-0123456789-abcdef"


def basic(user: str, password: str) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {encoded}"}


BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def admin_settings(tmp_path, fake_okta, fake_slack):
    return make_settings(tmp_path, fake_okta, fake_slack, admin={"token": ADMIN_TOKEN})


@pytest.fixture
def admin_client(admin_settings, clock):
    return web_app(admin_settings, clock).test_client()


@pytest.fixture
def launched(admin_settings, admin_client, fake_okta, fake_slack, clock):
    """The samples' campaign launched through the real endpoint and the worker."""
    from app.pipeline.worker import Worker
    from app.services import Services

    fake_okta.load_samples(SAMPLES)
    fake_slack.add_users_from_samples(SAMPLES)
    assert post_hook(admin_client, sample("event-launch.json")).status_code == 204
    services = Services.build(admin_settings, clock=clock, sleep=clock.sleep)
    run_worker(Worker(services))
    yield services
    services.close()


def test_the_page_is_off_without_a_token(client):
    assert client.get("/admin").status_code == 404
    assert (
        client.get("/admin", headers={"Authorization": f"Bearer {HOOK_SECRET}"}).status_code == 404
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": f"Bearer {HOOK_SECRET}"},
        basic("admin", HOOK_SECRET),
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        basic("admin", ADMIN_TOKEN[:-1]),
        {"Authorization": "Basic not-base64!!"},
        {"Authorization": ADMIN_TOKEN},
    ],
)
def test_anything_but_the_admin_token_is_401(admin_client, headers):
    response = admin_client.get("/admin", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="certnotify admin"')
    assert (
        admin_client.get("/admin/campaigns/iciZDb1GURItsMuYl0g7", headers=headers).status_code
        == 401
    )


@pytest.mark.parametrize("headers", [BEARER, basic("anyone", ADMIN_TOKEN), basic("", ADMIN_TOKEN)])
def test_the_admin_token_opens_it_as_bearer_or_basic_with_any_user(admin_client, headers):
    response = admin_client.get("/admin", headers=headers)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_the_admin_token_never_opens_the_hook(admin_client):
    assert (
        post_hook(admin_client, sample("event-launch.json"), secret=ADMIN_TOKEN).status_code == 401
    )


def test_one_token_for_both_is_refused(tmp_path, fake_okta, fake_slack):
    settings = make_settings(tmp_path, fake_okta, fake_slack, admin={"token": HOOK_SECRET})
    with pytest.raises(SettingsError, match=r"admin\.token: must differ from the hook secret"):
        settings.require("hook")


def test_nothing_on_it_changes_state(admin_client):
    for path in ("/admin", "/admin/campaigns/iciZDb1GURItsMuYl0g7"):
        assert admin_client.post(path, headers=BEARER).status_code == 405
        assert admin_client.delete(path, headers=BEARER).status_code == 405


def test_the_list_shows_each_campaign_with_its_figures(launched, admin_client):
    html = admin_client.get("/admin", headers=BEARER).get_data(as_text=True)
    # Escaped by Jinja: the sample's name holds an ampersand.
    assert "Q3 2026 Access Review - Sales &amp; Finance Apps" in html
    assert "Tue 1 Sep, 09:00 PDT" in html  # start, in the campaign's zone
    assert "Tue 29 Sep, 09:00 PDT" in html  # end
    # Ana (1 pending), Ben (deleted in Slack), Omar (no Slack, none pending).
    assert "3 (2 / 1)" in html
    assert "day 7 reminder (Tue 8 Sep)" in html
    assert '1 / <span class="">0</span> / <span class="unmapped">1</span>' in html


def test_the_campaign_page_shows_each_reviewer_and_every_message(launched, admin_client):
    html = admin_client.get("/admin/campaigns/iciZDb1GURItsMuYl0g7", headers=BEARER).get_data(
        as_text=True
    )
    assert "ana.lopez@example.com" in html
    assert "U0W0EF78PLZ" in html  # Ana's Slack user
    assert 'launch · 2026-09-01T16:05:00+00:00 · <span class="sent">sent</span>' in html
    assert "Slack account deactivated" in html  # Ben
    assert "Slack account is deactivated" in html  # the reason recorded on his message
    assert "Sales Ops Reviewers" in html  # review D, held by a group
    assert (
        admin_client.get("/admin/campaigns/iciNoSuchCampaign000", headers=BEARER).status_code == 404
    )
    assert admin_client.get("/admin/campaigns/not-an-id", headers=BEARER).status_code == 404


def test_okta_text_is_escaped(admin_client, admin_settings, fake_okta, clock):
    from app.pipeline.on_launch import launch_campaign
    from app.services import Services

    campaign_id = fake_okta.generate_campaign(
        name="<script>alert(1)</script> & <b>bold</b>", reviews=2, reviewers=1
    )
    services = Services.build(admin_settings, clock=clock, sleep=clock.sleep)
    launch_campaign(services, campaign_id)
    services.close()
    for path in ("/admin", f"/admin/campaigns/{campaign_id}"):
        html = admin_client.get(path, headers=BEARER).get_data(as_text=True)
        assert "<script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_each_page_is_one_store_call_however_many_campaigns(
    admin_client, admin_settings, fake_okta, clock
):
    from app.pipeline.on_launch import launch_campaign
    from app.services import Services

    services = Services.build(admin_settings, clock=clock, sleep=clock.sleep)

    def statements(path: str) -> int:
        executed: list[str] = []
        store = admin_client.application.extensions["certnotify"].store()
        store.db.conn.set_trace_callback(executed.append)
        try:
            assert admin_client.get(path, headers=BEARER).status_code == 200
        finally:
            store.db.conn.set_trace_callback(None)
        return len([s for s in executed if s.lstrip().upper().startswith("SELECT")])

    first = fake_okta.generate_campaign(name="One", reviews=4, reviewers=2)
    launch_campaign(services, first)
    one = statements("/admin"), statements(f"/admin/campaigns/{first}")
    for i in range(5):
        launch_campaign(
            services, fake_okta.generate_campaign(name=f"More {i}", reviews=40, reviewers=20)
        )
    services.close()
    big = fake_okta.generate_campaign(name="Big", reviews=60, reviewers=30)
    services = Services.build(admin_settings, clock=clock, sleep=clock.sleep)
    launch_campaign(services, big)
    services.close()
    many = statements("/admin"), statements(f"/admin/campaigns/{big}")
    assert many == one  # no query per campaign or per reviewer
    assert one[0] <= 2
    assert one[1] <= 4
