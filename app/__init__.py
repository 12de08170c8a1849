"""certnotify: tells Okta Identity Governance reviewers about their campaigns in Slack."""

from app.web import create_app

__all__ = ["create_app"]
