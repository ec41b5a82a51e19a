"""The compile paths on real engines against the Python evaluator, for a wide table of
rules: adversarial strings and needles, ignore_case over special-cased letters, regexes,
every scalar type, tags in every storage, long lists, nesting.

Every rule runs on SQLite, DuckDB, PostgreSQL and MariaDB (tests/backends.py) through
each compile path — the SQLAlchemy view, bound ``to_sql`` text and inline ``to_sql`` text
run as is on the driver's own cursor (``cursor.execute(text)``) — and must select exactly
the members :func:`segmentkit.compile.python.compile_python` selects. Scalar and tag rules
run on the backend's adversarial contacts (tests/adversarial.py); string rules on a
table of their own whose values add text that looks like each driver's placeholders and
the shared SQL-injection corpus, and whose third column's name holds every quote
character of every dialect.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from adversarial import NOW, ROWS, STRINGS, ZONE
from backends import COMPILE_PATHS, Backend, SQLBackend
from segmentkit.compile.python import compile_python
from segmentkit.compile.sql import SqlQuery, to_sql
from segmentkit.errors import RuleError
from segmentkit.schema import Field, Schema
from segmentkit.types import INT64_MAX, INT64_MIN, FieldType

SQLI_FILE = pathlib.Path(__file__).resolve().parents[2] / "shared/conformance/sqli/Generic-SQLi.txt"
PAYLOADS: list[str] = (
    [line for line in SQLI_FILE.read_text("utf-8").split("\n") if line]
    if SQLI_FILE.exists()
    else []
)

# ------------------------------------------------------------------- the strings table
# The adversarial strings, plus text that looks like each driver's placeholders (inline
# rendering must never turn a value into a parameter marker), plus the payloads.
PLACEHOLDERS = ["%(p0)s", "?", "${x}", "'; --", "$1", "@p0", ":p0", "\\'"]
POOL: list[str | None] = list(dict.fromkeys([*STRINGS, *PLACEHOLDERS, *PAYLOADS]))
ODD_COLUMN = 'od"d `c]o%l%(p0)s'  # every quote character of every dialect, and pyformat
STRING_ROWS = [
    {
        "id": i + 1,
        "s": s,
        "t": POOL[(i * 7) % len(POOL)],
        ODD_COLUMN: POOL[(i * 3) % len(POOL)],
    }
    for i, s in enumerate(POOL)
]


def strings_schema(table: str) -> Schema:
    return Schema(
        [
            Field("s", FieldType.STRING),
            Field("t", FieldType.STRING),
            Field("odd", FieldType.STRING, column=ODD_COLUMN),
        ],
        table=table,
        key="id",
        timezone=ZONE,
    )


STRING_ROWS_BY_FIELD = [{**r, "odd": r[ODD_COLUMN]} for r in STRING_ROWS]


@pytest.fixture(scope="module")
def strings(sql_backend: Backend) -> Iterator[tuple[SQLBackend, Schema]]:
    """The strings table in the backend's engine (names only in the schema: no
    SQLAlchemy ``Table``, as a ``to_sql`` user would have it)."""
    assert isinstance(sql_backend, SQLBackend)
    md = sa.MetaData()
    name = f"sk_inline_{uuid.uuid4().hex[:8]}"
    table = sql_backend.table(
        md, name, id="integer", s="string", t="string", **{ODD_COLUMN: "string"}
    )
    with sql_backend.loaded(md, {table: STRING_ROWS}):
        yield sql_backend, strings_schema(name)


# --------------------------------------------------------------------------- rules
def _rules() -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []

    def add(rule: dict[str, Any]) -> None:
        out.append((json.dumps(rule, ensure_ascii=True, default=str)[:90], rule))

    needles = [
        "a",
        "A",
        "%",
        "_",
        "'",
        "\\",
        "a_b",
        "a%",
        "ß",
        "İ",
        "σ",
        "\U0001f600",
        " ",
        "é",
        "1=1",
    ]
    for op in ("eq", "neq", "in", "not_in", "lt", "gte", "between"):
        for v in [
            "a",
            "A",
            "a ",
            "",
            " ",
            "%",
            "'",
            "\\",
            "ß",
            "İstanbul",
            "σας",
            "\u00e9",
            "日本",
            "ǅ",
        ]:
            if op in ("in", "not_in"):
                add({"field": "s", "operator": op, "value": [v, "b", "''"]})
            elif op == "between":
                add({"field": "s", "operator": op, "value": sorted([v, "b"])})
            else:
                add({"field": "s", "operator": op, "value": v})
    for op in (
        "contains",
        "not_contains",
        "starts_with",
        "not_starts_with",
        "ends_with",
        "not_ends_with",
    ):
        for v in needles:
            add({"field": "s", "operator": op, "value": v})
    for op in ("eq", "neq", "in", "not_in", "contains", "starts_with", "not_ends_with"):
        for v in ["a", "İSTANBUL", "σ", "Σ", "ß", "ǅ", "K", "\u00c9"]:
            add(
                {
                    "field": "s",
                    "operator": op,
                    "value": [v] if op in ("in", "not_in") else v,
                    "ignore_case": True,
                }
            )
    for op in ("is_null", "is_not_null", "is_empty", "is_not_empty"):
        add({"field": "s", "operator": op})
        add({"field": "tags", "operator": op})
        add({"field": "jtags", "operator": op})
        add({"field": "ctags", "operator": op})
    for pattern in ["^a", "b$", "a.c", "[A-Z]+", "ß|ss", "^$", "^.$", "\\\\", "%", "^[^a]"]:
        add({"field": "s", "operator": "matches", "value": pattern})
        add({"field": "s", "operator": "not_matches", "value": pattern})
    add({"field": "odd", "operator": "eq", "value": "a"})
    add({"field": "odd", "operator": "not_in", "value": ["a", "'", "\\"]})
    add({"field": "s", "operator": "eq", "value": {"field": "t"}})
    add({"field": "s", "operator": "neq", "value": {"field": "t"}})
    add({"field": "s", "operator": "lt", "value": {"field": "t"}})
    for op, v in [
        ("eq", 0),
        ("neq", 1),
        ("gt", 17),
        ("lte", -1),
        ("in", [INT64_MIN, INT64_MAX, 0]),
        ("not_in", [INT64_MAX]),
        ("between", [-1, 100]),
        ("not_between", [0, 18]),
    ]:
        add({"field": "n", "operator": op, "value": v})
    for op, v in [
        ("eq", "0.1"),
        ("neq", "100"),
        ("gt", "-0.1"),
        ("lte", "99.99"),
        ("in", ["0", "123456789012.5"]),
    ]:
        add({"field": "d", "operator": op, "value": v})
    for op, v in [("eq", 0.0), ("gt", 0.1), ("lt", 1e-9), ("not_in", [0.5, 1e300])]:
        add({"field": "f", "operator": op, "value": v})
    for op in ("is_true", "is_false"):
        add({"field": "b", "operator": op})
    add({"field": "b", "operator": "neq", "value": True})
    for op, v in [
        ("on", "2024-03-31"),
        ("before", "2024-03-01"),
        ("after", "1970-01-01"),
        ("not_on", "2024-02-29"),
        ("in_last", {"amount": 31, "unit": "days"}),
    ]:
        add({"field": "day", "operator": op, "value": v})
    for field in ("at", "seen"):
        for op, v in [
            ("on", "2024-03-31"),
            ("not_on", "2024-03-31"),
            ("before", "2024-03-31T01:00:00Z"),
            ("after", "2024-02-29T23:00:00+00:00"),
            ("in_last", {"amount": 1, "unit": "days"}),
            ("in_last", {"amount": 1, "unit": "months"}),
            ("older_than", {"amount": 1, "unit": "weeks"}),
            ("eq", "2023-12-31T23:59:59.999999Z"),
        ]:
            add({"field": field, "operator": op, "value": v})
    for field in ("tags", "jtags", "ctags"):
        for op, v in [
            ("has", "vip"),
            ("has", "VIP"),
            ("has", "\u00e9"),
            ("has", ""),
            ("has", "1"),
            ("has_any", ["%", "'", "vip "]),
            ("has_all", ["ß", "ss"]),
            ("has_none", ["vip", "\\"]),
        ]:
            add({"field": field, "operator": op, "value": v})
    # Long lists take the one-array/JSON-parameter path.
    add({"field": "n", "operator": "in", "value": [*range(-1200, 0), 17, INT64_MAX]})
    add({"field": "n", "operator": "not_in", "value": [*range(1, 1500), INT64_MIN]})
    add({"field": "s", "operator": "in", "value": [f"x{i}" for i in range(1200)] + ["a", "'", "ß"]})
    add(
        {
            "field": "s",
            "operator": "not_in",
            "value": [f"x{i}" for i in range(1200)] + ["a", "%"],
            "ignore_case": True,
        }
    )
    add({"field": "d", "operator": "in", "value": [str(i) for i in range(1100)] + ["0.1"]})
    add(
        {
            "field": "day",
            "operator": "in",
            "value": [str(dt.date(2000, 1, 1) + dt.timedelta(days=i)) for i in range(1100)]
            + ["2024-02-29"],
        }
    )
    # Groups: negation and nesting.
    add(
        {
            "combinator": "or",
            "not": True,
            "rules": [
                {"field": "s", "operator": "contains", "value": "a"},
                {
                    "combinator": "and",
                    "rules": [
                        {"field": "n", "operator": "gt", "value": 0},
                        {"field": "tags", "operator": "has", "value": "vip"},
                    ],
                },
            ],
        }
    )
    add({"combinator": "and", "rules": []})
    add({"combinator": "or", "rules": []})
    return out


RULES = _rules()
STRING_FIELDS = {"s", "t", "odd"}


def _on_strings(rule: dict[str, Any]) -> bool:
    return rule.get("field") in STRING_FIELDS


STRING_RULES = [(i, r) for i, r in RULES if _on_strings(r)]
CONTACT_RULES = [(i, r) for i, r in RULES if not _on_strings(r)]


def _want(schema: Schema, rows: list[dict[str, Any]], rule: Any) -> set[int]:
    return {r["id"] for r in compile_python(rule, schema, now=NOW).filter(rows)}


def _diff(got: set[int], want: set[int]) -> str:
    return f"extra {sorted(got - want)[:8]} missing {sorted(want - got)[:8]}"


@pytest.mark.parametrize("path", COMPILE_PATHS)
@pytest.mark.parametrize("rule", [r for _, r in STRING_RULES], ids=[i for i, _ in STRING_RULES])
def test_string_rule_matches_python(
    strings: tuple[SQLBackend, Schema], rule: dict[str, Any], path: str
) -> None:
    backend, schema = strings
    want = _want(schema, STRING_ROWS_BY_FIELD, rule)
    got = backend.select_keys(path, rule, schema, NOW)
    assert got == want, _diff(got, want)


@pytest.mark.parametrize("path", COMPILE_PATHS)
@pytest.mark.parametrize("rule", [r for _, r in CONTACT_RULES], ids=[i for i, _ in CONTACT_RULES])
def test_rule_matches_python(sql_backend: Backend, rule: dict[str, Any], path: str) -> None:
    assert isinstance(sql_backend, SQLBackend)
    want = _want(sql_backend.schema, ROWS, rule)
    got = sql_backend.select_keys(path, rule, sql_backend.schema, NOW)
    assert got == want, _diff(got, want)


def test_string_rules_inline_under_server_modes(strings: tuple[SQLBackend, Schema]) -> None:
    """Inline text means the same under the session settings that change how string
    literals read (PostgreSQL standard_conforming_strings off, MySQL NO_BACKSLASH_ESCAPES);
    SQLite and DuckDB have no such mode and run their defaults."""
    backend, schema = strings
    wrong = []
    for rule_id, rule in STRING_RULES:
        if rule.get("field") == "odd":
            continue  # the column name, not a literal
        text = to_sql(rule, schema, backend.dialect, NOW, select=True, inline=True)
        got = backend.members_inline_under_modes(text)
        want = _want(schema, STRING_ROWS_BY_FIELD, rule)
        if got != want:
            wrong.append((rule_id, _diff(got, want)))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize("path", COMPILE_PATHS)
def test_payloads_in_lists_and_needles(strings: tuple[SQLBackend, Schema], path: str) -> None:
    assert len(PAYLOADS) > 200, f"SQL-injection corpus missing at {SQLI_FILE}"
    backend, schema = strings
    rules = [
        {"field": "s", "operator": "in", "value": PAYLOADS[:60]},
        {"field": "s", "operator": "not_in", "value": PAYLOADS[60:120]},
        {
            "combinator": "or",
            "rules": [
                {"field": "s", "operator": "contains", "value": p} for p in PAYLOADS[120:180]
            ],
        },
        {
            "combinator": "or",
            "rules": [
                {"field": "t", "operator": "starts_with", "value": p, "ignore_case": True}
                for p in PAYLOADS[180:]
            ],
        },
        {"field": "odd", "operator": "in", "value": [*PLACEHOLDERS, *PAYLOADS[::7]]},
    ]
    for rule in rules:
        want = _want(schema, STRING_ROWS_BY_FIELD, rule)
        assert want, rule
        assert backend.select_keys(path, rule, schema, NOW) == want
    # The table is intact: no payload ran as SQL.
    table = sa.table(str(schema.table), sa.column("id"))
    with backend.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    assert count == len(STRING_ROWS)


@pytest.mark.parametrize("payload", [*PAYLOADS[:40], "postgres; DROP TABLE x", "mysql'--"])
def test_payload_as_dialect_is_refused(payload: str) -> None:
    with pytest.raises(RuleError):
        to_sql({"field": "s", "operator": "eq", "value": "a"}, strings_schema("c"), payload)


# Random trees over the (short-list) leaves above: negation and nesting in any shape.
_LEAVES = [
    r
    for _, r in RULES
    if "field" in r and r["field"] != "odd" and len(json.dumps(r, default=str)) < 400
]
_TREES = st.recursive(
    st.sampled_from(_LEAVES),
    lambda children: st.builds(
        lambda comb, neg, rules: {"combinator": comb, "not": neg, "rules": rules},
        st.sampled_from(["and", "or"]),
        st.booleans(),
        st.lists(children, min_size=0, max_size=4),
    ),
    max_leaves=10,
)


@pytest.mark.parametrize("path", COMPILE_PATHS)
@given(rule=_TREES)
def test_random_trees_match_python(sql_backend: Backend, path: str, rule: dict[str, Any]) -> None:
    assert isinstance(sql_backend, SQLBackend)
    want = _want(sql_backend.schema, ROWS, rule)
    assert sql_backend.select_keys(path, rule, sql_backend.schema, NOW) == want


def test_long_tag_lists_are_one_parameter(sql_backend: Backend) -> None:
    # 70,000 tags would pass SQLite's (32,766) and PostgreSQL's (65,535) parameter
    # limits if expanded one by one.
    # PyMySQL interpolates client-side (no limit to reach): a shorter list keeps it quick.
    assert isinstance(sql_backend, SQLBackend)
    n = 5_000 if sql_backend.name == "mariadb" else 70_000
    many = [f"t{i}" for i in range(n)] + ["vip", "%", "\u00e9", "1"]
    schema = sql_backend.schema
    for field in ("tags", "jtags", "ctags"):
        rule = {"field": field, "operator": "has_any", "value": many}
        want = _want(schema, ROWS, rule)
        assert want, field
        q = to_sql(rule, schema, sql_backend.dialect, NOW, select=True)
        assert isinstance(q, SqlQuery)
        if sql_backend.name != "mariadb":  # PyMySQL interpolates client-side: no limit
            assert len(q.params) <= 2
        assert sql_backend.members_sql(q.text, q.params) == want
