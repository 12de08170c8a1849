"""Slack members' time zones: from users.list and users.lookupByEmail (the real slack_sdk
client against the fake workspace) into the directory cache, and back out of it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from slack_sdk import WebClient

from app.db import CachedSlackUser, SlackUserEntry, Store
from app.integrations.slack import SlackMember
from app.integrations.slack.directory import Resolution, SlackDirectory
from tests.helpers import LAUNCH_TIME, SAMPLES, sample

ANA, BEN, BOT, CHEN = "U0W0EF78PLZ", "U0VLS2RYADG", "U015D7PARYR", "U0SJ8JPA3O8"
LA = "America/Los_Angeles"
ZONE_KEYS = {"tz", "tz_label", "tz_offset"}


def _sweeping(services: Any, clock: Any) -> SlackDirectory:
    """The service's directory, but one that sweeps users.list for a single unknown email."""
    return SlackDirectory(services.store, services.slack, clock, sweep_min_unknown=1)


def _stored(services: Any) -> dict[str, tuple[str | None, str, str | None]]:
    rows = services.store.conn.rows("SELECT email, user_id, state, tz FROM slack_users")
    return {r["email"]: (r["user_id"], r["state"], r["tz"]) for r in rows}


# -- the fake answers as Slack does ------------------------------------------------------


def test_fake_members_carry_zone_label_and_current_offset(fake_slack) -> None:
    fake_slack.wall_clock = LAUNCH_TIME.timestamp  # 1 September: summer time in California
    fake_slack.add_users_from_samples(SAMPLES)
    fake_slack.add_user("U0DEFAULT01", "dee.fault@example.com")
    fake_slack.add_user("U0KOLKATA01", "priya.n@example.com", tz="Asia/Kolkata")
    fake_slack.add_user("U0GONE00001", "gone@example.com", deleted=True)
    client = WebClient(token=fake_slack.token, base_url=fake_slack.url)

    members = {m["id"]: m for m in client.users_list(limit=200)["members"]}

    for user_id in (ANA, BOT, CHEN, "U0DEFAULT01"):
        zone = {k: members[user_id][k] for k in ZONE_KEYS}
        assert zone == {"tz": LA, "tz_label": "PDT", "tz_offset": -25200}, user_id
    # No daylight saving in India: the same answer whatever the date.
    assert members["U0KOLKATA01"]["tz"] == "Asia/Kolkata"
    assert members["U0KOLKATA01"]["tz_label"] == "IST"
    assert members["U0KOLKATA01"]["tz_offset"] == 19800
    # Deactivated accounts carry no zone at all, as in the users.list sample.
    assert not ZONE_KEYS & members[BEN].keys()
    assert not ZONE_KEYS & members["U0GONE00001"].keys()
    assert not ZONE_KEYS & sample("slack-users-list.json")["members"][1].keys()

    looked_up = client.users_lookupByEmail(email="priya.n@example.com")["user"]
    assert (looked_up["tz"], looked_up["tz_offset"]) == ("Asia/Kolkata", 19800)


def test_fake_member_zone_can_be_changed_and_removed(fake_slack) -> None:
    fake_slack.add_users_from_samples(SAMPLES)
    client = WebClient(token=fake_slack.token, base_url=fake_slack.url)

    fake_slack.set_time_zone(CHEN, "Asia/Tokyo")
    chen = client.users_lookupByEmail(email="chen.wei@example.com")["user"]
    assert (chen["tz"], chen["tz_label"], chen["tz_offset"]) == ("Asia/Tokyo", "JST", 32400)
    assert chen["profile"]["email"] == "chen.wei@example.com"  # the rest is unchanged
    listed = {m["id"]: m for m in client.users_list()["members"]}
    assert listed[CHEN]["tz"] == "Asia/Tokyo"
    assert listed[ANA]["tz"] == LA

    fake_slack.set_time_zone(CHEN, None)
    chen = client.users_lookupByEmail(email="chen.wei@example.com")["user"]
    assert not ZONE_KEYS & chen.keys()
    assert chen["id"] == CHEN
    with pytest.raises(KeyError):
        fake_slack.set_time_zone("U0NOBODY000", "Europe/Paris")


def test_generated_users_get_the_zone_asked_for(fake_slack) -> None:
    ids = fake_slack.generate_users(["a@example.com"])
    ids |= fake_slack.generate_users(["b@example.com"], tz="Europe/Berlin")
    client = WebClient(token=fake_slack.token, base_url=fake_slack.url)

    zones = {m["id"]: m["tz"] for m in client.users_list()["members"]}

    assert zones == {ids["a@example.com"]: LA, ids["b@example.com"]: "Europe/Berlin"}


# -- parsing ----------------------------------------------------------------------------


def test_member_from_the_samples_keeps_its_zone() -> None:
    listed = sample("slack-users-list.json")["members"]
    ana, ben, bot = (SlackMember.from_api(m) for m in listed)
    chen = SlackMember.from_api(sample("slack-lookup-ok.json")["user"])

    assert ana == SlackMember(ANA, "ana.lopez@example.com", tz=LA)
    assert ben == SlackMember(BEN, "ben.okafor@example.com", deleted=True, tz="")
    assert bot == SlackMember(BOT, "", is_bot=True, tz=LA)
    assert chen is not None
    assert chen.tz == LA


@pytest.mark.parametrize(
    "tz",
    [
        "Mars/Olympus_Mons",  # no such zone
        "America",  # a directory of the zone database, not a zone (OSError)
        "../../../etc/passwd",  # not a relative zone path (ValueError)
        "/etc/localtime",
        "",
        "utc",  # zone names are case-sensitive
        " America/Los_Angeles",
        "Europe/Paris\x00",
        "A/" + "x" * 300,
        None,
        42,
        ["America/Los_Angeles"],
        {"name": "America/Los_Angeles"},
    ],
)
def test_member_with_a_bad_zone_gets_none_and_no_error(tz: object) -> None:
    user = {"id": "U0ODD000001", "tz": tz, "profile": {"email": "Odd@Example.com"}}

    assert SlackMember.from_api(user) == SlackMember("U0ODD000001", "odd@example.com", tz="")


# -- the directory cache ----------------------------------------------------------------


def test_sweep_stores_each_zone_and_the_cache_answers_the_next_time(
    services, fake_slack, clock
) -> None:
    fake_slack.add_users_from_samples(SAMPLES)
    fake_slack.add_user("U0PARIS0001", "marie.curie@example.com", tz="Europe/Paris")
    directory = _sweeping(services, clock)
    emails = ["ana.lopez@example.com", "Marie.Curie@example.com", "ben.okafor@example.com"]

    first = directory.resolve(emails)

    assert first == {
        "ana.lopez@example.com": Resolution(ANA, "mapped", LA),
        "marie.curie@example.com": Resolution("U0PARIS0001", "mapped", "Europe/Paris"),
        # Deactivated: unreachable as before, and no zone to go with it.
        "ben.okafor@example.com": Resolution(None, "deleted", ""),
    }
    assert fake_slack.call_count("users.list") == 1
    assert fake_slack.call_count("users.lookupByEmail") == 0
    stored = _stored(services)
    assert stored["ana.lopez@example.com"] == (ANA, "active", LA)
    assert stored["marie.curie@example.com"] == ("U0PARIS0001", "active", "Europe/Paris")
    assert stored["ben.okafor@example.com"] == (BEN, "deleted", None)
    # The sweep caches everyone with an email, not only the people asked about.
    assert stored["chen.wei@example.com"] == (CHEN, "active", LA)

    # Slack changes; the cache (still fresh) answers without asking it.
    fake_slack.set_time_zone("U0PARIS0001", "Asia/Tokyo")
    clock.advance(hours=1)
    calls = fake_slack.call_count()
    assert directory.resolve([*emails, "chen.wei@example.com"]) == {
        **first,
        "chen.wei@example.com": Resolution(CHEN, "mapped", LA),
    }
    assert fake_slack.call_count() == calls

    # Asked afresh (test-message), the new zone comes back and replaces the cached one.
    fresh = directory.resolve(["marie.curie@example.com"], fresh=True)
    assert fresh["marie.curie@example.com"].tz == "Asia/Tokyo"
    assert _stored(services)["marie.curie@example.com"][2] == "Asia/Tokyo"


def test_lookup_by_email_stores_the_zone(services, fake_slack, clock) -> None:
    fake_slack.add_users_from_samples(SAMPLES)
    fake_slack.set_time_zone(CHEN, "Australia/Sydney")

    # One unknown person: the service's own directory looks them up, no sweep.
    first = services.directory.resolve(["chen.wei@example.com", "omar.haddad@example.com"])

    assert first == {
        "chen.wei@example.com": Resolution(CHEN, "mapped", "Australia/Sydney"),
        "omar.haddad@example.com": Resolution(None, "not_found", ""),
    }
    assert fake_slack.call_count("users.list") == 0
    assert fake_slack.call_count("users.lookupByEmail") == 2
    assert _stored(services)["chen.wei@example.com"] == (CHEN, "active", "Australia/Sydney")
    assert services.store.slack_users.cached(["Chen.Wei@example.com"], LAUNCH_TIME) == {
        "chen.wei@example.com": CachedSlackUser(CHEN, "active", "Australia/Sydney")
    }

    clock.advance(hours=2)
    assert services.directory.resolve(["chen.wei@example.com"]) == {
        "chen.wei@example.com": Resolution(CHEN, "mapped", "Australia/Sydney")
    }
    assert fake_slack.call_count("users.lookupByEmail") == 2


def test_deleted_member_looked_up_keeps_no_zone_in_its_resolution(services, fake_slack) -> None:
    fake_slack.add_users_from_samples(SAMPLES)
    fake_slack.set_time_zone(BEN, "Europe/London")  # odd, but a zone Slack did send

    answer = services.directory.resolve(["ben.okafor@example.com"])

    assert answer == {"ben.okafor@example.com": Resolution(None, "deleted", "")}
    assert answer["ben.okafor@example.com"].reason == "Slack account is deactivated"
    # Stored as Slack said, for whoever needs it later; still never messaged.
    assert _stored(services)["ben.okafor@example.com"] == (BEN, "deleted", "Europe/London")


@pytest.mark.parametrize("tz", ["Mars/Olympus_Mons", "America", "../../etc/passwd", None])
@pytest.mark.parametrize("sweep", [True, False], ids=["users.list", "lookupByEmail"])
def test_member_with_a_bad_zone_is_mapped_without_one(
    services, fake_slack, clock, tz: str | None, sweep: bool
) -> None:
    fake_slack.add_user("U0ODD000001", "odd.one@example.com", tz="Europe/Paris")
    fake_slack.set_time_zone("U0ODD000001", tz)
    directory = _sweeping(services, clock) if sweep else services.directory

    answer = directory.resolve(["odd.one@example.com"])

    assert answer == {"odd.one@example.com": Resolution("U0ODD000001", "mapped", "")}
    assert fake_slack.call_count("users.list") == int(sweep)
    assert _stored(services)["odd.one@example.com"] == ("U0ODD000001", "active", None)
    assert services.store.slack_users.cached(["odd.one@example.com"], LAUNCH_TIME) == {
        "odd.one@example.com": CachedSlackUser("U0ODD000001", "active", "")
    }


def test_alias_to_a_user_id_has_no_zone_and_alias_to_an_email_has_its_own(
    services, fake_slack, clock
) -> None:
    fake_slack.add_users_from_samples(SAMPLES)
    fake_slack.set_time_zone(CHEN, "Asia/Kolkata")
    directory = SlackDirectory(
        services.store,
        services.slack,
        clock,
        aliases={"a.lopez@example.com": ANA, "c.wei@example.com": "chen.wei@example.com"},
    )

    answer = directory.resolve(["a.lopez@example.com", "c.wei@example.com"])

    assert answer == {
        "a.lopez@example.com": Resolution(ANA, "mapped", ""),
        "c.wei@example.com": Resolution(CHEN, "mapped", "Asia/Kolkata"),
    }


# -- the table --------------------------------------------------------------------------


def test_fresh_database_has_the_tz_column_and_old_rows_read_as_unknown(tmp_path) -> None:
    path = tmp_path / "fresh.db"
    store = Store.open(path)
    store.migrate(LAUNCH_TIME)
    store.slack_users.save(
        [
            SlackUserEntry("Ana.Lopez@example.com", ANA, "active", LA),
            SlackUserEntry("omar.haddad@example.com", None, "not_found"),
        ],
        LAUNCH_TIME,
    )
    store.close()
    with sqlite3.connect(path) as db:
        columns = {row[1]: row[2] for row in db.execute("PRAGMA table_info(slack_users)")}
        stored = dict(db.execute("SELECT email, tz FROM slack_users").fetchall())
        # A row written before the zone was kept (by an older version): tz stays NULL.
        db.execute(
            "INSERT INTO slack_users (email, user_id, state, checked_at) VALUES (?, ?, ?, ?)",
            ["old@example.com", "U0OLD000001", "active", LAUNCH_TIME.isoformat()],
        )
    db.close()

    assert columns["tz"] == "TEXT"
    assert stored == {"ana.lopez@example.com": LA, "omar.haddad@example.com": None}
    store = Store.open(path)
    try:
        cached = store.slack_users.cached(
            ["ana.lopez@example.com", "omar.haddad@example.com", "old@example.com"], LAUNCH_TIME
        )
    finally:
        store.close()
    assert cached == {
        "ana.lopez@example.com": CachedSlackUser(ANA, "active", LA),
        "omar.haddad@example.com": CachedSlackUser(None, "not_found", ""),
        "old@example.com": CachedSlackUser("U0OLD000001", "active", ""),
    }
    assert cached["ana.lopez@example.com"].tz == LA


@pytest.mark.parametrize(
    ("when", "sydney", "los_angeles"),
    [
        (datetime(2027, 1, 15, 12, tzinfo=UTC), ("AEDT", 39600), ("PST", -28800)),
        (datetime(2027, 7, 15, 12, tzinfo=UTC), ("AEST", 36000), ("PDT", -25200)),
    ],
    ids=["january", "july"],
)
def test_offsets_are_those_of_the_moment_of_the_answer(
    fake_slack, when: datetime, sydney: tuple[str, int], los_angeles: tuple[str, int]
) -> None:
    """As Slack's: tz_offset and tz_label follow daylight saving, not frozen at set-up."""
    fake_slack.add_user("U0SYDNEY001", "bruce@example.com", tz="Australia/Sydney")
    fake_slack.add_user("U0LOSANGE01", "ana@example.com")
    client = WebClient(token=fake_slack.token, base_url=fake_slack.url)
    fake_slack.wall_clock = when.timestamp

    bruce = client.users_lookupByEmail(email="bruce@example.com")["user"]
    listed = {m["id"]: m for m in client.users_list()["members"]}

    assert (bruce["tz_label"], bruce["tz_offset"]) == sydney
    assert (listed["U0SYDNEY001"]["tz_label"], listed["U0SYDNEY001"]["tz_offset"]) == sydney
    assert (listed["U0LOSANGE01"]["tz_label"], listed["U0LOSANGE01"]["tz_offset"]) == los_angeles
