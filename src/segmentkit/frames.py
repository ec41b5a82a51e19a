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

    ``keys`` is a NumPy array of the key column's values in the frame's order
    (``keys.tolist()`` for a list).
    ``preview`` is a frame of the input's kind (pandas, polars or Arrow) holding the
    first ``limit`` matching rows in the frame's order; ``sql`` is the DuckDB statement
    that ran for the keys (values are ``$n`` parameters, in ``params``).
    """

    count: int
    keys: Any = field(repr=False)
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


_database: Any = None


_POSITION = "__sk_position"


def _fields_of(rule: Any) -> set[str] | None:
    """The field names a parsed rule reads, or None when it reads more than the frame
    (event conditions, segment references) or is not a parsed rule."""
    from .model import Condition, Group

    out: set[str] = set()

    def walk(node: Any) -> bool:
        if isinstance(node, Group):
            return all(walk(child) for child in node.rules)
        if isinstance(node, Condition):
            out.add(node.field)
            value = node.value
            if (
                isinstance(value, dict)
                and set(value) == {"field"}
                and isinstance(value["field"], str)
            ):
                out.add(value["field"])
            return True
        return False

    return out if walk(rule) else None


def _wanted_columns(
    rule: Any, schema: Schema | None, key: str | None, columns: list[Any]
) -> set[str] | None:
    """The frame columns the rule and the key need, or None to hand DuckDB every column."""
    fields = _fields_of(rule)
    if fields is None:
        return None
    if schema is not None:
        if not fields <= set(schema.fields):
            return None
        wanted = {schema[f].column_name for f in fields}
        key = key or schema.key
        wanted.add(schema[key].column_name if key in schema else key)
    else:
        wanted = fields | {key or ("id" if "id" in columns else str(columns[0]) if columns else "")}
    return wanted if wanted <= {c for c in columns if isinstance(c, str)} else None


def _columns(frame: Any, kind: str) -> list[Any]:
    if kind == "pyarrow":
        return list(frame.column_names)
    return list(frame.columns)


def _projected(frame: Any, kind: str, columns: list[str]) -> Any:
    """The columns the rule reads, plus each row's position, as one Arrow table.

    Selecting columns copies nothing (Arrow, polars, pandas copy-on-write); the Arrow
    view is zero-copy for numeric columns, Arrow-backed strings and polars at its newest
    compatibility level (DuckDB's own polars conversion asks for the oldest, which
    rewrites every string column: 75 ms per million rows). Only pandas ``object``
    columns (Python lists, mixed ``None``/bool) are converted, as any scan must.
    """
    import numpy
    import pyarrow  # type: ignore[import-untyped,unused-ignore]

    if kind == "pyarrow":
        table = frame.select(columns)
    elif kind == "polars":
        newest = getattr(getattr(_polars(), "CompatLevel", None), "newest", None)
        part = frame.select(columns)
        table = part.to_arrow(compat_level=newest()) if newest else part.to_arrow()
    else:
        table = pyarrow.Table.from_pandas(frame[columns], preserve_index=False)
    return table.append_column(_POSITION, pyarrow.array(numpy.arange(table.num_rows)))


def _scannable(frame: Any, kind: str) -> Any:
    """The whole frame for DuckDB (polars as zero-copy Arrow, see :func:`_projected`)."""
    if kind == "polars":
        newest = getattr(getattr(_polars(), "CompatLevel", None), "newest", None)
        return frame.to_arrow(compat_level=newest()) if newest else frame
    return frame


def _polars() -> Any:
    import polars

    return polars


def _rows_at(frame: Any, kind: str, positions: Any) -> Any:
    if kind == "pandas":
        return frame.iloc[positions]
    if kind == "polars":
        return frame[positions] if len(positions) else frame.clear()
    return frame.take(positions)


def _shared(duckdb: Any) -> Any:
    # Opening an in-memory database costs ~12 ms, a cursor on an open one ~10 µs; each
    # call gets its own cursor (its own connection: safe across threads).
    global _database
    if _database is None:
        _database = duckdb.connect(":memory:")
    return _database


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

    ``rule`` is anything :func:`~segmentkit.bind.bind` accepts, or a rule in the text
    form. ``frame`` is a pandas or polars DataFrame or a ``pyarrow.Table``; it is scanned in
    place. ``schema`` maps rule fields to the frame's columns (its table name is
    ignored); without one it is inferred from the column types (:func:`schema_of_frame`).
    ``connection`` is a DuckDB connection to use (default: a cursor on an in-memory
    database kept for the process).
    Raises :class:`~segmentkit.errors.RuleError` for an invalid rule.
    """
    from .compile.sql import to_sql

    kind = _kind(frame)
    if isinstance(rule, str) and not rule.lstrip().startswith(("{", "[")):
        from .formats.text import parse_text

        rule = parse_text(rule)  # the text form, handy in a notebook cell
    elif isinstance(rule, dict | str | bytes):
        from .model import parse

        rule = parse(rule)
    duckdb = _duckdb()
    con = connection if connection is not None else _shared(duckdb).cursor()
    name = f"sk_frame_{next(_names)}"
    all_columns = _columns(frame, kind)
    if schema is not None:
        key = key or schema.key
        key_column = schema[key].column_name if key in schema else key
        if key_column not in all_columns:
            shown = ", ".join(map(str, all_columns[:20]))
            raise RuleError(f"no key column {key_column!r} in the frame (columns: {shown})")
    # Only the columns the rule reads are handed to DuckDB, with each row's position so
    # the preview is taken from the frame itself; a rule naming a field the frame lacks
    # sees every column (so its error can suggest the right name).
    wanted = _wanted_columns(rule, schema, key, all_columns)
    projected = wanted is not None
    if wanted is not None:
        con.register(name, _projected(frame, kind, [c for c in all_columns if c in wanted]))
    else:
        con.register(name, _scannable(frame, kind))
    try:
        if schema is None:
            columns = [(c, t) for c, t in _describe(con, name) if c != _POSITION]
            if projected:  # the key defaults as if every column were there
                key = key or ("id" if "id" in all_columns else str(all_columns[0]))
            schema = _schema(columns, key=key, timezone=None, table=name)
        else:
            schema = Schema(
                list(schema),
                table=name,
                key=key or schema.key,
                timezone=schema.timezone,
                events=schema.events,
            )
        query = to_sql(rule, schema, "duckdb", now)  # the predicate, $n parameters
        key_column = schema[schema.key].column_name if schema.key in schema else schema.key
        extra = f", {_quote(_POSITION)}" if projected else ""
        sql = f"SELECT {_quote(key_column)}{extra} FROM {_quote(name)} WHERE {query.text}"
        # Columns as arrays: fetching a million keys as Python tuples costs 2.5x the
        # query itself (bench/bench_frames.py).
        found = con.execute(sql, query.params).fetchnumpy()
        keys = found[key_column]
        if projected:
            preview = _rows_at(frame, kind, found[_POSITION][: max(int(limit), 0)])
        else:
            shown = con.sql(
                f"SELECT * FROM {_quote(name)} WHERE {query.text} LIMIT {int(limit)}",
                params=query.params,
            )
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
