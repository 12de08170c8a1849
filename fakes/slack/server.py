"""A fake Slack Web API workspace: a real HTTP server for tests, benchmarks and demos.

Point ``slack_sdk.WebClient(token=..., base_url=fake.url)`` at it. It answers the few methods
certnotify calls (``auth.test``, ``users.list``, ``users.lookupByEmail``,
``conversations.open``, ``chat.postMessage``) in the shape of the samples in
``tests/samples/slack-*.json``, and can misbehave on demand:

* ``inject(method, Fault(...))`` queues one-shot faults (429 with ``Retry-After``, 5xx,
  ``ok:false`` errors, stalls), consumed first-in first-out by calls to that method;
* ``latency`` slows every call down;
* ``limits`` enforces Slack's rate-limit tiers with token buckets, on a compressible clock.

Faithful to real Slack where the field pitfalls are: the API answers HTTP 200 with
``ok:false`` for most errors, ``users.lookupByEmail`` returns deleted users (``deleted: true``),
and ``chat.postMessage`` to a deleted user's id succeeds although nobody will read it.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.client import responses as http_reasons
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qs

from fakes.httpserver import FakeHTTPServer, Request, Response
from fakes.slack.data import (
    APP_ID,
    BOT_ID,
    BOT_NAME,
    BOT_USER_ID,
    TEAM_ID,
    TEAM_NAME,
    TEAM_URL,
    member,
    stable_id,
)

__all__ = ["FakeSlack", "Fault", "Posted", "SlackLimits"]


_API_PREFIX = "/api/"
_DEFAULT_PAGE = 200  # users.list page size when `limit` is missing or 0
_MAX_PAGE = 1000  # cap on `limit`, so one answer stays bounded (Slack recommends 200)
_CURSOR_PREFIX = "user:"  # real cursors are base64("user:<next id>"), see the users.list sample


@dataclass
class Fault:
    """One scripted misbehaviour, answered instead of the real result of one call."""

    status: int = 200
    error: str | None = None  # ok:false error name, e.g. "invalid_auth", "account_inactive"
    retry_after: int | None = None  # with status 429: Retry-After seconds (None = no header)
    delay: float = 0.0  # stall before answering (client timeouts)

    def __post_init__(self) -> None:
        # A 4xx other than 429 needs an error name, or the fault would silently answer normally.
        if self.error is None and self.status not in (200, 429) and self.status < 500:
            raise ValueError(f"Fault(status={self.status}) needs an error name")


@dataclass
class SlackLimits:
    """Slack's published rate limits, enforced per method (and per channel for posts).

    Every limit is a token bucket holding ``burst`` tokens, refilled at the limit's steady
    rate: ``burst`` calls may go back to back, then calls are admitted at the rate. Slack
    only says tiers "allow occasional bursts"; 3 is small enough that a client which ignores
    pacing meets 429 within a few calls, and large enough that a paced client with a little
    jitter never does. Raise it to model a more forgiving workspace.
    """

    scale: float = 1.0  # time compression: 60 means one real second stands for a Slack minute
    tier2_per_minute: int = 20  # users.list
    tier3_per_minute: int = 50  # users.lookupByEmail, conversations.open
    post_per_channel_per_second: float = 1.0  # chat.postMessage, per channel
    post_workspace_per_minute: int = 600  # chat.postMessage, whole workspace
    burst: int = 3

    def per_real_second(self, per_minute: float) -> float:
        """A Slack-time rate per minute as a rate per real second under ``scale``."""
        return per_minute * self.scale / 60.0


@dataclass
class Posted:
    """One message chat.postMessage accepted."""

    channel: str  # the user id the message was for (also when posted to their DM id)
    dm_channel: str  # the DM id Slack answered with ("D...")
    text: str
    blocks: list[Any] | None
    ts: str
    at: float  # clock() when accepted: the limits' clock, so tests can check pacing


class _TokenBucket:
    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate  # tokens per real second
        self.capacity = max(1, capacity)
        self.tokens = float(self.capacity)
        self.updated = now

    def wait(self, now: float) -> float:
        """Real seconds until a token is available (0 = available now); takes nothing."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class _ParamError(Exception):
    """A request whose parameters Slack would refuse; the message is the error name."""


def _error(name: str) -> Response:
    return Response(200, {"ok": False, "error": name})


def _ratelimited(retry_after: int | None, error: str = "ratelimited") -> Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Response(429, {"ok": False, "error": error}, headers)


def _params(request: Request) -> dict[str, Any]:
    """Arguments from the query string and a form or JSON body, as Slack accepts all three.

    slack_sdk's sync client POSTs form bodies even for "GET" methods, its async client puts
    them in the query, and chat.postMessage goes as JSON.
    """
    params: dict[str, Any] = {name: values[0] for name, values in request.query.items()}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # slack_sdk labels even body-less calls (auth.test) as JSON, so an empty body is no error.
    if content_type == "application/json" and request.body:
        try:
            body = request.json()
        except ValueError as exc:
            raise _ParamError("invalid_json") from exc
        if not isinstance(body, dict):
            raise _ParamError("invalid_json")
        params.update(body)
    elif content_type == "application/x-www-form-urlencoded":
        form = parse_qs(request.body.decode(errors="replace"), keep_blank_values=True)
        params.update({name: values[0] for name, values in form.items()})
    return params


def _blocks(raw: Any) -> list[Any] | None:
    """Blocks arrive as a list in JSON bodies and as a JSON string in form bodies."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as exc:
            raise _ParamError("invalid_blocks_format") from exc
    if not isinstance(raw, list):
        raise _ParamError("invalid_blocks_format")
    return raw or None


class FakeSlack(FakeHTTPServer):
    """A Slack workspace ("Acme", team T0OHUGAMCRA) answering the Web API on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str = "xoxb-test-token",
        latency: float = 0.0,
        limits: SlackLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        scopes: str = "chat:write,im:write,users:read,users:read.email",
    ) -> None:
        super().__init__()
        self.token = token
        # Granted bot scopes, sent back in x-oauth-scopes on every answer as Slack does.
        self.scopes = scopes
        self.revoked = False  # True: every call answers token_revoked (an admin revoked us)
        self.outage_status: int | None = None  # e.g. 503: every call answers it (Slack down)
        self.latency = latency
        self.limits = limits
        self.clock = clock
        self.messages: list[Posted] = []
        self.rate_limited: Counter[str] = Counter()  # 429s from `limits` only, by method
        # Members in users.list order; the dicts are never mutated once stored, so answers
        # may share them with the encoder after the lock is released.
        self._members: list[dict[str, Any]] = []
        self._position: dict[str, int] = {}  # user id -> index in _members (cursors)
        self._by_email: dict[str, str] = {}  # lower-cased email -> user id
        self._dm_of_user: dict[str, str] = {}
        self._user_of_dm: dict[str, str] = {}
        self._faults: dict[str, deque[Fault]] = {}
        self._buckets: dict[tuple[str, str], _TokenBucket] = {}
        self._last_ts_us = 0
        self._handlers: dict[str, Callable[[dict[str, Any]], Response]] = {
            "auth.test": self._auth_test,
            "users.list": self._users_list,
            "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._post_message,
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
    ) -> dict[str, Any]:
        """Add a member and return a copy of it. ``name`` is the real name ("Ana Lopez");
        it defaults to one made from the email. Bots get no email, as in real Slack."""
        added = member(user_id, email, name=name, deleted=deleted, is_bot=is_bot)
        with self.lock:
            self._store(added)
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
                self._store(member)

    def generate_users(self, emails: Iterable[str]) -> dict[str, str]:
        """Add one active person per email; return email -> user id ("U" + 10 characters,
        derived from the email so runs are reproducible)."""
        created: dict[str, str] = {}
        with self.lock:
            for email in emails:
                user_id = stable_id("U", email.lower(), self._position)
                self._store(member(user_id, email))
                created[email] = user_id
        return created

    def _store(self, member: dict[str, Any]) -> None:
        """Index a member (lock held). Ids and emails are unique in a real workspace."""
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
        if fault is not None and (scripted := self._fault_response(fault)) is not None:
            return scripted
        handler = self._handlers.get(method)
        if handler is None:
            return _error("unknown_method")
        authorization = request.headers.get("authorization")
        if not authorization:
            return _error("not_authed")
        if authorization != f"Bearer {self.token}":
            return _error("invalid_auth")
        if self.revoked:
            return _error("token_revoked")
        try:
            params = _params(request)
            limited = self._enforce_limits(method, params)
            answer = limited or handler(params)
        except _ParamError as exc:
            return _error(str(exc))
        answer.headers.setdefault("x-oauth-scopes", self.scopes)
        return answer

    @staticmethod
    def _fault_response(fault: Fault) -> Response | None:
        if fault.status >= 500:
            # Slack's edge answers 5xx with a non-JSON body; clients must not try to parse it.
            reason = fault.error or http_reasons.get(fault.status, "Server Error")
            return Response(fault.status, reason, {"Content-Type": "text/plain"})
        if fault.status == 429:
            return _ratelimited(fault.retry_after, fault.error or "ratelimited")
        if fault.error is not None:
            return Response(fault.status, {"ok": False, "error": fault.error})
        return None  # a delay-only fault: stall, then answer normally

    def _enforce_limits(self, method: str, params: dict[str, Any]) -> Response | None:
        """429 if any bucket the call needs is empty; otherwise take one token from each.

        A refused call takes nothing, so a client that waits Retry-After gets through.
        """
        if self.limits is None:
            return None
        limits = self.limits
        keys: list[tuple[str, str, float]] = []  # (method, scope, tokens per real second)
        if method == "users.list":
            keys.append((method, "", limits.per_real_second(limits.tier2_per_minute)))
        elif method in ("users.lookupByEmail", "conversations.open"):
            keys.append((method, "", limits.per_real_second(limits.tier3_per_minute)))
        elif method == "chat.postMessage":
            channel = str(params.get("channel") or "")
            per_channel = limits.post_per_channel_per_second * limits.scale
            keys.append((method, self._user_of_dm.get(channel, channel), per_channel))
            keys.append((method, "", limits.per_real_second(limits.post_workspace_per_minute)))
        now = self.clock()
        buckets = []
        for method_name, scope, rate in keys:
            bucket = self._buckets.get((method_name, scope))
            if bucket is None:
                bucket = self._buckets[method_name, scope] = _TokenBucket(rate, limits.burst, now)
            buckets.append(bucket)
        wait = max((bucket.wait(now) for bucket in buckets), default=0.0)
        if wait > 0:
            self.rate_limited[method] += 1
            # Real Slack sends whole seconds; under time scaling that overstates the wait.
            return _ratelimited(max(1, math.ceil(wait)))
        for bucket in buckets:
            bucket.tokens -= 1
        return None

    # -- methods ---------------------------------------------------------------
    def _auth_test(self, params: dict[str, Any]) -> Response:
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

    def _users_list(self, params: dict[str, Any]) -> Response:
        try:
            limit = int(params.get("limit") or 0)
        except ValueError as exc:
            raise _ParamError("invalid_arguments") from exc
        page_size = min(limit, _MAX_PAGE) if limit > 0 else _DEFAULT_PAGE
        start = self._decode_cursor(str(params.get("cursor") or ""))
        page = self._members[start : start + page_size]
        end = start + len(page)
        next_cursor = ""
        if end < len(self._members):
            next_id = self._members[end]["id"]
            next_cursor = base64.b64encode(f"{_CURSOR_PREFIX}{next_id}".encode()).decode()
        return Response(
            200,
            {
                "ok": True,
                "members": page,
                "cache_ts": int(time.time()),
                "response_metadata": {"next_cursor": next_cursor},
            },
        )

    def _decode_cursor(self, cursor: str) -> int:
        if not cursor:
            return 0
        try:
            decoded = base64.b64decode(cursor, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise _ParamError("invalid_cursor") from exc
        user_id = decoded.removeprefix(_CURSOR_PREFIX)
        if not decoded.startswith(_CURSOR_PREFIX) or user_id not in self._position:
            raise _ParamError("invalid_cursor")
        return self._position[user_id]

    def _lookup_by_email(self, params: dict[str, Any]) -> Response:
        email = str(params.get("email") or "").strip().lower()
        if not email:
            raise _ParamError("invalid_arguments")
        user_id = self._by_email.get(email)
        if user_id is None:
            return _error("users_not_found")
        # Deleted users are returned too, flagged deleted: true: callers must check.
        return Response(200, {"ok": True, "user": self._members[self._position[user_id]]})

    def _conversations_open(self, params: dict[str, Any]) -> Response:
        users = [u for u in str(params.get("users") or "").split(",") if u]
        if not users:
            return _error("users_list_not_supplied")
        if len(users) > 1:
            return _error("invalid_arguments")  # group DMs are out of scope for this fake
        user_id = users[0]
        if user_id not in self._position:
            return _error("user_not_found")
        member = self._members[self._position[user_id]]
        if member["is_bot"]:
            return _error("cannot_dm_bot")
        if member["deleted"]:
            return _error("user_disabled")  # documented for conversations.open
        return Response(200, {"ok": True, "channel": {"id": self._dm_channel(user_id)}})

    def _post_message(self, params: dict[str, Any]) -> Response:
        channel = str(params.get("channel") or "")
        # Accept a user id (Slack opens the DM itself) or a DM id from conversations.open.
        user_id = self._user_of_dm.get(channel, channel)
        if user_id not in self._position:
            return _error("channel_not_found")
        if self._members[self._position[user_id]]["is_bot"]:
            return _error("cannot_dm_bot")
        # No deleted check on purpose: real Slack accepts posts to a deactivated user's DM.
        text = str(params.get("text") or "")
        blocks = _blocks(params.get("blocks"))
        if not text and blocks is None:
            return _error("no_text")
        dm_channel = self._dm_channel(user_id)
        ts = self._next_ts()
        self.messages.append(Posted(user_id, dm_channel, text, blocks, ts, self.clock()))
        message: dict[str, Any] = {
            "user": BOT_USER_ID,
            "type": "message",
            "ts": ts,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "text": text,
            "team": TEAM_ID,
        }
        if blocks is not None:
            message["blocks"] = blocks
        return Response(200, {"ok": True, "channel": dm_channel, "ts": ts, "message": message})

    def _dm_channel(self, user_id: str) -> str:
        """The user's DM id: made on first use, the same ever after (as in Slack)."""
        dm = self._dm_of_user.get(user_id)
        if dm is None:
            dm = stable_id("D", user_id, self._user_of_dm)
            self._dm_of_user[user_id] = dm
            self._user_of_dm[dm] = user_id
        return dm

    def _next_ts(self) -> str:
        """Epoch seconds with 6 decimals, strictly increasing: ts identifies a message."""
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        seconds, micros = divmod(now_us, 1_000_000)
        return f"{seconds}.{micros:06d}"
