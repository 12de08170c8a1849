"""``certnotify demo`` (what ``make run`` does without credentials).

Starts a simulated Okta org on 127.0.0.1, then the real service (gunicorn plus
the worker, exactly as ``serve`` runs them) with a dry-run Slack sender, posts a
launch event through the real hook endpoint, and lets the worker print every
Slack message it would send. Then it keeps serving and shows a ``curl`` to try.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

import httpx

from app.db import Store
from app.ops.serve import Supervisor, child_env, gunicorn_command, worker_command
from fakes.okta import FakeOkta

__all__ = ["launch_event", "run_demo"]

DEMO_ZONE = "America/Los_Angeles"


def launch_event(campaign_id: str, campaign_name: str, when: datetime) -> dict:
    """An event-hook envelope with one ``certification.campaign.launch``, shaped like Okta's."""
    return {
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": "https://acme.okta.com/api/v1/eventHooks/whoDemo00000000000000",
        "eventId": str(uuid.uuid4()),
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "contentType": "application/json",
        "data": {
            "events": [
                {
                    "uuid": str(uuid.uuid4()),
                    "published": when.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    "eventType": "certification.campaign.launch",
                    "version": "0",
                    "displayMessage": "Campaign launched",
                    "severity": "INFO",
                    "actor": {
                        "id": "spryNYaeCS2aMI3Jf0g7",
                        "type": "SystemPrincipal",
                        "alternateId": "system@okta.com",
                        "displayName": "Okta System",
                    },
                    "outcome": {"result": "SUCCESS", "reason": None},
                    "target": [],
                    "debugContext": {
                        "debugData": {"campaignId": campaign_id, "campaignName": campaign_name}
                    },
                }
            ]
        },
    }


def reassign_event(campaign_id: str, review_id: str, actor: dict, when: datetime) -> dict:
    """An envelope with one reassignment (``certification.campaign.item.decide`` DELEGATE)."""
    envelope = launch_event(campaign_id, "", when)
    event = envelope["data"]["events"][0]
    event.update(
        eventType="certification.campaign.item.decide",
        displayMessage="Decision on a campaign item",
        outcome={"result": "SKIPPED", "reason": None},
        actor={
            "id": actor["id"],
            "type": "User",
            "alternateId": actor["email"],
            "displayName": f"{actor['firstName']} {actor['lastName']}",
        },
        debugContext={
            "debugData": {
                "campaignId": campaign_id,
                "campaignItemReviewerId": review_id,
                "campaignItemDecision": "DELEGATE",
                "campaignItemDecisionNotes": "You own this application now.",
            }
        },
    )
    return envelope


def _free_port(preferred: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return int(probe.getsockname()[1])


def _wait_healthy(base: str, supervisor: Supervisor, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not supervisor.signalled:
        try:
            if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def _wait_settled(db_path: Path, supervisor: Supervisor, timeout: float = 60.0) -> None:
    """Until the inbox is processed and the outbox is empty (the worker printed every DM)."""
    store = Store.open(db_path)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not supervisor.signalled:
            inbox = store.inbox.counts()
            busy = inbox.get("pending", 0) + inbox.get("processing", 0)
            if not busy and any(inbox.values()) and not store.messages.unsettled():
                return
            time.sleep(0.3)
    finally:
        store.close()


def run_demo(port: int = 8080, out: TextIO = sys.stdout) -> int:
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="certnotify-demo-"))
    db_path = workdir / "certnotify.db"
    config_path = workdir / "config.yaml"
    config_path.write_text(
        "slack:\n  dry_run: true      # print messages instead of sending them\n"
        f"database:\n  path: {db_path}\n"
        "messages:\n  org_name: Acme (simulated org)\n"
        "reassign:\n  coalesce_seconds: 3   # 30 by default; short for the demo\n",
        encoding="utf-8",
    )
    hook_secret = secrets.token_urlsafe(24)
    admin_token = secrets.token_urlsafe(18)
    port = _free_port(port)
    base = f"http://127.0.0.1:{port}"

    with FakeOkta() as okta:
        zone = ZoneInfo(DEMO_ZONE)
        # Started at 09:00 today (or yesterday, before 09:00), like a scheduled campaign.
        now = datetime.now(zone)
        start = now.replace(hour=9, minute=0, second=0, microsecond=0)
        if start > now:
            start -= timedelta(days=1)
        name = "Q4 2026 Access Review - Engineering & Finance Apps"
        campaign_id = okta.generate_campaign(
            name=name,
            reviews=430,
            reviewers=24,
            group_reviews=2,
            start=start,
            duration_days=28,
            time_zone=DEMO_ZONE,
            description="Quarterly manager review of GitHub, AWS and NetSuite access.",
        )
        say("certnotify demo: no credentials found, so this runs against a simulated Okta org")
        say(f"  simulated org: {okta.url}  (campaign {campaign_id}: 430 reviews, 24 reviewers)")
        say("  Slack: dry run, each message is printed below instead of being sent")
        say(f"  service: {base}  (gunicorn + worker, database {db_path})")
        say()
        env = child_env(
            str(config_path),
            {
                "OKTA_ORG_URL": okta.url,
                "OKTA_API_TOKEN": okta.api_token,
                "OKTA_HOOK_SECRET": hook_secret,
                "CERTNOTIFY_ADMIN_TOKEN": admin_token,
            },
        )
        env.pop("SLACK_BOT_TOKEN", None)
        # As `serve` does: the database exists before the web processes open it.
        store = Store.open(db_path)
        store.migrate()
        store.close()
        supervisor = Supervisor(
            {
                "web": gunicorn_command(
                    "127.0.0.1", port, 1, 4, access_log=False, log_level="WARNING"
                ),
                "worker": worker_command(str(config_path)),
            },
            env,
        )
        supervisor.install_signal_handlers()
        supervisor.start()
        try:
            if not _wait_healthy(base, supervisor):
                if supervisor.signalled:
                    return 0
                say("the service did not become healthy within 30 s; see the errors above")
                return 1
            event = launch_event(campaign_id, name, datetime.now(UTC))
            event_file = workdir / "event-launch.json"
            event_file.write_text(json.dumps(event, indent=2), encoding="utf-8")
            response = httpx.post(
                f"{base}/hooks/okta",
                content=event_file.read_bytes(),
                headers={"Authorization": hook_secret, "Content-Type": "application/json"},
                timeout=5.0,
            )
            say(f"POST {base}/hooks/okta (campaign launch event) -> HTTP {response.status_code}")
            say()
            _wait_settled(db_path, supervisor)
            if supervisor.signalled:
                return 0
            say()
            say("Done: one DM per reviewer with pending items. The service keeps running.")
            # A reviewer hands one item to someone new, for the curl below.
            review = okta.reviews_of(campaign_id)[0]
            newcomer = {
                "id": "00uDemoNewReviewer00",
                "email": "dana.kim@example.com",
                "firstName": "Dana",
                "lastName": "Kim",
                "status": "ACTIVE",
                "type": "USER",
            }
            okta.reassign(review["id"], newcomer)
            reassign_file = workdir / "event-reassign.json"
            reassign_file.write_text(json.dumps(reassign_event(
                campaign_id, review["id"], review["reviewerProfile"], datetime.now(UTC)
            ), indent=2), encoding="utf-8")  # fmt: skip
            curl = (
                f"  curl -i -X POST {base}/hooks/okta -H 'Authorization: {hook_secret}'"
                " -H 'Content-Type: application/json' --data @"
            )
            say("Try a reassignment (Dana Kim gets one DM a few seconds later):")
            say(curl + str(reassign_file))
            say("Send the launch event again (a duplicate: 204, and nothing is sent):")
            say(curl + str(event_file))
            say(f"Health: curl -s {base}/healthz")
            say(f"Admin page: {base}/admin  (any user name, password {admin_token})")
            say(f"Status: .venv/bin/certnotify --config {config_path} status")
            say("Press Ctrl-C to stop.")
            return supervisor.wait()
        finally:
            supervisor.stop()
