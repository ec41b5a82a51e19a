"""Connection helpers: the SQL functions segmentkit's SQL needs on engines that lack them.

SQLite has no Unicode ``lower`` and no ``REGEXP``; the SQL segmentkit emits for SQLite
calls two deterministic functions, ``sk_lower(text)`` and ``sk_regexp(pattern, text)``.
Importing :mod:`segmentkit.compile.sqlalchemy` registers them on every SQLite connection
SQLAlchemy opens or hands out (a pool-wide ``connect``/``checkout`` listener), so users of
SQLAlchemy need do nothing. Users of the stdlib ``sqlite3`` module directly call
:func:`register_sqlite_functions` on their connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.pool import Pool

from ..types import simple_lower

__all__ = ["register_sqlite_functions"]


def _sk_lower(value: Any) -> Any:
    return simple_lower(value) if isinstance(value, str) else value


def _sk_regexp(pattern: Any, value: Any) -> Any:
    # The linear-time evaluator of the portable subset (never ``re`` backtracking).
    from ..regex import sqlite_regexp

    return sqlite_regexp(pattern, value if value is None or isinstance(value, str) else str(value))


def register_sqlite_functions(connection: sqlite3.Connection) -> None:
    """Register ``sk_lower`` and ``sk_regexp`` on a stdlib SQLite connection (idempotent)."""
    connection.create_function("sk_lower", 1, _sk_lower, deterministic=True)
    connection.create_function("sk_regexp", 2, _sk_regexp, deterministic=True)


def _on_connection(dbapi_connection: Any, record: Any, *_: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    info = getattr(record, "info", None)
    if info is not None and info.get("segmentkit.functions"):
        return
    register_sqlite_functions(dbapi_connection)
    if info is not None:
        info["segmentkit.functions"] = True


# "connect" covers new connections; "checkout" also covers connections a pool opened
# before segmentkit was imported. Both are cheap no-ops for other drivers.
if not event.contains(Pool, "connect", _on_connection):
    event.listen(Pool, "connect", _on_connection)
    event.listen(Pool, "checkout", _on_connection)
