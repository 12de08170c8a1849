"""Time helpers: parsing Okta timestamps and the injectable clock.

Logic never calls ``datetime.now()``: it takes ``now`` (an aware UTC datetime)
from a ``Clock`` so tests can say what day it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]

__all__ = ["Clock", "iso", "known_zone", "parse_okta_time", "system_clock", "zone"]


def system_clock() -> datetime:
    return datetime.now(UTC)


def parse_okta_time(value: object) -> datetime | None:
    """``2026-09-01T09:00:00-07:00``, ``…T17:00:01.001-07:00`` or ``…Z`` -> aware UTC.

    Campaign start/end dates carry the campaign zone's offset; ``created`` and the
    like are ``Z``. Anything unparseable is ``None`` (Okta data is tolerated, not trusted).
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # a naive time is ambiguous; refuse rather than guess
    return parsed.astimezone(UTC)


def zone(name: str | None, default: str) -> ZoneInfo:
    """The campaign's zone, or the configured default when missing or unknown."""
    for candidate in (name, default):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                continue
    return ZoneInfo("UTC")


def known_zone(name: object) -> str:
    """``name`` when ``ZoneInfo`` accepts it (an IANA name such as ``America/Los_Angeles``),
    else "": for zone names from outside (Slack), which are tolerated, not trusted."""
    if not isinstance(name, str) or not 0 < len(name) <= 64:  # real names are < 40 long
        return ""
    return name if _loadable(name) else ""


@lru_cache(maxsize=512)
def _loadable(name: str) -> bool:
    try:
        ZoneInfo(name)
    # OSError: "America" is a directory of the zone database, not a zone.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def iso(moment: datetime) -> str:
    """Store times as UTC ISO strings: sortable, unambiguous."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")
