"""OAuth 2.0 client credentials with a ``private_key_jwt`` assertion, as an ``httpx.Auth``.

An Okta API service app authenticates to the org authorization server
(``{org}/oauth2/v1/token``) with a short-lived JWT signed by its private key and
gets a Bearer access token for the Governance API scopes. The token is cached
until shortly before it expires and fetched again on a 401. Call sites do not
change: ``OktaClient`` just gets a different ``auth``.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Generator
from pathlib import Path

import httpx
import jwt

from app.okta import OktaAuthError

__all__ = ["SCOPES", "OAuthError", "PrivateKeyJWTAuth"]

SCOPES = "okta.governance.accessCertifications.read"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class OAuthError(OktaAuthError):
    """The token endpoint refused us: like a 401 from the API, nothing works until fixed."""


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
        self._key = Path(private_key_file).read_text(encoding="utf-8")
        self._algorithm = "ES256" if "EC PRIVATE KEY" in self._key else "RS256"
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
        return jwt.encode(claims, self._key, algorithm=self._algorithm, headers=headers)

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
                self._store_token((yield self._token_request()))
            token = self._token
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked or rotated early: one fresh token, one more try.
            with self._lock:
                self._store_token((yield self._token_request()))
                token = self._token
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
