"""Reviews held by an Okta group (issue 13): each active member is told, once per campaign
and group, against the fake Okta directory (``GET /api/v1/groups/{id}/users``) and Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.messages import visible_text
from app.models import Campaign
from app.pipeline.group_reviews import MAX_MEMBERS
from app.pipeline.on_launch import launch_campaign
from app.pipeline.reminder_pass import run_reminder_pass
from fakes.okta import Fault
from fakes.okta.data import person
from fakes.okta.people import user_record

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 9, 1, 16, 0, tzinfo=UTC)  # Tue 1 Sep, 09:00 in Los Angeles


def groups_of(fake_okta, campaign_id: str) -> dict[str, str]:
    """group id -> name, in list order, of the groups holding the campaign's reviews."""
    found: dict[str, str] = {}
    for review in fake_okta.reviews_of(campaign_id):
        group = review.get("reviewerGroupProfile")
        if group:
            found.setdefault(group["groupId"], group["name"])
    return found


def members_of(fake_okta, group_id: str) -> list[dict]:
    directory = fake_okta.directory
    return [directory.users[m] for m in directory.members[group_id]]


def email(user: dict) -> str:
    return user["profile"]["email"]


def campaign_with_groups(fake_okta, fake_slack, **campaign):
    """A campaign with person and group reviews; everyone (reviewers and every group
    member, the deprovisioned ones too) has a Slack account."""
    campaign_id = fake_okta.generate_campaign(start=START, **campaign)
    reviewers = [r["email"] for r in fake_okta.reviewers_of(campaign_id)]
    members = [
        email(m) for g in groups_of(fake_okta, campaign_id) for m in members_of(fake_okta, g)
    ]
    ids = fake_slack.generate_users(reviewers + members)
    return campaign_id, reviewers, ids


def first_day(fake_okta, campaign_id: str):
    campaign = Campaign.from_api(fake_okta._campaigns[campaign_id])
    assert campaign.start is not None
    return campaign.start.astimezone(LA).date()


def test_each_active_member_is_told_once_per_group_and_never_again(services, fake_okta, fake_slack):
    campaign_id, reviewers, ids = campaign_with_groups(
        fake_okta, fake_slack, reviews=18, reviewers=4, group_reviews=6, group_members=3
    )
    groups = groups_of(fake_okta, campaign_id)
    assert list(groups.values()) == [
        "Sales Ops Reviewers",
        "Finance Reviewers",
        "IT Access Reviewers",
    ]
    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()

    active = {g: [m for m in members_of(fake_okta, g) if m["status"] == "ACTIVE"] for g in groups}
    gone = [m for g in groups for m in members_of(fake_okta, g) if m["status"] != "ACTIVE"]
    assert [len(a) for a in active.values()] == [3, 3, 3]
    assert len(gone) == 3
    assert summary.group_members == 9
    assert summary.notes == []
    for group_id, name in groups.items():
        for member in active[group_id]:
            [message] = fake_slack.messages_to(ids[email(member)])
            # Two group reviews per group (6 spread over 3 groups).
            assert message.text == (
                f"Access review Generated Access Review: your group {name} has 2 access items"
                " to review by Tue 29 Sep, 09:00 PDT (in 28 days). Anyone in the group can"
                " decide them."
            )
    for member in gone:  # deprovisioned: never told (though in Slack)
        assert fake_slack.messages_to(ids[email(member)]) == []
    rows = services.store.messages.of_campaign(campaign_id, "group")
    assert sorted((r["milestone"], r["status"]) for r in rows) == sorted(
        (g, "sent") for g in groups for _ in range(3)
    )
    assert len(fake_slack.messages) == len(reviewers) + 9

    # A second launch (a redelivered event, a sync) and the reminder passes: nothing more
    # for the members (the reviewers get their day-7 reminder).
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    for day in (1, 7):
        run_reminder_pass(services, today=first_day(fake_okta, campaign_id) + timedelta(days=day))
    member_ids = {ids[email(m)] for g in groups for m in members_of(fake_okta, g)}
    assert sum(m.channel in member_ids for m in fake_slack.messages) == 9
    assert len(fake_slack.messages) == len(reviewers) * 2 + 9
    assert len(services.store.messages.of_campaign(campaign_id, "group")) == 9


def test_a_member_who_joins_later_is_told_by_the_next_pass(services, fake_okta, fake_slack):
    campaign_id, _reviewers, _ids = campaign_with_groups(
        fake_okta, fake_slack, reviews=6, reviewers=2, group_reviews=1, group_members=2
    )
    [group_id] = groups_of(fake_okta, campaign_id)
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    before = len(fake_slack.messages)

    newcomer = user_record(
        person("00uNewMember00000000", 3, "newcomer@example.com"),
        created="2026-09-02T10:00:00Z",
        admin=fake_okta.admin_url,
    )
    fake_okta.add_group(
        fake_okta.directory.groups[group_id], [*members_of(fake_okta, group_id), newcomer]
    )
    newcomer_id = fake_slack.generate_users(["newcomer@example.com"])["newcomer@example.com"]
    # Day 3: no reminder is due; only the newcomer hears about the group's reviews.
    result = run_reminder_pass(
        services, today=first_day(fake_okta, campaign_id) + timedelta(days=3)
    )
    [told] = fake_slack.messages[before:]
    assert told.channel == newcomer_id
    assert "your group Sales Ops Reviewers has 1 access item to review" in told.text
    assert result.sent == 1
    row = {r["recipient"]: r for r in services.store.messages.of_campaign(campaign_id, "group")}
    assert row["00uNewMember00000000"]["milestone"] == group_id
    # Once: the next pass tells nobody.
    run_reminder_pass(services, today=first_day(fake_okta, campaign_id) + timedelta(days=4))
    assert fake_slack.messages[before + 1 :] == []


def test_a_group_larger_than_the_limit_is_not_messaged(services, fake_okta, fake_slack):
    # group_members=N gives N active members and one deprovisioned: 201 members in all.
    campaign_id, reviewers, ids = campaign_with_groups(
        fake_okta, fake_slack, reviews=4, reviewers=2, group_reviews=1, group_members=MAX_MEMBERS
    )
    [group_id] = groups_of(fake_okta, campaign_id)
    assert len(members_of(fake_okta, group_id)) == MAX_MEMBERS + 1
    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()
    assert summary.notes == [f"group {group_id} has more than 200 members: not messaged"]
    assert summary.group_members == 0
    assert {m.channel for m in fake_slack.messages} == {ids[e] for e in reviewers}
    assert services.store.messages.of_campaign(campaign_id, "group") == []


def test_a_group_of_exactly_the_limit_is_messaged(services, fake_okta, fake_slack):
    campaign_id, reviewers, _ids = campaign_with_groups(
        fake_okta, fake_slack, reviews=4, reviewers=2, group_reviews=1,
        group_members=MAX_MEMBERS - 1,
    )  # fmt: skip
    [group_id] = groups_of(fake_okta, campaign_id)
    assert len(members_of(fake_okta, group_id)) == MAX_MEMBERS
    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()
    assert summary.notes == []
    assert summary.group_members == MAX_MEMBERS - 1
    assert len(fake_slack.messages) == len(reviewers) + MAX_MEMBERS - 1


def test_okta_refusing_the_members_call_leaves_a_note_and_the_launch_goes_on(
    services, fake_okta, fake_slack
):
    campaign_id, reviewers, ids = campaign_with_groups(
        fake_okta, fake_slack, reviews=12, reviewers=4, group_reviews=2, group_members=2
    )
    refused, allowed = groups_of(fake_okta, campaign_id)
    # As Okta answers a service app without okta.groups.read.
    fake_okta.inject(f"/api/v1/groups/{refused}/users", Fault(status=403))
    summary = launch_campaign(services, campaign_id)
    services.outbox.drain()
    [note] = summary.notes
    assert note.startswith(f"group {refused}: members not read (okta GET /api/v1/groups/")
    assert "HTTP 403 E0000006" in note
    # The reviewers and the other group's members are told all the same.
    told = {m.channel for m in fake_slack.messages}
    assert {ids[e] for e in reviewers} <= told
    assert {
        ids[email(m)] for m in members_of(fake_okta, allowed) if m["status"] == "ACTIVE"
    } <= told
    assert not told & {ids[email(m)] for m in members_of(fake_okta, refused)}
    assert len(fake_slack.messages) == len(reviewers) + 2
    assert services.store.messages.counts(campaign_id) == {"sent": len(reviewers) + 2}
    # The reminder pass tries again (the fault was one answer): the refused group's
    # members are told then.
    result = run_reminder_pass(
        services, today=first_day(fake_okta, campaign_id) + timedelta(days=1)
    )
    assert (result.sent, result.auth_error) == (2, "")


def test_a_reminder_pass_goes_on_when_okta_refuses_the_members_call(
    services, fake_okta, fake_slack
):
    campaign_id, reviewers, _ids = campaign_with_groups(
        fake_okta, fake_slack, reviews=6, reviewers=2, group_reviews=1, group_members=2
    )
    [group_id] = groups_of(fake_okta, campaign_id)
    fake_okta.inject(f"/api/v1/groups/{group_id}/users", Fault(status=403))
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    assert len(fake_slack.messages) == len(reviewers)
    fake_okta.inject(f"/api/v1/groups/{group_id}/users", Fault(status=403))
    before = len(fake_slack.messages)
    result = run_reminder_pass(
        services, today=first_day(fake_okta, campaign_id) + timedelta(days=7)
    )
    # The reviewers' day-7 reminders go out; a missing groups scope is no credentials error.
    assert (result.sent, result.auth_error) == (len(reviewers), "")
    assert len(fake_slack.messages[before:]) == len(reviewers)


def test_a_hostile_group_name_is_shown_inert(services, fake_okta, fake_slack):
    campaign_id, _reviewers, ids = campaign_with_groups(
        fake_okta, fake_slack, reviews=4, reviewers=1, group_reviews=1, group_members=1
    )
    [group_id] = groups_of(fake_okta, campaign_id)
    hostile = "<!channel> *x* <https://evil.example|click>"
    for review in fake_okta.reviews_of(campaign_id):
        if review.get("reviewerGroupProfile"):
            review["reviewerGroupProfile"] = {**review["reviewerGroupProfile"], "name": hostile}
            fake_okta.add_review(review)
    launch_campaign(services, campaign_id)
    services.outbox.drain()
    [member] = [m for m in members_of(fake_okta, group_id) if m["status"] == "ACTIVE"]
    [message] = fake_slack.messages_to(ids[email(member)])
    body = message.blocks[1]["text"]["text"]
    for text in (message.text, body):
        assert "<" not in text
        assert ">" not in text
        assert "*x*" not in text
    assert "Your group *&lt;!channel&gt; \u2217x\u2217 &lt;https:" in visible_text(body)
    assert "evil.example" not in body  # the dot is broken by word joiners
    assert "evil\u2060.\u2060example" in body
