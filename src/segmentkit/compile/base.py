"""The SQL compiler's base: how each predicate primitive becomes a sqlglot tree.

This is the one place for the semantics every dialect shares (SEMANTICS.md as SQL:
two-valued logic, NULL guards of negated leaves, event subqueries, segment
references, parameters). As in ibis, each dialect family is a small subclass in a
module of its own (``compile/postgres.py``, ``mysql.py``, ``sqlite.py``, ``duckdb.py``,
``bigquery.py``, ``snowflake.py``, ``spark.py``, ``trino.py``, ``tsql.py``) that sets
its tables — paramstyle, function names, lower-casing, :attr:`Compiler.UNSUPPORTED` —
and overrides methods only where its SQL truly differs. Anything a dialect cannot
express faithfully raises :class:`~segmentkit.errors.UnsupportedError` naming the
construct and the dialect, never approximate SQL. ``compile/dialects.py`` is the
registry; ``compile/sql.py`` renders (SQL text) and ``compile/sqlalchemy.py`` is the
SQLAlchemy view of the same classes.

Trees are built directly from sqlglot expression classes; no SQL text is parsed.
Functions whose sqlglot expression renders differently (or not at all) on some
engine are written as explicit ``exp.Anonymous`` calls in the dialect that uses
them, so what each dialect emits is visible here.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Literal, NoReturn, Protocol

from sqlglot import exp

from .. import primitives as p
from ..errors import UnsupportedError
from ..schema import ChildTable, EventSource, Field, Schema, TagStorage
from ..types import FieldType

__all__ = [
    "COUNT_COMPLEMENT",
    "AsBlob",
    "Bind",
    "Compiler",
    "ParamStyle",
    "Regexp",
    "SegmentTable",
    "Verbatim",
    "event_form",
    "event_time_aware",
    "identity",
    "successor",
]

ParamStyle = Literal["pyformat", "named", "numeric", "at", "qmark"]

# SQLAlchemy's storage format for DATETIME on SQLite (always six fractional digits):
# bound datetimes must be text in exactly this form to compare correctly as text.
SQLITE_DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_UTC = dt.UTC

# Aliases of the rows inside EXISTS subqueries (child-table tags, JSON elements).
# Outer columns are qualified by the contact table's name, so an alias must differ
# from it: :meth:`Compiler.alias` appends underscores until it does.
_CHILD_ALIAS = "sk_tag"
_JSON_ALIAS = "sk_json"
# Aliases of the events table (event conditions) and of the membership table
# (segment references) inside their correlated subqueries.
_EVENT_ALIAS = "sk_event"
_MEMBER_ALIAS = "sk_member"


@dataclass(frozen=True, slots=True)
class SegmentTable:
    """Where current segment memberships live, for segment references in SQL text.

    A row ``(segment_column, key_column)`` says the contact is a member of the segment.
    ``member_column`` names a boolean column that must be true for the row to count
    (the store keeps rows of manually excluded contacts with ``member`` false);
    ``schema`` is the database schema of the table. :meth:`from_store` describes the
    segment store's own members table.
    """

    table: str
    segment_column: str = "segment_id"
    key_column: str = "contact_key"
    member_column: str | None = None
    schema: str | None = None

    @classmethod
    def from_store(cls, tables: StoreTables) -> SegmentTable:
        """The segment store's members table (``tables``: the store's ``Store.tables`` or
        ``make_tables(...)``): rows with ``member`` true are the current members.

        The store hands its tables in; the compiler knows nothing of the store."""
        members = tables.members
        return cls(members.name, "segment_id", "contact_key", "member", members.schema)


class StoreTables(Protocol):
    """What :meth:`SegmentTable.from_store` reads of the store's tables."""

    @property
    def members(self) -> Any: ...


EventForm = Literal["exists", "absent", "count"]

COUNT_COMPLEMENT = {"eq": "ne", "ne": "eq", "lt": "ge", "ge": "lt", "le": "gt", "gt": "le"}


def event_form(op: str, count: int) -> EventForm | bool:
    """The cheapest form of ``COUNT op count`` over counts >= 0 (a bool: constant)."""
    exists: EventForm = "exists"
    absent: EventForm = "absent"
    table: dict[str, tuple[int, bool | EventForm, int, bool | EventForm]] = {
        # op: (boundary, below/at-boundary result, next, at-next result)
        "ge": (0, True, 1, exists),
        "gt": (-1, True, 0, exists),
        "le": (-1, False, 0, absent),
        "lt": (0, False, 1, absent),
        "ne": (-1, True, 0, exists),
        "eq": (-1, False, 0, absent),
    }
    boundary, low, nxt, at_next = table[op]
    if count <= boundary:
        return low
    if count == nxt:
        return at_next
    return "count"


def event_time_aware(source: EventSource) -> bool:
    """Whether the event time column holds instants (a zone-aware SQLAlchemy column).

    Without a SQLAlchemy table, or for a ``DateTime`` without ``timezone=True``, event
    times are naive wall time in the contact schema's zone (UTC unless declared), as
    the Python evaluator reads them.
    """
    if source.sa_table is None or source.time not in source.sa_table.c:
        return False
    return bool(getattr(source.sa_table.c[source.time].type, "timezone", False))


@dataclass(frozen=True, slots=True)
class Bind:
    """One bound parameter: the shape slot (and list element) feeding it, and how to
    make the driver value from it."""

    slot: int
    item: int | None
    convert: Callable[[Any], Any]

    def value(self, values: Sequence[Any]) -> Any:
        v = values[self.slot]
        return self.convert(v if self.item is None else v[self.item])

    def getter(self) -> Callable[[Sequence[Any]], Any]:
        """A fast ``values -> driver value`` (C-level for the common unconverted slot)."""
        if self.item is None and self.convert is identity:
            return operator.itemgetter(self.slot)
        return self.value


class Regexp(exp.Expression, exp.Binary, exp.Predicate):
    """``this REGEXP expression`` (MariaDB has no ``REGEXP_LIKE``; sqlglot's
    ``RegexpLike`` renders that function name for MySQL)."""


class AsBlob(exp.Expression):
    """``CAST(this AS BLOB)`` (SQLite), rendered directly: sqlglot's SQLite ``cast_sql``
    inspects the target type on every call and was most of a cold SQLite compile."""

    arg_types = {"this": True}  # noqa: RUF012


class AsBinary(exp.Expression):
    """``CONVERT(this, BINARY)`` (MySQL/MariaDB: the UTF-8 bytes), rendered directly."""

    arg_types = {"this": True}  # noqa: RUF012


class ToUtf8mb4(exp.Expression):
    """``CONVERT(this USING utf8mb4)`` (MySQL/MariaDB), rendered directly (a sqlglot
    ``Cast`` to a character set is several times slower to generate)."""

    arg_types = {"this": True}  # noqa: RUF012


class Verbatim(exp.Expression):
    """SQL text written as it is: a literal form sqlglot has no node for (``E'...'``,
    ``_utf8mb4 X'...'``). Only the compiler builds these, from values it escaped."""

    arg_types = {"this": True}  # noqa: RUF012


@functools.lru_cache(maxsize=4096)
def _ident(name: str) -> exp.Identifier:
    # Quoted identifiers are leaves that render the same under any parent, so one
    # node per name is shared (building sqlglot nodes dominates compile time).
    return exp.Identifier(this=name, quoted=True)


def _fn(name: str, *args: exp.Expression) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _num(value: int) -> exp.Expression:
    return exp.Literal.number(value)


@functools.cache
def _dtype_proto(name: str, dialect: str | None) -> exp.DataType:
    return exp.DataType.build(name, dialect=dialect)


def _dtype(name: str, dialect: str | None = None) -> exp.DataType:
    # DataType.build parses its text: build each type once, hand out copies.
    return _dtype_proto(name, dialect).copy()


def _cast(e: exp.Expression, name: str, dialect: str | None = None) -> exp.Cast:
    return exp.Cast(this=e, to=_dtype(name, dialect))


def _number_text(text: str) -> exp.Expression:
    # exp.Literal.number() negates through Decimal arithmetic, which rounds to 28
    # significant digits: build the literal from the exact text instead.
    if text.startswith("-"):
        return exp.Neg(this=exp.Literal(this=text[1:], is_string=False))
    return exp.Literal(this=text, is_string=False)


def _paren(e: exp.Expression) -> exp.Expression:
    return e if isinstance(e, exp.Paren) else exp.Paren(this=e)


def _copy(e: exp.Expression) -> exp.Expression:
    return e.copy()


_OPS: dict[str, type[exp.Expression]] = {
    "eq": exp.EQ,
    "lt": exp.LT,
    "le": exp.LTE,
    "gt": exp.GT,
    "ge": exp.GTE,
    "ne": exp.NEQ,
}


# The constructs a dialect may lack: the keys of Compiler.UNSUPPORTED.
STRING_ORDER = "string ordering"
CASE_INSENSITIVE = "case-insensitive comparison"
REGEX = "regular-expression match"
ARRAY_TAGS = "tags stored as an array"
JSON_TAGS = "tags stored as a JSON array"
LONG_LISTS = "IN lists over the parameter limit"
CONSTRUCTS = (STRING_ORDER, CASE_INSENSITIVE, REGEX, ARRAY_TAGS, JSON_TAGS, LONG_LISTS)

_COUNT_HOLDS: dict[str, Callable[[int, int], bool]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}

_NO_SCHEMA = Schema([], table="sk_statement", key="sk_key")


class Compiler:
    """Base compiler: primitives -> sqlglot expressions, ANSI-ish.

    One instance compiles one (shaped) tree. ``values`` are the shape's parameters.
    In *bound* mode every parameter becomes a placeholder ``p<i>`` and a
    :class:`Bind` telling how to compute its driver value from the parameters (only
    the lengths of list parameters shape the text: they are part of the cache key);
    in *inline* mode parameters become literals escaped by sqlglot for the dialect.
    """

    #: segmentkit's name for the dialect (``to_sql(dialect=...)``).
    name: ClassVar[str] = ""
    #: sqlglot's name for the dialect.
    sqlglot_dialect: ClassVar[str] = ""
    paramstyle: ClassVar[ParamStyle] = "named"
    #: the Python driver whose paramstyle is used (documentation only).
    driver: ClassVar[str] = ""
    #: booleans bound and written as 1/0 (SQLite, MySQL, T-SQL ``bit``).
    bool_as_int: ClassVar[bool] = False
    #: datetimes of zone-aware fields bound as naive UTC wall time (engines whose
    #: DATETIME has no zone: SQLite, MySQL).
    aware_as_naive_utc: ClassVar[bool] = False
    #: datetimes and dates bound as text in SQLAlchemy's storage format (SQLite).
    temporal_as_text: ClassVar[bool] = False
    #: an IN list longer than this is compiled by :meth:`in_large` (one array or
    #: JSON parameter where the dialect can, so no parameter limit is reached).
    large_in: ClassVar[int] = 1000
    #: SQL type names for casts of naive / aware datetimes.
    naive_timestamp: ClassVar[str] = "TIMESTAMP"
    aware_timestamp: ClassVar[str] = "TIMESTAMPTZ"

    def __init__(
        self,
        schema: Schema | None,
        values: Sequence[Any],
        *,
        inline: bool = False,
        segments: SegmentTable | None = None,
    ) -> None:
        # Without a schema the compiler serves statements of their own
        # (``compile.sql.render_statement``): parameters and dialect knowledge only.
        schema = schema if schema is not None else _NO_SCHEMA
        self.schema = schema
        self.values = values
        self.inline = inline
        self.segments = segments
        self.binds: list[Bind] = []
        self._table = exp.Table(
            this=_ident(schema.table),
            db=_ident(schema.table_schema) if schema.table_schema else None,
        )
        # What columns are qualified by: the table (an alias inside an event subquery).
        self._qualifier = schema.table
        self._qualifier_db: str | None = schema.table_schema
        # Names a subquery alias must not take (they qualify columns of outer rows).
        self._reserved: frozenset[str] = frozenset({schema.table})
        self._in_event = False

    # ------------------------------------------------------------------ entry
    def where(self, pred: p.Predicate) -> exp.Expression:
        return self.pred(pred)

    def select(self, pred: p.Predicate) -> exp.Select:
        key = self.key_column()
        return (
            exp.Select(expressions=[key])
            .from_(self._table.copy(), copy=False)
            .where(self.pred(pred), copy=False)
        )

    #: constructs this dialect cannot express faithfully, and why. The keys are the
    #: rows of the support matrix in docs/sql.md (``dialects.support_matrix``).
    UNSUPPORTED: ClassVar[dict[str, str]] = {}

    def unsupported(self, construct: str, reason: str = "") -> NoReturn:
        raise UnsupportedError(construct, self.name, reason or self.UNSUPPORTED.get(construct, ""))

    def require(self, construct: str) -> None:
        """Refuse ``construct`` here if this dialect's :attr:`UNSUPPORTED` lists it."""
        if construct in self.UNSUPPORTED:
            self.unsupported(construct)

    # ---------------------------------------------------------------- columns
    def alias(self, base: str) -> exp.Identifier:
        name = base
        while name in self._reserved:
            name += "_"
        return _ident(name)

    def column(self, f: Field) -> exp.Column:
        return exp.Column(
            this=_ident(f.column_name),
            table=_ident(self._qualifier),
            db=_ident(self._qualifier_db) if self._qualifier_db else None,
        )

    def key_column(self) -> exp.Column:
        key = self.schema.key
        name = self.schema.fields[key].column_name if key in self.schema.fields else key
        return exp.Column(
            this=_ident(name),
            table=_ident(self._qualifier),
            db=_ident(self._qualifier_db) if self._qualifier_db else None,
        )

    # ------------------------------------------------------------- parameters
    def bind(
        self, slot: int, convert: Callable[[Any], Any], item: int | None = None
    ) -> exp.Expression:
        """A parameter: a placeholder (bound mode) or a literal (inline mode)."""
        b = Bind(slot, item, convert)
        if self.inline:
            return self.literal(b.value(self.values))
        self.binds.append(b)
        return exp.Placeholder(this=f"p{len(self.binds) - 1}")

    def param(self, index: int, ftype: FieldType, f: Field | None = None) -> exp.Expression:
        """A placeholder for ``values[index]``, a value of ``ftype`` (of field ``f``)."""
        return self.bind(index, self.driver_value(ftype, f))

    def driver_value(self, ftype: FieldType, f: Field | None) -> Callable[[Any], Any]:
        """How a coerced value of ``ftype`` (of field ``f``) is handed to the driver."""
        if ftype is FieldType.BOOLEAN and self.bool_as_int:
            return int
        if ftype is FieldType.DATETIME:
            naive = f is None or f.naive
            zone = self.schema.zone_of(f) if f is not None else _UTC
            as_text = self.temporal_as_text

            def convert(v: dt.datetime) -> Any:
                if naive:
                    v = v.astimezone(zone).replace(tzinfo=None)
                elif self.aware_as_naive_utc:
                    v = v.astimezone(_UTC).replace(tzinfo=None)
                return v.strftime(SQLITE_DATETIME_FORMAT) if as_text else v

            return convert
        if ftype is FieldType.DATE and self.temporal_as_text:
            return dt.date.isoformat
        return identity

    def literal(self, value: Any) -> exp.Expression:
        """A literal for a driver value (inline mode), escaped by sqlglot for the dialect."""
        if isinstance(value, bool):
            return exp.true() if value else exp.false()
        if isinstance(value, int | float):
            return _number_text(repr(value) if isinstance(value, float) else str(value))
        if isinstance(value, Decimal):
            return self.decimal_literal(value)
        if isinstance(value, str):
            return exp.Literal.string(value)
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                return _cast(
                    exp.Literal.string(value.isoformat(sep=" ", timespec="microseconds")),
                    self.naive_timestamp,
                    self.sqlglot_dialect,
                )
            text = value.astimezone(_UTC).isoformat(sep=" ", timespec="microseconds")
            return _cast(exp.Literal.string(text), self.aware_timestamp, self.sqlglot_dialect)
        if isinstance(value, dt.date):
            return _cast(exp.Literal.string(value.isoformat()), "DATE")
        if isinstance(value, list | tuple):
            return exp.Array(expressions=[self.literal(v) for v in value])
        raise TypeError(f"cannot write {type(value).__name__} as a SQL literal")  # pragma: no cover

    def decimal_literal(self, value: Decimal) -> exp.Expression:
        # Positional notation: '1E+2' would be a float literal on most engines.
        return _number_text(format(value, "f"))

    def scalar(self, param: p.Param, f: Field | None) -> exp.Expression:
        return self.bind(param.value.index, self.driver_value(param.type, f))

    def items(
        self, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> list[exp.Expression]:
        """One parameter per element of a list slot (``slots`` is ``(Slot,)``)."""
        (s,) = slots
        one = self.driver_value(ftype, f)
        return [self.bind(s.index, one, k) for k in range(len(self.values[s.index]))]

    def list_len(self, slots: tuple[Any, ...]) -> int:
        (s,) = slots
        return len(self.values[s.index])

    # ------------------------------------------------------------------ logic
    #: an AND/OR of more operands than this is written as nested parenthesised groups:
    #: engines parse a flat chain as a left-deep tree, and SQLite (parser depth 1000)
    #: and DuckDB (expression depth 1000) refuse one of a thousand conditions.
    chain_group: ClassVar[int] = 32

    def pred(self, node: p.Predicate) -> exp.Expression:
        if isinstance(node, p.And | p.Or):
            if not node.items:
                return self.const(isinstance(node, p.And))
            items = node.items
            grouped: list[exp.Expression] = []
            if not self._in_event and len(items) >= self.event_group:
                found = [(i, self.needs_an_event(i)) for i in items]
                leaves = [f for _, f in found if f is not None]
                if len(leaves) >= self.event_group:
                    size = self.event_group_size
                    grouped = [
                        self.grouped_events(leaves[i : i + size], isinstance(node, p.And))
                        for i in range(0, len(leaves), size)
                    ]
                    items = tuple(i for i, f in found if f is None)
            if isinstance(node, p.Or):
                parts = grouped + self.or_parts(items)
            else:
                parts = grouped + [self.operand(i) for i in items]
            return self.chain(exp.And if isinstance(node, p.And) else exp.Or, parts)
        if isinstance(node, p.Const):
            return self.const(node.value)
        if isinstance(node, p.Not):
            item = node.item
            if isinstance(item, p.EventCount):  # the complement is folded into the count
                return self.event_count(item, negated=True)
            if isinstance(item, p.InSegment):
                return self.in_segment(item, negated=True)
            return self.negated(item)
        return self.leaf(node)

    def operand(self, node: p.Predicate) -> exp.Expression:
        return _paren(self.pred(node)) if isinstance(node, p.And | p.Or) else self.pred(node)

    def chain(self, cls: Any, parts: list[exp.Expression]) -> exp.Expression:
        """``parts`` joined by ``cls``: flat up to :attr:`chain_group`, else as a balanced
        nesting of parenthesised groups (depth logarithmic in the number of parts)."""
        size = self.chain_group
        if len(parts) > size:
            groups = [
                _paren(self.chain(cls, parts[i : i + size])) for i in range(0, len(parts), size)
            ]
            return self.chain(cls, groups)
        out: exp.Expression = parts[0]
        for part in parts[1:]:
            out = cls(this=out, expression=part)
        return out

    def or_parts(self, items: tuple[p.Predicate, ...]) -> list[exp.Expression]:
        """The operands of an OR, where equalities of one field with a value become one
        ``IN`` list (a long OR of one field plans as one list lookup, not N scans)."""

        def equality(item: p.Predicate) -> p.Value | None:
            if (
                isinstance(item, p.Compare)
                and item.op == "eq"
                and isinstance(item.right, p.Param)
                and item.left.type is not FieldType.TAGS
            ):
                return item.left
            return None

        groups: dict[p.Value, list[p.Param]] = {}
        for item in items:
            key = equality(item)
            if key is not None:
                groups.setdefault(key, []).append(item.right)  # type: ignore[union-attr,arg-type]
        parts: list[exp.Expression] = []
        done: set[p.Value] = set()
        for item in items:
            key = equality(item)
            group = groups[key] if key is not None else []
            if key is None or len(group) < 2 or len(group) > self.large_in:
                parts.append(self.operand(item))
            elif key not in done:
                done.add(key)
                parts.append(self.equal_any(key, group))
        return parts

    def equal_any(self, left: p.Value, params: list[p.Param]) -> exp.Expression:
        f = self.field_of(left)
        operand = self.value(left)
        values = [self.scalar(param, f) for param in params]
        if left.type is FieldType.STRING:
            return self.str_in(operand, values, isinstance(left, p.FieldRef))
        return exp.In(this=operand, expressions=values)

    def const(self, value: bool) -> exp.Expression:
        return exp.true() if value else exp.false()

    def negated(self, leaf: p.Leaf) -> exp.Expression:
        """Exact complement: ``(NOT p OR x IS NULL ...)`` for every nullable input."""
        inner = exp.Not(this=_paren(self.leaf(leaf)))
        nullable = p.nullable_inputs(leaf)
        if not nullable:
            return inner
        out: exp.Expression = inner
        seen: set[str] = set()
        for ref in nullable:
            if ref.field.name in seen:
                continue
            seen.add(ref.field.name)
            out = exp.Or(
                this=out, expression=exp.Is(this=self.column(ref.field), expression=exp.Null())
            )
        return exp.Paren(this=out)

    def leaf(self, leaf: p.Leaf) -> exp.Expression:
        match leaf:
            case p.IsNull(operand=o):
                return self.is_null(o.field)
            case p.Compare():
                return self.compare(leaf)
            case p.InList():
                return self.in_list(leaf)
            case p.Contains(operand=o, needle=n):
                return self.contains(self.value(o), self.value(n))
            case p.Prefix(operand=o, needle=n):
                return self.prefix_of(self.value(o), n)
            case p.Suffix(operand=o, needle=n):
                return self.suffix(self.value(o), self.value(n))
            case p.Matches(operand=o, pattern=pat):
                return self.matches(self.value(o), pat)
            case p.TagsAny(operand=o, values=vals):
                return self.tags_any(o.field, vals)
            case p.TagsEmpty(operand=o):
                return self.tags_empty(o.field)
            case p.InSegment() if self._in_event:
                # A where over event fields is about an event, not a contact.
                self.unsupported("segment reference inside an event condition's where")
            case p.InSegment():
                return self.in_segment(leaf, negated=False)
            case p.EventCount():
                return self.event_count(leaf, negated=False)
        raise TypeError(f"not a primitive: {leaf!r}")  # pragma: no cover

    # ----------------------------------------------------- events and segments
    def _and_all(self, conds: list[exp.Expression]) -> exp.Expression:
        out = conds[0]
        for c in conds[1:]:
            out = exp.And(this=out, expression=_paren(c) if isinstance(c, exp.Or) else c)
        return out

    def event_count(self, node: p.EventCount, *, negated: bool) -> exp.Expression:
        """A correlated subquery over the contact's events: ``EXISTS``, ``NOT EXISTS``,
        or ``(SELECT COUNT(*) ...) op count`` (a negation folded into the comparison).

        ``node`` is shaped: its event name and window bounds are slots."""
        op = COUNT_COMPLEMENT[node.op] if negated else node.op
        count: Any = node.count
        form = "count" if isinstance(count, p.Slot) else event_form(op, count)
        if isinstance(form, bool):
            return self.const(form)
        table, alias, col = self.events_table()
        source = self.schema.events
        assert source is not None
        conds = [
            exp.EQ(this=col(source.key), expression=self.key_column()),
            *self.event_filter(node, alias, col),
        ]
        if form == "count":
            sub = (
                exp.Select(expressions=[exp.Count(this=exp.Star())])
                .from_(table, copy=False)
                .where(self._and_all(conds), copy=False)
            )
            bound = self.bind(count.index, identity) if isinstance(count, p.Slot) else _num(count)
            return _OPS[op](this=exp.Subquery(this=sub), expression=bound)
        sub = (
            exp.Select(expressions=[_num(1)])
            .from_(table, copy=False)
            .where(self._and_all(conds), copy=False)
        )
        found = exp.Exists(this=sub)
        return found if form == "exists" else exp.Not(this=found)

    def events_table(
        self,
    ) -> tuple[exp.Table, exp.Identifier, Callable[[str], exp.Column]]:
        """The event source's table under the event alias, and its column maker."""
        source = self.schema.events
        if source is None:
            self.unsupported("event condition", "the schema declares no event source")
        if self._in_event:  # pragma: no cover - bind gives an event schema no events
            self.unsupported("event condition inside an event condition")
        alias = self.alias(_EVENT_ALIAS)
        db = source.table_schema
        table = exp.Table(
            this=_ident(source.table),
            db=_ident(db) if db else None,
            alias=exp.TableAlias(this=alias),
        )

        def col(name: str) -> exp.Column:
            if source.sa_table is not None and name not in source.sa_table.c:
                self.unsupported(
                    "event condition", f"events table {source.table!r} has no column {name!r}"
                )
            return exp.Column(this=_ident(name), table=alias)

        return table, alias, col

    def event_filter(
        self, node: p.EventCount, alias: exp.Identifier, col: Callable[[str], exp.Column]
    ) -> list[exp.Expression]:
        """What makes an event row count for ``node``: its name, window and ``where``."""
        source = self.schema.events
        assert source is not None
        conds: list[exp.Expression] = [
            self.str_eq(col(source.name), self.bind(_index(node.event), identity), True)
        ]
        # The time column has no Field: read like a datetime field of the contact
        # schema (naive wall time in its zone, or instants when the column is aware),
        # exactly as the Python evaluator reads event times.
        when = Field(source.time, FieldType.DATETIME, naive=not event_time_aware(source))
        to_driver = self.driver_value(FieldType.DATETIME, when)
        if node.since is not None:
            conds.append(
                exp.GTE(this=col(source.time), expression=self.bind(_index(node.since), to_driver))
            )
        if node.until is not None:
            conds.append(
                exp.LTE(this=col(source.time), expression=self.bind(_index(node.until), to_driver))
            )
        if node.where != p.Const(True):
            conds.append(self.event_where(source, alias, node.where))
        return conds

    #: an AND/OR with at least this many event conditions that no contact without
    #: events satisfies counts them in one pass: PostgreSQL (JIT on) took over a minute
    #: and DuckDB 17 s for an OR of 250 correlated subqueries on 2,000 contacts.
    event_group: ClassVar[int] = 8
    #: at most this many in one grouped pass (SQLite allows 2,000 aggregate terms; MariaDB
    #: failed on 2,500 in one statement's temporary table); more make several.
    event_group_size: ClassVar[int] = 200

    def needs_an_event(self, node: p.Predicate) -> tuple[p.EventCount, str] | None:
        """``(leaf, comparison)`` when ``node`` is an event condition that a contact
        with no such event never satisfies (so a semi-join over events can decide it)."""
        negated = isinstance(node, p.Not)
        leaf = node.item if isinstance(node, p.Not) else node
        if not isinstance(leaf, p.EventCount):
            return None
        op = COUNT_COMPLEMENT[leaf.op] if negated else leaf.op
        count = leaf.count
        n = self.values[count.index] if isinstance(count, p.Slot) else count
        zero_holds = _COUNT_HOLDS[op](0, n)
        return None if zero_holds else (leaf, op)

    def grouped_events(self, leaves: list[tuple[p.EventCount, str]], conj: bool) -> exp.Expression:
        """``key IN (SELECT key FROM events WHERE <any leaf's rows> GROUP BY key HAVING
        <each leaf's count op n, joined by AND/OR>)``: one pass over the events for many
        conditions. A contact with no counted event is left out, as each leaf requires."""
        source = self.schema.events
        table, alias, col = self.events_table()
        assert source is not None
        rows = [_paren(self._and_all(self.event_filter(leaf, alias, col))) for leaf, _ in leaves]
        tests = []
        for leaf, op in leaves:
            counted = self._and_all(self.event_filter(leaf, alias, col))
            n = exp.Count(this=exp.Case(ifs=[exp.If(this=counted, true=_num(1))]))
            count: Any = leaf.count
            bound = self.bind(count.index, identity) if isinstance(count, p.Slot) else _num(count)
            tests.append(_OPS[op](this=n, expression=bound))
        key = col(source.key)
        where = exp.And(
            this=exp.Not(this=exp.Is(this=key, expression=exp.Null())),
            expression=_paren(self.chain(exp.Or, rows)),
        )
        sub = (
            exp.Select(expressions=[key.copy()])
            .from_(table, copy=False)
            .where(where, copy=False)
            .group_by(key.copy(), copy=False)
            .having(self.chain(exp.And if conj else exp.Or, tests), copy=False)
        )
        return exp.In(this=self.key_column(), query=exp.Subquery(this=sub))

    def event_where(
        self, source: EventSource, alias: exp.Identifier, where: p.Predicate
    ) -> exp.Expression:
        """``where`` over the event source's fields, qualified by the event alias: the
        same compiler (and parameter list) for a schema of the event columns."""
        sub = type(self)(source.schema, self.values, inline=self.inline)
        sub.binds = self.binds
        sub._qualifier, sub._qualifier_db = alias.name, None
        sub._reserved = self._reserved | {alias.name, source.table}
        sub._in_event = True
        out = sub.pred(where)
        return _paren(out) if isinstance(out, exp.And | exp.Or) else out

    def in_segment(self, node: p.InSegment, *, negated: bool) -> exp.Expression:
        """``[NOT] EXISTS (SELECT 1 FROM members WHERE segment = :id AND key = contact
        key [AND member])``: NOT EXISTS is the exact complement even when the
        membership table holds NULL keys (``NOT IN`` would be NULL then)."""
        st = self.segments
        if st is None:
            self.unsupported(
                "segment reference",
                "pass segments=SegmentTable(...) describing the membership table "
                "(SegmentTable.from_store(store.tables) for the segment store's)",
            )
        alias = self.alias(_MEMBER_ALIAS)
        table = exp.Table(
            this=_ident(st.table),
            db=_ident(st.schema) if st.schema else None,
            alias=exp.TableAlias(this=alias),
        )
        segment = exp.Column(this=_ident(st.segment_column), table=alias)
        conds: list[exp.Expression] = [
            self.str_eq(segment, self.bind(_index(node.segment_id), identity), True),
            exp.EQ(
                this=exp.Column(this=_ident(st.key_column), table=alias),
                expression=self.key_column(),
            ),
        ]
        if st.member_column is not None:
            conds.append(
                exp.EQ(
                    this=exp.Column(this=_ident(st.member_column), table=alias),
                    expression=self.literal(True),
                )
            )
        sub = (
            exp.Select(expressions=[_num(1)])
            .from_(table, copy=False)
            .where(self._and_all(conds), copy=False)
        )
        found = exp.Exists(this=sub)
        return exp.Not(this=found) if negated else found

    # ----------------------------------------------------------------- values
    def value(self, v: p.Value, other: Field | None = None) -> exp.Expression:
        if isinstance(v, p.Lower):
            self.require(CASE_INSENSITIVE)
        if isinstance(v, p.FieldRef):
            col = self.column(v.field)
            return self.text(col, v.field) if v.field.type is FieldType.STRING else col
        if isinstance(v, p.Lower):
            return self.lower_text(self.column(v.operand.field), v.operand.field)
        return self.scalar(v, other)

    # Strings compare by code point whatever collation the column declares (SEMANTICS
    # §1). ``text`` is where a dialect puts a string column under a code-point
    # collation; ``lower_text`` lowers it (in a collation whose lower() is right) and
    # puts the result under one.
    def text(self, col: exp.Expression, f: Field) -> exp.Expression:
        return col

    def lower_text(self, col: exp.Expression, f: Field) -> exp.Expression:
        return self.lower(col)

    def prefix_of(self, o: exp.Expression, needle: p.Value) -> exp.Expression:
        return self.prefix(o, self.value(needle))

    def _storage_zone(self, f: Field) -> str | None:
        return self.schema.zone_of(f).key if f.naive else None

    @staticmethod
    def field_of(v: p.Value) -> Field | None:
        if isinstance(v, p.FieldRef):
            return v.field
        if isinstance(v, p.Lower):
            return v.operand.field
        return None

    @staticmethod
    def type_of(v: p.Value) -> FieldType:
        return v.type

    # ----------------------------------------------------------------- leaves
    def is_null(self, f: Field) -> exp.Expression:
        if isinstance(f.tags, ChildTable):
            return exp.Not(this=self.child_exists(f, None))
        return exp.Is(this=self.column(f), expression=exp.Null())

    def compare(self, leaf: p.Compare) -> exp.Expression:
        if leaf.op != "eq" and leaf.left.type is FieldType.STRING:
            self.require(STRING_ORDER)
        a, b = self.field_of(leaf.left), self.field_of(leaf.right)
        if (
            a is not None
            and b is not None
            and a.type is FieldType.DATETIME
            and self._storage_zone(a) != self._storage_zone(b)
        ):
            self.unsupported(
                f"comparing datetime fields {a.name!r} and {b.name!r}",
                "they are stored in different zones (naive/aware)",
            )
        f = a or b
        left = self.value(leaf.left, f)
        right = self.value(leaf.right, f)
        if self.type_of(leaf.left) is FieldType.STRING:
            plain = isinstance(leaf.left, p.FieldRef) and isinstance(leaf.right, p.Param)
            if leaf.op == "eq":
                return self.str_eq(left, right, plain)
            return self.str_order(leaf.op, left, right)
        return _OPS[leaf.op](this=left, expression=right)

    def in_list(self, leaf: p.InList) -> exp.Expression:
        if not leaf.values or not self.list_len(leaf.values):
            return self.const(False)  # bind folds `in []`, but never emit `x IN ()`
        f = self.field_of(leaf.operand)
        operand = self.value(leaf.operand)
        if self.list_len(leaf.values) > self.large_in:
            return self.in_large(operand, leaf.values, leaf.type, f)
        items = self.items(leaf.values, leaf.type, f)
        if len(items) == 1:
            if leaf.type is FieldType.STRING:
                return self.str_eq(operand, items[0], isinstance(leaf.operand, p.FieldRef))
            return exp.EQ(this=operand, expression=items[0])
        if leaf.type is FieldType.STRING:
            return self.str_in(operand, items, isinstance(leaf.operand, p.FieldRef))
        return exp.In(this=operand, expressions=items)

    def in_large(
        self, operand: exp.Expression, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> exp.Expression:
        """A long IN list. Default: plain ``IN (...)`` (drivers that interpolate
        client-side have no parameter limit). Overridden where one parameter can
        carry the whole list."""
        items = self.items(slots, ftype, f)
        if ftype is FieldType.STRING:
            return self.str_in(operand, items, f is not None)
        return exp.In(this=operand, expressions=items)

    def list_param(
        self, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> exp.Expression:
        """A whole list slot as one list-valued parameter."""
        (s,) = slots
        one = self.driver_value(ftype, f)
        return self.bind(s.index, lambda vs: [one(v) for v in vs])

    def json_param(
        self, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> exp.Expression:
        """A whole list slot as one JSON-array text parameter."""
        (s,) = slots
        one = self.driver_value(ftype, f)

        def convert(vs: tuple[Any, ...]) -> str:
            return json.dumps([_jsonable(one(v)) for v in vs], ensure_ascii=False)

        return self.bind(s.index, convert)

    # Strings: by code point. The base assumes `=` and `<` already compare by code
    # point (binary/deterministic collations); dialects where they don't override.
    def str_eq(self, left: exp.Expression, right: exp.Expression, plain: bool) -> exp.Expression:
        return exp.EQ(this=left, expression=right)

    def str_in(
        self, operand: exp.Expression, items: list[exp.Expression], plain: bool
    ) -> exp.Expression:
        return exp.In(this=operand, expressions=items)

    def str_order(self, op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        return _OPS[op](this=left, expression=right)

    def lower(self, e: exp.Expression) -> exp.Expression:
        self.unsupported(CASE_INSENSITIVE)

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.GT(this=_fn("STRPOS", o, n), expression=_num(0))

    def prefix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("STARTS_WITH", o, n)

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("ENDS_WITH", o, n)

    # Regex: the pattern is rewritten per engine by segmentkit.regex at bind time.
    regex_name: ClassVar[str | None] = None

    def matches(self, subject: exp.Expression, pattern: p.Param) -> exp.Expression:
        from .. import regex

        self.require(REGEX)
        name = self.regex_name or self.name
        pat = self.bind(pattern.value.index, lambda v: regex.for_dialect(v, name))
        return self.regex_search(subject, pat)

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        self.unsupported(REGEX)

    # Tags.
    def tags_any(self, f: Field, slots: tuple[Any, ...]) -> exp.Expression:
        if not slots or not self.list_len(slots):
            return self.const(False)  # no tag to look for: never `IN ()`
        storage = f.tags
        if isinstance(storage, ChildTable):
            return self.child_exists(f, slots)
        if storage is TagStorage.ARRAY:
            return self.array_any(self.column(f), slots)
        return self.json_any(self.column(f), slots)

    def tags_empty(self, f: Field) -> exp.Expression:
        storage = f.tags
        if isinstance(storage, ChildTable):
            return self.const(False)  # no rows is NULL, never "present and empty"
        if storage is TagStorage.ARRAY:
            return exp.EQ(this=self.array_length(self.column(f)), expression=_num(0))
        return exp.EQ(this=self.json_length(self.column(f)), expression=_num(0))

    def tag_items(self, slots: tuple[Any, ...]) -> list[exp.Expression]:
        return self.items(slots, FieldType.STRING, None)

    def tag_member(
        self, value: exp.Expression, slots: tuple[Any, ...], plain: bool = False
    ) -> exp.Expression:
        """``value`` is one of the tags in ``slots`` (exact; one parameter when long).

        ``plain``: ``value`` is a stored column (a collation-level prefilter may help).
        """
        if self.list_len(slots) > self.large_in:
            return self.in_large(value, slots, FieldType.STRING, None)
        items = self.tag_items(slots)
        if len(items) == 1:
            return self.str_eq(value, items[0], plain)
        return self.str_in(value, items, plain)

    def array_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        self.unsupported(ARRAY_TAGS)

    def array_length(self, col: exp.Expression) -> exp.Expression:
        self.unsupported(ARRAY_TAGS)

    def json_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        self.unsupported(JSON_TAGS)

    def json_length(self, col: exp.Expression) -> exp.Expression:
        self.json_any(col, ())
        raise AssertionError  # pragma: no cover

    def child_exists(self, f: Field, slots: tuple[Any, ...] | None) -> exp.Expression:
        """``EXISTS (SELECT 1 FROM child AS sk_tag WHERE sk_tag.key = contact.key [AND value IN ...])``."""
        ct = f.tags
        assert isinstance(ct, ChildTable)
        if self._in_event:
            self.unsupported(
                "child-table tags in an event condition's where",
                "events have no key of their own to join a child table on",
            )
        db = ct.sa_table.schema if ct.sa_table is not None else None
        table = exp.Table(
            this=_ident(ct.table),
            db=_ident(db) if db else None,
            alias=exp.TableAlias(this=self.alias(_CHILD_ALIAS)),
        )
        key = exp.Column(this=_ident(ct.key), table=self.alias(_CHILD_ALIAS))
        cond: exp.Expression = exp.EQ(this=key, expression=self.key_column())
        if slots is not None:
            value = exp.Column(this=_ident(ct.value), table=self.alias(_CHILD_ALIAS))
            match_ = self.tag_member(value, slots, plain=True)
            cond = exp.And(
                this=cond, expression=_paren(match_) if isinstance(match_, exp.And) else match_
            )
        sub = exp.Select(expressions=[_num(1)]).from_(table, copy=False).where(cond, copy=False)
        return exp.Exists(this=sub)


def identity(v: Any) -> Any:
    return v


def _index(slot: Any) -> int:
    """The parameter index of a reference's value (``primitives.shape`` made it a slot)."""
    assert isinstance(slot, p.Slot), slot
    return slot.index


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (code points)."""
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        if last < 0x10FFFF:
            nxt = last + 1
            if 0xD800 <= nxt <= 0xDFFF:  # surrogates never occur in stored text
                nxt = 0xE000
            return "".join(chars) + chr(nxt)
    return None


def _successor_or_blob(prefix: str) -> str | bytes:
    upper = successor(prefix)
    return b"\xff" if upper is None else upper


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    return v


_SIMPLE_LOWER_FIXUPS = (("\u0130", "i"), ("\u03a3", "\u03c3"))


def _lower_full_to_simple(e: exp.Expression) -> exp.Expression:
    """LOWER for engines whose lower() is the *full* Unicode mapping (ICU/Java):
    it differs from the simple mapping only at U+0130 and the final-sigma rule, so
    map those two first (the trick ``types.simple_lower`` uses in Python)."""
    for src, dst in _SIMPLE_LOWER_FIXUPS:
        e = _fn("REPLACE", e, exp.Literal.string(src), exp.Literal.string(dst))
    return exp.Lower(this=e)
