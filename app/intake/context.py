"""The web processes' state, per app: settings, the clock, the hook secret's digest,
the intake writer, the refusal counters and one reading connection per thread."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading

from flask import Response, current_app, jsonify

from app.config import Settings
from app.db import Store
from app.intake.writer import IntakeWriter
from app.ops.metrics import HookCounters
from app.timeutil import Clock

__all__ = ["WebContext", "current", "problem"]


class WebContext:
    """Per-app state: settings, the clock, and one store connection per thread."""

    def __init__(self, settings: Settings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        secret = settings.okta.hook_secret.get_secret_value().encode()
        # Compare digests, not the strings: equal lengths, so the comparison time
        # says nothing about the secret's length either.
        self.secret_digest = hashlib.sha256(secret).digest()
        self.secret_header = settings.okta.hook_secret_header
        self._local = threading.local()
        self.intake = IntakeWriter(lambda: self.open_store(intake=True))
        self.counters = HookCounters()

    def open_store(self, *, intake: bool = False) -> Store:
        # Never create: the web side only writes into the database the worker reads.
        db = self.settings.database
        return Store.open(db.path, db.busy_timeout_seconds, intake=intake, create=False)

    def store(self) -> Store:
        """This thread's reading connection (reopened if the file was replaced)."""
        store = getattr(self._local, "store", None)
        if store is not None and not store.same_file():
            self.drop_store()
            store = None
        if store is None:
            store = self._local.store = self.open_store()
        return store

    def drop_store(self) -> None:
        store = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                store.close()

    def secret_ok(self, provided: str | None) -> bool:
        if not provided:
            return False
        digest = hashlib.sha256(provided.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(digest, self.secret_digest)


def current() -> WebContext:
    """The running app's context (``app.extensions``, set by ``create_app``)."""
    context: WebContext = current_app.extensions["certnotify"]
    return context


def problem(status: int, message: str) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response
