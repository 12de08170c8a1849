"""Shared by the benchmarks. They talk only to servers started here, on 127.0.0.1."""

from __future__ import annotations

import json

from tests.harness import free_port, post_hook, serve, wait_for
from tests.helpers import SAMPLES

__all__ = ["free_port", "launch_body", "post_hook", "serve", "wait_for"]


def launch_body(campaign_id: str, n: int = 0) -> bytes:
    body = json.loads((SAMPLES / "event-launch.json").read_text())
    body["eventId"] = f"bench-delivery-{campaign_id}-{n}"
    event = body["data"]["events"][0]
    event["uuid"] = f"bench-event-{campaign_id}-{n}"
    event["debugContext"]["debugData"]["campaignId"] = campaign_id
    return json.dumps(body).encode()
