"""Children of ``certnotify serve`` die with it, even when it is killed with -9.

``serve`` passes its pid in ``CERTNOTIFY_PARENT_PID``. On Linux the child asks the
kernel to send it SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), then checks
that the parent did not die before that request was made. Elsewhere the worker's
loop notices a changed parent pid instead (``parent_gone``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

__all__ = ["ENV", "die_with_parent", "parent_gone"]

ENV = "CERTNOTIFY_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def _expected_parent() -> int | None:
    value = os.environ.get(ENV, "")
    return int(value) if value.isdigit() else None


def die_with_parent() -> None:
    parent = _expected_parent()
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass  # parent_gone() still catches it, a little later
    if os.getppid() != parent:
        sys.exit(0)  # serve died before we could ask to follow it


def parent_gone() -> bool:
    parent = _expected_parent()
    return parent is not None and os.getppid() != parent
