"""A light HTTP/1.1 load generator: N POSTs over C keep-alive connections.

Raw asyncio streams rather than an HTTP client library: on two cores the
generator competes with the server for CPU, and a heavier client would measure
itself more than the server. Latencies are in milliseconds.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    latencies_ms: list[float]
    statuses: Counter
    seconds: float

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.seconds


def _request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    if length:
        await reader.readexactly(length)
    return status, close


async def _run(url: str, requests: list[bytes], concurrency: int) -> LoadResult:
    parts = urlsplit(url)
    latencies: list[float] = []
    statuses: Counter = Counter()
    queue = list(reversed(requests))

    async def connection() -> None:
        reader = writer = None
        while queue:
            raw = queue.pop()
            started = time.perf_counter()
            if writer is None:
                reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            writer.write(raw)
            await writer.drain()
            status, close = await _read_response(reader)
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return LoadResult(latencies, statuses, time.perf_counter() - started)


def post_load(
    url: str, make_body: Callable[[int], bytes], headers: dict[str, str], n: int, concurrency: int
) -> LoadResult:
    parts = urlsplit(url)
    host = f"{parts.hostname}:{parts.port}"
    requests = [_request(host, parts.path or "/", make_body(i), headers) for i in range(n)]
    return asyncio.run(_run(url, requests, concurrency))
