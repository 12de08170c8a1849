"""Fixtures: real parts (Flask app, SQLite file, httpx, slack_sdk) against local fakes.

Each test gets its own database file, its own fake Okta org and Slack workspace
on 127.0.0.1, and a fake clock whose ``sleep`` advances time instead of waiting.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.config import Settings
from app.pipeline.worker import Worker
from app.services import Services
from fakes.okta import FakeOkta
from fakes.slack import FakeSlack
from tests.helpers import LAUNCH_TIME, FakeClock, make_settings, web_app


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real OKTA_* / SLACK_* settings must never reach a test."""
    for name in list(os.environ):
        if name.startswith(("OKTA_", "SLACK_", "CERTNOTIFY_")):
            monkeypatch.delenv(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(LAUNCH_TIME)


@pytest.fixture
def fake_okta(clock: FakeClock) -> Iterator[FakeOkta]:
    with FakeOkta(clock=clock.epoch) as okta:
        yield okta


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture
def settings(tmp_path: Path, fake_okta: FakeOkta, fake_slack: FakeSlack) -> Settings:
    return make_settings(tmp_path, fake_okta, fake_slack)


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> Iterator[Services]:
    built = Services.build(settings, clock=clock, sleep=clock.sleep)
    yield built
    built.close()


@pytest.fixture
def app(settings: Settings, clock: FakeClock):
    return web_app(settings, clock)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def worker(services: Services) -> Worker:
    built = Worker(services)
    built.startup_checks()  # as at start-up: before any event
    return built
