"""Who is who in Slack: reviewer email -> Slack user id, cached in the database.

One paginated ``users.list`` sweep (Tier 2, 200 people a call) is far cheaper
than one ``users.lookupByEmail`` (Tier 3) per reviewer once more than a handful
of reviewers are unknown, so the directory sweeps when the sweep would take
fewer calls-weighted-by-tier than the lookups; emails still missing after a
sweep get one lookup each (aliases and late joiners). Deleted members and bots
are never returned as reachable: posting to a deleted user can "succeed"
silently, so they are reported as unmapped instead.

Each member's time zone (Slack's ``tz``) is cached alongside, so messages can be timed
for the reviewer's own working hours.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from app.db import CachedSlackUser, SlackUserEntry, Store
from app.integrations.slack import DryRunSlack, SlackSender
from app.timeutil import Clock

__all__ = ["Resolution", "SlackDirectory"]

log = logging.getLogger(__name__)

USERS_PER_PAGE = 200
# Tier 2 allows ~20 calls/min, Tier 3 ~50: one users.list page "costs" 2.5 lookups.
TIER_COST_RATIO = 2.5


@dataclass(frozen=True)
class Resolution:
    user_id: str | None
    status: str  # mapped | not_found | deleted | bot
    # The member's IANA zone ("America/Los_Angeles") when mapped; "" when unknown: Slack
    # gave none (or one ZoneInfo does not know), an alias pinned to a user id, a dry run.
    tz: str = ""

    @property
    def reason(self) -> str:
        return {
            "not_found": "no Slack account with this email",
            "deleted": "Slack account is deactivated",
            "bot": "Slack account is a bot",
        }.get(self.status, "")


def _is_user_id(value: str) -> bool:
    return bool(value) and value[0] in "UW" and "@" not in value


def _resolution(user: CachedSlackUser) -> Resolution:
    if user.state == "active" and user.user_id:
        return Resolution(user.user_id, "mapped", user.tz)
    return Resolution(None, user.state if user.state in ("deleted", "bot") else "not_found")


def _entries(found: Mapping[str, CachedSlackUser]) -> Iterable[SlackUserEntry]:
    return (SlackUserEntry(email, *user) for email, user in found.items())


class SlackDirectory:
    def __init__(
        self,
        store: Store,
        slack: SlackSender,
        clock: Clock,
        *,
        max_age_hours: float = 24.0,
        sweep_min_unknown: int = 20,
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        # slack.email_aliases: Okta email -> the Slack email (or user id) to use instead.
        self.aliases = dict(aliases or {})
        self.slack = slack
        self.clock = clock
        self.max_age = timedelta(hours=max_age_hours)
        self.sweep_min_unknown = sweep_min_unknown

    def resolve(
        self, emails: Iterable[str], *, persist: bool = True, fresh: bool = False
    ) -> dict[str, Resolution]:
        """Lower-cased email -> Resolution, for every email given.

        ``persist=False`` (dry runs) asks Slack as needed but writes nothing;
        ``fresh=True`` ignores the cache (``test-message``: someone invited an hour ago
        must not be "not found" for another day)."""
        asked = {e.strip().lower() for e in emails if e and e.strip()}
        # An alias to a user id is taken as given; one to an email is looked up instead.
        pinned = {e: self.aliases[e] for e in asked if _is_user_id(self.aliases.get(e, ""))}
        looked_up = {e: self.aliases.get(e, e) for e in asked if e not in pinned}
        found = self._resolve(set(looked_up.values()), persist=persist, fresh=fresh)
        answer = {e: Resolution(user_id, "mapped") for e, user_id in pinned.items()}
        answer.update({e: found[target] for e, target in looked_up.items()})
        return answer

    def _resolve(self, wanted: set[str], *, persist: bool, fresh: bool) -> dict[str, Resolution]:
        if isinstance(self.slack, DryRunSlack):
            return {e: Resolution(DryRunSlack.PREFIX + e, "mapped") for e in wanted}
        now = self.clock()
        known = {} if fresh else self.store.slack_users.cached(wanted, now - self.max_age)
        unknown = wanted - known.keys()
        if unknown and not fresh and self._should_sweep(len(unknown)):
            known.update(self._sweep(unknown, persist))
            unknown = wanted - known.keys()
        if unknown:
            known.update(self._lookup(unknown, persist))
        return {e: _resolution(known[e]) for e in wanted}

    def _should_sweep(self, unknown: int) -> bool:
        size = self.store.state.get("slack_directory_size")
        if not isinstance(size, int) or size <= 0:
            return unknown >= self.sweep_min_unknown
        pages = math.ceil(size / USERS_PER_PAGE)
        return pages * TIER_COST_RATIO <= unknown

    def _sweep(self, unknown: set[str], persist: bool) -> dict[str, CachedSlackUser]:
        entries: dict[str, CachedSlackUser] = {}
        members = 0
        for member in self.slack.members():
            members += 1
            if not member.email:
                continue
            # Prefer an active account when one email appears twice (re-invited people).
            current = entries.get(member.email)
            if current is None or current.state != "active":
                entries[member.email] = CachedSlackUser(member.id, member.state, member.tz)
        now = self.clock()
        if persist:
            self.store.slack_users.save(_entries(entries), now)
            self.store.state.set("slack_directory_size", members, now)
        log.info("slack users.list sweep: %d members, %d with email", members, len(entries))
        return {e: entries[e] for e in unknown if e in entries}

    def _lookup(self, unknown: set[str], persist: bool) -> dict[str, CachedSlackUser]:
        found: dict[str, CachedSlackUser] = {}
        for email in sorted(unknown):
            member = self.slack.lookup_email(email)
            found[email] = (
                CachedSlackUser(member.id, member.state, member.tz)
                if member
                else CachedSlackUser(None, "not_found")
            )
        if persist:
            self.store.slack_users.save(_entries(found), self.clock())
        return found
