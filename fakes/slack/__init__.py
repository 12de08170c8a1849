"""A fake Slack workspace (the Web API methods certnotify and its benchmark call)."""

from fakes.slack.server import FakeSlack, Fault, SlackLimits

__all__ = ["FakeSlack", "Fault", "SlackLimits"]
