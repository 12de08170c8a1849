"""Reviews held by an Okta group: each active member is told, once per campaign and group.

A review whose reviewer is a group (``reviewerType: GROUP``) names no person; the
group's members come from ``GET /api/v1/groups/{id}/users`` (paginated, needs
``okta.groups.read``). Members who are not ACTIVE or have no email are left out. A
group larger than ``MAX_MEMBERS`` is not messaged at all: DMing a whole department
about a review someone assigned to "Everyone" would do more harm than good; the
launch summary and the log say so. Resource-owner reviews have no group to expand and
stay "reviews without a person".

The ledger key (campaign, member, ``group``, group id) makes it once per campaign
and group through restarts, repeated launches and daily passes (which also reach
members who joined the group since).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from app.integrations.okta import OktaAuthError, OktaClient, OktaError, OktaUnavailable
from app.messages import Message, MessageContext
from app.models import Campaign, Person, UnresolvedReview
from app.pipeline.planning import Plan, Planner, Recipient, prepare
from app.team_messages import group_message

__all__ = ["MAX_MEMBERS", "GroupReviewers"]

log = logging.getLogger(__name__)

KIND = "group"
MAX_MEMBERS = 200


class GroupReviewers:
    def __init__(self, okta: OktaClient, planner: Planner) -> None:
        self.okta = okta
        self.planner = planner
        self.notes: list[str] = []  # what could not be done, for summaries and logs

    def members(self, group_id: str) -> list[Person] | None:
        """Active members with an email, or None when the group is too large to message."""
        people: list[Person] = []
        seen = 0
        for page in self.okta.group_members(group_id):
            for user in page:
                seen += 1
                if seen > MAX_MEMBERS:
                    return None
                if str(user.get("status", "")).upper() != "ACTIVE":
                    continue
                raw = user.get("profile")
                profile: dict[str, object] = raw if isinstance(raw, dict) else {}
                person = Person.from_profile({**profile, "id": user.get("id")})
                if person is not None and person.email:
                    people.append(person)
        return people

    def plan(
        self,
        campaign: Campaign,
        unresolved: Iterable[UnresolvedReview],
        ctx: MessageContext,
        *,
        persist: bool = True,
    ) -> Plan:
        """Rows for every member of every group holding pending reviews of the campaign."""
        pending = Counter(
            u.group_id for u in unresolved if u.reviewer_type == "GROUP" and u.group_id
        )
        names = {u.group_id: u.group_name for u in unresolved if u.group_id and u.group_name}
        groups: list[tuple[str, str, int, list[Person]]] = []
        for group_id, count in pending.items():
            try:
                members = self.members(group_id)
                name = names.get(group_id) or self.okta.group_name(group_id)
            except OktaUnavailable:
                raise
            except (OktaError, ValueError) as exc:
                # A 401 is our credentials: nothing works. A 403 here is a missing
                # okta.groups.read scope: only the group's members go without.
                if isinstance(exc, OktaAuthError) and exc.status != 403:
                    raise
                self.notes.append(f"group {group_id}: members not read ({exc})")
                log.warning(
                    "campaign %s: group %s: members not read: %s", campaign.id, group_id, exc
                )
                continue
            if members is None:
                note = f"group {group_id} has more than {MAX_MEMBERS} members: not messaged"
                self.notes.append(note)
                log.warning("campaign %s: %s", campaign.id, note)
                continue
            groups.append((group_id, name, count, members))
        # Everyone at once: one Slack directory sweep, not one per group.
        everyone = [person for *_, members in groups for person in members]
        resolutions = self.planner.resolve(everyone, persist=persist) if everyone else {}
        plan = Plan(campaign.id)
        for group_id, name, count, members in groups:
            message = group_message(ctx, name, count)

            def render(_recipient: Recipient, message: Message = message) -> Message:
                return message

            recipients = [Recipient(person, count) for person in members]
            plan.extend(
                prepare(
                    campaign, recipients, resolutions, kind=KIND, milestone=group_id,
                    render=render,
                )
            )  # fmt: skip
        # Members are not the campaign's reviewers: no reviewer rows to map.
        plan.mapping.clear()
        return plan
