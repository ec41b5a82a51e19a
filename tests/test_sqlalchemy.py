"""The SQLAlchemy backend in itself: expected SQL per dialect, caching, binding, errors,
big lists, index use and connection helpers. (Agreement of results across engines is
tests/test_differential.py.)"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql, sqlite

from adversarial import NOW
from backends import Backend, SQLBackend
from segmentkit import primitives as p
from segmentkit.compile.dialects import SegmentTable
from segmentkit.compile.dialects import successor as _successor
from segmentkit.compile.engines import register_sqlite_functions
from segmentkit.compile.sqlalchemy import (
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


# --------------------------------------------------------------------------- one compiler
# The SQLAlchemy view renders through the same dialect classes as ``to_sql``: the same text
# up to the placeholders (the expected SQL of each dialect is tests/test_sql_dialects.py).
VIEW_CASES: list[tuple[str, p.Predicate]] = [
    ("eq", p.Compare("eq", F["name"], s("a"))),
    ("lt", p.Compare("lt", F["name"], s("a"))),
    ("neq-ic", p.Not(p.Compare("eq", p.Lower(F["name"]), s("a")))),
    ("contains", p.Contains(F["name"], s("50%_"))),
    ("prefix", p.Prefix(F["name"], s("ab"))),
    ("suffix", p.Not(p.Suffix(F["name"], s("ab")))),
    ("in", p.InList(F["name"], ("a", "b", "c"), T.STRING)),
    ("in-ints", p.InList(F["age"], tuple(range(2000)), T.INTEGER)),
    ("tags-json", p.TagsAny(F["jtags"], ("a", "b"))),
    ("tags-child", p.Not(p.TagsAny(F["ctags"], ("a",)))),
    ("window", p.Compare("ge", F["seen"], p.Param(NOW, T.DATETIME))),
    ("const-or", p.Or((p.Const(True), p.IsNull(F["age"])))),
]
VIEW_DIALECTS = {
    "sqlite": (sqlite.dialect(), "sqlite"),
    "postgresql": (postgresql.psycopg.dialect(), "postgres"),
    "mysql": (mysql.pymysql.dialect(), "mysql"),
    "mariadb": (MARIADB, "mariadb"),
}
_PLACEHOLDER = re.compile(r"%\(\w+\)s|:\w+|\?|\$\d+|%s")


@pytest.mark.parametrize("dialect", VIEW_DIALECTS)
@pytest.mark.parametrize(("name", "pred"), VIEW_CASES, ids=[n for n, _ in VIEW_CASES])
def test_view_renders_what_to_sql_renders(name: str, pred: p.Predicate, dialect: str) -> None:
    from segmentkit.compile.sql import compile_predicate as sql_text

    sa_dialect, ours = VIEW_DIALECTS[dialect]
    view = sql(pred, sa_dialect)
    text = sql_text(pred, SCHEMA, ours)
    assert not isinstance(text, str)
    assert _PLACEHOLDER.sub("?", view) == _PLACEHOLDER.sub("?", text.text)


def test_view_binds_what_to_sql_binds() -> None:
    from segmentkit.compile.sql import compile_predicate as sql_text

    pred = p.And(tuple(pr for _, pr in VIEW_CASES))
    for sa_dialect, ours in VIEW_DIALECTS.values():
        compiled = (
            sa.select(contacts_table(SCHEMA).c.id)
            .where(compile_predicate(pred, SCHEMA))
            .compile(dialect=sa_dialect)
        )
        processors = compiled._bind_processors
        got = [
            processors[name](value) if name in processors else value
            for name, value in compiled.params.items()
        ]
        expected = sql_text(pred, SCHEMA, ours)
        assert not isinstance(expected, str)
        params = expected.params
        want = list(params.values()) if isinstance(params, dict) else params
        # Both sides name their parameters differently, and a named placeholder that
        # occurs twice in to_sql's text is one parameter: compare the values as sets.
        assert set(map(repr, got)) == set(map(repr, want))


def test_values_are_bound_never_inlined() -> None:
    evil = "x'); DROP TABLE contacts; --"
    for dialect, _ in VIEW_DIALECTS.values():
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
    for dialect, _ in VIEW_DIALECTS.values():
        assert str(a.compile(dialect=dialect)) == str(b.compile(dialect=dialect))


def test_statement_cache_is_used(sql_backend: Backend, request: pytest.FixtureRequest) -> None:
    """The second execution of a same-shape rule hits SQLAlchemy's compiled cache."""
    from backends import gap

    gap(
        request,
        sql_backend,
        {"duckdb": ("notyet", "duckdb_engine declares no statement-cache support")},
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
        sql(pred, sqlite.dialect())


def test_segment_reference_needs_a_membership_table() -> None:
    with pytest.raises(UnsupportedError, match="segment reference"):
        sql(p.InSegment("vip"), sqlite.dialect())
    where = compile_predicate(
        p.Not(p.InSegment("vip")),
        SCHEMA,
        segments=SegmentTable("segment_members", "segment_id", "contact_id"),
    )
    text = str(where.compile(dialect=sqlite.dialect()))
    # NOT EXISTS stays the exact complement when the membership table holds NULL keys.
    assert 'NOT EXISTS(SELECT 1 FROM "segment_members" AS "sk_member"' in text


def test_array_tags_unsupported_on_sqlite() -> None:
    with pytest.raises(UnsupportedError, match="tags stored as an array"):
        sql(p.TagsAny(F["tags"], ("a",)), sqlite.dialect())


def test_invalid_rule_raises_rule_error() -> None:
    with pytest.raises(RuleError):
        to_sqlalchemy({"field": "nope", "operator": "eq", "value": 1}, SCHEMA, NOW)


def test_field_to_field_datetimes_in_different_storage() -> None:
    with pytest.raises(UnsupportedError, match="different zones"):
        sql(p.Compare("lt", F["seen"], F["paid"]), postgresql.dialect())


# --------------------------------------------------------------------------- values
def test_datetime_params_follow_storage() -> None:
    instant = dt.datetime(2024, 7, 1, 12, 0, tzinfo=dt.UTC)
    pg, lite = postgresql.psycopg.dialect(), sqlite.dialect()

    def bound(right: p.Value, left: str, dialect: Any) -> Any:
        where = compile_predicate(p.Compare("lt", F[left], right), SCHEMA)
        compiled = sa.select(contacts_table(SCHEMA).c.id).where(where).compile(dialect=dialect)
        ((name, value),) = compiled.params.items()
        return compiled._bind_processors[name](value)

    param = p.Param(instant, T.DATETIME)
    assert bound(param, "seen", pg) == dt.datetime(2024, 7, 1, 14, 0)  # wall time in Berlin
    assert bound(param, "paid", pg) == instant
    assert bound(param, "paid", lite) == "2024-07-01 12:00:00.000000"  # UTC, SQLite's text


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
            "postgres": ("notyet", "starts_with() has no b-tree support (needs SP-GiST)"),
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
