"""The directory behind a generated campaign: users (with managers), groups with members,
and apps with labels, in the shapes Okta's management API documents
(``GET /api/v1/users/{id}``, ``/groups/{id}``, ``/groups/{id}/users``, ``/apps/{id}``).
Pure: no server, no state."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from fakes.okta.data import link, okta_id, person

__all__ = ["People", "app_record", "generate_people", "group_record", "user_record"]

APP_LABELS = ("Salesforce", "GitHub Enterprise", "Workday", "Zoom", "Atlassian Cloud", "Box")
REVIEWERS_PER_MANAGER = 4
_USER_TYPE = {"id": "otyfnjfba4ye7pgjB0g4"}  # the org's default user type


@dataclass
class People:
    users: list[dict[str, Any]] = field(default_factory=list)
    groups: list[tuple[dict[str, Any], list[dict[str, Any]]]] = field(default_factory=list)
    apps: list[dict[str, Any]] = field(default_factory=list)


def generate_people(
    campaign: dict[str, Any],
    reviews: list[dict[str, Any]],
    *,
    admin: str,
    email_domain: str,
    managers: bool,
    group_members: int,
) -> People:
    """Every reviewer and principal of ``reviews`` as a user, the GROUP reviewers' groups
    with members, and the campaign's apps with labels ("Salesforce", "GitHub Enterprise"…).

    With ``managers``, the ``i``-th reviewer (list order, so ``reviewer{i:05d}@…``) gets
    ``profile.managerId`` and ``profile.managerEmail`` naming the generated user
    ``manager{i // 4:05d}@…``. The ``g``-th group has ``group_members`` ACTIVE members
    ``member{g}-{i}@…``, listed after one DEPROVISIONED member ``member{g}-{group_members}@…``
    when ``group_members`` > 0 (first, so a caller that forgets to check ``status`` is seen).

    New ids come from their own generator, seeded ``{campaign id}/people``: the campaign's
    reviews are the same whatever is asked for here.
    """
    if group_members < 0:
        raise ValueError("group_members must be >= 0")
    rng = random.Random(f"{campaign['id']}/people")
    created = campaign["created"]
    reviewers: dict[str, dict[str, Any]] = {}
    principals: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {}
    for review in reviews:
        principal = review["principalProfile"]
        principals.setdefault(principal["id"], principal)
        if review.get("reviewerProfile"):
            reviewers.setdefault(review["reviewerProfile"]["id"], review["reviewerProfile"])
        elif review.get("reviewerGroupProfile"):
            group = review["reviewerGroupProfile"]
            groups.setdefault(group["groupId"], group)

    people = People(
        users=[user_record(p, created=created, admin=admin) for p in principals.values()]
    )
    bosses: list[dict[str, Any]] = []
    if managers:
        count = -(-len(reviewers) // REVIEWERS_PER_MANAGER)
        bosses = [
            person(okta_id("00u", rng), m, f"manager{m:05d}@{email_domain}") for m in range(count)
        ]
        people.users += [user_record(b, created=created, admin=admin) for b in bosses]
    for i, profile in enumerate(reviewers.values()):
        extra = {}
        if managers:
            boss = bosses[i // REVIEWERS_PER_MANAGER]
            extra = {"managerId": boss["id"], "managerEmail": boss["email"]}
        people.users.append(user_record(profile, created=created, admin=admin, **extra))

    for g, (group_id, group) in enumerate(groups.items()):
        count = group_members + 1 if group_members else 0
        members = [
            user_record(
                person(okta_id("00u", rng), i, f"member{g}-{i}@{email_domain}"),
                created=created,
                admin=admin,
            )
            for i in range(count)
        ]
        if members:  # the extra one has left the company
            members[-1]["status"] = "DEPROVISIONED"
            members.insert(0, members.pop())
        people.groups.append(
            (group_record(group_id, group["name"], created=created, admin=admin), members)
        )

    people.apps = [
        app_record(target["resourceId"], APP_LABELS[i % len(APP_LABELS)], created=created)
        for i, target in enumerate(campaign["resourceSettings"]["targetResources"])
    ]
    return people


def user_record(
    profile: dict[str, Any], *, created: str, admin: str, **extra: str
) -> dict[str, Any]:
    """The Okta user for a review's person profile (``id``, ``email``, names, ``status``);
    ``extra`` adds profile attributes (``managerId``, ``managerEmail``…)."""
    user_id = profile["id"]
    return {
        "id": user_id,
        "status": profile.get("status", "ACTIVE"),
        "created": created,
        "activated": created,
        "statusChanged": created,
        "lastLogin": None,
        "lastUpdated": created,
        "passwordChanged": created,
        "type": dict(_USER_TYPE),
        "profile": {
            "firstName": profile.get("firstName"),
            "lastName": profile.get("lastName"),
            "mobilePhone": None,
            "secondEmail": None,
            "login": profile["email"],
            "email": profile["email"],
            **extra,
        },
        "_links": {"self": link(f"{admin}/api/v1/users/{user_id}")},
    }


def group_record(group_id: str, name: str, *, created: str, admin: str) -> dict[str, Any]:
    """An Okta group; ``profile.name`` is what people call it."""
    base = f"{admin}/api/v1/groups/{group_id}"
    return {
        "id": group_id,
        "created": created,
        "lastUpdated": created,
        "lastMembershipUpdated": created,
        "objectClass": ["okta:user_group"],
        "type": "OKTA_GROUP",
        "profile": {"name": name, "description": f"{name} (generated)"},
        "_links": {"users": link(f"{base}/users"), "apps": link(f"{base}/apps")},
    }


def app_record(app_id: str, label: str, *, created: str) -> dict[str, Any]:
    """An Okta app; ``label`` is the name people know it by (``name`` is the app type)."""
    return {
        "id": app_id,
        "name": label.lower().replace(" ", "_"),
        "label": label,
        "status": "ACTIVE",
        "created": created,
        "lastUpdated": created,
        "signOnMode": "SAML_2_0",
    }
