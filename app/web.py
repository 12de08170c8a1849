"""The web app (a Flask app factory): the hook (app.intake) and the probes (app.ops).

gunicorn runs it in the web processes (``wsgi_app``); tests build it with
``create_app(settings, clock=...)`` on a temporary database.
"""

from __future__ import annotations

import os

from flask import Flask, Response

from app.config import Settings, SettingsError, load_settings
from app.db import DatabaseMissing
from app.intake.context import WebContext, problem
from app.intake.endpoint import MAX_BODY_BYTES, hooks
from app.intake.forwarded import ForwardedFor
from app.logs import LEVEL_ENV, configure_logging
from app.ops.admin import admin
from app.ops.probes import probes
from app.timeutil import Clock, system_clock

__all__ = ["MAX_BODY_BYTES", "create_app", "wsgi_app"]


def create_app(settings: Settings | None = None, *, clock: Clock = system_clock) -> Flask:
    """Build the web app. Without ``settings``, read config.yaml and the environment."""
    if settings is None:
        settings = load_settings()
    settings.require("hook")
    app = Flask("certnotify")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    # The proxy in front says who the client is; nobody else may (see app.intake.forwarded).
    app.wsgi_app = ForwardedFor(app.wsgi_app, settings.server.forwarded_allow_ips)  # type: ignore[method-assign]
    context = WebContext(settings, clock)
    # Fail at start-up, not on the first hook, if the database is missing or old:
    # `certnotify serve` creates and migrates it before starting gunicorn.
    try:
        store = context.store()
    except DatabaseMissing:
        raise SettingsError(
            f"database.path: no database at {settings.database.path} (run `certnotify migrate`"
            " or start the service with `certnotify serve`, which creates it)"
        ) from None
    if store.needs_migration():
        raise SettingsError(
            f"database.path: {settings.database.path} needs migrating; run `certnotify migrate`"
        )
    app.extensions["certnotify"] = context

    @app.errorhandler(413)
    def too_large(_: Exception) -> Response:
        return problem(413, "body over 1 MiB")

    app.register_blueprint(hooks)
    app.register_blueprint(probes)
    app.register_blueprint(admin)
    return app


def wsgi_app() -> Flask:
    """gunicorn entry point: ``gunicorn 'app.web:wsgi_app()'``."""
    try:
        settings = load_settings()
        # The app's own loggers in this web process: same formatter, redaction and level
        # as every other process (`serve` passes its --log-level down).
        configure_logging(
            settings.secrets(), os.environ.get(LEVEL_ENV, "INFO"), settings.logging.format
        )
        return create_app(settings)
    except SettingsError as exc:
        # One line, then exit: gunicorn would otherwise print a traceback per worker.
        print(f"certnotify: {exc}", flush=True)
        raise SystemExit(2) from None
