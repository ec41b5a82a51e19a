"""Expected SQL per dialect (sqlglot ``validate_all`` style), parse-back, cache, errors.

The tables below are the reviewable record of what each dialect emits for
representative rules; a change in output shows up here as a diff. Execution on real
engines is in ``test_sql_inline.py`` and ``test_events_sql.py``.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from decimal import Decimal
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from segmentkit import primitives as p
from segmentkit.compile import sql
from segmentkit.compile.dialects import DIALECTS
from segmentkit.compile.sql import SqlQuery, compile_predicate, to_sql
from segmentkit.errors import RuleError, UnsupportedError
from segmentkit.schema import ChildTable, Field, Schema, TagStorage
from segmentkit.types import FieldType

ALL = [
    "postgres",
    "mysql",
    "mariadb",
    "sqlite",
    "duckdb",
    "bigquery",
    "snowflake",
    "spark",
    "trino",
    "tsql",
]
NOW = dt.datetime(2024, 3, 31, 12, 0, tzinfo=dt.UTC)
SCHEMA = Schema(
    [
        Field("name", FieldType.STRING),
        Field("age", FieldType.INTEGER),
        Field("ltv", FieldType.DECIMAL),
        Field("score", FieldType.FLOAT),
        Field("vip", FieldType.BOOLEAN),
        Field("born", FieldType.DATE),
        Field("seen", FieldType.DATETIME),
        Field("at", FieldType.DATETIME, naive=False),
        Field("tags", FieldType.TAGS, tags=TagStorage.ARRAY),
        Field("jtags", FieldType.TAGS, tags=TagStorage.JSON),
        Field("ctags", FieldType.TAGS, tags=ChildTable("contact_tags", "contact_id", "tag")),
        Field("odd", FieldType.STRING, column='we"ird `col]'),
    ],
    table="contacts",
    key="id",
    timezone="Europe/Berlin",
)

# rule -> {dialect: expected WHERE text}; a dialect left out must raise UnsupportedError.
EXPECTED: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "neq": (
        {"field": "name", "operator": "neq", "value": "O'Brien"},
        {
            "postgres": '(NOT ("contacts"."name" = %(p0)s) OR "contacts"."name" IS NULL)',
            "mysql": "(NOT (`contacts`.`name` = %(p0)s AND CONVERT(`contacts`.`name`, BINARY) = CONVERT(%(p0)s, BINARY)) OR `contacts`.`name` IS NULL)",
            "sqlite": '(NOT ("contacts"."name" COLLATE BINARY = :p0) OR "contacts"."name" IS NULL)',
            "duckdb": '(NOT ("contacts"."name" COLLATE c = $1) OR "contacts"."name" IS NULL)',
            "bigquery": "(NOT (`contacts`.`name` = @p0) OR `contacts`.`name` IS NULL)",
            "snowflake": '(NOT ("contacts"."name" = %(p0)s) OR "contacts"."name" IS NULL)',
            "spark": "(NOT (`contacts`.`name` = :p0) OR `contacts`.`name` IS NULL)",
            "trino": '(NOT ("contacts"."name" = ?) OR "contacts"."name" IS NULL)',
            "tsql": "(NOT (([contacts].[name] + '.') COLLATE Latin1_General_100_BIN2 = (? + '.')) OR [contacts].[name] IS NULL)",
        },
    ),
    "in_ci": (
        {"field": "name", "operator": "in", "value": ["Anna", "BOB"], "ignore_case": True},
        {
            "postgres": 'LOWER("contacts"."name") IN (%(p0)s, %(p1)s)',
            "mysql": "CONVERT(LOWER(CONVERT(`contacts`.`name` USING utf8mb4) COLLATE utf8mb4_0900_ai_ci), BINARY) IN (CONVERT(%(p0)s, BINARY), CONVERT(%(p1)s, BINARY))",
            "mariadb": "CONVERT(LOWER(CONVERT(`contacts`.`name` USING utf8mb4) COLLATE utf8mb4_uca1400_ai_ci), BINARY) IN (CONVERT(%(p0)s, BINARY), CONVERT(%(p1)s, BINARY))",
            "sqlite": 'CASE WHEN LENGTH(CAST("contacts"."name" AS BLOB)) = LENGTH("contacts"."name") THEN LOWER("contacts"."name") ELSE SK_LOWER("contacts"."name") END COLLATE BINARY IN (:p0, :p1)',
            "duckdb": 'LOWER("contacts"."name") COLLATE c IN ($1, $2)',
            "bigquery": "LOWER(REPLACE(REPLACE(`contacts`.`name`, 'İ', 'i'), 'Σ', 'σ')) IN (@p0, @p1)",
            "snowflake": "LOWER(REPLACE(REPLACE(\"contacts\".\"name\", 'İ', 'i'), 'Σ', 'σ')) IN (%(p0)s, %(p1)s)",
            "spark": "LOWER(REPLACE(REPLACE(`contacts`.`name`, 'İ', 'i'), 'Σ', 'σ')) IN (:p0, :p1)",
            "trino": "LOWER(REPLACE(REPLACE(\"contacts\".\"name\", 'İ', 'i'), 'Σ', 'σ')) IN (?, ?)",
            # tsql: UnsupportedError (case-insensitive comparison)
        },
    ),
    "contains": (
        {"field": "name", "operator": "contains", "value": "50%_off"},
        {
            "postgres": 'STRPOS("contacts"."name", %(p0)s) > 0',
            "mysql": "LOCATE(CONVERT(%(p0)s, BINARY), CONVERT(`contacts`.`name`, BINARY)) > 0",
            "sqlite": 'INSTR(CAST("contacts"."name" AS BLOB), CAST(:p0 AS BLOB)) > 0',
            "duckdb": 'CONTAINS("contacts"."name" COLLATE c, $1)',
            "bigquery": "STRPOS(`contacts`.`name`, @p0) > 0",
            "snowflake": 'POSITION(%(p0)s, "contacts"."name") > 0',
            "spark": "INSTR(`contacts`.`name`, :p0) > 0",
            "trino": 'STRPOS("contacts"."name", ?) > 0',
            "tsql": "CHARINDEX(?, [contacts].[name] COLLATE Latin1_General_100_BIN2) > 0",
        },
    ),
    "ends_with": (
        {"field": "name", "operator": "not_ends_with", "value": "x"},
        {
            "postgres": '(NOT (RIGHT("contacts"."name", LENGTH(%(p0)s)) = %(p0)s) OR "contacts"."name" IS NULL)',
            "mysql": "(NOT (RIGHT(CONVERT(`contacts`.`name`, BINARY), LENGTH(CONVERT(%(p0)s, BINARY))) = CONVERT(%(p0)s, BINARY)) OR `contacts`.`name` IS NULL)",
            "sqlite": '(NOT (SUBSTR(CAST("contacts"."name" AS BLOB), -LENGTH(CAST(:p0 AS BLOB))) IS CAST(:p0 AS BLOB)) OR "contacts"."name" IS NULL)',
            "duckdb": '(NOT (ENDS_WITH("contacts"."name" COLLATE c, $1)) OR "contacts"."name" IS NULL)',
            "bigquery": "(NOT (ENDS_WITH(`contacts`.`name`, @p0)) OR `contacts`.`name` IS NULL)",
            "snowflake": '(NOT (ENDSWITH("contacts"."name", %(p0)s)) OR "contacts"."name" IS NULL)',
            "spark": "(NOT (ENDSWITH(`contacts`.`name`, :p0)) OR `contacts`.`name` IS NULL)",
            "trino": '(NOT (SUBSTR("contacts"."name", -LENGTH(?)) = ?) OR "contacts"."name" IS NULL)',
            "tsql": "(NOT (CHARINDEX(REVERSE(?), REVERSE([contacts].[name]) COLLATE Latin1_General_100_BIN2) = 1) OR [contacts].[name] IS NULL)",
        },
    ),
    "range": (
        {
            "combinator": "and",
            "rules": [
                {"field": "age", "operator": "between", "value": [18, 65]},
                {"field": "name", "operator": "gte", "value": "m"},
            ],
        },
        {
            "postgres": '"contacts"."age" >= %(p0)s AND "contacts"."age" <= %(p1)s AND "contacts"."name" COLLATE "C" >= %(p2)s',
            "mysql": "`contacts`.`age` >= %(p0)s AND `contacts`.`age` <= %(p1)s AND CONVERT(`contacts`.`name`, BINARY) >= CONVERT(%(p2)s, BINARY)",
            "sqlite": '"contacts"."age" >= :p0 AND "contacts"."age" <= :p1 AND "contacts"."name" COLLATE BINARY >= :p2',
            "duckdb": '"contacts"."age" >= $1 AND "contacts"."age" <= $2 AND "contacts"."name" COLLATE c >= $3',
            "bigquery": "`contacts`.`age` >= @p0 AND `contacts`.`age` <= @p1 AND `contacts`.`name` >= @p2",
            "snowflake": '"contacts"."age" >= %(p0)s AND "contacts"."age" <= %(p1)s AND "contacts"."name" >= %(p2)s',
            "spark": "`contacts`.`age` >= :p0 AND `contacts`.`age` <= :p1 AND `contacts`.`name` >= :p2",
            "trino": '"contacts"."age" >= ? AND "contacts"."age" <= ? AND "contacts"."name" >= ?',
            # tsql: UnsupportedError (string ordering)
        },
    ),
    "time": (
        {"field": "seen", "operator": "in_last", "value": {"amount": 7, "unit": "days"}},
        {
            "postgres": '"contacts"."seen" >= %(p0)s AND "contacts"."seen" <= %(p1)s',
            "mysql": "`contacts`.`seen` >= %(p0)s AND `contacts`.`seen` <= %(p1)s",
            "sqlite": '"contacts"."seen" >= :p0 AND "contacts"."seen" <= :p1',
            "duckdb": '"contacts"."seen" >= $1 AND "contacts"."seen" <= $2',
            "bigquery": "`contacts`.`seen` >= @p0 AND `contacts`.`seen` <= @p1",
            "snowflake": '"contacts"."seen" >= %(p0)s AND "contacts"."seen" <= %(p1)s',
            "spark": "`contacts`.`seen` >= :p0 AND `contacts`.`seen` <= :p1",
            "trino": '"contacts"."seen" >= ? AND "contacts"."seen" <= ?',
            "tsql": "[contacts].[seen] >= ? AND [contacts].[seen] <= ?",
        },
    ),
    "flags": (
        {
            "combinator": "or",
            "rules": [
                {"field": "vip", "operator": "is_true"},
                {"field": "ltv", "operator": "gt", "value": "99.50"},
            ],
        },
        {
            "postgres": '"contacts"."vip" = %(p0)s OR "contacts"."ltv" > %(p1)s',
            "mysql": "`contacts`.`vip` = %(p0)s OR `contacts`.`ltv` > %(p1)s",
            "sqlite": '"contacts"."vip" = :p0 OR "contacts"."ltv" > :p1',
            "duckdb": '"contacts"."vip" = $1 OR "contacts"."ltv" > $2',
            "bigquery": "`contacts`.`vip` = @p0 OR `contacts`.`ltv` > @p1",
            "snowflake": '"contacts"."vip" = %(p0)s OR "contacts"."ltv" > %(p1)s',
            "spark": "`contacts`.`vip` = :p0 OR `contacts`.`ltv` > :p1",
            "trino": '"contacts"."vip" = ? OR "contacts"."ltv" > ?',
            "tsql": "[contacts].[vip] = ? OR [contacts].[ltv] > ?",
        },
    ),
    "tags": (
        {"field": "tags", "operator": "has_none", "value": ["spam", "bounced"]},
        {
            "postgres": '(NOT ("contacts"."tags" && CAST(%(p0)s AS TEXT[])) OR "contacts"."tags" IS NULL)',
            # mysql: UnsupportedError (tags stored as an array)
            # sqlite: UnsupportedError (tags stored as an array)
            "duckdb": '(NOT (LIST_HAS_ANY("contacts"."tags", $1)) OR "contacts"."tags" IS NULL)',
            "bigquery": "(NOT (EXISTS(SELECT 1 FROM UNNEST(`contacts`.`tags`) AS `sk_t` WHERE `sk_t` IN (@p0, @p1))) OR `contacts`.`tags` IS NULL)",
            "snowflake": '(NOT (ARRAYS_OVERLAP("contacts"."tags", ARRAY_CONSTRUCT(%(p0)s, %(p1)s))) OR "contacts"."tags" IS NULL)',
            "spark": "(NOT (ARRAYS_OVERLAP(`contacts`.`tags`, ARRAY(:p0, :p1))) OR `contacts`.`tags` IS NULL)",
            "trino": '(NOT (ARRAYS_OVERLAP("contacts"."tags", ARRAY[?, ?])) OR "contacts"."tags" IS NULL)',
            # tsql: UnsupportedError (tags stored as an array)
        },
    ),
    "child": (
        {"field": "ctags", "operator": "has_any", "value": ["vip"]},
        {
            "postgres": 'EXISTS(SELECT 1 FROM "contact_tags" AS "sk_tag" WHERE "sk_tag"."contact_id" = "contacts"."id" AND "sk_tag"."tag" = %(p0)s)',
            "mysql": "EXISTS(SELECT 1 FROM `contact_tags` AS `sk_tag` WHERE `sk_tag`.`contact_id` = `contacts`.`id` AND (`sk_tag`.`tag` = %(p0)s AND CONVERT(`sk_tag`.`tag`, BINARY) = CONVERT(%(p0)s, BINARY)))",
            "sqlite": 'EXISTS(SELECT 1 FROM "contact_tags" AS "sk_tag" WHERE "sk_tag"."contact_id" = "contacts"."id" AND "sk_tag"."tag" COLLATE BINARY = :p0)',
            "duckdb": 'EXISTS(SELECT 1 FROM "contact_tags" AS "sk_tag" WHERE "sk_tag"."contact_id" = "contacts"."id" AND "sk_tag"."tag" = $1)',
            "bigquery": "EXISTS(SELECT 1 FROM `contact_tags` AS `sk_tag` WHERE `sk_tag`.`contact_id` = `contacts`.`id` AND `sk_tag`.`tag` = @p0)",
            "snowflake": 'EXISTS(SELECT 1 FROM "contact_tags" AS "sk_tag" WHERE "sk_tag"."contact_id" = "contacts"."id" AND "sk_tag"."tag" = %(p0)s)',
            "spark": "EXISTS(SELECT 1 FROM `contact_tags` AS `sk_tag` WHERE `sk_tag`.`contact_id` = `contacts`.`id` AND `sk_tag`.`tag` = :p0)",
            "trino": 'EXISTS(SELECT 1 FROM "contact_tags" AS "sk_tag" WHERE "sk_tag"."contact_id" = "contacts"."id" AND "sk_tag"."tag" = ?)',
            "tsql": "EXISTS(SELECT 1 FROM [contact_tags] AS [sk_tag] WHERE [sk_tag].[contact_id] = [contacts].[id] AND ([sk_tag].[tag] + '.') COLLATE Latin1_General_100_BIN2 = (? + '.'))",
        },
    ),
}


# Extra rules for the parse-back and paramstyle checks: every primitive, both forms.
MORE: list[dict[str, Any]] = [
    {"field": "name", "operator": "eq", "value": "a'b\\c%_"},
    {"field": "name", "operator": "not_in", "value": ["x", "y", "z"]},
    {"field": "name", "operator": "starts_with", "value": "%(p0)s"},
    {"field": "name", "operator": "ends_with", "value": "?"},
    {"field": "name", "operator": "contains", "value": "İ", "ignore_case": True},
    {"field": "name", "operator": "lt", "value": "m"},
    {"field": "name", "operator": "matches", "value": "^a.c$"},
    {"field": "name", "operator": "is_empty"},
    {"field": "name", "operator": "eq", "value": {"field": "odd"}},
    {"field": "odd", "operator": "neq", "value": "x"},
    {"field": "age", "operator": "not_between", "value": [-(2**63), 2**63 - 1]},
    {"field": "ltv", "operator": "eq", "value": "-9999999999999999999999999999.9999999999"},
    {"field": "score", "operator": "lt", "value": 1e-9},
    {"field": "vip", "operator": "is_false"},
    {"field": "born", "operator": "on", "value": "2024-02-29"},
    {"field": "seen", "operator": "on", "value": "2024-03-31"},
    {"field": "at", "operator": "older_than", "value": {"amount": 1, "unit": "months"}},
    {"field": "tags", "operator": "is_not_empty"},
    {"field": "jtags", "operator": "has_all", "value": ["a", "b"]},
    {"field": "ctags", "operator": "is_null"},
    {"field": "ctags", "operator": "is_empty"},
    {"field": "age", "operator": "in", "value": list(range(3000))},
    {"field": "name", "operator": "in", "value": [f"n{i}" for i in range(1500)]},
    {
        "combinator": "or",
        "not": True,
        "rules": [
            {"field": "age", "operator": "gt", "value": 1},
            {
                "combinator": "and",
                "rules": [
                    {"field": "name", "operator": "neq", "value": "a"},
                    {"field": "vip", "operator": "is_true"},
                ],
            },
        ],
    },
    {"combinator": "and", "rules": []},
    {"combinator": "or", "rules": []},
]


def _compile(rule: Any, dialect: str, **kw: Any) -> Any:
    return to_sql(rule, SCHEMA, dialect, NOW, **kw)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_expected_sql(name: str) -> None:
    rule, by_dialect = EXPECTED[name]
    # MariaDB's SQL is MySQL's unless the table says otherwise.
    by_dialect = (
        {"mariadb": by_dialect["mysql"], **by_dialect} if "mysql" in by_dialect else by_dialect
    )
    for dialect in ALL:
        if dialect in by_dialect:
            q = _compile(rule, dialect)
            assert isinstance(q, SqlQuery)
            assert q.text == by_dialect[dialect], dialect
        else:
            with pytest.raises(UnsupportedError) as info:
                _compile(rule, dialect)
            assert info.value.backend == dialect


def test_params_follow_each_paramstyle() -> None:
    rule = {
        "combinator": "and",
        "rules": [
            {"field": "name", "operator": "ends_with", "value": "x"},
            {"field": "vip", "operator": "is_true"},
            {"field": "born", "operator": "eq", "value": "2024-02-29"},
        ],
    }
    got = {d: _compile(rule, d) for d in ALL if d != "tsql"}
    assert got["postgres"].params == {"p0": "x", "p1": True, "p2": dt.date(2024, 2, 29)}
    assert got["mysql"].params == {"p0": "x", "p1": 1, "p2": dt.date(2024, 2, 29)}
    assert got["sqlite"].params == {"p0": "x", "p1": 1, "p2": "2024-02-29"}
    assert got["duckdb"].params == ["x", True, dt.date(2024, 2, 29)]
    assert got["bigquery"].params == {"p0": "x", "p1": True, "p2": dt.date(2024, 2, 29)}
    # qmark repeats a value wherever its placeholder repeats (Trino's suffix uses it twice).
    assert got["trino"].text.count("?") == 4
    assert got["trino"].params == ["x", "x", True, dt.date(2024, 2, 29)]
    assert {q.paramstyle for q in got.values()} == {"pyformat", "named", "numeric", "at", "qmark"}


def test_datetime_params_are_instants_or_wall_time_per_storage() -> None:
    rule = {
        "combinator": "and",
        "rules": [
            {"field": "seen", "operator": "after", "value": "2024-03-31T01:30:00Z"},
            {"field": "at", "operator": "after", "value": "2024-03-31T01:30:00Z"},
        ],
    }
    instant = dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.UTC)
    berlin_wall = dt.datetime(2024, 3, 31, 3, 30)  # CEST: UTC+2 after the change
    assert _compile(rule, "postgres").params == {"p0": berlin_wall, "p1": instant}
    assert _compile(rule, "duckdb").params == [berlin_wall, instant]
    # No zone in MySQL DATETIME / SQLite text: aware fields are stored as UTC wall time.
    assert _compile(rule, "mysql").params == {"p0": berlin_wall, "p1": instant.replace(tzinfo=None)}
    assert _compile(rule, "sqlite").params == {
        "p0": "2024-03-31 03:30:00.000000",
        "p1": "2024-03-31 01:30:00.000000",
    }
    assert "CAST('2024-03-31 01:30:00.000000+00:00' AS TIMESTAMPTZ)" in _compile(
        rule, "postgres", inline=True
    )
    assert "CAST('2024-03-31 03:30:00.000000' AS DATETIME(6))" in _compile(
        rule, "mysql", inline=True
    )


def test_decimal_params_and_literals_are_exact() -> None:
    rule = {"field": "ltv", "operator": "eq", "value": "-9999999999999999999999999999.9999999999"}
    assert _compile(rule, "postgres").params == {
        "p0": Decimal("-9999999999999999999999999999.9999999999")
    }
    assert _compile(rule, "sqlite").params == {"p0": "-9999999999999999999999999999.9999999999"}
    assert _compile(rule, "postgres", inline=True).endswith(
        "= -9999999999999999999999999999.9999999999"
    )
    rule = {"field": "ltv", "operator": "gt", "value": "1E+2"}
    assert _compile(rule, "trino", inline=True).endswith("> 100")
    assert _compile(rule, "bigquery", inline=True).endswith("> CAST('100' AS BIGNUMERIC)")


def _parseable(text: str, dialect: str) -> str:
    # sqlglot's MySQL and Snowflake tokenizers do not know pyformat placeholders
    # (PostgreSQL's does): read them as named placeholders for the parse check.
    if dialect in ("mysql", "mariadb", "snowflake"):
        return re.sub(r"%\((p\d+)\)s", r":\1", text)
    return text


@pytest.mark.parametrize("dialect", ALL)
def test_every_output_parses_back(dialect: str) -> None:
    rules = [r for r, _ in EXPECTED.values()] + MORE
    checked = 0
    for rule in rules:
        for inline in (False, True):
            try:
                out = _compile(rule, dialect, inline=inline, select=True)
            except UnsupportedError:
                continue
            text = out if inline else _parseable(out.text, dialect)
            tree = sqlglot.parse_one(text, read=DIALECTS[dialect].sqlglot_dialect)
            assert isinstance(tree, exp.Select)
            assert tree.args["from_"].this.name == "contacts"
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize("dialect", ALL)
def test_inline_literals_round_trip_through_the_parser(dialect: str) -> None:
    nasty = "a'b\"c\\d%e_f`g]h\nİ😀"
    try:
        text = _compile(
            {"field": "name", "operator": "eq", "value": nasty}, dialect, inline=True, select=True
        )
    except UnsupportedError:  # pragma: no cover - every dialect has string equality
        raise
    tree = sqlglot.parse_one(text, read=DIALECTS[dialect].sqlglot_dialect)
    strings = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
    strings |= {lit.this for lit in tree.find_all(exp.National)}  # T-SQL N'...'
    # PostgreSQL E'...' (read alike whatever standard_conforming_strings says)
    strings |= {lit.this for lit in tree.find_all(exp.ByteString)}
    # MySQL/MariaDB _utf8mb4 X'...' (read alike whatever NO_BACKSLASH_ESCAPES says)
    strings |= {bytes.fromhex(h.this).decode() for h in tree.find_all(exp.HexString)}
    assert nasty in strings


@pytest.mark.parametrize("dialect", ALL)
def test_identifiers_are_quoted_and_escaped(dialect: str) -> None:
    text = _compile({"field": "odd", "operator": "is_null"}, dialect, select=True).text
    tree = sqlglot.parse_one(_parseable(text, dialect), read=DIALECTS[dialect].sqlglot_dialect)
    columns = {c.name for c in tree.find_all(exp.Column)}
    assert 'we"ird `col]' in columns
    assert all(i.quoted for i in tree.find_all(exp.Identifier))


def test_pyformat_text_has_no_stray_percent() -> None:
    rule = {
        "combinator": "and",
        "rules": [
            {"field": "name", "operator": "contains", "value": "50%"},
            {"field": "jtags", "operator": "has", "value": "%s"},
            {"field": "name", "operator": "eq", "value": "x", "ignore_case": True},
        ],
    }
    for dialect in ("postgres", "mysql", "snowflake"):
        try:
            text = _compile(rule, dialect).text
        except UnsupportedError:
            continue
        assert "%" not in re.sub(r"%\(p\d+\)s", "", text), dialect


def test_select_statement() -> None:
    q = _compile({"field": "age", "operator": "gte", "value": 18}, "postgres", select=True)
    assert q.text == 'SELECT "contacts"."id" FROM "contacts" WHERE "contacts"."age" >= %(p0)s'
    q = _compile({"field": "age", "operator": "gte", "value": 18}, "tsql", select=True)
    assert q.text == "SELECT [contacts].[id] FROM [contacts] WHERE [contacts].[age] >= ?"


def test_constant_rules() -> None:
    assert _compile({"combinator": "and", "rules": []}, "postgres").text == "TRUE"
    assert _compile({"combinator": "or", "rules": []}, "postgres").text == "FALSE"
    assert _compile({"combinator": "or", "rules": []}, "sqlite").text == "0"
    assert _compile({"combinator": "or", "rules": []}, "tsql").text == "(1 = 0)"


# ---------------------------------------------------------------------------- cache
def test_same_shape_same_text_different_params() -> None:
    sql.clear_cache()
    a = _compile({"field": "name", "operator": "eq", "value": "a"}, "postgres")
    b = _compile({"field": "name", "operator": "eq", "value": "b"}, "postgres")
    assert a.text == b.text
    assert a.params == {"p0": "a"} and b.params == {"p0": "b"}
    assert sql.cache_size() == 1


def test_list_length_shapes_the_text_but_long_lists_are_one_parameter() -> None:
    short2 = _compile({"field": "age", "operator": "in", "value": [1, 2]}, "mysql")
    short3 = _compile({"field": "age", "operator": "in", "value": [1, 2, 3]}, "mysql")
    assert short2.text != short3.text
    assert short3.params == {"p0": 1, "p1": 2, "p2": 3}
    long_pg = _compile(
        {"field": "age", "operator": "in", "value": list(range(100_000))}, "postgres"
    )
    assert long_pg.text == '"contacts"."age" = ANY(CAST(%(p0)s AS BIGINT[]))'
    assert long_pg.params == {"p0": list(range(100_000))}
    long_lite = _compile({"field": "age", "operator": "in", "value": list(range(5000))}, "sqlite")
    assert long_lite.text == '"contacts"."age" IN (SELECT "value" FROM JSON_EACH(:p0))'
    assert long_lite.params == {"p0": "[" + ", ".join(map(str, range(5000))) + "]"}
    long_duck = _compile({"field": "age", "operator": "in", "value": list(range(5000))}, "duckdb")
    assert long_duck.params == [list(range(5000))]
    with pytest.raises(UnsupportedError, match="tsql"):
        _compile({"field": "age", "operator": "in", "value": list(range(5000))}, "tsql")


def test_cache_distinguishes_dialect_schema_and_select() -> None:
    rule = {"field": "age", "operator": "gt", "value": 1}
    other = Schema(list(SCHEMA), table="people", key="id")
    texts = {
        _compile(rule, "postgres").text,
        _compile(rule, "duckdb").text,
        _compile(rule, "postgres", select=True).text,
        to_sql(rule, other, "postgres", NOW).text,
    }
    assert len(texts) == 4


def test_inline_is_not_cached_and_escapes_per_dialect() -> None:
    rule = {"field": "name", "operator": "eq", "value": "it's \\ 100%"}
    # A backslash reads differently under non-default server modes: forms that need no
    # backslash escaping on PostgreSQL (E'') and MySQL/MariaDB (hexadecimal).
    assert _compile(rule, "postgres", inline=True) == "\"contacts\".\"name\" = E'it''s \\\\ 100%'"
    assert _compile(rule, "bigquery", inline=True) == "`contacts`.`name` = 'it\\'s \\\\ 100%'"
    hexed = b"it's \\ 100%".hex().upper()
    assert _compile(rule, "mysql", inline=True).startswith(
        f"`contacts`.`name` = _utf8mb4 X'{hexed}'"
    )
    plain = {"field": "name", "operator": "eq", "value": "it's 100%"}
    assert _compile(plain, "postgres", inline=True) == "\"contacts\".\"name\" = 'it''s 100%'"


def test_compile_predicate_takes_hand_built_primitives() -> None:
    name = p.FieldRef(SCHEMA["name"])
    tree = p.Or(
        (
            p.Not(p.Prefix(p.Lower(name), p.Param("ab", FieldType.STRING))),
            p.InList(name, (), FieldType.STRING),  # never `x IN ()`
        )
    )
    for field in ("jtags", "ctags", "tags"):
        empty = p.TagsAny(p.FieldRef(SCHEMA[field]), ())
        for dialect in ("sqlite", "mysql", "postgres", "duckdb", "bigquery"):
            assert compile_predicate(empty, SCHEMA, dialect, inline=True) in ("FALSE", "0")
    text = compile_predicate(tree, SCHEMA, "duckdb").text
    assert (
        text
        == '(NOT (STARTS_WITH(LOWER("contacts"."name") COLLATE c, $1)) OR "contacts"."name" IS NULL) OR FALSE'
    )
    assert "IN ()" not in compile_predicate(tree, SCHEMA, "mysql", inline=True)


# --------------------------------------------------------------------------- errors
def test_unknown_dialect_suggests_a_name() -> None:
    with pytest.raises(RuleError, match='did you mean "postgres"'):
        _compile({"field": "age", "operator": "gt", "value": 1}, "postgre")
    with pytest.raises(RuleError, match="unknown SQL dialect"):
        _compile({"field": "age", "operator": "gt", "value": 1}, 42)  # type: ignore[arg-type]
    with pytest.raises(RuleError, match=r"unknown SQL dialect 'pppp.*\.\.\.; known"):
        _compile({"field": "age", "operator": "gt", "value": 1}, "p" * 1_000_000)


@pytest.mark.parametrize(
    ("alias", "name"),
    [("postgresql", "postgres"), ("MariaDB", "mariadb"), ("mssql", "tsql"), ("sqlite3", "sqlite")],
)
def test_dialect_aliases(alias: str, name: str) -> None:
    rule = {"field": "age", "operator": "gt", "value": 1}
    assert _compile(rule, alias) == _compile(rule, name)


UNSUPPORTED = [
    (
        {"field": "name", "operator": "eq", "value": "a", "ignore_case": True},
        "tsql",
        "case-insensitive",
    ),
    ({"field": "name", "operator": "gt", "value": "a"}, "tsql", "string ordering"),
    ({"field": "name", "operator": "matches", "value": "a"}, "tsql", "regular-expression"),
    ({"field": "name", "operator": "matches", "value": "a"}, "snowflake", "regular-expression"),
    ({"field": "tags", "operator": "has", "value": "a"}, "sqlite", "array"),
    ({"field": "tags", "operator": "is_empty"}, "mysql", "array"),
    ({"field": "jtags", "operator": "has", "value": "a"}, "bigquery", "JSON"),
    ({"field": "jtags", "operator": "has", "value": "a"}, "trino", "JSON"),
    ({"field": "jtags", "operator": "is_empty"}, "spark", "JSON"),
    ({"field": "age", "operator": "in", "value": list(range(2001))}, "tsql", "IN list"),
]


@pytest.mark.parametrize(("rule", "dialect", "construct"), UNSUPPORTED)
def test_unsupported_names_construct_and_dialect(
    rule: dict[str, Any], dialect: str, construct: str
) -> None:
    with pytest.raises(UnsupportedError) as info:
        _compile(rule, dialect)
    assert info.value.backend == dialect
    assert construct in info.value.construct
    assert dialect in str(info.value)
    with pytest.raises(UnsupportedError):
        _compile(rule, dialect, inline=True)


def test_segment_references_are_unsupported_in_sql_text() -> None:
    for dialect in ALL:
        with pytest.raises(UnsupportedError, match="segment reference"):
            compile_predicate(p.InSegment("vip"), SCHEMA, dialect)


def test_dialect_registry_is_complete() -> None:
    assert set(DIALECTS) == set(ALL)
    assert sql.dialect_names()[:2] == ["bigquery", "databricks"]


# --------------------------------------------------------------------------- sqlite
def test_register_sqlite_functions_on_a_plain_connection() -> None:
    conn = sqlite3.connect(":memory:")
    sql.register_sqlite_functions(conn)
    conn.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT)")
    conn.executemany(
        "INSERT INTO contacts VALUES (?, ?)",
        [(1, "İSTANBUL"), (2, "ΣΑΣ"), (3, "abc"), (4, None), (5, "x\ny")],
    )

    def run(rule: dict[str, Any]) -> set[int]:
        q = to_sql(rule, SCHEMA, "sqlite", NOW, select=True)
        return {r[0] for r in conn.execute(q.text, q.params)}

    assert run({"field": "name", "operator": "eq", "value": "istanbul", "ignore_case": True}) == {1}
    assert run({"field": "name", "operator": "eq", "value": "σασ", "ignore_case": True}) == {2}
    assert run({"field": "name", "operator": "matches", "value": "^x.y$"}) == set()
    assert run({"field": "name", "operator": "matches", "value": "^[a-c]+$"}) == {3}
    assert run({"field": "name", "operator": "not_matches", "value": "^[a-c]+$"}) == {1, 2, 4, 5}


def test_tsql_strings_keep_null_and_trailing_spaces() -> None:
    # `+` keeps NULL NULL (CONCAT would read it as ''); N'' keeps non-Latin text.
    text = _compile({"field": "name", "operator": "in", "value": ["a ", "İ"]}, "tsql", inline=True)
    assert text == (
        "([contacts].[name] + '.') COLLATE Latin1_General_100_BIN2 IN ((N'a ' + '.'), (N'İ' + '.'))"
    )
    aware = _compile(
        {"field": "at", "operator": "gt", "value": "2024-03-31T01:30:00+02:00"}, "tsql"
    )
    assert aware.params == [dt.datetime(2024, 3, 30, 23, 30)]


def test_sqlglot_unsupported_is_raised_as_ours() -> None:
    # A tree sqlglot cannot write for MySQL (arrays): generation runs with
    # unsupported_level=RAISE and the error names the dialect.
    tree = exp.ArrayOverlaps(this=exp.column("a"), expression=exp.Array(expressions=[]))
    with pytest.raises(UnsupportedError, match="mysql"):
        sql.generate(DIALECTS["mysql"], tree)


# ------------------------------------------------------------------ support matrix
PROBES: dict[str, dict[str, Any]] = {
    "string ordering": {"field": "name", "operator": "lt", "value": "m"},
    "case-insensitive comparison": {
        "field": "name",
        "operator": "eq",
        "value": "a",
        "ignore_case": True,
    },
    "regular-expression match": {"field": "name", "operator": "matches", "value": "^a"},
    "tags stored as an array": {"field": "tags", "operator": "has", "value": "a"},
    "tags stored as a JSON array": {"field": "jtags", "operator": "has", "value": "a"},
    "IN lists over the parameter limit": {
        "field": "age",
        "operator": "in",
        "value": list(range(3000)),
    },
}


@pytest.mark.parametrize("dialect", ALL)
@pytest.mark.parametrize("construct", PROBES)
def test_unsupported_tables_tell_the_truth(construct: str, dialect: str) -> None:
    """A dialect refuses a construct exactly when its UNSUPPORTED table lists it."""
    from segmentkit.compile.base import CONSTRUCTS

    assert set(PROBES) == set(CONSTRUCTS)
    listed = construct in DIALECTS[dialect].UNSUPPORTED
    for inline in (False, True):
        try:
            _compile(PROBES[construct], dialect, inline=inline)
        except UnsupportedError as error:
            assert listed and error.construct == construct and error.backend == dialect
            assert error.reason == DIALECTS[dialect].UNSUPPORTED[construct]
        else:
            assert not listed, f"{dialect} lists {construct!r} but compiles it"


def test_support_matrix_in_the_docs_is_generated() -> None:
    from pathlib import Path

    from segmentkit.compile.dialects import support_matrix

    page = (Path(__file__).resolve().parents[1] / "docs" / "sql.md").read_text(encoding="utf-8")
    assert support_matrix() in page, "regenerate docs/sql.md's matrix with support_matrix()"
