"""The commands about the data itself: ``status`` and ``report`` (read-only), ``migrate``,
``backup`` and ``restore`` (README, "Operating it")."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from app.models import is_okta_id
from app.ops.cli_context import Context

__all__ = ["DATA_COMMANDS"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Counts: campaigns, inbox, messages, last reminder run, worker heartbeat, problems."""
    from app.ops.status import StatusUnavailable, status_report

    try:
        click.echo(status_report(obj.settings(), as_json=as_json))
    except StatusUnavailable as exc:
        raise click.ClickException(str(exc)) from None


@click.command()
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


@click.command()
@click.pass_obj
def migrate(obj: Context) -> None:
    """Create the database, or bring its schema up to this version of certnotify
    (an existing one is backed up beside itself first)."""
    from app.db import Store
    from app.db.backup import BackupError

    settings = obj.settings()
    store = Store.open(settings.database.path, settings.database.busy_timeout_seconds)
    try:
        before = store.needs_migration()
        saved = store.migrate()
    except BackupError as exc:
        raise click.ClickException(f"not migrated: the backup first failed: {exc}") from None
    finally:
        store.close()
    click.echo(
        f"database {settings.database.path}: "
        + ("migrated to the current schema" if before else "already current")
        + (f" (backup first: {saved})" if saved else "")
    )


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_obj
def backup(obj: Context, path: str) -> None:
    """A consistent copy of the database at PATH, while the service runs."""
    from app.db import DatabaseMissing, Store
    from app.db.backup import BackupError, backup_database

    settings = obj.settings()
    try:
        store = Store.open(
            settings.database.path, settings.database.busy_timeout_seconds, readonly=True
        )
    except DatabaseMissing:
        raise click.ClickException(
            f"no database at {settings.database.path} (check database.path / CERTNOTIFY_DB)"
        ) from None
    try:
        check = backup_database(store.db.conn, path)
    except BackupError as exc:
        raise click.ClickException(f"backup not written: {exc}") from None
    finally:
        store.close()
    click.echo(f"backup written: {check.line()}")


@click.command()
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_obj
def restore(obj: Context, path: str) -> None:
    """Put the backup at PATH in place of the database (with no worker running)."""
    from app.db.backup import BackupError, check_file, replace_database
    from app.pipeline.lock import WorkerLock

    settings = obj.settings()
    db_path = settings.database.path
    try:
        check = check_file(path)
    except BackupError as exc:
        raise click.ClickException(f"not restored: {exc}") from None
    if check.quick_check != "ok":
        raise click.ClickException(f"not restored: {path} failed quick_check: {check.quick_check}")
    if check.unknown:
        raise click.ClickException(
            f"not restored: {path} was written by a newer certnotify (migrations "
            f"{', '.join(check.unknown)}); upgrade certnotify first"
        )
    now = datetime.now(UTC)
    lock = WorkerLock(db_path)
    # Held for the whole restore: no worker (or sending command) can start meanwhile.
    if not lock.try_acquire(now, role="certnotify restore"):
        raise click.ClickException(
            f"not restored: a worker is running on this database ({lock.holder()}); "
            "stop certnotify serve / worker first"
        )
    try:
        kept = replace_database(db_path, path, now)
    except BackupError as exc:
        raise click.ClickException(f"not restored: {exc}") from None
    finally:
        lock.release()
    click.echo(f"restored: {check.line()}")
    if kept is not None:
        click.echo(f"the database it replaced is kept as {kept}")
    if check.missing:
        click.echo("it is from an older certnotify: serve (or `certnotify migrate`) upgrades it")
    click.echo(
        "when the worker starts it sends what this copy has as pending: messages sent after "
        "the backup was taken are not in it and go out again"
    )


DATA_COMMANDS = [status, report, migrate, backup, restore]
