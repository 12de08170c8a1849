"""What every table-group module shares: the connection, reads, and the write lock."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import sqlite_utils

from app.db.connection import Connection

__all__ = ["Table", "ts"]


def ts(moment: datetime) -> float:
    """Times used in comparisons are stored as epoch seconds (``*_ts``, ``not_before``)."""
    return moment.timestamp()


class Table:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def db(self) -> sqlite_utils.Database:
        return self.conn.db

    def write(self) -> AbstractContextManager[sqlite_utils.Database]:
        return self.conn.write()

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.conn.rows(sql, params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        return self.conn.one(sql, params)
