"""``certnotify serve``: gunicorn for the web app plus exactly one worker process.

Both children stay in our process group. SIGTERM or SIGINT is passed on to
them, and anything still alive after 10 s is killed. If either child exits
by itself, the other is stopped too and serve exits non-zero, so a container
orchestrator restarts the whole unit instead of running half of it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping

__all__ = ["Supervisor", "gunicorn_command", "worker_command"]

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
# No %(u)s: gunicorn would decode a Basic Authorization header (a hook secret) into it.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def gunicorn_command(
    host: str, port: int, workers: int, threads: int = 4, *, access_log: bool = True
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        # Threads: an ack is one small insert, so a few threads per process keep
        # latency flat under a burst of deliveries.
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "30",
        "--graceful-timeout",
        str(int(STOP_TIMEOUT) - 2),
        "--error-logfile",
        "-",
    ]
    if access_log:
        command += ["--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT]
    if _gunicorn_has_setting("control_socket_disable"):
        # Newer gunicorn opens a control socket in $HOME; we never use it, and two
        # instances on one machine (tests, demo beside a real service) would share it.
        command.append("--no-control-socket")
    return [*command, "app.web:wsgi_app()"]


def _gunicorn_has_setting(name: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(setting.name == name for setting in KNOWN_SETTINGS)


def worker_command(config_path: str | None) -> list[str]:
    command = [sys.executable, "-m", "app"]
    if config_path:
        command += ["--config", config_path]
    return [*command, "worker"]


class Supervisor:
    def __init__(self, commands: Mapping[str, list[str]], env: Mapping[str, str]) -> None:
        self.commands = dict(commands)
        self.env = dict(env)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.signals: list[int] = []
        self._stopping = False

    def start(self) -> None:
        for name, command in self.commands.items():
            self.children[name] = subprocess.Popen(command, env=self.env)
            log.info("started %s (pid %d)", name, self.children[name].pid)

    def stop(self, *_: object) -> None:
        if self._stopping:
            return
        self._stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", name, STOP_TIMEOUT)
                child.kill()
                child.wait()

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT only record the request; the main loop does the stopping.

        A handler that stopped children itself (waiting, taking locks) could be
        re-entered by the next signal (Ctrl-C reaches the whole process group, then
        an orchestrator's SIGTERM follows) and exit half-way, orphaning a child."""
        signal.signal(signal.SIGTERM, self._record_signal)
        signal.signal(signal.SIGINT, self._record_signal)

    def _record_signal(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)  # list.append takes no lock a signal could interrupt

    @property
    def signalled(self) -> bool:
        return bool(self.signals)

    def wait(self) -> int:
        """Block until a signal or a child's exit; then stop the rest, return an exit code."""
        while True:
            if self.signalled:
                self.stop()
                return 0
            for name, child in self.children.items():
                code = child.poll()
                if code is not None:
                    log.error("%s exited with code %d; stopping", name, code)
                    self.stop()
                    return code or 1
            time.sleep(0.2)


def child_env(config_path: str | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    if config_path:
        env["CERTNOTIFY_CONFIG"] = os.path.abspath(config_path)
    env.update(extra or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env
