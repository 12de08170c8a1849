"""``certnotify`` commands. Each is thin: load settings, build services, call one function."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click

from app.config import Settings, SettingsError, load_settings
from app.logging_setup import configure_logging
from app.models import is_okta_id

__all__ = ["main"]

log = logging.getLogger("certnotify")


class Context:
    def __init__(self, config_path: str | None, log_level: str) -> None:
        self.config_path = config_path
        self.log_level = log_level

    def settings(self, *needs: str) -> Settings:
        try:
            settings = load_settings(self.config_path).require(*needs)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        configure_logging(settings.secrets(), self.log_level)
        return settings

    def services(self, *needs: str):
        from app.services import Services

        settings = self.settings(*needs)
        try:
            # Building loads the Okta private key, which can still be wrong.
            return Services.build(settings)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


def _exit_on_error(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Known failures end as one line and exit code 1, not a traceback."""
    from functools import wraps

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from app.okta import OktaError
        from app.slack import SlackError

        try:
            return fn(*args, **kwargs)
        except (OktaError, SlackError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="CERTNOTIFY_CONFIG",
    type=click.Path(dir_okay=False),
    help="Settings file (default: $CERTNOTIFY_CONFIG, else ./config.yaml).",
)
@click.option("--log-level", default="INFO", show_default=True, help="DEBUG, INFO, WARNING...")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str) -> None:
    """certnotify: Okta access-certification campaigns, told to reviewers in Slack."""
    ctx.obj = Context(config_path, log_level)


@cli.command()
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", type=int, default=None, help="Listen port (default: server.port).")
@click.option("--no-worker", is_flag=True, help="Run only the web app (a worker runs elsewhere).")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, no_worker: bool) -> None:
    """Serve the hook endpoint (gunicorn) plus one background worker."""
    from app.store import Store
    from app.supervisor import Supervisor, child_env, gunicorn_command, worker_command

    settings = obj.settings("hook") if no_worker else obj.settings("hook", "okta", "slack")
    # Migrate once here, before several gunicorn processes open the file.
    Store.open(settings.database.path).migrate()
    commands = {
        "web": gunicorn_command(
            host or settings.server.host,
            port or settings.server.port,
            settings.server.web_workers,
            settings.server.web_threads,
        )
    }
    if not no_worker:
        commands["worker"] = worker_command(obj.config_path)
    supervisor = Supervisor(commands, child_env(obj.config_path))
    supervisor.install_signal_handlers()
    supervisor.start()
    sys.exit(supervisor.wait())


@cli.command()
@click.pass_obj
def worker(obj: Context) -> None:
    """Process hook events, send messages, run the daily reminders. One per deployment."""
    import faulthandler

    from app.services import Services
    from app.worker import AnotherWorkerRunning, Worker

    services = obj.services("okta", "slack")
    # `kill -USR1 <pid>` prints every thread's stack: how to see what a stuck worker does.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # The handler only records the signal (no locks: a second signal arriving inside
    # Event.set() would deadlock); the worker's loop turns it into a stop.
    signals: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: signals.append(signum))
    worker = Worker(services, services_factory=lambda: Services.build(services.settings))
    try:
        worker.run(threading.Event(), stop_requested=lambda: bool(signals))
    except AnotherWorkerRunning as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        services.close()


@cli.command()
@click.option(
    "--date",
    "for_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as if today were DATE (YYYY-MM-DD) in each campaign's time zone.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be sent; record nothing.")
@click.pass_obj
@_exit_on_error
def remind(obj: Context, for_date, dry_run: bool) -> None:
    """One reminder pass now (the daily job runs the same code)."""
    from app.reminders import run_reminder_pass

    services = obj.services("okta", "slack")
    try:
        result = run_reminder_pass(
            services, today=for_date.date() if for_date else None, dry_run=dry_run
        )
    finally:
        services.close()
    click.echo(result.line(dry_run))
    for campaign_id in result.retired:
        click.echo(f"  retired: {campaign_id}")
    for error in result.errors:
        click.echo(f"  error: {error}")
    if result.auth_error:
        raise click.ClickException(result.auth_error)


@cli.command()
@click.argument("campaign_id")
@click.pass_obj
@_exit_on_error
def sync(obj: Context, campaign_id: str) -> None:
    """Fetch a campaign and notify its reviewers as if its launch event had arrived."""
    from app.launch import RetryLater, launch_campaign

    if not is_okta_id(campaign_id):
        raise click.BadParameter("must be letters and digits only", param_hint="CAMPAIGN_ID")
    services = obj.services("okta", "slack")
    try:
        try:
            summary = launch_campaign(services, campaign_id)
        except RetryLater as exc:
            raise click.ClickException(
                f"campaign {campaign_id}: {exc}; try again in a minute"
            ) from None
        click.echo(summary.line())
        result = services.outbox.settle(summary.scopes, sleep=services.sleep)
        click.echo(
            f"sent={result.sent} unmapped={len(summary.unmapped)} failed={result.failed}"
            + (f" slack_error={result.auth_error}" if result.auth_error else "")
        )
        for entry in summary.unmapped:
            click.echo(f"  not in Slack: {entry}")
        if result.auth_error:
            sys.exit(1)
    finally:
        services.close()


@cli.command("test-message")
@click.argument("target")
@click.pass_obj
@_exit_on_error
def test_message_cmd(obj: Context, target: str) -> None:
    """Send a test DM. TARGET: an email, a Slack user id (U…) or #channel."""
    import getpass
    import re

    from app.messages import test_message

    services = obj.services("slack")
    try:
        channel = target
        if "@" in target and not target.startswith("#"):
            resolution = services.directory.resolve([target])[target.strip().lower()]
            if not resolution.user_id:
                raise click.ClickException(f"{target}: {resolution.reason}")
            channel = resolution.user_id
        elif not re.fullmatch(r"[UWCGD][A-Z0-9]{2,20}|#[a-z0-9_-]{1,80}", target):
            raise click.BadParameter(
                "use an email, a Slack user id (U…) or #channel", param_hint="TARGET"
            )
        now = services.clock()
        message = test_message(f"{getpass.getuser()}", now)
        posted = services.slack.post(channel, message.text, message.blocks)
        click.echo(f"sent to {target} (channel {posted.channel}, ts {posted.ts})")
    finally:
        services.close()


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Counts: campaigns, inbox, deliveries, last reminder run, worker heartbeat."""
    from app.status import collect_status, format_status
    from app.store import Store

    settings = obj.settings()
    store = Store.open(settings.database.path, settings.database.busy_timeout_seconds)
    try:
        store.migrate()
        from app.timeutil import system_clock

        report = collect_status(store, system_clock())
    finally:
        store.close()
    click.echo(json.dumps(report, indent=2) if as_json else format_status(report))


@cli.command()
@click.option("--port", type=int, default=8080, show_default=True, help="Port for the demo server.")
def demo(port: int) -> None:
    """Walk-through with no credentials: a simulated Okta org and a dry-run Slack sender."""
    from app.demo import run_demo

    sys.exit(run_demo(port))


def main() -> None:
    cli(prog_name="certnotify")
