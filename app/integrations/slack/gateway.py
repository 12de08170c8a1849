"""The Slack calls certnotify makes (``users.list``, ``users.lookupByEmail``,
``chat.postMessage``, ``chat.update``, ``auth.test``), with errors sorted into what to do
next, and the ``SlackSender`` protocol the rest of the code uses (real or dry-run)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.integrations.slack.errors import (
    REQUIRED_SCOPES,
    SlackPermanentError,
    SlackTransientError,
    classify,
)
from app.integrations.slack.pacing import RateGate
from app.timeutil import known_zone

__all__ = ["Posted", "SlackGateway", "SlackMember", "SlackSender"]


@dataclass(frozen=True)
class SlackMember:
    id: str
    email: str
    deleted: bool = False
    is_bot: bool = False
    # IANA zone name from Slack (``America/Los_Angeles``); "" when missing or not a zone
    # ZoneInfo knows (deactivated accounts carry none).
    tz: str = ""

    @property
    def state(self) -> str:
        if self.is_bot:
            return "bot"
        return "deleted" if self.deleted else "active"

    @classmethod
    def from_api(cls, user: dict[str, Any]) -> SlackMember | None:
        user_id = user.get("id")
        if not isinstance(user_id, str):
            return None
        raw_profile = user.get("profile")
        profile: dict[str, Any] = raw_profile if isinstance(raw_profile, dict) else {}
        raw_email = profile.get("email")
        email = raw_email if isinstance(raw_email, str) else ""
        is_bot = bool(user.get("is_bot")) or user_id == "USLACKBOT"
        return cls(
            user_id, email.lower(), bool(user.get("deleted")), is_bot, known_zone(user.get("tz"))
        )


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


class SlackSender(Protocol):
    """What the rest of certnotify needs from Slack (real or dry-run)."""

    def members(self) -> Iterator[SlackMember]: ...
    def lookup_email(self, email: str) -> SlackMember | None: ...
    def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted: ...
    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> Posted: ...
    def check_auth(self) -> list[str]: ...


class SlackGateway:
    """The Slack calls certnotify makes, with errors sorted into what to do next."""

    def __init__(self, client: WebClient, gate: RateGate) -> None:
        self.client = client
        self.gate = gate

    def _call(self, method: str, fn: Callable[[], Any]) -> Any:
        self.gate.acquire(method)
        try:
            return fn()
        except SlackApiError as exc:
            error = classify(exc)
            if isinstance(error, SlackTransientError) and error.retry_after:
                self.gate.pause(method, error.retry_after)
            raise error from None
        except (OSError, TimeoutError) as exc:  # connection refused, reset, timed out
            reason = getattr(exc, "reason", None) or exc
            raise SlackTransientError(
                "connection_error", f"cannot reach slack at {self.client.base_url}: {reason}"
            ) from None

    def members(self) -> Iterator[SlackMember]:
        """Every workspace member via ``users.list`` (Tier 2), 200 per page."""
        cursor = ""
        while True:
            response = self._call(
                "users.list", partial(self.client.users_list, limit=200, cursor=cursor or None)
            )
            for user in response.get("members") or []:
                member = SlackMember.from_api(user) if isinstance(user, dict) else None
                if member is not None:
                    yield member
            meta = response.get("response_metadata") or {}
            cursor = meta.get("next_cursor") or ""
            if not cursor:
                return

    def lookup_email(self, email: str) -> SlackMember | None:
        try:
            response = self._call(
                "users.lookupByEmail", lambda: self.client.users_lookupByEmail(email=email)
            )
        except SlackPermanentError as exc:
            if exc.code == "users_not_found":
                return None
            raise
        user = response.get("user")
        return SlackMember.from_api(user) if isinstance(user, dict) else None

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        # Posting to a user id opens the DM by itself: no conversations.open round trip.
        response = self._call(
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            ),
        )
        return Posted(str(response.get("channel") or channel), str(response.get("ts") or ""))

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        """``chat.update`` (Tier 3) of a message the bot posted: ``channel`` is the DM id
        (``D…``) ``chat.postMessage`` answered with; Slack refuses a user id here."""
        response = self._call(
            "chat.update",
            lambda: self.client.chat_update(
                # chat.update's parse defaults to "client" (chat.postMessage's to "none")
                # and an update without it resets the message to "client": keep "none".
                channel=channel, ts=ts, text=text, blocks=blocks, parse="none"
            ),
        )  # fmt: skip
        return Posted(str(response.get("channel") or channel), str(response.get("ts") or ts))

    def check_auth(self) -> list[str]:
        """``auth.test``: raises ``SlackAuthError`` when the token is refused; returns the
        scopes the code needs that the token lacks (from Slack's ``x-oauth-scopes``
        header; none when Slack does not say)."""
        response = self._call("auth.test", self.client.auth_test)
        headers = getattr(response, "headers", None) or {}
        granted = None
        for name, value in dict(headers).items():
            if name.lower() == "x-oauth-scopes":
                granted = {scope.strip() for scope in str(value).split(",") if scope.strip()}
        if granted is None:
            return []
        return [scope for scope in REQUIRED_SCOPES if scope not in granted]
