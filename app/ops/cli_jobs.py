"""The commands that send (``remind``, ``sync``, ``nudge``, ``test-message``): each runs
as a job through the live worker, or here when there is none (app.pipeline.commands),
and prints what the job printed, with its exit code."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from app.config import SettingsError
from app.models import is_okta_id
from app.ops.cli_context import Context, exit_on_error

__all__ = ["JOB_COMMANDS"]


def as_job(obj: Context, kind: str, args: dict[str, Any], *needs: str) -> None:
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
            lambda: Services.build(settings, migrate=False),
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


@click.command()
@click.option(
    "--date",
    "for_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as if today were DATE (YYYY-MM-DD) in each campaign's time zone.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be sent; record nothing.")
@click.pass_obj
@exit_on_error
def remind(obj: Context, for_date: datetime | None, dry_run: bool) -> None:
    """One reminder pass now (the daily job runs the same code)."""
    day = for_date.date() if for_date else None
    if not dry_run:
        as_job(obj, "remind", {"date": day.isoformat() if day else None}, "okta", "slack")
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


@click.command()
@click.argument("campaign_id")
@click.pass_obj
@exit_on_error
def sync(obj: Context, campaign_id: str) -> None:
    """Fetch a campaign and notify its reviewers as if its launch event had arrived."""
    if not is_okta_id(campaign_id):
        raise click.BadParameter("must be letters and digits only", param_hint="CAMPAIGN_ID")
    as_job(obj, "sync", {"campaign_id": campaign_id}, "okta", "slack")


@click.command()
@click.argument("campaign_id")
@click.option("--reviewer", metavar="EMAIL", default="", help="Only this reviewer.")
@click.pass_obj
@exit_on_error
def nudge(obj: Context, campaign_id: str, reviewer: str) -> None:
    """Remind whoever still has items pending in CAMPAIGN_ID, now (once a day at most)."""
    if not is_okta_id(campaign_id):
        raise click.BadParameter("must be letters and digits only", param_hint="CAMPAIGN_ID")
    args = {"campaign_id": campaign_id, "reviewer": reviewer.strip()}
    as_job(obj, "nudge", args, "okta", "slack")


@click.command("test-message")
@click.argument("target")
@click.pass_obj
@exit_on_error
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
    as_job(obj, "test-message", {"target": target, "who": getpass.getuser()}, "slack")


JOB_COMMANDS = [remind, sync, nudge, test_message_cmd]
