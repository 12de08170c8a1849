"""Reading the settings: ``config.yaml`` (or ``--config``) plus the environment, which wins."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from app.config.sections import Settings
from app.config.values import _ENV_FOR_KEY, ENV_VARS, SettingsError

__all__ = ["load_settings"]


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any) -> None:
    section, key = dotted.split(".")
    node = tree.setdefault(section, {})
    if not isinstance(node, dict):
        raise SettingsError(f"{section}: must be a mapping of settings, not {type(node).__name__}")
    node[key] = value


def _first_error(exc: ValidationError, secret_keys: Iterable[str]) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown setting (check the spelling against config.yaml)"
    elif err["type"] == "missing":
        message = "missing"
    shown = err.get("input")
    # Echo the offending value only when it is short and not a secret.
    if (
        key not in secret_keys
        and isinstance(shown, str | int | float)
        and not isinstance(shown, bool)
        and err["type"] != "extra_forbidden"
        and len(str(shown)) <= 80
    ):
        message += f" (got {shown!r})"
    env = _ENV_FOR_KEY.get(key)
    if env:
        message += f"; set by {env} or config.yaml"
    return f"{key}: {message}"


_SECRET_KEYS = {"okta.api_token", "okta.hook_secret", "slack.bot_token", "admin.token"}


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read ``path`` (or $CERTNOTIFY_CONFIG, or ./config.yaml if present) and the environment."""
    environ = os.environ if environ is None else environ
    if path is None:
        path = environ.get("CERTNOTIFY_CONFIG") or None
    tree: dict[str, Any] = {}
    if path is not None or Path("config.yaml").is_file():
        file = Path(path) if path is not None else Path("config.yaml")
        try:
            loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(
                f"config file {file}: not found (check --config / CERTNOTIFY_CONFIG)"
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise SettingsError(f"config file {file}:{where} is not valid YAML") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"config file {file}: must be a mapping of sections")
        tree = {k: (dict(v) if isinstance(v, dict) else v) for k, v in loaded.items()}
        for section, value in tree.items():
            if value is None:
                tree[section] = {}
    for env, dotted in ENV_VARS.items():
        value = environ.get(env)
        if value:  # an empty variable (common in compose files) means "not set"
            _set_dotted(tree, dotted, value)
    try:
        return Settings.model_validate(tree)
    except ValidationError as exc:
        raise SettingsError(_first_error(exc, _SECRET_KEYS)) from None
