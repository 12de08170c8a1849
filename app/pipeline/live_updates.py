"""The live launch message: each reviewer's launch DM is edited in place (``chat.update``)
as their decisions arrive, "3 of 12 access items left", then "All done" with thanks.

The decide handler (app.pipeline.on_decide) records each APPROVE or REVOKE once, lowers
the reviewer's pending count and marks an edit as waiting; no Okta call (a busy campaign
has thousands of decisions, Okta allows about 50 requests a minute). This job, run by the
worker every round while Slack accepts our token, edits each reviewer's DM once no new
decision of theirs has arrived for ``messages.live_update_seconds`` (or the first has
waited five times that), so a reviewer clicking through 40 items costs one edit.

Only a launch DM that was sent is edited (its ``channel``, the DM id, and ``ts`` are in the
ledger); one still queued is edited once it is out; a reviewer told only by a
reassignment, or never reached, has nothing to edit and the update is dropped. A count
already shown is not sent again. Slack's answers are sorted as for posts: a message that
cannot be edited any more (deleted, ``cant_update_message``, channel gone) is given up
for good with the reason; an outage or a refused token keeps the edit for later, behind
the same pause as every other Slack call.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from app.config import MessageSettings
from app.db import Store
from app.integrations.slack import (
    SlackAuthError,
    SlackPermanentError,
    SlackSender,
    SlackTransientError,
)
from app.live_messages import live_launch_message
from app.pipeline.outbox import Outbox
from app.pipeline.planning import Planner
from app.timeutil import Clock

__all__ = ["MAX_WAIT_FACTOR", "UPDATES_PER_ROUND", "LiveLaunchUpdates"]

log = logging.getLogger(__name__)

# A steady stream of decisions still shows after this many quiet windows.
MAX_WAIT_FACTOR = 5
# chat.update is Tier 3 (paced at 50 a minute): a few per round keep the worker loop
# from waiting on the pace for long while events and posts queue behind it.
UPDATES_PER_ROUND = 5
# Unexpected failures (a bug, a malformed row) of one edit before it is given up.
MAX_UNEXPECTED = 5


class LiveLaunchUpdates:
    def __init__(
        self,
        store: Store,
        slack: SlackSender,
        outbox: Outbox,
        planner: Planner,
        settings: MessageSettings,
        clock: Clock,
    ) -> None:
        self.store = store
        self.slack = slack
        self.outbox = outbox
        self.planner = planner
        self.settings = settings
        self.clock = clock

    def __call__(self, now: datetime | None = None) -> int:
        """Edit the launch DMs whose quiet window has closed; returns how many were edited."""
        if not self.settings.live_updates:
            return 0
        now = now or self.clock()
        quiet = self.settings.live_update_seconds
        edited = 0
        for campaign_id, recipient in self.store.live.due(
            now, quiet, quiet * MAX_WAIT_FACTOR, UPDATES_PER_ROUND
        ):
            if self.outbox.paused():
                break  # Slack is down: wait with every other sender
            outcome = self._update(campaign_id, recipient, now)
            if outcome == "stop":
                break
            edited += outcome == "edited"
        return edited

    def _update(self, campaign_id: str, recipient: str, now: datetime) -> str:
        live = self.store.live
        target = live.target(campaign_id, recipient)
        if target is None:
            return "gone"
        seen = float(target["last_ts"] or 0)
        campaign = self.store.campaigns.get(campaign_id)
        if campaign is None or target["retired_at"]:
            live.settle(campaign_id, recipient, seen, "campaign retired")
            return "dropped"
        status = target["launch_status"]
        if status in ("pending", "sending"):
            # Still queued (a large launch is sending): edit it once it is out.
            wait = now + timedelta(seconds=self.settings.live_update_seconds)
            live.later(campaign_id, recipient, "launch message not sent yet", wait)
            return "waiting"
        if status != "sent" or not target["channel"] or not target["launch_ts"]:
            # Never reached (unmapped, failed), or told only by a reassignment: no DM to edit.
            note = f"no launch message sent ({status or 'none'})"
            live.settle(campaign_id, recipient, seen, note)
            return "dropped"
        pending = max(0, int(target["pending_items"] or 0))
        total = max(int(target["total_items"] or 0), pending)
        if (target["shown_pending"], target["shown_total"]) == (pending, total):
            live.settle(campaign_id, recipient, seen, "")  # the DM already says this
            return "unchanged"
        message = live_launch_message(self.planner.context(campaign, now), pending, total)
        try:
            posted = self.slack.update(
                target["channel"], target["launch_ts"], message.text, message.blocks
            )
        except SlackAuthError as exc:
            # Our token, not this message: the worker stops Slack work until the
            # credential check passes, then this edit is due again at once.
            self.outbox.refused(exc)
            live.later(campaign_id, recipient, exc.code, now)
            log.error("slack rejected our token (%s); live edits paused", exc.code)
            return "stop"
        except SlackTransientError as exc:
            until = self.outbox.unavailable(exc)
            live.later(campaign_id, recipient, exc.code, datetime.fromtimestamp(until, now.tzinfo))
            return "stop"
        except SlackPermanentError as exc:
            # message_not_found, cant_update_message, channel_not_found, edit_window_closed…
            live.give_up(campaign_id, recipient, exc.code)
            log.warning("launch DM to %s in %s can no longer be edited: %s; live edits stop",
                        recipient, campaign_id, exc.code)  # fmt: skip
            return "gave_up"
        except Exception as exc:  # a bug must not stop the worker loop: retried, then dropped
            return self._unexpected(target, exc, now)
        self.outbox.answered()
        live.shown(campaign_id, recipient, seen_last_ts=seen, pending=pending, total=total,
                   message_ts=posted.ts, now=now)  # fmt: skip
        log.info("launch DM to %s in %s now shows %d of %d left", recipient, campaign_id,
                 pending, total)  # fmt: skip
        return "edited"

    def _unexpected(self, target: dict[str, Any], exc: Exception, now: datetime) -> str:
        campaign_id, recipient = target["campaign_id"], target["recipient"]
        code = f"{type(exc).__name__}: {exc}"[:200]
        log.error("live edit of %s in %s: unexpected error: %s", recipient, campaign_id, code)
        attempts = int(target["attempts"] or 0) + 1
        if attempts >= MAX_UNEXPECTED:
            self.store.live.give_up(campaign_id, recipient, f"{code} (gave up after {attempts})")
            return "gave_up"
        delay = timedelta(seconds=min(60.0 * 2**attempts, 3600.0))
        self.store.live.later(campaign_id, recipient, code, now + delay, count_attempt=True)
        return "retrying"
