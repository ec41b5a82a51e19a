"""SQL Server (T-SQL): the dialect class of the SQL compiler (text only; not run here)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp

from ..schema import Field
from ..types import FieldType
from .base import (
    ARRAY_TAGS,
    CASE_INSENSITIVE,
    JSON_TAGS,
    LONG_LISTS,
    REGEX,
    STRING_ORDER,
    Compiler,
    _fn,
    _num,
)


class TSQL(Compiler):
    """SQL Server via pyodbc (qmark ``?``, a list of parameters).

    ``=`` in T-SQL ignores trailing spaces under every collation, so strings are
    compared with a sentinel appended, under a binary collation. Ordering, lowercase
    and regex have no faithful form and are refused. Inline strings are ``N'...'``.
    """

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        STRING_ORDER: "binary collations order UTF-16 code units, not code points",
        CASE_INSENSITIVE: "LOWER depends on the collation's Unicode version and is not the simple mapping",
        REGEX: "T-SQL has no regular-expression search",
        ARRAY_TAGS: "no array type; store tags as a JSON array or in a child table",
        JSON_TAGS: "type-exact JSON array membership not verified on this engine; store tags as an array or in a child table",
        LONG_LISTS: "SQL Server allows at most 2,100 parameters per statement",
    }

    name = "tsql"
    sqlglot_dialect = "tsql"
    paramstyle = "qmark"
    driver = "pyodbc"
    bool_as_int = True
    # pyodbc binds no zone; a naive UTC value converts to DATETIMEOFFSET at +00:00.
    aware_as_naive_utc = True
    large_in = 2000  # pyodbc/SQL Server allow 2100 parameters per statement
    naive_timestamp = "DATETIME2"
    aware_timestamp = "DATETIMEOFFSET"
    _BIN2 = "Latin1_General_100_BIN2"

    def literal(self, value: Any) -> exp.Expression:
        if isinstance(value, bool):
            return _num(int(value))
        if isinstance(value, str):
            # Without N'' a literal is in the database code page: non-Latin text becomes '?'.
            return exp.National(this=value)
        return super().literal(value)

    def _exact(self, e: exp.Expression, collate: bool) -> exp.Expression:
        # `+` (not CONCAT, which reads NULL as '') keeps NULL NULL; the sentinel makes
        # trailing spaces count.
        out: exp.Expression = exp.Paren(this=exp.Add(this=e, expression=exp.Literal.string(".")))
        if collate:
            out = exp.Collate(this=out, expression=exp.Var(this=self._BIN2))
        return out

    def str_eq(self, left: exp.Expression, right: exp.Expression, plain: bool) -> exp.Expression:
        return exp.EQ(this=self._exact(left, True), expression=self._exact(right, False))

    def str_in(
        self, operand: exp.Expression, items: list[exp.Expression], plain: bool
    ) -> exp.Expression:
        return exp.In(
            this=self._exact(operand, True), expressions=[self._exact(i, False) for i in items]
        )

    def str_order(self, op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        self.unsupported(STRING_ORDER)

    def in_large(
        self, operand: exp.Expression, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> exp.Expression:
        self.unsupported(LONG_LISTS)

    def _bin2(self, e: exp.Expression) -> exp.Expression:
        return exp.Collate(this=e, expression=exp.Var(this=self._BIN2))

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.GT(this=_fn("CHARINDEX", n, self._bin2(o)), expression=_num(0))

    def prefix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.EQ(this=_fn("CHARINDEX", n, self._bin2(o)), expression=_num(1))

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.EQ(
            this=_fn("CHARINDEX", _fn("REVERSE", n), self._bin2(_fn("REVERSE", o))),
            expression=_num(1),
        )
