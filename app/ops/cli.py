"""``certnotify`` commands: parse the arguments, load the settings, and hand the work to
the function the service itself runs (a reminder pass, a launch, a status report...).

Every failure ends as one ``Error:`` line and a non-zero exit code (``main``)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING

import click

from app.config import SettingsError
from app.ops.cli_context import CONFIG_HELP, LEVEL_HELP, LOG_LEVEL, Commands, Context, exit_on_error
from app.ops.cli_data import DATA_COMMANDS
from app.ops.cli_jobs import JOB_COMMANDS

if TYPE_CHECKING:
    pass

__all__ = ["main"]

log = logging.getLogger("certnotify")


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="CERTNOTIFY_CONFIG",
    type=click.Path(dir_okay=False),
    help=CONFIG_HELP,
)
@click.option("--log-level", default="INFO", type=LOG_LEVEL, help=LEVEL_HELP)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, log_level: str) -> None:
    """certnotify: Okta access-certification campaigns, told to reviewers in Slack."""
    ctx.obj = Context(config_path, log_level.upper())


for _command in (*JOB_COMMANDS, *DATA_COMMANDS):
    cli.add_command(_command)


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
    services = obj.services("okta", "slack", migrate=True)
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
            services.settings, store=None, slack=services.slack, migrate=False
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


@cli.command()
@click.option(
    "--since",
    required=True,
    type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"]),
    help="Start of the window (ISO time; UTC unless it carries an offset).",
)
@click.pass_obj
@exit_on_error
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
