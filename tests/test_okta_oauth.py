"""OAuth 2.0 client credentials with private_key_jwt, against the fake org's token endpoint.

The fake org verifies each assertion's signature with the registered public key,
accepting only the algorithms Okta pairs with that kind of key: a key signed
with the wrong algorithm fails here as it would against a real org.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from app.config import SettingsError
from app.integrations.okta import OktaAuthError
from app.integrations.okta.oauth import OAuthError
from app.ops.cli import cli
from app.pipeline.on_launch import launch_campaign
from app.services import Services
from tests.harness import UNPACED
from tests.helpers import make_settings

CLIENT_ID = "0oaServiceApp00000000"
TOKEN_PATH = "/oauth2/v1/token"
PKCS1_OR_SEC1 = serialization.PrivateFormat.TraditionalOpenSSL
PKCS8 = serialization.PrivateFormat.PKCS8


def private_pem(key, fmt=PKCS8, encryption=None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, fmt, encryption or serialization.NoEncryption()
    )


def public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def sent_assertion(fake_okta) -> str:
    """The client assertion of the last token request the fake org received."""
    form = parse_qs(fake_okta.requests_to(TOKEN_PATH, "POST")[-1].body.decode())
    return form["client_assertion"][0]


def oauth_settings(tmp_path, fake_okta, fake_slack, key_file: Path, **okta):
    return make_settings(
        tmp_path,
        fake_okta,
        fake_slack,
        okta={"api_token": "", "client_id": CLIENT_ID, "private_key_file": str(key_file), **okta},
    ).require("okta")


@pytest.fixture
def key_pair(tmp_path):
    key = rsa_key()
    private = tmp_path / "service-app.pem"
    private.write_bytes(private_pem(key))
    return private, public_pem(key)


@pytest.fixture
def oauth_services(tmp_path, fake_okta, fake_slack, clock, key_pair):
    private, public = key_pair
    fake_okta.register_oauth_client(CLIENT_ID, public)
    services = Services.build(
        oauth_settings(tmp_path, fake_okta, fake_slack, private), clock=clock, sleep=clock.sleep
    )
    yield services
    services.close()


def test_launch_works_with_a_cached_access_token(oauth_services, fake_okta, fake_slack):
    campaign_id = fake_okta.generate_campaign(reviews=450, reviewers=5)
    summary = launch_campaign(oauth_services, campaign_id)
    assert summary.reviews == 450
    assert fake_okta.oauth.requests == 1  # one token for the campaign and 3 pages
    assert all(
        r.headers["authorization"].startswith("Bearer ") for r in fake_okta.requests_to("/gov")
    )


def test_a_revoked_token_is_replaced_once(oauth_services, fake_okta):
    campaign_id = fake_okta.generate_campaign(reviews=3, reviewers=1)
    oauth_services.okta.get_campaign(campaign_id)
    fake_okta.revoke_bearer_tokens()
    oauth_services.okta.get_campaign(campaign_id)
    assert fake_okta.oauth.requests == 2


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


# -- every key Okta accepts signs with its own algorithm --------------------------------


def ec_key(curve: ec.EllipticCurve) -> Callable[[], ec.EllipticCurvePrivateKey]:
    return lambda: ec.generate_private_key(curve)


KEYS = [
    # (id, make the key, PEM format, the file's PEM label, expected JWS alg)
    ("rsa-pkcs1", rsa_key, PKCS1_OR_SEC1, "RSA PRIVATE KEY", "RS256"),
    ("rsa-pkcs8", rsa_key, PKCS8, "PRIVATE KEY", "RS256"),
    ("ec-p256-sec1", ec_key(ec.SECP256R1()), PKCS1_OR_SEC1, "EC PRIVATE KEY", "ES256"),
    ("ec-p256-pkcs8", ec_key(ec.SECP256R1()), PKCS8, "PRIVATE KEY", "ES256"),
    ("ec-p384-pkcs8", ec_key(ec.SECP384R1()), PKCS8, "PRIVATE KEY", "ES384"),
    ("ec-p521-sec1", ec_key(ec.SECP521R1()), PKCS1_OR_SEC1, "EC PRIVATE KEY", "ES512"),
    ("ec-p521-pkcs8", ec_key(ec.SECP521R1()), PKCS8, "PRIVATE KEY", "ES512"),
]


@pytest.mark.parametrize(
    ("make_key", "fmt", "label", "alg"),
    [pytest.param(*case[1:], id=case[0]) for case in KEYS],
)
def test_each_kind_of_key_launches_a_campaign_signed_with_its_algorithm(
    tmp_path, fake_okta, fake_slack, clock, make_key, fmt, label, alg
):
    key = make_key()
    key_file = tmp_path / "service-app.pem"
    key_file.write_bytes(private_pem(key, fmt))
    assert key_file.read_text().startswith(f"-----BEGIN {label}-----")  # the format claimed
    fake_okta.register_oauth_client(CLIENT_ID, public_pem(key))
    settings = oauth_settings(tmp_path, fake_okta, fake_slack, key_file)
    services = Services.build(settings, clock=clock, sleep=clock.sleep)
    try:
        campaign_id = fake_okta.generate_campaign(reviews=3, reviewers=1)
        summary = launch_campaign(services, campaign_id)
    finally:
        services.close()
    assert summary.reviews == 3
    assert fake_okta.oauth.requests == 1
    header = jwt.get_unverified_header(sent_assertion(fake_okta))
    assert header["alg"] == alg
    assert "kid" not in header  # only when configured


def _ec_key_pem() -> tuple[bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    return private_pem(key, PKCS1_OR_SEC1), public_pem(key)


# What key files look like after a trip through a Windows editor, a secret store or openssl.
MANGLED: dict[str, Callable[[bytes], bytes]] = {
    "crlf-and-blank-lines": lambda pem: b"\r\n\r\n" + pem.replace(b"\n", b"\r\n") + b"\r\n",
    "surrounding-spaces": lambda pem: b"  \n\t" + pem + b"   \n\n",
    "utf8-bom": lambda pem: b"\xef\xbb\xbf" + pem,
    # `openssl ecparam -name prime256v1 -genkey` writes the curve's parameters first.
    "ecparam-block-first": lambda pem: (
        b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n" + pem
    ),
}


@pytest.mark.parametrize("mangle", list(MANGLED.values()), ids=list(MANGLED))
def test_a_key_file_with_stray_whitespace_still_works(
    tmp_path, fake_okta, fake_slack, clock, mangle
):
    pem, public = _ec_key_pem()
    key_file = tmp_path / "service-app.pem"
    key_file.write_bytes(mangle(pem))
    fake_okta.register_oauth_client(CLIENT_ID, public)
    services = Services.build(oauth_settings(tmp_path, fake_okta, fake_slack, key_file))
    try:
        campaign_id = fake_okta.generate_campaign(reviews=2, reviewers=1)
        assert services.okta.get_campaign(campaign_id)["id"] == campaign_id
    finally:
        services.close()
    assert jwt.get_unverified_header(sent_assertion(fake_okta))["alg"] == "ES256"


def test_the_key_id_goes_in_the_assertion_header(tmp_path, fake_okta, fake_slack, key_pair):
    private, public = key_pair
    fake_okta.register_oauth_client(CLIENT_ID, public)
    settings = oauth_settings(
        tmp_path, fake_okta, fake_slack, private, private_key_id="certnotify-2026"
    )
    services = Services.build(settings)
    try:
        services.okta.get_campaign(fake_okta.generate_campaign(reviews=1, reviewers=1))
    finally:
        services.close()
    header = jwt.get_unverified_header(sent_assertion(fake_okta))
    assert header["kid"] == "certnotify-2026"
    assert header["alg"] == "RS256"


# -- the fake org checks the algorithm as Okta does ---------------------------------------


@pytest.mark.parametrize(
    ("alg", "status"),
    [("RS256", 200), ("RS384", 200), ("RS512", 200), ("PS256", 401)],
)
def test_the_fake_org_accepts_only_the_algorithms_okta_pairs_with_the_key(fake_okta, alg, status):
    key = rsa_key()
    fake_okta.register_oauth_client(CLIENT_ID, public_pem(key))
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "aud": f"{fake_okta.url}{TOKEN_PATH}",
        "iss": CLIENT_ID,
        "sub": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "jti": "once",
    }
    # PS256 is a valid signature by the right key: refused only for its algorithm.
    answer = httpx.post(
        f"{fake_okta.url}{TOKEN_PATH}",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": jwt.encode(claims, key, algorithm=alg),
        },
    )
    assert answer.status_code == status, answer.text


def test_the_fake_org_refuses_an_hmac_assertion_keyed_with_the_public_key(fake_okta):
    # The classic algorithm-confusion forgery: HS256 with the public PEM as the secret.
    key = rsa_key()
    public = public_pem(key)
    fake_okta.register_oauth_client(CLIENT_ID, public)
    now = int(datetime.now(UTC).timestamp())
    claims = {"aud": f"{fake_okta.url}{TOKEN_PATH}", "iss": CLIENT_ID, "sub": CLIENT_ID}
    claims |= {"iat": now, "exp": now + 300, "jti": "forged"}

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        + b"."
        + b64(json.dumps(claims).encode())
    )
    signature = hmac.new(public.encode(), signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + b64(signature)).decode()
    answer = httpx.post(
        f"{fake_okta.url}{TOKEN_PATH}",
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": forged,
        },
    )
    assert answer.status_code == 401


# -- keys Okta would refuse stop start-up with one line -------------------------------------


def _certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "certnotify")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def _der() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, PKCS8, serialization.NoEncryption()
    )


BAD_KEYS: dict[str, tuple[Callable[[], bytes], str]] = {
    "ed25519": (
        lambda: private_pem(ed25519.Ed25519PrivateKey.generate()),
        "Okta does not accept Ed25519 keys; use an RSA (2048+ bits) or EC P-256/P-384/P-521 key",
    ),
    "ec-secp256k1": (
        lambda: private_pem(ec.generate_private_key(ec.SECP256K1())),
        "Okta does not accept EC keys on curve secp256k1",
    ),
    "rsa-1024": (
        lambda: private_pem(rsa_key(1024), PKCS1_OR_SEC1),
        "a 1024-bit RSA key is too short",
    ),
    "encrypted-pkcs8": (
        lambda: private_pem(
            ec.generate_private_key(ec.SECP256R1()),
            encryption=serialization.BestAvailableEncryption(b"hunter22"),
        ),
        "the key is encrypted; certnotify needs it unencrypted",
    ),
    "encrypted-pkcs1": (
        lambda: private_pem(
            rsa_key(), PKCS1_OR_SEC1, serialization.BestAvailableEncryption(b"hunter22")
        ),
        "the key is encrypted",
    ),
    "public-key": (
        lambda: public_pem(rsa_key()).encode(),
        "not an RSA or EC private key in PEM format (the file holds a public key)",
    ),
    "certificate": (_certificate, "(the file holds a certificate)"),
    "der-not-pem": (_der, "not an RSA or EC private key in PEM format"),
    "garbage": (lambda: b"not a key at all\n", "not an RSA or EC private key in PEM format"),
    "empty": (lambda: b"", "the file is empty"),
    "only-whitespace": (lambda: b"\r\n  \n", "the file is empty"),
}


@pytest.mark.parametrize(("content", "reason"), list(BAD_KEYS.values()), ids=list(BAD_KEYS))
def test_an_unusable_key_file_stops_start_up_with_one_line(
    tmp_path, fake_okta, fake_slack, content, reason
):
    key_file = tmp_path / "service-app.pem"
    key_file.write_bytes(content())
    settings = oauth_settings(tmp_path, fake_okta, fake_slack, key_file)
    with pytest.raises(SettingsError) as raised:
        Services.build(settings)
    message = str(raised.value)
    assert message.startswith("okta.private_key_file: ")
    assert reason in message
    assert message.endswith("(set OKTA_PRIVATE_KEY_FILE)")
    assert "\n" not in message
    assert "hunter22" not in message
    # Refused while loading, before any request or any database file.
    assert fake_okta.requests == []
    assert not Path(settings.database.path).exists()


def test_a_key_file_that_cannot_be_read_is_one_line_too(tmp_path, fake_okta, fake_slack):
    # Settings.require() refuses a directory; Services.build() must too (a file removed
    # or made unreadable in between). Not chmod: the tests may run as root.
    okta = {"api_token": "", "client_id": CLIENT_ID, "private_key_file": str(tmp_path)}
    settings = make_settings(tmp_path, fake_okta, fake_slack, okta=okta)
    with pytest.raises(SettingsError, match=r"^okta\.private_key_file: cannot read the file: "):
        Services.build(settings)


# -- from the command line --------------------------------------------------------------------


@pytest.fixture
def oauth_env(tmp_path, fake_okta, fake_slack) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text("messages:\n  org_name: Acme\n" + UNPACED)
    environ = {
        "CERTNOTIFY_CONFIG": str(config),
        "CERTNOTIFY_DB": str(tmp_path / "cli.db"),
        "OKTA_ORG_URL": fake_okta.url,
        "OKTA_CLIENT_ID": CLIENT_ID,
        "OKTA_PRIVATE_KEY_FILE": str(tmp_path / "service-app.pem"),
        "SLACK_BOT_TOKEN": fake_slack.token,
        "SLACK_API_URL": fake_slack.url,
    }
    # The deployment's database exists (only serve, worker and migrate create it).
    assert CliRunner().invoke(cli, ["migrate"], env=environ).exit_code == 0
    return environ


def test_sync_with_a_bad_key_prints_one_line_and_exits_1(oauth_env, fake_okta):
    Path(oauth_env["OKTA_PRIVATE_KEY_FILE"]).write_bytes(
        private_pem(ed25519.Ed25519PrivateKey.generate())
    )
    # catch_exceptions=False: an escaping SettingsError would fail the test, not hide in it.
    result = CliRunner().invoke(cli, ["sync", "iciAnything"], env=oauth_env, catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output == (
        "Error: okta.private_key_file: Okta does not accept Ed25519 keys; use an RSA"
        " (2048+ bits) or EC P-256/P-384/P-521 key (set OKTA_PRIVATE_KEY_FILE)\n"
    )
    assert fake_okta.requests == []


def test_sync_with_an_ec_key_and_key_id_from_the_environment(oauth_env, fake_okta, fake_slack):
    key = ec.generate_private_key(ec.SECP384R1())
    Path(oauth_env["OKTA_PRIVATE_KEY_FILE"]).write_bytes(private_pem(key))
    fake_okta.register_oauth_client(CLIENT_ID, public_pem(key))
    campaign_id = fake_okta.generate_campaign(start=datetime.now(UTC), reviews=2, reviewers=1)
    fake_slack.generate_users(r["email"] for r in fake_okta.reviewers_of(campaign_id))
    env = {**oauth_env, "OKTA_PRIVATE_KEY_ID": "ec-2026"}
    result = CliRunner().invoke(cli, ["sync", campaign_id], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "sent=1 unmapped=0 failed=0" in result.output
    header = jwt.get_unverified_header(sent_assertion(fake_okta))
    assert (header["alg"], header["kid"]) == ("ES384", "ec-2026")


def test_test_message_needs_no_okta_credentials(oauth_env, fake_slack):
    # A Slack-only command builds an Okta client it never calls: no key is loaded.
    fake_slack.add_user("U0W0EF78PLZ", "ana.lopez@example.com", name="Ana Lopez")
    env = {k: v for k, v in oauth_env.items() if not k.startswith("OKTA_")}
    result = CliRunner().invoke(
        cli, ["test-message", "U0W0EF78PLZ"], env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert len(fake_slack.messages) == 1


def test_the_token_request_asks_for_every_scope_the_client_uses(oauth_services, fake_okta):
    campaign_id = fake_okta.generate_campaign(reviews=4, reviewers=2, group_reviews=2)
    group = next(r for r in fake_okta.reviews_of(campaign_id) if r["reviewerType"] == "GROUP")
    # A directory read works on the same Bearer token as the campaign reads.
    assert oauth_services.okta.group_name(group["reviewerGroupProfile"]["groupId"])
    form = parse_qs(fake_okta.requests_to(TOKEN_PATH, "POST")[-1].body.decode())
    assert form["scope"][0].split() == [
        "okta.governance.accessCertifications.read",
        "okta.logs.read",
        "okta.users.read",
        "okta.groups.read",
        "okta.apps.read",
    ]
