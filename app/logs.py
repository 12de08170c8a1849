"""Logging to stderr, with every configured secret redacted from every line.

Code never logs secrets on purpose; the redacting formatter is the second line
of defence (a library's error message, an exception's repr, a URL). Every process
uses it: commands and the worker through ``configure_logging``, gunicorn (the
arbiter and its web workers, error and access logs) through ``GunicornLogger``.

Two formats (``logging.format``): ``text``, one line per record, and ``json``, one
JSON object per line with ``time``, ``level``, ``logger``, ``message`` and, where
known, the ``event_id`` being handled.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger as _GunicornBaseLogger

__all__ = [
    "EVENT_ID",
    "LEVELS",
    "GunicornLogger",
    "JsonFormatter",
    "RedactingFormatter",
    "configure_logging",
]

REDACTED = "[redacted]"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(event_suffix)s"
# The event (or hook delivery) being handled in this thread, for every line it logs.
EVENT_ID: ContextVar[str] = ContextVar("certnotify_event_id", default="")
# `serve` tells its web processes the --log-level it was given (the app factory reads it).
LEVEL_ENV = "CERTNOTIFY_LOG_LEVEL"


class _Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


class _EventId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        event_id = getattr(record, "event_id", "") or EVENT_ID.get()
        record.event_id = event_id
        record.event_suffix = f" [event {event_id}]" if event_id else ""
        return True


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt or TEXT_FORMAT)
        self.redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "event_suffix"):
            _EventId().filter(record)
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line, secrets redacted from every value."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.redact = _Redactor(secrets)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "event_suffix"):
            _EventId().filter(record)
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        event_id = getattr(record, "event_id", "")
        if event_id:
            entry["event_id"] = event_id
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def make_formatter(secrets: Iterable[str], fmt: str = "text") -> logging.Formatter:
    return JsonFormatter(secrets) if fmt == "json" else RedactingFormatter(secrets)


def configure_logging(secrets: Iterable[str], level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(secrets, fmt))
    handler.addFilter(_EventId())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The SDKs are chatty at INFO and log request details at DEBUG.
    for noisy in ("httpx", "httpcore", "apscheduler", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # slack_sdk logs every failed try at ERROR; certnotify reports what became of the
    # call itself (one line, with what to do), so the SDK speaks only at DEBUG.
    logging.getLogger("slack_sdk").setLevel(
        logging.DEBUG if level.upper() == "DEBUG" else logging.CRITICAL
    )


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn's logger with certnotify's formatter (and redaction) on its handlers.

    gunicorn builds its error and access loggers itself, in the arbiter and in every
    web worker; without this they print bare lines with no time and no redaction.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        secrets: list[str] = []
        fmt = "text"
        try:
            from app.config import load_settings

            settings = load_settings()
            secrets, fmt = settings.secrets(), settings.logging.format
        except Exception:  # noqa: S110 - the app factory reports bad settings in one line
            pass
        formatter = make_formatter(secrets, fmt)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(formatter)
                handler.addFilter(_EventId())
