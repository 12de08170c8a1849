"""Slack Web API access: a thin gateway over ``slack_sdk.WebClient``.

The SDK's own retry handlers do the retrying (429 with ``Retry-After``, 500/503,
connection resets). On top of them:

* a 429's ``Retry-After`` pauses every call of that method in this process
  (``RateGate``), instead of each thread discovering the limit on its own;
* ``ok: false`` answers become three kinds of exception: ``SlackAuthError``
  (our token or scopes are broken: stop and report, don't burn the queue),
  ``SlackPermanentError`` (this recipient can't be reached: record, never retry)
  and ``SlackTransientError`` (try again later).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from app.messages import render_console

__all__ = [
    "REQUIRED_SCOPES",
    "DryRunSlack",
    "Posted",
    "RateGate",
    "SlackAuthError",
    "SlackError",
    "SlackGateway",
    "SlackMember",
    "SlackNotAnAPI",
    "SlackPermanentError",
    "SlackSender",
    "SlackTransientError",
    "build_web_client",
]

log = logging.getLogger(__name__)

# ``account_inactive`` is about *our* token (Slack: "Authentication token is for a
# deleted user or workspace when using a bot token"), so it stops the queue.
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
        "not_allowed_token_type",
        "team_access_not_granted",
        "ekm_access_denied",
        "org_login_required",
    }
)
# The bot scopes the code uses: chat:write (chat.postMessage to a user id opens the DM by
# itself), users:read (users.list), users:read.email (emails in users.list, lookupByEmail).
REQUIRED_SCOPES = ("chat:write", "users:read", "users:read.email")
TRANSIENT_ERRORS = frozenset(
    {
        "rate_limited",
        "ratelimited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
        "team_added_to_org",
    }
)


class SlackError(Exception):
    # The setting an operator fixes when this error is about our own set-up.
    setting = "SLACK_BOT_TOKEN"

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}{': ' + detail if detail else ''}")
        self.code = code


class SlackAuthError(SlackError):
    """Our token or its scopes are broken. Nothing can be sent until an admin fixes it."""


class SlackNotAnAPI(SlackAuthError):
    """Whatever answers at SLACK_API_URL is not the Slack Web API: nothing can be sent."""

    setting = "SLACK_API_URL"


class SlackPermanentError(SlackError):
    """This recipient cannot be messaged (no such user, DMs disabled...). Do not retry."""


class SlackTransientError(SlackError):
    def __init__(self, code: str, detail: str = "", retry_after: float = 0.0) -> None:
        super().__init__(code, detail)
        self.retry_after = retry_after


@dataclass(frozen=True)
class SlackMember:
    id: str
    email: str
    deleted: bool = False
    is_bot: bool = False

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
        profile = user.get("profile") if isinstance(user.get("profile"), dict) else {}
        email = profile.get("email") if isinstance(profile.get("email"), str) else ""
        is_bot = bool(user.get("is_bot")) or user_id == "USLACKBOT"
        return cls(user_id, email.lower(), bool(user.get("deleted")), is_bot)


@dataclass(frozen=True)
class Posted:
    channel: str
    ts: str


class RateGate:
    """Paces Slack calls per method, for every thread of the process at once.

    Two things hold a call back: the method's pace (``calls_per_minute``: a token
    bucket holding ten seconds' worth of calls, so a handful go at once and a
    fan-out settles at Slack's tier instead of bursting into 429s) and a pause
    (after a 429, *everyone* waits ``Retry-After``, not just the caller).

    Slack does not publish the workspace-wide posting limit, so the pace adapts:
    a 429 lowers the method's rate by 15% (once per pause: the other calls already
    in flight when it came are the same event), and every 50 calls without one raise
    it by 5%, never above the configured rate. A fan-out then runs just under the
    real limit with few 429s.
    """

    BURST_SECONDS = 10.0
    BACK_OFF = 0.85
    RECOVER_EVERY, RECOVER_BY = 50, 1.05

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        calls_per_minute: Mapping[str, float] | None = None,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._ceiling = {m: r for m, r in (calls_per_minute or {}).items() if r > 0}
        self.rate = dict(self._ceiling)  # current calls per minute, per method
        self._ok_calls: dict[str, int] = {}
        self._interval = {m: 60.0 / r for m, r in self.rate.items()}
        self._burst = {
            m: max(1.0, self.BURST_SECONDS / i) * i for m, i in self._interval.items()
        }  # in seconds of pace
        self._until: dict[str, float] = {}  # paused until (after a 429)
        # The bucket as a "virtual time": the next slot is free at _next; up to a burst's
        # worth of slots may be taken ahead of now.
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self.pauses = 0

    def pause(self, method: str, seconds: float) -> None:
        with self._lock:
            self.pauses += 1
            already_paused = self._until.get(method, 0.0) > self._clock()
            until = max(self._until.get(method, 0.0), self._clock() + seconds)
            self._until[method] = until
            # After a 429 the bucket starts empty: no burst straight into the next 429.
            self._next[method] = max(self._next.get(method, 0.0), until)
            if method in self.rate and not already_paused:
                slower = max(self._ceiling[method] / 10, self.rate[method] * self.BACK_OFF)
                self._set_rate(method, slower)

    def _set_rate(self, method: str, rate: float) -> None:
        self.rate[method] = rate
        self._interval[method] = 60.0 / rate
        self._ok_calls[method] = 0

    def _count_ok(self, method: str) -> None:
        if method not in self.rate or self.rate[method] >= self._ceiling[method]:
            return
        self._ok_calls[method] = self._ok_calls.get(method, 0) + 1
        if self._ok_calls[method] >= self.RECOVER_EVERY:
            self._set_rate(method, min(self._ceiling[method], self.rate[method] * self.RECOVER_BY))

    def acquire(self, method: str) -> None:
        """Wait for this method's next slot (and for any pause) before a call."""
        while True:
            with self._lock:
                now = self._clock()
                slot = max(self._next.get(method, 0.0), now - self._burst.get(method, 0.0))
                start = max(now, self._until.get(method, 0.0), slot)
                if start - now <= 0.001:  # below clock resolution: go (and no busy loop)
                    self._next[method] = slot + self._interval.get(method, 0.0)
                    self._count_ok(method)
                    return
                if self._until.get(method, 0.0) < start:
                    # Only the pace holds us back: take the slot now, then sleep to it.
                    self._next[method] = start + self._interval.get(method, 0.0)
                    self._count_ok(method)
                    reserved = True
                else:
                    reserved = False  # paused: look again when the pause ends
            self._sleep(start - now)
            if reserved:
                return


def _method_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


class SharedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """The SDK's 429 handler, but the ``Retry-After`` pause is shared (``RateGate``)."""

    def __init__(self, gate: RateGate, max_retry_count: int) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.gate = gate

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:  # pragma: no cover - the SDK only calls us with a 429 response
            raise error  # type: ignore[misc]
        retry_after = 1.0
        for name, values in response.headers.items():
            if name.lower() == "retry-after" and values:
                with contextlib.suppress(ValueError):
                    retry_after = float(values[0])
        # A little jitter so parallel senders don't all return in the same instant.
        method = _method_of(request.url)
        self.gate.pause(method, retry_after + random.random() * 0.2)  # noqa: S311
        self.gate.acquire(method)
        state.next_attempt_requested = True
        state.increment_current_attempt()


class ProportionalJitter(Jitter):
    """Up to half the pause again, at random. The SDK's own jitter adds up to a whole
    second whatever the pause, which makes a short backoff setting meaningless."""

    def recalculate(self, duration: float) -> float:
        return duration * (1 + random.random() / 2)  # noqa: S311 - jitter, not crypto


def build_web_client(
    token: str,
    base_url: str,
    timeout: float,
    max_retries: int,
    gate: RateGate,
    backoff: float = 0.5,
) -> WebClient:
    # The SDK's own backoff between retries of one call (0.5 s, 1 s, 2 s... plus jitter).
    interval = BackoffRetryIntervalCalculator(backoff_factor=backoff, jitter=ProportionalJitter())
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=int(max(1, round(timeout))),
        retry_handlers=[
            SharedRateLimitRetryHandler(gate, max_retry_count=max_retries),
            ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
            ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        ],
    )


class SlackSender(Protocol):
    """What the rest of certnotify needs from Slack (real or dry-run)."""

    calls: Counter[str]

    def members(self) -> Iterator[SlackMember]: ...
    def lookup_email(self, email: str) -> SlackMember | None: ...
    def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted: ...
    def check_auth(self) -> list[str]: ...


def classify(exc: SlackApiError) -> SlackError:
    response = exc.response
    status = getattr(response, "status_code", 200)
    code = ""
    try:
        code = str(response.get("error") or "")
        slack_shaped = "ok" in response.data
    except (AttributeError, TypeError, ValueError):
        code, slack_shaped = "", False
    if not slack_shaped and status != 429 and 400 <= status < 500:
        # Every Slack Web API answer says "ok"; a 4xx without it is some other server.
        return SlackNotAnAPI(
            f"http_{status}", "the answer is not from the Slack Web API; check SLACK_API_URL"
        )
    if status == 429 or code in ("ratelimited", "rate_limited"):
        retry_after = 1.0
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            retry_after = float(
                response.headers.get("Retry-After") or response.headers.get("retry-after") or 1
            )
        return SlackTransientError(code or "ratelimited", retry_after=retry_after)
    if status >= 500:
        # Slack's edge answers 5xx with an HTML or text body, which the SDK reports as
        # "Received a response in a non-JSON format": the status says more.
        return SlackTransientError(f"http_{status}")
    if code in AUTH_ERRORS:
        return SlackAuthError(code)
    if code in TRANSIENT_ERRORS:
        return SlackTransientError(code)
    return SlackPermanentError(code or f"http_{status}")


class SlackGateway:
    """The Slack calls certnotify makes, with errors sorted into what to do next."""

    def __init__(self, client: WebClient, gate: RateGate) -> None:
        self.client = client
        self.gate = gate
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _call(self, method: str, fn: Callable[[], Any]) -> Any:
        self.gate.acquire(method)
        with self._lock:
            self.calls[method] += 1
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
                "users.list", lambda c=cursor: self.client.users_list(limit=200, cursor=c or None)
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


class DryRunSlack:
    """Prints each message instead of sending it. Every email counts as reachable."""

    PREFIX = "dry-run:"

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.time) -> None:
        self.out = out
        self.calls: Counter[str] = Counter()
        self._clock = clock
        self._lock = threading.Lock()
        self.posted: list[tuple[str, str]] = []

    def members(self) -> Iterator[SlackMember]:
        return iter(())

    def lookup_email(self, email: str) -> SlackMember | None:
        return SlackMember(self.PREFIX + email.lower(), email.lower())

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        who = channel.removeprefix(self.PREFIX)
        lines = render_console(blocks)
        with self._lock:
            self.calls["chat.postMessage"] += 1
            self.posted.append((channel, text))
            rule = "─" * max(8, 66 - len(who))
            print(f"── Slack DM to {who} (dry run) {rule}", file=self.out)
            for line in lines:
                print(f"   {line}", file=self.out)
            self.out.flush()
        return Posted("dry-run", f"{self._clock():.6f}")

    def check_auth(self) -> list[str]:
        return []  # nothing is sent, so no token to check
