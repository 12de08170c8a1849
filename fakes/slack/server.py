"""A fake Slack Web API workspace: a real HTTP server for tests, benchmarks and demos.

Point ``slack_sdk.WebClient(token=..., base_url=fake.url)`` at it. It answers the few methods
certnotify calls (``auth.test``, ``users.list``, ``users.lookupByEmail``,
``conversations.open``, ``chat.postMessage``, ``chat.update``) in the shape of the samples in
``tests/samples/slack-*.json``, and can misbehave on demand:

* ``inject(method, Fault(...))`` queues one-shot faults (429 with ``Retry-After``, 5xx,
  ``ok:false`` errors, stalls), consumed first-in first-out by calls to that method;
* ``latency`` slows every call down;
* ``limits`` enforces Slack's rate-limit tiers with token buckets, on a compressible clock.

Faithful to real Slack where the field pitfalls are: the API answers HTTP 200 with
``ok:false`` for most errors, ``users.lookupByEmail`` returns deleted users (``deleted: true``),
and ``chat.postMessage`` to a deleted user's id succeeds although nobody will read it.

This module holds the server, its auth and method dispatch, and the methods themselves; the
parts beside it: ``directory`` (members, cursors, DM ids), ``params`` (reading arguments),
``limits`` (rate limits), ``faults`` (scripted faults), ``responses`` (error answers) and
``updates`` (``chat.update``). Members carry a time zone (``tz``, with ``tz_label`` and
``tz_offset`` as of the answer).
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from fakes.httpserver import FakeHTTPServer, Request, Response
from fakes.slack.data import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    TEAM_URL,
    as_of,
    member,
    stable_id,
    zone_fields,
)
from fakes.slack.directory import Directory
from fakes.slack.faults import Fault, fault_response
from fakes.slack.limits import RateLimiter, SlackLimits
from fakes.slack.params import ParamError, blocks, params
from fakes.slack.responses import error, ratelimited
from fakes.slack.updates import Updated, update_message

__all__ = ["FakeSlack", "Fault", "Posted", "SlackLimits", "Updated"]


_API_PREFIX = "/api/"
_DEFAULT_PAGE = 200  # users.list page size when `limit` is missing or 0
_MAX_PAGE = 1000  # cap on `limit`, so one answer stays bounded (Slack recommends 200)


@dataclass
class Posted:
    """One message chat.postMessage accepted."""

    channel: str  # the user id the message was for (also when posted to their DM id)
    dm_channel: str  # the DM id Slack answered with ("D...")
    text: str
    blocks: list[Any] | None
    ts: str
    at: float  # clock() when accepted: the limits' clock, so tests can check pacing


class FakeSlack(FakeHTTPServer):
    """A Slack workspace ("Acme", team T0OHUGAMCRA) answering the Web API on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = "xoxb-test-token",
        latency: float = 0.0,
        limits: SlackLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        scopes: str = "chat:write,im:write,users:read,users:read.email",
    ) -> None:
        super().__init__()
        self.token = token
        # Granted bot scopes, sent back in x-oauth-scopes on every answer as Slack does.
        self.scopes = scopes
        self.revoked = False  # True: every call answers token_revoked (an admin revoked us)
        self.outage_status: int | None = None  # e.g. 503: every call answers it (Slack down)
        # Channels by id -> whether the bot is a member (posting needs it: not_in_channel).
        self.channels: dict[str, bool] = {}
        self.latency = latency
        self.limits = limits
        self.clock = clock
        # Epoch seconds "now" for answers: members' tz_offset/tz_label (daylight saving).
        self.wall_clock = wall_clock
        self.messages: list[Posted] = []  # as readers see them now (edits applied)
        self.updates: list[Updated] = []  # every edit chat.update accepted, in order
        self.rate_limited: Counter[str] = Counter()  # 429s from `limits` only, by method
        self._directory = Directory()
        self._faults: dict[str, deque[Fault]] = {}
        self._limiter = RateLimiter()
        self._last_ts_us = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], Response]] = {
            "auth.test": self._auth_test,
            "users.list": self._users_list,
            "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
        }

    def __enter__(self) -> Self:
        self.start()
        return self

    @property
    def url(self) -> str:
        """The base_url slack_sdk's WebClient takes (it appends the method name)."""
        return self.base_url + _API_PREFIX

    # -- workspace set-up ------------------------------------------------------
    def add_user(
        self,
        user_id: str,
        email: str | None,
        *,
        name: str | None = None,
        deleted: bool = False,
        is_bot: bool = False,
        tz: str | None = None,
    ) -> dict[str, Any]:
        """Add a member and return a copy of it. ``name`` is the real name ("Ana Lopez");
        it defaults to one made from the email. Bots get no email, as in real Slack.
        ``tz``: the IANA zone; None: ``DEFAULT_TZ``, or none for a deactivated account."""
        added = member(
            user_id, email, name=name, deleted=deleted, is_bot=is_bot, tz=tz, at=self.wall_clock()
        )
        with self.lock:
            self._directory.add(added)
        return copy.deepcopy(added)

    def add_users_from_samples(self, samples_dir: str | Path) -> None:
        """Ana (active), Ben (deleted), the certnotify bot, then Chen.

        Chen comes last because the samples say he is found only through lookupByEmail or
        on a later users.list page (limit=3 puts him alone on page 2).
        """
        samples = Path(samples_dir)
        listed = json.loads((samples / "slack-users-list.json").read_text())["members"]
        chen = json.loads((samples / "slack-lookup-ok.json").read_text())["user"]
        with self.lock:
            for member in [*listed, chen]:
                self._directory.add(member)

    def generate_users(self, emails: Iterable[str], *, tz: str | None = None) -> dict[str, str]:
        """Add one active person per email, all in zone ``tz`` (None: ``DEFAULT_TZ``); return
        email -> user id ("U" + 10 characters, derived from the email so runs are
        reproducible)."""
        created: dict[str, str] = {}
        now = self.wall_clock()
        with self.lock:
            for email in emails:
                user_id = stable_id("U", email.lower(), self._directory)
                self._directory.add(member(user_id, email, tz=tz, at=now))
                created[email] = user_id
        return created

    def set_time_zone(self, user_id: str, tz: str | None) -> None:
        """Move a member to zone ``tz`` (as when they change it in Slack). Any string is
        kept, so tests can send one Slack never would; None drops ``tz``, ``tz_label`` and
        ``tz_offset`` altogether (as Slack shows deactivated accounts)."""
        with self.lock:
            user = self._directory.get(user_id)
            if user is None:
                raise KeyError(f"no user {user_id}")
            changed = {k: v for k, v in user.items() if k not in ("tz", "tz_label", "tz_offset")}
            if tz is not None:
                changed.update(zone_fields(tz, self.wall_clock()))
            self._directory.replace(changed)

    # -- scripting misbehaviour ------------------------------------------------
    def inject(self, method: str, *faults: Fault) -> None:
        """Queue faults for ``method`` ("chat.postMessage"); each call to it takes the next."""
        with self.lock:
            self._faults.setdefault(method, deque()).extend(faults)

    # -- what happened ---------------------------------------------------------
    def calls(self, method: str) -> list[Request]:
        path = _API_PREFIX + method
        with self.lock:
            return [r for r in self.requests if r.path == path]

    def call_count(self, method: str | None = None) -> int:
        """Calls to ``method``, or to any Slack API method when None."""
        if method is not None:
            return len(self.calls(method))
        return self.count(_API_PREFIX)

    def add_channel(self, channel_id: str, *, bot_is_member: bool = True) -> None:
        """A channel (``C…``) the bot was invited to, or not."""
        with self.lock:
            self.channels[channel_id] = bot_is_member

    def messages_to(self, user_id: str) -> list[Posted]:
        with self.lock:
            return [m for m in self.messages if m.channel == user_id]

    # -- serving ---------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if not request.path.startswith(_API_PREFIX):
            return Response(404, "Not Found", {"Content-Type": "text/plain"})
        method = request.path.removeprefix(_API_PREFIX)
        with self.lock:
            queue = self._faults.get(method)
            fault = queue.popleft() if queue else None
            response = self._answer(method, request, fault)
        # The base server sleeps outside the lock, so slow calls don't serialise the others.
        response.delay += self.latency + (fault.delay if fault else 0.0)
        return response

    def _answer(self, method: str, request: Request, fault: Fault | None) -> Response:
        if self.outage_status is not None:
            fault = Fault(status=self.outage_status)
        if fault is not None and (scripted := fault_response(fault)) is not None:
            return scripted
        handler = self._handlers.get(method)
        if handler is None:
            return error("unknown_method")
        authorization = request.headers.get("authorization")
        if not authorization:
            return error("not_authed")
        if authorization != f"Bearer {self.token}":
            return error("invalid_auth")
        if self.revoked:
            return error("token_revoked")
        try:
            arguments = params(request)
            limited = self._enforce_limits(method, arguments)
            answer = limited or handler(arguments)
        except ParamError as exc:
            return error(str(exc))
        answer.headers.setdefault("x-oauth-scopes", self.scopes)
        return answer

    def _enforce_limits(self, method: str, arguments: dict[str, Any]) -> Response | None:
        """429 if the call is over one of ``limits`` (see ``RateLimiter.wait``)."""
        if self.limits is None:
            return None
        # Posts are limited per channel; a DM id and its user's id are the same channel.
        channel = self._directory.user_of(str(arguments.get("channel") or ""))
        wait = self._limiter.wait(self.limits, method, channel, self.clock())
        if wait > 0:
            self.rate_limited[method] += 1
            # Real Slack sends whole seconds; under time scaling that overstates the wait.
            return ratelimited(max(1, math.ceil(wait)))
        return None

    # -- methods ---------------------------------------------------------------
    def _auth_test(self, arguments: dict[str, Any]) -> Response:
        return Response(
            200,
            {
                "ok": True,
                "url": TEAM_URL,
                "team": TEAM_NAME,
                "user": BOT_NAME,
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            },
        )

    def _users_list(self, arguments: dict[str, Any]) -> Response:
        try:
            limit = int(arguments.get("limit") or 0)
        except ValueError as exc:
            raise ParamError("invalid_arguments") from exc
        page_size = min(limit, _MAX_PAGE) if limit > 0 else _DEFAULT_PAGE
        page, next_cursor = self._directory.page(str(arguments.get("cursor") or ""), page_size)
        now = self.wall_clock()
        return Response(
            200,
            {
                "ok": True,
                "members": [as_of(user, now) for user in page],
                "cache_ts": int(now),
                "response_metadata": {"next_cursor": next_cursor},
            },
        )

    def _lookup_by_email(self, arguments: dict[str, Any]) -> Response:
        email = str(arguments.get("email") or "").strip().lower()
        if not email:
            raise ParamError("invalid_arguments")
        user = self._directory.find_email(email)
        if user is None:
            return error("users_not_found")
        # Deleted users are returned too, flagged deleted: true: callers must check.
        return Response(200, {"ok": True, "user": as_of(user, self.wall_clock())})

    def _conversations_open(self, arguments: dict[str, Any]) -> Response:
        users = [u for u in str(arguments.get("users") or "").split(",") if u]
        if not users:
            return error("users_list_not_supplied")
        if len(users) > 1:
            return error("invalid_arguments")  # group DMs are out of scope for this fake
        user_id = users[0]
        user = self._directory.get(user_id)
        if user is None:
            return error("user_not_found")
        if user["is_bot"]:
            return error("cannot_dm_bot")
        if user["deleted"]:
            return error("user_disabled")  # documented for conversations.open
        return Response(200, {"ok": True, "channel": {"id": self._directory.dm_channel(user_id)}})

    def _post_message(self, arguments: dict[str, Any]) -> Response:
        channel = str(arguments.get("channel") or "")
        if channel in self.channels:  # a conversation: the bot must have been invited
            return self._post_to_channel(channel, arguments)
        # Accept a user id (Slack opens the DM itself) or a DM id from conversations.open.
        user_id = self._directory.user_of(channel)
        user = self._directory.get(user_id)
        if user is None:
            return error("channel_not_found")
        if user["is_bot"]:
            return error("cannot_dm_bot")
        # No deleted check on purpose: real Slack accepts posts to a deactivated user's DM.
        text = str(arguments.get("text") or "")
        posted_blocks = blocks(arguments.get("blocks"))
        if not text and posted_blocks is None:
            return error("no_text")
        dm_channel = self._directory.dm_channel(user_id)
        ts = self._next_ts()
        self.messages.append(Posted(user_id, dm_channel, text, posted_blocks, ts, self.clock()))
        message: dict[str, Any] = {
            "user": BOT_USER_ID,
            "type": "message",
            "ts": ts,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": text,
            "team": TEAM_ID,
        }
        if posted_blocks is not None:
            message["blocks"] = posted_blocks
        return Response(200, {"ok": True, "channel": dm_channel, "ts": ts, "message": message})

    def _post_to_channel(self, channel: str, arguments: dict[str, Any]) -> Response:
        if not self.channels[channel]:
            return error("not_in_channel")
        text = str(arguments.get("text") or "")
        posted_blocks = blocks(arguments.get("blocks"))
        if not text and posted_blocks is None:
            return error("no_text")
        ts = self._next_ts()
        self.messages.append(Posted(channel, channel, text, posted_blocks, ts, self.clock()))
        return Response(200, {"ok": True, "channel": channel, "ts": ts})

    def _update(self, arguments: dict[str, Any]) -> Response:
        answer, edit = update_message(
            arguments, self.messages, self._directory, self.channels, self.clock
        )
        if edit is not None:
            self.updates.append(edit)
        return answer

    def updates_to(self, user_id: str) -> list[Updated]:
        with self.lock:
            return [u for u in self.updates if u.channel == user_id]

    def _next_ts(self) -> str:
        """Epoch seconds with 6 decimals, strictly increasing: ts identifies a message."""
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        seconds, micros = divmod(now_us, 1_000_000)
        return f"{seconds}.{micros:06d}"
