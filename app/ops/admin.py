"""The admin page: ``GET /admin`` (every campaign) and ``GET /admin/campaigns/<id>``.

Read-only, server-rendered (Flask's Jinja, auto-escaped), no JavaScript. Protected by
its own credential, ``CERTNOTIFY_ADMIN_TOKEN`` (``admin.token``): ``Authorization:
Bearer <token>``, or HTTP Basic with any user name and the token as password. Off (404)
while no token is set. The hook secret never opens it (settings refuse the same value
for both) and the admin token never opens the hook.

Each page is one call to the store (``store.views``), the same figures ``status``
reads; dates are shown in each campaign's own time zone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue

from app.config import Settings
from app.db.views import CampaignFigures
from app.intake.context import current
from app.messages import format_date
from app.models import is_okta_id
from app.pipeline.reminder_days import campaign_day, local_date, milestone_days
from app.timeutil import zone

__all__ = ["admin", "campaign_row"]

admin = Blueprint("admin", __name__, template_folder="templates")

# No script, no frame, nothing fetched: the pages are tables and one inline style sheet.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _given_token() -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]  # any user name; the token is the password
    return ""


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


@admin.before_request
def _authenticate() -> ResponseReturnValue | None:
    token = current().settings.admin.token.get_secret_value()
    if not token:
        abort(404)  # the page is off: nothing here to find
    given = _given_token()
    # Digests, compared in constant time: nothing about the token leaks through timing.
    if not given or not hmac.compare_digest(_digest(given), _digest(token)):
        return Response(
            "Authentication required (the admin token, as Bearer or as the Basic password).\n",
            401,
            {"WWW-Authenticate": 'Basic realm="certnotify admin", charset="UTF-8"',
             "Content-Type": "text/plain; charset=utf-8"},
        )  # fmt: skip
    return None


@admin.after_request
def _harden(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def campaign_row(figures: CampaignFigures, settings: Settings, now: datetime) -> dict[str, Any]:
    """One campaign as the list shows it (and the campaign page's heading)."""
    campaign = figures.campaign
    tz = zone(campaign.time_zone, settings.campaigns.default_time_zone)
    today = local_date(now, tz)
    day = campaign_day(campaign, today, tz)
    next_reminder = ""
    if figures.retired_at is None and day is not None and campaign.start is not None:
        milestones = milestone_days(campaign, settings.reminders, tz)
        upcoming = [m for m in milestones if m > day]
        if upcoming:
            when = local_date(campaign.start, tz).toordinal() + upcoming[0]
            label = "final notice" if upcoming[0] == milestones[-1] else "reminder"
            on_day = datetime.fromordinal(when)
            on = f"{on_day:%a} {on_day.day} {on_day:%b}"
            next_reminder = f"day {upcoming[0]} {label} ({on})"
    messages = figures.messages
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": f"retired: {figures.retired_reason}" if figures.retired_at else campaign.status,
        "start": format_date(campaign.start, tz) if campaign.start else "",
        "end": format_date(campaign.end, tz) if campaign.end else "",
        "zone": str(tz),
        "day": day if day is not None and figures.retired_at is None else None,
        "reviewers": figures.reviewers,
        "pending": figures.pending_reviewers,
        "done": figures.done_reviewers,
        "items_total": figures.items,
        "pending_items": figures.pending_items,
        "percent": figures.percent_complete,
        "next_reminder": next_reminder,
        "sent": messages.get("sent", 0),
        "failed": messages.get("failed", 0),
        "unreachable": messages.get("unmapped", 0),
        "waiting": messages.get("pending", 0) + messages.get("sending", 0),
    }


@admin.get("/admin")
def campaigns() -> ResponseReturnValue:
    ctx = current()
    now = ctx.clock()
    rows = [campaign_row(f, ctx.settings, now) for f in ctx.store().views.campaigns()]
    return render_template("admin/campaigns.html", rows=rows, now=now)


@admin.get("/admin/campaigns/<campaign_id>")
def campaign(campaign_id: str) -> ResponseReturnValue:
    if not is_okta_id(campaign_id):
        abort(404)
    ctx = current()
    detail = ctx.store().views.campaign(campaign_id)
    if detail is None:
        abort(404)
    now = ctx.clock()
    return render_template(
        "admin/campaign.html",
        row=campaign_row(detail.figures, ctx.settings, now),
        reviewers=detail.reviewers,
        unresolved=detail.unresolved,
        now=now,
    )
