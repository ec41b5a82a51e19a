"""Rules over in-memory frames: pandas and polars DataFrames and Arrow tables, via DuckDB.

:func:`frame_members` registers the frame with an in-process DuckDB connection (DuckDB
scans pandas columns and Arrow buffers where they are — nothing is copied into the
database), compiles the rule with ``to_sql(..., dialect="duckdb")`` and runs it
columnar. The answer is the same as :func:`~segmentkit.compile.python.compile_python`
gives over the frame's rows, because it is the same DuckDB dialect the differential
tests check against the Python evaluator.

Without a ``schema`` one is inferred from the column types DuckDB sees
(:func:`schema_of_frame`): integers, floats, decimals, booleans, strings, dates,
timestamps (``TIMESTAMP WITH TIME ZONE`` as zone-aware) and lists of strings (as
``tags`` stored as an array). Columns of any other type are left out.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import RuleError
from .schema import Field, Schema, TagStorage
from .types import FieldType

__all__ = ["FrameMembers", "field_of_duckdb_type", "frame_members", "schema_of_frame"]

_names = itertools.count()

_INTEGER = re.compile(r"(U?(TINY|SMALL|BIG|HUGE)?INT(EGER)?|INT[1248]|LONG|SHORT)")
_FLOAT = re.compile(r"(DOUBLE|FLOAT|REAL|FLOAT[48])")


def field_of_duckdb_type(name: str, type_name: str) -> Field | None:
    """The field a column of DuckDB type ``type_name`` (as ``DESCRIBE`` prints it) becomes,
    or None for a type no field type holds (structs, maps, blobs, intervals)."""
    t = type_name.strip().upper()
    tags: TagStorage | None = None
    naive = True
    if t == "BOOLEAN":
        ftype = FieldType.BOOLEAN
    elif _INTEGER.fullmatch(t):
        ftype = FieldType.INTEGER
    elif _FLOAT.fullmatch(t):
        ftype = FieldType.FLOAT
    elif t.startswith(("DECIMAL", "NUMERIC")):
        ftype = FieldType.DECIMAL
    elif t in ("VARCHAR", "TEXT", "STRING") or t.startswith("VARCHAR("):
        ftype = FieldType.STRING
    elif t == "DATE":
        ftype = FieldType.DATE
    elif t in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        ftype, naive = FieldType.DATETIME, False
    elif t.startswith("TIMESTAMP") or t == "DATETIME":
        ftype = FieldType.DATETIME
    elif t in ("VARCHAR[]", "TEXT[]"):
        ftype, tags = FieldType.TAGS, TagStorage.ARRAY
    else:
        return None
    return Field(name, ftype, column=name, tags=tags, naive=naive)


def _describe(con: Any, relation: str) -> list[tuple[str, str]]:
    return [(row[0], row[1]) for row in con.execute(f'DESCRIBE "{relation}"').fetchall()]


def schema_of_frame(
    frame: Any, *, key: str | None = None, timezone: str | None = None, table: str = "frame"
) -> Schema:
    """A schema for ``frame`` from the column types DuckDB reads it with.

    ``key`` defaults to a column named ``id``, else the first column.
    """
    duckdb = _duckdb()
    con = duckdb.connect()
    try:
        con.register("sk_frame", frame)
        columns = _describe(con, "sk_frame")
    finally:
        con.close()
    return _schema(columns, key=key, timezone=timezone, table=table)


def _schema(
    columns: list[tuple[str, str]], *, key: str | None, timezone: str | None, table: str
) -> Schema:
    names = [c for c, _ in columns]
    if not names:
        raise RuleError("the frame has no columns")
    if key is None:
        key = "id" if "id" in names else names[0]
    elif key not in names:
        raise RuleError(f"no column {key!r} in the frame (columns: {', '.join(names[:20])})")
    fields = [f for f in (field_of_duckdb_type(c, t) for c, t in columns) if f is not None]
    return Schema(fields, table=table, key=key, timezone=timezone)


@dataclass(frozen=True, slots=True)
class FrameMembers:
    """The members of a rule over a frame: how many, their keys, the first rows.

    ``preview`` is a frame of the input's kind (pandas, polars or Arrow) holding the
    first ``limit`` matching rows in the frame's order; ``sql`` is the DuckDB statement
    that ran for the keys (values are ``$n`` parameters, in ``params``).
    """

    count: int
    keys: list[Any] = field(repr=False)
    preview: Any = field(repr=False)
    sql: str = field(repr=False)
    params: list[Any] | dict[str, Any] = field(repr=False)
    schema: Schema = field(repr=False)

    def __repr__(self) -> str:
        from .display import frame_members_text

        return frame_members_text(self)

    def _repr_html_(self) -> str:
        from .display import frame_members_html

        return frame_members_html(self)


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:  # pragma: no cover - the notebook extra installs it
        raise ImportError(
            "frame_members needs DuckDB: pip install 'segmentkit[notebook]'"
        ) from None
    return duckdb


def _arrow(result: Any) -> Any:
    # A relation's Arrow table: DuckDB 2 names it to_arrow_table, 1.x arrow.
    fetch = getattr(result, "to_arrow_table", None) or result.arrow
    return fetch()


def _polars_from_arrow(table: Any) -> Any:
    import polars

    return polars.from_arrow(table)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _kind(frame: Any) -> str:
    module = type(frame).__module__.split(".")[0]
    if module in ("pandas", "polars", "pyarrow"):
        return module
    raise TypeError(
        f"frame_members reads pandas or polars DataFrames and Arrow tables, not {type(frame).__name__}"
    )


def frame_members(
    rule: Any,
    frame: Any,
    schema: Schema | None = None,
    *,
    now: dt.datetime | None = None,
    key: str | None = None,
    limit: int = 10,
    connection: Any = None,
) -> FrameMembers:
    """Count and preview the members of ``rule`` over ``frame`` through DuckDB.

    ``frame`` is a pandas or polars DataFrame or a ``pyarrow.Table``; it is scanned in
    place. ``schema`` maps rule fields to the frame's columns (its table name is
    ignored); without one it is inferred from the column types (:func:`schema_of_frame`).
    ``connection`` is a DuckDB connection to use (default: a new in-memory one).
    Raises :class:`~segmentkit.errors.RuleError` for an invalid rule.
    """
    from .compile.sql import to_sql

    kind = _kind(frame)
    duckdb = _duckdb()
    con = connection if connection is not None else duckdb.connect()
    name = f"sk_frame_{next(_names)}"
    con.register(name, frame)
    try:
        if schema is None:
            schema = _schema(_describe(con, name), key=key, timezone=None, table=name)
        else:
            schema = Schema(
                list(schema),
                table=name,
                key=key or schema.key,
                timezone=schema.timezone,
                events=schema.events,
            )
        query = to_sql(rule, schema, "duckdb", now)  # the predicate, $n parameters
        source = f"FROM {_quote(name)} WHERE {query.text}"
        sql = f"SELECT {_quote(schema[schema.key].column_name if schema.key in schema else schema.key)} {source}"
        keys = [k for (k,) in con.execute(sql, query.params).fetchall()]
        shown = con.sql(f"SELECT * {source} LIMIT {int(limit)}", params=query.params)
        if kind == "pandas":
            preview = shown.df()
        else:
            table = _arrow(shown)
            preview = table if kind == "pyarrow" else _polars_from_arrow(table)
        return FrameMembers(len(keys), keys, preview, sql, query.params, schema)
    finally:
        con.unregister(name)
        if connection is None:
            con.close()
