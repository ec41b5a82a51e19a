"""SQL-injection payloads (a public corpus) as values, field names and operator names.

As *values* of eq / contains / starts_with / in, each payload selects exactly the rows
that hold it, on every backend, and exactly one statement (the compiled one) runs per
query. As *field* or *operator* names they are refused by validation with RuleError.
The corpus is ``../shared/conformance/sqli/Generic-SQLi.txt`` relative to the repo root.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from adversarial import NOW
from backends import Backend, SQLBackend
from segmentkit.bind import bind
from segmentkit.compile.python import compile_python
from segmentkit.compile.sqlalchemy import members_select
from segmentkit.errors import RuleError
from segmentkit.schema import Field, Schema
from segmentkit.types import FieldType

HAS_TO_SQL = importlib.util.find_spec("segmentkit.compile.sql") is not None
DIALECT_OF = {"sqlite": "sqlite", "duckdb": "duckdb", "postgres": "postgres", "mariadb": "mariadb"}

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "conformance" / "sqli" / "Generic-SQLi.txt"
PAYLOADS: list[str] = (
    [line for line in CORPUS.read_text(encoding="utf-8").split("\n") if line]
    if CORPUS.exists()
    else []
)
# Extra rows: near misses of payloads (case, padding, a prefix) so "exactly" has teeth.
EXTRA = ["'", "' OR '1'='1", "' or '1'='1", "' OR '1'='1 ", "admin'--", "ADMIN'--", "x", ""]
VALUES = list(dict.fromkeys([*PAYLOADS, *EXTRA]))


def test_corpus_is_there() -> None:
    assert len(PAYLOADS) > 250, f"payload corpus missing or short: {CORPUS}"


def _schema(table: sa.Table | str) -> Schema:
    return Schema([Field("s", FieldType.STRING)], table=table, key="id")


@pytest.fixture(scope="module")
def payload_table(sql_backend: Backend) -> Iterator[tuple[SQLBackend, Schema]]:
    """One row per payload (and near miss) in a table of the backend's engine."""
    assert isinstance(sql_backend, SQLBackend)
    meta = sa.MetaData()
    table = sa.Table(
        f"{sql_backend.contacts.name}_sqli",
        meta,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("s", sql_backend.string_type()),
        **sql_backend.table_kwargs(),
    )
    meta.drop_all(sql_backend.engine)
    meta.create_all(sql_backend.engine)
    with sql_backend.engine.begin() as conn:
        conn.execute(table.insert(), [{"id": i, "s": v} for i, v in enumerate(VALUES)])
    yield sql_backend, _schema(table)
    meta.drop_all(sql_backend.engine)


ROWS = [{"id": i, "s": v} for i, v in enumerate(VALUES)]


def _expected(rule: dict[str, Any]) -> set[int]:
    match = compile_python(rule, _schema("payloads"), NOW)
    return {r["id"] for r in match.filter(ROWS)}


def _holding(op: str, payload: str) -> set[int]:
    """The rows that hold ``payload``, by plain Python string operations."""
    test = {
        "eq": lambda s: s == payload,
        "contains": lambda s: payload in s,
        "starts_with": lambda s: s.startswith(payload),
        "ends_with": lambda s: s.endswith(payload),
    }[op]
    return {r["id"] for r in ROWS if test(r["s"])}


@pytest.mark.parametrize("op", ["eq", "contains", "starts_with", "ends_with", "in", "not_in"])
def test_payloads_as_values(payload_table: tuple[SQLBackend, Schema], op: str) -> None:
    backend, schema = payload_table
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    wrong: dict[str, tuple[set[int], set[int]]] = {}
    event = (backend.engine, "before_cursor_execute", count)
    sa.event.listen(*event)
    try:
        with backend.engine.connect() as conn:
            for payload in PAYLOADS:
                value: Any = [payload, "x"] if op in ("in", "not_in") else payload
                rule = {"field": "s", "operator": op, "value": value}
                expected = _expected(rule)
                if op in ("eq", "contains", "starts_with", "ends_with"):
                    assert expected == _holding(op, payload)  # the reference itself
                before = len(statements)
                got = set(conn.execute(members_select(rule, schema, NOW)).scalars())
                assert len(statements) == before + 1
                if got != expected:
                    wrong[payload] = (got - expected, expected - got)
                for path, got in _to_sql_paths(backend, schema, rule):
                    if got != expected:
                        wrong[f"{path}: {payload}"] = (got - expected, expected - got)
    finally:
        sa.event.remove(*event)
    assert wrong == {}


def _to_sql_paths(
    backend: SQLBackend, schema: Schema, rule: dict[str, Any]
) -> list[tuple[str, set[int]]]:
    """The sqlglot backend's bound and inline SQL for ``rule``, run on the engine."""
    if not HAS_TO_SQL:
        return []
    from segmentkit.compile.sql import to_sql

    dialect = DIALECT_OF[backend.name]
    bound = to_sql(rule, schema, dialect=dialect, now=NOW, select=True)
    inline = to_sql(rule, schema, dialect=dialect, now=NOW, select=True, inline=True)
    assert not isinstance(bound, str) and isinstance(inline, str)
    return [
        ("to_sql bound", backend.members_sql(bound.text, bound.params)),
        ("to_sql inline", backend.members_sql(inline, None)),
    ]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_as_names_are_refused(payload: str) -> None:
    schema = _schema("payloads")
    with pytest.raises(RuleError) as err:
        bind({"field": payload, "operator": "eq", "value": "x"}, schema, now=NOW)
    assert err.value.errors[0].path == "/field"
    if payload != "s":
        with pytest.raises(RuleError) as err:
            bind({"field": "s", "operator": payload, "value": "x"}, schema, now=NOW)
        assert err.value.errors[0].path == "/operator"


def test_payloads_on_memory_match_plain_python() -> None:
    # The reference agrees with str operations for every payload (so the SQL checks
    # above compare against the right answer).
    for payload in PAYLOADS:
        for op in ("eq", "contains", "starts_with", "ends_with"):
            assert _expected({"field": "s", "operator": op, "value": payload}) == _holding(
                op, payload
            )


# Values whose backslashes and quotes a non-default server mode would read differently.
MODE_VALUES = ["\\'; DROP TABLE sk_canary; --", "\\", "a\\b", "\\\\'", "\\x41", "\\n", "%\\_"]
MODE_PATTERNS = ["a\\.b", "\\\\", "^\\'", "[\\-\\]]", "\\$$"]


@pytest.mark.parametrize("op", ["eq", "contains", "not_in", "matches"])
def test_inline_sql_means_the_same_under_every_server_mode(
    payload_table: tuple[SQLBackend, Schema], op: str
) -> None:
    """Inline literals read the same with PostgreSQL's standard_conforming_strings off and
    MariaDB's NO_BACKSLASH_ESCAPES on: the same rows, and nothing else runs."""
    from segmentkit.compile.sql import to_sql

    backend, schema = payload_table  # SQLite and DuckDB: no such mode, their defaults
    with backend.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS sk_canary (x INTEGER)")
    try:
        values = MODE_PATTERNS if op == "matches" else [*MODE_VALUES, *PAYLOADS[::7]]
        for value in values:
            rule = {"field": "s", "operator": op, "value": [value] if op == "not_in" else value}
            text = to_sql(rule, schema, backend.dialect, NOW, select=True, inline=True)
            assert backend.members_inline_under_modes(text) == _expected(rule), (value, text)
        with backend.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT COUNT(*) FROM sk_canary").scalar() == 0
    finally:
        with backend.engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS sk_canary")
