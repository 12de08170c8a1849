"""Logging to stderr, with every configured secret redacted from every line.

Code never logs secrets on purpose; the redacting formatter is the second line
of defence (a library's error message, an exception's repr, a URL).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

__all__ = ["RedactingFormatter", "configure_logging"]

REDACTED = "[redacted]"


class RedactingFormatter(logging.Formatter):
    def __init__(self, secrets: Iterable[str], fmt: str | None = None) -> None:
        super().__init__(fmt or "%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def configure_logging(secrets: Iterable[str], level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The SDKs are chatty at INFO and log request details at DEBUG.
    for noisy in ("httpx", "httpcore", "slack_sdk", "apscheduler", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
