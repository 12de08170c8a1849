"""The README keeps step with the code: every command, option and setting is documented."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from app.config import ENV_VARS, Settings
from app.ops.cli import cli

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_in_the_readme_with_its_options(name):
    command = cli.commands[name]
    assert f"certnotify {name}" in README
    assert command.help, f"{name} has no --help text"
    for param in command.params:
        if isinstance(param, click.Option):
            for flag in param.opts:
                if flag.startswith("--"):
                    assert flag in README, f"{name} {flag} is not documented"


def _setting_keys() -> list[str]:
    keys = []
    for section, field in Settings.model_fields.items():
        for key in field.annotation.model_fields:
            keys.append(f"{section}.{key}")
    return keys


@pytest.mark.parametrize("key", _setting_keys())
def test_every_setting_is_in_the_readme_and_config_yaml(key):
    section, name = key.split(".")
    config = (ROOT / "config.yaml").read_text(encoding="utf-8")
    assert f"\n{section}:" in config
    assert f"  {name}:" in config, f"{key} missing from config.yaml"
    assert key in README, f"{key} not in README"


@pytest.mark.parametrize("variable", [*sorted(ENV_VARS), "CERTNOTIFY_CONFIG"])
def test_every_environment_variable_is_in_the_readme(variable):
    assert f"`{variable}`" in README


def test_both_set_up_commands_are_in_the_readme():
    assert "make run" in README
    assert "make test" in README
