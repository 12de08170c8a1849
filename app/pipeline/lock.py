"""One sender per deployment, enforced by the kernel: an exclusive ``flock``.

The worker (and a command that sends while no worker runs) holds ``<db>.worker.lock``
for as long as it lives. When the process dies, however it dies (kill -9, OOM, a
power cut of the container), the kernel releases the lock at once: no heartbeat
window to wait out, no dependence on the wall clock or the host name. Whoever takes
the lock next puts back whatever the dead holder left in flight
(``Store.reclaim_orphans``).

``flock`` is only as good as the filesystem: the database (and so this file) must be
on a local filesystem, not NFS or a network share.
"""

from __future__ import annotations

import fcntl
import os
import socket
from datetime import datetime

from app.timeutil import iso

__all__ = ["AnotherWorkerRunning", "WorkerLock"]


class AnotherWorkerRunning(RuntimeError):
    """The lock is held by another live process."""


class WorkerLock:
    def __init__(self, db_path: str) -> None:
        self.path = f"{db_path}.worker.lock"
        self._file: int | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def try_acquire(self, now: datetime, role: str = "worker") -> bool:
        """Take the lock if it is free; False when another process holds it."""
        if self._file is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        # Who holds it, for the "another worker" message: informative only, the lock
        # itself is what counts.
        note = f"{role} pid {os.getpid()} on {socket.gethostname()} since {iso(now)}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        self._file = fd
        return True

    def acquire(self, now: datetime, role: str = "worker") -> None:
        if not self.try_acquire(now, role):
            raise AnotherWorkerRunning(
                f"another worker is running on this database ({self.holder()}); "
                "run one worker per deployment"
            )

    def holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8") as file:
                return file.read().strip()[:200] or "holder unknown"
        except OSError:
            return "holder unknown"

    def is_free(self) -> bool:
        """Is nobody holding it right now? (Takes and drops it when free.)"""
        if self._file is not None:
            return False
        try:
            fd = os.open(self.path, os.O_RDWR)  # never created here: status is read-only
        except FileNotFoundError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)  # closing drops the lock
        return True

    def release(self) -> None:
        if self._file is not None:
            os.close(self._file)
            self._file = None
