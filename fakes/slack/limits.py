"""Slack's rate limits, enforced by the fake workspace with token buckets.

``SlackLimits`` holds the published limits (Web API tiers per method, one post per second per
channel, a workspace-wide posting limit) and a time-compression ``scale``; ``RateLimiter``
keeps one bucket per limit and decides whether a call may go now.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RateLimiter", "SlackLimits"]


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
    tier3_per_minute: int = 50  # users.lookupByEmail, conversations.open, chat.update
    post_per_channel_per_second: float = 1.0  # chat.postMessage, per channel
    post_workspace_per_minute: int = 600  # chat.postMessage, whole workspace
    burst: int = 3

    def per_real_second(self, per_minute: float) -> float:
        """A Slack-time rate per minute as a rate per real second under ``scale``."""
        return per_minute * self.scale / 60.0


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


class RateLimiter:
    """A workspace's token buckets, one per (method, scope), each made on first use.

    A bucket keeps the rate it was made with, even if the limits passed later differ.
    """

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], _TokenBucket] = {}

    def wait(self, limits: SlackLimits, method: str, channel: str, now: float) -> float:
        """Real seconds until every bucket the call needs has a token (0: the call may go).

        A call that may go takes one token from each; a refused call takes nothing, so a
        client that waits Retry-After gets through. ``channel`` is the one a chat.postMessage
        posts to (ignored for other methods).
        """
        keys: list[tuple[str, str, float]] = []  # (method, scope, tokens per real second)
        if method == "users.list":
            keys.append((method, "", limits.per_real_second(limits.tier2_per_minute)))
        elif method in ("users.lookupByEmail", "conversations.open", "chat.update"):
            keys.append((method, "", limits.per_real_second(limits.tier3_per_minute)))
        elif method == "chat.postMessage":
            per_channel = limits.post_per_channel_per_second * limits.scale
            keys.append((method, channel, per_channel))
            keys.append((method, "", limits.per_real_second(limits.post_workspace_per_minute)))
        buckets = []
        for method_name, scope, rate in keys:
            bucket = self._buckets.get((method_name, scope))
            if bucket is None:
                bucket = self._buckets[method_name, scope] = _TokenBucket(rate, limits.burst, now)
            buckets.append(bucket)
        wait = max((bucket.wait(now) for bucket in buckets), default=0.0)
        if wait > 0:
            return wait
        for bucket in buckets:
            bucket.tokens -= 1
        return 0.0
