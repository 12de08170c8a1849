"""Run the real service as processes against local fakes (tests/test_serve.py and bench/)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.helpers import HOOK_SECRET


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError("condition not met in time")


# Real-clock tests and benchmarks that are not about pacing run unpaced.
UNPACED = (
    "slack:\n  calls_per_minute:\n    chat.postMessage: 0\n"
    "    users.lookupByEmail: 0\n    users.list: 0\n"
)


# ...and without a start-up reminder pass, which would otherwise depend on the time of
# day the tests run (the default pass is due at 09:00 UTC, with 12 hours of catch-up).
NO_CATCH_UP = "reminders:\n  misfire_grace_hours: 0\n"


def service_env(okta, slack, workdir: Path, config: str = "") -> dict[str, str]:
    """The environment of a real deployment, pointed at the fakes."""
    if "slack:" not in config:
        config += "\n" + UNPACED
    if "reminders:" not in config:
        config += "\n" + NO_CATCH_UP
    (workdir / "config.yaml").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OKTA_", "SLACK_"))}
    env.update(
        CERTNOTIFY_CONFIG=str(workdir / "config.yaml"),
        CERTNOTIFY_DB=str(workdir / "certnotify.db"),
        OKTA_ORG_URL=okta.url,
        OKTA_API_TOKEN=okta.api_token,
        OKTA_HOOK_SECRET=HOOK_SECRET,
        SLACK_BOT_TOKEN=slack.token,
        SLACK_API_URL=slack.url,
    )
    return env


@dataclass
class Served:
    base: str
    db: Path
    process: subprocess.Popen


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def serve(
    okta,
    slack,
    *,
    config: str = "",
    args: tuple[str, ...] = (),
    output=subprocess.DEVNULL,
    workdir: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Served]:
    """`certnotify serve` as a real process group on a free port; stopped on exit."""
    workdir = workdir or Path(tempfile.mkdtemp(prefix="certnotify-serve-"))
    env = {**service_env(okta, slack, workdir, config), **(extra_env or {})}
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "--log-level", "WARNING", "serve",
         "--host", "127.0.0.1", "--port", str(port), *args],
        env=env, stdout=output, stderr=subprocess.STDOUT,
    )  # fmt: skip
    served = Served(f"http://127.0.0.1:{port}", workdir / "certnotify.db", process)
    try:
        wait_for(lambda: healthy(served.base) or process.poll() is not None)
        if process.poll() is not None:
            raise RuntimeError(f"serve exited with code {process.returncode}")
        yield served
    finally:
        stop_process(process)


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it is still there after 15 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def post_hook(base: str, body: bytes, secret: str = HOOK_SECRET) -> httpx.Response:
    return httpx.post(
        f"{base}/hooks/okta",
        content=body,
        headers={"Authorization": secret, "Content-Type": "application/json"},
        timeout=10,
    )


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, ...]."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat and stat[1] == str(pid):
                children.append(int(entry.name))
    return children


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie is dead for our purposes


def command_env(
    tmp_path: Path, fake_okta: Any, fake_slack: Any, *, config: str = "", migrate: bool = True
) -> dict[str, str]:
    """A deployment's environment for running ``certnotify`` commands in-process (click's
    CliRunner) against the fakes; its database created by ``certnotify migrate`` unless
    ``migrate=False`` (only serve, worker and migrate create or change it)."""
    from click.testing import CliRunner

    from app.ops.cli import cli

    path = tmp_path / "config.yaml"
    path.write_text("messages:\n  org_name: Acme\n" + config + UNPACED)
    environ = {
        "CERTNOTIFY_CONFIG": str(path),
        "CERTNOTIFY_DB": str(tmp_path / "certnotify.db"),
        "OKTA_ORG_URL": fake_okta.url,
        "OKTA_API_TOKEN": fake_okta.api_token,
        "OKTA_HOOK_SECRET": HOOK_SECRET,
        "SLACK_BOT_TOKEN": fake_slack.token,
        "SLACK_API_URL": fake_slack.url,
    }
    if migrate:
        assert CliRunner().invoke(cli, ["migrate"], env=environ).exit_code == 0
    return environ
