"""Are our Okta and Slack credentials accepted? Checked at start-up and every few minutes.

Wrong credentials must not look healthy until the first campaign fails. The worker
checks Slack (``auth.test``, and the scopes the token was granted against those the
code uses) and Okta (one cheap authenticated read) when it starts and every
``every_seconds``. A problem is written to the database, where ``/healthz`` and
``certnotify status`` read it as one line naming the setting to fix, and the work
that needs the refused service pauses (nothing is retried with a broken token, no
tries are used up). While a problem lasts the check runs again with a growing
backoff; when it passes, the problem is cleared and the work resumes by itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from app.db import Store
from app.integrations.okta import (
    OktaAuthError,
    OktaClient,
    OktaError,
    OktaNotFound,
    OktaUnavailable,
)
from app.integrations.slack import SlackAuthError, SlackError, SlackSender
from app.pipeline.admin_channel import AdminChannel
from app.pipeline.outbox import Outbox
from app.timeutil import Clock, iso

__all__ = [
    "OKTA_AUTH",
    "OKTA_DOWN",
    "SLACK_AUTH",
    "SLACK_DOWN",
    "CredentialCheck",
    "okta_setting",
]

log = logging.getLogger(__name__)

# State keys (kv table). *_AUTH: our credentials are refused (work pauses);
# *_DOWN: the service is unreachable or failing (work waits on its own backoff).
SLACK_AUTH = "slack_auth_error"
OKTA_AUTH = "okta_auth_error"
SLACK_DOWN = "slack_unavailable"
OKTA_DOWN = "okta_unavailable"

CHECK_EVERY_SECONDS = 300.0
RETRY_FIRST_SECONDS = 30.0
RETRY_MAX_SECONDS = 900.0


def okta_setting(settings: Settings) -> str:
    """The setting an operator fixes when Okta refuses us."""
    if settings.okta.api_token.get_secret_value():
        return "OKTA_API_TOKEN"
    return "OKTA_CLIENT_ID / OKTA_PRIVATE_KEY_FILE"


@dataclass(frozen=True)
class Problem:
    setting: str
    error: str
    message: str

    def as_state(self, now_iso: str) -> dict[str, Any]:
        return {
            "setting": self.setting,
            "error": self.error,
            "message": self.message,
            "at": now_iso,
        }


class CredentialCheck:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        okta: OktaClient,
        slack: SlackSender,
        clock: Clock,
        *,
        outbox: Outbox | None = None,
        admin: AdminChannel | None = None,
        every_seconds: float = CHECK_EVERY_SECONDS,
    ) -> None:
        self.admin = admin
        self.settings = settings
        self.store = store
        self.okta = okta
        self.slack = slack
        self.outbox = outbox
        self.clock = clock
        self.every_seconds = every_seconds
        self._next = 0.0  # due at once: the first check runs at start-up
        self._failures = 0

    def due(self) -> bool:
        return self.clock().timestamp() >= self._next

    def problem_reported(self) -> None:
        """The work hit a refused credential: check again after the current backoff."""
        self._next = min(self._next, self.clock().timestamp() + self._backoff())

    def _backoff(self) -> float:
        return float(min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** max(0, self._failures - 1)))

    def run(self) -> list[str]:
        """Check both services now; record what is wrong; returns the problem lines."""
        problems: list[str] = []
        for key, check, circuit in (
            (SLACK_AUTH, self._check_slack, self.outbox),
            (OKTA_AUTH, self._check_okta, self.okta),
        ):
            try:
                problem, unreachable = check()
            except Exception:  # a bug in a check must not stop the worker
                log.exception("credential check failed")
                problem, unreachable = None, None
            now = self.clock()
            if unreachable is None or problem is not None:
                self.record(key, problem.as_state(iso(now)) if problem else None)
            # Unreachable is not a credential problem: the work waits behind the same
            # outage circuit its own calls use, and the worker says so on /healthz.
            if circuit is not None:
                if unreachable is not None:
                    circuit.unreachable(unreachable)
                elif problem is None:
                    circuit.answered()
            if problem:
                problems.append(problem.message)
        if problems:
            self._failures += 1
            self._next = self.clock().timestamp() + self._backoff()
            for line in problems:
                log.error("credential check: %s", line)
        else:
            self._failures = 0
            self._next = self.clock().timestamp() + self.every_seconds
            log.debug("credential check: okta and slack accept our credentials")
        return problems

    def record(self, key: str, value: dict[str, Any] | None) -> None:
        """A credential problem found (``value``) or gone (None); the admin channel hears
        when one begins or ends."""
        current = self.store.state.get(key)
        if value is None:
            if current:
                self.store.state.set(key, None, self.clock())
                log.info("%s cleared", key.replace("_", " "))
                if self.admin is not None:
                    self.admin.credentials(key, current, None)
            return
        if current:
            # The same problem still: keep when it began (the admin channel keys on it).
            value = {**value, "at": current.get("at", value.get("at"))}
        if not current or current.get("message") != value.get("message"):
            self.store.state.set(key, value, self.clock())
            if not current and self.admin is not None:
                self.admin.credentials(key, None, value)

    def _check_slack(self) -> tuple[Problem | None, str | None]:
        if self.settings.slack.dry_run:
            return None, None
        try:
            missing = self.slack.check_auth()
        except SlackAuthError as exc:
            return Problem(
                "SLACK_BOT_TOKEN", exc.code, f"SLACK_BOT_TOKEN rejected: {exc.code}"
            ), None
        except SlackError as exc:
            return None, exc.code
        if missing:
            scopes = ", ".join(missing)
            return (
                Problem(
                    "SLACK_BOT_TOKEN",
                    "missing_scope",
                    f"SLACK_BOT_TOKEN lacks the scopes {scopes} (add them to the Slack app "
                    "and reinstall it)",
                ),
                None,
            )
        return None, None

    def _check_okta(self) -> tuple[Problem | None, str | None]:
        setting = okta_setting(self.settings)
        try:
            self.okta.probe()
        except OktaAuthError as exc:
            return Problem(setting, _short(exc), f"{setting} rejected: {_short(exc)}"), None
        except OktaNotFound:
            return (
                Problem(
                    "OKTA_ORG_URL",
                    "not_found",
                    f"OKTA_ORG_URL: {self.settings.okta.org_url} has no Identity Governance "
                    "API (HTTP 404); check the org URL",
                ),
                None,
            )
        except OktaUnavailable as exc:
            return None, str(exc)
        except OktaError as exc:
            return Problem(setting, _short(exc), f"okta refused the check: {_short(exc)}"), None
        return None, None


def _short(exc: Exception) -> str:
    return str(exc).replace("okta GET /governance/api/v1/campaigns: ", "")[:200]
