"""The database: one SQLite file. Only this package writes SQL.

``Store.open(path)`` gives the connection and one object per group of tables (see
``store.py``); ``migrations.py`` holds the schema as ordered migrations.
"""

from app.db.connection import DatabaseMissing, DatabaseUnavailable
from app.db.state import CachedSlackUser, SlackUserEntry
from app.db.store import Store

__all__ = ["CachedSlackUser", "DatabaseMissing", "DatabaseUnavailable", "SlackUserEntry", "Store"]
