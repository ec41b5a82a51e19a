"""Spark SQL: the dialect class of the SQL compiler."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlglot import exp

from .base import (
    _UTC,
    JSON_TAGS,
    Compiler,
    _cast,
    _fn,
    _lower_full_to_simple,
    _num,
)


class Spark(Compiler):
    """Spark SQL via ``spark.sql(text, args=params)`` (named ``:name``)."""

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        JSON_TAGS: "type-exact JSON array membership not verified on this engine; store tags as an array or in a child table",
    }

    name = "spark"
    sqlglot_dialect = "spark"
    paramstyle = "named"
    driver = "pyspark (SparkSession.sql args)"
    naive_timestamp = "TIMESTAMP_NTZ"
    aware_timestamp = "TIMESTAMP"

    def literal(self, value: Any) -> exp.Expression:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            # Spark's TIMESTAMP is an instant; the offset makes the literal exact.
            text = value.astimezone(_UTC).isoformat(sep=" ", timespec="microseconds")
            return _cast(exp.Literal.string(text), "TIMESTAMP", "spark")
        return super().literal(value)

    def lower(self, e: exp.Expression) -> exp.Expression:
        return _lower_full_to_simple(e)

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.GT(this=_fn("INSTR", o, n), expression=_num(0))

    def prefix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("STARTSWITH", o, n)

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return _fn("ENDSWITH", o, n)

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return exp.RegexpLike(this=subject, expression=pattern)

    def array_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        return _fn("ARRAYS_OVERLAP", col, _fn("ARRAY", *self.tag_items(slots)))

    def array_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("SIZE", col)
