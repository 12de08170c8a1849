"""Settings: ``config.yaml`` plus environment overrides, validated once at start-up.

Secrets and endpoints come from the environment (which wins over the file); the
file holds behaviour. Every problem becomes one ``SettingsError`` line that
names the key (and the variable that sets it), so an operator knows what to fix
without reading a traceback. Secret values are held as ``SecretStr`` and never
echoed, in errors or in ``repr``.
"""

from app.config.loading import load_settings
from app.config.reminders import CampaignRule, EscalationSettings, ReminderSettings, Rhythm
from app.config.sections import (
    AdminSettings,
    CampaignSettings,
    DatabaseSettings,
    LoggingSettings,
    MessageSettings,
    OktaSettings,
    ReassignSettings,
    RetentionSettings,
    ServerSettings,
    Settings,
    SlackSettings,
    WorkerSettings,
)
from app.config.values import (
    DEFAULT_SLACK_PACE,
    ENV_VARS,
    MIN_HOOK_SECRET_LENGTH,
    SettingsError,
    check_service_url,
    time_of_day,
)

__all__ = [
    "DEFAULT_SLACK_PACE",
    "ENV_VARS",
    "MIN_HOOK_SECRET_LENGTH",
    "AdminSettings",
    "CampaignRule",
    "CampaignSettings",
    "DatabaseSettings",
    "EscalationSettings",
    "LoggingSettings",
    "MessageSettings",
    "OktaSettings",
    "ReassignSettings",
    "ReminderSettings",
    "RetentionSettings",
    "Rhythm",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "SlackSettings",
    "WorkerSettings",
    "check_service_url",
    "load_settings",
    "time_of_day",
]
