"""A stored NUL is an ordinary character (SEMANTICS §1): every string operator gives the
Python evaluator's answer over text holding NUL, on every engine that can store it and
through every compile path. (Rule values with NUL are refused at validation.)"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from backends import COMPILE_PATHS, Backend, SQLBackend, gap
from segmentkit.compile.python import compile_python
from segmentkit.schema import Schema

NOW = dt.datetime(2024, 3, 31, 12, 0, tzinfo=dt.UTC)
VALUES = ["a\x00b", "\x00", "b\x00", "\x00a", "ab", "a", "b", "A\x00B", "", None]
ROWS = [{"id": i, "s": v, "t": VALUES[(i + 3) % len(VALUES)]} for i, v in enumerate(VALUES)]


def c(op: str, value: Any = None, **kw: Any) -> dict[str, Any]:
    return {"field": "s", "operator": op, "value": value, **kw}


RULES: dict[str, dict[str, Any]] = {
    "ends_with": c("ends_with", "b"),
    "not_ends_with": c("not_ends_with", "b"),
    "starts_with": c("starts_with", "a"),
    "contains": c("contains", "b"),
    "not_contains": c("not_contains", "a"),
    "eq": c("eq", "a"),
    "lt": c("lt", "a"),
    "gt": c("gt", "b"),
    "in": c("in", ["a", "b", "ab"]),
    "is_empty": c("is_empty"),
    "ends_with-ignore-case": c("ends_with", "B", ignore_case=True),
    "eq-ignore-case": c("eq", "a", ignore_case=True),
    "matches": c("matches", "b$"),
    "field-ends_with": c("ends_with", {"field": "t"}),
    "field-contains": c("contains", {"field": "t"}),
    "field-eq": c("eq", {"field": "t"}),
}


@pytest.fixture(scope="module")
def nul_table(sql_backend: Backend) -> tuple[SQLBackend, Schema]:
    assert isinstance(sql_backend, SQLBackend)
    md = sa.MetaData()
    table = sa.Table(
        f"sk_nul_{uuid.uuid4().hex[:8]}",
        md,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("s", sa.Text),
        sa.Column("t", sa.Text),
        **sql_backend.table_kwargs(),
    )
    md.create_all(sql_backend.engine)
    try:
        with sql_backend.engine.begin() as conn:
            conn.execute(table.insert(), ROWS)
        yield sql_backend, Schema.from_table(table)
    finally:
        md.drop_all(sql_backend.engine)


@pytest.mark.parametrize("path", COMPILE_PATHS)
@pytest.mark.parametrize("name", RULES)
def test_stored_nul_is_a_character(
    sql_backend: Backend, request: pytest.FixtureRequest, name: str, path: str
) -> None:
    gap(request, sql_backend, {"postgres": ("never", "PostgreSQL text cannot store NUL")})
    backend, schema = request.getfixturevalue("nul_table")
    rule = RULES[name]
    expected = {r["id"] for r in compile_python(rule, schema, NOW).filter(ROWS)}
    assert backend.select_keys(path, rule, schema, NOW) == expected
