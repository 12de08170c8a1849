"""Compressed time for rate-limit benchmarks: one real second stands for SCALE seconds.

The fake Slack enforces its tiers on this clock, and the code under test paces and
waits on it too, so a 100-minute Slack fan-out runs in 100 s at scale 60 with every
ratio intact. Retry-After values are in compressed ("Slack") seconds on both sides.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class TimeScale:
    def __init__(self, scale: float, t0: float | None = None, epoch0: float | None = None) -> None:
        """``t0``/``epoch0`` let another process share this clock (CLOCK_MONOTONIC is
        system-wide on Linux)."""
        self.scale = scale
        self._t0 = time.monotonic() if t0 is None else t0
        self._epoch0 = time.time() if epoch0 is None else epoch0

    @property
    def origin(self) -> tuple[float, float, float]:
        return self.scale, self._t0, self._epoch0

    def epoch(self) -> float:
        return self._epoch0 + self.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._t0) * self.scale

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._epoch0 + self.monotonic(), UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.scale)
