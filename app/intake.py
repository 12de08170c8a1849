"""Group commit for the hook endpoint: many deliveries, one transaction.

Every accepted delivery must be on disk before Okta gets its 204, and with
``synchronous=FULL`` each commit costs an fsync and holds SQLite's single write
lock meanwhile. Under a burst (Okta batches, the close-time NORESPONSE storm)
one commit per request makes requests queue behind each other's fsyncs. Here
request threads hand their delivery to one writer thread per process and wait;
the writer stores everything that has queued up in one transaction, then wakes
them all. Nothing is acknowledged before it is committed.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from app.events import Delivery
from app.store import IntakeResult, Store

__all__ = ["IntakeWriter"]

log = logging.getLogger(__name__)

MAX_BATCH = 256


class IntakeWriter:
    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open_store = open_store
        self._queue: queue.SimpleQueue[tuple[Delivery, datetime, Future[IntakeResult]]] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._pid: int | None = None  # the writer thread belongs to one process (fork!)
        self.batches = 0
        self.largest_batch = 0

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
                thread.start()
                self._pid = os.getpid()

    def record(self, delivery: Delivery, now: datetime, timeout: float) -> IntakeResult:
        """Store ``delivery``; returns once committed. Raises on failure or ``timeout``."""
        self._ensure_started()
        future: Future[IntakeResult] = Future()
        self._queue.put((delivery, now, future))
        return future.result(timeout=timeout)

    def _run(self) -> None:
        store = self._open_store()
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
            try:
                results = store.record_deliveries([(d, now) for d, now, _ in batch])
            except Exception as exc:  # every waiter hears about it; nothing was stored
                log.error("hook intake: could not store %d deliveries: %s", len(batch), exc)
                for _, _, future in batch:
                    future.set_exception(exc)
            else:
                for (_, _, future), result in zip(batch, results, strict=True):
                    future.set_result(result)
