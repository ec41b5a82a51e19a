"""The SQLAlchemy backend in itself: expected SQL per dialect, caching, binding, errors,
big lists, index use and connection helpers. (Agreement of results across engines is
tests/test_differential.py.)"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from adversarial import NOW
from backends import Backend, SQLBackend
from segmentkit import primitives as p
from segmentkit.compile.engines import register_sqlite_functions
from segmentkit.compile.sqlalchemy import (
    _successor,
    compile_predicate,
    contacts_table,
    members_select,
    to_sqlalchemy,
)
from segmentkit.errors import RuleError, UnsupportedError
from segmentkit.schema import ChildTable, Field, Schema, TagStorage
from segmentkit.types import FieldType as T

SCHEMA = Schema(
    [
        Field("name", T.STRING),
        Field("age", T.INTEGER),
        Field("score", T.DECIMAL),
        Field("seen", T.DATETIME),
        Field("paid", T.DATETIME, naive=False),
        Field("tags", T.TAGS, tags=TagStorage.ARRAY),
        Field("jtags", T.TAGS),
        Field("ctags", T.TAGS, tags=ChildTable("contact_tags", "contact_id", "tag")),
    ],
    table="contacts",
    key="id",
    timezone="Europe/Berlin",
)
F = {f.name: p.FieldRef(f) for f in SCHEMA}
MARIADB = mysql.pymysql.dialect()
MARIADB.is_mariadb = True  # what the dialect learns on connect to a MariaDB server


def sql(pred: p.Predicate, dialect: Any) -> str:
    stmt = sa.select(contacts_table(SCHEMA).c.id).where(compile_predicate(pred, SCHEMA))
    text = str(stmt.compile(dialect=dialect))
    return text.split("WHERE ", 1)[1]


def s(v: str) -> p.Param:
    return p.Param(v, T.STRING)


# --------------------------------------------------------------------------- expected SQL
EXPECTED: list[tuple[str, p.Predicate, dict[str, str]]] = [
    (
        "eq",
        p.Compare("eq", F["name"], s("a")),
        {
            "sqlite": '"contacts"."name" COLLATE BINARY = ?',
            "postgresql": '"contacts"."name" = %(param_1)s::VARCHAR',
            "mariadb": "(`contacts`.`name` = %s AND CONVERT(`contacts`.`name` USING utf8mb4) "
            "COLLATE utf8mb4_nopad_bin = %s)",
        },
    ),
    (
        "lt",
        p.Compare("lt", F["name"], s("a")),
        {
            "sqlite": '"contacts"."name" COLLATE BINARY < ?',
            "postgresql": '"contacts"."name" COLLATE "C" < %(param_1)s::VARCHAR',
            "mariadb": "CONVERT(`contacts`.`name` USING utf8mb4) COLLATE utf8mb4_nopad_bin < %s",
        },
    ),
    (
        "neq-ic",
        p.Not(p.Compare("eq", p.Lower(F["name"]), s("a"))),
        {
            "sqlite": 'NOT (CASE WHEN length(CAST("contacts"."name" AS BLOB)) = length("contacts"."name")'
            ' THEN lower("contacts"."name") ELSE sk_lower("contacts"."name") END COLLATE BINARY = ?)'
            ' OR "contacts"."name" IS NULL',
            "postgresql": 'NOT (lower("contacts"."name") = %(param_1)s::VARCHAR) OR "contacts"."name" IS NULL',
            "mariadb": "NOT (CONVERT(LOWER(CONVERT(`contacts`.`name` USING utf8mb4) COLLATE "
            "utf8mb4_uca1400_ai_ci) USING utf8mb4) COLLATE utf8mb4_nopad_bin = %s) "
            "OR `contacts`.`name` IS NULL",
        },
    ),
    (
        "contains",
        p.Contains(F["name"], s("%")),
        {
            "sqlite": 'instr("contacts"."name", ?) > 0',
            "postgresql": 'strpos("contacts"."name", %(param_1)s::VARCHAR) > 0',
            "mariadb": "LOCATE(%s, CONVERT(`contacts`.`name` USING utf8mb4) COLLATE utf8mb4_nopad_bin) > 0",
        },
    ),
    (
        "prefix",
        p.Prefix(F["name"], s("a_")),
        {
            "sqlite": '("contacts"."name" COLLATE BINARY >= ? AND "contacts"."name" COLLATE BINARY < ?)',
            "postgresql": 'starts_with("contacts"."name", %(param_1)s::VARCHAR)',
            "mariadb": "(`contacts`.`name` LIKE %s ESCAPE '!' AND LEFT(CONVERT(`contacts`.`name` "
            "USING utf8mb4) COLLATE utf8mb4_nopad_bin, CHAR_LENGTH(%s)) = %s)",
        },
    ),
    (
        "in",
        p.InList(F["age"], (1, 2), T.INTEGER),
        {
            "sqlite": '"contacts"."age" IN (SELECT value FROM json_each(?))',
            "postgresql": '"contacts"."age" = ANY(%(param_1)s::BIGINT[])',
            "mariadb": "`contacts`.`age` IN (__[POSTCOMPILE_param_1])",
        },
    ),
    (
        "tags-array",
        p.TagsAny(F["tags"], ("a",)),
        {
            "postgresql": 'CAST("contacts"."tags" AS TEXT[]) && CAST(%(param_1)s::VARCHAR[] AS TEXT[])'
        },
    ),
    (
        "tags-json",
        p.TagsAny(F["jtags"], ("a",)),
        {
            "sqlite": 'EXISTS (SELECT 1 FROM json_each("contacts"."jtags") AS sk_t WHERE sk_t.type = \'text\' '
            "AND sk_t.value COLLATE BINARY IN (SELECT value FROM json_each(?)))",
            "postgresql": 'CAST("contacts"."jtags" AS JSONB) ?| CAST(%(param_1)s::VARCHAR[] AS TEXT[])',
        },
    ),
    ("const-true", p.Const(True), {"sqlite": "1 = 1", "postgresql": "true"}),
    ("const-false", p.Const(False), {"sqlite": "0 = 1", "postgresql": "false"}),
]
DIALECTS = {
    "sqlite": sqlite.dialect(),
    "postgresql": postgresql.psycopg.dialect(),
    "mariadb": MARIADB,
}


@pytest.mark.parametrize(
    ("name", "pred", "dialect", "expected"),
    [(n, pr, d, e) for n, pr, exp in EXPECTED for d, e in exp.items()],
    ids=[f"{n}-{d}" for n, _, exp in EXPECTED for d in exp],
)
def test_expected_sql(name: str, pred: p.Predicate, dialect: str, expected: str) -> None:
    assert sql(pred, DIALECTS[dialect]) == expected


def test_values_are_bound_never_inlined() -> None:
    evil = "x'); DROP TABLE contacts; --"
    for dialect in DIALECTS.values():
        text = sql(
            p.Or((p.Compare("eq", F["name"], s(evil)), p.Contains(F["name"], s(evil)))), dialect
        )
        assert "DROP" not in text


# --------------------------------------------------------------------------- caching
def test_same_shape_same_sql_and_cache_key() -> None:
    def rule(v: str, n: int) -> dict[str, Any]:
        return {
            "combinator": "and",
            "rules": [
                {"field": "name", "operator": "starts_with", "value": v, "ignore_case": True},
                {"field": "age", "operator": "in", "value": [n, n + 1]},
                {"field": "seen", "operator": "in_last", "value": {"amount": n, "unit": "days"}},
            ],
        }

    a, b = members_select(rule("a", 1), SCHEMA, NOW), members_select(rule("zz'", 7), SCHEMA, NOW)
    key_a, key_b = a._generate_cache_key(), b._generate_cache_key()
    assert key_a is not None and key_a == key_b
    for dialect in DIALECTS.values():
        assert str(a.compile(dialect=dialect)) == str(b.compile(dialect=dialect))


def test_statement_cache_is_used(sql_backend: Backend, request: pytest.FixtureRequest) -> None:
    """The second execution of a same-shape rule hits SQLAlchemy's compiled cache."""
    from backends import gap

    gap(
        request,
        sql_backend,
        {"duckdb": "duckdb_engine declares no statement-cache support (upstream)"},
    )
    assert isinstance(sql_backend, SQLBackend)
    stats: list[str] = []

    def record(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        stats.append(str(context.cache_hit))

    sa.event.listen(sql_backend.engine, "before_cursor_execute", record)
    try:
        for v in ["alpha", "beta", "gamma"]:
            sql_backend.members({"field": "s", "operator": "contains", "value": v}, NOW)
    finally:
        sa.event.remove(sql_backend.engine, "before_cursor_execute", record)
    assert "CACHE_HIT" in stats[-1], stats


# --------------------------------------------------------------------------- errors
def test_event_condition_without_event_source_is_refused() -> None:
    pred = p.EventCount("purchase", p.Const(True), None, None, "ge", 1)
    with pytest.raises(UnsupportedError, match="no event source"):
        compile_predicate(pred, SCHEMA)


def test_segment_reference_needs_a_lookup() -> None:
    with pytest.raises(UnsupportedError, match="segment reference"):
        compile_predicate(p.InSegment("vip"), SCHEMA)
    members = sa.table("segment_members", sa.column("segment_id"), sa.column("contact_id"))
    where = compile_predicate(
        p.Not(p.InSegment("vip")),
        SCHEMA,
        segment_members=lambda sid: sa.select(members.c.contact_id).where(
            members.c.segment_id == sid
        ),
    )
    text = str(where.compile(dialect=sqlite.dialect()))
    assert '"contacts"."id" NOT IN (SELECT segment_members.contact_id' in text


def test_array_tags_unsupported_on_sqlite() -> None:
    with pytest.raises(UnsupportedError, match="tags stored as array"):
        sql(p.TagsAny(F["tags"], ("a",)), sqlite.dialect())


def test_invalid_rule_raises_rule_error() -> None:
    with pytest.raises(RuleError):
        to_sqlalchemy({"field": "nope", "operator": "eq", "value": 1}, SCHEMA, NOW)


def test_field_to_field_datetimes_in_different_storage() -> None:
    with pytest.raises(UnsupportedError, match="different zones"):
        compile_predicate(p.Compare("lt", F["seen"], F["paid"]), SCHEMA)


# --------------------------------------------------------------------------- values
def test_datetime_params_follow_storage() -> None:
    instant = dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.UTC)
    naive = compile_predicate(p.Compare("lt", F["seen"], p.Param(instant, T.DATETIME)), SCHEMA)
    aware = compile_predicate(p.Compare("lt", F["paid"], p.Param(instant, T.DATETIME)), SCHEMA)
    pg, lite = postgresql.psycopg.dialect(), sqlite.dialect()

    def bound(expr: Any, dialect: Any) -> Any:
        param = expr.right
        return param.type.process_bind_param(param.value, dialect)

    assert bound(naive, pg) == dt.datetime(2024, 7, 1, 14, 0)  # wall time in Berlin (CEST)
    assert bound(aware, pg) == instant
    assert bound(aware, lite) == dt.datetime(2024, 7, 1, 12, 0)  # UTC wall time


@pytest.mark.parametrize(
    ("prefix", "upper"),
    [
        ("a", "b"),
        ("a\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("\ud7ff"[:0] + "\ud7ff", "\ue000"),
        ("", None),
    ],
)
def test_prefix_successor(prefix: str, upper: str | None) -> None:
    assert _successor(prefix) == upper


def test_lightweight_table_quotes_identifiers() -> None:
    schema = Schema([Field("Order", T.INTEGER, column="select")], table="My Table", key="id")
    text = str(
        members_select({"field": "Order", "operator": "eq", "value": 1}, schema, NOW).compile(
            dialect=postgresql.dialect()
        )
    )
    assert '"My Table"."select"' in text and 'FROM "My Table"' in text


# --------------------------------------------------------------------------- limits
def test_hundred_thousand_values(backend: Backend) -> None:
    """An in-list of 100,000 values is one parameter: no engine's limit is reached."""
    from backends import MemoryBackend

    values = [*list(range(-50000, 49999)), 2**63 - 1]
    rule = {"field": "n", "operator": "in", "value": values}

    reference = MemoryBackend()
    assert backend.members(rule, NOW) == reference.members(rule, NOW)
    strings = [f"v{i}" for i in range(99_998)] + ["a", "%"]
    rule = {"field": "s", "operator": "not_in", "value": strings}
    assert backend.members(rule, NOW) == reference.members(rule, NOW)


def test_megabyte_string(backend: Backend) -> None:
    from backends import MemoryBackend

    needle = "a" * 1_000_000
    for op in ("eq", "contains", "starts_with", "not_ends_with"):
        rule = {"field": "s", "operator": op, "value": needle}
        assert backend.members(rule, NOW) == MemoryBackend().members(rule, NOW)


# --------------------------------------------------------------------------- connections
def test_sqlite_functions_on_any_sqlalchemy_engine() -> None:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sk_lower('İΣA')").scalar() == "iσa"
        assert conn.exec_driver_sql("SELECT sk_regexp('^a.c$', 'abc')").scalar() == 1
    engine.dispose()


def test_register_on_a_stdlib_connection() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        register_sqlite_functions(conn)
        register_sqlite_functions(conn)  # idempotent
        assert conn.execute("SELECT sk_lower('ÀẞǅΣ')").fetchone() == ("àßǆσ",)
    finally:
        conn.close()


# --------------------------------------------------------------------------- index use
def _plan(backend: SQLBackend, stmt: sa.Select[Any]) -> str:
    """The engine's plan for ``stmt``, run with its real bound parameters."""
    prefix = {"sqlite": "EXPLAIN QUERY PLAN ", "postgres": "EXPLAIN ", "mariadb": "EXPLAIN "}[
        backend.name
    ]

    def explain(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> Any:
        return prefix + statement, params

    with backend.engine.connect() as conn:
        if backend.name == "postgres":
            conn.exec_driver_sql("SET enable_seqscan = off")
        sa.event.listen(conn, "before_cursor_execute", explain, retval=True)
        try:
            result = conn.execute(stmt)
            rows = result.cursor.fetchall() if result.cursor is not None else []
        finally:
            sa.event.remove(conn, "before_cursor_execute", explain)
        if backend.name == "postgres":
            conn.exec_driver_sql("RESET enable_seqscan")
    return "\n".join(" ".join(str(c) for c in row) for row in rows)


@pytest.mark.parametrize("op", ["eq", "starts_with", "in"])
def test_index_is_usable(sql_backend: Backend, op: str, request: pytest.FixtureRequest) -> None:
    """Positive string predicates stay sargable where the engine has b-tree indexes."""
    from backends import gap

    if sql_backend.name == "duckdb":
        pytest.skip("DuckDB scans with zone maps; no b-tree plan to check")
    gap(
        request,
        sql_backend,
        {
            "postgres": "starts_with() has no b-tree support (needs an SP-GiST index)",
        }
        if op == "starts_with"
        else {},
    )
    assert isinstance(sql_backend, SQLBackend)
    meta = sa.MetaData()
    table = sa.Table(
        f"{sql_backend.contacts.name}_idx",
        meta,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(100), index=True),
        **sql_backend.table_kwargs(),
    )
    meta.create_all(sql_backend.engine)
    try:
        with sql_backend.engine.begin() as conn:
            conn.execute(
                table.insert(), [{"id": i, "email": f"user{i}@example.com"} for i in range(2000)]
            )
            if sql_backend.name == "postgres":
                conn.exec_driver_sql(f'ANALYZE "{table.name}"')
            elif sql_backend.name == "mariadb":
                conn.exec_driver_sql(f"ANALYZE TABLE `{table.name}`")
            elif sql_backend.name == "sqlite":
                conn.exec_driver_sql("ANALYZE")
        value: Any = (
            ["user7@example.com", "user8@example.com"] if op == "in" else "user7@example.com"
        )
        rule = {"field": "email", "operator": op, "value": value}
        plan = _plan(sql_backend, members_select(rule, Schema.from_table(table), NOW))
        index = f"ix_{table.name}_email"
        assert index in plan or "Index Cond" in plan, plan
    finally:
        meta.drop_all(sql_backend.engine)


def test_lower_under_an_explicit_c_collation(sql_backend: Backend) -> None:
    """A column declared COLLATE "C" is still lowered per code point (PostgreSQL's
    lower() follows the operand's collation, ASCII-only under "C")."""
    if sql_backend.name != "postgres":
        pytest.skip("column collations are a PostgreSQL concern here")
    assert isinstance(sql_backend, SQLBackend)
    meta = sa.MetaData()
    table = sa.Table(
        f"{sql_backend.contacts.name}_c",
        meta,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("s", sa.Text(collation="C")),
    )
    meta.create_all(sql_backend.engine)
    try:
        with sql_backend.engine.begin() as conn:
            conn.execute(table.insert(), [{"id": 1, "s": "ÄRGER"}, {"id": 2, "s": "İSTANBUL"}])
        schema = Schema.from_table(table)
        with sql_backend.engine.connect() as conn:
            for value, expected in [("ärger", {1}), ("istanbul", {2}), ("Ärger", {1})]:
                rule = {"field": "s", "operator": "eq", "value": value, "ignore_case": True}
                assert set(conn.execute(members_select(rule, schema, NOW)).scalars()) == expected
    finally:
        meta.drop_all(sql_backend.engine)
