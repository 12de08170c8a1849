"""Day 7 of three campaigns that share their reviewers: what the scheduled pass plans and
what reaches Slack, with and without the digest, in one run.

3 campaigns started together, each with the same 300 reviewers (in Slack, spread over
four time zones). The scheduled pass runs at 09:00 UTC on day 7 (injected clock); the
outbox is then drained hour by hour until every reminder is out. Compared, in the same
run, with each campaign reminded on its own (what certnotify did before the digest: one
message per campaign per reviewer, all at the pass's hour).
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from app.services import Services
from fakes.okta import FakeOkta
from fakes.slack import FakeSlack
from tests.helpers import FakeClock, make_settings

CAMPAIGNS, REVIEWERS = 3, 300
START = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)
ZONES = ["America/Los_Angeles", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]


def _day7(separate: bool) -> dict[str, float]:
    clock = FakeClock(START + timedelta(minutes=5))
    with FakeOkta(clock=clock.epoch) as okta, FakeSlack() as slack:
        ids = [
            okta.generate_campaign(
                name=f"Review {n}", start=START, reviews=REVIEWERS * 2, reviewers=REVIEWERS
            )
            for n in range(CAMPAIGNS)
        ]
        emails = sorted({r["email"] for c in ids for r in okta.reviewers_of(c)})
        for n, email in enumerate(emails):
            slack.add_user(f"U{n:08d}", email, tz=ZONES[n % len(ZONES)])
        settings = make_settings(Path(tempfile.mkdtemp()), okta, slack)
        services = Services.build(settings, clock=clock, sleep=clock.sleep)
        for campaign_id in ids:
            launch_campaign(services, campaign_id)
        services.outbox.drain()
        launched = len(slack.messages)
        clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)
        started = time.perf_counter()
        if separate:  # each campaign on its own, at once: no digest, no working hours
            for campaign_id in ids:
                for other in ids:
                    if other != campaign_id:
                        services.store.campaigns.retire(other, "bench", clock())
                run_reminder_pass(services)
                for other in ids:
                    services.store.campaigns.unretire(other)
        else:
            run_reminder_pass(services, trigger="schedule", timed=True, send=False)
        planning = time.perf_counter() - started
        hours: Counter[int] = Counter()
        for hour in range(0, 48):
            clock.now = datetime(2026, 9, 8, 9, 0, tzinfo=UTC) + timedelta(hours=hour, minutes=30)
            before = len(slack.messages)
            services.outbox.drain()
            hours[hour] = len(slack.messages) - before
        rows = services.store.messages.counts()
        services.close()
    posts = len(slack.messages) - launched
    if separate:  # everything went out during the pass itself: one burst
        hours = Counter({0: posts})
    return {
        "posts": posts,
        "rows": rows.get("sent", 0) - launched,
        "planning": planning,
        "bursts": sum(1 for n in hours.values() if n),  # hours with sends
        "largest": max(hours.values()),
    }


def run() -> list[tuple[str, str, str]]:
    digest = _day7(separate=False)
    alone = _day7(separate=True)
    return [
        ("day 7, 3 campaigns x 300 shared reviewers: Slack posts, digest / per campaign",
         f"{digest['posts']:.0f} / {alone['posts']:.0f} (ledger rows sent: "
         f"{digest['rows']:.0f} / {alone['rows']:.0f})", "one per reviewer"),
        ("day 7: hourly send slots used (largest), digest / per campaign, 4 time zones",
         f"{digest['bursts']:.0f} ({digest['largest']:.0f} posts) / {alone['bursts']:.0f} "
         f"({alone['largest']:.0f} posts)", "one per zone, not one burst"),
        ("day 7: scheduled pass for 900 due reminders (Okta reads, planning)",
         f"{digest['planning']:.2f} s", "-"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
