"""Generated Slack data for the fake workspace: members, their ids and time zones, in the
shape of ``tests/samples/slack-*.json``. Pure: no server, no state."""

from __future__ import annotations

import hashlib
from collections.abc import Container
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "APP_ID",
    "BOT_USER_ID",
    "DEFAULT_TZ",
    "TEAM_ID",
    "as_of",
    "member",
    "stable_id",
    "zone_fields",
]

TEAM_ID = "T0OHUGAMCRA"
TEAM_NAME = "Acme"
TEAM_URL = "https://acme.slack.com/"
# The app's own bot user, as in the samples (it is the bot member of slack-users-list.json).
BOT_USER_ID = "U015D7PARYR"
BOT_ID = "B0923N4FMBN"
APP_ID = "A0SIDRT8KXC"
BOT_NAME = "certnotify"
# Every member of the samples is in this zone; new fake members get it unless told otherwise.
DEFAULT_TZ = "America/Los_Angeles"

_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def stable_id(prefix: str, seed: str, taken: Container[str]) -> str:
    """prefix + 10 upper-case alphanumerics derived from seed, avoiding ids in ``taken``.

    Derived from a hash (not a counter) so that one email or user always gets the same id,
    whatever order the test adds people in.
    """
    attempt = 0
    while True:
        number = int.from_bytes(
            hashlib.blake2b(f"{seed}#{attempt}".encode(), digest_size=8).digest(), "big"
        )
        chars = []
        for _ in range(10):
            number, digit = divmod(number, 36)
            chars.append(_ID_ALPHABET[digit])
        candidate = prefix + "".join(chars)
        if candidate not in taken:
            return candidate
        attempt += 1


def zone_fields(tz: str, at: float) -> dict[str, Any]:
    """``tz``, ``tz_label`` and ``tz_offset`` (seconds east of UTC) as Slack gives them, at
    epoch ``at``: the offset follows daylight saving. The label is the zone's abbreviation
    ("PDT") where Slack writes it out ("Pacific Daylight Time")."""
    try:
        local = datetime.fromtimestamp(at, ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # Slack only sends real zones; tests script a bad one to see it tolerated.
        return {"tz": tz, "tz_label": tz, "tz_offset": 0}
    offset = local.utcoffset()
    return {
        "tz": tz,
        "tz_label": local.tzname() or tz,
        "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
    }


def as_of(user: dict[str, Any], at: float) -> dict[str, Any]:
    """The member as Slack answers at epoch ``at``: its zone's label and offset as of then
    (a shallow copy when it has a zone; ``user`` itself is left alone)."""
    tz = user.get("tz")
    return {**user, **zone_fields(tz, at)} if isinstance(tz, str) else user


def member(
    user_id: str,
    email: str | None,
    *,
    name: str | None = None,
    deleted: bool = False,
    is_bot: bool = False,
    tz: str | None = None,
    at: float = 0.0,
) -> dict[str, Any]:
    """A users.list member in the samples' shape (the fields certnotify may read).

    ``tz`` is the member's zone; None gives Slack's default, ``DEFAULT_TZ``, except to
    deactivated accounts, which carry no zone fields at all (as in the samples). The label
    and offset are for epoch ``at``; the server recomputes them on every answer."""
    handle = (email or user_id).split("@")[0].lower()
    real_name = name or " ".join(p.capitalize() for p in handle.replace("_", ".").split("."))
    first, _, last = real_name.partition(" ")
    profile: dict[str, Any] = {
        "real_name": real_name,
        "display_name": "" if is_bot else first,
        "first_name": first,
        "last_name": last,
        "team": TEAM_ID,
    }
    if is_bot:
        profile["bot_id"] = stable_id("B", user_id, ())
    elif email:
        profile["email"] = email
    zone = tz if tz is not None else (None if deleted else DEFAULT_TZ)
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": handle,
        "deleted": deleted,
        "real_name": real_name,
        **(zone_fields(zone, at) if zone is not None else {}),
        "profile": profile,
        "is_bot": is_bot,
        "is_app_user": False,
    }
