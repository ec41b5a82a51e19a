"""BigQuery: the dialect class of the SQL compiler (text only; not run here)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
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


class BigQuery(Compiler):
    """BigQuery via google-cloud-bigquery query parameters (``@name``)."""

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        JSON_TAGS: "type-exact JSON array membership not verified on this engine; store tags as an array or in a child table",
    }

    name = "bigquery"
    sqlglot_dialect = "bigquery"
    paramstyle = "at"
    driver = "google-cloud-bigquery (QueryJobConfig query_parameters)"
    naive_timestamp = "DATETIME"
    aware_timestamp = "TIMESTAMP"

    def literal(self, value: Any) -> exp.Expression:
        if isinstance(value, dt.datetime):
            text = (value.astimezone(_UTC) if value.tzinfo else value).isoformat(
                sep=" ", timespec="microseconds"
            )
            kind = "TIMESTAMP" if value.tzinfo else "DATETIME"
            return _cast(exp.Literal.string(text.removesuffix("+00:00")), kind, "bigquery")
        return super().literal(value)

    def decimal_literal(self, value: Decimal) -> exp.Expression:
        # A bare 1.5 is FLOAT64 in BigQuery; exact decimals need a typed literal.
        return _cast(exp.Literal.string(format(value, "f")), "BIGNUMERIC", "bigquery")

    def lower(self, e: exp.Expression) -> exp.Expression:
        return _lower_full_to_simple(e)

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return _fn("REGEXP_CONTAINS", subject, pattern)

    def array_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        tag = exp.Column(this=self.alias("sk_t"))
        unnest = exp.Unnest(expressions=[col], alias=exp.TableAlias(columns=[self.alias("sk_t")]))
        sub = (
            exp.Select(expressions=[_num(1)])
            .from_(unnest, copy=False)
            .where(self.tag_member(tag, slots), copy=False)
        )
        return exp.Exists(this=sub)

    def array_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("ARRAY_LENGTH", col)
