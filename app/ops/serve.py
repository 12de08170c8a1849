"""``certnotify serve``: gunicorn for the web app plus exactly one worker process.

Both children stay in our process group and die with us, even on kill -9
(app.ops.lifeline). SIGTERM or SIGINT is passed on to them, and anything still alive
after 10 s is killed. A child that exits by itself is started again after a
growing pause (1 s, doubling to 30 s; back to 1 s once it has run for a minute),
and the other keeps running: hooks are still stored while the worker restarts,
and ``/healthz`` says the worker is silent meanwhile.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping

from app.config import Settings, SettingsError
from app.logs import LEVEL_ENV
from app.ops.lifeline import ENV

__all__ = ["Supervisor", "gunicorn_command", "worker_command"]

log = logging.getLogger(__name__)

STOP_TIMEOUT = 10.0
RESTART_FIRST = 1.0
RESTART_MAX = 30.0
# A child that ran this long before exiting is restarted after the first pause again.
RESTART_RESET_AFTER = 60.0
# No %(u)s: gunicorn would decode a Basic Authorization header (a hook secret) into it.
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def gunicorn_command(
    host: str,
    port: int,
    workers: int,
    threads: int = 4,
    *,
    access_log: bool = True,
    log_level: str = "INFO",
) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "app.ops.webserver",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        # Threads (server.web_threads, 16 by default): a hook request holds one only
        # while it waits for its group commit, so many threads in one process (one
        # writer batching them all) keep latency flat under a burst (README, Performance).
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
        # certnotify's formatter (time, level, redaction, text or JSON) on gunicorn's logs.
        "--logger-class",
        "app.logs.GunicornLogger",
        "--log-level",
        log_level.lower(),
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


def worker_command(config_path: str | None, log_level: str = "INFO") -> list[str]:
    command = [sys.executable, "-m", "app", "--log-level", log_level]
    if config_path:
        command += ["--config", config_path]
    return [*command, "worker"]


def check_listen(host: str, port: int) -> None:
    """Fail in one line, before gunicorn prints a dozen, when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise SettingsError(
                    f"server.port: {host}:{port} is already in use (another certnotify serve?"
                    " choose another with --port or server.port)"
                ) from None
            raise SettingsError(
                f"server.host: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None


class Supervisor:
    def __init__(self, commands: Mapping[str, list[str]], env: Mapping[str, str]) -> None:
        self.commands = dict(commands)
        self.env = {**env, ENV: str(os.getpid())}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.signals: list[int] = []
        self.restarts: dict[str, int] = {}
        self._started_at: dict[str, float] = {}
        self._pause: dict[str, float] = {}
        self._restart_at: dict[str, float] = {}
        self._stopping = False

    def _spawn(self, name: str) -> None:
        self.children[name] = subprocess.Popen(self.commands[name], env=self.env)
        self._started_at[name] = time.monotonic()
        log.info("started %s (pid %d)", name, self.children[name].pid)

    def start(self) -> None:
        for name in self.commands:
            self._spawn(name)

    def stop(self, *_: object) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._restart_at.clear()
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

    def _child_exited(self, name: str, code: int) -> None:
        now = time.monotonic()
        ran = now - self._started_at.get(name, now)
        pause = self._pause.get(name, 0.0)
        pause = RESTART_FIRST if ran >= RESTART_RESET_AFTER or not pause else pause * 2
        pause = min(pause, RESTART_MAX)
        self._pause[name] = pause
        self._restart_at[name] = now + pause
        log.error("%s exited with code %d after %.0f s; restarting it in %.0f s",
                  name, code, ran, pause)  # fmt: skip

    def wait(self) -> int:
        """Supervise until a signal arrives; then stop everything and return 0."""
        while True:
            if self.signalled:
                self.stop()
                return 0
            now = time.monotonic()
            for name, child in self.children.items():
                if name in self._restart_at:
                    if now >= self._restart_at[name]:
                        del self._restart_at[name]
                        self.restarts[name] = self.restarts.get(name, 0) + 1
                        self._spawn(name)
                    continue
                code = child.poll()
                if code is not None:
                    self._child_exited(name, code)
            time.sleep(0.2)


def child_env(
    config_path: str | None,
    extra: Mapping[str, str] | None = None,
    *,
    log_level: str = "INFO",
    metrics_dir: str | None = None,
) -> dict[str, str]:
    """The children's environment: the settings file, the log level, and the folder
    where every process keeps its Prometheus counters (``/metrics`` adds them up)."""
    env = dict(os.environ)
    if config_path:
        env["CERTNOTIFY_CONFIG"] = os.path.abspath(config_path)
    env[LEVEL_ENV] = log_level
    if metrics_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    env.update(extra or {})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_serve(
    settings: Settings,
    *,
    host: str | None,
    port: int | None,
    with_worker: bool,
    config_path: str | None,
    log_level: str,
) -> int:
    """``certnotify serve``: check what can be checked in one line, create or migrate the
    database, then supervise gunicorn and the worker until a signal."""
    from app.db import Store
    from app.db.backup import BackupError
    from app.services import okta_auth

    if with_worker:
        okta_auth(settings)  # a private key Okta would refuse: one line now, not a restart loop
    host, port = host or settings.server.host, port or settings.server.port
    check_listen(host, port)
    # Migrate once here, before several gunicorn processes open the file (an existing
    # database is backed up beside itself first; a failed backup stops the start).
    store = Store.open(settings.database.path, settings.database.busy_timeout_seconds)
    try:
        saved = store.migrate()
    except BackupError as exc:
        raise SettingsError(
            f"database.path: not migrated, the backup first failed: {exc}"
        ) from None
    finally:
        store.close()
    if saved is not None:
        log.info("database migrated; the backup taken first is %s", saved)
    commands = {
        "web": gunicorn_command(
            host,
            port,
            settings.server.web_workers,
            settings.server.web_threads,
            log_level=log_level,
        )
    }
    if with_worker:
        commands["worker"] = worker_command(config_path, log_level)
    with tempfile.TemporaryDirectory(prefix="certnotify-metrics-") as metrics_dir:
        env = child_env(config_path, log_level=log_level, metrics_dir=metrics_dir)
        supervisor = Supervisor(commands, env)
        supervisor.install_signal_handlers()
        supervisor.start()
        return supervisor.wait()
