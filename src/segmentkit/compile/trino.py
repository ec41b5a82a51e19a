"""Trino: the dialect class of the SQL compiler (text only; not run here)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp

from .base import (
    JSON_TAGS,
    Compiler,
    _copy,
    _fn,
    _lower_full_to_simple,
)


class Trino(Compiler):
    """Trino via the ``trino`` DB-API client (qmark ``?``, a list of parameters)."""

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        JSON_TAGS: "type-exact JSON array membership not verified on this engine; store tags as an array or in a child table",
    }

    name = "trino"
    sqlglot_dialect = "trino"
    paramstyle = "qmark"
    driver = "trino"

    def lower(self, e: exp.Expression) -> exp.Expression:
        return _lower_full_to_simple(e)

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        # Trino has no ends_with; substr from a negative start counts from the end
        # (out of range gives '' which can never equal a non-empty needle).
        return exp.EQ(this=_fn("SUBSTR", o, exp.Neg(this=_fn("LENGTH", n))), expression=_copy(n))

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        return _fn("REGEXP_LIKE", subject, pattern)

    def array_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        return _fn("ARRAYS_OVERLAP", col, exp.Array(expressions=self.tag_items(slots)))

    def array_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("CARDINALITY", col)
