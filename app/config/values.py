"""Settings values: what is accepted and how a problem is said (one line naming the key)."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import SecretStr

__all__ = [
    "DEFAULT_SLACK_PACE",
    "ENV_VARS",
    "MIN_HOOK_SECRET_LENGTH",
    "SettingsError",
    "check_service_url",
    "check_zone",
    "clean_token",
    "email_aliases",
    "missing",
    "time_of_day",
]

# Environment variable -> dotted settings key. The environment overrides the file.
ENV_VARS: dict[str, str] = {
    "OKTA_ORG_URL": "okta.org_url",
    "OKTA_API_TOKEN": "okta.api_token",
    "OKTA_CLIENT_ID": "okta.client_id",
    "OKTA_PRIVATE_KEY_FILE": "okta.private_key_file",
    "OKTA_PRIVATE_KEY_ID": "okta.private_key_id",
    "OKTA_HOOK_SECRET": "okta.hook_secret",
    "SLACK_BOT_TOKEN": "slack.bot_token",
    "SLACK_API_URL": "slack.api_url",
    "CERTNOTIFY_DB": "database.path",
    "CERTNOTIFY_FORWARDED_ALLOW_IPS": "server.forwarded_allow_ips",
    "CERTNOTIFY_LOG_FORMAT": "logging.format",
    "CERTNOTIFY_ADMIN_TOKEN": "admin.token",
    "CERTNOTIFY_ADMIN_CHANNEL": "admin.channel",
}
_ENV_FOR_KEY = {key: env for env, key in ENV_VARS.items()}

MIN_HOOK_SECRET_LENGTH = 16
# Slack's published tiers: users.list is Tier 2 (20+/min), users.lookupByEmail Tier 3
# (50+/min). chat.postMessage is "1 per second per channel" with an unpublished
# workspace-wide limit; every DM is its own channel, so the workspace limit is the one
# that binds, and 600/min is a measured-safe start (a 429 still pauses everyone).
# Per method, calls per minute. chat.update and users.lookupByEmail are Tier 3 (50+ per
# minute), users.list Tier 2 (20+); Slack does not publish the posting limit.
DEFAULT_SLACK_PACE = {
    "chat.postMessage": 600.0,
    "chat.update": 50.0,
    "users.lookupByEmail": 50.0,
    "users.list": 20.0,
}
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


class SettingsError(Exception):
    """A bad or missing setting; ``str()`` is the one line to show the operator."""


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_service_url(value: str) -> str:
    """https:// anywhere; http:// only on loopback, where our local fakes live."""
    parts = urlsplit(value)
    if not parts.scheme or not parts.hostname:
        raise ValueError("must be an absolute URL such as https://acme.okta.com")
    if parts.scheme == "https":
        return value
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return value
    raise ValueError("must use https:// (http:// is accepted only for 127.0.0.1, localhost, [::1])")


def clean_token(value: Any) -> Any:
    """Secrets and ids arrive from files and orchestrators with a trailing newline
    (``kubectl create secret --from-file`` keeps it): surrounding whitespace is never part
    of a token, so it is dropped; whitespace inside one is refused."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if not isinstance(value, str):
        return value
    value = value.strip()
    if any(ch.isspace() for ch in value):
        raise ValueError("contains a space or line break inside the value; check how it is set")
    return value


def time_of_day(value: Any) -> str:
    """``"09:30"``, ``"9:30"`` or an unquoted ``9:30``, which YAML 1.1 reads as the
    base-60 number 570 (minutes since midnight), all give ``"09:30"``."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return f"{value // 60:02d}:{value % 60:02d}"
    match = (
        re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", value.strip())
        if isinstance(value, str)
        else None
    )
    if not match:
        raise ValueError("must be a time of day as HH:MM, such as 09:00")
    return f"{int(match[1]):02d}:{match[2]}"


def check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    # OSError: "America" is a folder of the zone database, not a zone.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)"
        ) from None
    return value


def missing(key: str, hint: str) -> str:
    env = _ENV_FOR_KEY.get(key)
    where = f"set {env}" if env else "set it in config.yaml"
    return f"{key}: missing ({where}; {hint})"


_SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,20}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def email_aliases(value: Any) -> Any:
    """``slack.email_aliases``: a mapping (Okta email -> Slack email or user id), or the
    path of a YAML file holding one. Keys are compared lower-cased."""
    if isinstance(value, str) and value.strip():
        path = Path(value.strip())
        try:
            value = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise ValueError(f"cannot read the aliases file {path}: {exc.strerror}") from None
        except yaml.YAMLError:
            raise ValueError(f"the aliases file {path} is not valid YAML") from None
    elif value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise ValueError("must be a mapping of Okta email: Slack email or user id, or a file")
    aliases: dict[str, str] = {}
    for okta_email, target in value.items():
        key, alias = str(okta_email).strip().lower(), str(target).strip()
        if not _EMAIL.fullmatch(key):
            raise ValueError(f"{okta_email!r} is not an email address")
        if not (_EMAIL.fullmatch(alias) or _SLACK_USER.fullmatch(alias)):
            raise ValueError(f"{target!r} (for {key}) is neither an email nor a Slack user id")
        aliases[key] = alias if _SLACK_USER.fullmatch(alias) else alias.lower()
    return aliases
