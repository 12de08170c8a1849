"""Okta: the Governance API and System Log client, its transport, and OAuth."""

from app.integrations.okta.client import LOG_PAGE_SIZE, OktaClient
from app.integrations.okta.errors import (
    OktaAuthError,
    OktaError,
    OktaFilterRejected,
    OktaNotFound,
    OktaUnavailable,
)
from app.integrations.okta.transport import SSWSAuth, build_http_client

__all__ = [
    "LOG_PAGE_SIZE",
    "OktaAuthError",
    "OktaClient",
    "OktaError",
    "OktaFilterRejected",
    "OktaNotFound",
    "OktaUnavailable",
    "SSWSAuth",
    "build_http_client",
]
