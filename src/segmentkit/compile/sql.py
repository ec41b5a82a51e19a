"""SQL text for any dialect, built as sqlglot trees: :func:`to_sql`.

This module owns the public entry point of the sqlglot backend: dialect lookup,
the compile cache (one rendering per rule *shape*, schema and dialect), turning
placeholders into each driver's paramstyle, building the parameters, inline
rendering, and :func:`register_sqlite_functions` for plain ``sqlite3``
connections. Event conditions read the schema's event source; segment references
read the membership table given as ``segments=`` (:class:`SegmentTable`). What each
primitive becomes in each dialect lives in ``compile/dialects.py``.

Bound output (the default) is for execution::

    q = to_sql(rule, schema, "postgres", now=now)
    cursor.execute(q.text, q.params)

``inline=True`` returns text with the values written as literals escaped for the
dialect. It is meant for consoles, notebooks and warehouse UIs; execution paths
that see untrusted values should always use the bound form.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel
from sqlglot.errors import UnsupportedError as SqlglotUnsupportedError
from sqlglot.generator import Generator

from .. import primitives as p
from ..bind import bind, paused_gc
from ..errors import RuleError, UnsupportedError, did_you_mean
from ..schema import Schema
from .base import REGEX
from .dialects import (
    ALIASES,
    DIALECTS,
    AsBinary,
    AsBlob,
    Bind,
    Compiler,
    ParamStyle,
    Regexp,
    SegmentTable,
    ToUtf8mb4,
    Verbatim,
    event_time_aware,
)
from .engines import register_sqlite_functions  # re-exported for plain sqlite3 users

__all__ = [
    "SegmentTable",
    "SqlQuery",
    "cache_size",
    "clear_cache",
    "compile_predicate",
    "dialect_names",
    "regex_search_sql",
    "register_sqlite_functions",
    "render_statement",
    "to_sql",
]

CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class SqlQuery:
    """Bound SQL: pass ``text`` and ``params`` to the dialect's driver as they are.

    ``params`` is a dict for named paramstyles (``pyformat``, ``named``, ``at``) and
    a list for positional ones (``numeric`` — ``$1`` is ``params[0]`` —, ``qmark``).
    """

    text: str
    params: dict[str, Any] | list[Any]
    dialect: str
    paramstyle: ParamStyle

    def __str__(self) -> str:
        return self.text


def dialect_names() -> list[str]:
    """The dialect names :func:`to_sql` accepts (aliases included)."""
    return sorted({*DIALECTS, *ALIASES})


def _compiler_class(dialect: str) -> type[Compiler]:
    cls = DIALECTS.get(dialect) if isinstance(dialect, str) else None
    if cls is not None:
        return cls
    if isinstance(dialect, str):
        key = dialect.strip().lower()
        key = ALIASES.get(key, key)
        cls = DIALECTS.get(key)
        if cls is not None:
            return cls
    shown = repr(dialect) if len(repr(dialect)) <= 60 else repr(dialect)[:57] + "..."
    # No suggestion for absurd input (difflib is quadratic in the length).
    hint = (
        did_you_mean(dialect, dialect_names())
        if isinstance(dialect, str) and len(dialect) <= 64
        else ""
    )
    raise RuleError(f"unknown SQL dialect {shown}{hint}; known: {', '.join(sorted(DIALECTS))}")


_SQLALCHEMY_NAMES: dict[str, str] = {
    "postgresql": "postgres",
    "mssql": "tsql",
    "databricks": "spark",
    "hive": "spark",
    "default": "postgres",  # str() of an expression outside any engine: for display
}


def dialect_class(dialect: Any) -> type[Compiler]:
    """The compiler class for a SQLAlchemy ``Dialect`` (MariaDB told apart from MySQL)."""
    name = dialect.name
    if name in ("mysql", "mariadb"):
        return DIALECTS["mariadb" if getattr(dialect, "is_mariadb", False) else "mysql"]
    cls = DIALECTS.get(_SQLALCHEMY_NAMES.get(name, name))
    if cls is None:
        raise UnsupportedError("SQL", name, f"no segmentkit dialect; known: {', '.join(DIALECTS)}")
    return cls


# ------------------------------------------------------------------ generation
# The SQLAlchemy view renders the same text with a marker per placeholder, which it
# replaces by SQLAlchemy's own rendering of a bound parameter (compile/sqlalchemy.py).
MARKER = "\x00"
Style = ParamStyle | Literal["marker"]


def _placeholder_text(style: Style, index: int) -> str:
    if style == "marker":
        return f"{MARKER}{index}{MARKER}"
    if style == "pyformat":
        return f"%(p{index})s"
    if style == "named":
        return f":p{index}"
    if style == "at":
        return f"@p{index}"
    if style == "numeric":
        return f"${index + 1}"
    return "?"


_GENERATORS: dict[tuple[type[Compiler], Style], type[Generator]] = {}


def _generator_class(cls: type[Compiler], style: Style) -> type[Generator]:
    gen = _GENERATORS.get((cls, style))
    if gen is not None:
        return gen
    base: type[Generator] = sqlglot.Dialect.get_or_raise(cls.sqlglot_dialect).generator_class

    def placeholder_sql(self: Any, expression: exp.Placeholder) -> str:
        index = int(expression.name[1:])
        self.sk_order.append(index)
        return _placeholder_text(style, index)

    def regexp_sql(self: Any, expression: Regexp) -> str:
        return str(self.binary(expression, "REGEXP"))

    # With parameters, a pyformat driver reads every % in the text: one in a quoted
    # identifier (a column named "50%") or a constant must be doubled. Inline text is
    # executed without parameters, so it keeps a single %.
    def identifier_sql(self: Any, expression: exp.Identifier) -> str:
        text = str(base.identifier_sql(self, expression))
        return text.replace("%", "%%") if self.sk_percent else text

    def literal_sql(self: Any, expression: exp.Literal) -> str:
        text = str(base.literal_sql(self, expression))
        return text.replace("%", "%%") if self.sk_percent else text

    def verbatim_sql(self: Any, expression: Verbatim) -> str:
        return str(expression.this)

    def as_blob_sql(self: Any, expression: AsBlob) -> str:
        return f"CAST({self.sql(expression, 'this')} AS BLOB)"

    def as_binary_sql(self: Any, expression: AsBinary) -> str:
        return f"CONVERT({self.sql(expression, 'this')}, BINARY)"

    def to_utf8mb4_sql(self: Any, expression: ToUtf8mb4) -> str:
        return f"CONVERT({self.sql(expression, 'this')} USING utf8mb4)"

    transforms = {
        **base.TRANSFORMS,
        Regexp: regexp_sql,
        Verbatim: verbatim_sql,
        AsBlob: as_blob_sql,
        ToUtf8mb4: to_utf8mb4_sql,
        AsBinary: as_binary_sql,
    }
    # Our SELECTs are `SELECT key FROM t WHERE ...` and `EXISTS (SELECT 1 FROM x WHERE
    # ...)`: no QUALIFY, DISTINCT ON, CTE or UNNEST projection for the dialects'
    # SELECT rewrites to act on, and running them costs a third of the generation.
    transforms.pop(exp.Select, None)
    methods: dict[str, Any] = {
        "placeholder_sql": placeholder_sql,
        "TRANSFORMS": transforms,
        "identifier_sql": identifier_sql,
        "literal_sql": literal_sql,
    }
    gen = type(f"Segmentkit{base.__name__}", (base,), methods)
    _GENERATORS[(cls, style)] = gen
    return gen


def generate(
    cls: type[Compiler],
    tree: exp.Expression,
    *,
    bound: bool = True,
    style: Style | None = None,
    percent: bool | None = None,
) -> tuple[str, list[int]]:
    """Render ``tree``. ``percent``: double every ``%`` outside placeholders (drivers with
    the ``format``/``pyformat`` paramstyle read them); by default when bound in pyformat."""
    style = style or cls.paramstyle
    gen_cls = _generator_class(cls, style)
    gen: Any = gen_cls(
        dialect=cls.sqlglot_dialect, unsupported_level=ErrorLevel.RAISE, comments=False
    )
    gen.sk_order = []
    gen.sk_percent = (bound and style == "pyformat") if percent is None else percent
    try:
        text = gen.generate(tree, copy=False)
    except SqlglotUnsupportedError as exc:
        # sqlglot cannot render something for this dialect: refuse, never approximate.
        raise UnsupportedError(str(exc).strip() or "expression", cls.name, "sqlglot") from exc
    return text, gen.sk_order


_PYFORMAT_PLACEHOLDER = re.compile(r"%\(p\d+\)s")


def _check_text(cls: type[Compiler], text: str) -> None:
    # In pyformat, a bare % would be read as a placeholder by the driver. The
    # compiler never writes one in bound mode; keep it that way.
    if cls.paramstyle == "pyformat" and "%" in _PYFORMAT_PLACEHOLDER.sub(
        "", text.replace("%%", "")
    ):
        raise AssertionError(f"stray % in {cls.name} pyformat SQL: {text!r}")  # pragma: no cover


# ------------------------------------------------------------------------ cache
@dataclass(frozen=True, slots=True)
class _Compiled:
    text: str
    binds: tuple[Bind, ...]  # one per placeholder index
    getters: tuple[Callable[[Sequence[Any]], Any], ...]  # one per bind, in bind order
    names: tuple[str, ...]  # p0, p1, ... for the named paramstyles
    order: tuple[int, ...] | None  # bind index per placeholder occurrence (qmark)

    @classmethod
    def make(
        cls, text: str, binds: Sequence[Bind], order: Sequence[int], style: Style
    ) -> _Compiled:
        return cls(
            text,
            tuple(binds),
            tuple(b.getter() for b in binds),
            tuple(f"p{i}" for i in range(len(binds))),
            tuple(order) if style == "qmark" else None,
        )

    def params(self, values: Sequence[Any], style: Style) -> dict[str, Any] | list[Any]:
        computed = [g(values) for g in self.getters]
        if self.order is not None:
            return [computed[i] for i in self.order]
        if style == "numeric":
            return computed
        return dict(zip(self.names, computed, strict=True))


class _Key:
    """A cache key hashed once; it carries what a miss needs to compile, dropped after."""

    __slots__ = ("hash", "key", "schema", "values")

    def __init__(self, key: tuple[Any, ...], schema: Schema, values: tuple[Any, ...]) -> None:
        self.key = key
        self.hash = hash(key)
        self.schema: Schema | None = schema
        self.values: tuple[Any, ...] | None = values

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Key) and self.hash == other.hash and self.key == other.key


@functools.lru_cache(maxsize=CACHE_SIZE)
def _compile_key(k: _Key) -> _Compiled:
    tree, _lengths, _schema, cls, select, segments, style, percent = k.key
    assert k.schema is not None and k.values is not None
    compiler = cls(k.schema, k.values, segments=segments)
    # A wide rule builds tens of thousands of sqlglot nodes and no cycles: the cyclic
    # collector's passes over them were most of a 10,000-condition compile.
    with paused_gc():
        built = compiler.select(tree) if select else compiler.where(tree)
        text, order = generate(cls, built, style=style, percent=percent)
    if style is None:
        _check_text(cls, text)
    # The cache keeps this key: do not keep the first caller's values alive with it.
    k.schema = k.values = None
    return _Compiled.make(text, compiler.binds, order, style or cls.paramstyle)


def clear_cache() -> None:
    """Forget every cached rendering (for tests and benchmarks)."""
    _compile_key.cache_clear()


def cache_size() -> int:
    """How many rule shapes have a cached rendering."""
    return int(_compile_key.cache_info().currsize)


def schema_key(schema: Schema) -> tuple[Any, ...]:
    key: tuple[Any, ...] = (schema.fingerprint, schema.table, schema.table_schema, schema.key)
    source = schema.events
    if source is None:
        return key
    # The fingerprint leaves the event source out, and EventSource equality ignores its
    # SQLAlchemy table, which decides the events table's database schema and whether
    # its time column is aware.
    db = source.table_schema
    return (*key, source, db, event_time_aware(source))


def compile_shape(
    cls: type[Compiler],
    schema: Schema,
    tree: p.Predicate,
    values: tuple[Any, ...],
    select: bool,
    segments: SegmentTable | None,
    style: Style | None = None,
    percent: bool | None = None,
) -> _Compiled:
    # A list slot holds a whole tuple; its length decides how many placeholders an
    # expanded IN list has, so lengths are part of the key (strings are never tuples).
    lengths = shape_lengths(values)
    key = (tree, lengths, schema_key(schema), cls, select, segments, style, percent)
    return _compile_key(_Key(key, schema, values))


def shape_lengths(values: Sequence[Any]) -> tuple[int, ...]:
    """The lengths of the list parameters: with the shape, they decide the SQL text."""
    return tuple([len(v) for v in values if type(v) is tuple])


# ------------------------------------------------------------------------ entry
@overload
def to_sql(
    rule: Any,
    schema: Schema,
    dialect: str = ...,
    now: dt.datetime | None = ...,
    *,
    inline: Literal[False] = ...,
    select: bool = ...,
    segments: SegmentTable | None = ...,
) -> SqlQuery: ...


@overload
def to_sql(
    rule: Any,
    schema: Schema,
    dialect: str = ...,
    now: dt.datetime | None = ...,
    *,
    inline: Literal[True],
    select: bool = ...,
    segments: SegmentTable | None = ...,
) -> str: ...


def to_sql(
    rule: Any,
    schema: Schema,
    dialect: str = "postgres",
    now: dt.datetime | None = None,
    *,
    inline: bool = False,
    select: bool = False,
    segments: SegmentTable | None = None,
) -> SqlQuery | str:
    """Compile ``rule`` to SQL text for ``dialect``.

    Returns the WHERE predicate, or with ``select=True`` the statement
    ``SELECT key FROM table WHERE ...``. By default values are bound parameters in
    the dialect driver's paramstyle (:class:`SqlQuery`); ``inline=True`` returns a
    ``str`` with literals escaped for the dialect — for consoles and warehouses,
    never for execution paths that see untrusted values.

    ``rule`` is anything :func:`segmentkit.bind.bind` accepts (a parsed rule, a dict,
    JSON text, a :class:`~segmentkit.bind.BoundRule`). Event conditions read the
    schema's :class:`~segmentkit.schema.EventSource`; segment references need
    ``segments``, the :class:`SegmentTable` holding current memberships. Raises
    :class:`~segmentkit.errors.RuleError` for an invalid rule or an unknown dialect
    and :class:`~segmentkit.errors.UnsupportedError` for a construct the dialect
    cannot express faithfully.
    """
    cls = _compiler_class(dialect)
    bound = bind(rule, schema, now=now)
    return _compile(cls, bound.shaped(), schema, inline, select, segments)


def compile_predicate(
    pred: p.Predicate,
    schema: Schema,
    dialect: str = "postgres",
    *,
    inline: bool = False,
    select: bool = False,
    segments: SegmentTable | None = None,
) -> SqlQuery | str:
    """:func:`to_sql` for an already bound predicate (a tree of primitives)."""
    return _compile(_compiler_class(dialect), p.shape(pred), schema, inline, select, segments)


def _compile(
    cls: type[Compiler],
    shaped: tuple[p.Predicate, tuple[Any, ...]],
    schema: Schema,
    inline: bool,
    select: bool,
    segments: SegmentTable | None,
) -> SqlQuery | str:
    tree, values = shaped
    if inline:
        compiler = cls(schema, values, inline=True, segments=segments)
        with paused_gc():
            built = compiler.select(tree) if select else compiler.where(tree)
            return generate(cls, built, bound=False)[0]
    compiled = compile_shape(cls, schema, tree, values, select, segments)
    return SqlQuery(
        compiled.text, compiled.params(values, cls.paramstyle), cls.name, cls.paramstyle
    )


def render_statement(
    build: Callable[[Compiler], exp.Expression], dialect: str, values: Sequence[Any]
) -> SqlQuery:
    """Bound SQL for any statement built on the rule compiler (rollups, reports).

    ``build(compiler)`` returns a sqlglot expression; inside it,
    ``compiler.param(i, field_type)`` is a placeholder for ``values[i]``, converted for
    the dialect's driver exactly as a rule parameter of that type is. Not cached.
    """
    cls = _compiler_class(dialect)
    compiler = cls(None, values)
    tree = build(compiler)
    text, order = generate(cls, tree)
    _check_text(cls, text)
    compiled = _Compiled.make(text, compiler.binds, order, cls.paramstyle)
    return SqlQuery(text, compiled.params(values, cls.paramstyle), cls.name, cls.paramstyle)


def regex_search_sql(dialect: str, subject: str, pattern: str) -> str:
    """SQL text of the dialect's regular-expression search of ``subject`` for ``pattern``
    (both SQL fragments, e.g. placeholders); bind the pattern as
    ``segmentkit.regex.for_dialect(pattern, ...)`` gives it. What ``matches`` compiles to."""
    cls = _compiler_class(dialect)
    compiler = cls(None, ())
    compiler.require(REGEX)
    tree = compiler.regex_search(Verbatim(this=subject), Verbatim(this=pattern))
    return generate(cls, tree, bound=False)[0]
