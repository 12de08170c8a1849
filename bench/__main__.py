"""Run every benchmark and print one table of measured figures."""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = [
    "bench.launch_calls",
    "bench.hook_latency",
    "bench.fanout",
    "bench.memory",
    "bench.okta_requests",
    "bench.digest",
]


def main(names: list[str]) -> None:
    rows: list[tuple[str, str, str]] = []
    for name in names or BENCHMARKS:
        started = time.monotonic()
        module = importlib.import_module(name)
        rows.extend(module.run())
        sys.stdout.flush()
        print(f"# {name}: {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}} | result | goal")
    print(f"{'-' * width}-|--------|-----")
    for measure, result, goal in rows:
        print(f"{measure:<{width}} | {result} | {goal}")


if __name__ == "__main__":
    main(sys.argv[1:])
