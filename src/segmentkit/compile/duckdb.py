"""DuckDB: the dialect class of the SQL compiler."""

from __future__ import annotations

from typing import Any

from sqlglot import exp

from ..schema import Field
from ..types import FieldType
from .base import (
    _JSON_ALIAS,
    Compiler,
    _fn,
    _ident,
    _num,
)


class DuckDB(Compiler):
    """DuckDB via its Python API (``$1`` numbered, a list of parameters)."""

    name = "duckdb"
    sqlglot_dialect = "duckdb"
    paramstyle = "numeric"
    driver = "duckdb"
    large_in = 100

    def lower(self, e: exp.Expression) -> exp.Expression:
        return exp.Lower(this=e)

    # A column (or the session's default_collation) may be NOCASE/NOACCENT, which
    # equality, ordering, contains and starts_with follow; under COLLATE c they compare
    # by code point. Measured free on 2M rows (docs/sql.md).
    def text(self, col: exp.Expression, f: Field) -> exp.Expression:
        return exp.Collate(this=col, expression=exp.Var(this="c"))

    def lower_text(self, col: exp.Expression, f: Field) -> exp.Expression:
        return exp.Collate(this=self.lower(col), expression=exp.Var(this="c"))

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("CONTAINS", o, n)

    def in_large(
        self, operand: exp.Expression, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> exp.Expression:
        return _fn("LIST_CONTAINS", self.list_param(slots, ftype, f), operand)

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return _fn("REGEXP_MATCHES", subject, pattern)

    def array_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        return _fn("LIST_HAS_ANY", col, self.list_param(slots, FieldType.STRING, None))

    def array_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("LEN", col)

    def json_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        alias = self.alias(_JSON_ALIAS)
        each = exp.Table(this=_fn("json_each", col), alias=exp.TableAlias(this=alias))
        value = _fn(
            "json_extract_string",
            exp.Column(this=_ident("value"), table=alias.copy()),
            exp.Literal.string("$"),
        )
        cond = exp.And(
            this=exp.EQ(
                this=exp.Column(this=_ident("type"), table=alias.copy()),
                expression=exp.Literal.string("VARCHAR"),
            ),
            expression=self.tag_member(value, slots),
        )
        sub = exp.Select(expressions=[_num(1)]).from_(each, copy=False).where(cond, copy=False)
        return exp.Exists(this=sub)

    def json_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("JSON_ARRAY_LENGTH", col)
