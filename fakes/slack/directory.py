"""The members of the fake Slack workspace, and how calls find them.

Members are kept in ``users.list`` order and found by id, by email (``users.lookupByEmail``)
or by page cursor (``users.list``); each one's DM channel id is made on first use.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fakes.slack.data import stable_id
from fakes.slack.params import ParamError

__all__ = ["Directory"]

_CURSOR_PREFIX = "user:"  # real cursors are base64("user:<next id>"), see the users.list sample


class Directory:
    """Members by id and email, users.list pages, and DM channel ids (caller holds the lock).

    A container of user ids, so it can be the ``taken`` set of ``stable_id``.
    """

    def __init__(self) -> None:
        # Members in users.list order; the dicts are never mutated once stored, so answers
        # may share them with the encoder after the lock is released.
        self._members: list[dict[str, Any]] = []
        self._position: dict[str, int] = {}  # user id -> index in _members (cursors)
        self._by_email: dict[str, str] = {}  # lower-cased email -> user id
        self._dm_of_user: dict[str, str] = {}
        self._user_of_dm: dict[str, str] = {}

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._position

    def add(self, member: dict[str, Any]) -> None:
        """Index a member. Ids and emails are unique in a real workspace."""
        user_id = member["id"]
        email = (member.get("profile", {}).get("email") or "").lower()
        if user_id in self._position:
            raise ValueError(f"user {user_id} already exists")
        if email and email in self._by_email:
            raise ValueError(f"email {email} already belongs to {self._by_email[email]}")
        self._position[user_id] = len(self._members)
        self._members.append(member)
        if email:
            self._by_email[email] = user_id

    def replace(self, member: dict[str, Any]) -> None:
        """Put a changed copy of a member in place of the stored one (same id and email):
        stored dicts are never mutated, answers may still be sharing the old one."""
        old = self.get(member["id"])
        if old is None:
            raise KeyError(f"no user {member['id']}")
        if old.get("profile", {}).get("email") != member.get("profile", {}).get("email"):
            raise ValueError("replace() keeps the email; add a new member instead")
        self._members[self._position[member["id"]]] = member

    def get(self, user_id: str) -> dict[str, Any] | None:
        position = self._position.get(user_id)
        return None if position is None else self._members[position]

    def find_email(self, email: str) -> dict[str, Any] | None:
        """The member with this (lower-cased) email, deleted or not."""
        user_id = self._by_email.get(email)
        return None if user_id is None else self._members[self._position[user_id]]

    def page(self, cursor: str, size: int) -> tuple[list[dict[str, Any]], str]:
        """Up to ``size`` members from ``cursor`` (empty: the first), and the next cursor
        (empty after the last page). Raises ParamError for a cursor this fake never gave."""
        start = self._decode_cursor(cursor)
        page = self._members[start : start + size]
        end = start + len(page)
        next_cursor = ""
        if end < len(self._members):
            next_id = self._members[end]["id"]
            next_cursor = base64.b64encode(f"{_CURSOR_PREFIX}{next_id}".encode()).decode()
        return page, next_cursor

    def _decode_cursor(self, cursor: str) -> int:
        if not cursor:
            return 0
        try:
            decoded = base64.b64decode(cursor, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise ParamError("invalid_cursor") from exc
        user_id = decoded.removeprefix(_CURSOR_PREFIX)
        if not decoded.startswith(_CURSOR_PREFIX) or user_id not in self._position:
            raise ParamError("invalid_cursor")
        return self._position[user_id]

    def dm_channel(self, user_id: str) -> str:
        """The user's DM id: made on first use, the same ever after (as in Slack)."""
        dm = self._dm_of_user.get(user_id)
        if dm is None:
            dm = stable_id("D", user_id, self._user_of_dm)
            self._dm_of_user[user_id] = dm
            self._user_of_dm[dm] = user_id
        return dm

    def user_of(self, channel: str) -> str:
        """The user a DM id belongs to; any other channel (a user id, say) as it is."""
        return self._user_of_dm.get(channel, channel)
