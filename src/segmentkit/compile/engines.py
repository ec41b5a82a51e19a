"""Connection helpers: what segmentkit's SQL needs from engines beyond plain SQL.

This module owns two process-wide SQLAlchemy listeners, registered once on import
(importing :mod:`segmentkit` or :mod:`segmentkit.compile.sqlalchemy` is enough):

* **SQLite functions.** SQLite has no Unicode ``lower`` and no ``REGEXP``; the SQL
  segmentkit emits for SQLite calls two deterministic functions, ``sk_lower(text)`` and
  ``sk_regexp(pattern, text)``. They are registered on every SQLite connection
  SQLAlchemy opens or hands out (a pool-wide ``connect``/``checkout`` listener), so users
  of SQLAlchemy need do nothing. Users of the stdlib ``sqlite3`` module directly call
  :func:`register_sqlite_functions` on their connection.

* **MariaDB/MySQL regex guard.** When PCRE2 reaches its match limit (a valid pattern
  such as ``^[^x]*a[^x]*b$`` on a subject of a few thousand characters), MariaDB answers
  *false* for that row with warning 1139 instead of raising, and no server setting
  changes that (MariaDB 10.11). Under ``not_matches`` that silently widens a segment.
  So after every statement on a ``mysql``/``mariadb`` engine whose text contains
  ``REGEXP`` or ``RLIKE`` (segmentkit's or anyone's: a 1139 warning always means a wrong
  answer) and that left warnings, the warnings are read with ``SHOW WARNINGS`` on a
  second cursor of the same connection, and warning 1139 raises
  :class:`~segmentkit.errors.UnsupportedError` out of ``Connection.execute`` (so an
  enclosing transaction rolls back). Statements whose warnings cannot be checked —
  streamed results (``stream_results``/``yield_per``: the warning count arrives after
  the last row) and ``executemany`` (only the last execution's warnings survive) — are
  refused before they run. The execution option ``segmentkit_regex_guard=False`` (on an
  engine, connection or statement) switches the guard off for callers who accept the
  risk. With drivers that report the warning count (PyMySQL's ``cursor.warning_count``)
  a statement that left no warnings costs one attribute read (about 0.3 µs for both
  listeners); other drivers get a ``SHOW WARNINGS`` round trip after each ``REGEXP``
  statement. Other dialects return at the first test.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPICursor, ExecutionContext
from sqlalchemy.pool import Pool

from ..errors import UnsupportedError
from ..types import simple_lower

__all__ = ["REGEX_GUARD_OPTION", "register_sqlite_functions"]


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


# ------------------------------------------------------------ MariaDB/MySQL regex guard

#: Execution option that switches the regex guard off (``False``) for an engine,
#: connection or statement.
REGEX_GUARD_OPTION: Final = "segmentkit_regex_guard"

_MYSQL_DIALECTS: Final = frozenset({"mysql", "mariadb"})
_ER_REGEXP_ERROR: Final = 1139
# The operators REGEXP / RLIKE (synonyms) and the REGEXP_* functions, as whole words.
_REGEX_WORD: Final = re.compile(
    r"(?<![\w$`])(?:regexp|rlike)(?:_(?:replace|instr|substr))?(?![\w$`])"
)


def _backend(conn: Connection) -> str:
    return "mariadb" if getattr(conn.dialect, "is_mariadb", False) else conn.dialect.name


def _mentions_regex(statement: str) -> bool:
    # lower() + ``in`` is about five times faster than a case-insensitive re.search,
    # so it filters first; the regex then skips identifiers such as ``email_regexp``.
    text = statement.lower()
    return ("regexp" in text or "rlike" in text) and _REGEX_WORD.search(text) is not None


def _guarded(conn: Connection, statement: str, context: ExecutionContext | None) -> bool:
    """A REGEXP statement on MariaDB/MySQL, with the guard not switched off."""
    if not _mentions_regex(statement):
        return False
    options = context.execution_options if context is not None else conn.get_execution_options()
    return bool(options.get(REGEX_GUARD_OPTION, True))


def _refuse_unverifiable(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    """Before a REGEXP statement runs: refuse what the after-check cannot verify."""
    if conn.dialect.name not in _MYSQL_DIALECTS:
        return
    # The cheap tests first: most statements are neither streamed nor executemany.
    streamed = (
        context is not None
        and conn.dialect.supports_server_side_cursors
        and bool(context.execution_options.get("stream_results", False))
    )
    if not (streamed or executemany) or not _guarded(conn, statement, context):
        return
    if streamed:
        why = (
            "a streamed result (stream_results / yield_per) reports the engine's warnings "
            "only after its last row, too late to refuse a wrong answer"
        )
    else:
        why = "executemany keeps only the last execution's warnings"
    raise UnsupportedError(
        "regular expression",
        _backend(conn),
        f"{why}, so warning 1139 (PCRE2 match limit: the row silently answers false) could "
        f"go unnoticed; execute it buffered and one at a time, or pass the execution option "
        f"{REGEX_GUARD_OPTION}=False to accept the risk",
    )


def _check_regex_warnings(
    conn: Connection,
    cursor: DBAPICursor,
    statement: str,
    parameters: Any,
    context: ExecutionContext | None,
    executemany: bool,
) -> None:
    """After a REGEXP statement: raise if the engine gave up on a regex (warning 1139)."""
    if conn.dialect.name not in _MYSQL_DIALECTS:
        return
    # Read before scanning the statement: no warnings (the usual case) ends it here.
    count = getattr(cursor, "warning_count", None)  # PyMySQL; other drivers: unknown
    if isinstance(count, int) and count == 0:
        return
    if not _guarded(conn, statement, context):
        return
    # A second cursor: the statement's buffered result stays with its own cursor.
    # SHOW WARNINGS neither clears nor adds to the diagnostics it reads.
    dbapi_connection = conn.connection.dbapi_connection
    if dbapi_connection is None:  # pragma: no cover - a connection mid-invalidation
        return
    check = dbapi_connection.cursor()
    try:
        check.execute("SHOW WARNINGS")
        rows = list(check.fetchall())
    finally:
        check.close()
    gave_up = [row for row in rows if int(row[1]) == _ER_REGEXP_ERROR]
    if gave_up:
        raise UnsupportedError(
            "regular expression",
            _backend(conn),
            f"the engine gave up matching the pattern on {len(gave_up)} or more rows and "
            f"answered false there (warning {_ER_REGEXP_ERROR}: {gave_up[0][2]}), so the "
            "result would be wrong; simplify the pattern (fewer overlapping unbounded "
            "quantifiers such as [^x]*a[^x]*) or shorten the values",
        )
    if isinstance(count, int) and count > len(rows):
        # The server keeps max_error_count warnings; a 1139 may be among those dropped.
        raise UnsupportedError(
            "regular expression",
            _backend(conn),
            f"the statement left {count} warnings but the server kept only {len(rows)} "
            "(max_error_count), so a regex match-limit warning (1139, a silently false "
            "row) cannot be ruled out; fix the other warnings or raise max_error_count",
        )


if not event.contains(Engine, "after_cursor_execute", _check_regex_warnings):
    event.listen(Engine, "before_cursor_execute", _refuse_unverifiable)
    event.listen(Engine, "after_cursor_execute", _check_regex_warnings)
