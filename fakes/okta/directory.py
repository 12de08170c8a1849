"""The fake org's directory: users, groups and their members, apps.

* ``GET /api/v1/users/{id or login}``: a login (percent-encoded in the path, as Okta asks)
  is matched regardless of case, as Okta's logins are. Login shortnames and ``me`` are not
  implemented.
* ``GET /api/v1/groups/{id}`` and ``GET /api/v1/apps/{id}``.
* ``GET /api/v1/groups/{id}/users``: a JSON array of users, ``limit`` 1 to 200 (default 200:
  real Okta's default is 1000, but it recommends 200 and that is what certnotify asks for),
  ``after`` = the id of the last member of the previous page. Paging is in the ``Link``
  header only, as on the real endpoint: ``rel="self"`` and, unless this is the last page,
  ``rel="next"``, both naming the ``-admin`` host like every other link of this fake.
* Unknown ids answer 404 with Okta's ``E0000007`` body; other methods 405.

The server holds its lock around every call here (data edits and answers).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote, urlencode

from fakes.httpserver import Request, Response
from fakes.okta.people import People
from fakes.okta.responses import error, json_response, not_found

__all__ = ["APPS", "GROUPS", "MEMBERS_MAX_LIMIT", "USERS", "Directory"]

USERS = "/api/v1/users"
GROUPS = "/api/v1/groups"
APPS = "/api/v1/apps"
MEMBERS_MAX_LIMIT = 200

_USER = re.compile(rf"{USERS}/([^/]+)")
_GROUP = re.compile(rf"{GROUPS}/([^/]+)(/users)?")
_APP = re.compile(rf"{APPS}/([^/]+)")


class Directory:
    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, list[str]] = {}  # group id -> member user ids, in list order
        self.apps: dict[str, dict[str, Any]] = {}
        # Lower-cased login -> user id. Two users with one login (the same generated
        # reviewer in two campaigns): the one added last answers.
        self._logins: dict[str, str] = {}

    def add_user(self, user: dict[str, Any]) -> None:
        self.users[user["id"]] = user
        profile = user.get("profile") or {}
        login = profile.get("login") or profile.get("email")
        if isinstance(login, str) and login:
            self._logins[login.lower()] = user["id"]

    def add_group(self, group: dict[str, Any], members: list[dict[str, Any]]) -> None:
        for member in members:
            self.add_user(member)
        self.groups[group["id"]] = group
        self.members[group["id"]] = [member["id"] for member in members]

    def add_app(self, app: dict[str, Any]) -> None:
        self.apps[app["id"]] = app

    def add_people(self, people: People) -> None:
        for user in people.users:
            self.add_user(user)
        for group, members in people.groups:
            self.add_group(group, members)
        for app in people.apps:
            self.add_app(app)

    def user(self, id_or_login: str) -> dict[str, Any] | None:
        found = self.users.get(id_or_login)
        if found is None and "@" in id_or_login:
            found = self.users.get(self._logins.get(id_or_login.lower(), ""))
        return found

    def answer(self, request: Request, path: str, admin_url: str) -> Response | None:
        """The answer to a directory request, or None when ``path`` is not one."""
        user, group, app = _USER.fullmatch(path), _GROUP.fullmatch(path), _APP.fullmatch(path)
        if not (user or group or app):
            return None
        if request.method != "GET":
            summary = "The endpoint does not support the provided HTTP method"
            return json_response(405, error("E0000022", summary))
        if user:
            key = unquote(user[1])
            return _found(self.user(key), key, "User")
        if app:
            return _found(self.apps.get(app[1]), app[1], "AppInstance")
        assert group is not None
        if group[2]:
            return self._members(request, group[1], admin_url)
        return _found(self.groups.get(group[1]), group[1], "UserGroup")

    def _members(self, request: Request, group_id: str, admin_url: str) -> Response:
        member_ids = self.members.get(group_id)
        if group_id not in self.groups or member_ids is None:
            return not_found(group_id, "UserGroup")
        limit_text = request.param("limit") or str(MEMBERS_MAX_LIMIT)
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MEMBERS_MAX_LIMIT:
            cause = {"errorSummary": f"limit: must be between 1 and {MEMBERS_MAX_LIMIT}"}
            return json_response(400, error("E0000001", "Api validation failed: limit", [cause]))
        limit = int(limit_text)
        after = request.param("after")
        start = 0
        if after:
            if after not in member_ids:
                return json_response(400, error("E0000001", "Api validation failed: after"))
            start = member_ids.index(after) + 1
        page_ids = member_ids[start : start + limit]
        page = [self.users[i] for i in page_ids if i in self.users]
        base = f"{admin_url}{GROUPS}/{group_id}/users"
        links = [f'<{_href(base, limit=str(limit), after=after)}>; rel="self"']
        if start + limit < len(member_ids):
            links.append(f'<{_href(base, limit=str(limit), after=page_ids[-1])}>; rel="next"')
        # One header, comma-separated: what a client sees when Okta sends two Link headers.
        return json_response(200, page, {"Link": ", ".join(links)})


def _found(item: dict[str, Any] | None, item_id: str, kind: str) -> Response:
    return json_response(200, item) if item is not None else not_found(item_id, kind)


def _href(base: str, **params: str | None) -> str:
    items = sorted((k, v) for k, v in params.items() if v)
    return f"{base}?{urlencode(items, quote_via=quote, safe='')}"
