"""A fake Okta org (Identity Governance API, System Log, OAuth token endpoint)."""

from fakes.okta.data import generate
from fakes.okta.logs import log_event
from fakes.okta.server import ERROR_400_FILTER, ERROR_429, FakeOkta, Fault

__all__ = ["ERROR_400_FILTER", "ERROR_429", "FakeOkta", "Fault", "generate", "log_event"]
