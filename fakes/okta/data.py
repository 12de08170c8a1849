"""Generated Okta data for the fake org: campaigns, reviews and people, in the shape of
the recorded real responses in ``tests/samples/``. Pure: no server, no state."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

__all__ = ["API", "REVIEWS", "SYSTEM_PRINCIPAL", "generate", "link", "okta_id", "timestamp"]

API = "/governance/api/v1"
REVIEWS = f"{API}/reviews"
SYSTEM_PRINCIPAL = "spryNYaeCS2aMI3Jf0g7"  # the org's "Okta System" actor, as in the samples

_ALNUM = string.ascii_letters + string.digits
_ID_BYTES = bytes(ord(_ALNUM[i % len(_ALNUM)]) for i in range(256))  # byte -> id character
_SECONDS = "%Y-%m-%dT%H:%M:%S"
_FIRST_NAMES = ("Ana", "Ben", "Chen", "Dana", "Eli", "Fatima", "Gus", "Hana")
_FIRST_NAMES += ("Ivan", "Jia", "Kofi", "Lena", "Mateo", "Nina", "Omar", "Priya")
_LAST_NAMES = ("Lopez", "Okafor", "Wei", "Kim", "Novak", "Rahman", "Moreno", "Sato")
_LAST_NAMES += ("Petrov", "Li", "Mensah", "Fischer", "Rossi", "Berg", "Haddad", "Iyer")
_GROUP_NAMES = ("Sales Ops Reviewers", "Finance Reviewers", "IT Access Reviewers")


def generate(
    *,
    campaign_id: str,
    admin: str,
    name: str,
    reviews: int,
    reviewers: int,
    group_reviews: int,
    start: datetime | None,
    duration_days: int,
    time_zone: str,
    status: str,
    email_domain: str,
    description: str,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A campaign with ``reviews`` reviews (``group_reviews`` of them GROUP) and its reviews.

    Deterministic: everything is seeded by the campaign id. User reviews go round-robin to
    reviewers ``reviewer00000@…`` onwards, so each reviewer has one when there are at least
    as many user reviews as reviewers. GROUP reviews are spread evenly through the list.
    All reviews are UNREVIEWED, created 1 ms apart from 3 s after the launch (``start``,
    default 2026-09-01 09:00 in ``time_zone``; a naive ``start`` is read in that zone).
    """
    user_reviews = reviews - group_reviews
    if group_reviews < 0 or user_reviews < 0 or (user_reviews and reviewers < 1):
        raise ValueError("need 0 <= group_reviews <= reviews, and reviewers for user reviews")
    zone = ZoneInfo(time_zone)
    if start is None:
        start = datetime(2026, 9, 1, 9, tzinfo=zone)
    start = start.replace(tzinfo=zone) if start.tzinfo is None else start.astimezone(zone)
    launch = start.astimezone(UTC)
    cid = campaign_id
    rng = random.Random(cid)
    resources = [okta_id("0oa", rng), okta_id("0oa", rng)]
    reviewer_profiles = [
        person(okta_id("00u", rng), i, f"reviewer{i:05d}@{email_domain}") for i in range(reviewers)
    ]
    groups = [
        {"name": group_name, "groupId": okta_id("00g", rng), "groupType": "GROUP"}
        for group_name in _GROUP_NAMES[: min(group_reviews, len(_GROUP_NAMES))]
    ]
    reassign = link(f"{admin}{API}/campaigns/{cid}/reviews/reassign")
    first_created = launch + timedelta(seconds=3)
    generated = []
    principal: dict[str, Any] = {}
    second = ""
    users = grouped = 0
    for k in range(reviews):
        if k % len(resources) == 0:  # each principal is reviewed for every resource
            p = k // len(resources)
            principal = person(okta_id("00u", rng), p, f"user{p:06d}@{email_domain}")
        review_id = okta_id("icr", rng)
        if k % 1000 == 0:  # strftime once per second of timestamps, not per review
            second = (first_created + timedelta(seconds=k // 1000)).strftime(_SECONDS)
        created = f"{second}.{k % 1000:03d}Z"
        review: dict[str, Any] = {
            "_links": {
                "self": link(f"{admin}{REVIEWS}/{review_id}"),
                "reassignReview": reassign,
            },
            "id": review_id,
            "createdBy": SYSTEM_PRINCIPAL,
            "created": created,
            "lastUpdated": created,
            "lastUpdatedBy": SYSTEM_PRINCIPAL,
            "campaignId": cid,
            "resourceId": resources[k % len(resources)],
            "decision": "UNREVIEWED",
            "remediationStatus": "NONE",
            "principalProfile": principal,
        }
        # Bresenham-style spreading: review k is a group review when the running share
        # of group reviews steps up, so pages mix both kinds.
        if (k + 1) * group_reviews // reviews > k * group_reviews // reviews:
            review["reviewerType"] = "GROUP"
            review["reviewerGroupProfile"] = groups[grouped % len(groups)]
            grouped += 1
        else:
            review["reviewerProfile"] = reviewer_profiles[users % reviewers]
            review["reviewerType"] = "USER"
            users += 1
        review.update(assignmentType="GROUP", assignments=[], riskRuleConflicts=[])
        review["delegated"] = False
        generated.append(review)
    campaign = campaign_body(
        cid,
        admin=admin,
        creator=okta_id("00u", rng),
        name=name,
        description=description,
        status=status,
        start=start,
        duration_days=duration_days,
        time_zone=time_zone,
        resources=resources,
    )
    return campaign, generated


def link(href: str) -> dict[str, Any]:
    return {"href": href, "hints": {}}


def okta_id(prefix: str, rng: random.Random) -> str:
    # One C-level call instead of 17 choices: tens of thousands of ids per campaign.
    return prefix + rng.randbytes(17).translate(_ID_BYTES).decode()


def timestamp(moment: datetime) -> str:
    """UTC in Okta's `created` style."""
    return moment.astimezone(UTC).strftime(f"{_SECONDS}Z")


def person(user_id: str, index: int, email: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "email": email,
        "firstName": _FIRST_NAMES[index % len(_FIRST_NAMES)],
        "lastName": _LAST_NAMES[index // len(_FIRST_NAMES) % len(_LAST_NAMES)],
        "status": "ACTIVE",
        "type": "USER",
    }


def campaign_body(
    cid: str,
    *,
    admin: str,
    creator: str,
    name: str,
    description: str,
    status: str,
    start: datetime,
    duration_days: int,
    time_zone: str,
    resources: list[str],
) -> dict[str, Any]:
    """A campaign in the shape of campaign-active.json (``start`` is in the campaign zone)."""
    base = f"{admin}{API}/campaigns/{cid}"
    reviews_filter = quote(f'campaignId eq "{cid}"', safe="")
    # Aware datetime + timedelta keeps the wall-clock time: the end date takes the zone's
    # offset on that day (e.g. -08:00 once daylight saving time is over).
    end = start + timedelta(days=duration_days)
    launch = start.astimezone(UTC)
    return {
        "_links": {
            "launchCampaign": link(f"{base}/launch"),
            "endCampaign": link(f"{base}/end"),
            "reviews": link(f"{admin}{REVIEWS}?filter={reviews_filter}"),
            "self": link(base),
        },
        "id": cid,
        "createdBy": creator,
        "created": timestamp(launch - timedelta(days=12)),
        "lastUpdated": timestamp(launch + timedelta(seconds=4)),
        "lastUpdatedBy": SYSTEM_PRINCIPAL,
        "name": name,
        "description": description,
        "campaignType": "RESOURCE",
        "scheduleSettings": {
            "type": "ONE_OFF",
            "startDate": start.isoformat(timespec="seconds"),
            "durationInDays": duration_days,
            "timeZone": time_zone,
            "endDate": end.isoformat(timespec="seconds"),
        },
        "resourceSettings": {
            "type": "APPLICATION",
            "targetTypes": ["APPLICATION"],
            "targetResources": [
                {
                    "resourceId": resource_id,
                    "resourceType": "APPLICATION",
                    "includeAllEntitlementsAndBundles": False,
                    "includeBundlesHavingSameEntitlementValues": False,
                    "includeAllAppServiceAccounts": False,
                }
                for resource_id in resources
            ],
            "excludedResources": [],
            "individuallyAssignedAppsOnly": False,
            "individuallyAssignedGroupsOnly": False,
            "includeEntitlements": False,
            "onlyIncludeOutOfPolicyEntitlements": False,
            "includeAdminRoles": False,
            "includeAllOktaServiceAccounts": False,
        },
        "principalScopeSettings": {
            "type": "USERS",
            "excludedUserIds": [],
            "userIds": [],
            "groupIds": [],
            "includeOnlyActiveUsers": True,
            "onlyIncludeUsersWithSODConflicts": False,
        },
        "reviewerSettings": {
            "type": "REVIEWER_EXPRESSION",
            "reviewerScopeExpression": "user.profile.managerId",
            "fallBackReviewerId": creator,
            "selfReviewDisabled": True,
            "justificationRequired": False,
            "bulkDecisionDisabled": False,
            "reassignmentDisabled": False,
        },
        "notificationSettings": {
            "notifyReviewerWhenReviewAssigned": True,
            "notifyReviewerAtCampaignEnd": False,
            "remindersReviewerBeforeCampaignCloseInSecs": [604800, 86400],
            "notifyReviewerWhenOverdue": False,
            "notifyReviewerDuringMidpointOfReview": False,
            "notifyReviewPeriodEnd": False,
        },
        "remediationSettings": {
            "accessApproved": "NO_ACTION",
            "accessRevoked": "DENY",
            "noResponse": "NO_ACTION",
        },
        "status": status,
    }
