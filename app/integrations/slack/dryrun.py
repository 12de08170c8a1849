"""The dry-run sender: prints each message instead of sending it (``slack.dry_run``,
the demo)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from app.integrations.slack.gateway import Posted, SlackMember
from app.messages import render_console

__all__ = ["DryRunSlack"]


class DryRunSlack:
    """Prints each message instead of sending it. Every email counts as reachable."""

    PREFIX = "dry-run:"

    def __init__(self, out: TextIO, clock: Callable[[], float] = time.time) -> None:
        self.out = out
        self._clock = clock
        self._lock = threading.Lock()

    def members(self) -> Iterator[SlackMember]:
        return iter(())

    def lookup_email(self, email: str) -> SlackMember | None:
        return SlackMember(self.PREFIX + email.lower(), email.lower())

    def _print(self, heading: str, blocks: list[dict[str, Any]]) -> None:
        lines = render_console(blocks)
        with self._lock:
            rule = "─" * max(8, 88 - len(heading))
            print(f"── {heading} {rule}", file=self.out)
            for line in lines:
                print(f"   {line}", file=self.out)
            self.out.flush()

    def post(self, channel: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        who = channel.removeprefix(self.PREFIX)
        self._print(f"Slack DM to {who} (dry run)", blocks)
        # The "channel" is the recipient's dry-run id, so an update can name them too.
        return Posted(channel, f"{self._clock():.6f}")

    def update(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> Posted:
        who = channel.removeprefix(self.PREFIX)
        self._print(f"Slack DM to {who} updated (dry run)", blocks)
        return Posted(channel, ts)

    def check_auth(self) -> list[str]:
        return []  # nothing is sent, so no token to check
