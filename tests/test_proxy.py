"""Caddy in front of gunicorn (deploy/Caddyfile): slow clients cannot starve the hook.

gunicorn's gthread worker gives each connection that has sent a byte one of its 16
threads and reads the rest with no timeout, so a few dozen connections that drip
their headers or bodies hold every thread and Okta's deliveries time out. These tests
run the real Caddy binary with the shipped Caddyfile in front of a real
``certnotify serve``, all on 127.0.0.1, and show the hook staying fast under that
attack through Caddy, and failing without it. Plus the docker-compose.yml shape.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import re
import select
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.harness import free_port, serve, stop_process, wait_for
from tests.helpers import HOOK_SECRET, sample

ROOT = Path(__file__).parent.parent
CADDYFILE = ROOT / "deploy" / "Caddyfile"
COMPOSE = ROOT / "docker-compose.yml"
NOT_INSTALLED = (
    "caddy is not installed: `apt-get install caddy` (Debian/Ubuntu; .ci/run does it) "
    "to run the reverse-proxy tests"
)

SLOW_HEADERS, SLOW_BODIES = 50, 50
HOOKS, CONCURRENCY = 200, 4


def caddy_binary() -> str:
    binary = shutil.which("caddy")
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    return binary


def buffering_for(binary: str) -> str:
    """The CERTNOTIFY_CADDY_BUFFERING value for this Caddy (the option was renamed in 2.6.4)."""
    output = subprocess.run(
        [binary, "version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    found = re.search(r"(\d+)\.(\d+)\.(\d+)", output)
    assert found, f"unexpected `caddy version` output: {output!r}"
    version = tuple(int(part) for part in found.groups())
    return "current" if version >= (2, 6, 4) else "pre-2.6.4"


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@contextmanager
def caddy(upstream: str, workdir: Path, **settings: str) -> Iterator[str]:
    """The shipped Caddyfile on a free loopback port, with its own config and data dirs;
    `settings` adds or overrides its CERTNOTIFY_* variables."""
    binary = caddy_binary()
    port = free_port()
    home = workdir / "caddy-home"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        # Caddy keeps its autosave.json and any certificates under these: never the
        # developer's or CI's own.
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "CERTNOTIFY_SITE": f"http://127.0.0.1:{port}",  # http:// needs no certificate
        "CERTNOTIFY_BIND": "127.0.0.1",
        "CERTNOTIFY_UPSTREAM": upstream,
        "CERTNOTIFY_CADDY_ADMIN": "off",
        "CERTNOTIFY_CADDY_BUFFERING": buffering_for(binary),
        **settings,
    }
    log_path = workdir / "caddy.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "run", "--config", str(CADDYFILE), "--adapter", "caddyfile"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for(lambda: process.poll() is not None or _accepts(port), timeout=30)
        if process.poll() is not None:
            raise RuntimeError(f"caddy exited ({process.returncode}):\n{log_path.read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


def hook_body() -> bytes:
    """The sample launch delivery, made new (eventId and event uuid) for each request."""
    body = sample("event-launch.json")
    body["eventId"] = str(uuid.uuid4())
    body["data"]["events"][0]["uuid"] = str(uuid.uuid4())
    return json.dumps(body).encode()


HOOK_HEADERS = {"Authorization": HOOK_SECRET, "Content-Type": "application/json"}


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def post(base: str, body, headers: dict[str, str], timeout: float = 10) -> int:
    """POST to the hook; a list of byte strings is sent chunked (no Content-Length)."""
    connection = http.client.HTTPConnection("127.0.0.1", port_of(base), timeout=timeout)
    try:
        chunked = isinstance(body, list)
        connection.request(
            "POST", "/hooks/okta", body=body, headers=headers, encode_chunked=chunked
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def oversize_status(base: str, body: bytes, chunked: bool = False, send_body: bool = True) -> int:
    """The status answered to an oversized POST. The body is sent from another thread
    while this one reads the answer: a server that refuses early stops reading and
    closes, and a client that only reads after sending everything would see a reset."""
    sock = socket.create_connection(("127.0.0.1", port_of(base)), timeout=10)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (
        f"POST /hooks/okta HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {HOOK_SECRET}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()
    if chunked:
        pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
        body = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces)
        body += b"0\r\n\r\n"

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(head + body if send_body else head)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        status_line = sock.makefile("rb").readline()
    finally:
        sock.close()
        sender.join(timeout=10)
    return int(status_line.split()[1])


class SlowClients:
    """Connections that start a request and send one more byte every `interval` seconds,
    never finishing it: half drip their headers (no secret needed), half send complete
    headers and then drip the body. A connection the server answers or closes is
    opened again at once, as a real attacker would."""

    def __init__(self, port: int, headers: int, bodies: int, interval: float = 1.0) -> None:
        self.port = port
        self.interval = interval
        self.kinds = ["header"] * headers + ["body"] * bodies
        self.opened = 0
        self.cut_off = 0  # connections the server answered or closed
        self._slots: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._drip, daemon=True)

    def _open(self, kind: str) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        if kind == "header":
            start = "POST /hooks/okta HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a"
        else:
            start = (
                f"POST /hooks/okta HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: {HOOK_SECRET}\r\nContent-Type: application/json\r\n"
                "Content-Length: 8192\r\n\r\n{"
            )  # with the secret: the worst case, the app reads the whole body
        sock.sendall(start.encode())
        self.opened += 1
        return sock

    def __enter__(self) -> SlowClients:
        self._slots = [self._open(kind) for kind in self.kinds]
        self._thread.start()
        return self

    def _drip(self) -> None:
        while not self._stop.wait(self.interval):
            for i, kind in enumerate(self.kinds):
                if self._stop.is_set():
                    return
                sock = self._slots[i]
                try:
                    readable, _, _ = select.select([sock], [], [], 0)
                    if readable:  # an answer (408, 400...) or a close: cut off
                        raise ConnectionError
                    sock.sendall(b"a" if kind == "header" else b" ")
                except (OSError, ValueError):  # ValueError: a slot whose reopening failed
                    self.cut_off += 1
                    sock.close()
                    # If this fails the closed socket stays; the next round retries.
                    with contextlib.suppress(OSError):
                        self._slots[i] = self._open(kind)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for sock in self._slots:
            sock.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def timed_hooks(base: str, n: int, concurrency: int, timeout: float) -> list[tuple[int, float]]:
    """n genuine deliveries over `concurrency` keep-alive connections: (status, ms) each,
    status 0 for a timeout or a refused connection."""
    bodies = [hook_body() for _ in range(n)]
    results: list[tuple[int, float]] = []
    lock = threading.Lock()

    def client() -> None:
        connection = None
        while True:
            with lock:
                if not bodies:
                    break
                body = bodies.pop()
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port_of(base), timeout=timeout)
            started = time.perf_counter()
            try:
                connection.request("POST", "/hooks/okta", body=body, headers=HOOK_HEADERS)
                response = connection.getresponse()
                response.read()
                status = response.status
            except OSError:
                status = 0
                connection.close()
                connection = None
            with lock:
                results.append((status, (time.perf_counter() - started) * 1000))
        if connection is not None:
            connection.close()

    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    return results


def healthz_ms(base: str, timeout: float) -> tuple[int, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port_of(base), timeout=timeout)
    started = time.perf_counter()
    try:
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    except OSError:
        return 0, (time.perf_counter() - started) * 1000
    finally:
        connection.close()


@pytest.mark.slow
def test_slow_clients_cannot_starve_the_hook_behind_caddy(tmp_path, fake_okta, fake_slack):
    caddy_binary()  # skip before starting anything when Caddy is missing
    with (
        serve(fake_okta, fake_slack, workdir=tmp_path) as served,
        caddy(served.base.removeprefix("http://"), tmp_path) as proxy,
    ):
        # The contract's answers hold through the proxy.
        assert post(proxy, hook_body(), HOOK_HEADERS) == 204
        assert post(proxy, [hook_body()], HOOK_HEADERS) == 204  # chunked
        assert post(proxy, hook_body(), {**HOOK_HEADERS, "Authorization": "wrong"}) == 401
        two_mib = b"{" + b" " * (2 * 1024 * 1024) + b"}"
        assert oversize_status(proxy, two_mib, send_body=False) == 413  # before the body
        assert oversize_status(proxy, two_mib) == 413
        assert oversize_status(proxy, two_mib, chunked=True) == 413
        just_fits = b"{" + b" " * (1024 * 1024 - 2) + b"}"  # 1 MiB: reaches the app
        assert post(proxy, just_fits, HOOK_HEADERS) == 400  # JSON, but not an envelope

        # Through Caddy: 100 slow clients, and the hook stays fast.
        with SlowClients(port_of(proxy), SLOW_HEADERS, SLOW_BODIES) as attack:
            time.sleep(1.5)  # every slow client connected and dripping
            results = timed_hooks(proxy, HOOKS, CONCURRENCY, timeout=5)
            health = [healthz_ms(proxy, timeout=5) for _ in range(10)]
            attackers = attack.opened
        statuses = [status for status, _ in results]
        latencies = [ms for _, ms in results]
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        print(
            f"\nthrough caddy, {SLOW_HEADERS}+{SLOW_BODIES} slow clients ({attackers} opened): "
            f"{HOOKS} hooks p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms; "
            f"/healthz max {max(ms for _, ms in health):.1f} ms"
        )
        assert statuses == [204] * HOOKS
        assert p99 < 100, f"hook p99 {p99:.1f} ms through Caddy under slow clients"
        assert [status for status, _ in health] == [200] * len(health)

        # Straight at gunicorn, the same attack starves it: that is why Caddy is there.
        # Bounded: 16 hooks (one per gunicorn thread) with a 2 s client timeout.
        with SlowClients(port_of(served.base), SLOW_HEADERS, SLOW_BODIES):
            time.sleep(1.5)
            direct = timed_hooks(served.base, 16, 16, timeout=2)
            direct_health = healthz_ms(served.base, timeout=2)
        answered = [ms for status, ms in direct if status == 204]
        print(
            f"straight at gunicorn: {len(direct) - len(answered)}/{len(direct)} hooks timed "
            f"out after 2 s; /healthz status {direct_health[0] or 'timeout'}"
        )
        assert len(answered) < len(direct) or percentile(answered, 99) > 1000
        assert direct_health[0] != 200
        # Once the slow clients are gone, gunicorn serves again.
        wait_for(lambda: answers_hook(served.base), timeout=20)


def answers_hook(base: str) -> bool:
    try:
        return post(base, hook_body(), HOOK_HEADERS, timeout=2) == 204
    except OSError:
        return False


def recording_upstream(seen: list[dict[str, str]]) -> ThreadingHTTPServer:
    """An upstream on a free loopback port that records the headers Caddy forwards."""

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    return ThreadingHTTPServer(("127.0.0.1", 0), Recorder)


@pytest.mark.slow
def test_caddy_replaces_a_forged_x_forwarded_for(tmp_path):
    """The app will trust X-Forwarded-For only from the proxy, so the proxy must not pass
    on a client's own: Caddy replaces it with the client's address. Behind a load
    balancer (CERTNOTIFY_TRUSTED_PROXIES), the balancer's list is kept and extended."""
    caddy_binary()
    seen: list[dict[str, str]] = []
    upstream = recording_upstream(seen)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    forged = {**HOOK_HEADERS, "X-Forwarded-For": "203.0.113.9"}
    try:
        with caddy(f"127.0.0.1:{upstream.server_port}", tmp_path / "direct") as proxy:
            assert post(proxy, hook_body(), forged) == 204
        behind_balancer = {"CERTNOTIFY_TRUSTED_PROXIES": "127.0.0.1/32"}
        with caddy(
            f"127.0.0.1:{upstream.server_port}", tmp_path / "lb", **behind_balancer
        ) as proxy:
            assert post(proxy, hook_body(), forged) == 204
    finally:
        upstream.shutdown()
        upstream.server_close()
    direct, balanced = seen
    assert direct["x-forwarded-for"] == "127.0.0.1"
    assert direct["x-forwarded-proto"] == "http"  # https in production
    assert direct["authorization"] == HOOK_SECRET
    assert balanced["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"


def test_docker_compose_puts_caddy_in_front(tmp_path):
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"certnotify", "caddy"} <= set(services)  # plus Litestream: test_litestream_config

    app = services["certnotify"]
    assert app["build"] in (".", {"context": "."})
    assert app["restart"] == "unless-stopped"
    assert app["init"] is True
    # Longer than serve's own 10 s stop, so Docker's SIGKILL never cuts a clean stop short.
    assert _seconds(app["stop_grace_period"]) > 10
    assert "ports" not in app  # gunicorn is never published: only Caddy faces clients
    env = app["environment"]
    env_names = set(env) if isinstance(env, dict) else {item.split("=")[0] for item in env}
    assert {"OKTA_ORG_URL", "OKTA_API_TOKEN", "OKTA_HOOK_SECRET", "SLACK_BOT_TOKEN"} <= env_names
    assert any(str(volume).split(":")[1] == "/data" for volume in app["volumes"])

    proxy = services["caddy"]
    assert re.fullmatch(r"caddy:2(\.\d+)*(-alpine)?", proxy["image"])
    published = {str(port).split(":")[-1].split("/")[0] for port in proxy["ports"]}
    assert {"80", "443"} <= published
    mounts = [str(volume) for volume in proxy["volumes"]]
    assert any(m.startswith("./deploy/Caddyfile:/etc/caddy/Caddyfile") for m in mounts)
    assert any(m.split(":")[1] == "/data" for m in mounts)  # certificates survive restarts
    caddy_env = proxy["environment"]
    assert caddy_env["CERTNOTIFY_UPSTREAM"] == "certnotify:8080"
    assert caddy_env["CERTNOTIFY_CADDY_BUFFERING"] == "current"
    assert "CERTNOTIFY_SITE" in caddy_env
    assert proxy["restart"] == "unless-stopped"

    # Docker's own check too, where the compose plugin is installed (config needs no daemon).
    docker = shutil.which("docker")
    has_compose = docker is not None and (
        subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60).returncode
        == 0
    )
    if has_compose:
        checked = subprocess.run(
            [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
            env={
                **os.environ,
                "CERTNOTIFY_SITE": "certnotify.example.com",
                "LITESTREAM_ACCESS_KEY_ID": "key-id",
                "LITESTREAM_SECRET_ACCESS_KEY": "secret",
            },
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr


def _seconds(duration: str) -> float:
    """A compose duration such as 15s, 1m30s or 1500ms in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    assert parts, f"not a duration: {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)
