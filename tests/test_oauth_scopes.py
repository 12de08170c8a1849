"""The optional OAuth scopes of issue 13 (users, groups, apps): a service app granted only
the two scopes certnotify needed before keeps working, against the fake org's token
endpoint, which refuses scopes a client was not granted (``invalid_scope``) as Okta does."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.integrations.okta.oauth import REQUIRED_SCOPES, SCOPES, OAuthError
from app.pipeline.on_launch import launch_campaign
from app.services import Services
from tests.helpers import make_settings

CLIENT_ID = "0oaServiceApp00000000"
TOKEN_PATH = "/oauth2/v1/token"
OPTIONAL = ["okta.users.read", "okta.groups.read", "okta.apps.read"]
WARNING = "okta refused the optional scopes"


@pytest.fixture
def key_file(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "service-app.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public.decode()


def oauth_services(tmp_path, fake_okta, fake_slack, clock, private) -> Services:
    okta = {"api_token": "", "client_id": CLIENT_ID, "private_key_file": str(private)}
    settings = make_settings(tmp_path, fake_okta, fake_slack, okta=okta).require("okta")
    return Services.build(settings, clock=clock, sleep=clock.sleep)


def requested_scopes(fake_okta) -> list[str]:
    """The scope parameter of each token request, in order."""
    return [
        parse_qs(r.body.decode())["scope"][0] for r in fake_okta.requests_to(TOKEN_PATH, "POST")
    ]


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if WARNING in r.getMessage()]


def test_an_app_granted_only_the_required_scopes_gets_a_token_for_those(
    tmp_path, fake_okta, fake_slack, clock, key_file, caplog
):
    private, public = key_file
    fake_okta.register_oauth_client(CLIENT_ID, public, scopes=REQUIRED_SCOPES.split())
    services = oauth_services(tmp_path, fake_okta, fake_slack, clock, private)
    campaign_id = fake_okta.generate_campaign(reviews=250, reviewers=5)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    with caplog.at_level(logging.WARNING):
        summary = launch_campaign(services, campaign_id)
        services.outbox.drain()
    # The campaign and both pages of reviews were read, and the reviewers told.
    assert (summary.reviews, summary.review_pages) == (250, 2)
    assert len(fake_slack.messages) == 5
    # First every scope, refused; then the two required ones, granted; then cached.
    assert requested_scopes(fake_okta) == [SCOPES, REQUIRED_SCOPES]
    assert fake_okta.oauth.requests == 2
    [warning] = warnings(caplog)
    assert "(okta.apps.read okta.groups.read okta.users.read)" in warning
    assert all(
        r.headers["authorization"].startswith("Bearer ") for r in fake_okta.requests_to("/gov")
    )

    # A revoked token is replaced with the narrowed request at once: no second refusal.
    fake_okta.revoke_bearer_tokens()
    with caplog.at_level(logging.WARNING):
        assert services.okta.get_campaign(campaign_id)["id"] == campaign_id
    assert requested_scopes(fake_okta) == [SCOPES, REQUIRED_SCOPES, REQUIRED_SCOPES]
    assert len(warnings(caplog)) == 1
    services.close()


def test_an_app_granted_every_scope_asks_once_and_warns_of_nothing(
    tmp_path, fake_okta, fake_slack, clock, key_file, caplog
):
    private, public = key_file
    fake_okta.register_oauth_client(CLIENT_ID, public, scopes=SCOPES.split())
    services = oauth_services(tmp_path, fake_okta, fake_slack, clock, private)
    campaign_id = fake_okta.generate_campaign(reviews=3, reviewers=1)
    with caplog.at_level(logging.WARNING):
        assert services.okta.get_campaign(campaign_id)["id"] == campaign_id
    assert requested_scopes(fake_okta) == [SCOPES]
    assert warnings(caplog) == []
    services.close()


@pytest.mark.parametrize(
    "granted",
    [["okta.governance.accessCertifications.read"], ["okta.logs.read", *OPTIONAL]],
    ids=["no-logs-scope", "no-governance-scope"],
)
def test_an_app_missing_a_required_scope_fails_after_one_narrowed_try(
    tmp_path, fake_okta, fake_slack, clock, key_file, granted
):
    private, public = key_file
    fake_okta.register_oauth_client(CLIENT_ID, public, scopes=granted)
    services = oauth_services(tmp_path, fake_okta, fake_slack, clock, private)
    with pytest.raises(OAuthError, match="HTTP 400 invalid_scope"):
        services.okta.get_campaign("iciAnything")
    assert requested_scopes(fake_okta) == [SCOPES, REQUIRED_SCOPES]
    # Nothing with a token got through to the API.
    assert fake_okta.requests_to("/governance") == []
    services.close()


def test_an_unrelated_token_error_is_not_retried(
    tmp_path, fake_okta, fake_slack, clock, key_file, caplog
):
    private, _public = key_file  # never registered: Okta answers invalid_client
    services = oauth_services(tmp_path, fake_okta, fake_slack, clock, private)
    with (
        caplog.at_level(logging.WARNING),
        pytest.raises(OAuthError, match="HTTP 401 invalid_client"),
    ):
        services.okta.get_campaign("iciAnything")
    assert requested_scopes(fake_okta) == [SCOPES]
    assert warnings(caplog) == []
    services.close()


def test_a_400_token_error_other_than_invalid_scope_is_not_retried(
    tmp_path, fake_okta, fake_slack, clock, key_file
):
    from fakes.okta import Fault

    private, public = key_file
    fake_okta.register_oauth_client(CLIENT_ID, public, scopes=REQUIRED_SCOPES.split())
    body = {"error": "invalid_request", "error_description": "The request is malformed."}
    fake_okta.inject(TOKEN_PATH, Fault(status=400, body=body))
    services = oauth_services(tmp_path, fake_okta, fake_slack, clock, private)
    with pytest.raises(OAuthError, match=r"HTTP 400 invalid_request The request is malformed\."):
        services.okta.get_campaign("iciAnything")
    assert len(fake_okta.requests_to(TOKEN_PATH, "POST")) == 1
    services.close()


def test_grants_narrowed_while_running_are_followed_on_the_401_retry(
    tmp_path, fake_okta, fake_slack, clock, key_file, caplog
):
    private, public = key_file
    fake_okta.register_oauth_client(CLIENT_ID, public)  # everything granted at first
    services = oauth_services(tmp_path, fake_okta, fake_slack, clock, private)
    campaign_id = fake_okta.generate_campaign(reviews=3, reviewers=1)
    services.okta.get_campaign(campaign_id)
    # An admin takes the optional grants away, and the token with them.
    fake_okta.register_oauth_client(CLIENT_ID, public, scopes=REQUIRED_SCOPES.split())
    fake_okta.revoke_bearer_tokens()
    with caplog.at_level(logging.WARNING):
        assert services.okta.get_campaign(campaign_id)["id"] == campaign_id
    assert requested_scopes(fake_okta) == [SCOPES, SCOPES, REQUIRED_SCOPES]
    assert len(warnings(caplog)) == 1
    services.close()
