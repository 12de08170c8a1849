"""Settings: config.yaml + environment, one clear line per problem, secrets never shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.config import ENV_VARS, EscalationSettings, ReminderSettings, SettingsError, load_settings

ROOT = Path(__file__).parent.parent
SECRET = "s3cret-hook-value-that-is-long-enough"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_config_loads_with_defaults():
    settings = load_settings(ROOT / "config.yaml", environ={})
    # The shipped file spells out the defaults: the rhythm is every 7 days + a final notice.
    assert settings.reminders == ReminderSettings()
    assert settings.escalation == EscalationSettings()
    assert (settings.reminders.every_days, settings.reminders.final_notice_days_before_end) == (
        7,
        3,
    )
    assert settings.messages.review_url == "{org_url}/app/UserHome"
    assert settings.slack.api_url == "https://slack.com/api/"
    assert settings.reassign.coalesce_seconds == 30


def test_every_key_in_the_shipped_config_is_commented():
    for number, line in enumerate((ROOT / "config.yaml").read_text().splitlines(), 1):
        if re.match(r"^\s+\w+:", line):
            assert "#" in line, f"config.yaml line {number} has no comment: {line.strip()}"


def test_environment_overrides_the_file(tmp_path):
    path = write(tmp_path, "okta:\n  org_url: https://file.okta.com\ndatabase:\n  path: a.db\n")
    settings = load_settings(
        path,
        environ={
            "OKTA_ORG_URL": "https://env.okta.com/",
            "OKTA_API_TOKEN": "tok",
            "OKTA_HOOK_SECRET": SECRET,
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_API_URL": "http://127.0.0.1:9/api",
            "CERTNOTIFY_DB": "/tmp/x.db",
        },
    )
    assert settings.okta.org_url == "https://env.okta.com"
    assert settings.slack.api_url == "http://127.0.0.1:9/api/"
    assert settings.database.path == "/tmp/x.db"
    assert settings.okta.hook_secret.get_secret_value() == SECRET


def test_empty_environment_variable_means_unset(tmp_path):
    path = write(tmp_path, "database:\n  path: from-file.db\n")
    assert load_settings(path, environ={"CERTNOTIFY_DB": ""}).database.path == "from-file.db"


def test_config_path_comes_from_certnotify_config(tmp_path):
    path = write(tmp_path, "server:\n  port: 9999\n")
    assert load_settings(environ={"CERTNOTIFY_CONFIG": str(path)}).server.port == 9999


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("", {"OKTA_ORG_URL": "http://acme.okta.com"}, r"^okta\.org_url: must use https://.*OKTA_ORG_URL"),
        ("", {"SLACK_API_URL": "ftp://x"}, r"^slack\.api_url: .*SLACK_API_URL"),
        ("okta:\n  org_url: https://acme.okta.com/api\n", {}, r"^okta\.org_url: must be the org's base URL"),
        ("server:\n  port: abc\n", {}, r"^server\.port: .*\(got 'abc'\)"),
        ("server:\n  prot: 80\n", {}, r"^server\.prot: unknown setting"),
        ("reminders:\n  days_after_start: [0, 7]\n", {}, r"^reminders\.days_after_start\.?0?: "),
        ("reminders:\n  run_at: '25:00'\n", {}, r"^reminders\.run_at: must be a time of day"),
        ("reminders:\n  time_zone: Mars/Base\n", {}, r"^reminders\.time_zone: unknown time zone"),
        ("reminders:\n  time_zone: America\n", {}, r"^reminders\.time_zone: unknown time zone"),
        ("reminders:\n  every_days: 0\n", {}, r"^reminders\.every_days: "),
        ("reminders:\n  send_until: '09:00'\n", {}, r"^reminders: .*send_until \(09:00\) must be later than local_time \(09:30\)"),
        ("reminders:\n  campaigns: [{notify: false}]\n", {}, r"^reminders\.campaigns\.0: .*needs a name pattern or a template_id"),
        ("reminders:\n  campaigns: [{name: x, every_day: 3}]\n", {}, r"^reminders\.campaigns\.0\.every_day: unknown setting"),
        ("escalation:\n  manager_attribute: 'profile manager'\n", {}, r"^escalation\.manager_attribute: must be an Okta profile attribute"),
        ("messages:\n  review_url: '{org}/x'\n", {}, r"^messages\.review_url: unknown placeholder \{org\}"),
        ("messages:\n  review_url: 'http://evil.example/{campaign_id}'\n", {}, r"^messages\.review_url: must use https"),
        ("okta: [1, 2]\n", {}, r"^okta: "),
        ("okta:\n  org_url: [\n", {}, r"config file .*line \d+ is not valid YAML"),
        ("- a list\n", {}, r"must be a mapping of sections"),
    ],
)  # fmt: skip
def test_bad_settings_stop_with_one_line_naming_the_key(tmp_path, text, environ, expected):
    with pytest.raises(SettingsError) as error:
        load_settings(write(tmp_path, text), environ=environ)
    message = str(error.value)
    assert "\n" not in message
    assert re.search(expected, message), message


def test_missing_config_file_is_one_line(tmp_path):
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.yaml", environ={})


@pytest.mark.parametrize(
    ("environ", "needs", "expected"),
    [
        ({}, ("hook",), "okta.hook_secret: missing (set OKTA_HOOK_SECRET"),
        ({"OKTA_HOOK_SECRET": "short"}, ("hook",), "okta.hook_secret: must be at least 16"),
        ({}, ("okta",), "okta.org_url: missing (set OKTA_ORG_URL"),
        ({"OKTA_ORG_URL": "https://a.okta.com"}, ("okta",), "okta.api_token: missing"),
        (
            {"OKTA_ORG_URL": "https://a.okta.com", "OKTA_CLIENT_ID": "0oa1"},
            ("okta",),
            "okta.private_key_file: missing (set OKTA_PRIVATE_KEY_FILE",
        ),
        (
            {"OKTA_ORG_URL": "https://a.okta.com", "OKTA_CLIENT_ID": "0oa1",
             "OKTA_PRIVATE_KEY_FILE": "/nonexistent/key.pem"},
            ("okta",),
            "okta.private_key_file: no such file",
        ),
        ({}, ("slack",), "slack.bot_token: missing (set SLACK_BOT_TOKEN"),
    ],
)  # fmt: skip
def test_required_settings_per_command(tmp_path, environ, needs, expected):
    settings = load_settings(write(tmp_path, ""), environ=environ)
    with pytest.raises(SettingsError) as error:
        settings.require(*needs)
    assert str(error.value).startswith(expected)


def test_dry_run_needs_no_bot_token(tmp_path):
    settings = load_settings(write(tmp_path, "slack:\n  dry_run: true\n"), environ={})
    assert settings.require("slack") is settings


def test_secrets_are_never_shown(tmp_path):
    environ = {
        "OKTA_API_TOKEN": "00tokenvalue-secret",
        "OKTA_HOOK_SECRET": SECRET,
        "SLACK_BOT_TOKEN": "xoxb-secret-token",
    }
    settings = load_settings(write(tmp_path, ""), environ=environ)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for value in environ.values():
        assert value not in shown
    assert sorted(settings.secrets()) == sorted(environ.values())


def test_every_environment_variable_maps_to_a_real_setting(tmp_path):
    settings = load_settings(write(tmp_path, ""), environ={})
    for dotted in ENV_VARS.values():
        section, key = dotted.split(".")
        assert hasattr(getattr(settings, section), key)


def test_a_hook_secret_from_a_file_with_a_trailing_newline_still_opens_the_hook(
    tmp_path, fake_okta, fake_slack, clock
):
    from tests.helpers import HOOK_SECRET, make_settings, post_hook, sample, web_app

    settings = make_settings(
        tmp_path, fake_okta, fake_slack, okta={"hook_secret": HOOK_SECRET + "\n"}
    )
    client = web_app(settings, clock).test_client()
    assert post_hook(client, sample("event-launch.json")).status_code == 204
