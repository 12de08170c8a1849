"""What a reminder pass uses (``PassParts``) and what it reports (``PassResult``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.config import Settings
from app.db import Store
from app.integrations.okta import OktaClient
from app.pipeline.admin_channel import AdminChannel
from app.pipeline.outbox import Outbox
from app.pipeline.planning import Planner
from app.pipeline.resource_labels import ResourceLabels
from app.timeutil import Clock

if TYPE_CHECKING:
    from app.services import Services

__all__ = ["PassParts", "PassResult"]


@dataclass
class PassResult:
    campaigns: int = 0
    planned: int = 0
    sent: int = 0
    unmapped: int = 0
    failed: int = 0
    skipped: int = 0
    scheduled: int = 0  # planned for later: the reviewer's working hours
    retired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    auth_error: str = ""
    # Okta was unavailable for some campaign: the pass should run again (epoch seconds).
    retry_at: float = 0.0

    def line(self, dry_run: bool = False) -> str:
        if dry_run:
            return (
                f"dry run: would_send={self.planned} unmapped={self.unmapped} "
                f"retire={len(self.retired)} (nothing was sent or recorded)"
            )
        line = f"sent={self.sent} unmapped={self.unmapped} failed={self.failed}"
        return line + (f" scheduled={self.scheduled}" if self.scheduled else "")

    def summary(self) -> dict[str, Any]:
        return {
            "campaigns": self.campaigns,
            "sent": self.sent,
            "unmapped": self.unmapped,
            "failed": self.failed,
            "skipped": self.skipped,
            "scheduled": self.scheduled,
            "retired": self.retired,
            "errors": self.errors[:20],
            "auth_error": self.auth_error,
        }


@dataclass(frozen=True)
class PassParts:
    """What a reminder pass uses."""

    okta: OktaClient
    store: Store
    planner: Planner
    outbox: Outbox
    admin: AdminChannel
    labels: ResourceLabels
    settings: Settings
    clock: Clock
    sleep: Callable[[float], None]

    @classmethod
    def of(cls, services: Services) -> PassParts:
        return cls(
            services.okta,
            services.store,
            services.planner,
            services.outbox,
            services.admin,
            services.labels,
            services.settings,
            services.clock,
            services.sleep,
        )
