"""Requests per launch: Okta review pages and Slack calls per reviewer, through `serve`.

A campaign of 350 reviews over 100 reviewers (3 of them group reviews, 4 people with
no Slack account, 1 deactivated) is launched through the real hook endpoint of a real
`certnotify serve`; we count what reached the fake Okta and Slack servers.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

from bench.common import launch_body, post_hook, serve, wait_for
from fakes.okta import FakeOkta
from fakes.slack import FakeSlack

REVIEWS, REVIEWERS, GROUP_REVIEWS = 350, 100, 3


def run() -> list[tuple[str, str, str]]:
    with FakeOkta() as okta, FakeSlack() as slack:
        campaign_id = okta.generate_campaign(
            reviews=REVIEWS, reviewers=REVIEWERS, group_reviews=GROUP_REVIEWS,
            start=datetime.now(UTC),
        )  # fmt: skip
        emails = [r["email"] for r in okta.reviewers_of(campaign_id)]
        ids = slack.generate_users(emails[:-5])  # 5 people have no Slack account...
        slack.add_user("U0DEACTIVATED", emails[-5], deleted=True)  # ...then 1 deactivated
        del ids
        reachable = len(emails) - 5
        with serve(okta, slack) as served:
            started = time.monotonic()
            assert post_hook(served.base, launch_body(campaign_id)).status_code == 204
            wait_for(lambda: len(slack.messages) >= reachable)
            elapsed = time.monotonic() - started
            time.sleep(1.0)  # anything extra would show up now
            pages = len(okta.review_page_requests())
            calls = slack.call_count()
            # The same launch delivered again under new ids: nothing more may be sent
            # (the campaign is re-read, which refreshes the reviewer table).
            assert post_hook(served.base, launch_body(campaign_id, 1)).status_code == 204
            time.sleep(2.0)
        posted = [m.channel for m in slack.messages]
        return [
            ("launch: reviews / reviewers", f"{REVIEWS} / {len(emails)}", "campaign"),
            ("launch: DMs sent / Slack-reachable reviewers",
             f"{len(posted)} / {reachable} (unique {len(set(posted))})", "exactly one each"),
            ("launch: Okta review-page requests", f"{pages}",
             f"ceil({REVIEWS}/200) = {math.ceil(REVIEWS / 200)}"),
            ("launch: Okta requests to the -admin host", f"{len(okta.admin_requests)}", "0"),
            ("launch: Slack calls per reviewer", f"{calls / len(emails):.3f} ({calls} calls: "
             f"{slack.call_count('users.list')} users.list, "
             f"{slack.call_count('users.lookupByEmail')} lookupByEmail, "
             f"{slack.call_count('chat.postMessage')} postMessage)", "about 1"),
            ("launch: hook event to last DM", f"{elapsed:.2f} s", "-"),
        ]  # fmt: skip


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
