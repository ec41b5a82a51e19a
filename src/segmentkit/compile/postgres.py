"""PostgreSQL (psycopg 3): the dialect class of the SQL compiler."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp

from ..schema import Field
from ..types import FieldType
from .base import (
    _OPS,
    Compiler,
    Verbatim,
    _cast,
    _copy,
    _fn,
    _ident,
    _num,
)


class Postgres(Compiler):
    """PostgreSQL via psycopg 3 (``%(name)s``)."""

    name = "postgres"
    sqlglot_dialect = "postgres"
    paramstyle = "pyformat"
    driver = "psycopg"
    large_in = 100

    _ARRAY_TYPES: ClassVar[dict[FieldType, str]] = {
        FieldType.STRING: "TEXT[]",
        FieldType.INTEGER: "BIGINT[]",
        FieldType.DECIMAL: "NUMERIC[]",
        FieldType.FLOAT: "DOUBLE PRECISION[]",
        FieldType.BOOLEAN: "BOOLEAN[]",
        FieldType.DATE: "DATE[]",
    }

    def literal(self, value: Any) -> exp.Expression:
        if isinstance(value, str) and "\\" in value:
            # '...' reads a backslash as an escape when standard_conforming_strings is
            # off; an E'...' string reads the same under either setting.
            escaped = value.replace("\\", "\\\\").replace("'", "''")
            return Verbatim(this=f"E'{escaped}'")
        return super().literal(value)

    def str_order(self, op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        # COLLATE "C" orders UTF-8 text by byte = code point. Only the comparison runs
        # in "C": lower() inside `left` already ran in the column's collation.
        if not isinstance(left, exp.Collate):
            left = exp.Collate(this=left, expression=_ident("C"))
        return _OPS[op](this=left, expression=right)

    def lower(self, e: exp.Expression) -> exp.Expression:
        return exp.Lower(this=e)

    # A database's default collation is deterministic (equal only when the bytes are),
    # so a plain column needs nothing and keeps its index. A column that declares a
    # collation (nondeterministic ICU ones ignore case or accents, and refuse substring
    # search) is compared under "C", and lowered under the database default (lower()
    # under "C" is ASCII-only).
    def text(self, col: exp.Expression, f: Field) -> exp.Expression:
        if f.collation is None:
            return col
        return exp.Collate(this=col, expression=_ident("C"))

    def lower_text(self, col: exp.Expression, f: Field) -> exp.Expression:
        if f.collation is None:
            return self.lower(col)
        lowered = self.lower(exp.Collate(this=col, expression=_ident("default")))
        return exp.Collate(this=lowered, expression=_ident("C"))

    def str_eq(self, left: exp.Expression, right: exp.Expression, plain: bool) -> exp.Expression:
        exact = exp.EQ(this=left, expression=right)
        if plain and isinstance(left, exp.Collate):
            # The column's own collation matches a superset of the exact matches and
            # can use the column's index.
            return exp.And(
                this=exp.EQ(this=_copy(left.this), expression=_copy(right)), expression=exact
            )
        return exact

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.GT(this=_fn("STRPOS", o, n), expression=_num(0))

    def prefix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("STARTS_WITH", o, n)

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.EQ(this=_fn("RIGHT", o, _fn("LENGTH", n)), expression=_copy(n))

    def in_large(
        self, operand: exp.Expression, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> exp.Expression:
        if ftype is FieldType.DATETIME:
            kind = "TIMESTAMP[]" if f is None or f.naive else "TIMESTAMPTZ[]"
        else:
            kind = self._ARRAY_TYPES[ftype]
        arr = _cast(self.list_param(slots, ftype, f), kind, "postgres")
        return exp.EQ(this=operand, expression=exp.Any(this=exp.Paren(this=arr)))

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return exp.RegexpLike(this=subject, expression=pattern)

    def array_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        arr = _cast(self.list_param(slots, FieldType.STRING, None), "TEXT[]", "postgres")
        return exp.ArrayOverlaps(this=col, expression=arr)

    def array_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("CARDINALITY", col)

    def json_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        # `?|` matches top-level string elements only: type-exact (1 is not "1").
        arr = _cast(self.list_param(slots, FieldType.STRING, None), "TEXT[]", "postgres")
        return exp.JSONBContainsAnyTopKeys(this=_cast(col, "JSONB"), expression=arr)

    def json_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("JSONB_ARRAY_LENGTH", _cast(col, "JSONB"))
