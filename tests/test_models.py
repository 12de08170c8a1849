"""Parsing Okta payloads: tolerant of missing keys, strict about ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.intake.envelope import EnvelopeError, parse_envelope
from app.models import Campaign, Review, ReviewerTally
from tests.helpers import sample


def test_campaign_times_carry_the_zone_offset_and_are_compared_in_utc():
    campaign = Campaign.from_api(sample("campaign-active.json"))
    assert campaign.start == datetime(2026, 9, 1, 16, 0, tzinfo=UTC)
    assert campaign.end == datetime(2026, 9, 29, 16, 0, tzinfo=UTC)
    assert campaign.time_zone == "America/Los_Angeles"
    assert campaign.status == "ACTIVE"


def test_campaign_end_falls_back_to_start_plus_duration_with_fractions():
    data = sample("campaign-active.json")
    data["scheduleSettings"] = {
        "startDate": "2023-06-01T17:00:01.001-07:00",
        "durationInDays": 0,
        "timeZone": "America/Denver",
    }
    campaign = Campaign.from_api(data)
    assert campaign.start == datetime(2023, 6, 2, 0, 0, 1, 1000, tzinfo=UTC)
    assert campaign.end == campaign.start


def test_campaign_without_schedule_is_tolerated():
    campaign = Campaign.from_api({"id": "ici1", "name": None})
    assert (campaign.name, campaign.start, campaign.end, campaign.time_zone) == (
        "ici1",
        None,
        None,
        "",
    )


def test_campaign_with_bad_id_is_refused():
    with pytest.raises(ValueError, match="valid id"):
        Campaign.from_api({"id": "../x"})


def test_tally_of_the_sample_pages():
    tally = ReviewerTally()
    tally.add_page(sample("reviews-page-1.json")["data"])
    tally.add_page(sample("reviews-page-2.json")["data"])
    counts = {c.person.email: (c.total, c.pending) for c in tally.reviewers.values()}
    assert counts == {
        "ana.lopez@example.com": (2, 1),
        "ben.okafor@example.com": (1, 1),
        "omar.haddad@example.com": (1, 0),
    }
    assert [u.review_id for u in tally.unresolved] == ["icre4HJvPLFlWdE3d0g7"]
    assert [c.person.email for c in tally.pending_reviewers] == [
        "ana.lopez@example.com",
        "ben.okafor@example.com",
    ]


def test_decided_group_review_is_not_attributed_to_the_member_who_decided():
    review = sample("reviews-page-2.json")["data"][0]
    review["decision"] = "APPROVE"
    review["reviewerProfile"] = {"id": "00uX", "email": "member@example.com"}
    parsed = Review.from_api(review)
    assert parsed.reviewer is None
    tally = ReviewerTally()
    tally.add(parsed)
    assert tally.reviewers == {}
    assert tally.unresolved == []


def test_reviews_without_usable_ids_are_skipped_and_counted():
    tally = ReviewerTally()
    tally.add_page([{"id": "../1"}, "nonsense", {"id": "icrOK", "reviewerProfile": {}}])
    assert tally.reviews_skipped == 2
    assert tally.reviews_seen == 1
    assert len(tally.unresolved) == 1  # a USER review with an empty profile: nobody to tell


def test_envelope_parsing_keeps_good_events_and_names_why_others_were_dropped():
    body = sample("event-close.json")
    body["data"]["events"].append({"uuid": "x y", "eventType": "a"})
    delivery = parse_envelope(body)
    assert [e.event_type for e in delivery.events] == [
        "certification.campaign.close",
        *["certification.campaign.item.decide"] * 3,
    ]
    assert delivery.dropped == ["event has no valid uuid"]


def test_decide_event_without_campaign_id_is_kept_when_the_review_id_is_there():
    body = sample("event-decide-reassign.json")
    del body["data"]["events"][0]["debugContext"]["debugData"]["campaignId"]
    delivery = parse_envelope(body)
    assert len(delivery.events) == 1
    assert delivery.events[0].campaign_id == ""


def test_launch_event_without_campaign_id_is_dropped():
    body = sample("event-launch.json")
    del body["data"]["events"][0]["debugContext"]
    assert parse_envelope(body).dropped == ["certification.campaign.launch: no campaignId"]


def test_not_an_envelope():
    with pytest.raises(EnvelopeError):
        parse_envelope({"eventType": "com.okta.event_hook", "data": []})
