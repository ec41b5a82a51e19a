"""MySQL 8 and MariaDB 10.10+ (PyMySQL): the dialect classes of the SQL compiler."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlglot import exp

from .base import (
    _JSON_ALIAS,
    _OPS,
    ARRAY_TAGS,
    AsBinary,
    Compiler,
    Regexp,
    ToUtf8mb4,
    Verbatim,
    _copy,
    _dtype,
    _fn,
    _ident,
    _num,
)


class MySQL(Compiler):
    """MySQL 8 / MariaDB 10.10+ via PyMySQL (``%(name)s``).

    ``=`` under the default collations ignores case, accents and trailing spaces,
    so strings compare as binary, ``CONVERT(x, BINARY)`` (UTF-8 bytes: code point order). An equality on a
    plain column keeps a collation-level ``=`` in front as an index-usable
    prefilter (binary equality implies collation equality).
    """

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        ARRAY_TAGS: "no array type; store tags as a JSON array or in a child table",
    }

    name = "mysql"
    sqlglot_dialect = "mysql"
    paramstyle = "pyformat"
    driver = "PyMySQL"
    bool_as_int = True
    aware_as_naive_utc = True
    # A bare DATETIME cast rounds away the fractional seconds.
    naive_timestamp = "DATETIME(6)"
    aware_timestamp = "DATETIME(6)"

    def literal(self, value: Any) -> exp.Expression:
        if isinstance(value, str) and "\\" in value:
            # A backslash is an escape unless sql_mode has NO_BACKSLASH_ESCAPES: a
            # hexadecimal string with a character-set introducer reads the same in both.
            return Verbatim(this=f"_utf8mb4 X'{value.encode('utf-8').hex().upper()}'")
        return super().literal(value)

    @staticmethod
    def _bin(e: exp.Expression) -> exp.Expression:
        # CONVERT(x, BINARY) is CAST(x AS BINARY) in MySQL and MariaDB; a node of our
        # own renders several times faster than a sqlglot Cast or function call.
        return AsBinary(this=e)

    def str_eq(self, left: exp.Expression, right: exp.Expression, plain: bool) -> exp.Expression:
        exact = exp.EQ(this=self._bin(left), expression=self._bin(_copy(right)))
        if not plain:
            return exact
        return exp.And(this=exp.EQ(this=_copy(left), expression=right), expression=exact)

    def str_in(
        self, operand: exp.Expression, items: list[exp.Expression], plain: bool
    ) -> exp.Expression:
        exact = exp.In(this=self._bin(operand), expressions=[self._bin(_copy(i)) for i in items])
        if not plain:
            return exact
        return exp.And(this=exp.In(this=_copy(operand), expressions=items), expression=exact)

    def str_order(self, op: str, left: exp.Expression, right: exp.Expression) -> exp.Expression:
        return _OPS[op](this=self._bin(left), expression=self._bin(right))

    #: the collation under which LOWER is the per-code-point simple mapping. MySQL 8:
    #: utf8mb4_0900_ai_ci (Unicode 9 UCA; from MySQL's documentation, not run here).
    lower_collation: ClassVar[str] = "utf8mb4_0900_ai_ci"

    def lower(self, e: exp.Expression) -> exp.Expression:
        converted = ToUtf8mb4(this=e)
        return exp.Lower(
            this=exp.Collate(this=converted, expression=exp.Var(this=self.lower_collation))
        )

    def contains(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        # On binary strings LOCATE is byte-wise; UTF-8 is self-synchronising, so a
        # byte match is a code-point match.
        return exp.GT(this=_fn("LOCATE", self._bin(n), self._bin(o)), expression=_num(0))

    def prefix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.EQ(
            this=_fn("LEFT", self._bin(o), _fn("LENGTH", self._bin(n))),
            expression=self._bin(_copy(n)),
        )

    def suffix(self, o: exp.Expression, n: exp.Expression) -> exp.Expression:
        return exp.EQ(
            this=_fn("RIGHT", self._bin(o), _fn("LENGTH", self._bin(n))),
            expression=self._bin(_copy(n)),
        )

    def regex_search(self, subject: exp.Expression, pattern: exp.Expression) -> exp.Expression:
        # segmentkit.regex: case sensitivity comes from the collation; utf8mb4_bin is
        # case-sensitive and still a character string (code points, not bytes).
        converted = ToUtf8mb4(this=subject)
        return Regexp(
            this=exp.Collate(this=converted, expression=exp.Var(this="utf8mb4_bin")),
            expression=pattern,
        )

    def json_any(self, col: exp.Expression, slots: tuple[Any, ...]) -> exp.Expression:
        # JSON_TABLE unescapes each element ("\u00e9" is é; MariaDB's JSON_OVERLAPS and
        # JSON_CONTAINS compare the escaped text and miss it) and JSON_TYPE keeps the
        # match type-exact (1 is not "1").
        alias = self.alias(_JSON_ALIAS)
        columns = exp.JSONSchema(
            expressions=[
                exp.JSONColumnDef(
                    this=_ident("v"),
                    kind=_dtype("LONGTEXT"),
                    path=exp.Literal.string("$"),
                ),
                exp.JSONColumnDef(
                    this=_ident("j"),
                    kind=_dtype("JSON"),
                    path=exp.Literal.string("$"),
                ),
            ]
        )
        table = exp.Table(
            this=exp.JSONTable(this=col, schema=columns, path=exp.Literal.string("$[*]")),
            alias=exp.TableAlias(this=alias),
        )
        value = ToUtf8mb4(this=exp.Column(this=_ident("v"), table=self.alias(_JSON_ALIAS)))
        cond = exp.And(
            this=exp.EQ(
                this=_fn("JSON_TYPE", exp.Column(this=_ident("j"), table=self.alias(_JSON_ALIAS))),
                expression=exp.Literal.string("STRING"),
            ),
            expression=self.tag_member(value, slots),
        )
        sub = exp.Select(expressions=[_num(1)]).from_(table, copy=False).where(cond, copy=False)
        return exp.Exists(this=sub)

    def json_length(self, col: exp.Expression) -> exp.Expression:
        return _fn("JSON_LENGTH", col)


class MariaDB(MySQL):
    """MariaDB 10.10+ via PyMySQL (``%(name)s``): MySQL's SQL with MariaDB's collations."""

    name = "mariadb"
    # SEMANTICS appendix: the only MariaDB collation whose LOWER is the per-code-point
    # simple mapping for every cased letter (measured on 10.11).
    lower_collation = "utf8mb4_uca1400_ai_ci"
    regex_name = "mysql"
