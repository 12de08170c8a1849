"""Settings for when reviewers hear from certnotify: the reminder rhythm, per-campaign
rules, working hours and manager escalation (``reminders`` and ``escalation``)."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.config.values import check_zone, time_of_day

__all__ = ["CampaignRule", "EscalationSettings", "ReminderSettings", "Rhythm"]

MAX_DAYS = 3650
# An Okta profile attribute name (as app.integrations.okta.client checks it).
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,99}")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _days(value: tuple[int, ...]) -> tuple[int, ...]:
    if any(day < 1 or day > MAX_DAYS for day in value):
        raise ValueError(f"days must be whole numbers from 1 to {MAX_DAYS}")
    return tuple(sorted(set(value)))


class Rhythm(_Section):
    """How often a campaign's reviewers are reminded (a rule may change any of it)."""

    every_days: int = Field(7, ge=1, le=MAX_DAYS)
    # 0: no dedicated final notice (the last reminder is still worded as the final one).
    final_notice_days_before_end: int = Field(3, ge=0, le=MAX_DAYS)
    # An explicit list replaces the every-N-days rhythm (the final notice still joins).
    days_after_start: tuple[int, ...] = ()
    days_before_end: tuple[int, ...] = ()
    # Join the campaign's own Okta reminder days (notificationSettings) to these.
    follow_okta_settings: bool = True

    @field_validator("days_after_start", "days_before_end")
    @classmethod
    def _check_days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        return _days(value)


class CampaignRule(_Section):
    """``reminders.campaigns`` entries: the first rule a campaign matches applies.

    ``name`` is a shell-style pattern (``*``, ``?``), matched without regard to case;
    ``template_id`` is the Okta campaign template the campaign was launched from.
    ``notify: false`` excludes the matching campaigns: certnotify follows them but sends
    their reviewers nothing. Any rhythm key given here replaces the default one.
    """

    name: str = ""
    template_id: str = ""
    notify: bool = True
    every_days: int | None = Field(None, ge=1, le=MAX_DAYS)
    final_notice_days_before_end: int | None = Field(None, ge=0, le=MAX_DAYS)
    days_after_start: tuple[int, ...] | None = None
    days_before_end: tuple[int, ...] | None = None
    follow_okta_settings: bool | None = None

    @field_validator("days_after_start", "days_before_end")
    @classmethod
    def _check_days(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        return None if value is None else _days(value)

    @model_validator(mode="after")
    def _matches_something(self) -> CampaignRule:
        if not self.name.strip() and not self.template_id.strip():
            raise ValueError("a campaign rule needs a name pattern or a template_id")
        return self

    def matches(self, name: str, template_id: str) -> bool:
        if self.template_id and self.template_id != template_id:
            return False
        return not self.name or fnmatch.fnmatchcase(name.casefold(), self.name.casefold())

    def applied_to(self, rhythm: Rhythm) -> Rhythm:
        keys = Rhythm.model_fields.keys()
        changes = {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
        return rhythm.model_copy(update=changes)


class ReminderSettings(Rhythm):
    # The daily pass (APScheduler) runs at run_at in time_zone.
    run_at: str = "09:00"
    time_zone: str = "UTC"
    misfire_grace_hours: float = Field(12.0, ge=0, le=24)
    # Working hours, in each reviewer's own Slack time zone (scheduled pass only).
    local_time: str = "09:30"
    send_until: str = "17:00"
    weekdays_only: bool = True
    campaigns: tuple[CampaignRule, ...] = ()
    # true: campaigns that match no rule get no messages (rules list what to include).
    only_listed_campaigns: bool = False

    @field_validator("run_at", "local_time", "send_until", mode="before")
    @classmethod
    def _time(cls, value: Any) -> str:
        return time_of_day(value)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)

    @model_validator(mode="after")
    def _window(self) -> ReminderSettings:
        # "HH:MM" strings compare in time order.
        if self.send_until <= self.local_time:
            raise ValueError(
                f"send_until ({self.send_until}) must be later than local_time ({self.local_time})"
            )
        return self

    def rule_for(self, name: str, template_id: str) -> tuple[int, CampaignRule] | None:
        """The first rule the campaign matches (1-based number, rule), or None."""
        for number, rule in enumerate(self.campaigns, start=1):
            if rule.matches(name, template_id):
                return number, rule
        return None


class EscalationSettings(_Section):
    """Tell a pending reviewer's manager, once per campaign, from ``after_day`` and/or
    ``days_before_end`` on (either may be off: null)."""

    after_day: int | None = Field(21, ge=1, le=MAX_DAYS)
    days_before_end: int | None = Field(None, ge=1, le=MAX_DAYS)
    # The Okta user profile attribute naming the manager: an Okta user id (managerId)
    # or an email (e.g. managerEmail), depending on how the org fills its profiles.
    manager_attribute: str = "managerId"

    @field_validator("manager_attribute")
    @classmethod
    def _attribute(cls, value: str) -> str:
        # What OktaClient.manager_of accepts: a name such as "profile.managerId" passing
        # here would fail every reminder pass from the escalation day on.
        if not _ATTRIBUTE.fullmatch(value.strip()):
            raise ValueError(
                "must be an Okta profile attribute name such as managerId"
                " (letters, digits and _, no profile. prefix)"
            )
        return value.strip()

    @property
    def enabled(self) -> bool:
        return self.after_day is not None or self.days_before_end is not None
