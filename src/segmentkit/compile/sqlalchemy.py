"""The SQLAlchemy view of the SQL compiler: :func:`to_sqlalchemy` and :func:`members_select`.

There is one SQL compiler (the sqlglot dialect classes, :mod:`segmentkit.compile.dialects`).
This module wraps a bound rule in :class:`RulePredicate`, a SQLAlchemy ``ColumnElement``
that renders through the dialect class matching the engine SQLAlchemy compiles for, so
both SQL paths give the same text, parameters and members by construction.

Values stay SQLAlchemy bound parameters: the construct carries one ``bindparam`` per
parameter of the rule's *shape*, and renders each placeholder of the compiled text as a
parameter derived from one of them, whose type applies the dialect's driver conversion
(``Compiler.driver_value``) when the statement executes. The construct's cache key is the
shape, the schema and the list lengths, never the values, so SQLAlchemy's statement cache
serves every rule of the same shape, and the text itself is cached per shape and dialect
(:mod:`segmentkit.compile.sql`).
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, FromClause, Select, operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Grouping, quoted_name
from sqlalchemy.sql.visitors import InternalTraversal

from .. import primitives as p
from ..bind import paused_gc
from ..schema import ChildTable, Field, Schema, TagStorage
from ..types import FieldType
from . import engines as _engines  # noqa: F401  (registers SQLite functions on connect)
from .dialects import Bind, Compiler, SegmentTable
from .sql import MARKER, compile_shape, dialect_class, generate, schema_key, shape_lengths

__all__ = [
    "RulePredicate",
    "compile_predicate",
    "contacts_table",
    "members_select",
    "to_sqlalchemy",
]

_T = InternalTraversal


class _Driver(sa.types.TypeDecorator[Any]):
    """The type of one rendered parameter: computes the driver value from the raw shape
    parameter (one element of it for an expanded list) with the dialect's conversion."""

    impl = sa.types.NullType
    cache_ok = True

    def __init__(self, bind: Bind) -> None:
        super().__init__()
        self.bind = bind

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        b = self.bind
        return b.convert(value if b.item is None else value[b.item])


class _HashedKey:
    """A cache-key part hashed once: SQLAlchemy hashes a statement's key on every
    execution, and a rule tree's hash walks the whole tree."""

    __slots__ = ("hash", "key")

    def __init__(self, key: tuple[Any, ...]) -> None:
        self.key = key
        self.hash = hash(key)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _HashedKey) and self.hash == other.hash and self.key == other.key


# The type of the shape's own parameters (never rendered: derived ones are). One shared
# instance: a type's cache key is computed once per instance, and per parameter it was
# most of a cached statement's key.
_RAW = sa.types.NullType()


class RulePredicate(ColumnElement[bool]):
    """A bound rule as a SQLAlchemy boolean expression, rendered by segmentkit's compiler
    for whatever dialect SQLAlchemy compiles it with."""

    __visit_name__ = "segmentkit_rule"
    inherit_cache = True
    type = sa.Boolean()
    _is_implicitly_boolean = True
    _traverse_internals = [  # noqa: RUF012
        ("shape_key", _T.dp_plain_obj),
        ("binds", _T.dp_clauseelement_tuple),
    ]

    def __init__(
        self,
        schema: Schema,
        tree: p.Predicate,
        values: tuple[Any, ...],
        segments: SegmentTable | None,
    ) -> None:
        self.schema = schema
        self.tree = tree
        self.segments = segments
        # The cache key: what decides the text (never the values).
        self.shape_key = _HashedKey((tree, shape_lengths(values), schema_key(schema), segments))
        self.binds = tuple(sa.bindparam(None, v, type_=_RAW, unique=True) for v in values)

    @property
    def values(self) -> tuple[Any, ...]:
        return tuple(b.value for b in self.binds)

    @property
    def _from_objects(self) -> list[FromClause]:
        # The rule reads the contacts table: a SELECT without a FROM gets it.
        return [contacts_table(self.schema)]

    def self_group(self, against: Any = None) -> ColumnElement[Any]:
        # The rendered text may be an OR/AND chain: group it under any operator but
        # WHERE's own boolean context.
        if against is None or against is operators._asbool:
            return self
        return Grouping(self)


def _derived(original: sa.BindParameter[Any], bind: Bind) -> sa.BindParameter[Any]:
    # A new parameter whose value is the original's at execution: SQLAlchemy relates
    # parameters of a cached statement to a new statement's through their clone lineage
    # (``_cloned_set``), so marking it a clone of the original makes a statement-cache
    # hit bind the new statement's values. tests/test_sqlalchemy.py checks this.
    derived = sa.bindparam(None, original.value, type_=_Driver(bind), unique=True)
    derived._is_clone_of = original
    return derived


@compiles(RulePredicate)
def _render(element: RulePredicate, compiler: SQLCompiler, **kw: Any) -> str:
    cls = dialect_class(compiler.dialect)
    if kw.get("literal_binds"):
        inline = cls(element.schema, element.values, inline=True, segments=element.segments)
        return _generate_inline(cls, inline.where(element.tree))
    percent = compiler.dialect.paramstyle in ("format", "pyformat")
    compiled = compile_shape(
        cls,
        element.schema,
        element.tree,
        element.values,
        False,
        element.segments,
        style="marker",
        percent=percent,
    )
    parts = compiled.text.split(MARKER)
    # parts alternate text, placeholder index, text, ...
    with paused_gc():
        for i in range(1, len(parts), 2):
            b = compiled.binds[int(parts[i])]
            parts[i] = compiler.process(_derived(element.binds[b.slot], b), **kw)
    return "".join(parts)


def _generate_inline(cls: type[Compiler], tree: Any) -> str:
    return generate(cls, tree, bound=False)[0]


# --------------------------------------------------------------------------- tables
_tables: weakref.WeakKeyDictionary[Schema, FromClause] = weakref.WeakKeyDictionary()

_COLUMN_TYPES: dict[FieldType, Callable[[], sa.types.TypeEngine[Any]]] = {
    FieldType.STRING: sa.String,
    FieldType.INTEGER: sa.BigInteger,
    FieldType.DECIMAL: sa.Numeric,
    FieldType.FLOAT: sa.Double,
    FieldType.BOOLEAN: sa.Boolean,
    FieldType.DATE: sa.Date,
}


def _column_type(f: Field) -> sa.types.TypeEngine[Any]:
    if f.type is FieldType.TAGS:
        return sa.ARRAY(sa.String()) if f.tags is TagStorage.ARRAY else sa.JSON()
    if f.type is FieldType.DATETIME:
        return sa.DateTime(timezone=not f.naive)
    return _COLUMN_TYPES[f.type]()


def _quoted(name: str) -> quoted_name:
    return quoted_name(name, True)


def contacts_table(schema: Schema) -> FromClause:
    """The schema's table: its SQLAlchemy ``Table``, or a lightweight ``table()`` construct."""
    if schema.sa_table is not None:
        return schema.sa_table
    table = _tables.get(schema)
    if table is None:
        # Identifiers are always quoted (SEMANTICS §7): a dialect's reserved-word list
        # may be incomplete (DuckDB's ``at``), and names may be mixed-case.
        cols: list[sa.ColumnClause[Any]] = [sa.column(_quoted(schema.key))]
        seen = {schema.key}
        for f in schema:
            if isinstance(f.tags, ChildTable) or f.column_name in seen:
                continue
            seen.add(f.column_name)
            cols.append(sa.column(_quoted(f.column_name), _column_type(f)))
        table = sa.table(_quoted(schema.table), *cols, schema=schema.table_schema)
        _tables[schema] = table
    return table


# --------------------------------------------------------------------------- entry
def compile_predicate(
    predicate: p.Predicate, schema: Schema, *, segments: SegmentTable | None = None
) -> RulePredicate:
    """The SQLAlchemy view of a bound primitive tree (see :mod:`segmentkit.primitives`)."""
    tree, values = p.shape(predicate)
    return RulePredicate(schema, tree, values, segments)


def to_sqlalchemy(
    rule: Any,
    schema: Schema,
    now: dt.datetime | None = None,
    *,
    segments: SegmentTable | None = None,
) -> RulePredicate:
    """Validate and bind ``rule``, then return it as a SQLAlchemy boolean expression.

    The expression renders through segmentkit's SQL compiler for the dialect it is
    compiled with (SQLite, PostgreSQL, MariaDB, MySQL, DuckDB, SQL Server, and the
    warehouse dialects that have a SQLAlchemy dialect), every value a bound parameter.
    ``segments`` describes the membership table for ``{"segment": id}`` references
    (``SegmentTable.from_store(tables)`` for the store's). Raises ``RuleError`` for an
    invalid rule; ``UnsupportedError`` for a construct the dialect cannot express
    faithfully is raised when the expression is compiled.
    """
    from ..bind import BoundRule, bind

    bound = rule if isinstance(rule, BoundRule) else bind(rule, schema, now=now)
    tree, values = bound.shaped()
    return RulePredicate(schema, tree, values, segments)


def members_select(
    rule: Any,
    schema: Schema,
    now: dt.datetime | None = None,
    *,
    segments: SegmentTable | None = None,
) -> Select[Any]:
    """``SELECT key FROM table WHERE <rule>``: the keys of the matching contacts."""
    where = to_sqlalchemy(rule, schema, now, segments=segments)
    table = contacts_table(schema)
    return sa.select(table.c[schema.key]).where(where)
