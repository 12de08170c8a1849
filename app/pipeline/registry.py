"""What the worker does with what: one event type to one handler, and the jobs it runs
every round. The one place to look for "where is X handled"."""

from __future__ import annotations

from collections.abc import Callable

from app.events import CLOSE, DECIDE, LAUNCH
from app.models import ClaimedEvent
from app.pipeline.live_updates import LiveLaunchUpdates
from app.pipeline.on_close import CloseHandler
from app.pipeline.on_decide import DecideHandler
from app.pipeline.on_launch import Launcher, LaunchHandler
from app.pipeline.reassignment_notices import ReassignmentNotices
from app.services import Services

__all__ = ["Handler", "RoundJob", "event_handlers", "round_jobs"]

# Handles one claimed event; says what became of it: "done" or "ignored" (raises to
# retry or fail, see Worker.process).
Handler = Callable[[ClaimedEvent], str]
# Runs every round of the worker loop, after the events (needs Slack to be usable).
RoundJob = Callable[[], object]


def event_handlers(services: Services) -> dict[str, Handler]:
    """``certification.campaign.launch`` / ``.close`` / ``.item.decide``; any other event
    type is marked ignored."""
    launcher = Launcher(
        services.okta, services.store, services.planner, services.clock, services.admin
    )
    return {
        LAUNCH: LaunchHandler(launcher, services.store, services.clock),
        CLOSE: CloseHandler(services.store, services.clock, services.admin),
        DECIDE: DecideHandler(
            services.okta,
            services.store,
            services.clock,
            live_updates=services.settings.messages.live_updates,
        ),
    }


def round_jobs(services: Services) -> list[RoundJob]:
    """Reassignments whose quiet window closed become one message per new reviewer;
    launch DMs whose reviewer's decisions went quiet are edited to the new count."""
    return [
        ReassignmentNotices(
            services.store, services.planner, services.settings.reassign, services.clock
        ),
        LiveLaunchUpdates(
            services.store,
            services.slack,
            services.outbox,
            services.planner,
            services.settings.messages,
            services.clock,
        ),
    ]
