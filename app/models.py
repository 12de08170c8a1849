"""What certnotify reads from Okta, as small typed values, and the pure logic on them.

Okta payloads are tolerated, not trusted: every parser accepts missing keys and
wrong types and says what it could not use, instead of raising from deep inside
a handler. Only the fields listed in the samples README are read.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from app.timeutil import parse_okta_time

__all__ = [
    "Campaign",
    "OktaNotifications",
    "Person",
    "Review",
    "ReviewerTally",
    "UnresolvedReview",
    "is_okta_id",
]

# Okta ids are alphanumeric. Anything else that claims to be an id came from
# outside and must never reach a URL path or a filter expression.
_OKTA_ID = re.compile(r"[A-Za-z0-9]{1,64}")

PENDING = "UNREVIEWED"
# Reviews whose reviewer is a set of people, not one person: nobody to DM.
_GROUP_REVIEWER_TYPES = {"GROUP", "RESOURCE_OWNER"}


def is_okta_id(value: object) -> bool:
    return isinstance(value, str) and _OKTA_ID.fullmatch(value) is not None


def _okta_id_or_empty(value: object) -> str:
    return value if isinstance(value, str) and is_okta_id(value) else ""


def _text(value: object, limit: int = 500) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


@dataclass(frozen=True)
class OktaNotifications:
    """A campaign's ``notificationSettings``: what Okta itself tells reviewers."""

    notify_on_assignment: bool = True
    reminders_before_end: tuple[timedelta, ...] = ()
    midpoint: bool = False

    @classmethod
    def from_api(cls, data: object) -> OktaNotifications:
        if not isinstance(data, Mapping):
            return cls()
        raw = data.get("remindersReviewerBeforeCampaignCloseInSecs")
        seconds = raw if isinstance(raw, list) else []
        return cls(
            notify_on_assignment=data.get("notifyReviewerWhenReviewAssigned") is not False,
            reminders_before_end=tuple(
                sorted(
                    {
                        timedelta(seconds=s)
                        for s in seconds
                        if isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 10**9
                    },
                    reverse=True,
                )
            ),
            midpoint=data.get("notifyReviewerDuringMidpointOfReview") is True,
        )


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    description: str
    status: str
    start: datetime | None  # aware UTC
    end: datetime | None  # aware UTC
    time_zone: str  # IANA name from scheduleSettings, "" when Okta gave none
    # The Okta template it was launched from (from the launch event; "" when unknown).
    template_id: str = ""
    # Okta's own reviewer notifications for this campaign (``notificationSettings``).
    okta: OktaNotifications = field(default_factory=OktaNotifications)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Campaign:
        """Parse ``GET /governance/api/v1/campaigns/{id}``.

        End = ``scheduleSettings.endDate``, else start + ``durationInDays`` (which can be 0).
        """
        campaign_id = data.get("id")
        if not is_okta_id(campaign_id):
            raise ValueError("campaign response has no valid id")
        schedule = data.get("scheduleSettings")
        schedule = schedule if isinstance(schedule, Mapping) else {}
        start = parse_okta_time(schedule.get("startDate"))
        end = parse_okta_time(schedule.get("endDate"))
        duration = schedule.get("durationInDays")
        if end is None and start is not None and isinstance(duration, int | float):
            end = start + timedelta(days=float(duration))
        return cls(
            id=str(campaign_id),
            name=_text(data.get("name"), 300) or str(campaign_id),
            description=_text(data.get("description"), 1000),
            status=_text(data.get("status"), 40).upper() or "UNKNOWN",
            start=start,
            end=end,
            time_zone=_text(schedule.get("timeZone"), 64),
            okta=OktaNotifications.from_api(data.get("notificationSettings")),
        )


@dataclass(frozen=True)
class Person:
    okta_id: str
    email: str
    first_name: str = ""
    last_name: str = ""

    @property
    def key(self) -> str:
        """Stable recipient key: the Okta user id, else the lower-cased email."""
        return self.okta_id or self.email.lower()

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email

    @classmethod
    def from_profile(cls, profile: object) -> Person | None:
        if not isinstance(profile, Mapping):
            return None
        email = _text(profile.get("email"), 320)
        raw_id = profile.get("id")
        okta_id = raw_id if isinstance(raw_id, str) and is_okta_id(raw_id) else ""
        if not email and not okta_id:
            return None
        return cls(
            okta_id=okta_id,
            email=email,
            first_name=_text(profile.get("firstName"), 100),
            last_name=_text(profile.get("lastName"), 100),
        )


@dataclass(frozen=True)
class Review:
    id: str
    campaign_id: str
    decision: str
    reviewer_type: str
    reviewer: Person | None  # the one person to notify; None for group reviews
    group_id: str = ""
    group_name: str = ""
    resource_id: str = ""  # the application (or group) the access is to

    @property
    def pending(self) -> bool:
        return self.decision == PENDING

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Review | None:
        """Parse one review; ``None`` when it has no usable id."""
        review_id = data.get("id")
        if not is_okta_id(review_id):
            return None
        reviewer_type = _text(data.get("reviewerType"), 40).upper() or "USER"
        # Branch on reviewerType, not on the presence of reviewerProfile: a decided
        # GROUP review carries the profile of the member who decided, who is not
        # "the reviewer" to notify.
        reviewer = None
        if reviewer_type not in _GROUP_REVIEWER_TYPES:
            reviewer = Person.from_profile(data.get("reviewerProfile"))
        group = data.get("reviewerGroupProfile")
        group = group if isinstance(group, Mapping) else {}
        raw_campaign = data.get("campaignId")
        return cls(
            id=str(review_id),
            campaign_id=raw_campaign
            if isinstance(raw_campaign, str) and is_okta_id(raw_campaign)
            else "",
            decision=_text(data.get("decision"), 40).upper() or PENDING,
            reviewer_type=reviewer_type,
            reviewer=reviewer,
            group_id=_text(group.get("groupId"), 64),
            group_name=_text(group.get("name"), 200),
            resource_id=_okta_id_or_empty(data.get("resourceId")),
        )


@dataclass
class ReviewerCount:
    person: Person
    total: int = 0
    pending: int = 0
    # resource id -> pending items: "what is waiting" in reminders.
    waiting: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class UnresolvedReview:
    """A pending review with no single person behind it (group, resource owner, no profile)."""

    review_id: str
    reviewer_type: str
    group_id: str
    group_name: str


@dataclass
class ReviewerTally:
    """Streaming aggregation of a campaign's reviews into unique reviewers.

    Memory grows with the number of reviewers, not reviews, so 50,000 reviews
    can pass through page by page.
    """

    reviewers: dict[str, ReviewerCount] = field(default_factory=dict)
    unresolved: list[UnresolvedReview] = field(default_factory=list)
    reviews_seen: int = 0
    reviews_skipped: int = 0  # no usable id

    def add_page(self, page: Iterable[Mapping[str, Any]]) -> list[Review]:
        """Count a page; returns its reviews a person already decided (the page's only:
        memory stays bounded), so the decisions they hold are known before any event."""
        decided = []
        for raw in page:
            review = Review.from_api(raw) if isinstance(raw, Mapping) else None
            if review is None:
                self.reviews_skipped += 1
                continue
            self.add(review)
            if review.reviewer is not None and not review.pending:
                decided.append(review)
        return decided

    def add(self, review: Review) -> None:
        self.reviews_seen += 1
        person = review.reviewer
        if person is None:
            if review.pending:
                self.unresolved.append(
                    UnresolvedReview(
                        review.id, review.reviewer_type, review.group_id, review.group_name
                    )
                )
            return
        count = self.reviewers.get(person.key)
        if count is None:
            count = self.reviewers[person.key] = ReviewerCount(person)
        count.total += 1
        if review.pending:
            count.pending += 1
            if review.resource_id:
                count.waiting[review.resource_id] += 1

    @property
    def pending_reviewers(self) -> list[ReviewerCount]:
        return [c for c in self.reviewers.values() if c.pending > 0]


# -- records passed between the database and the pipeline ---------------------------------
@dataclass(frozen=True)
class IntakeResult:
    duplicate_delivery: bool
    accepted: int
    duplicates: int
    dropped: int


@dataclass(frozen=True)
class ClaimedEvent:
    uuid: str
    event_id: str
    event_type: str
    campaign_id: str
    received_ts: float
    payload_text: str  # decoded by the worker, per event: one bad body must not stop a batch
    attempts: int

    @property
    def payload(self) -> dict[str, Any]:
        decoded = json.loads(self.payload_text)
        if not isinstance(decoded, dict):
            raise ValueError("stored event is not a JSON object")
        return decoded


# (campaign, recipient, kind, milestone): one message, at most once.
LedgerKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class EventOutcome:
    """What became of a claimed event: a final status, or back to pending at ``retry_at``."""

    uuid: str
    status: str  # done | ignored | failed | pending
    error: str = ""
    retry_at: datetime | None = None
    # An outage of Okta or our own credentials, not this event: the try is given back.
    uncounted: bool = False


@dataclass(frozen=True)
class PlannedMessage:
    campaign_id: str
    recipient: str
    kind: str
    milestone: str
    email: str
    slack_user_id: str | None  # None: nobody to send to -> recorded as unmapped
    text: str
    blocks: list[dict[str, Any]]
    unmapped_reason: str = ""
    skip_reason: str = ""  # recorded as "skipped": decided not to send, kept for audit
    not_before: datetime | None = None  # working hours: not sent before then
    group_key: str = ""  # rows sharing one are sent as one digest
    digest: dict[str, Any] | None = None  # this row's entry in such a digest

    @property
    def status(self) -> str:
        if self.skip_reason:
            return "skipped"
        return "pending" if self.slack_user_id else "unmapped"


@dataclass(frozen=True)
class MessageScope:
    """The ledger rows one job is responsible for (it waits for these to settle)."""

    campaign_id: str
    kind: str
    milestone: str


@dataclass(frozen=True)
class ClaimedMessage:
    id: int
    campaign_id: str
    recipient: str
    kind: str
    milestone: str
    slack_user_id: str
    text: str
    blocks: list[dict[str, Any]]
    attempts: int
    # Rows sent with this one as a digest (same group_key), and every row's digest entry,
    # this one's first: one Slack message settles them all.
    group: tuple[int, ...] = ()
    digest: tuple[dict[str, Any], ...] = ()

    @property
    def ids(self) -> tuple[int, ...]:
        return (self.id, *self.group)
