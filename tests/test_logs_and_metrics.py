"""What an on-call reads: logs from every process in one format with secrets redacted,
the client's address only from a trusted proxy, and metrics to alert on."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from app.intake.forwarded import ForwardedFor
from app.logs import EVENT_ID, JsonFormatter
from tests.harness import post_hook, serve, wait_for
from tests.helpers import HOOK_SECRET, sample
from tests.helpers import post_hook as post_to_app


def lines_of(path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_every_process_logs_json_lines_with_secrets_redacted(tmp_path, fake_okta, fake_slack):
    log = (tmp_path / "serve.log").open("wb")
    config = "logging:\n  format: json\nworker:\n  poll_seconds: 0.2\n"
    with serve(fake_okta, fake_slack, config=config, workdir=tmp_path, output=log,
               args=("--log-level", "DEBUG")) as served:  # fmt: skip
        assert post_hook(served.base, b'{"not": "an envelope"}').status_code == 400
        assert post_hook(served.base, b"{}", secret="wrong-" + HOOK_SECRET).status_code == 401
        httpx.get(f"{served.base}/healthz", timeout=5)
        # The worker process starts beside gunicorn: on a busy machine its first line can
        # come after the web side's (wait for it rather than race it).
        wait_for(lambda: b'"app.pipeline.worker"' in (tmp_path / "serve.log").read_bytes())
    entries = [json.loads(line) for line in lines_of(tmp_path / "serve.log")]
    loggers = {e["logger"] for e in entries}
    # gunicorn's arbiter and access log, the web app, the worker, serve itself.
    assert {
        "gunicorn.error",
        "gunicorn.access",
        "app.intake.endpoint",
        "app.pipeline.worker",
    } <= loggers
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    # --log-level DEBUG reached the worker process.
    assert any(e["level"] == "DEBUG" and e["logger"].startswith("app.") for e in entries)
    text = (tmp_path / "serve.log").read_text()
    for secret in (HOOK_SECRET, fake_okta.api_token, fake_slack.token):
        assert secret not in text


@pytest.mark.slow
def test_text_logs_of_gunicorn_have_time_level_and_logger(tmp_path, fake_okta, fake_slack):
    log = (tmp_path / "serve.log").open("wb")
    with serve(fake_okta, fake_slack, workdir=tmp_path, output=log,
               args=("--log-level", "INFO")) as served:  # fmt: skip
        httpx.get(f"{served.base}/healthz", timeout=5)
    stamped = re.compile(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR|DEBUG) [\w.]+: "
    )
    lines = lines_of(tmp_path / "serve.log")
    gunicorn = [line for line in lines if " gunicorn." in line]
    assert any("gunicorn.access: " in line and "GET /healthz" in line for line in gunicorn)
    assert any("Listening at" in line for line in gunicorn)
    assert all(stamped.match(line) for line in lines), [
        line for line in lines if not stamped.match(line)
    ]


def test_json_lines_carry_the_event_being_handled():
    formatter = JsonFormatter(["s3cr3t-token"])
    record = logging.LogRecord(
        "app.x", logging.INFO, __file__, 1, "token %s", ("s3cr3t-token",), None
    )
    token = EVENT_ID.set("7cb44bdb-bc46")
    try:
        entry = json.loads(formatter.format(record))
    finally:
        EVENT_ID.reset(token)
    assert entry["event_id"] == "7cb44bdb-bc46"
    assert entry["message"] == "token [redacted]"
    assert entry["level"] == "INFO"


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("127.0.0.1", "203.0.113.7", "203.0.113.7"),  # the local proxy says who it was
        ("127.0.0.1", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the rightmost hop
        ("127.0.0.1", "203.0.113.7, 10.0.0.5", "203.0.113.7"),  # a trusted hop is skipped
        ("198.51.100.9", "203.0.113.7", "198.51.100.9"),  # anyone else: not believed
        ("127.0.0.1", "", "127.0.0.1"),
        ("127.0.0.1", "not-an-address", "127.0.0.1"),
        ("::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_the_client_address_comes_from_x_forwarded_for_only_through_a_trusted_proxy(
    peer, forwarded, client
):
    middleware = ForwardedFor(lambda environ, start: None, ["127.0.0.1", "::1", "10.0.0.0/8"])
    assert middleware.client(peer, forwarded) == client


def test_the_app_logs_the_forwarded_client_for_a_refused_hook(client, caplog):
    with caplog.at_level(logging.WARNING, logger="app.web"):
        client.post(
            "/hooks/okta", data="{}", environ_base={"REMOTE_ADDR": "127.0.0.1"},
            headers={"Authorization": "wrong", "X-Forwarded-For": "203.0.113.7"},
        )  # fmt: skip
        client.post(
            "/hooks/okta", data="{}", environ_base={"REMOTE_ADDR": "198.51.100.9"},
            headers={"Authorization": "wrong", "X-Forwarded-For": "203.0.113.7"},
        )  # fmt: skip
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].endswith("from 203.0.113.7")
    assert messages[1].endswith("from 198.51.100.9")


# -- metrics ------------------------------------------------------------------------
def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name} {labels} not in metrics"
    return float(match[1])


def test_metrics_for_alerting_are_typed_and_present_at_zero(client, services, clock):
    text = client.get("/metrics").get_data(as_text=True)
    assert "# TYPE certnotify_hook_events_total counter" in text
    assert "# TYPE certnotify_hook_refusals_total counter" in text
    assert "# TYPE certnotify_inbox_events gauge" in text
    for status in ("pending", "processing", "done", "ignored", "failed"):
        assert metric(text, "certnotify_inbox_events", status=status) == 0
    for status in ("pending", "sending", "sent", "failed", "unmapped", "skipped"):
        assert metric(text, "certnotify_messages", status=status) == 0
    for code in ("400", "401", "413", "503"):
        assert metric(text, "certnotify_hook_refusals_total", code=code) == 0
    for kind in ("slack_credentials", "okta_credentials", "slack_unavailable", "okta_unavailable"):
        assert metric(text, "certnotify_problem", kind=kind) == 0
    assert metric(text, "certnotify_last_reminder_pass_success_timestamp_seconds") == 0
    assert metric(text, "certnotify_inbox_oldest_pending_age_seconds") == 0
    assert metric(text, "certnotify_worker_heartbeat_age_seconds") == float("inf")
    assert metric(text, "certnotify_last_retention_purge_timestamp_seconds") == 0
    assert metric(text, "certnotify_database_bytes", file="database") > 0


def test_metrics_show_the_database_size_and_the_last_purge(client, services, clock):
    services.store.retention.purge(clock(), 30, 400)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "certnotify_last_retention_purge_timestamp_seconds") == clock.epoch()
    wal = Path(services.store.path + "-wal")
    assert metric(text, "certnotify_database_bytes", file="wal") == wal.stat().st_size > 0


def test_metrics_count_refusals_by_answer_and_show_problems(client, services, clock):
    from app.pipeline.reminder_pass import run_reminder_pass

    client.post("/hooks/okta", data="{}", headers={"Authorization": "wrong"})
    client.post("/hooks/okta", data="{}", headers={"Authorization": "wrong"})
    client.post("/hooks/okta", data="not json", headers={"Authorization": HOOK_SECRET})
    client.post(
        "/hooks/okta", data=b"x" * (1024 * 1024 + 1), headers={"Authorization": HOOK_SECRET}
    )
    assert post_to_app(client, sample("event-launch.json")).status_code == 204
    services.store.state.set("slack_auth_error", {"message": "SLACK_BOT_TOKEN rejected"}, clock())
    clock.advance(seconds=90)
    run_reminder_pass(services)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "certnotify_hook_refusals_total", code="401") == 2
    assert metric(text, "certnotify_hook_refusals_total", code="400") == 1
    assert metric(text, "certnotify_hook_refusals_total", code="413") == 1
    assert metric(text, "certnotify_hook_events_total", outcome="accepted") == 1
    assert metric(text, "certnotify_inbox_oldest_pending_age_seconds") == 90
    assert metric(text, "certnotify_problem", kind="slack_credentials") == 1
    assert metric(text, "certnotify_last_reminder_pass_success_timestamp_seconds") == clock.epoch()


@pytest.mark.slow
def test_refusals_are_added_up_across_gunicorn_processes(tmp_path, fake_okta, fake_slack):
    config = "server:\n  web_workers: 3\n"
    with serve(fake_okta, fake_slack, config=config, workdir=tmp_path) as served:
        for _ in range(30):  # spread over the three processes by the kernel
            post_hook(served.base, b"{}", secret="wrong-" + HOOK_SECRET)
        texts = [httpx.get(f"{served.base}/metrics", timeout=5).text for _ in range(6)]
    assert {metric(text, "certnotify_hook_refusals_total", code="401") for text in texts} == {30}
