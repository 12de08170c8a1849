"""The fake Slack in a process of its own, so it does not share a GIL with the code measured."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterable
from typing import Any


def _serve(conn, limits: dict[str, Any] | None, scale: float) -> None:
    from bench.timescale import TimeScale
    from fakes.slack import FakeSlack, SlackLimits

    clock = TimeScale(scale)
    slack = FakeSlack(limits=SlackLimits(**limits) if limits else None, clock=clock.monotonic)
    slack.start()
    conn.send((slack.url, slack.token))
    while True:
        command, argument = conn.recv()
        if command == "generate_users":
            conn.send(slack.generate_users(argument))
        elif command == "stats":
            conn.send(
                {
                    "calls": {m: slack.call_count(m) for m in argument},
                    "all_calls": slack.call_count(),
                    "rate_limited": dict(slack.rate_limited),
                    "posted_to": [m.channel for m in slack.messages],
                    "post_times": [m.at for m in slack.messages],
                }
            )
        elif command == "stop":
            slack.stop()
            conn.send(None)
            return


class SlackProcess:
    def __init__(self, *, limits: dict[str, Any] | None = None, scale: float = 1.0) -> None:
        self._conn, child = mp.Pipe()
        self._process = mp.get_context("spawn").Process(
            target=_serve, args=(child, limits, scale), daemon=True
        )
        self._process.start()
        self.url, self.token = self._conn.recv()

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def generate_users(self, emails: Iterable[str]) -> dict[str, str]:
        return self._ask("generate_users", list(emails))

    def stats(self, methods: Iterable[str]) -> dict[str, Any]:
        return self._ask("stats", list(methods))

    def stop(self) -> None:
        self._ask("stop")
        self._process.join(timeout=10)

    def __enter__(self) -> SlackProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
