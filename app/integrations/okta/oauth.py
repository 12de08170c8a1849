"""OAuth 2.0 client credentials with a ``private_key_jwt`` assertion, as an ``httpx.Auth``.

An Okta API service app authenticates to the org authorization server
(``{org}/oauth2/v1/token``) with a short-lived JWT signed by its private key and
gets a Bearer access token for the Governance API scopes. The token is cached
until shortly before it expires and fetched again on a 401. Call sites do not
change: ``OktaClient`` just gets a different ``auth``.

The key is loaded once, at start-up, and the JWS algorithm follows from the key
itself (never from the PEM header text: a PKCS#8 file says only "PRIVATE KEY"
whatever it holds). A key Okta would refuse stops start-up with one
``SettingsError`` line instead of failing at the first token request.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator
from pathlib import Path

import httpx
import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.config import SettingsError
from app.integrations.okta import OktaAuthError

__all__ = ["REQUIRED_SCOPES", "SCOPES", "OAuthError", "PrivateKeyJWTAuth", "load_signing_key"]

log = logging.getLogger(__name__)

# Campaigns and reviews; the System Log (events missed while certnotify was down); users
# (reviewers' managers), groups (group reviewers' members, group names) and apps (labels).
# The org authorization server checks every requested scope against the service app's
# grants, so each scope named here must be granted to the app (README, "Okta API access").
# The first two are required; without the other three, managers are not told, group
# members not reached and applications not named (a service app granted only the first
# two, as before issue 13, gets a token for those two: see _narrowed).
REQUIRED_SCOPES = "okta.governance.accessCertifications.read okta.logs.read"
SCOPES = REQUIRED_SCOPES + " okta.users.read okta.groups.read okta.apps.read"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# Okta accepts RS256/384/512 and ES256/384/512 for private_key_jwt assertions
# (developer.okta.com/docs/guides/implement-oauth-for-okta-serviceapp/main/). JWA
# (RFC 7518) ties each ES algorithm to one curve, so an EC key's curve decides; for
# RSA any of the three works, and RS256 is the one Okta's own examples use.
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
MIN_RSA_BITS = 2048
_SETTING = "okta.private_key_file"
_SET_IT = "(set OKTA_PRIVATE_KEY_FILE)"
_ACCEPTED = f"use an RSA ({MIN_RSA_BITS}+ bits) or EC P-256/P-384/P-521 key"


class OAuthError(OktaAuthError):
    """The token endpoint refused us: like a 401 from the API, nothing works until fixed."""


def load_signing_key(path: str) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, str]:
    """The service app's private key from a PEM file and the JWS algorithm it signs with.

    RSA as PKCS#1 or PKCS#8, EC as SEC1 or PKCS#8; surrounding whitespace, CRLF
    line endings and a leading "EC PARAMETERS" block (what ``openssl ecparam
    -genkey`` writes) are fine. Anything else raises ``SettingsError``.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(f"{_SETTING}: cannot read the file: {exc.strerror} {_SET_IT}") from None
    if not data.strip():
        raise SettingsError(f"{_SETTING}: the file is empty {_SET_IT}")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # cryptography's way of saying "encrypted, and no password given"
        raise SettingsError(
            f"{_SETTING}: the key is encrypted; certnotify needs it unencrypted "
            "(openssl pkey -in KEY -out PLAIN) in a file only it can read "
            f"{_SET_IT}"
        ) from None
    except ValueError:
        # The commonest mix-up is the other half of the pair: name it.
        found = (
            " (the file holds a public key)"
            if b"PUBLIC KEY-----" in data
            else " (the file holds a certificate)"
            if b"CERTIFICATE-----" in data
            else ""
        )
        raise SettingsError(
            f"{_SETTING}: not an RSA or EC private key in PEM format{found} {_SET_IT}"
        ) from None
    except UnsupportedAlgorithm:  # well-formed, but a key type or curve OpenSSL lacks
        raise SettingsError(
            f"{_SETTING}: an unsupported kind of key; {_ACCEPTED} {_SET_IT}"
        ) from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SettingsError(
                f"{_SETTING}: a {key.key_size}-bit RSA key is too short; {_ACCEPTED} {_SET_IT}"
            )
        return key, "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in EC_ALGORITHMS:
            raise SettingsError(
                f"{_SETTING}: Okta does not accept EC keys on curve {key.curve.name};"
                f" {_ACCEPTED} {_SET_IT}"
            )
        return key, EC_ALGORITHMS[key.curve.name]
    kind = type(key).__name__.removesuffix("PrivateKey")
    raise SettingsError(f"{_SETTING}: Okta does not accept {kind} keys; {_ACCEPTED} {_SET_IT}")


class PrivateKeyJWTAuth(httpx.Auth):
    def __init__(
        self,
        *,
        org_url: str,
        client_id: str,
        private_key_file: str,
        timeout: float = 10.0,
        key_id: str | None = None,
        scopes: str = SCOPES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token_url = f"{org_url.rstrip('/')}/oauth2/v1/token"
        self.client_id = client_id
        self._key, self.algorithm = load_signing_key(private_key_file)
        self.key_id = key_id
        self.scopes = scopes
        self._clock = clock
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PrivateKeyJWTAuth(client_id={self.client_id!r}, key=<redacted>)"

    def _assertion(self) -> str:
        now = int(self._clock())
        headers = {"kid": self.key_id} if self.key_id else None
        claims = {
            "aud": self.token_url,
            "iss": self.client_id,
            "sub": self.client_id,
            "iat": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=headers)

    def _token_request(self) -> httpx.Request:
        return httpx.Request(
            "POST",
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "scope": self.scopes,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self._assertion(),
            },
            headers={"Accept": "application/json"},
        )

    def _narrowed(self, response: httpx.Response) -> bool:
        """Okta refused a scope the app was never granted (``invalid_scope``): ask again
        for the required ones only, once, and say what is missing."""
        if response.status_code != 400 or self.scopes == REQUIRED_SCOPES:
            return False
        response.read()
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            return False
        if error != "invalid_scope":
            return False
        missing = " ".join(sorted(set(self.scopes.split()) - set(REQUIRED_SCOPES.split())))
        log.warning(
            "okta refused the optional scopes (%s): grant them to the service app so "
            "managers are told, group members reached and applications named",
            missing,
        )
        self.scopes = REQUIRED_SCOPES
        return True

    def _store_token(self, response: httpx.Response) -> None:
        response.read()
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error", "") if isinstance(body, dict) else ""
            detail = body.get("error_description", "") if isinstance(body, dict) else ""
            if "dpop" in f"{error} {detail}".lower():
                detail += (
                    " (this service app requires DPoP; turn off 'Require Demonstrating"
                    " Proof of Possession' for it, or use OKTA_API_TOKEN)"
                )
            raise OAuthError(f"okta token endpoint: HTTP {response.status_code} {error} {detail}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError("okta token endpoint: no access_token in the answer")
        expires_in = float(body.get("expires_in") or 3600)
        self._token = token
        self._expires = self._clock() + max(expires_in - 60, 30)

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if self._token is None or self._clock() >= self._expires:
                answer = yield self._token_request()
                if self._narrowed(answer):
                    answer = yield self._token_request()
                self._store_token(answer)
            token = self._token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked or rotated early: one fresh token, one more try.
            with self._lock:
                answer = yield self._token_request()
                if self._narrowed(answer):  # grants taken away while we ran
                    answer = yield self._token_request()
                self._store_token(answer)
                token = self._token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
