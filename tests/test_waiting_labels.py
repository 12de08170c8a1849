"""What is waiting (issue 13): reminders name the applications a reviewer's pending items
are about, with their counts, from the fake Okta org's apps (``GET /api/v1/apps/{id}``)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.models import Campaign
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from fakes.okta import Fault

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)  # Tue 1 Sep, 09:00 in Los Angeles
APPS = "/api/v1/apps/"
REFUSED = "okta refused to name applications"


class Org:
    def __init__(self, services, okta, slack, *, in_slack=False, **campaign) -> None:
        """``in_slack``: the reviewers already have Slack accounts."""
        self.services, self.okta, self.slack = services, okta, slack
        self.id = okta.generate_campaign(start=START, **campaign)
        self.emails = [r["email"] for r in okta.reviewers_of(self.id)]
        self.ids = {} if in_slack else slack.generate_users(self.emails)
        # The generated campaign's two apps: Salesforce and GitHub Enterprise.
        self.apps = list(dict.fromkeys(r["resourceId"] for r in okta.reviews_of(self.id)))
        launch_campaign(services, self.id)
        services.outbox.drain()
        start = Campaign.from_api(okta._campaigns[self.id]).start
        assert start is not None
        self.start = start.astimezone(LA).date()

    def remind(self, day: int):
        before = len(self.slack.messages)
        result = run_reminder_pass(self.services, today=self.start + timedelta(days=day))
        return result, self.slack.messages[before:]

    def assign(self, resources: list[str]) -> None:
        """Point the campaign's reviews (list order) at these resources."""
        reviews = self.okta.reviews_of(self.id)
        assert len(reviews) == len(resources)
        for review, resource in zip(reviews, resources, strict=True):
            self.okta.add_review({**review, "resourceId": resource})


def body(message) -> str:
    """The reminder's text section (the fallback text carries only the totals)."""
    return message.blocks[1]["text"]["text"]


def waiting(message) -> str:
    lines = [line for line in body(message).splitlines() if line.startswith("Waiting:")]
    assert len(lines) <= 1
    return lines[0] if lines else ""


def test_a_reminder_names_the_top_applications_and_counts_the_rest(services, fake_okta, fake_slack):
    org = Org(services, fake_okta, fake_slack, reviews=10, reviewers=1)
    salesforce, github = org.apps
    fake_okta.add_app("0oaWorkdayApp0000000", "Workday")
    fake_okta.add_app("0oaZoomApp0000000000", "Zoom")
    org.assign([salesforce] * 4 + [github] * 3 + ["0oaWorkdayApp0000000"] * 2
               + ["0oaZoomApp0000000000"])  # fmt: skip
    _, [reminder] = org.remind(7)
    assert reminder.text.startswith("10 items are still waiting for your review")
    assert (
        waiting(reminder)
        == "Waiting: Salesforce (4), GitHub Enterprise (3), Workday (2) and 1 more"
    )
    # The counts are live: decided items leave the list, and with three apps left none is
    # "more".
    reviews = fake_okta.reviews_of(org.id)
    for review in reviews[-2:]:  # the Zoom item and a Workday one
        fake_okta.decide(review["id"])
    fake_okta.decide(reviews[0]["id"])  # and a Salesforce one
    _, [reminder] = org.remind(14)
    assert waiting(reminder) == "Waiting: Salesforce (3), GitHub Enterprise (3), Workday (1)"
    # The final notice names them too.
    _, [final] = org.remind(25)
    assert final.text.startswith("3 days left: 7 items in Generated Access Review")
    assert waiting(final) == "Waiting: Salesforce (3), GitHub Enterprise (3), Workday (1)"


def test_a_hostile_application_label_is_shown_inert(services, fake_okta, fake_slack):
    org = Org(services, fake_okta, fake_slack, reviews=2, reviewers=1)
    fake_okta.add_app(org.apps[0], "<!here> *Payroll*")
    _, [reminder] = org.remind(7)
    line = waiting(reminder)
    assert line.startswith("Waiting: &lt;!here&gt; \u2217Payroll\u2217 (1), GitHub Enterprise (1)")
    assert "<" not in body(reminder)


def test_labels_are_read_once_per_app_for_a_whole_pass_and_remembered_for_a_day(
    services, fake_okta, fake_slack, clock
):
    # 12 reviews, 3 reviewers: each has 2 items in each of the two apps.
    org = Org(services, fake_okta, fake_slack, reviews=12, reviewers=3)
    assert fake_okta.requests_to(APPS) == []  # the launch DM names no application
    result, sent = org.remind(7)
    assert result.sent == 3
    for reminder in sent:
        assert sorted(waiting(reminder).removeprefix("Waiting: ").split(", ")) == [
            "GitHub Enterprise (2)",
            "Salesforce (2)",
        ]
    assert sorted(r.path for r in fake_okta.requests_to(APPS)) == sorted(
        APPS + app for app in org.apps
    )
    # The next pass within the day asks Okta for nothing.
    org.remind(14)
    assert len(fake_okta.requests_to(APPS)) == 2
    # A day later the names are read again (an app may have been renamed).
    fake_okta.add_app(org.apps[0], "Salesforce CRM")
    clock.advance(days=1, seconds=1)
    _, sent = org.remind(21)
    assert len(fake_okta.requests_to(APPS)) == 4
    assert all("Salesforce CRM (2)" in waiting(m) for m in sent)


def test_when_okta_refuses_app_reads_reminders_show_counts_only_and_it_is_logged_once(
    services, fake_okta, fake_slack, caplog
):
    org = Org(services, fake_okta, fake_slack, reviews=12, reviewers=3)
    # As Okta answers a service app without okta.apps.read (every time).
    fake_okta.inject(APPS, *[Fault(status=403)] * 10)
    with caplog.at_level(logging.WARNING):
        result, sent = org.remind(7)
        asked = len(fake_okta.requests_to(APPS))
        _, later = org.remind(14)  # the next pass: no new warning
    assert (result.sent, result.auth_error) == (3, "")
    assert len(later) == 3
    assert {m.channel for m in sent} == set(org.ids.values())
    for reminder in sent:
        assert reminder.text.startswith("4 items are still waiting for your review")
        assert waiting(reminder) == ""
        assert "Waiting" not in body(reminder)
    assert asked == 1  # one refusal is enough for the whole pass
    refusals = [r for r in caplog.records if REFUSED in r.getMessage()]
    assert len(refusals) == 1
    assert "HTTP 403" in refusals[0].getMessage()


def test_an_app_deleted_since_the_launch_is_counted_without_a_name(services, fake_okta, fake_slack):
    org = Org(services, fake_okta, fake_slack, reviews=4, reviewers=1)
    del fake_okta.directory.apps[org.apps[1]]  # GitHub Enterprise is gone: 404
    _, [reminder] = org.remind(7)
    assert waiting(reminder) == "Waiting: Salesforce (2) and 2 more"


def test_an_okta_error_on_one_app_is_no_refusal(services, fake_okta, fake_slack, caplog):
    org = Org(services, fake_okta, fake_slack, reviews=4, reviewers=1)
    # Salesforce's app answers 500 to every try of this pass (not an outage: no circuit).
    tries = services.okta.max_retries + 1
    fake_okta.inject(APPS + org.apps[0], *[Fault(status=500)] * tries)
    with caplog.at_level(logging.WARNING):
        _, [reminder] = org.remind(7)
    assert waiting(reminder) == "Waiting: GitHub Enterprise (2) and 2 more"
    assert len(fake_okta.requests_to(APPS + org.apps[0])) == tries
    assert not [r for r in caplog.records if REFUSED in r.getMessage()]
    # Not remembered as nameless: the next pass asks again, and Okta answers.
    _, [reminder] = org.remind(14)
    assert waiting(reminder) == "Waiting: Salesforce (2), GitHub Enterprise (2)"


def test_a_digest_names_each_campaigns_applications(services, fake_okta, fake_slack):
    first = Org(services, fake_okta, fake_slack, name="Review A", reviews=2, reviewers=1)
    second = Org(services, fake_okta, fake_slack, name="Review B", reviews=3, reviewers=1,
                 in_slack=True)  # fmt: skip
    assert first.emails == second.emails  # the same person in both
    _, [digest] = first.remind(7)
    sections = [b["text"]["text"] for b in digest.blocks if b["type"] == "section"]
    by_name = {s.split("*")[3]: s for s in sections}  # "*N items* … in *Name* — …"
    assert sorted(by_name) == ["Review A", "Review B"]
    assert by_name["Review A"].endswith("\nWaiting: Salesforce (1), GitHub Enterprise (1)")
    assert by_name["Review B"].endswith("\nWaiting: Salesforce (2), GitHub Enterprise (1)")
