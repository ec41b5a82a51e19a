"""Snowflake: the dialect class of the SQL compiler (text only; not run here)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp

from .base import (
    JSON_TAGS,
    REGEX,
    Compiler,
    _fn,
    _lower_full_to_simple,
    _num,
)


class Snowflake(Compiler):
    """Snowflake via snowflake-connector-python (default pyformat ``%(name)s``)."""

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        REGEX: "REGEXP_LIKE is implicitly anchored and there is no end-of-subject anchor for a search",
        JSON_TAGS: "type-exact JSON array membership not verified on this engine; store tags as an array or in a child table",
    }

    name = "snowflake"
    sqlglot_dialect = "snowflake"
    paramstyle = "pyformat"
    driver = "snowflake-connector-python"
    naive_timestamp = "TIMESTAMPNTZ"
    aware_timestamp = "TIMESTAMPTZ"

    def lower(self, e: exp.Expression) -> exp.Expression:
        return _lower_full_to_simple(e)

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.GT(this=_fn("POSITION", n, o), expression=_num(0))

    def prefix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("STARTSWITH", o, n)

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("ENDSWITH", o, n)

    def array_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        return _fn("ARRAYS_OVERLAP", col, _fn("ARRAY_CONSTRUCT", *self.tag_items(slots)))

    def array_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("ARRAY_SIZE", col)
