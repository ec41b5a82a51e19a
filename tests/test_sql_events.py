"""Event conditions and segment references in SQL text (``to_sql``) on real engines.

Contacts, events and a membership table are loaded into SQLite, DuckDB, PostgreSQL and
MariaDB; for a table of rules (every count operator, negation, nesting with field
conditions, ``where`` filters with ignore_case/contains/NULL checks, segment references)
and for hypothesis-drawn count specs and windows, the members selected by the bound
``to_sql`` text must equal the Python evaluator's (the reference semantics). Expected
SQL for PostgreSQL and BigQuery, and every dialect's output parsed back by sqlglot.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
import sqlglot
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql

import segmentkit as sk
from segmentkit.compile import sql
from segmentkit.compile.dialects import DIALECTS
from segmentkit.compile.python import compile_python
from segmentkit.compile.sql import SegmentTable, to_sql

POSTGRES_URL = os.environ.get(
    "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE = os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1"
SUFFIX = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
CONTACTS_TABLE = f"sk_ev_contacts_{SUFFIX}"
EVENTS_TABLE = f"sk_ev_events_{SUFFIX}"
MEMBERS_TABLE = f"sk_ev_members_{SUFFIX}"

NOW = dt.datetime(2024, 1, 31, 12, 0, tzinfo=dt.UTC)
WALL_NOW = NOW.replace(tzinfo=None)  # event times are stored naive

EVENT_FIELDS = (
    sk.Field("amount", "decimal"),
    sk.Field("sku", "string"),
    sk.Field("channel", "string"),
)
SOURCE = sk.EventSource(EVENTS_TABLE, "contact_id", "name", "occurred_at", fields=EVENT_FIELDS)
CONTACT_FIELDS = [sk.Field("id", "integer"), sk.Field("country", "string")]
SCHEMA = sk.Schema(CONTACT_FIELDS, table=CONTACTS_TABLE, key="id", events=SOURCE)
# Naive event times read in Berlin: the window's bounds become Berlin wall time.
BERLIN = sk.Schema(
    CONTACT_FIELDS, table=CONTACTS_TABLE, key="id", timezone="Europe/Berlin", events=SOURCE
)
SEGMENTS = SegmentTable(MEMBERS_TABLE, "segment_id", "contact_key", member_column="member")


def ev(
    name: str,
    days_ago: float,
    amount: str | None = "20",
    sku: str | None = "A",
    channel: str | None = "Web",
) -> dict[str, Any]:
    return {
        "name": name,
        "occurred_at": WALL_NOW - dt.timedelta(days=days_ago),
        "amount": None if amount is None else Decimal(amount),
        "sku": sku,
        "channel": channel,
    }


EVENTS: dict[int, list[dict[str, Any]]] = {
    1: [ev("purchase", 1), ev("purchase", 2), ev("purchase", 29)],
    2: [
        ev("purchase", 1, channel="web"),
        ev("purchase", 2, channel="WEB shop"),
        ev("purchase", 31),  # outside 30 days
    ],
    3: [ev("purchase", d, "5", None, None) for d in (1, 2, 3)],  # small, NULL properties
    4: [ev("visit", 0, None, None, None)] * 5,
    5: [],
    6: [ev("purchase", 30), ev("purchase", 0)],  # exactly on both window bounds
    7: [ev("Purchase", 1), ev("purchase ", 1), ev("purchasé", 1)],  # not "purchase"
    8: [ev("purchase", 3, None, "B", "app"), ev("purchase", 10, "100", "b", "App")],
    9: [ev("purchase", 0.0417), ev("purchase", 0.125, "7")],  # hours ago: zone-sensitive
    10: [{"name": "purchase", "occurred_at": None, "amount": None, "sku": None, "channel": None}],
}
COUNTRIES = {1: "DE", 2: "AT", 3: "DE", 4: None, 5: "FR", 6: "DE", 7: "AT", 8: None, 9: "DE"}
CONTACTS = [{"id": i, "country": COUNTRIES.get(i)} for i in range(1, 12)]  # 11: no events entry
MEMBERSHIP = [  # (segment, contact, member): excluded contacts keep a row, member false
    ("vip", 1, True),
    ("vip", 3, True),
    ("vip", 4, False),
    ("VIP", 2, True),
    ("vip ", 5, True),
]
PY_SEGMENTS = {
    sid: {k for s, k, m in MEMBERSHIP if s == sid and m} for sid in ("vip", "VIP", "vip ", "nobody")
}


def expected(rule: Any, schema: sk.Schema = SCHEMA) -> set[int]:
    match = compile_python(rule, schema, now=NOW, events=EVENTS, segments=PY_SEGMENTS)
    return {c["id"] for c in match.filter(CONTACTS)}


# ------------------------------------------------------------------ engines
class Engine:
    def __init__(self, name: str, dialect: str, engine: sa.Engine) -> None:
        self.name = name
        self.dialect = dialect
        self.engine = engine
        self.md = sa.MetaData()
        kw: dict[str, Any] = {}
        string: sa.types.TypeEngine[Any] = sa.String(100)
        when: sa.types.TypeEngine[Any] = sa.DateTime()
        if name == "mariadb":
            # The collation users have: case-, accent- and pad-insensitive `=`.
            kw = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_general_ci"}
            when = mysql.DATETIME(fsp=6)
        sa.Table(
            CONTACTS_TABLE,
            self.md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("country", string),
            **kw,
        )
        sa.Table(
            EVENTS_TABLE,
            self.md,
            sa.Column("contact_id", sa.Integer, nullable=False),
            sa.Column("name", string),
            sa.Column("occurred_at", when),
            sa.Column("amount", sa.Numeric(12, 2)),
            sa.Column("sku", string),
            sa.Column("channel", string),
            **kw,
        )
        sa.Table(
            MEMBERS_TABLE,
            self.md,
            sa.Column("segment_id", string, primary_key=True),
            sa.Column("contact_key", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("member", sa.Boolean, nullable=False),
            **kw,
        )
        self.md.drop_all(engine)
        self.md.create_all(engine)
        t = self.md.tables
        with engine.begin() as conn:
            conn.execute(t[CONTACTS_TABLE].insert(), CONTACTS)
            rows = [{"contact_id": k, **e} for k, es in EVENTS.items() for e in es]
            conn.execute(t[EVENTS_TABLE].insert(), rows)
            conn.execute(
                t[MEMBERS_TABLE].insert(),
                [{"segment_id": s, "contact_key": k, "member": m} for s, k, m in MEMBERSHIP],
            )

    def members(self, q: sql.SqlQuery) -> set[int]:
        with self.engine.connect() as conn:
            raw: Any = conn.connection.dbapi_connection
            if self.name == "sqlite":
                sql.register_sqlite_functions(conn.connection.driver_connection)  # type: ignore[arg-type]
            cur = raw.cursor()
            try:
                cur.execute(q.text, q.params)
                return {row[0] for row in cur.fetchall()}
            finally:
                cur.close()

    def close(self) -> None:
        self.md.drop_all(self.engine)
        self.engine.dispose()


def _make(name: str, tmp: str) -> Engine:
    if name == "sqlite":
        return Engine(name, "sqlite", sa.create_engine(f"sqlite:///{tmp}/events.db"))
    if name == "duckdb":
        return Engine(name, "duckdb", sa.create_engine(f"duckdb:///{tmp}/events.duckdb"))
    if name == "postgres":
        url, args = POSTGRES_URL, {"connect_timeout": 3, "options": "-c timezone=UTC"}
        dialect = "postgres"
    else:
        url, args = MYSQL_URL, {"connect_timeout": 3, "charset": "utf8mb4"}
        dialect = "mariadb"
    engine = sa.create_engine(url, connect_args=args)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # any driver/connection failure means "unreachable"
        engine.dispose()
        reason = f"{name} unreachable: {type(exc).__name__}: {exc}"
        if REQUIRE:
            pytest.fail(reason)
        pytest.skip(reason)
    return Engine(name, dialect, engine)


@pytest.fixture(scope="module", params=["sqlite", "duckdb", "postgres", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="segmentkit-") as tmp:
        engine = _make(request.param, tmp)
        try:
            yield engine
        finally:
            engine.close()


def run(db: Engine, rule: Any, schema: sk.Schema = SCHEMA) -> set[int]:
    q = to_sql(rule, schema, db.dialect, NOW, select=True, segments=SEGMENTS)
    return db.members(q)


# ------------------------------------------------------------------- rules
def event(
    name: str = "purchase",
    op: str = "gte",
    count: int = 1,
    *,
    where: list[dict[str, Any]] | None = None,
    combinator: str = "and",
    days: int | None = None,
    unit: str = "days",
) -> dict[str, Any]:
    rule: dict[str, Any] = {"event": name, "count": {"operator": op, "value": count}}
    if where is not None:
        rule["where"] = {"combinator": combinator, "rules": where}
    if days is not None:
        rule["in_last"] = {"amount": days, "unit": unit}
    return rule


def cond(field: str, operator: str, value: Any = None, **kw: Any) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value, **kw}


def no(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"not": True, "rules": list(rules)}


BIG = [cond("amount", "gte", "10")]
RULES: dict[str, Any] = {
    **{
        f"{op}-{n}": event(op=op, count=n)
        for op in ("eq", "neq", "gt", "gte", "lt", "lte")
        for n in (0, 1, 2, 3)
    },
    **{
        f"window-{op}-{n}": event(op=op, count=n, days=30, where=BIG)
        for op in ("eq", "neq", "gt", "gte", "lt", "lte")
        for n in (0, 1, 3)
    },
    "big-buyer": event(op="gte", count=3, days=30, where=BIG),
    "big-buyer-negated": no(event(op="gte", count=3, days=30, where=BIG)),
    "negated-eq-2": no(event(op="eq", count=2)),
    "negated-absent": no(event(op="eq", count=0)),
    "hours-window": event(days=2, unit="hours"),
    "visit-5": event("visit", "eq", 5),
    "unknown-event": event("signup"),
    "unknown-event-negated": no(event("signup")),
    "and-field": {"combinator": "and", "rules": [cond("country", "eq", "DE"), event(days=30)]},
    "or-field": {
        "combinator": "or",
        "rules": [cond("country", "eq", "AT"), event(op="gt", count=2, where=BIG)],
    },
    "not-or-nested": no(
        {
            "combinator": "or",
            "rules": [
                cond("country", "in", ["DE", "FR"]),
                event(op="lt", count=2, days=7, where=[cond("sku", "eq", "A")]),
            ],
        }
    ),
    "two-events": {
        "combinator": "and",
        "rules": [event(days=30), no(event(where=[cond("amount", "lt", "10")]))],
    },
    "where-ignore-case": event(where=[cond("channel", "eq", "web", ignore_case=True)]),
    "where-ignore-case-count": event(
        op="gte", count=2, where=[cond("channel", "contains", "WEB", ignore_case=True)]
    ),
    "where-contains": event(where=[cond("channel", "contains", "eb")]),
    "where-neq-null": event(op="gte", count=3, where=[cond("sku", "neq", "A")]),
    "where-not-contains": event(where=[cond("channel", "not_contains", "W")]),
    "where-is-null": event(where=[cond("sku", "is_null")]),
    "where-is-not-null-count": event(op="eq", count=1, where=[cond("amount", "is_not_null")]),
    "where-or": event(
        op="gte",
        count=2,
        combinator="or",
        where=[cond("sku", "eq", "B"), cond("amount", "lt", "10")],
    ),
    "where-not-group": event(
        where=[no(cond("sku", "eq", "A"), cond("channel", "starts_with", "a", ignore_case=True))]
    ),
    "where-in": event(where=[cond("sku", "in", ["A", "b"])]),
    "where-negated-event": no(event(op="gte", count=2, where=[cond("amount", "gt", "6")])),
    "segment": {"segment": "vip"},
    "segment-negated": no({"segment": "vip"}),
    "segment-case": {"segment": "VIP"},
    "segment-trailing-space": {"segment": "vip "},
    "segment-empty": {"segment": "nobody"},
    "segment-and-event": {
        "combinator": "or",
        "rules": [{"segment": "VIP"}, no(event(days=30), {"segment": "vip"})],
    },
}


@pytest.mark.parametrize("name", list(RULES))
def test_rules_match_python(db: Engine, name: str) -> None:
    rule = RULES[name]
    assert run(db, rule) == expected(rule)


@pytest.mark.parametrize(
    "name", ["big-buyer", "hours-window", "window-gte-1", "window-lte-1", "and-field"]
)
def test_rules_match_python_in_a_zone(db: Engine, name: str) -> None:
    rule = RULES[name]
    assert run(db, rule, BERLIN) == expected(rule, BERLIN)


def test_reference_sets_are_not_trivial() -> None:
    # The table above is only a test if the reference answers differ between rules.
    assert expected(RULES["big-buyer"]) == {1}
    assert expected(RULES["big-buyer-negated"]) == set(range(2, 12))
    assert expected(RULES["window-gte-1"]) == {1, 2, 6, 8, 9}
    assert expected(RULES["eq-0"]) == {4, 5, 7, 11}
    assert expected(RULES["segment"]) == {1, 3}
    assert expected(RULES["segment-negated"]) == set(range(1, 12)) - {1, 3}
    assert expected(RULES["hours-window"]) != expected(RULES["hours-window"], BERLIN)


OPS = st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"])
WHERE = st.one_of(
    st.none(),
    st.lists(
        st.sampled_from(
            [
                cond("amount", "gte", "10"),
                cond("amount", "lt", "10"),
                cond("amount", "is_null"),
                cond("sku", "neq", "A"),
                cond("sku", "eq", "b", ignore_case=True),
                cond("channel", "contains", "we", ignore_case=True),
                cond("channel", "not_contains", "W"),
                cond("channel", "is_not_null"),
            ]
        ),
        min_size=1,
        max_size=3,
    ),
)


SPECS = st.fixed_dictionaries(
    {
        "op": OPS,
        "count": st.integers(0, 4),
        "days": st.one_of(st.none(), st.integers(1, 40)),
        "unit": st.sampled_from(["days", "hours"]),
        "where": WHERE,
        "combinator": st.sampled_from(["and", "or"]),
        "name": st.sampled_from(["purchase", "visit", "Purchase"]),
    }
)


def _event_rule(spec: dict[str, Any]) -> dict[str, Any]:
    return event(
        spec["name"],
        spec["op"],
        spec["count"],
        where=spec["where"],
        combinator=spec["combinator"],
        days=spec["days"],
        unit=spec["unit"],
    )


@given(spec=SPECS, negate=st.booleans(), zone=st.sampled_from([SCHEMA, BERLIN]))
def test_random_count_specs(
    db: Engine, spec: dict[str, Any], negate: bool, zone: sk.Schema
) -> None:
    rule = _event_rule(spec)
    if negate:
        rule = no(rule)
    assert run(db, rule, zone) == expected(rule, zone)


LEAVES = st.one_of(
    SPECS.map(_event_rule),
    st.sampled_from(
        [
            cond("country", "eq", "DE"),
            cond("country", "is_null"),
            cond("country", "neq", "AT"),
            {"segment": "vip"},
            {"segment": "VIP"},
        ]
    ),
)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.builds(
        lambda rules, combinator, negate: {
            "combinator": combinator,
            "not": negate,
            "rules": rules,
        },
        st.lists(inner, min_size=1, max_size=3),
        st.sampled_from(["and", "or"]),
        st.booleans(),
    ),
    max_leaves=5,
)


@given(rule=TREES)
def test_random_trees_with_events_and_segments(db: Engine, rule: dict[str, Any]) -> None:
    assert run(db, rule) == expected(rule)


def test_inline_text_selects_the_same(db: Engine) -> None:
    for name in ("big-buyer", "where-ignore-case-count", "segment-and-event", "gt-2"):
        rule = RULES[name]
        text = to_sql(rule, SCHEMA, db.dialect, NOW, select=True, segments=SEGMENTS, inline=True)
        with db.engine.connect() as conn:
            if db.name == "sqlite":
                sql.register_sqlite_functions(conn.connection.driver_connection)  # type: ignore[arg-type]
            cur: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            cur.execute(text)
            assert {row[0] for row in cur.fetchall()} == expected(rule), name


# ------------------------------------------------------------ expected SQL
def test_postgres_text() -> None:
    rule = event(op="gte", count=3, days=30, where=[cond("sku", "neq", "A")])
    q = to_sql(rule, SCHEMA, "postgres", NOW)
    e, c = f'"{EVENTS_TABLE}"', f'"{CONTACTS_TABLE}"'
    assert q.text == (
        f'(SELECT COUNT(*) FROM {e} AS "sk_event" WHERE "sk_event"."contact_id" = {c}."id"'
        ' AND "sk_event"."name" = %(p0)s AND "sk_event"."occurred_at" >= %(p1)s'
        ' AND "sk_event"."occurred_at" <= %(p2)s'
        ' AND (NOT ("sk_event"."sku" = %(p3)s) OR "sk_event"."sku" IS NULL)) >= %(p4)s'
    )
    assert q.params == {
        "p0": "purchase",
        "p1": dt.datetime(2024, 1, 1, 12, 0),  # naive UTC, like the stored event times
        "p2": dt.datetime(2024, 1, 31, 12, 0),
        "p3": "A",
        "p4": 3,
    }
    exists = to_sql(event(), SCHEMA, "postgres", NOW)
    assert exists.text == (
        f'EXISTS(SELECT 1 FROM {e} AS "sk_event" WHERE "sk_event"."contact_id" = {c}."id"'
        ' AND "sk_event"."name" = %(p0)s)'
    )
    absent = to_sql(event(op="lt", count=1), SCHEMA, "postgres", NOW)
    assert absent.text == "NOT " + exists.text
    assert to_sql(no(event(op="gte", count=1)), SCHEMA, "postgres", NOW).text == absent.text
    assert to_sql(event(op="neq", count=2), SCHEMA, "postgres", NOW).text.endswith(") <> %(p1)s")
    seg = to_sql({"segment": "vip"}, SCHEMA, "postgres", segments=SegmentTable.from_store())
    assert seg.text == (
        'EXISTS(SELECT 1 FROM "sk_members" AS "sk_member"'
        ' WHERE "sk_member"."segment_id" = %(p0)s'
        f' AND "sk_member"."contact_key" = {c}."id" AND "sk_member"."member" = TRUE)'
    )
    assert seg.params == {"p0": "vip"}


def test_bigquery_text() -> None:
    rule = event(op="eq", count=2, days=7, where=[cond("channel", "eq", "web", ignore_case=True)])
    q = to_sql(rule, SCHEMA, "bigquery", NOW)
    e, c = f"`{EVENTS_TABLE}`", f"`{CONTACTS_TABLE}`"
    lower = "LOWER(REPLACE(REPLACE(`sk_event`.`channel`, 'İ', 'i'), 'Σ', 'σ'))"
    assert q.text == (
        f"(SELECT COUNT(*) FROM {e} AS `sk_event` WHERE `sk_event`.`contact_id` = {c}.`id`"
        " AND `sk_event`.`name` = @p0 AND `sk_event`.`occurred_at` >= @p1"
        f" AND `sk_event`.`occurred_at` <= @p2 AND {lower} = @p3) = @p4"
    )
    assert q.params == {
        "p0": "purchase",
        "p1": dt.datetime(2024, 1, 24, 12, 0),
        "p2": dt.datetime(2024, 1, 31, 12, 0),
        "p3": "web",
        "p4": 2,
    }
    seg = to_sql(no({"segment": "vip"}), SCHEMA, "bigquery", segments=SEGMENTS, inline=True)
    assert seg == (
        f"NOT EXISTS(SELECT 1 FROM `{MEMBERS_TABLE}` AS `sk_member`"
        " WHERE `sk_member`.`segment_id` = 'vip'"
        f" AND `sk_member`.`contact_key` = {c}.`id` AND `sk_member`.`member` = TRUE)"
    )


def _parseable(text: str, dialect: str) -> str:
    # sqlglot's MySQL and Snowflake tokenizers do not know pyformat placeholders (as in
    # tests/test_sql_dialects.py): read them as named placeholders for the parse check.
    if dialect in ("mysql", "mariadb", "snowflake"):
        return re.sub(r"%\((p\d+)\)s", r":\1", text).replace("%%", "%")
    return text


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize("name", ["big-buyer", "not-or-nested", "segment-and-event", "gt-2"])
def test_parse_back(dialect: str, name: str) -> None:
    rule = RULES[name]
    for inline in (False, True):
        out = to_sql(rule, SCHEMA, dialect, NOW, select=True, segments=SEGMENTS, inline=inline)
        text = out if isinstance(out, str) else _parseable(out.text, dialect)
        tree = sqlglot.parse_one(text, read=DIALECTS[dialect].sqlglot_dialect)
        assert isinstance(tree, sqlglot.exp.Select)
        tables = [(t.name, t.alias) for t in tree.find_all(sqlglot.exp.Table)]
        assert tables.count((CONTACTS_TABLE, "")) == 1
        assert set(tables) - {(CONTACTS_TABLE, "")} <= {
            (EVENTS_TABLE, "sk_event"),
            (MEMBERS_TABLE, "sk_member"),
        }
        # Every subquery is correlated with the outer contact row by its key.
        outer = [
            c
            for c in tree.find_all(sqlglot.exp.Column)
            if c.table == CONTACTS_TABLE and c.name == "id"
        ]
        assert len(outer) == len(tables)  # the SELECT's key, then one per subquery


# ------------------------------------------------------ options and caching
def test_segment_reference_without_table_is_refused() -> None:
    with pytest.raises(sk.UnsupportedError, match="segments=SegmentTable"):
        to_sql({"segment": "vip"}, SCHEMA, "postgres")


def test_event_condition_without_event_source_is_refused() -> None:
    pred = sk.bind(event(), SCHEMA, now=NOW).predicate
    bare = sk.Schema(CONTACT_FIELDS, table=CONTACTS_TABLE, key="id")
    with pytest.raises(sk.UnsupportedError, match="event condition"):
        sql.compile_predicate(pred, bare, "postgres")


def test_store_members_table_with_prefix_and_schema() -> None:
    from segmentkit.store.tables import make_tables

    tables = make_tables("crm_", sa.String(64), schema="marketing")
    described = SegmentTable.from_store(tables)
    assert described == SegmentTable(
        "crm_members", "segment_id", "contact_key", "member", "marketing"
    )
    text = to_sql({"segment": "vip"}, SCHEMA, "trino", segments=described).text
    assert 'FROM "marketing"."crm_members" AS "sk_member"' in text


def test_segment_reference_inside_event_where_is_refused() -> None:
    rule = event(where=[{"segment": "vip"}])
    with pytest.raises(sk.UnsupportedError, match="segment reference inside"):
        to_sql(rule, SCHEMA, "postgres", NOW, segments=SEGMENTS)


def test_event_window_shares_one_cached_shape() -> None:
    sql.clear_cache()
    rule = RULES["big-buyer"]
    a = to_sql(rule, SCHEMA, "postgres", NOW)
    b = to_sql(rule, SCHEMA, "postgres", NOW + dt.timedelta(hours=5))
    assert a.text == b.text and a.params != b.params
    assert sql.cache_size() == 1
    # The count moves to a parameter too, except where it picks the EXISTS form.
    to_sql(event(op="gte", count=5, days=30, where=BIG), SCHEMA, "postgres", NOW)
    assert sql.cache_size() == 1
    to_sql(event(op="gte", count=1, days=30, where=BIG), SCHEMA, "postgres", NOW)
    assert sql.cache_size() == 2


def test_segment_table_is_part_of_the_cache_key() -> None:
    other = SegmentTable("memberships", "seg", "contact")
    a = to_sql({"segment": "vip"}, SCHEMA, "postgres", segments=SEGMENTS)
    b = to_sql({"segment": "vip"}, SCHEMA, "postgres", segments=other)
    assert MEMBERS_TABLE in a.text and '"memberships"' in b.text and '"member"' not in b.text


def test_event_source_is_part_of_the_cache_key() -> None:
    moved = sk.EventSource("other_events", "cid", "kind", "at", fields=EVENT_FIELDS)
    schema = sk.Schema(CONTACT_FIELDS, table=CONTACTS_TABLE, key="id", events=moved)
    a = to_sql(event(), SCHEMA, "postgres", NOW)
    b = to_sql(event(), schema, "postgres", NOW)
    assert EVENTS_TABLE in a.text and '"other_events"' in b.text and '"kind"' in b.text


def test_aware_event_time_column_binds_instants() -> None:
    md = sa.MetaData()
    table = sa.Table(
        "aware_events",
        md,
        sa.Column("contact_id", sa.Integer),
        sa.Column("name", sa.Text),
        sa.Column("at", sa.DateTime(timezone=True)),
    )
    source = sk.EventSource("aware_events", "contact_id", "name", "at", sa_table=table)
    schema = sk.Schema(CONTACT_FIELDS, key="id", timezone="Europe/Berlin", events=source)
    q = to_sql(event(days=1), schema, "postgres", NOW)
    assert q.params["p1"] == NOW - dt.timedelta(days=1)  # type: ignore[call-overload]
    assert q.params["p1"].tzinfo is not None  # type: ignore[call-overload]
    naive = to_sql(event(days=1), BERLIN, "postgres", NOW)
    assert naive.params["p1"] == dt.datetime(2024, 1, 30, 13, 0)  # type: ignore[call-overload]


def test_aware_event_time_column_on_engines(db: Engine) -> None:
    # A DateTime(timezone=True) time column holds instants: the window binds instants
    # (naive UTC where the engine has no zone type), whatever the contact schema's zone.
    md = sa.MetaData()
    name = f"sk_ev_aware_{SUFFIX}"
    when: sa.types.TypeEngine[Any] = sa.DateTime(timezone=True)
    if db.name == "mariadb":
        when = mysql.DATETIME(fsp=6, timezone=True)
    table = sa.Table(
        name,
        md,
        sa.Column("contact_id", sa.Integer),
        sa.Column("name", sa.String(50)),
        sa.Column("happened", when),
    )
    source = sk.EventSource(name, "contact_id", "name", "happened", sa_table=table)
    schema = sk.Schema(
        CONTACT_FIELDS, table=CONTACTS_TABLE, key="id", timezone="America/New_York", events=source
    )
    instants = {
        1: NOW - dt.timedelta(hours=23, minutes=30),
        2: NOW - dt.timedelta(hours=24, minutes=30),
        3: NOW - dt.timedelta(days=1),  # on the bound
        4: NOW + dt.timedelta(minutes=1),  # after now
    }
    events = {k: [{"name": "login", "happened": at}] for k, at in instants.items()}
    naive_storage = db.name in ("sqlite", "mariadb")
    rows = [
        {
            "contact_id": k,
            "name": "login",
            "happened": at.astimezone(dt.UTC).replace(tzinfo=None) if naive_storage else at,
        }
        for k, at in instants.items()
    ]
    md.create_all(db.engine)
    try:
        with db.engine.begin() as conn:
            conn.execute(table.insert(), rows)
        for rule in (event("login", days=1), event("login", days=1, op="lt", count=1)):
            q = to_sql(rule, schema, db.dialect, NOW, select=True)
            want = compile_python(rule, schema, now=NOW, events=events)
            assert db.members(q) == {c["id"] for c in want.filter(CONTACTS)}
        assert db.members(to_sql(event("login", days=1), schema, db.dialect, NOW, select=True)) == {
            1,
            3,
        }
    finally:
        md.drop_all(db.engine)
