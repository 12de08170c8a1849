"""Generated Slack data for the fake workspace: members and their ids, in the shape of
``tests/samples/slack-*.json``. Pure: no server, no state."""

from __future__ import annotations

import hashlib
from collections.abc import Container
from typing import Any

__all__ = ["APP_ID", "BOT_USER_ID", "TEAM_ID", "member", "stable_id"]

TEAM_ID = "T0OHUGAMCRA"
TEAM_NAME = "Acme"
TEAM_URL = "https://acme.slack.com/"
# The app's own bot user, as in the samples (it is the bot member of slack-users-list.json).
BOT_USER_ID = "U015D7PARYR"
BOT_ID = "B0923N4FMBN"
APP_ID = "A0SIDRT8KXC"
BOT_NAME = "certnotify"

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


def member(
    user_id: str,
    email: str | None,
    *,
    name: str | None = None,
    deleted: bool = False,
    is_bot: bool = False,
) -> dict[str, Any]:
    """A users.list member in the samples' shape (the fields certnotify may read)."""
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
    return {
        "id": user_id,
        "team_id": TEAM_ID,
        "name": handle,
        "deleted": deleted,
        "real_name": real_name,
        "profile": profile,
        "is_bot": is_bot,
        "is_app_user": False,
    }
