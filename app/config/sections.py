"""The settings, section by section, validated by pydantic (``Settings``)."""

from __future__ import annotations

import ipaddress
import re
import string
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from app.config.reminders import EscalationSettings, ReminderSettings
from app.config.values import (
    DEFAULT_SLACK_PACE,
    MIN_HOOK_SECRET_LENGTH,
    SettingsError,
    check_service_url,
    check_zone,
    clean_token,
    email_aliases,
    missing,
)

__all__ = [
    "AdminSettings",
    "CampaignSettings",
    "DatabaseSettings",
    "LoggingSettings",
    "MessageSettings",
    "OktaSettings",
    "ReassignSettings",
    "ReminderSettings",
    "RetentionSettings",
    "ServerSettings",
    "Settings",
    "SlackSettings",
    "WorkerSettings",
]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OktaSettings(_Section):
    org_url: str = ""
    api_token: SecretStr = SecretStr("")
    client_id: str = ""
    private_key_file: str = ""
    private_key_id: str = ""
    hook_secret: SecretStr = SecretStr("")
    hook_secret_header: str = "Authorization"  # noqa: S105 - a header name, not a secret
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_retries: int = Field(4, ge=0, le=10)
    max_rate_limit_wait_seconds: float = Field(65.0, ge=1, le=600)
    backoff_seconds: float = Field(1.0, ge=0, le=60)

    @field_validator("org_url")
    @classmethod
    def _org_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value:
            check_service_url(value)
            if urlsplit(value).path not in ("", "/"):
                raise ValueError("must be the org's base URL, without a path")
        return value

    _tokens = field_validator(
        "api_token", "client_id", "private_key_id", "hook_secret", mode="before"
    )(clean_token)

    @field_validator("private_key_file", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("hook_secret_header")
    @classmethod
    def _header(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9-]+", value):
            raise ValueError("must be an HTTP header name such as Authorization")
        return value


class SlackSettings(_Section):
    bot_token: SecretStr = SecretStr("")
    api_url: str = "https://slack.com/api/"
    timeout_seconds: float = Field(15.0, gt=0, le=120)
    max_retries: int = Field(5, ge=0, le=20)
    backoff_seconds: float = Field(0.5, ge=0, le=30)
    directory_max_age_hours: float = Field(24.0, ge=0)
    sweep_min_unknown: int = Field(20, ge=1)
    post_concurrency: int = Field(1, ge=1, le=16)
    calls_per_minute: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_SLACK_PACE))
    dry_run: bool = False
    # Okta email -> the Slack email or user id to use, for people whose addresses differ;
    # or the path of a YAML file holding that mapping.
    email_aliases: dict[str, str] = Field(default_factory=dict)

    _tokens = field_validator("bot_token", mode="before")(clean_token)

    @field_validator("email_aliases", mode="before")
    @classmethod
    def _aliases(cls, value: Any) -> Any:
        return email_aliases(value)

    @field_validator("calls_per_minute")
    @classmethod
    def _pace(cls, value: dict[str, float]) -> dict[str, float]:
        for method, rate in value.items():
            if method not in DEFAULT_SLACK_PACE and method not in ("auth.test",):
                raise ValueError(f"unknown Slack method {method!r}")
            if rate < 0:
                raise ValueError("calls per minute cannot be negative (0 means no pacing)")
        return {**DEFAULT_SLACK_PACE, **value}

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip()
        check_service_url(value)
        return value if value.endswith("/") else value + "/"


class AdminSettings(_Section):
    # The admin page's credential (Bearer, or HTTP Basic with any user name); the page
    # is off (404) while it is empty.
    token: SecretStr = SecretStr("")
    # A Slack channel id (C…/G…) the bot was invited to; off while empty.
    channel: str = ""

    _tokens = field_validator("token", mode="before")(clean_token)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"[CG][A-Z0-9]{6,20}", value):
            raise ValueError(
                "must be a Slack channel id such as C0123ABCDEF (channel details, at the bottom)"
            )
        return value


class DatabaseSettings(_Section):
    path: str = "certnotify.db"
    busy_timeout_seconds: float = Field(10.0, gt=0, le=120)


class ServerSettings(_Section):
    host: str = "0.0.0.0"  # noqa: S104 - a container must listen beyond loopback
    port: int = Field(8080, ge=1, le=65535)
    # One process with many threads: hooks are I/O-bound (they wait for the group
    # commit), and one process means one intake writer batching everything (see
    # README, Performance). More processes help only when Flask's CPU is the limit.
    web_workers: int = Field(1, ge=1, le=32)
    web_threads: int = Field(16, ge=1, le=64)
    # Peers whose X-Forwarded-For is believed (the proxy in front): the client address
    # in logs is theirs to say. Anyone else could write any address into the header.
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _allowed(cls, value: Any) -> Any:
        if isinstance(value, str):  # the environment gives "10.0.0.0/8, 127.0.0.1"
            value = [part for part in value.replace(" ", ",").split(",") if part]
        for entry in value or ():
            try:
                ipaddress.ip_network(str(entry), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network") from None
        return value


class WorkerSettings(_Section):
    poll_seconds: float = Field(1.0, gt=0, le=60)
    # Ignored since the worker lock replaced leases; accepted so an older config.yaml
    # still starts (see README, Upgrading).
    lease_seconds: float | None = Field(None, ge=0)
    max_attempts: int = Field(8, ge=1, le=100)
    batch_size: int = Field(50, ge=1, le=1000)


_TEMPLATE_FIELDS = {"org_url", "campaign_id"}


class MessageSettings(_Section):
    review_url: str = "{org_url}/app/UserHome"
    org_name: str = ""
    final_notice_consequence: str = "Unreviewed access may be revoked or escalated."
    # The launch DM is edited in place as the reviewer's decisions arrive ("3 of 12 left",
    # then "all done"), once no new decision has come for live_update_seconds (or the
    # first has waited five times that).
    live_updates: bool = True
    live_update_seconds: float = Field(60.0, gt=0, le=3600)

    @field_validator("review_url")
    @classmethod
    def _template(cls, value: str) -> str:
        fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        unknown = fields - _TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{org_url}} or {{campaign_id}}"
            )
        sample = value.format(org_url="https://acme.okta.com", campaign_id="ici0")
        check_service_url(sample)
        return value


class CampaignSettings(_Section):
    default_time_zone: str = "UTC"

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class LoggingSettings(_Section):
    format: Literal["text", "json"] = "text"


class RetentionSettings(_Section):
    """How long personal data is kept (app.db.retention; README, "Personal data")."""

    # Bodies of handled hook events (and finished jobs, stale Slack directory entries).
    events_days: int = Field(30, ge=1, le=3650)
    # Ledger, reviewers and events of a campaign, counted from its retirement.
    messages_days: int = Field(400, ge=1, le=36500)


class ReassignSettings(_Section):
    coalesce_seconds: float = Field(30.0, ge=0, le=3600)
    max_wait_seconds: float = Field(300.0, ge=0, le=86400)


class Settings(_Section):
    okta: OktaSettings = OktaSettings()
    slack: SlackSettings = SlackSettings()
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    worker: WorkerSettings = WorkerSettings()
    messages: MessageSettings = MessageSettings()
    campaigns: CampaignSettings = CampaignSettings()
    reminders: ReminderSettings = ReminderSettings()
    escalation: EscalationSettings = EscalationSettings()
    reassign: ReassignSettings = ReassignSettings()
    logging: LoggingSettings = LoggingSettings()
    retention: RetentionSettings = RetentionSettings()
    admin: AdminSettings = AdminSettings()

    # -- what a command needs ------------------------------------------------
    def require(self, *needs: str) -> Settings:
        """Fail with one line unless the settings a command needs are present.

        ``needs``: "hook" (the web endpoint), "okta" (Governance API), "slack".
        """
        if "hook" in needs:
            secret = self.okta.hook_secret.get_secret_value()
            if not secret:
                raise SettingsError(
                    missing("okta.hook_secret", "the hook endpoint refuses to start")
                )
            if len(secret) < MIN_HOOK_SECRET_LENGTH:
                raise SettingsError(
                    f"okta.hook_secret: must be at least {MIN_HOOK_SECRET_LENGTH} characters "
                    "(set OKTA_HOOK_SECRET; generate one with: "
                    "python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
                )
        if "okta" in needs:
            if not self.okta.org_url:
                raise SettingsError(missing("okta.org_url", "e.g. https://acme.okta.com"))
            has_token = bool(self.okta.api_token.get_secret_value())
            has_oauth = bool(self.okta.client_id or self.okta.private_key_file)
            if not has_token and not has_oauth:
                raise SettingsError(
                    missing("okta.api_token", "or OKTA_CLIENT_ID + OKTA_PRIVATE_KEY_FILE")
                )
            if not has_token:
                if not self.okta.client_id:
                    raise SettingsError(missing("okta.client_id", "needed with a private key"))
                if not self.okta.private_key_file:
                    raise SettingsError(missing("okta.private_key_file", "needed with a client id"))
                if not Path(self.okta.private_key_file).is_file():
                    raise SettingsError(
                        "okta.private_key_file: no such file (set OKTA_PRIVATE_KEY_FILE)"
                    )
        if (
            "slack" in needs
            and not self.slack.dry_run
            and not self.slack.bot_token.get_secret_value()
        ):
            raise SettingsError(missing("slack.bot_token", "or set slack.dry_run: true"))
        admin = self.admin.token.get_secret_value()
        if admin and admin == self.okta.hook_secret.get_secret_value():
            # One credential opening both would let whoever holds the hook secret (Okta's
            # admins, every proxy log of its header) read the admin page.
            raise SettingsError(
                "admin.token: must differ from the hook secret (set CERTNOTIFY_ADMIN_TOKEN)"
            )
        return self

    def secrets(self) -> list[str]:
        """Every secret value, so logging can redact them wherever they appear."""
        values = [
            self.okta.api_token,
            self.okta.hook_secret,
            self.slack.bot_token,
            self.admin.token,
        ]
        return [v.get_secret_value() for v in values if v.get_secret_value()]

    def review_url(self, campaign_id: str) -> str:
        return self.messages.review_url.format(org_url=self.okta.org_url, campaign_id=campaign_id)

    def org_name(self) -> str:
        return self.messages.org_name or (urlsplit(self.okta.org_url).hostname or "your Okta org")
