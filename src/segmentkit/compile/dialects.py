"""The SQL dialects segmentkit compiles to: the registry of dialect classes.

Each dialect family lives in a module of its own under ``compile/``; the shared
compiler is :mod:`segmentkit.compile.base`. This module names them
(:data:`DIALECTS`, :data:`ALIASES`) and re-exports the compiler's public pieces.
"""

from __future__ import annotations

from .base import (
    CONSTRUCTS,
    COUNT_COMPLEMENT,
    AsBinary,
    AsBlob,
    Bind,
    Compiler,
    ParamStyle,
    Regexp,
    SegmentTable,
    ToUtf8mb4,
    Verbatim,
    event_form,
    event_time_aware,
    identity,
    successor,
)
from .bigquery import BigQuery
from .duckdb import DuckDB
from .mysql import MariaDB, MySQL
from .postgres import Postgres
from .snowflake import Snowflake
from .spark import Spark
from .sqlite import SQLite
from .trino import Trino
from .tsql import TSQL

__all__ = [
    "ALIASES",
    "COUNT_COMPLEMENT",
    "DIALECTS",
    "TSQL",
    "AsBinary",
    "AsBlob",
    "BigQuery",
    "Bind",
    "Compiler",
    "DuckDB",
    "MariaDB",
    "MySQL",
    "ParamStyle",
    "Postgres",
    "Regexp",
    "SQLite",
    "SegmentTable",
    "Snowflake",
    "Spark",
    "ToUtf8mb4",
    "Trino",
    "Verbatim",
    "event_form",
    "event_time_aware",
    "identity",
    "successor",
    "support_matrix",
]

DIALECTS: dict[str, type[Compiler]] = {
    cls.name: cls
    for cls in (Postgres, MySQL, MariaDB, SQLite, DuckDB, BigQuery, Snowflake, Spark, Trino, TSQL)
}

#: Other names users type for the same dialects.
ALIASES: dict[str, str] = {
    "postgresql": "postgres",
    "sqlite3": "sqlite",
    "mssql": "tsql",
    "sqlserver": "tsql",
    "databricks": "spark",
}


def support_matrix() -> str:
    """docs/sql.md's table of what each dialect refuses, from the dialects'
    :attr:`~segmentkit.compile.base.Compiler.UNSUPPORTED` tables."""
    names = list(DIALECTS)
    rows = ["| construct | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for construct in CONSTRUCTS:
        cells = ["refused" if construct in DIALECTS[n].UNSUPPORTED else "yes" for n in names]
        rows.append(f"| {construct} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"
