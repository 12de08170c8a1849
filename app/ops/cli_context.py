"""What every ``certnotify`` command shares: the settings and services it builds
(``Context``), one-line errors (``exit_on_error``), and ``--config``/``--log-level``
accepted after the command name too (``Commands``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from app.config import Settings, SettingsError, load_settings
from app.logs import LEVELS, configure_logging

if TYPE_CHECKING:
    from app.services import Services

__all__ = ["CONFIG_HELP", "LEVEL_HELP", "LOG_LEVEL", "Commands", "Context", "exit_on_error"]


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

    def services(self, *needs: str, migrate: bool = False) -> Services:
        """``migrate``: only ``worker`` (and ``serve``, ``migrate``) change the schema."""
        from app.services import Services

        settings = self.settings(*needs)
        try:
            # Building loads the Okta private key, which can still be wrong.
            return Services.build(settings, migrate=migrate)
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None


def exit_on_error(fn: Callable[..., Any]) -> Callable[..., Any]:
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


LOG_LEVEL = click.Choice(LEVELS, case_sensitive=False)
CONFIG_HELP = "Settings file (default: $CERTNOTIFY_CONFIG, else ./config.yaml)."
LEVEL_HELP = "DEBUG, INFO (default), WARNING, ERROR or CRITICAL."


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
                help=CONFIG_HELP,
            ),
            click.Option(
                ["--log-level"],
                type=LOG_LEVEL,
                expose_value=False,
                callback=_after_command,
                help=LEVEL_HELP,
            ),
        ]
        super().add_command(cmd, name)
