"""Slack's answers sorted by what to do next.

``ok: false`` and HTTP errors become three kinds of exception: ``SlackAuthError`` (our
token, scopes or API URL are wrong: stop and report, don't burn the queue),
``SlackPermanentError`` (this recipient can't be reached: record, never retry) and
``SlackTransientError`` (Slack is down or limiting us: try again later).
"""

from __future__ import annotations

import contextlib

from slack_sdk.errors import SlackApiError

__all__ = [
    "AUTH_ERRORS",
    "REQUIRED_SCOPES",
    "SlackAuthError",
    "SlackError",
    "SlackNotAnAPI",
    "SlackPermanentError",
    "SlackTransientError",
    "classify",
]

# ``account_inactive`` is about *our* token (Slack: "Authentication token is for a
# deleted user or workspace when using a bot token"), so it stops the queue.
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
    }
)
# The bot scopes the code uses: chat:write (chat.postMessage to a user id opens the DM by
# itself), users:read (users.list), users:read.email (emails in users.list, lookupByEmail).
REQUIRED_SCOPES = ("chat:write", "users:read", "users:read.email")
TRANSIENT_ERRORS = frozenset(
    {
        "rate_limited",
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)


class SlackError(Exception):
    # The setting an operator fixes when this error is about our own set-up.
    setting = "SLACK_BOT_TOKEN"

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}{': ' + detail if detail else ''}")
        self.code = code


class SlackAuthError(SlackError):
    """Our token or its scopes are broken. Nothing can be sent until an admin fixes it."""


class SlackNotAnAPI(SlackAuthError):
    """Whatever answers at SLACK_API_URL is not the Slack Web API: nothing can be sent."""

    setting = "SLACK_API_URL"


class SlackPermanentError(SlackError):
    """This recipient cannot be messaged (no such user, DMs disabled...). Do not retry."""


class SlackTransientError(SlackError):
    def __init__(self, code: str, detail: str = "", retry_after: float = 0.0) -> None:
        super().__init__(code, detail)
        self.retry_after = retry_after


def classify(exc: SlackApiError) -> SlackError:
    response = exc.response
    status = getattr(response, "status_code", 200)
    code = ""
    try:
        code = str(response.get("error") or "")
        slack_shaped = "ok" in response.data
    except (AttributeError, TypeError, ValueError):
        code, slack_shaped = "", False
    if not slack_shaped and status != 429 and 400 <= status < 500:
        # Every Slack Web API answer says "ok"; a 4xx without it is some other server.
        return SlackNotAnAPI(
            f"http_{status}", "the answer is not from the Slack Web API; check SLACK_API_URL"
        )
    if status == 429 or code in ("ratelimited", "rate_limited"):
        retry_after = 1.0
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            retry_after = float(
                response.headers.get("Retry-After") or response.headers.get("retry-after") or 1
            )
        return SlackTransientError(code or "ratelimited", retry_after=retry_after)
    if status >= 500:
        # Slack's edge answers 5xx with an HTML or text body, which the SDK reports as
        # "Received a response in a non-JSON format": the status says more.
        return SlackTransientError(f"http_{status}")
    if code in AUTH_ERRORS:
        return SlackAuthError(code)
    if code in TRANSIENT_ERRORS:
        return SlackTransientError(code)
    return SlackPermanentError(code or f"http_{status}")
