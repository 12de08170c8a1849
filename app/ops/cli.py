"""``certnotify`` commands: parse the arguments, load the settings, and hand the work to
the function the service itself runs (a reminder pass, a launch, a status report...).

Every failure ends as one ``Error:`` line and a non-zero exit code (``main``)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from app.config import Settings, SettingsError, load_settings
from app.logs import LEVELS, configure_logging
from app.models import is_okta_id

if TYPE_CHECKING:
    from app.services import Services

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
        configure_logging(settings.secrets(), self.log_level, settings.logging.format)
        return settings

    def services(self, *needs: str) -> Services:
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
        from app.integrations.okta import OktaError
        from app.integrations.slack import SlackError

        try:
            return fn(*args, **kwargs)
        except (OktaError, SlackError) as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


_LOG_LEVEL = click.Choice(LEVELS, case_sensitive=False)
_CONFIG_HELP = "Settings file (default: $CERTNOTIFY_CONFIG, else ./config.yaml)."
_LEVEL_HELP = "DEBUG, INFO (default), WARNING, ERROR or CRITICAL."


def _after_command(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--config`` / ``--log-level`` given after the command name win over those before."""
    if value is not None:
        name = param.name or ""
        setattr(ctx.ensure_object(Context), name, value.upper() if name == "log_level" else value)


class Commands(click.Group):
    """Every command also takes ``--config`` and ``--log-level`` after its name."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        cmd.params += [
            click.Option(
                ["--config", "config_path"],
                type=click.Path(dir_okay=False),
                expose_value=False,
                callback=_after_command,
                help=_CONFIG_HELP,
            ),
            click.Option(
                ["--log-level"],
                type=_LOG_LEVEL,
                expose_value=False,
                callback=_after_command,
                help=_LEVEL_HELP,
            ),
        ]
        super().add_command(cmd, name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="CERTNOTIFY_CONFIG",
    type=click.Path(dir_okay=False),
    help=_CONFIG_HELP,
)
@click.option("--log-level", default="INFO", type=_LOG_LEVEL, help=_LEVEL_HELP)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str) -> None:
    """certnotify: Okta access-certification campaigns, told to reviewers in Slack."""
    ctx.obj = Context(config_path, log_level.upper())


@cli.command()
@click.option("--host", default=None, help="Listen address (default: server.host).")
@click.option("--port", type=int, default=None, help="Listen port (default: server.port).")
@click.option("--no-worker", is_flag=True, help="Run only the web app (a worker runs elsewhere).")
@click.pass_obj
def serve(obj: Context, host: str | None, port: int | None, no_worker: bool) -> None:
    """Serve the hook endpoint (gunicorn) plus one background worker."""
    from app.ops.serve import run_serve

    settings = obj.settings("hook") if no_worker else obj.settings("hook", "okta", "slack")
    sys.exit(
        run_serve(
            settings,
            host=host,
            port=port,
            with_worker=not no_worker,
            config_path=obj.config_path,
            log_level=obj.log_level,
        )
    )


@cli.command()
@click.pass_obj
def worker(obj: Context) -> None:
    """Process hook events, send messages, run the daily reminders. One per deployment."""
    import faulthandler

    from app.ops.lifeline import die_with_parent, parent_gone
    from app.pipeline.worker import AnotherWorkerRunning, DatabaseReplaced, Worker
    from app.services import Services

    die_with_parent()  # under `serve`: never outlive it
    services = obj.services("okta", "slack")
    # `kill -USR1 <pid>` prints every thread's stack: how to see what a stuck worker does.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # The handler only records the signal (no locks: a second signal arriving inside
    # Event.set() would deadlock); the worker's loop turns it into a stop.
    signals: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, _frame: signals.append(signum))
    worker = Worker(
        services,
        services_factory=lambda: Services.build(
            services.settings, store=None, slack=services.slack
        ),
    )
    try:
        worker.run(threading.Event(), stop_requested=lambda: bool(signals) or parent_gone())
    except AnotherWorkerRunning as exc:
        raise click.ClickException(str(exc)) from None
    except DatabaseReplaced as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(3)
    finally:
        services.close()


def _as_job(obj: Context, kind: str, args: dict[str, Any], *needs: str) -> None:
    """Run a sending command through the live worker, or here when there is none; print
    what it printed and exit with its code, either way."""
    from app.pipeline.commands import JobError, hand_off_or_run
    from app.services import Services, okta_auth

    settings = obj.settings(*needs)
    try:
        if "okta" in needs:
            okta_auth(settings)  # a private key Okta would refuse: say so before anything
        code, output = hand_off_or_run(
            settings.database.path,
            settings.database.busy_timeout_seconds,
            lambda: Services.build(settings),
            kind,
            args,
        )
    except (JobError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    if output.get("out"):
        click.echo(output["out"], nl=False)
    if output.get("err"):
        click.echo(output["err"], nl=False, err=True)
    sys.exit(code)


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
def remind(obj: Context, for_date: datetime | None, dry_run: bool) -> None:
    """One reminder pass now (the daily job runs the same code)."""
    day = for_date.date() if for_date else None
    if not dry_run:
        _as_job(obj, "remind", {"date": day.isoformat() if day else None}, "okta", "slack")
        return
    from app.pipeline.reminder_pass import run_reminder_pass

    # A dry run sends and records nothing, so it needs no turn as the sender.
    services = obj.services("okta", "slack")
    try:
        result = run_reminder_pass(services, today=day, dry_run=True)
    finally:
        services.close()
    click.echo(result.line(dry_run=True))
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
    if not is_okta_id(campaign_id):
        raise click.BadParameter("must be letters and digits only", param_hint="CAMPAIGN_ID")
    _as_job(obj, "sync", {"campaign_id": campaign_id}, "okta", "slack")


@cli.command()
@click.argument("campaign_id")
@click.option("--reviewer", metavar="EMAIL", default="", help="Only this reviewer.")
@click.pass_obj
@_exit_on_error
def nudge(obj: Context, campaign_id: str, reviewer: str) -> None:
    """Remind whoever still has items pending in CAMPAIGN_ID, now (once a day at most)."""
    if not is_okta_id(campaign_id):
        raise click.BadParameter("must be letters and digits only", param_hint="CAMPAIGN_ID")
    args = {"campaign_id": campaign_id, "reviewer": reviewer.strip()}
    _as_job(obj, "nudge", args, "okta", "slack")


@cli.command("test-message")
@click.argument("target")
@click.pass_obj
@_exit_on_error
def test_message_cmd(obj: Context, target: str) -> None:
    """Send a test DM. TARGET: an email, a Slack user id (U…) or #channel."""
    import getpass
    import re

    if not ("@" in target and not target.startswith("#")) and not re.fullmatch(
        r"[UWCGD][A-Z0-9]{2,20}|#[a-z0-9_-]{1,80}", target
    ):
        raise click.BadParameter(
            "use an email, a Slack user id (U…) or #channel", param_hint="TARGET"
        )
    _as_job(obj, "test-message", {"target": target, "who": getpass.getuser()}, "slack")


@cli.command()
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Start of the window (ISO time; UTC unless it carries an offset).",
)
@click.pass_obj
@_exit_on_error
def backfill(obj: Context, since: datetime) -> None:
    """Read certification events from Okta's System Log since SINCE into the inbox."""
    from datetime import UTC

    from app.pipeline.backfill import backfill as read_back

    services = obj.services("okta")
    try:
        start = since if since.tzinfo else since.replace(tzinfo=UTC)
        now = services.clock()
        if start >= now:
            raise click.BadParameter("must be in the past", param_hint="--since")
        result = read_back(services.okta, services.store, start, now)
    finally:
        services.close()
    click.echo(result.line())
    if result.new:
        click.echo("the worker handles the queued events (ledger-keyed: nobody is told twice)")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Counts: campaigns, inbox, messages, last reminder run, worker heartbeat, problems."""
    from app.ops.status import StatusUnavailable, status_report

    try:
        click.echo(status_report(obj.settings(), as_json=as_json))
    except StatusUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("campaign_id")
@click.option("--csv", "as_csv", is_flag=True, help="CSV for a spreadsheet: one row per reviewer.")
@click.pass_obj
def report(obj: Context, campaign_id: str, as_csv: bool) -> None:
    """One row per reviewer of a campaign: Slack, items, every message sent."""
    from app.ops.report import report_csv, report_text
    from app.ops.status import StatusUnavailable, read_only_store

    if not is_okta_id(campaign_id):
        raise click.BadParameter("must be letters and digits only", param_hint="CAMPAIGN_ID")
    try:
        with read_only_store(obj.settings()) as store:
            detail = store.views.campaign(campaign_id)
    except StatusUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    if detail is None:
        raise click.ClickException(f"no campaign {campaign_id} in the database")
    click.echo(report_csv(detail) if as_csv else report_text(detail), nl=False)


@cli.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Create the database, or bring its schema up to this version of certnotify."""
    from app.db import Store

    settings = obj.settings()
    store = Store.open(settings.database.path, settings.database.busy_timeout_seconds)
    try:
        before = store.needs_migration()
        store.migrate()
    finally:
        store.close()
    click.echo(
        f"database {settings.database.path}: "
        + ("migrated to the current schema" if before else "already current")
    )


@cli.command()
@click.option("--port", type=int, default=8080, show_default=True, help="Port for the demo server.")
def demo(port: int) -> None:
    """Walk-through with no credentials: a simulated Okta org and a dry-run Slack sender."""
    from app.ops.demo import run_demo

    sys.exit(run_demo(port))


def _wants_traceback(argv: list[str]) -> bool:
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--log-level=") else None
        if arg == "--log-level" and i + 1 < len(argv):
            value = argv[i + 1]
        if value is not None and value.upper() == "DEBUG":
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    """Every failure ends as one line on stderr and a non-zero exit code; a traceback
    only with ``--log-level DEBUG``."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=argv, prog_name="certnotify", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Error: aborted", err=True)
        sys.exit(1)
    except click.exceptions.NoArgsIsHelpError as exc:  # `certnotify` alone: the help
        click.echo(exc.format_message(), err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if _wants_traceback(argv):
            raise
        click.echo(
            f"Error: {type(exc).__name__}: {str(exc)[:300]} (run with --log-level DEBUG for"
            " the traceback)",
            err=True,
        )
        sys.exit(1)
