"""Strings compare by code point whatever collation a column declares (SEMANTICS §1), on
every engine and through every compile path, against the Python evaluator.

Regression tests for answers that differed: a ``NOCASE`` column on SQLite through
``to_sql`` (``"A" = "a"``), ``NOCASE`` on DuckDB, and a nondeterministic ICU collation on
PostgreSQL (wrong for eq/in/neq/ends_with, refused for contains/starts_with).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from backends import COMPILE_PATHS, Backend, SQLBackend
from segmentkit.compile.python import compile_python
from segmentkit.schema import Schema

NOW = dt.datetime(2024, 3, 31, 12, 0, tzinfo=dt.UTC)
VALUES = ["A", "a", "Ab", "aB", "ab", "é", "e", "E", "a ", "ß", "ss", "İ", "i", "%a_", "", None]
ROWS = [{"id": i, "s": v, "t": VALUES[(i + 1) % len(VALUES)]} for i, v in enumerate(VALUES)]


def c(op: str, value: Any = None, **kw: Any) -> dict[str, Any]:
    return {"field": "s", "operator": op, "value": value, **kw}


RULES: dict[str, dict[str, Any]] = {
    "eq": c("eq", "a"),
    "neq": c("neq", "a"),
    "in": c("in", ["a", "e", "ss"]),
    "not_in": c("not_in", ["a", "e"]),
    "lt": c("lt", "a"),
    "gte": c("gte", "a"),
    "between": c("between", ["A", "a"]),
    "contains": c("contains", "b"),
    "not_contains": c("not_contains", "B"),
    "starts_with": c("starts_with", "a"),
    "not_starts_with": c("not_starts_with", "A"),
    "ends_with": c("ends_with", "b"),
    "eq-ignore-case": c("eq", "ab", ignore_case=True),
    "in-ignore-case": c("in", ["İ", "e"], ignore_case=True),
    "contains-ignore-case": c("contains", "B", ignore_case=True),
    "field-eq": c("eq", {"field": "t"}),
    "field-lt": c("lt", {"field": "t"}),
    "matches": c("matches", "^a"),
    "is_empty": c("is_empty"),
}


@pytest.fixture(scope="module")
def insensitive(sql_backend: Backend) -> tuple[SQLBackend, Schema]:
    """A table whose string columns declare the engine's case-insensitive collation,
    and the schema read from it (``Schema.from_table`` learns the collation)."""
    assert isinstance(sql_backend, SQLBackend)
    sql_backend.prepare_insensitive_collation()
    name = f"sk_coll_{uuid.uuid4().hex[:8]}"
    md = sa.MetaData()
    text = sa.String(64, collation=sql_backend.insensitive_collation)
    table = sa.Table(
        name,
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("s", text),
        sa.Column("t", text),
        **sql_backend.table_kwargs(),
    )
    md.create_all(sql_backend.engine)
    with sql_backend.engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    yield sql_backend, Schema.from_table(table)
    md.drop_all(sql_backend.engine)


@pytest.mark.parametrize("path", COMPILE_PATHS)
@pytest.mark.parametrize("name", RULES)
def test_declared_collation_changes_no_answer(
    insensitive: tuple[SQLBackend, Schema], name: str, path: str
) -> None:
    backend, schema = insensitive
    assert schema.fields["s"].collation == backend.insensitive_collation
    rule = RULES[name]
    expected = {r["id"] for r in compile_python(rule, schema, NOW).filter(ROWS)}
    assert backend.select_keys(path, rule, schema, NOW) == expected


def test_the_rows_tell_the_collations_apart(insensitive: tuple[SQLBackend, Schema]) -> None:
    """The engine's own ``=`` really is insensitive here, so the test above can fail."""
    backend, schema = insensitive
    table = schema.sa_table
    assert table is not None
    with backend.engine.connect() as conn:
        native = set(conn.execute(sa.select(table.c.id).where(table.c.s == "a")).scalars())
    assert len(native) > 1
