"""The database file itself, for ``status``: where it is, its schema version, how big it
and its WAL are, whether ``PRAGMA quick_check`` finds it sound, and what retention keeps."""

from __future__ import annotations

import os
from typing import Any

from app.db import Store
from app.db.backup import known_migrations

__all__ = ["database_info", "format_database"]


def _size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def database_info(store: Store, *, quick_check: bool = True) -> dict[str, Any]:
    path = store.path or ""
    applied = [
        r["name"]
        for r in store.conn.rows(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = 'certnotify' ORDER BY rowid"
        )
    ]
    check = None
    if quick_check:
        # quick_check reads every page (O(size)), without the index cross-checks of
        # integrity_check: seconds for a large file, fine for an operator's command.
        found = [r[0] for r in store.db.execute("PRAGMA quick_check").fetchall()]
        check = "ok" if found == ["ok"] else "; ".join(found[:3])
    return {
        "path": path,
        "schema": applied[-1] if applied else None,
        "migrations": f"{len(applied)} of {len(known_migrations())}",
        "size_bytes": _size(path),
        "wal_bytes": _size(f"{path}-wal") or 0,
        "quick_check": check,
        "retention": store.retention.kept(),
    }


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 1_000_000:.1f} MB"


def format_database(info: dict[str, Any], events_days: int, messages_days: int) -> list[str]:
    kept = info["retention"]
    lines = [
        f"database: {info['path']}, schema {info['schema']} ({info['migrations']} migrations), "
        f"{_mb(info['size_bytes'])} + WAL {_mb(info['wal_bytes'])}, "
        f"quick_check {info['quick_check'] or 'not run'}",
        f"retention: event bodies kept {events_days} days after handling "
        f"({kept['event_bodies_kept']} of {kept['events']} events keep one"
        + (f", oldest from {kept['oldest_event_body']}" if kept["oldest_event_body"] else "")
        + f"); campaigns' ledger kept {messages_days} days after retirement "
        f"({kept['retired_campaigns_kept']} retired campaigns kept, "
        f"{kept['campaigns_purged']} purged); last purge: {kept['last_purge'] or 'never'}",
    ]
    if info["quick_check"] not in (None, "ok"):
        lines.append(
            f"problem: the database failed quick_check ({info['quick_check']}): restore the "
            "latest backup (README, Operating it)"
        )
    return lines
