"""Wiring: build the objects a command needs from the settings, in one place.

Everything is passed in explicitly (no module globals), so a test builds the
same graph against a temporary database, a fake clock and local fake servers.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import httpx

from app.config import Settings, SettingsError
from app.db import DatabaseMissing, Store
from app.integrations.okta import OktaClient, SSWSAuth, build_http_client
from app.integrations.slack import (
    DryRunSlack,
    RateGate,
    SlackGateway,
    SlackSender,
    build_web_client,
)
from app.integrations.slack.directory import SlackDirectory
from app.pipeline.admin_channel import AdminChannel
from app.pipeline.outbox import Outbox
from app.pipeline.planning import Planner
from app.pipeline.resource_labels import ResourceLabels
from app.timeutil import Clock, system_clock

__all__ = ["Services", "open_existing", "open_store"]


@dataclass
class Services:
    settings: Settings
    store: Store
    okta: OktaClient
    slack: SlackSender
    directory: SlackDirectory
    planner: Planner
    outbox: Outbox
    admin: AdminChannel
    labels: ResourceLabels
    clock: Clock
    sleep: Callable[[float], None] = field(default=time.sleep)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        store: Store | None = None,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,
        out: TextIO | None = None,
        okta_transport: httpx.BaseTransport | None = None,
        slack: SlackSender | None = None,
        migrate: bool = True,
    ) -> Services:
        """``slack``: share another Services' sender (and so its pace and its pauses):
        the worker's threads all send through one. ``migrate=False`` (every command but
        ``serve``, ``worker`` and ``migrate``): the database must exist and be current."""
        # Before the store opens: a bad private key fails here with nothing to close.
        auth = okta_auth(settings)
        if store is None:
            store = open_store(settings, migrate=migrate)
        okta = OktaClient(
            build_http_client(
                settings.okta.org_url,
                auth,
                settings.okta.timeout_seconds,
                transport=okta_transport,
            ),
            max_retries=settings.okta.max_retries,
            max_rate_limit_wait=settings.okta.max_rate_limit_wait_seconds,
            backoff=settings.okta.backoff_seconds,
            sleep=sleep,
            clock=lambda: clock().timestamp(),
        )
        if slack is not None:
            pass
        elif settings.slack.dry_run:
            slack = DryRunSlack(out or sys.stdout)
        else:
            gate = RateGate(
                clock=lambda: clock().timestamp(),
                sleep=sleep,
                calls_per_minute=settings.slack.calls_per_minute,
            )
            slack = SlackGateway(
                build_web_client(
                    settings.slack.bot_token.get_secret_value(),
                    settings.slack.api_url,
                    settings.slack.timeout_seconds,
                    settings.slack.max_retries,
                    gate,
                    settings.slack.backoff_seconds,
                ),
                gate,
            )
        directory = SlackDirectory(
            store,
            slack,
            clock,
            max_age_hours=settings.slack.directory_max_age_hours,
            sweep_min_unknown=settings.slack.sweep_min_unknown,
            aliases=settings.slack.email_aliases,
        )
        outbox = Outbox(
            store,
            slack,
            clock,
            max_attempts=settings.worker.max_attempts,
            batch_size=settings.worker.batch_size,
            concurrency=settings.slack.post_concurrency,
        )
        planner = Planner(store, directory, settings)
        admin = AdminChannel(store, settings, clock)
        labels = ResourceLabels(okta, clock)
        return cls(
            settings, store, okta, slack, directory, planner, outbox, admin, labels, clock, sleep
        )

    def close(self) -> None:
        self.okta.close()
        self.store.close()


def open_store(settings: Settings, *, migrate: bool) -> Store:
    """The database: created or brought up to date (``migrate``), or else required to be
    there and current, with one line saying what to run when it is not."""
    db = settings.database
    if migrate:
        store = Store.open(db.path, db.busy_timeout_seconds)
        store.migrate()
        return store
    return open_existing(db.path, db.busy_timeout_seconds)


def open_existing(path: str, busy_timeout: float) -> Store:
    """The database as it is: there, and at this version's schema; else one line
    saying what to run (``SettingsError``)."""
    try:
        store = Store.open(path, busy_timeout, create=False)
    except DatabaseMissing:
        raise SettingsError(
            f"database.path: no database at {path} (run `certnotify migrate`, or start "
            "`certnotify serve`; check database.path / CERTNOTIFY_DB)"
        ) from None
    if store.needs_migration():
        store.close()
        raise SettingsError(
            f"database.path: {path} needs migrating to this version of certnotify: run "
            "`certnotify migrate` (it writes a backup first; serve and worker do it too)"
        )
    return store


def okta_auth(settings: Settings) -> httpx.Auth:
    """The Okta credentials; raises ``SettingsError`` for a private key Okta would refuse."""
    token = settings.okta.api_token.get_secret_value()
    # No private key either: a Slack-only command (test-message) that never calls Okta.
    # Commands that do call it were stopped by Settings.require("okta") already.
    if token or not settings.okta.private_key_file:
        return SSWSAuth(token)
    # OAuth 2.0 client credentials (private_key_jwt) is wired in app.integrations.okta.oauth.
    from app.integrations.okta.oauth import PrivateKeyJWTAuth

    return PrivateKeyJWTAuth(
        org_url=settings.okta.org_url,
        client_id=settings.okta.client_id,
        private_key_file=settings.okta.private_key_file,
        timeout=settings.okta.timeout_seconds,
        key_id=settings.okta.private_key_id or None,
    )
