"""SQLite (stdlib sqlite3): the dialect class of the SQL compiler."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, ClassVar

from sqlglot import exp

from .. import primitives as p
from ..schema import Field
from ..types import FieldType
from .base import (
    _JSON_ALIAS,
    _OPS,
    ARRAY_TAGS,
    AsBlob,
    Compiler,
    _copy,
    _fn,
    _ident,
    _num,
    _successor_or_blob,
)


class SQLite(Compiler):
    """SQLite via the stdlib ``sqlite3`` (``:name``).

    Needs ``sk_lower`` (and ``regexp``) registered on the connection:
    :func:`segmentkit.compile.sql.register_sqlite_functions`.
    """

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        ARRAY_TAGS: "no array type; store tags as a JSON array or in a child table",
    }

    name = "sqlite"
    sqlglot_dialect = "sqlite"
    paramstyle = "named"
    driver = "sqlite3"
    bool_as_int = True
    aware_as_naive_utc = True
    temporal_as_text = True

    def literal(self, value: Any) -> exp.Expression:
        if isinstance(value, bool):
            return _num(int(value))
        return super().literal(value)

    def driver_value(self, ftype: FieldType, f: Field | None) -> Callable[[Any], Any]:
        if ftype is FieldType.DECIMAL:
            # sqlite3 cannot bind Decimal; the text converts under NUMERIC affinity
            # exactly as a stored decimal did.
            return str
        return super().driver_value(ftype, f)

    def decimal_literal(self, value: Decimal) -> exp.Expression:
        return exp.Literal.string(format(value, "f"))

    def const(self, value: bool) -> exp.Expression:
        return _num(int(value))

    def lower(self, e: exp.Expression) -> exp.Expression:
        # SQLite's lower() is right for ASCII text (as many bytes as characters) and
        # runs in C; only other text pays for the registered Python sk_lower().
        ascii_only = exp.EQ(
            this=_fn("LENGTH", AsBlob(this=_copy(e))),
            expression=_fn("LENGTH", _copy(e)),
        )
        return exp.Case(
            ifs=[exp.If(this=ascii_only, true=_fn("LOWER", _copy(e)))], default=_fn("sk_lower", e)
        )

    # BINARY is memcmp of the UTF-8 bytes over their full length: code-point order, NUL
    # included, whatever collation (NOCASE, RTRIM) the column declares. It costs nothing
    # on a BINARY column and its index stays usable.
    def _binary(self, e: exp.Expression) -> exp.Expression:
        return exp.Collate(this=e, expression=exp.Var(this="BINARY"))

    def str_eq(self, left: exp.Expression, right: exp.Expression, plain: bool) -> exp.Expression:
        return exp.EQ(this=self._binary(left), expression=right)

    def str_in(
        self, operand: exp.Expression, items: list[exp.Expression], plain: bool
    ) -> exp.Expression:
        return exp.In(this=self._binary(operand), expressions=items)

    def str_order(self, op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        return _OPS[op](this=self._binary(left), expression=right)

    # SQLite's text functions (instr, substr, length) stop at the first NUL; on BLOBs they
    # count bytes, and a byte match of UTF-8 is a code-point match.
    @staticmethod
    def _blob(e: exp.Expression) -> exp.Expression:
        return AsBlob(this=e)

    @staticmethod
    def _of_field(n: exp.Expression) -> bool:
        # A needle read from a column may be empty or NULL; a bound one is neither.
        return n.find(exp.Column) is not None

    def _text_test(
        self, test: exp.Expression, o: exp.Expression, n: exp.Expression
    ) -> exp.Expression:
        """``test`` made two-valued for a needle from another field: an empty needle
        occurs in every string (substr() of it is NULL), NULL on either side is FALSE."""
        empty = exp.And(
            this=exp.EQ(this=_fn("LENGTH", self._blob(_copy(n))), expression=_num(0)),
            expression=exp.GTE(this=_fn("LENGTH", self._blob(_copy(o))), expression=_num(0)),
        )
        return _fn("IFNULL", exp.Or(this=test, expression=empty), _num(0))

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        found = exp.GT(this=_fn("INSTR", self._blob(o), self._blob(n)), expression=_num(0))
        return self._text_test(found, o, n) if self._of_field(n) else found

    # substr() of a zero-length BLOB is NULL: IS compares it as a value (FALSE).
    def prefix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        head = _fn("SUBSTR", self._blob(o), _num(1), _fn("LENGTH", self._blob(n)))
        if self._of_field(n):
            return self._text_test(exp.EQ(this=head, expression=self._blob(_copy(n))), o, n)
        return exp.Is(this=head, expression=self._blob(_copy(n)))

    def prefix_of(self, o: exp.Expression, needle: p.Value) -> exp.Expression:
        if not isinstance(needle, p.Param):  # another field's value
            return self.prefix(o, self.value(needle))
        # A code-point range [needle, successor) is exact and can use an index on the
        # column; without a successor (all U+10FFFF) a BLOB bound sorts after all text.
        low = self.scalar(needle, None)
        high = self.bind(needle.value.index, _successor_or_blob)
        return exp.Paren(
            this=exp.And(
                this=exp.GTE(this=self._binary(o), expression=low),
                expression=exp.LT(this=self._binary(_copy(o)), expression=high),
            )
        )

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        tail = _fn("SUBSTR", self._blob(o), exp.Neg(this=_fn("LENGTH", self._blob(n))))
        if self._of_field(n):
            return self._text_test(exp.EQ(this=tail, expression=self._blob(_copy(n))), o, n)
        return exp.Is(this=tail, expression=self._blob(_copy(n)))

    def in_large(
        self, operand: exp.Expression, slots: tuple[Any, ...], ftype: FieldType, f: Field | None
    ) -> exp.Expression:
        values = exp.Select(expressions=[exp.Column(this=_ident("value"))]).from_(
            exp.Table(this=_fn("json_each", self.json_param(slots, ftype, f))), copy=False
        )
        if ftype is FieldType.STRING:
            operand = self._binary(operand)
        return exp.In(this=operand, query=exp.Subquery(this=values))

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        # A function of our own (SQLite has no REGEXP unless one is registered); the
        # same name the SQLAlchemy backend registers on its connections.
        return _fn("sk_regexp", pattern, subject)

    def json_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        alias = self.alias(_JSON_ALIAS)
        each = exp.Table(this=_fn("json_each", col), alias=exp.TableAlias(this=alias))
        cond = exp.And(
            this=exp.EQ(
                this=exp.Column(this=_ident("type"), table=alias.copy()),
                expression=exp.Literal.string("text"),
            ),
            expression=self.tag_member(exp.Column(this=_ident("value"), table=alias.copy()), slots),
        )
        sub = exp.Select(expressions=[_num(1)]).from_(each, copy=False).where(cond, copy=False)
        return exp.Exists(this=sub)

    def json_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("JSON_ARRAY_LENGTH", col)
