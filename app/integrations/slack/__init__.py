"""Slack: the gateway over slack_sdk, its pacing, its errors, the dry-run sender and the
directory (email -> Slack user)."""

from app.integrations.slack.dryrun import DryRunSlack
from app.integrations.slack.errors import (
    REQUIRED_SCOPES,
    SlackAuthError,
    SlackError,
    SlackNotAnAPI,
    SlackPermanentError,
    SlackTransientError,
)
from app.integrations.slack.gateway import Posted, SlackGateway, SlackMember, SlackSender
from app.integrations.slack.pacing import RateGate, build_web_client

__all__ = [
    "REQUIRED_SCOPES",
    "DryRunSlack",
    "Posted",
    "RateGate",
    "SlackAuthError",
    "SlackError",
    "SlackGateway",
    "SlackMember",
    "SlackNotAnAPI",
    "SlackPermanentError",
    "SlackSender",
    "SlackTransientError",
    "build_web_client",
]
