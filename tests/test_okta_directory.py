"""The directory reads (users and managers, group members, group names, app labels):
OktaClient against the fake org on loopback, or httpx.MockTransport where an answer the
fake never gives is needed; and the fake's directory data itself."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from app.integrations.okta import (
    OktaAuthError,
    OktaClient,
    OktaError,
    OktaNotFound,
    SSWSAuth,
    build_http_client,
)
from fakes.okta import FakeOkta
from tests.helpers import FakeClock

ORG = "https://acme.okta.com"
ADMIN = "https://acme-admin.okta.com"
TOKEN = "00aTokenValue-should-never-leave-the-org"


@pytest.fixture
def okta(fake_okta: FakeOkta, clock: FakeClock) -> Iterator[OktaClient]:
    http = build_http_client(fake_okta.url, SSWSAuth(fake_okta.api_token), 5.0)
    client = OktaClient(http, sleep=clock.sleep, clock=clock.epoch)
    yield client
    client.close()


def scripted(*responses: httpx.Response) -> tuple[OktaClient, list[httpx.Request]]:
    """A client whose org answers ``responses`` in turn, and the requests it received."""
    queue, seen = list(responses), []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    http = build_http_client(ORG, SSWSAuth(TOKEN), 5.0, transport=httpx.MockTransport(answer))
    return OktaClient(http, sleep=lambda _: None, clock=lambda: 0.0), seen


def user(user_id: str, email: str, status: str = "ACTIVE", **profile: str) -> dict:
    return {
        "id": user_id,
        "status": status,
        "profile": {"login": email, "email": email, "firstName": "F", "lastName": "L", **profile},
    }


def only_the_org_was_asked(fake: FakeOkta) -> None:
    assert fake.admin_requests == []
    assert fake.requests
    assert all(r.headers["authorization"] == f"SSWS {fake.api_token}" for r in fake.requests)


# -- users and managers ---------------------------------------------------------------


def test_get_user_returns_the_user(okta, fake_okta):
    cid = fake_okta.generate_campaign(reviews=4, reviewers=2)
    reviewer = fake_okta.reviewers_of(cid)[1]
    found = okta.get_user(reviewer["id"])
    assert found["id"] == reviewer["id"]
    assert found["status"] == "ACTIVE"
    assert found["profile"]["email"] == found["profile"]["login"] == reviewer["email"]
    assert [r.path for r in fake_okta.requests] == [f"/api/v1/users/{reviewer['id']}"]
    only_the_org_was_asked(fake_okta)


def test_manager_by_manager_id_and_by_manager_email(okta, fake_okta):
    cid = fake_okta.generate_campaign(reviews=10, reviewers=5, managers=True)
    reviewers = fake_okta.reviewers_of(cid)
    first = okta.manager_of(reviewers[0]["id"])
    assert first is not None
    assert first["profile"]["email"] == "manager00000@example.com"
    assert okta.manager_of(reviewers[3]["id"])["id"] == first["id"]  # 4 reviewers a manager
    assert okta.manager_of(reviewers[4]["id"])["profile"]["login"] == "manager00001@example.com"

    by_email = okta.manager_of(reviewers[0]["id"], attribute="managerEmail")
    assert by_email is not None
    assert by_email["id"] == first["id"]
    # The login goes into the path percent-encoded, as Okta asks.
    assert fake_okta.requests[-1].path == "/api/v1/users/manager00000%40example.com"
    only_the_org_was_asked(fake_okta)


def test_a_login_is_percent_encoded_in_the_path():
    client, seen = scripted(
        httpx.Response(200, json=user("00uA", "a@example.com", managerEmail="o'brien+it@ex.co")),
        httpx.Response(200, json=user("00uB", "o'brien+it@ex.co")),
    )
    assert client.manager_of("00uA", "managerEmail")["id"] == "00uB"
    assert seen[1].url.raw_path == b"/api/v1/users/o%27brien%2Bit%40ex.co"
    assert seen[1].url.host == "acme.okta.com"


def test_no_manager_attribute_means_no_manager(okta, fake_okta):
    cid = fake_okta.generate_campaign(reviews=2, reviewers=1)  # managers=False
    reviewer_id = fake_okta.reviewers_of(cid)[0]["id"]
    assert okta.manager_of(reviewer_id) is None
    assert okta.manager_of(reviewer_id, attribute="managerEmail") is None
    fake_okta.add_user(user("00uBlank", "blank@example.com", managerId="", managerEmail="  "))
    assert okta.manager_of("00uBlank") is None
    assert okta.manager_of("00uBlank", "managerEmail") is None
    # One request per call: the reviewer only, never a lookup of nothing.
    assert len(fake_okta.requests) == 4


def test_a_manager_who_is_gone_is_none_but_a_missing_reviewer_is_an_error(okta, fake_okta):
    fake_okta.add_user(
        user("00uOrphan", "orphan@example.com", managerId="00uGone", managerEmail="gone@ex.com")
    )
    assert okta.manager_of("00uOrphan") is None
    assert okta.manager_of("00uOrphan", "managerEmail") is None
    with pytest.raises(OktaNotFound):
        okta.manager_of("00uNobody")


def test_a_manager_value_that_names_no_user_is_not_looked_up(caplog):
    # Okta's own "manager" attribute is a display name; ids and emails from a profile are
    # data from outside like any other, and never go into a path unchecked.
    profile = {"manager": "Jane Doe", "managerId": "../admin", "managerEmail": "a/b@example.com"}
    answers = [httpx.Response(200, json=user("00uA", "a@example.com", **profile))] * 4
    client, seen = scripted(*answers)
    with caplog.at_level(logging.WARNING, logger="app.integrations.okta.client"):
        assert client.manager_of("00uA", "manager") is None
        assert client.manager_of("00uA") is None
        assert client.manager_of("00uA", "managerEmail") is None
    assert [r.url.path for r in seen] == ["/api/v1/users/00uA"] * 3
    assert "profile.manager is not an email or login" in caplog.text
    assert "Jane Doe" not in caplog.text  # personal data stays out of the log


def test_manager_me_is_never_asked_for():
    # /users/me is the API token's own user: a profile saying "me" must not resolve to it.
    client, seen = scripted(httpx.Response(200, json=user("00uA", "a@ex.com", managerId="me")))
    assert client.manager_of("00uA") is None
    assert len(seen) == 1


# -- groups and apps --------------------------------------------------------------------


def test_group_members_page_by_link_header_but_stay_on_the_org_host(okta, fake_okta):
    members = [user(f"00uM{i:05d}", f"m{i}@example.com") for i in range(450)]
    fake_okta.add_group({"id": "00gBig", "profile": {"name": "Big"}}, members)
    pages = list(okta.group_members("00gBig"))
    assert [len(p) for p in pages] == [200, 200, 50]
    got = [m["id"] for p in pages for m in p]
    assert got == [m["id"] for m in members]  # all of them, once, in order
    asked = fake_okta.requests_to("/api/v1/groups/00gBig/users")
    assert [r.param("after") for r in asked] == [None, "00uM00199", "00uM00399"]
    assert all(r.param("limit") == "200" for r in asked)
    only_the_org_was_asked(fake_okta)


def test_the_fake_names_the_admin_host_in_its_link_header(fake_okta):
    fake_okta.add_group({"id": "00gG"}, [user(f"00u{i}", f"u{i}@ex.com") for i in range(3)])
    auth = {"Authorization": f"SSWS {fake_okta.api_token}"}
    with httpx.Client(base_url=fake_okta.url, headers=auth) as http:
        first = http.get("/api/v1/groups/00gG/users", params={"limit": 2})
        last = http.get("/api/v1/groups/00gG/users", params={"limit": 2, "after": "00u1"})
    base = f"{fake_okta.admin_url}/api/v1/groups/00gG/users"
    assert first.headers["link"] == (
        f'<{base}?limit=2>; rel="self", <{base}?after=00u1&limit=2>; rel="next"'
    )
    assert [u["id"] for u in last.json()] == ["00u2"]
    assert 'rel="next"' not in last.headers["link"]  # the last page


def test_group_members_a_repeated_cursor_stops_with_an_error():
    page = [user("00uA", "a@example.com")]
    link = {"Link": f'<{ADMIN}/api/v1/groups/00gG/users?after=00uA&limit=200>; rel="next"'}
    client, seen = scripted(*[httpx.Response(200, json=page, headers=link)] * 4)
    with pytest.raises(OktaError, match="repeats the cursor '00uA'"):
        list(client.group_members("00gG"))
    assert len(seen) == 2
    assert all(r.url.host == "acme.okta.com" for r in seen)
    assert all(r.headers["authorization"] == f"SSWS {TOKEN}" for r in seen)


def test_group_members_must_be_a_list():
    client, _ = scripted(httpx.Response(200, json={"data": []}))
    with pytest.raises(OktaError, match="not a list"):
        list(client.group_members("00gG"))


def test_group_name_and_app_label(okta, fake_okta):
    cid = fake_okta.generate_campaign(reviews=12, reviewers=3, group_reviews=2)
    reviews = fake_okta.reviews_of(cid)
    groups = list(dict.fromkeys(r["reviewerGroupProfile"]["groupId"] for r in reviews
                                if r["reviewerType"] == "GROUP"))  # fmt: skip
    assert [okta.group_name(g) for g in groups] == ["Sales Ops Reviewers", "Finance Reviewers"]
    apps = list(dict.fromkeys(r["resourceId"] for r in reviews))
    assert [okta.app_label(a) for a in apps] == ["Salesforce", "GitHub Enterprise"]
    fake_okta.add_app("0oaMine", "Payroll")
    assert okta.app_label("0oaMine") == "Payroll"
    # Deleted since the campaign started: no name, no error.
    assert okta.group_name("00gDeleted") == ""
    assert okta.app_label("0oaDeleted") == ""
    only_the_org_was_asked(fake_okta)


def test_group_name_and_app_label_raise_errors_other_than_404():
    denied = {"errorCode": "E0000006", "errorSummary": "You do not have permission"}
    client, _ = scripted(httpx.Response(403, json=denied), httpx.Response(403, json=denied))
    with pytest.raises(OktaAuthError):
        client.group_name("00gG")
    with pytest.raises(OktaAuthError):
        client.app_label("0oaA")


@pytest.mark.parametrize("bad", ["", "../admin", "00u 1", "00u%2F", "ünï", "a" * 65, "00u\n"])
def test_invalid_ids_never_reach_a_request(bad):
    client, seen = scripted()
    for call in (
        client.get_user,
        client.manager_of,
        client.group_members,  # checked at the call, before any page is asked for
        client.group_name,
        client.app_label,
    ):
        with pytest.raises(ValueError, match="letters and digits"):
            call(bad)
    with pytest.raises(ValueError, match="token's own user"):
        client.get_user("me")
    with pytest.raises(ValueError, match="attribute name"):
        client.manager_of("00uA", attribute="profile.managerId")
    assert seen == []


# -- the fake org's directory -----------------------------------------------------------


def test_generated_reviewers_have_managers_and_groups_have_members(fake_okta):
    cid = fake_okta.generate_campaign(reviews=30, reviewers=9, managers=True, group_reviews=2)
    directory = fake_okta.directory
    for i, reviewer in enumerate(fake_okta.reviewers_of(cid)):
        profile = directory.users[reviewer["id"]]["profile"]
        manager = directory.users[profile["managerId"]]
        assert manager["profile"]["email"] == profile["managerEmail"]
        assert profile["managerEmail"] == f"manager{i // 4:05d}@example.com"
    principals = {r["principalProfile"]["id"] for r in fake_okta.reviews_of(cid)}
    assert principals <= directory.users.keys()
    assert len(directory.groups) == 2
    for g, (group_id, member_ids) in enumerate(directory.members.items()):
        members = [directory.users[m] for m in member_ids]
        assert [m["status"] for m in members] == ["DEPROVISIONED"] + ["ACTIVE"] * 3
        emails = sorted(m["profile"]["email"] for m in members)
        assert emails == [f"member{g}-{i}@example.com" for i in range(4)]
        assert directory.groups[group_id]["profile"]["name"]


def test_people_do_not_change_the_generated_reviews():
    # The campaign's random generator is not touched: benchmarks and tests keep their data.
    with FakeOkta() as plain, FakeOkta() as rich:
        a = plain.generate_campaign(reviews=40, reviewers=7, group_reviews=3)
        b = rich.generate_campaign(
            reviews=40, reviewers=7, group_reviews=3, managers=True, group_members=5
        )
        plain_reviews, rich_reviews = plain.reviews_of(a), rich.reviews_of(b)
        assert a == b
        assert [r["id"] for r in plain_reviews] == [r["id"] for r in rich_reviews]
        assert plain_reviews[0] == {
            **rich_reviews[0],
            "_links": {  # the links name each fake's own admin host
                k: {**v, "href": v["href"].replace(rich.admin_url, plain.admin_url)}
                for k, v in rich_reviews[0]["_links"].items()
            },
        }
        assert len(rich.directory.members[next(iter(rich.directory.groups))]) == 6


def test_no_group_members_when_asked_for_none(fake_okta):
    fake_okta.generate_campaign(reviews=6, reviewers=2, group_reviews=1, group_members=0)
    assert list(fake_okta.directory.members.values()) == [[]]


def test_the_fake_directory_answers_like_okta(fake_okta):
    fake_okta.add_user(user("00uMixed", "Mixed.Case@Example.com"))
    fake_okta.add_group({"id": "00gG", "profile": {"name": "G"}})
    auth = {"Authorization": f"SSWS {fake_okta.api_token}"}
    with httpx.Client(base_url=fake_okta.url, headers=auth) as http:
        assert http.get("/api/v1/users/mixed.case%40example.com").json()["id"] == "00uMixed"
        for path in ("/api/v1/users/00uNo", "/api/v1/groups/00gNo", "/api/v1/apps/0oaNo",
                     "/api/v1/groups/00gNo/users"):  # fmt: skip
            missing = http.get(path)
            assert (missing.status_code, missing.json()["errorCode"]) == (404, "E0000007")
        assert http.get("/api/v1/groups/00gG/users").json() == []
        too_many = http.get("/api/v1/groups/00gG/users", params={"limit": 201})
        assert too_many.status_code == 400
        assert http.delete("/api/v1/users/00uMixed").status_code == 405
    with httpx.Client(base_url=fake_okta.url, headers={"Authorization": "SSWS wrong"}) as http:
        for path in ("/api/v1/users/00uMixed", "/api/v1/groups/00gG", "/api/v1/apps/0oaA"):
            assert http.get(path).status_code == 401
