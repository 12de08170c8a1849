"""Memory of a 50,000-review launch: peak RSS growth, streaming vs. holding every review.

The launch runs in a child process (so the fake servers' memory is not counted)
while a thread samples its resident set every 5 ms; the figure is the highest
sample minus the resident set just before the launch. The control run holds every
review in a list first, which is what streaming the pages avoids.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from bench.timescale import TimeScale
from fakes.okta import FakeOkta
from fakes.slack import FakeSlack

REVIEWS, REVIEWERS = 50_000, 2_500


class _Slack:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token


def _launch(okta_url: str, okta_token: str, slack_url: str, slack_token: str, campaign_id: str,
            hold_everything: bool, origin: tuple[float, float, float], out) -> None:  # fmt: skip
    from app.pipeline.on_launch import launch_campaign
    from app.services import Services
    from bench.timescale import TimeScale
    from tests.helpers import make_settings

    class _Okta:
        url, api_token = okta_url, okta_token

    # Okta allows 50 requests a minute: 251 requests are 5 minutes of real time, so the
    # fake Okta and this client share a clock running 60 times faster.
    clock = TimeScale(*origin)
    settings = make_settings(Path(tempfile.mkdtemp()), _Okta(), _Slack(slack_url, slack_token))
    services = Services.build(settings, clock=clock.now, sleep=clock.sleep)
    services.okta.get_campaign(campaign_id)  # warm up: imports, connections, first JSON
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * page

    peak, done = [rss()], threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss())

    before = rss()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    if hold_everything:
        everything = [review for page in services.okta.review_pages(campaign_id) for review in page]
        count = len(everything)
    else:
        count = launch_campaign(services, campaign_id).reviews
    peak[0] = max(peak[0], rss())
    done.set()
    sampler.join()
    out.send((before, peak[0], count))


def _measure(
    okta: FakeOkta, slack: FakeSlack, campaign_id: str, hold: bool, clock: TimeScale
) -> tuple[float, int]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    args = (okta.url, okta.api_token, slack.url, slack.token, campaign_id, hold, clock.origin,
            child)  # fmt: skip
    process = ctx.Process(target=_launch, args=args)
    process.start()
    before, after, reviews = parent.recv()
    process.join(timeout=60)
    return (after - before) / 2**20, reviews


def run() -> list[tuple[str, str, str]]:
    clock = TimeScale(60.0)
    with FakeOkta(clock=clock.epoch) as okta, FakeSlack() as slack:
        campaign_id = okta.generate_campaign(
            reviews=REVIEWS, reviewers=REVIEWERS, start=datetime.now(UTC)
        )
        slack.generate_users(r["email"] for r in okta.reviewers_of(campaign_id))
        streamed, reviews = _measure(okta, slack, campaign_id, False, clock)
        held, _ = _measure(okta, slack, campaign_id, True, clock)
    return [
        (f"memory: launch of {REVIEWS:,} reviews ({REVIEWERS:,} reviewers), peak RSS growth",
         f"{streamed:.1f} MB ({reviews:,} reviews read)", "< 50 MB"),
        ("memory: control, every review held in a list", f"{held:.1f} MB", "-"),
    ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
