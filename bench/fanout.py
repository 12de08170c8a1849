"""Fan-out to 5,000 reviewers against a fake Slack that enforces Slack's tiers.

Time is compressed (bench/timescale.py, scale 60: a real second is a Slack minute)
and the fake Slack runs in its own process. Slack's limits as modelled:
chat.postMessage 1/s per channel and 600/min workspace-wide, Tier 3
(users.lookupByEmail, conversations.open) 50/min, Tier 2 (users.list) 20/min,
bursts of 10, 429 with Retry-After.

- certnotify: the launch handler (one users.list sweep, then one post per
  reviewer, paced by the shared token bucket, 429s pausing every sender).
- baseline, in the same run: the workflow certnotify replaces, per reviewer
  users.lookupByEmail, conversations.open, chat.postMessage, one after the
  other, with slack_sdk's stock 429 handling (each request waits its own
  Retry-After + jitter).
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from app.pipeline.on_launch import launch_campaign
from app.services import Services
from bench.slack_process import SlackProcess
from bench.timescale import TimeScale
from fakes.okta import FakeOkta
from tests.helpers import make_settings

REVIEWERS = 5000
SCALE = 60.0
LIMITS = {
    "scale": 1.0,  # the fake runs on compressed time itself
    "tier2_per_minute": 20,
    "tier3_per_minute": 50,
    "post_per_channel_per_second": 1.0,
    "post_workspace_per_minute": 600,
    # Slack allows "short bursts"; 10 posts (1 s at the cap) also absorbs the scheduling
    # jitter that compressing time by 60 magnifies (2 ms real = 120 ms of Slack time).
    "burst": 10,
}
METHODS = ["users.list", "users.lookupByEmail", "conversations.open", "chat.postMessage"]


class _Settings:
    """Just what make_settings reads from a fake Slack."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token


def certnotify(okta: FakeOkta, campaign_id: str) -> tuple[float, dict]:
    clock = TimeScale(SCALE)
    with SlackProcess(limits=LIMITS, scale=SCALE) as slack:
        slack.generate_users(r["email"] for r in okta.reviewers_of(campaign_id))
        settings = make_settings(
            Path(tempfile.mkdtemp()), okta, _Settings(slack.url, slack.token),
            slack={"post_concurrency": 4, "max_retries": 10},
        )  # fmt: skip
        services = Services.build(settings, clock=clock.now, sleep=clock.sleep)
        started = clock.monotonic()
        summary = launch_campaign(services, campaign_id)
        result = services.outbox.settle(summary.scopes, sleep=clock.sleep)
        elapsed = clock.monotonic() - started
        services.close()
        stats = slack.stats(METHODS)
    assert result.sent == REVIEWERS, result
    return elapsed, stats


class _StockRetry(RateLimitErrorRetryHandler):
    """slack_sdk's RateLimitErrorRetryHandler, sleeping on compressed time."""

    def __init__(self, clock: TimeScale) -> None:
        super().__init__(max_retry_count=20)
        self.clock = clock

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        headers = {k.lower(): v for k, v in (response.headers if response else {}).items()}
        retry_after = int(headers.get("retry-after", ["1"])[0])
        self.clock.sleep(retry_after + random.random())
        state.next_attempt_requested = True
        state.increment_current_attempt()


def baseline(emails: list[str]) -> tuple[float, dict]:
    clock = TimeScale(SCALE)
    with SlackProcess(limits=LIMITS, scale=SCALE) as slack:
        slack.generate_users(emails)
        client = WebClient(
            token=slack.token, base_url=slack.url, retry_handlers=[_StockRetry(clock)]
        )
        started = clock.monotonic()
        for email in emails:
            user = client.users_lookupByEmail(email=email)["user"]["id"]
            channel = client.conversations_open(users=user)["channel"]["id"]
            client.chat_postMessage(channel=channel, text="You have access items to review.")
        elapsed = clock.monotonic() - started
        stats = slack.stats(METHODS)
    return elapsed, stats


def run() -> list[tuple[str, str, str]]:
    with FakeOkta() as okta:
        campaign_id = okta.generate_campaign(
            reviews=REVIEWERS, reviewers=REVIEWERS, start=datetime.now(UTC)
        )
        emails = [r["email"] for r in okta.reviewers_of(campaign_id)]
        real = time.monotonic()
        ours, ours_stats = certnotify(okta, campaign_id)
        ours_real = time.monotonic() - real
    real = time.monotonic()
    base, base_stats = baseline(emails)
    base_real = time.monotonic() - real
    dms = len(ours_stats["posted_to"])
    post_times = sorted(ours_stats["post_times"])
    post_span = post_times[-1] - post_times[0]
    posting_rate = (len(post_times) - 1) / post_span * 60 if post_span else 0.0
    unique = len(set(ours_stats["posted_to"]))

    def calls(stats: dict) -> str:
        return ", ".join(f"{m} {n}" for m, n in stats["calls"].items() if n)

    return [
        ("fan-out 5,000: certnotify", f"{ours / 60:.1f} Slack-min ({ours_real:.0f} s real)", "-"),
        ("fan-out 5,000: baseline (3 calls per reviewer)",
         f"{base / 60:.1f} Slack-min ({base_real:.0f} s real)", "-"),
        ("fan-out 5,000: speed-up", f"{base / ours:.1f}x", ">= 6x"),
        ("fan-out 5,000: posting rate vs workspace cap",
         f"{posting_rate:.0f} / {LIMITS['post_workspace_per_minute']} per min", "near the cap"),
        ("fan-out 5,000: Slack calls per reviewer, certnotify / baseline",
         f"{ours_stats['all_calls'] / REVIEWERS:.3f} / {base_stats['all_calls'] / REVIEWERS:.3f}",
         "<= 1.05 (was 3)"),
        ("fan-out 5,000: calls, certnotify", calls(ours_stats), "-"),
        ("fan-out 5,000: 429s, certnotify / baseline",
         f"{sum(ours_stats['rate_limited'].values())} / "
         f"{sum(base_stats['rate_limited'].values())}", "few"),
        ("fan-out 5,000: DMs (unique people), certnotify", f"{dms} ({unique})", "5000 (5000)"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
