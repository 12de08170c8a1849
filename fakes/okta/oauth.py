"""The fake org's OAuth token endpoint: client credentials with a private_key_jwt assertion.

An API service app is registered by its public key (``FakeOkta.register_oauth_client``).
``POST /oauth2/v1/token`` then checks the signed client assertion as Okta does (signed by the
registered key with an algorithm Okta allows for it, audience = the token endpoint on the org
host, issuer = the client id, ``exp``/``iat``/``jti``/``sub`` present) and issues an opaque
access token, which the API accepts as ``Authorization: Bearer``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from fakes.httpserver import Request, Response
from fakes.okta.responses import json_response

__all__ = ["TOKEN_PATH", "ClientKey", "TokenEndpoint", "client_key", "issue_token"]

TOKEN_PATH = "/oauth2/v1/token"
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# A registered client's public key, and the algorithms Okta verifies with that key.
ClientKey = tuple[Any, list[str]]


def client_key(public_key_pem: str) -> ClientKey:
    """The key an API service app registers, and the algorithms Okta accepts it to sign."""
    key = load_pem_public_key(public_key_pem.encode())
    # As Okta: RSA keys sign RS256/384/512; an EC key only the ES algorithm of its curve.
    if isinstance(key, rsa.RSAPublicKey):
        algorithms = ["RS256", "RS384", "RS512"]
    elif isinstance(key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
        algorithms = [curves[key.curve.name]]
    else:
        raise ValueError(f"Okta accepts RSA and EC keys, not {type(key).__name__}")
    return key, algorithms


def issue_token(
    request: Request,
    clients: dict[str, ClientKey],
    audience: str,
    granted: dict[str, set[str]] | None = None,
) -> tuple[Response, str | None]:
    """Answer one token request: the response, and the access token it issued (or None).

    ``audience`` is the token endpoint's URL on the org host, which the assertion must name.
    ``granted``: client id -> the scopes granted to it; as Okta, a request naming any
    other scope is refused with ``invalid_scope`` (no entry: everything is granted).
    """
    form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
    client_id = form.get("client_id") or ""
    assertion = form.get("client_assertion", "")
    try:
        client_id = client_id or jwt.decode(assertion, options={"verify_signature": False})["iss"]
        key, algorithms = clients[client_id]
        jwt.decode(
            assertion,
            key,
            algorithms=algorithms,
            audience=audience,
            issuer=client_id,
            options={"require": ["exp", "iat", "jti", "sub"]},
        )
    except (KeyError, jwt.PyJWTError) as exc:
        body: dict[str, Any] = {"error": "invalid_client", "error_description": str(exc)[:200]}
        return json_response(401, body), None
    if form.get("grant_type") != "client_credentials" or (
        form.get("client_assertion_type") != _JWT_BEARER
    ):
        return json_response(400, {"error": "unsupported_grant_type"}), None
    allowed = (granted or {}).get(client_id)
    refused = sorted(set(form.get("scope", "").split()) - allowed) if allowed is not None else []
    if refused:
        description = "The following scopes are not allowed: " + ", ".join(refused)
        return json_response(
            400, {"error": "invalid_scope", "error_description": description}
        ), None
    token = f"fake-access-{secrets.token_hex(8)}"
    body = {
        "token_type": "Bearer",
        "expires_in": 3600,
        "access_token": token,
        "scope": form.get("scope", ""),
    }
    return json_response(200, body), token


class TokenEndpoint:
    """The org's registered service apps, their grants, and the tokens it issued."""

    def __init__(self) -> None:
        self.clients: dict[str, ClientKey] = {}
        self.granted: dict[str, set[str]] = {}
        self.bearer_tokens: set[str] = set()
        self.requests = 0

    def register(self, client_id: str, public_key_pem: str, scopes: Any = None) -> None:
        self.clients[client_id] = client_key(public_key_pem)
        if scopes is not None:
            self.granted[client_id] = set(scopes)

    def answer(self, request: Request, audience: str) -> Response:
        """``POST /oauth2/v1/token``: client credentials with a private_key_jwt assertion."""
        self.requests += 1
        response, token = issue_token(request, self.clients, audience, self.granted)
        if token is not None:
            self.bearer_tokens.add(token)
        return response
