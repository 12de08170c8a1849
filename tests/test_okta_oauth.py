"""OAuth 2.0 client credentials with private_key_jwt, against the fake org's token endpoint."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.launch import launch_campaign
from app.okta import OktaAuthError
from app.okta_oauth import OAuthError
from app.services import Services
from tests.helpers import make_settings

CLIENT_ID = "0oaServiceApp00000000"


@pytest.fixture
def key_pair(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "service-app.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public.decode()


@pytest.fixture
def oauth_services(tmp_path, fake_okta, fake_slack, clock, key_pair):
    private, public = key_pair
    fake_okta.register_oauth_client(CLIENT_ID, public)
    settings = make_settings(
        tmp_path,
        fake_okta,
        fake_slack,
        okta={"api_token": "", "client_id": CLIENT_ID, "private_key_file": str(private)},
    ).require("okta")
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    yield services
    services.close()


def test_launch_works_with_a_cached_access_token(oauth_services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=450, reviewers=5)
    summary = launch_campaign(oauth_services, campaign_id)
    assert summary.reviews == 450
    assert fake_okta.token_requests == 1  # one token for the campaign and 3 pages
    assert all(
        r.headers["authorization"].startswith("Bearer ") for r in fake_okta.requests_to("/gov")
    )


def test_a_revoked_token_is_replaced_once(oauth_services, fake_okta):
    campaign_id = fake_okta.generate_campaign(reviews=3, reviewers=1)
    oauth_services.okta.get_campaign(campaign_id)
    fake_okta.revoke_bearer_tokens()
    oauth_services.okta.get_campaign(campaign_id)
    assert fake_okta.token_requests == 2


def test_an_unknown_key_is_refused_with_a_clear_error(tmp_path, fake_okta, fake_slack, key_pair):
    private, _ = key_pair  # never registered with the org
    settings = make_settings(
        tmp_path,
        fake_okta,
        fake_slack,
        okta={"api_token": "", "client_id": CLIENT_ID, "private_key_file": str(private)},
    )
    services = Services.build(settings)
    with pytest.raises(OAuthError, match="HTTP 401 invalid_client"):
        services.okta.get_campaign("iciAnything")
    services.close()


def test_without_oauth_a_bearer_token_is_rejected_as_auth_error(services, fake_okta):
    # Sanity check of the fake: SSWS works, a wrong token is a 401 -> OktaAuthError.
    services.okta.http.headers["Authorization"] = "Bearer nope"
    services.okta.http.auth = None
    with pytest.raises(OktaAuthError):
        services.okta.get_campaign("iciAnything")
