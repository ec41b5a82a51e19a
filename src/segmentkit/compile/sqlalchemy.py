"""The SQLAlchemy backend: bound primitives -> a ``ColumnElement[bool]`` / member ``Select``.

This module owns the translation of :mod:`segmentkit.primitives` into SQLAlchemy Core
and every dialect difference that translation meets. Dialect knowledge lives in small
custom constructs (``sqlalchemy.ext.compiler``), one ``@compiles`` function per construct
and dialect, so a rule compiles to one dialect-neutral expression and each engine renders
what reproduces SEMANTICS.md on it:

======================  ==========================================================
construct               what differs per engine
======================  ==========================================================
``_StrCompare``         code-point equality/order: SQLite ``COLLATE BINARY``, PostgreSQL
                        ``COLLATE "C"`` for ranges, MariaDB/MySQL ``utf8mb4_nopad_bin``
``_Lower``              Unicode simple lowercase: SQLite registered ``sk_lower``, MariaDB
                        ``LOWER(... COLLATE utf8mb4_uca1400_ai_ci)``, else ``lower``
``_Text``               substring/prefix/suffix without LIKE wildcards
``_InList``             one bound list (array, JSON text) instead of N parameters;
                        MySQL: an expanding list (client-side interpolation)
``_TagsAny``            tag membership on arrays, JSON arrays and child tables
``_TagsEmpty``          an empty (non-NULL) tag set
``_Regex``              the portable regex subset (:mod:`segmentkit.regex`)
======================  ==========================================================

Event conditions (``EventCount``) become subqueries over the schema's ``EventSource``
correlated with the contact row, chosen exactly as the sqlglot backend chooses them
(``compile/dialects.py``): ``EXISTS`` / ``NOT EXISTS`` where the count only asks "any?"
or "none?", else ``(SELECT count(*) ...) op :count``; ``where`` is compiled by this same
compiler over the event source's fields, qualified by the alias ``sk_event``.

Every value is a bound parameter; identifiers come only from the schema. The same rule
*shape* yields the same SQL text (all constructs set ``inherit_cache = True`` and declare
their children), so SQLAlchemy's statement cache applies across rules.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
import weakref
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import ColumnElement, FromClause, Select
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import Grouping, quoted_name
from sqlalchemy.sql.visitors import InternalTraversal

from .. import primitives as p
from ..errors import UnsupportedError
from ..schema import ChildTable, EventSource, Field, Schema, TagStorage
from ..types import FieldType
from . import engines as _engines  # noqa: F401  (registers SQLite functions on connect)

# The sqlglot backend's choices, shared so the two SQL paths cannot drift apart: which
# form a count comparison takes, negation folded into the operator, and whether the
# event time column holds instants.
from .dialects import COUNT_COMPLEMENT, event_form, event_time_aware

__all__ = [
    "SegmentMembers",
    "compile_predicate",
    "contacts_table",
    "members_select",
    "to_sqlalchemy",
]

SegmentMembers = Callable[[str], Select[Any]]

_T = InternalTraversal
_UTC = dt.UTC
# Dialects whose timestamp-with-time-zone type compares instants natively.
_AWARE_DIALECTS = frozenset({"postgresql", "duckdb"})


def _bin_collation(dialect: Dialect) -> str:
    # Both collations are NO PAD and order by code point; MySQL 8 lacks MariaDB's name.
    if dialect.name == "mariadb" or getattr(dialect, "is_mariadb", False):
        return "utf8mb4_nopad_bin"
    return "utf8mb4_0900_bin"


def _lower_collation(dialect: Dialect) -> str:
    # SEMANTICS appendix: the only MariaDB collation whose LOWER is the simple mapping
    # for all cased letters. MySQL 8's best is utf8mb4_0900_ai_ci (not verified here).
    if dialect.name == "mariadb" or getattr(dialect, "is_mariadb", False):
        return "utf8mb4_uca1400_ai_ci"
    return "utf8mb4_0900_ai_ci"


# --------------------------------------------------------------------------- parameter types
def _storage_datetime(value: dt.datetime, zone: str | None, dialect: Dialect) -> dt.datetime:
    """An aware UTC instant as the column stores it (``zone``: naive wall time there)."""
    if zone is not None:
        return value.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    if dialect.name in _AWARE_DIALECTS:
        return value.astimezone(_UTC)
    # No aware type on this engine: aware fields are stored as UTC wall time.
    return value.astimezone(_UTC).replace(tzinfo=None)


class _Instant(sa.types.TypeDecorator[dt.datetime]):
    """A datetime parameter converted to the column's storage (see ``_storage_datetime``)."""

    impl = sa.DateTime
    cache_ok = True

    def __init__(self, zone: str | None) -> None:
        super().__init__(timezone=zone is None)
        self.zone = zone

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        aware = self.zone is None and dialect.name in _AWARE_DIALECTS
        return dialect.type_descriptor(sa.DateTime(timezone=aware))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, dt.datetime):
            return _storage_datetime(value, self.zone, dialect)
        return value


class _Exact(sa.types.TypeDecorator[Decimal]):
    """A ``Decimal`` parameter bound exactly.

    duckdb_engine inherits the psycopg2 dialect's ``Decimal -> float`` conversion, which
    makes ``12345678901234567.89`` equal ``...88``; DuckDB binds ``Decimal`` natively.
    (SQLite has no exact decimal type at all: there the float conversion stays.)
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(asdecimal=True)

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name == "duckdb":
            return None
        return super().bind_processor(dialect)


def _naive_zone(schema: Schema, f: Field) -> str | None:
    """The zone key naive values of ``f`` are stored in, or None for aware storage."""
    return schema.zone_of(f).key if f.naive else None


def _scalar_type(ftype: FieldType, zone: str | None = None) -> sa.types.TypeEngine[Any]:
    match ftype:
        case FieldType.STRING | FieldType.TAGS:
            return sa.String()
        case FieldType.INTEGER:
            return sa.BigInteger()
        case FieldType.DECIMAL:
            return _Exact()
        case FieldType.FLOAT:
            return sa.Double()
        case FieldType.BOOLEAN:
            return sa.Boolean()
        case FieldType.DATE:
            return sa.Date()
        case FieldType.DATETIME:
            return _Instant(zone)
    raise AssertionError(ftype)  # pragma: no cover


def _json_item(value: Any, ftype: FieldType, zone: str | None, dialect: Dialect) -> Any:
    """One list element as a JSON scalar that the engine reads back as the column stores it."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        # SQLite stores NUMERIC as 8-byte floats (the one engine reading JSON lists).
        return float(value) if dialect.name == "sqlite" else str(value)
    if isinstance(value, dt.datetime):
        return _storage_datetime(value, zone, dialect).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


class _ListParam(sa.types.TypeDecorator[Any]):
    """A whole value list bound as ONE parameter: an array where the engine has array
    parameters (PostgreSQL, DuckDB), else JSON text read back with ``json_each`` (SQLite).
    One parameter keeps 100,000-element lists under the engine's parameter limit."""

    impl = sa.String
    cache_ok = True

    def __init__(self, ftype: FieldType, zone: str | None = None) -> None:
        super().__init__()
        self.ftype = ftype
        self.zone = zone

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in _AWARE_DIALECTS:
            item = _scalar_type(self.ftype, self.zone)
            if isinstance(item, _Instant):
                item = item.load_dialect_impl(dialect)
            return dialect.type_descriptor(sa.ARRAY(item))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name in _AWARE_DIALECTS:
            if self.ftype is FieldType.DATETIME:
                return [_storage_datetime(v, self.zone, dialect) for v in value]
            return list(value)
        items = [_json_item(v, self.ftype, self.zone, dialect) for v in value]
        return json.dumps(items, ensure_ascii=False)


_REGEX_DIALECTS = {"postgresql": "postgres", "mariadb": "mysql"}


class _RegexParam(sa.types.TypeDecorator[str]):
    """A portable pattern, rewritten for the engine's regex dialect when bound."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        from .. import regex

        return regex.for_dialect(value, _REGEX_DIALECTS.get(dialect.name, dialect.name))


class _PrefixUpper(sa.types.TypeDecorator[Any]):
    """Exclusive upper bound of a prefix range; ``None`` (no successor exists) binds a
    BLOB, which SQLite orders after every TEXT value."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return b"\xff" if value is None else value


def _successor(prefix: str) -> str | None:
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


def _like_prefix(prefix: str) -> str:
    escaped = prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return escaped + "%"


# --------------------------------------------------------------------------- constructs
class _Construct(ColumnElement[bool]):
    """Base of the boolean constructs: implicitly boolean, so engines without a boolean
    type get no ``= 1`` appended (``_Compiler.negated`` parenthesises them under NOT)."""

    inherit_cache = True
    type = sa.Boolean()
    _is_implicitly_boolean = True


class _Lower(ColumnElement[str]):
    """Unicode simple lowercase of a string expression, per code point."""

    inherit_cache = True
    type = sa.String()
    _traverse_internals = [("operand", _T.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, operand: ColumnElement[Any]) -> None:
        self.operand = operand


@compiles(_Lower)
def _lower_default(element: _Lower, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.operand, **kw)})"


@compiles(_Lower, "postgresql")
def _lower_pg(element: _Lower, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(element.operand, **kw)
    # lower() follows the operand's collation; under COLLATE "C" it is ASCII-only, so a
    # column declared with an explicit collation is lowered under the database default.
    if getattr(element.operand.type, "collation", None):
        inner = f'{inner} COLLATE "default"'
    return f"lower({inner})"


@compiles(_Lower, "sqlite")
def _lower_sqlite(element: _Lower, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite's lower() is right for ASCII text (as many bytes as characters) and runs
    # in C; only other text pays for the registered Python sk_lower().
    x = compiler.process(element.operand, **kw)
    return f"CASE WHEN length(CAST({x} AS BLOB)) = length({x}) THEN lower({x}) ELSE sk_lower({x}) END"


@compiles(_Lower, "mysql")
@compiles(_Lower, "mariadb")
def _lower_mysql(element: _Lower, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(element.operand, **kw)
    return f"LOWER(CONVERT({inner} USING utf8mb4) COLLATE {_lower_collation(compiler.dialect)})"


def _mysql_bin(sql: str, dialect: Dialect) -> str:
    return f"CONVERT({sql} USING utf8mb4) COLLATE {_bin_collation(dialect)}"


def _is_param(element: Any) -> bool:
    return isinstance(element, sa.BindParameter)


def _is_column(element: Any) -> bool:
    return isinstance(element, sa.ColumnClause)


_SQL_OPS = {"eq": "=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class _StrCompare(_Construct):
    """``left op right`` over strings, by code point on every engine."""

    _traverse_internals = [  # noqa: RUF012
        ("cmp", _T.dp_string),
        ("left", _T.dp_clauseelement),
        ("right", _T.dp_clauseelement),
    ]

    def __init__(self, cmp: str, left: ColumnElement[Any], right: ColumnElement[Any]) -> None:
        self.cmp = cmp  # not ``op``: that is ColumnElement.op()
        self.left = left
        self.right = right


@compiles(_StrCompare)
def _strcmp_default(element: _StrCompare, compiler: SQLCompiler, **kw: Any) -> str:
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    return f"{left} {_SQL_OPS[element.cmp]} {right}"


@compiles(_StrCompare, "sqlite")
def _strcmp_sqlite(element: _StrCompare, compiler: SQLCompiler, **kw: Any) -> str:
    # BINARY = memcmp of UTF-8 = code-point order, whatever the column's declared collation.
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    return f"{left} COLLATE BINARY {_SQL_OPS[element.cmp]} {right}"


@compiles(_StrCompare, "postgresql")
def _strcmp_pg(element: _StrCompare, compiler: SQLCompiler, **kw: Any) -> str:
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    if element.cmp == "eq":
        # Deterministic collations compare equal only when bytes are equal, and a plain
        # ``=`` keeps the column's btree index usable.
        return f"{left} = {right}"
    return f'{left} COLLATE "C" {_SQL_OPS[element.cmp]} {right}'


@compiles(_StrCompare, "mysql")
@compiles(_StrCompare, "mariadb")
def _strcmp_mysql(element: _StrCompare, compiler: SQLCompiler, **kw: Any) -> str:
    d = compiler.dialect
    left = compiler.process(element.left, **kw)
    right = compiler.process(element.right, **kw)
    bleft = _mysql_bin(left, d)
    bright = right if _is_param(element.right) else _mysql_bin(right, d)
    exact = f"{bleft} {_SQL_OPS[element.cmp]} {bright}"
    if element.cmp == "eq" and _is_column(element.left) and _is_param(element.right):
        # The column's own collation is case/accent/pad-insensitive, so ``col = v`` holds
        # for a superset of the exact matches; it lets the optimizer use an index.
        return f"({left} = {right} AND {exact})"
    return exact


class _Text(_Construct):
    """``needle`` occurs in / starts / ends ``operand``, by code point, no wildcards."""

    _traverse_internals = [  # noqa: RUF012
        ("kind", _T.dp_string),
        ("operand", _T.dp_clauseelement),
        ("needle", _T.dp_clauseelement),
        ("extra", _T.dp_clauseelement),
    ]

    def __init__(
        self,
        kind: str,
        operand: ColumnElement[Any],
        needle: ColumnElement[Any],
        extra: ColumnElement[Any],
    ) -> None:
        self.kind = kind  # "contains" | "prefix" | "suffix"
        self.operand = operand
        self.needle = needle
        # prefix: SQLite's exclusive upper bound; MySQL's escaped LIKE pattern (one param
        # per dialect would change the SQL text per dialect, which is fine: compiled
        # statements are cached per dialect).
        self.extra = extra


@compiles(_Text)
def _text_default(element: _Text, compiler: SQLCompiler, **kw: Any) -> str:
    raise UnsupportedError(f"{element.kind} on strings", compiler.dialect.name)


@compiles(_Text, "sqlite")
def _text_sqlite(element: _Text, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    n = compiler.process(element.needle, **kw)
    if element.kind == "contains":
        return f"instr({o}, {n}) > 0"
    if element.kind == "prefix":
        # A code-point range is exact and can use an index on the column.
        upper = compiler.process(element.extra.sqlite, **kw)
        return f"({o} COLLATE BINARY >= {n} AND {o} COLLATE BINARY < {upper})"
    return f"substr({o}, -length({n})) COLLATE BINARY = {n}"


@compiles(_Text, "postgresql")
def _text_pg(element: _Text, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    n = compiler.process(element.needle, **kw)
    if element.kind == "contains":
        return f"strpos({o}, {n}) > 0"
    if element.kind == "prefix":
        return f"starts_with({o}, {n})"
    return f"right({o}, length({n})) = {n}"


@compiles(_Text, "duckdb")
def _text_duckdb(element: _Text, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    n = compiler.process(element.needle, **kw)
    fn = {"contains": "contains", "prefix": "starts_with", "suffix": "ends_with"}[element.kind]
    return f"{fn}({o}, {n})"


@compiles(_Text, "mysql")
@compiles(_Text, "mariadb")
def _text_mysql(element: _Text, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    n = compiler.process(element.needle, **kw)
    b = _mysql_bin(o, compiler.dialect)
    if element.kind == "contains":
        return f"LOCATE({n}, {b}) > 0"
    if element.kind == "prefix":
        exact = f"LEFT({b}, CHAR_LENGTH({n})) = {n}"
        if _is_column(element.operand):
            # Index-usable LIKE under the column's own collation matches a superset.
            like = compiler.process(element.extra.mysql, **kw)
            return f"({o} LIKE {like} ESCAPE '!' AND {exact})"
        return exact
    return f"RIGHT({b}, CHAR_LENGTH({n})) = {n}"


class _PrefixExtra(ColumnElement[Any]):
    """Carrier of the two derived prefix parameters (only one is rendered per dialect)."""

    inherit_cache = True
    type = sa.String()
    _traverse_internals = [("sqlite", _T.dp_clauseelement), ("mysql", _T.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, sqlite: ColumnElement[Any], mysql: ColumnElement[Any]) -> None:
        self.sqlite = sqlite
        self.mysql = mysql


@compiles(_PrefixExtra)
def _prefix_extra(element: _PrefixExtra, compiler: SQLCompiler, **kw: Any) -> str:
    raise AssertionError("_PrefixExtra is never rendered on its own")  # pragma: no cover


_SHORT_LIST = 64


class _InList(_Construct):
    """``operand`` equals an element of one bound list."""

    _traverse_internals = [  # noqa: RUF012
        ("ftype", _T.dp_string),
        ("operand", _T.dp_clauseelement),
        ("values", _T.dp_clauseelement),
        ("expanded", _T.dp_clauseelement),
        ("short", _T.dp_boolean),
    ]

    def __init__(
        self,
        ftype: FieldType,
        operand: ColumnElement[Any],
        values: ColumnElement[Any],
        expanded: ColumnElement[Any],
        length: int,
    ) -> None:
        self.ftype = str(ftype)
        self.operand = operand
        self.values = values  # the whole list as one parameter (array / JSON text)
        self.expanded = expanded  # the same list as an expanding IN parameter (MySQL)
        # Short lists are scanned per row (DuckDB: list_contains, ~7x faster than a
        # semi-join); long ones are hashed by a semi-join.
        self.short = length <= _SHORT_LIST


@compiles(_InList)
def _inlist_default(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    raise UnsupportedError("in (list)", compiler.dialect.name)


@compiles(_InList, "postgresql")
def _inlist_pg(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    return (
        f"{compiler.process(element.operand, **kw)} = ANY({compiler.process(element.values, **kw)})"
    )


@compiles(_InList, "duckdb")
def _inlist_duckdb(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    if element.short:
        return f"list_contains({compiler.process(element.values, **kw)}, {o})"
    # A semi-join against the unnested list: hashed, so 100,000 values stay cheap.
    return f"{o} IN (SELECT unnest({compiler.process(element.values, **kw)}))"


@compiles(_InList, "sqlite")
def _inlist_sqlite(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    v = compiler.process(element.values, **kw)
    collate = " COLLATE BINARY" if element.ftype == FieldType.STRING.value else ""
    return f"{o}{collate} IN (SELECT value FROM json_each({v}))"


@compiles(_InList, "mysql")
@compiles(_InList, "mariadb")
def _inlist_mysql(element: _InList, compiler: SQLCompiler, **kw: Any) -> str:
    # MySQL/MariaDB have no array parameters. ``IN (SELECT v FROM JSON_TABLE(:json ...))``
    # is fast for numbers but MariaDB 10.11 evaluates it per row for strings under an
    # explicit collation (minutes for 20,000 rows x 100,000 values), so the list is an
    # expanding parameter. PyMySQL and mysqlclient interpolate parameters client-side:
    # no placeholder limit applies, and the server turns a long IN list into a hashed
    # semi-join (in_predicate_conversion_threshold).
    d = compiler.dialect
    o = compiler.process(element.operand, **kw)
    v = compiler.process(element.expanded, **kw)
    # (an expanding parameter renders its own parentheses)
    if element.ftype != FieldType.STRING.value:
        return f"{o} IN {v}"
    exact = f"{_mysql_bin(o, d)} IN {v}"
    if _is_column(element.operand):
        # As for ``=``: the column's own collation matches a superset, using its index.
        return f"({o} IN {v} AND {exact})"
    return exact


class _TagsAny(_Construct):
    """A tags column (array or JSON array) holds at least one of the bound strings."""

    _traverse_internals = [  # noqa: RUF012
        ("storage", _T.dp_string),
        ("operand", _T.dp_clauseelement),
        ("values", _T.dp_clauseelement),
        ("expanded", _T.dp_clauseelement),
    ]

    def __init__(
        self,
        storage: str,
        operand: ColumnElement[Any],
        values: ColumnElement[Any],
        expanded: ColumnElement[Any],
    ) -> None:
        self.storage = storage
        self.operand = operand
        self.values = values
        self.expanded = expanded


@compiles(_TagsAny)
def _tagsany_default(element: _TagsAny, compiler: SQLCompiler, **kw: Any) -> str:
    raise UnsupportedError(f"tags stored as {element.storage}", compiler.dialect.name)


@compiles(_TagsAny, "postgresql")
def _tagsany_pg(element: _TagsAny, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    v = compiler.process(element.values, **kw)
    if element.storage == TagStorage.ARRAY.value:
        # The parameter is cast to the column's own array type (text[] or varchar[]) so
        # that ``&&`` (overlap) applies as written and a GIN index on the column serves it.
        if isinstance(element.operand.type, _UnknownArray):
            # A hand-built schema does not say text[] or varchar[]: meet on text[].
            return f"CAST({o} AS TEXT[]) && CAST({v} AS TEXT[])"
        item = getattr(element.operand.type, "item_type", None) or sa.String()
        return f"{o} && CAST({v} AS {compiler.dialect.type_compiler_instance.process(item)}[])"
    # ?| tests top-level *string* elements only: type-exact, and served by a GIN index.
    return f"CAST({o} AS JSONB) ?| CAST({v} AS TEXT[])"


@compiles(_TagsAny, "duckdb")
def _tagsany_duckdb(element: _TagsAny, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    v = compiler.process(element.values, **kw)
    if element.storage == TagStorage.ARRAY.value:
        return f"list_has_any({o}, {v})"
    return f"list_has_any(from_json({o}, '[\"VARCHAR\"]'), {v})"


@compiles(_TagsAny, "sqlite")
def _tagsany_sqlite(element: _TagsAny, compiler: SQLCompiler, **kw: Any) -> str:
    if element.storage != TagStorage.JSON.value:
        return _tagsany_default(element, compiler, **kw)
    o = compiler.process(element.operand, **kw)
    v = compiler.process(element.values, **kw)
    return (
        f"EXISTS (SELECT 1 FROM json_each({o}) AS sk_t WHERE sk_t.type = 'text' "
        f"AND sk_t.value COLLATE BINARY IN (SELECT value FROM json_each({v})))"
    )


@compiles(_TagsAny, "mysql")
@compiles(_TagsAny, "mariadb")
def _tagsany_mysql(element: _TagsAny, compiler: SQLCompiler, **kw: Any) -> str:
    if element.storage != TagStorage.JSON.value:
        return _tagsany_default(element, compiler, **kw)
    d = compiler.dialect
    o = compiler.process(element.operand, **kw)
    v = compiler.process(element.expanded, **kw)
    # JSON_OVERLAPS compares the stored JSON text (an escaped "\u00e9" differs from "é"),
    # so the stored array is read back as unescaped strings with JSON_TABLE.
    coltype = f"LONGTEXT CHARACTER SET utf8mb4 COLLATE {_bin_collation(d)}"
    return (
        f"EXISTS (SELECT 1 FROM JSON_TABLE({o}, '$[*]' COLUMNS (v {coltype} PATH '$')) AS sk_t "
        f"WHERE sk_t.v IN {v})"
    )


class _TagsEmpty(_Construct):
    """A tags column holds an empty (not NULL) collection."""

    _traverse_internals = [("storage", _T.dp_string), ("operand", _T.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, storage: str, operand: ColumnElement[Any]) -> None:
        self.storage = storage
        self.operand = operand


@compiles(_TagsEmpty)
def _tagsempty_default(element: _TagsEmpty, compiler: SQLCompiler, **kw: Any) -> str:
    raise UnsupportedError(f"tags stored as {element.storage}", compiler.dialect.name)


@compiles(_TagsEmpty, "postgresql")
def _tagsempty_pg(element: _TagsEmpty, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    if element.storage == TagStorage.ARRAY.value:
        return f"cardinality({o}) = 0"
    return f"jsonb_array_length(CAST({o} AS JSONB)) = 0"


@compiles(_TagsEmpty, "duckdb")
def _tagsempty_duckdb(element: _TagsEmpty, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    if element.storage == TagStorage.ARRAY.value:
        return f"len({o}) = 0"
    return f"json_array_length({o}) = 0"


@compiles(_TagsEmpty, "sqlite")
def _tagsempty_sqlite(element: _TagsEmpty, compiler: SQLCompiler, **kw: Any) -> str:
    if element.storage != TagStorage.JSON.value:
        return _tagsempty_default(element, compiler, **kw)
    return f"json_array_length({compiler.process(element.operand, **kw)}) = 0"


@compiles(_TagsEmpty, "mysql")
@compiles(_TagsEmpty, "mariadb")
def _tagsempty_mysql(element: _TagsEmpty, compiler: SQLCompiler, **kw: Any) -> str:
    if element.storage != TagStorage.JSON.value:
        return _tagsempty_default(element, compiler, **kw)
    return f"JSON_LENGTH({compiler.process(element.operand, **kw)}) = 0"


class _Regex(_Construct):
    """Regular-expression search of the portable subset."""

    _traverse_internals = [("operand", _T.dp_clauseelement), ("pattern", _T.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, operand: ColumnElement[Any], pattern: ColumnElement[Any]) -> None:
        self.operand = operand
        self.pattern = pattern


@compiles(_Regex)
def _regex_default(element: _Regex, compiler: SQLCompiler, **kw: Any) -> str:
    raise UnsupportedError("matches (regular expressions)", compiler.dialect.name)


@compiles(_Regex, "sqlite")
def _regex_sqlite(element: _Regex, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    return f"sk_regexp({compiler.process(element.pattern, **kw)}, {o})"


@compiles(_Regex, "postgresql")
def _regex_pg(element: _Regex, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    return f"{o} ~ {compiler.process(element.pattern, **kw)}"


@compiles(_Regex, "duckdb")
def _regex_duckdb(element: _Regex, compiler: SQLCompiler, **kw: Any) -> str:
    o = compiler.process(element.operand, **kw)
    return f"regexp_matches({o}, {compiler.process(element.pattern, **kw)})"


@compiles(_Regex, "mysql")
@compiles(_Regex, "mariadb")
def _regex_mysql(element: _Regex, compiler: SQLCompiler, **kw: Any) -> str:
    # Under a binary collation REGEXP is case-sensitive and PCRE runs in UTF-8 mode.
    b = _mysql_bin(compiler.process(element.operand, **kw), compiler.dialect)
    return f"{b} REGEXP {compiler.process(element.pattern, **kw)}"


# --------------------------------------------------------------------------- tables
_tables: weakref.WeakKeyDictionary[Schema, FromClause] = weakref.WeakKeyDictionary()
_children: weakref.WeakKeyDictionary[Schema, dict[str, FromClause]] = weakref.WeakKeyDictionary()


class _UnknownArray(sa.ARRAY[Any]):
    """An array column of a hand-built schema, whose element type is not known."""

    cache_ok = True


def _column_type(f: Field) -> sa.types.TypeEngine[Any]:
    if f.type is FieldType.TAGS:
        return _UnknownArray(sa.String()) if f.tags is TagStorage.ARRAY else sa.JSON()
    if f.type is FieldType.DATETIME:
        return sa.DateTime(timezone=not f.naive)
    return _scalar_type(f.type)


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


def _child_table(schema: Schema, child: ChildTable) -> FromClause:
    if child.sa_table is not None:
        return child.sa_table
    cache = _children.setdefault(schema, {})
    table = cache.get(child.table)
    if table is None:
        table = sa.table(
            _quoted(child.table),
            sa.column(_quoted(child.key)),
            sa.column(_quoted(child.value), sa.String()),
            schema=schema.table_schema,
        )
        cache[child.table] = table
    return table


@functools.lru_cache(maxsize=128)
def _lightweight_events(source: EventSource, aware: bool) -> FromClause:
    # Only for sources without ``sa_table`` (EventSource equality ignores it): equal
    # sources describe the same columns, so one construct serves them all.
    cols: list[sa.ColumnClause[Any]] = [
        sa.column(_quoted(source.key)),
        sa.column(_quoted(source.name), sa.String()),
        sa.column(_quoted(source.time), sa.DateTime(timezone=aware)),
    ]
    seen = {source.key, source.name, source.time}
    for f in source.fields:
        if isinstance(f.tags, ChildTable) or f.column_name in seen:
            continue
        seen.add(f.column_name)
        cols.append(sa.column(_quoted(f.column_name), _column_type(f)))
    return sa.table(_quoted(source.table), *cols, schema=source.table_schema)


def _events_table(source: EventSource) -> FromClause:
    """The event source's table: its SQLAlchemy ``Table``, or a lightweight ``table()``."""
    if source.sa_table is not None:
        return source.sa_table
    return _lightweight_events(source, event_time_aware(source))


_EVENT_ALIAS = "sk_event"  # the sqlglot backend's alias of the events table
_COUNT_OPS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


# --------------------------------------------------------------------------- compiler
class _Compiler:
    """Translate one bound tree. Stateless apart from the schema and segment lookup.

    ``table`` and ``in_event`` are for an event condition's ``where``: the event source's
    schema compiled over an alias of the events table.
    """

    def __init__(
        self,
        schema: Schema,
        segment_members: SegmentMembers | None,
        *,
        table: FromClause | None = None,
        in_event: bool = False,
    ) -> None:
        self.schema = schema
        self.table = contacts_table(schema) if table is None else table
        self.segment_members = segment_members
        self.in_event = in_event

    # -- values ---------------------------------------------------------------
    def column(self, f: Field) -> ColumnElement[Any]:
        try:
            return self.table.c[f.column_name]
        except KeyError:
            raise UnsupportedError(
                f"field {f.name!r}",
                "SQLAlchemy",
                f"table {self.schema.table!r} has no column {f.column_name!r}",
            ) from None

    def zone(self, f: Field) -> str | None:
        return _naive_zone(self.schema, f)

    def param(self, value: Any, ftype: FieldType, f: Field | None = None) -> ColumnElement[Any]:
        zone = self.zone(f) if f is not None and ftype is FieldType.DATETIME else None
        return sa.bindparam(None, value, type_=_scalar_type(ftype, zone), unique=True)

    def value(self, v: p.Value, ref: Field | None = None) -> ColumnElement[Any]:
        if isinstance(v, p.FieldRef):
            return self.column(v.field)
        if isinstance(v, p.Lower):
            return _Lower(self.column(v.operand.field))
        return self.param(v.value, v.type, ref)

    # -- tree -----------------------------------------------------------------
    def predicate(self, node: p.Predicate) -> ColumnElement[bool]:
        if isinstance(node, p.Const):
            return sa.true() if node.value else sa.false()
        if isinstance(node, p.And):
            if not node.items:
                return sa.true()
            return sa.and_(*(self.predicate(i) for i in node.items))
        if isinstance(node, p.Or):
            if not node.items:
                return sa.false()
            return sa.or_(*(self.predicate(i) for i in node.items))
        if isinstance(node, p.Not):
            return self.negated(node.item)
        return self.leaf(node)

    def negated(self, leaf: p.Leaf) -> ColumnElement[bool]:
        if isinstance(leaf, p.EventCount):
            return self.event_count(leaf, negated=True)
        nulls = [self._is_null(ref) for ref in dict.fromkeys(p.nullable_inputs(leaf))]
        inner = self.leaf(leaf)
        if isinstance(inner, _Construct):
            inner = Grouping(inner)  # the construct's SQL text is not one operand
        return sa.or_(sa.not_(inner), *nulls)

    def _is_null(self, ref: p.FieldRef) -> ColumnElement[bool]:
        f = ref.field
        if isinstance(f.tags, ChildTable):
            return sa.not_(self._child_exists(f.tags))
        return self.column(f).is_(None)

    def leaf(self, leaf: p.Leaf) -> ColumnElement[bool]:
        match leaf:
            case p.IsNull(operand=ref):
                return self._is_null(ref)
            case p.Compare():
                return self.compare(leaf)
            case p.InList(operand=operand, values=values, type=ftype):
                ref = operand.operand if isinstance(operand, p.Lower) else operand
                zone = self.zone(ref.field) if ftype is FieldType.DATETIME else None
                return _InList(
                    ftype, self.value(operand), *self.list_params(values, ftype, zone), len(values)
                )
            case p.Contains(operand=o, needle=n):
                return self.text("contains", o, n)
            case p.Prefix(operand=o, needle=n):
                return self.text("prefix", o, n)
            case p.Suffix(operand=o, needle=n):
                return self.text("suffix", o, n)
            case p.Matches(operand=ref, pattern=pattern):
                param = sa.bindparam(None, pattern.value, type_=_RegexParam(), unique=True)
                return _Regex(self.column(ref.field), param)
            case p.TagsAny(operand=ref, values=values):
                return self.tags_any(ref.field, values)
            case p.TagsEmpty(operand=ref):
                f = ref.field
                if isinstance(f.tags, ChildTable):
                    return sa.false()  # no rows is NULL, never an empty set
                return _TagsEmpty(_storage(f), self.column(f))
            case p.InSegment() if self.in_event:
                # A where over event fields is about an event, not a contact.
                raise UnsupportedError(
                    "segment reference inside an event condition's where", "SQLAlchemy"
                )
            case p.InSegment(segment_id=segment_id):
                if self.segment_members is None:
                    raise UnsupportedError(
                        "segment reference", "SQLAlchemy", "pass segment_members= to resolve it"
                    )
                members = self.segment_members(segment_id)
                return self.table.c[self.schema.key].in_(members.scalar_subquery())
            case p.EventCount():
                return self.event_count(leaf, negated=False)
        raise TypeError(f"not a leaf: {leaf!r}")  # pragma: no cover

    def compare(self, leaf: p.Compare) -> ColumnElement[bool]:
        left_ref = leaf.left.field if isinstance(leaf.left, p.FieldRef) else None
        if isinstance(leaf.left, p.FieldRef | p.Lower) and isinstance(
            leaf.right, p.FieldRef | p.Lower
        ):
            self._check_field_pair(leaf.left, leaf.right)
        left = self.value(leaf.left)
        right = self.value(leaf.right, left_ref)
        ltype = leaf.left.type
        if ltype is FieldType.STRING:
            return _StrCompare(leaf.op, left, right)
        match leaf.op:
            case "eq":
                return left == right
            case "lt":
                return left < right
            case "le":
                return left <= right
            case "gt":
                return left > right
            case "ge":
                return left >= right
        raise AssertionError(leaf.op)  # pragma: no cover

    def _check_field_pair(self, left: p.Value, right: p.Value) -> None:
        a = left.field if isinstance(left, p.FieldRef) else left.operand.field  # type: ignore[union-attr]
        b = right.field if isinstance(right, p.FieldRef) else right.operand.field  # type: ignore[union-attr]
        if a.type is FieldType.DATETIME and self.zone(a) != self.zone(b):
            raise UnsupportedError(
                f"comparing datetime fields {a.name!r} and {b.name!r}",
                "SQLAlchemy",
                "they are stored in different zones (naive/aware)",
            )

    def text(
        self, kind: str, operand: p.FieldRef | p.Lower, needle: p.Param
    ) -> ColumnElement[bool]:
        o = self.value(operand)
        n = self.param(needle.value, FieldType.STRING)
        if kind == "prefix":
            upper = sa.bindparam(None, _successor(needle.value), type_=_PrefixUpper(), unique=True)
            like = sa.bindparam(None, _like_prefix(needle.value), type_=sa.String(), unique=True)
            extra: ColumnElement[Any] = _PrefixExtra(upper, like)
        else:
            extra = sa.null()
        return _Text(kind, o, n, extra)

    def list_params(
        self, values: Sequence[Any], ftype: FieldType, zone: str | None = None
    ) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        """The list as one parameter, and as an expanding one; each dialect renders one."""
        items = list(values)
        whole = sa.bindparam(None, items, type_=_ListParam(ftype, zone), unique=True)
        expanding = sa.bindparam(
            None, items, type_=_scalar_type(ftype, zone), unique=True, expanding=True
        )
        return whole, expanding

    def tags_any(self, f: Field, values: Sequence[str]) -> ColumnElement[bool]:
        params = self.list_params(values, FieldType.STRING)
        if isinstance(f.tags, ChildTable):
            child = _child_table(self.schema, f.tags)
            return self._child_exists(
                f.tags, _InList(FieldType.STRING, child.c[f.tags.value], *params, len(values))
            )
        return _TagsAny(_storage(f), self.column(f), *params)

    def _child_exists(self, child: ChildTable, *where: ColumnElement[bool]) -> ColumnElement[bool]:
        if self.in_event:
            raise UnsupportedError(
                "child-table tags in an event condition's where",
                "SQLAlchemy",
                "events have no key of their own to join a child table on",
            )
        table = _child_table(self.schema, child)
        key = self.table.c[self.schema.key]
        return sa.exists().where(table.c[child.key] == key, *where)

    # -- events ---------------------------------------------------------------
    def event_count(self, leaf: p.EventCount, *, negated: bool) -> ColumnElement[bool]:
        """A subquery over the contact's events correlated by key: ``EXISTS``,
        ``NOT EXISTS`` or ``(SELECT count(*) ...) op :count`` (negation folded in)."""
        source = self.schema.events
        if source is None:
            raise UnsupportedError(
                "event condition", "SQLAlchemy", "the schema declares no event source"
            )
        if self.in_event:  # pragma: no cover - bind gives an event schema no events
            raise UnsupportedError("event condition inside an event condition", "SQLAlchemy")
        op = COUNT_COMPLEMENT[leaf.op] if negated else leaf.op
        form = event_form(op, leaf.count)
        if isinstance(form, bool):
            return sa.true() if form else sa.false()
        alias = _EVENT_ALIAS
        while alias == self.schema.table:  # the alias must not hide the contact table
            alias += "_"
        events = _events_table(source).alias(_quoted(alias))

        def col(name: str) -> ColumnElement[Any]:
            try:
                return events.c[name]
            except KeyError:
                raise UnsupportedError(
                    "event condition",
                    "SQLAlchemy",
                    f"events table {source.table!r} has no column {name!r}",
                ) from None

        name = sa.bindparam(None, leaf.event, type_=sa.String(), unique=True)
        conds: list[ColumnElement[bool]] = [
            col(source.key) == self.table.c[self.schema.key],
            _StrCompare("eq", col(source.name), name),
        ]
        # The time column has no Field: naive wall time in the contact schema's zone,
        # or instants when the sa_table's column is aware, as the Python evaluator reads it.
        zone = None if event_time_aware(source) else self.schema.zone.key
        for bound, cmp in ((leaf.since, operator.ge), (leaf.until, operator.le)):
            if bound is not None:
                when = sa.bindparam(None, bound, type_=_Instant(zone), unique=True)
                conds.append(cmp(col(source.time), when))
        if leaf.where != p.Const(True):
            sub = _Compiler(source.schema, None, table=events, in_event=True)
            conds.append(sub.predicate(leaf.where))
        if form == "count":
            counted = sa.select(sa.func.count()).select_from(events).where(*conds)
            count = sa.bindparam(None, leaf.count, type_=sa.Integer(), unique=True)
            return _COUNT_OPS[op](counted.scalar_subquery(), count)
        found = sa.select(sa.literal_column("1")).select_from(events).where(*conds).exists()
        return found if form == "exists" else sa.not_(found)


def _storage(f: Field) -> str:
    tags = f.tags
    return tags.value if isinstance(tags, TagStorage) else TagStorage.JSON.value


def compile_predicate(
    predicate: p.Predicate, schema: Schema, *, segment_members: SegmentMembers | None = None
) -> ColumnElement[bool]:
    """Compile a bound primitive tree (see :mod:`segmentkit.primitives`) to SQLAlchemy."""
    return _Compiler(schema, segment_members).predicate(predicate)


def to_sqlalchemy(
    rule: Any,
    schema: Schema,
    now: dt.datetime | None = None,
    *,
    segment_members: SegmentMembers | None = None,
) -> ColumnElement[bool]:
    """Validate and bind ``rule``, then compile it to a WHERE clause with bound values.

    ``segment_members(segment_id)`` returns a ``Select`` of member keys; it is needed only
    for rules that reference segments. Event conditions read the schema's
    :class:`~segmentkit.schema.EventSource` (its ``sa_table`` when given). Raises
    ``RuleError`` for an invalid rule and ``UnsupportedError`` for a construct this backend
    cannot express faithfully (the error for a dialect-specific gap is raised when the
    expression is compiled).
    """
    from ..bind import BoundRule, bind

    bound = rule if isinstance(rule, BoundRule) else bind(rule, schema, now=now)
    return compile_predicate(bound.predicate, schema, segment_members=segment_members)


def members_select(
    rule: Any,
    schema: Schema,
    now: dt.datetime | None = None,
    *,
    segment_members: SegmentMembers | None = None,
) -> Select[Any]:
    """``SELECT key FROM table WHERE <rule>``: the keys of the matching contacts."""
    where = to_sqlalchemy(rule, schema, now, segment_members=segment_members)
    table = contacts_table(schema)
    return sa.select(table.c[schema.key]).where(where)
