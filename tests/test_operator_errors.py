"""Operator mistakes end as one line naming what is wrong and what to do: a non-zero exit
code and no traceback (a traceback only with ``--log-level DEBUG``). Run as a newcomer
would: the real ``certnotify`` command in a subprocess."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import UNPACED
from tests.helpers import HOOK_SECRET


@pytest.fixture
def env(tmp_path, fake_okta, fake_slack) -> dict[str, str]:
    config = tmp_path / "config.yaml"
    config.write_text(
        "okta:\n  max_retries: 0\n" + UNPACED.replace("slack:\n", "slack:\n  max_retries: 0\n")
    )
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CERTNOTIFY_CONFIG": str(config),
        "CERTNOTIFY_DB": str(tmp_path / "data" / "certnotify.db"),
        "OKTA_ORG_URL": fake_okta.url,
        "OKTA_API_TOKEN": fake_okta.api_token,
        "OKTA_HOOK_SECRET": HOOK_SECRET,
        "SLACK_BOT_TOKEN": fake_slack.token,
        "SLACK_API_URL": fake_slack.url,
    }


@pytest.fixture
def ready(env) -> dict[str, str]:
    """The environment with its database created (`certnotify migrate`): only serve,
    worker and migrate create one."""
    assert certnotify(env, "migrate").returncode == 0
    return env


def certnotify(env: dict[str, str], *args: str, timeout: float = 60):
    return subprocess.run(
        [sys.executable, "-m", "app", *args], env=env, capture_output=True, text=True,
        timeout=timeout,
    )  # fmt: skip


def one_line_error(result) -> str:
    """The one ``Error:`` line (log lines the command printed before it may precede it)."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error: ")]
    assert errors == lines[-1:], result.stderr
    return errors[0]


def test_a_database_path_inside_a_file_is_one_line(env, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    env["CERTNOTIFY_DB"] = str(tmp_path / "afile" / "certnotify.db")
    line = one_line_error(certnotify(env, "migrate"))
    assert f"{tmp_path / 'afile'} is a file, not a folder" in line
    assert "CERTNOTIFY_DB" in line


def test_a_database_path_that_is_a_folder_is_one_line(env, tmp_path):
    env["CERTNOTIFY_DB"] = str(tmp_path)
    line = one_line_error(certnotify(env, "sync", "iciSome0000000000000"))
    assert "it is a folder, not a file" in line


def test_a_file_that_is_no_database_is_one_line(env, tmp_path):
    (tmp_path / "notes.txt").write_text("hello " * 1000)
    env["CERTNOTIFY_DB"] = str(tmp_path / "notes.txt")
    line = one_line_error(certnotify(env, "migrate"))
    assert "is not an SQLite database" in line


def test_an_unwritable_database_folder_is_one_line(env, tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    mount = shutil.which("mount")
    # As root every folder is writable: a read-only tmpfs is not.
    done = subprocess.run(
        [mount or "mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(folder)],
        capture_output=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a read-only tmpfs needs root: {done.stderr!r}")
    try:
        env["CERTNOTIFY_DB"] = str(folder / "sub" / "certnotify.db")
        line = one_line_error(certnotify(env, "migrate"))
        assert "cannot use" in line
        assert "CERTNOTIFY_DB" in line
    finally:
        subprocess.run([shutil.which("umount") or "umount", "-l", str(folder)], check=False)


def test_a_port_in_use_is_one_line(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = certnotify(env, "serve", "--host", "127.0.0.1", "--port", str(port))
    line = one_line_error(result)
    assert f"127.0.0.1:{port} is already in use" in line
    assert "--port" in line


def test_an_org_host_that_does_not_resolve_is_named(ready):
    ready["OKTA_ORG_URL"] = "https://acme.invalid"
    line = one_line_error(certnotify(ready, "sync", "iciSome0000000000000"))
    assert "acme.invalid" in line
    assert "does not resolve" in line
    assert "OKTA_ORG_URL" in line


def test_a_wrong_slack_api_url_is_named(ready, fake_okta):
    ready["SLACK_API_URL"] = fake_okta.url + "/api/"  # a server, but not Slack
    line = one_line_error(certnotify(ready, "test-message", "ana@example.com"))
    assert "check SLACK_API_URL" in line


def test_an_unreachable_slack_api_url_is_named(ready):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    ready["SLACK_API_URL"] = f"http://127.0.0.1:{port}/api/"
    line = one_line_error(certnotify(ready, "test-message", "ana@example.com"))
    assert f"cannot reach slack at http://127.0.0.1:{port}/api/" in line


@pytest.mark.parametrize(
    "args", [("--log-level", "verbose", "status"), ("status", "--log-level", "verbose")]
)
def test_an_unknown_log_level_is_one_line(env, args):
    line = one_line_error(certnotify(env, *args))
    assert "--log-level" in line
    assert "verbose" in line


def test_config_and_log_level_work_after_the_command(env, tmp_path):
    other = tmp_path / "other.yaml"
    other.write_text("database:\n  path: /nonexistent/by/other.yaml\n")
    env.pop("CERTNOTIFY_DB")
    result = certnotify(env, "status", "--config", str(other), "--log-level", "debug")
    line = one_line_error(result)
    assert "no database at /nonexistent/by/other.yaml" in line


def test_status_on_a_mistyped_path_creates_nothing(env, tmp_path):
    env["CERTNOTIFY_DB"] = str(tmp_path / "typo" / "certnotfy.db")
    line = one_line_error(certnotify(env, "status"))
    assert "no database at" in line
    assert not (tmp_path / "typo").exists()


def test_a_time_of_day_written_without_quotes_is_understood(env, tmp_path):
    Path(env["CERTNOTIFY_CONFIG"]).write_text("reminders:\n  run_at: 9:30\n" + UNPACED)
    assert certnotify(env, "migrate").returncode == 0
    result = certnotify(env, "remind", "--dry-run")
    assert result.returncode == 0, result.stderr


def test_a_secret_with_a_trailing_newline_works(ready, fake_okta, fake_slack):
    ready["OKTA_API_TOKEN"] = fake_okta.api_token + "\n"
    ready["SLACK_BOT_TOKEN"] = fake_slack.token + "\r\n"
    fake_slack.generate_users(["ana@example.com"])
    result = certnotify(ready, "test-message", "ana@example.com")
    assert result.returncode == 0, result.stderr


def test_a_secret_with_a_line_break_inside_is_refused_in_one_line(env):
    env["OKTA_API_TOKEN"] = "first-half\nsecond-half"
    line = one_line_error(certnotify(env, "sync", "iciSome0000000000000"))
    assert line.startswith("Error: okta.api_token: contains a space or line break")
    assert "OKTA_API_TOKEN" in line
    assert "first-half" not in line


def test_an_unexpected_failure_is_one_line_and_debug_shows_the_traceback(env):
    import sqlite3

    assert certnotify(env, "migrate").returncode == 0
    with sqlite3.connect(env["CERTNOTIFY_DB"]) as db:  # a damaged database: a table gone
        db.execute("DROP TABLE campaigns")
    line = one_line_error(certnotify(env, "status"))
    assert "no such table: campaigns" in line
    assert "--log-level DEBUG" in line
    loud = certnotify(env, "status", "--log-level", "DEBUG")
    assert "Traceback" in loud.stderr
