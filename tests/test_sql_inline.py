"""``to_sql`` output executed on real engines, bound and inline, against the Python evaluator.

Each engine gets a small table of adversarial values (quotes, backslashes, ``%``,
``_``, non-ASCII cased letters, NFC/NFD, int64 edges, DST instants, every payload of
the shared SQL-injection corpus ...) loaded through its plain DB-API driver, exactly
as a ``to_sql`` user would run it: ``cursor.execute(q.text, q.params)`` for the bound
form and ``cursor.execute(text)`` for the inline form. Both must select exactly the
members :func:`segmentkit.compile.python.compile_python` selects.

PostgreSQL and MariaDB are skipped with a reason when unreachable, and fail instead
when ``SEGMENTKIT_REQUIRE_BACKENDS=1``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlglot import exp

from segmentkit.compile.python import compile_python
from segmentkit.compile.sql import SqlQuery, register_sqlite_functions, to_sql
from segmentkit.errors import RuleError
from segmentkit.schema import ChildTable, Field, Schema, TagStorage
from segmentkit.types import INT64_MAX, INT64_MIN, FieldType

from .adversarial import STRINGS as ADVERSARIAL_STRINGS

UTC = dt.UTC
ZONE = "Europe/Berlin"
BERLIN = ZoneInfo(ZONE)
NOW = dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # a month end, in the spring DST night
SESSION = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
REQUIRE = os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1"
POSTGRES_URL = os.environ.get(
    "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

SQLI_FILE = pathlib.Path(__file__).resolve().parents[2] / "shared/conformance/sqli/Generic-SQLi.txt"
PAYLOADS: list[str] = (
    [line for line in SQLI_FILE.read_text("utf-8").split("\n") if line]
    if SQLI_FILE.exists()
    else []
)

# --------------------------------------------------------------------------- data
# The shared adversarial strings, plus text that looks like each driver's placeholders
# (inline rendering must never turn a value into a parameter marker).
STRINGS: list[str | None] = [
    *ADVERSARIAL_STRINGS,
    *("%(p0)s", "?", "${x}", "'; --", "$1", "@p0", ":p0", "\\'"),
]
POOL: list[str | None] = [*STRINGS, *PAYLOADS]
INTS = [None, 0, 1, -1, 17, 18, 65, INT64_MIN, INT64_MAX, 2**31, -(2**31) - 1, 2**53 + 1, 100]
# Decimals an 8-byte float holds exactly enough (SQLite stores NUMERIC as REAL).
DECIMALS = [
    None,
    Decimal("0"),
    Decimal("0.1"),
    Decimal("-0.1"),
    Decimal("99.99"),
    Decimal("100"),
    Decimal("-100.5"),
    Decimal("123456789012.5"),
    Decimal("0.0000000001"),
]
FLOATS = [None, 0.0, -0.0, 0.5, 1.0, -1.5, 1e-9, 1e15, 0.1, 1e300]
BOOLS = [None, True, False]
DATES = [
    None,
    dt.date(2024, 2, 29),
    dt.date(2024, 3, 1),
    dt.date(2024, 3, 31),
    dt.date(2023, 12, 31),
    dt.date(1970, 1, 1),
    dt.date(9999, 12, 31),
    dt.date(1, 1, 1),
]
INSTANTS = [
    dt.datetime(2024, 3, 31, 0, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
    dt.datetime(2024, 3, 30, 23, 0, tzinfo=UTC),  # local midnight of 31 Mar
    dt.datetime(2024, 3, 31, 22, 0, tzinfo=UTC),  # local midnight of 1 Apr (CEST)
    dt.datetime(2024, 2, 29, 23, 0, tzinfo=UTC),
    dt.datetime(2024, 3, 1, 1, 30, tzinfo=UTC),
    dt.datetime(2024, 3, 30, 1, 30, tzinfo=UTC),
    dt.datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
]
AWARE = [None, *INSTANTS, dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC)]  # + a fold instant
NAIVE = [None, *INSTANTS]  # wall time in Berlin cannot hold the fold hour
TAGS: list[frozenset[str] | None] = [
    None,
    frozenset(),
    frozenset({"vip"}),
    frozenset({"VIP"}),
    frozenset({"vip", "news"}),
    frozenset({"%"}),
    frozenset({"'"}),
    frozenset({"\u00e9"}),
    frozenset({"e\u0301"}),
    frozenset({"vip "}),
    frozenset({""}),
    frozenset({"\\"}),
    frozenset({"ß", "ss"}),
    frozenset({"1"}),
]
CHILD_TAGS = [t for t in TAGS if t != frozenset()]  # a child table has no "empty" set
ODD_COLUMN = 'od"d `c]o%l%(p0)s'  # every quote character of every dialect, and pyformat


def _cycle(values: Sequence[Any], i: int, stride: int) -> Any:
    return values[(i * stride) % len(values)]


def make_rows() -> list[dict[str, Any]]:
    rows = []
    for i, s in enumerate(POOL):
        rows.append(
            {
                "id": i + 1,
                "s": s,
                "t": _cycle(POOL, i, 7),
                "odd": _cycle(STRINGS, i, 3),
                "n": _cycle(INTS, i, 1),
                "d": _cycle(DECIMALS, i, 1),
                "f": _cycle(FLOATS, i, 1),
                "b": _cycle(BOOLS, i, 1),
                "day": _cycle(DATES, i, 1),
                "at": _cycle(AWARE, i, 1),
                "seen": _cycle(NAIVE, i, 2),
                "tags": _cycle(TAGS, i, 1),
                "jtags": _cycle(TAGS, i, 3),
                "ctags": _cycle(CHILD_TAGS, i, 2),
            }
        )
    return rows


ROWS = make_rows()


def make_schema(table: str, child: str, tags: TagStorage) -> Schema:
    return Schema(
        [
            Field("s", FieldType.STRING),
            Field("t", FieldType.STRING),
            Field("odd", FieldType.STRING, column=ODD_COLUMN),
            Field("n", FieldType.INTEGER),
            Field("d", FieldType.DECIMAL),
            Field("f", FieldType.FLOAT),
            Field("b", FieldType.BOOLEAN),
            Field("day", FieldType.DATE),
            Field("at", FieldType.DATETIME, naive=False),
            Field("seen", FieldType.DATETIME),
            Field("tags", FieldType.TAGS, tags=tags),
            Field("jtags", FieldType.TAGS, tags=TagStorage.JSON),
            Field("ctags", FieldType.TAGS, tags=ChildTable(child, "contact_id", "tag")),
        ],
        table=table,
        key="id",
        timezone=ZONE,
    )


# ------------------------------------------------------------------------- engines
def _q(name: str, dialect: str) -> str:
    from segmentkit.compile.dialects import DIALECTS

    sqlglot_dialect = DIALECTS[dialect].sqlglot_dialect
    return str(exp.to_identifier(name, quoted=True).sql(dialect=sqlglot_dialect))


class Engine:
    """A plain DB-API connection holding the adversarial table."""

    name: ClassVar[str]
    dialect: ClassVar[str]
    tags_storage: ClassVar[TagStorage] = TagStorage.JSON
    types: ClassVar[dict[str, str]]
    placeholder: ClassVar[str] = "?"

    def __init__(self) -> None:
        self.table = f"sk_sql_contacts_{SESSION}"
        self.child = f"sk_sql_tags_{SESSION}"
        self.schema = make_schema(self.table, self.child, self.tags_storage)
        self.conn = self.connect()
        self.create()

    def connect(self) -> Any:
        raise NotImplementedError

    def cursor_run(self, text: str, params: Any = None) -> list[tuple[Any, ...]]:
        cur = self.conn.cursor()
        try:
            if params is None:
                cur.execute(text)
            else:
                cur.execute(text, params)
            return list(cur.fetchall()) if cur.description else []
        finally:
            cur.close()

    def stored(self, row: dict[str, Any]) -> list[Any]:
        return [
            row[k]
            for k in (
                "id",
                "s",
                "t",
                "odd",
                "n",
                "d",
                "f",
                "b",
                "day",
                "at",
                "seen",
                "tags",
                "jtags",
            )
        ]

    def columns_sql(self) -> str:
        names = [
            "id",
            "s",
            "t",
            ODD_COLUMN,
            "n",
            "d",
            "f",
            "b",
            "day",
            "at",
            "seen",
            "tags",
            "jtags",
        ]
        kinds = [
            "id",
            "string",
            "string",
            "string",
            "n",
            "d",
            "f",
            "b",
            "day",
            "at",
            "seen",
            "tags",
            "jtags",
        ]
        return ", ".join(
            f"{_q(n, self.dialect)} {self.types[k]}" for n, k in zip(names, kinds, strict=True)
        )

    def create(self) -> None:
        q = self.dialect
        self.drop()
        self.cursor_run(
            f"CREATE TABLE {_q(self.table, q)} ({self.columns_sql()}){self.table_suffix()}"
        )
        self.cursor_run(
            f"CREATE TABLE {_q(self.child, q)} ({_q('contact_id', q)} {self.types['n']}, "
            f"{_q('tag', q)} {self.types['string']}){self.table_suffix()}"
        )
        marks = ", ".join([self.placeholder] * 13)
        self.insert_many(
            f"INSERT INTO {_q(self.table, q)} VALUES ({marks})", [self.stored(r) for r in ROWS]
        )
        self.insert_many(
            f"INSERT INTO {_q(self.child, q)} VALUES ({self.placeholder}, {self.placeholder})",
            [[r["id"], tag] for r in ROWS if r["ctags"] for tag in sorted(r["ctags"])],
        )

    def insert_many(self, text: str, rows: list[list[Any]]) -> None:
        cur = self.conn.cursor()
        try:
            cur.executemany(text, rows)
        finally:
            cur.close()

    def table_suffix(self) -> str:
        return ""

    def drop(self) -> None:
        for name in (self.table, self.child):
            self.cursor_run(f"DROP TABLE IF EXISTS {_q(name, self.dialect)}")

    def members(self, text: str, params: Any) -> set[int]:
        return {row[0] for row in self.cursor_run(text, params)}

    def close(self) -> None:
        try:
            self.drop()
        finally:
            self.conn.close()


def _naive_utc(v: dt.datetime | None) -> dt.datetime | None:
    return None if v is None else v.astimezone(UTC).replace(tzinfo=None)


def _berlin(v: dt.datetime | None) -> dt.datetime | None:
    return None if v is None else v.astimezone(BERLIN).replace(tzinfo=None)


def _json(tags: frozenset[str] | None) -> str | None:
    return None if tags is None else json.dumps(sorted(tags))


class SQLiteEngine(Engine):
    name = dialect = "sqlite"
    types: ClassVar[dict[str, str]] = {
        "id": "INTEGER PRIMARY KEY",
        "string": "TEXT",
        "n": "INTEGER",
        "d": "NUMERIC",
        "f": "REAL",
        "b": "INTEGER",
        "day": "TEXT",
        "at": "TEXT",
        "seen": "TEXT",
        "tags": "TEXT",
        "jtags": "TEXT",
    }

    def connect(self) -> Any:
        conn = sqlite3.connect(":memory:")
        register_sqlite_functions(conn)
        return conn

    def stored(self, row: dict[str, Any]) -> list[Any]:
        # SQLAlchemy's storage formats: the ones to_sql binds against.
        def text(v: dt.datetime | None) -> str | None:
            return None if v is None else v.strftime("%Y-%m-%d %H:%M:%S.%f")

        out = super().stored(row)
        out[5] = None if row["d"] is None else str(row["d"])
        out[7] = None if row["b"] is None else int(row["b"])
        out[8] = None if row["day"] is None else row["day"].isoformat()
        out[9] = text(_naive_utc(row["at"]))
        out[10] = text(_berlin(row["seen"]))
        out[11] = _json(row["tags"])
        out[12] = _json(row["jtags"])
        return out

    def members(self, text: str, params: Any) -> set[int]:
        return {row[0] for row in self.conn.execute(text, params if params is not None else ())}


class DuckDBEngine(Engine):
    name = dialect = "duckdb"
    tags_storage = TagStorage.ARRAY
    types: ClassVar[dict[str, str]] = {
        "id": "BIGINT PRIMARY KEY",
        "string": "VARCHAR",
        "n": "BIGINT",
        "d": "DECIMAL(38, 10)",
        "f": "DOUBLE",
        "b": "BOOLEAN",
        "day": "DATE",
        "at": "TIMESTAMPTZ",
        "seen": "TIMESTAMP",
        "tags": "VARCHAR[]",
        "jtags": "JSON",
    }

    def connect(self) -> Any:
        import duckdb

        conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")
        return conn

    def stored(self, row: dict[str, Any]) -> list[Any]:
        out = super().stored(row)
        out[10] = _berlin(row["seen"])
        out[11] = None if row["tags"] is None else sorted(row["tags"])
        out[12] = _json(row["jtags"])
        return out

    def members(self, text: str, params: Any) -> set[int]:
        return {
            row[0]
            for row in self.conn.execute(text, params if params is not None else []).fetchall()
        }

    def close(self) -> None:
        self.conn.close()


def _unreachable(name: str, exc: Exception) -> None:
    message = f"{name} unreachable: {type(exc).__name__}: {exc}"
    if REQUIRE:
        pytest.fail(message + " (SEGMENTKIT_REQUIRE_BACKENDS=1)")
    pytest.skip(message)


class PostgresEngine(Engine):
    name = dialect = "postgres"
    tags_storage = TagStorage.ARRAY
    placeholder = "%s"
    types: ClassVar[dict[str, str]] = {
        "id": "BIGINT PRIMARY KEY",
        "string": "TEXT",
        "n": "BIGINT",
        "d": "NUMERIC(38, 10)",
        "f": "DOUBLE PRECISION",
        "b": "BOOLEAN",
        "day": "DATE",
        "at": "TIMESTAMPTZ",
        "seen": "TIMESTAMP",
        "tags": "TEXT[]",
        "jtags": "JSONB",
    }

    def connect(self) -> Any:
        import psycopg
        from sqlalchemy.engine import make_url

        url = make_url(POSTGRES_URL)
        try:
            return psycopg.connect(
                host=url.host,
                port=url.port or 5432,
                user=url.username,
                password=url.password,
                dbname=url.database,
                connect_timeout=3,
                options="-c timezone=UTC",
                autocommit=True,
            )
        except psycopg.OperationalError as exc:
            _unreachable("PostgreSQL", exc)
            raise

    def create(self) -> None:
        super().create()

    def insert_many(self, text: str, rows: list[list[Any]]) -> None:
        if len(rows[0]) == 13:
            marks = ", ".join(["%s"] * 12 + ["CAST(%s AS JSONB)"])
            text = text.rsplit("VALUES", 1)[0] + f"VALUES ({marks})"
        super().insert_many(text, rows)

    def stored(self, row: dict[str, Any]) -> list[Any]:
        out = super().stored(row)
        out[10] = _berlin(row["seen"])
        out[11] = None if row["tags"] is None else sorted(row["tags"])
        out[12] = _json(row["jtags"])
        return out


class MariaDBEngine(Engine):
    name = "mariadb"
    dialect = "mariadb"
    placeholder = "%s"
    types: ClassVar[dict[str, str]] = {
        "id": "BIGINT PRIMARY KEY",
        "string": "VARCHAR(255)",
        "n": "BIGINT",
        "d": "DECIMAL(38, 10)",
        "f": "DOUBLE",
        "b": "BOOLEAN",
        "day": "DATE",
        "at": "DATETIME(6)",
        "seen": "DATETIME(6)",
        "tags": "JSON",
        "jtags": "JSON",
    }

    def connect(self) -> Any:
        import pymysql
        from sqlalchemy.engine import make_url

        url = make_url(MYSQL_URL)
        try:
            return pymysql.connect(
                host=url.host or "127.0.0.1",
                port=url.port or 3306,
                user=url.username or "root",
                password=url.password or "",
                database=url.database,
                charset="utf8mb4",
                connect_timeout=3,
                autocommit=True,
                init_command="SET time_zone = '+00:00'",
            )
        except pymysql.err.OperationalError as exc:
            _unreachable("MariaDB", exc)
            raise

    def table_suffix(self) -> str:
        # The case-, accent- and pad-insensitive default collation users actually have.
        return " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"

    def columns_sql(self) -> str:
        # Payloads are longer than some VARCHARs; keep every string column roomy.
        return super().columns_sql()

    def stored(self, row: dict[str, Any]) -> list[Any]:
        out = super().stored(row)
        out[7] = None if row["b"] is None else int(row["b"])
        out[9] = _naive_utc(row["at"])
        out[10] = _berlin(row["seen"])
        out[11] = _json(row["tags"])
        out[12] = _json(row["jtags"])
        return out


ENGINES: dict[str, type[Engine]] = {
    "sqlite": SQLiteEngine,
    "duckdb": DuckDBEngine,
    "postgres": PostgresEngine,
    "mariadb": MariaDBEngine,
}


@pytest.fixture(scope="module", params=list(ENGINES))
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    eng = ENGINES[request.param]()
    try:
        yield eng
    finally:
        eng.close()


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


def _expected(schema: Schema, rule: Any) -> set[int]:
    match = compile_python(rule, schema, now=NOW)
    return {r["id"] for r in match.filter(ROWS)}


def _run(engine: Engine, rule: Any) -> tuple[set[int], set[int]]:
    q = to_sql(rule, engine.schema, engine.dialect, NOW, select=True)
    assert isinstance(q, SqlQuery)
    inline = to_sql(rule, engine.schema, engine.dialect, NOW, inline=True, select=True)
    return engine.members(q.text, q.params), engine.members(inline, None)


@pytest.mark.parametrize("rule", [r for _, r in RULES], ids=[i for i, _ in RULES])
def test_rule_matches_python(engine: Engine, rule: dict[str, Any]) -> None:
    want = _expected(engine.schema, rule)
    bound, inline = _run(engine, rule)
    assert bound == want, (
        f"bound: extra {sorted(bound - want)[:8]} missing {sorted(want - bound)[:8]}"
    )
    assert inline == want, (
        f"inline: extra {sorted(inline - want)[:8]} missing {sorted(want - inline)[:8]}"
    )


def test_every_sqli_payload_selects_exactly_its_rows(engine: Engine) -> None:
    assert len(PAYLOADS) > 200, f"SQL-injection corpus missing at {SQLI_FILE}"
    problems = []
    for payload in PAYLOADS:
        for field in ("s", "t"):
            rule = {"field": field, "operator": "eq", "value": payload}
            want = _expected(engine.schema, rule)
            assert want, f"no row holds {payload!r}"
            bound, inline = _run(engine, rule)
            if bound != want or inline != want:
                problems.append((payload, field, sorted(want), sorted(bound), sorted(inline)))
    assert not problems, problems[:5]
    # The table is intact: no payload ran as SQL.
    count = engine.members(
        f"SELECT COUNT(*) FROM {_q(engine.table, engine.dialect)}",
        None if engine.name not in ("sqlite", "duckdb") else [],
    )
    assert count == {len(ROWS)}


def test_payloads_in_lists_and_needles(engine: Engine) -> None:
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
    ]
    for rule in rules:
        want = _expected(engine.schema, rule)
        bound, inline = _run(engine, rule)
        assert bound == want
        assert inline == want


@pytest.mark.parametrize("payload", [*PAYLOADS[:40], "postgres; DROP TABLE x", "mysql'--"])
def test_payload_as_dialect_is_refused(payload: str) -> None:
    schema = make_schema("contacts", "tags", TagStorage.JSON)
    with pytest.raises(RuleError):
        to_sql({"field": "s", "operator": "eq", "value": "a"}, schema, payload)


# Random trees over the (short-list) leaves above: negation and nesting in any shape.
_LEAVES = [r for _, r in RULES if "field" in r and len(json.dumps(r, default=str)) < 400]
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


@given(rule=_TREES)
def test_random_trees_match_python(engine: Engine, rule: dict[str, Any]) -> None:
    want = _expected(engine.schema, rule)
    bound, inline = _run(engine, rule)
    assert bound == want
    assert inline == want


def test_long_tag_lists_are_one_parameter(engine: Engine) -> None:
    # 70,000 tags would pass SQLite's (32,766) and PostgreSQL's (65,535) parameter
    # limits if expanded one by one.
    # PyMySQL interpolates client-side (no limit to reach): a shorter list keeps it quick.
    n = 5_000 if engine.name == "mariadb" else 70_000
    many = [f"t{i}" for i in range(n)] + ["vip", "%", "\u00e9"]
    for field in ("tags", "jtags", "ctags"):
        rule = {"field": field, "operator": "has_any", "value": many}
        want = _expected(engine.schema, rule)
        q = to_sql(rule, engine.schema, engine.dialect, NOW, select=True)
        assert isinstance(q, SqlQuery)
        if engine.name != "mariadb":  # PyMySQL interpolates client-side: no limit to reach
            assert len(q.params) <= 2
        assert engine.members(q.text, q.params) == want
