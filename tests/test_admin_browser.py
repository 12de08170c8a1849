"""The admin page end to end, in a real headless Chromium: a launch posted through the
real endpoint of a real `certnotify serve`, then the pages as an operator sees them.

Chromium is Debian's package (`.ci/run` installs it when missing); Playwright's Python
package drives it through ``executable_path`` (browser downloads are not used).
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import UTC, datetime

import pytest

from tests.harness import post_hook, serve, wait_for
from tests.helpers import HOOK_SECRET, sample

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "admin-browser-token-0123456789"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found: install Debian's chromium package (apt-get install chromium)")


@pytest.fixture
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()


def test_an_operator_reads_the_campaign_and_its_delivery_log(
    browser, tmp_path, fake_okta, fake_slack
):
    campaign_id = fake_okta.generate_campaign(
        name="Q4 <Finance> & Engineering", reviews=8, reviewers=4, group_reviews=1,
        start=datetime.now(UTC),
    )  # fmt: skip
    emails = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    fake_slack.generate_users(emails[:3])  # one reviewer is not in Slack
    config = "worker:\n  poll_seconds: 0.2\n"
    with serve(fake_okta, fake_slack, config=config, workdir=tmp_path,
               extra_env={"CERTNOTIFY_ADMIN_TOKEN": ADMIN_TOKEN}) as served:  # fmt: skip
        body = sample("event-launch.json")
        body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"] = campaign_id
        assert post_hook(served.base, json.dumps(body).encode()).status_code == 204
        wait_for(lambda: len(fake_slack.messages) == 3, timeout=30)

        # No credentials, or the hook secret as Bearer or as the Basic password: 401.
        # (Headless Chromium turns a 401 challenge into a navigation error, so these go
        # through the browser context's own HTTP client.)
        anonymous = browser.new_context()
        for header in ("", f"Bearer {HOOK_SECRET}", basic("admin", HOOK_SECRET)):
            refused = anonymous.request.get(
                f"{served.base}/admin", headers={"Authorization": header} if header else {}
            )
            assert refused.status == 401
            assert refused.headers["www-authenticate"].startswith("Basic")
        anonymous.close()

        context = browser.new_context(
            http_credentials={"username": "operator", "password": ADMIN_TOKEN},
            viewport={"width": 390, "height": 844},  # a phone
        )
        page = context.new_page()
        response = page.goto(f"{served.base}/admin")
        assert response.status == 200
        assert page.title() == "Campaigns · certnotify"
        row = page.locator("tbody tr").first
        assert row.locator("th a").inner_text() == "Q4 <Finance> & Engineering"
        cells = [c.strip() for c in row.locator("td").all_inner_texts()]
        assert cells[0] == "ACTIVE"
        assert cells[4] == "4 (4 / 0)"  # reviewers (pending / done)
        assert cells[5] == "0%"
        # sent / failed / unreachable: one reviewer and the group's 3 members are not in Slack.
        assert cells[7].startswith("3 / 0 / 4")

        row.locator("th a").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Q4 <Finance> & Engineering"
        reviewers = page.locator("table").first.locator("tbody tr")
        assert reviewers.count() == 4
        log = reviewers.first.locator("ul.log li").inner_text()
        assert log.startswith("launch · ")
        assert "sent" in log
        unreachable = page.locator("td.unmapped").all_inner_texts()
        assert unreachable == ["no Slack account with this email"]
        assert "Reviews held by a group or nobody" in page.content()
        assert page.locator("table").nth(1).locator("tbody tr").count() == 1
        # Nothing executes: no script element, and the pages forbid them.
        assert page.locator("script").count() == 0
        page.screenshot(path=str(tmp_path / "admin-campaign.png"), full_page=True)
        context.close()
