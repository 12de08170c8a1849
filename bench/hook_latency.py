"""Hook acknowledgement latency under load, against do-nothing floors in the same run.

1,000 POSTs at concurrency 50 to `certnotify serve` (the shipped server settings,
or `python -m bench.hook_latency WORKERS THREADS`) while its worker announces a
launch to a fake Slack that takes 1 s per call. Floors: the same load on the same
gunicorn command line serving (a) a bare WSGI app and (b) a Flask app, both doing
nothing. On two cores the load generator queues too, so the rounds interleave the
three servers and the table reports medians of the rounds, and ratios.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from datetime import UTC, datetime

import httpx

from app.config import ServerSettings
from app.db import Store
from app.ops.serve import gunicorn_command
from bench.common import free_port, launch_body, post_hook, serve, wait_for
from bench.load import LoadResult, post_load
from fakes.okta import FakeOkta
from fakes.slack import FakeSlack
from tests.helpers import HOOK_SECRET, SAMPLES

N, CONCURRENCY, ROUNDS, WARM_UP = 1000, 50, 3, 200
HEADERS = {"Authorization": HOOK_SECRET, "Content-Type": "application/json"}
_CLOSE = json.loads((SAMPLES / "event-close.json").read_text())


def decide_body(i: int) -> bytes:
    """A close-time NORESPONSE decision: the burst Okta sends when a campaign ends."""
    body = json.loads(json.dumps(_CLOSE))
    body["eventId"] = f"load-delivery-{i}"
    event = body["data"]["events"][1]
    event["uuid"] = f"load-event-{i}"
    body["data"]["events"] = [event]
    return json.dumps(body).encode()


def _floor(app: str, server: ServerSettings) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = gunicorn_command("127.0.0.1", port, server.web_workers, server.web_threads)
    command[-1] = app
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/hooks/okta"
    wait_for(lambda: _answers(url), timeout=30)
    return proc, url


def _answers(url: str) -> bool:
    try:
        httpx.post(url, content=b"{}", timeout=1)
        return True
    except httpx.HTTPError:
        return False


def _pct(results: list[LoadResult], p: float) -> float:
    return statistics.median(r.pct(p) for r in results)


def run(workers: int | None = None, threads: int | None = None) -> list[tuple[str, str, str]]:
    # The shipped server settings, unless asked otherwise; the floors run on the same.
    default = ServerSettings()
    server = ServerSettings(
        web_workers=workers or default.web_workers, web_threads=threads or default.web_threads
    )
    config = f"server:\n  web_workers: {server.web_workers}\n  web_threads: {server.web_threads}\n"
    floors = {
        "bare WSGI": _floor("bench.noop:raw", server),
        "Flask": _floor("bench.noop:flask", server),
    }
    results: dict[str, list[LoadResult]] = {name: [] for name in [*floors, "certnotify"]}
    try:
        with FakeOkta() as okta, FakeSlack(latency=1.0) as slack:
            campaign_id = okta.generate_campaign(
                reviews=300, reviewers=100, start=datetime.now(UTC)
            )
            slack.generate_users(r["email"] for r in okta.reviewers_of(campaign_id))
            with serve(okta, slack, config=config) as served:
                assert post_hook(served.base, launch_body(campaign_id)).status_code == 204
                wait_for(lambda: len(slack.calls("chat.postMessage")) >= 1, timeout=30)
                urls = {name: url for name, (_, url) in floors.items()}
                urls["certnotify"] = f"{served.base}/hooks/okta"
                offset = 0
                for url in urls.values():  # warm every server up
                    post_load(
                        url, lambda i, o=offset: decide_body(o + i), HEADERS, WARM_UP, CONCURRENCY
                    )
                    offset += WARM_UP
                for _ in range(ROUNDS):
                    for name, url in urls.items():
                        result = post_load(
                            url, lambda i, o=offset: decide_body(o + i), HEADERS, N, CONCURRENCY
                        )
                        offset += N
                        results[name].append(result)
                slack_busy = len(slack.calls("chat.postMessage")) < 100  # still sending
                store = Store.open(served.db)
                stored = sum(store.inbox.counts().values())
                store.close()
    finally:
        for proc, _ in floors.values():
            proc.terminate()
            proc.wait(timeout=15)
    ours = results["certnotify"]
    answers = sum((r.statuses for r in ours), start=type(ours[0].statuses)())
    rows = []
    for name in ("bare WSGI", "Flask"):
        rows.append(
            (
                f"hook ack: do-nothing {name} floor p50 / p99",
                f"{_pct(results[name], 50):.1f} / {_pct(results[name], 99):.1f} ms",
                "-",
            )
        )
    rows += [
        ("hook ack: gunicorn processes x threads (all three servers)",
         f"{server.web_workers} x {server.web_threads}", "-"),
        ("hook ack: certnotify p50 / p99 (Slack 1 s per call)",
         f"{_pct(ours, 50):.1f} / {_pct(ours, 99):.1f} ms", "p99 well under 100 ms"),
        ("hook ack: p99 vs do-nothing Flask floor",
         f"{_pct(ours, 99) / _pct(results['Flask'], 99):.2f}x", "<= 1.5x"),
        ("hook ack: p99 vs bare WSGI floor",
         f"{_pct(ours, 99) / _pct(results['bare WSGI'], 99):.2f}x", "-"),
        ("hook ack: throughput certnotify / Flask floor",
         f"{statistics.median(r.rps for r in ours):.0f} / "
         f"{statistics.median(r.rps for r in results['Flask']):.0f} req/s", "-"),
        ("hook ack: answers / events stored",
         f"{dict(answers)} / {stored} (worker still sending: {slack_busy})",
         f"{{204: {N * ROUNDS}}} / {N * ROUNDS + WARM_UP + 1}"),
    ]  # fmt: skip
    return rows


if __name__ == "__main__":
    import sys

    # python -m bench.hook_latency [WORKERS THREADS]: try other server settings.
    sizes = [int(a) for a in sys.argv[1:3]]
    for row in run(*sizes):
        print(" | ".join(row))
