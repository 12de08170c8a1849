"""Group commit for the hook endpoint: many deliveries, one transaction.

Every accepted delivery must be on disk before Okta gets its 204, and with
``synchronous=FULL`` each commit costs an fsync and holds SQLite's single write
lock meanwhile. Under a burst (Okta batches, the close-time NORESPONSE storm)
one commit per request makes requests queue behind each other's fsyncs. Here
request threads hand their delivery to one writer thread per process and wait;
the writer stores everything that has queued up in one transaction, then wakes
them all. Nothing is acknowledged before it is committed.

The writer is supervised by its own loop: a failure (the database folder gone for
a moment, a full disk, a lock held too long) fails only the deliveries in hand,
the connection is dropped, and the next batch opens a fresh one. A database file
deleted or replaced under the service is noticed (the open file is compared with
the path before every batch) and never written into. ``/healthz`` asks the writer
to prove a write the same way (``probe``), and reads its last failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime

from app.db import Store
from app.events import Delivery
from app.models import IntakeResult

__all__ = ["IntakeWriter", "StoreUnusable"]

log = logging.getLogger(__name__)

MAX_BATCH = 256
# /healthz proves a write at most this often (a probe younger than this is reused).
PROBE_REUSE_SECONDS = 1.0


class StoreUnusable(RuntimeError):
    """The database cannot take hooks right now; the message says why."""


_PROBE = object()  # a queue item asking the writer to prove a write


class IntakeWriter:
    def __init__(self, open_store: Callable[[], Store]) -> None:
        self._open_store = open_store
        self._queue: queue.SimpleQueue[tuple[object, datetime, Future]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid: int | None = None  # the writer thread belongs to one process (fork!)
        self._store: Store | None = None
        self.last_error = ""  # "" while the last batch succeeded
        self._probe_lock = threading.Lock()
        self._probe_at = 0.0
        self._probe_error: str | None = None

    def _ensure_started(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._store = None  # a connection never crosses a fork
                thread = threading.Thread(target=self._run, name="intake-writer", daemon=True)
                thread.start()
                self._pid = os.getpid()

    def _submit(self, item: object, now: datetime, timeout: float) -> IntakeResult | None:
        self._ensure_started()
        future: Future[IntakeResult | None] = Future()
        self._queue.put((item, now, future))
        try:
            return future.result(timeout=timeout)
        except TimeoutError:
            # Not yet written: withdraw it, so nothing is stored after we said 503.
            # (If the writer already took it, it commits it and Okta's retry is a duplicate.)
            future.cancel()
            raise

    def record(self, delivery: Delivery, now: datetime, timeout: float) -> IntakeResult:
        """Store ``delivery``; returns once committed. Raises on failure or ``timeout``."""
        result = self._submit(delivery, now, timeout)
        assert result is not None  # a delivery (not a probe) always has its result
        return result

    def probe(self, now: datetime, timeout: float) -> str | None:
        """Prove that a hook could be stored now: None, or why not (one line)."""
        with self._probe_lock:
            if time.monotonic() - self._probe_at < PROBE_REUSE_SECONDS:
                return self._probe_error
            try:
                self._submit(_PROBE, now, timeout)
                error = None
            except TimeoutError:
                error = f"the database did not take a write within {timeout:g} s"
            except Exception as exc:
                error = describe(exc)
            self._probe_at, self._probe_error = time.monotonic(), error
            return error

    # -- the writer thread ---------------------------------------------------------------
    def _connection(self) -> Store:
        store = self._store
        if store is not None and not store.same_file():
            log.error("hook intake: the database file was deleted or replaced; not writing to it")
            self._drop()
            raise StoreUnusable("the database file was deleted or replaced")
        if store is None:
            store = self._store = self._open_store()
        return store

    def _drop(self) -> None:
        if self._store is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail too
                self._store.close()
            self._store = None

    def _run(self) -> None:
        while True:
            try:
                self._one_batch()
            except Exception:  # the writer must outlive anything: log, go on
                log.exception("hook intake writer: unexpected error")

    def _one_batch(self) -> None:
        batch = [self._queue.get()]
        while len(batch) < MAX_BATCH:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        # Waiters that gave up (timed out) are skipped: never stored after a 503.
        batch = [b for b in batch if b[2].set_running_or_notify_cancel()]
        if not batch:
            return
        deliveries = [(d, now) for d, now, _ in batch if isinstance(d, Delivery)]
        try:
            store = self._connection()
            with store.write():
                results = store.inbox.record_deliveries(deliveries) if deliveries else []
                store.db.execute(
                    "INSERT INTO kv (key, value, updated_at) VALUES ('intake_probe', '1', ?)"
                    " ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at",
                    [batch[-1][1].isoformat()],
                )
        except Exception as exc:  # every waiter hears about it; nothing was stored
            why = describe(exc)
            if why != self.last_error:
                log.error("hook intake: could not store %d deliveries: %s", len(deliveries), why)
            self.last_error = why
            self._drop()  # the next batch starts with a fresh connection
            self._probe_at, self._probe_error = time.monotonic(), why
            for _, _, future in batch:
                future.set_exception(StoreUnusable(why))
            return
        if self.last_error:
            log.info("hook intake: storing again after: %s", self.last_error)
            self.last_error = ""
        self._probe_at, self._probe_error = time.monotonic(), None  # a write just worked
        found = iter(results)
        for item, _, future in batch:
            future.set_result(None if item is _PROBE else next(found))


def describe(exc: BaseException) -> str:
    """A storage failure as one line an operator can act on."""
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if "disk is full" in lowered or ("disk i/o" in lowered and "full" in lowered):
        return "the disk is full (database or disk is full)"
    if "unable to open database" in lowered or "no database file" in lowered:
        return f"the database cannot be opened ({text})"
    if "readonly" in lowered or "read-only" in lowered:
        return f"the database is read-only ({text})"
    return text[:300]
