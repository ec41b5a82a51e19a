"""Event conditions in the SQLAlchemy backend (``members_select``) on real engines.

Contacts, events and a membership table are loaded into SQLite, DuckDB, PostgreSQL and
MariaDB; for a table of rules (every count operator, negation, nesting with field
conditions, ``where`` filters with ignore_case/contains/NULL checks, window edges,
contacts without events, segment references next to events) and for hypothesis-drawn
count specs and rule trees, the members selected by ``members_select`` must equal the
Python evaluator's (the reference semantics). The event source is given both ways: as a
bare :class:`EventSource` (a lightweight ``table()`` construct) and with its SQLAlchemy
``Table``. Also: expected SQL, one SQL text per rule shape, refusals, and the segment
store recalculating a segment whose rule has an event condition.
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
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import mysql, postgresql, sqlite

import segmentkit as sk
from segmentkit import primitives as p
from segmentkit.compile.python import compile_python
from segmentkit.compile.sqlalchemy import compile_predicate, members_select
from segmentkit.types import FieldType as T

POSTGRES_URL = os.environ.get(
    "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REQUIRE = os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1"
SUFFIX = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
CONTACTS_TABLE = f"sk_sae_contacts_{SUFFIX}"
EVENTS_TABLE = f"sk_sae_events_{SUFFIX}"
MEMBERS_TABLE = f"sk_sae_members_{SUFFIX}"

NOW = dt.datetime(2024, 1, 31, 12, 0, tzinfo=dt.UTC)
WALL_NOW = NOW.replace(tzinfo=None)  # event times are stored naive

EVENT_FIELDS = (
    sk.Field("amount", T.DECIMAL),
    sk.Field("sku", T.STRING),
    sk.Field("channel", T.STRING),
    sk.Field("shipped", T.DATETIME),  # a naive property: read in UTC (the source's schema)
)
SOURCE = sk.EventSource(EVENTS_TABLE, "contact_id", "name", "occurred_at", fields=EVENT_FIELDS)
CONTACT_FIELDS = [sk.Field("id", T.INTEGER), sk.Field("country", T.STRING)]
SCHEMA = sk.Schema(CONTACT_FIELDS, table=CONTACTS_TABLE, key="id", events=SOURCE)
# Naive event times read in Berlin: the window's bounds become Berlin wall time.
BERLIN = sk.Schema(
    CONTACT_FIELDS, table=CONTACTS_TABLE, key="id", timezone="Europe/Berlin", events=SOURCE
)


def ev(
    name: str,
    days_ago: float,
    amount: str | None = "20",
    sku: str | None = "A",
    channel: str | None = "Web",
    shipped_hours_ago: float | None = None,
) -> dict[str, Any]:
    shipped = (
        None if shipped_hours_ago is None else WALL_NOW - dt.timedelta(hours=shipped_hours_ago)
    )
    return {
        "name": name,
        "occurred_at": WALL_NOW - dt.timedelta(days=days_ago),
        "amount": None if amount is None else Decimal(amount),
        "sku": sku,
        "channel": channel,
        "shipped": shipped,
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
    8: [
        ev("purchase", 3, None, "B", "app", shipped_hours_ago=0.5),
        ev("purchase", 10, "100", "b", "App", shipped_hours_ago=47),
    ],
    9: [  # hours ago: zone-sensitive
        ev("purchase", 0.0417, shipped_hours_ago=1.5),
        ev("purchase", 0.125, "7", shipped_hours_ago=49),
    ],
    10: [
        {
            "name": "purchase",
            "occurred_at": None,
            "amount": None,
            "sku": None,
            "channel": None,
            "shipped": None,
        }
    ],
    12: [ev("purchase", 30.00001), ev("purchase", -0.00001)],  # just outside both bounds
}
COUNTRIES = {1: "DE", 2: "AT", 3: "DE", 4: None, 5: "FR", 6: "DE", 7: "AT", 8: None, 9: "DE"}
CONTACTS = [{"id": i, "country": COUNTRIES.get(i)} for i in range(1, 13)]  # 11: no events
MEMBERSHIP = [("vip", 1), ("vip", 3), ("vip", 8), ("VIP", 2)]
PY_SEGMENTS = {sid: {k for s, k in MEMBERSHIP if s == sid} for sid in ("vip", "VIP")}


def expected(rule: Any, schema: sk.Schema = SCHEMA) -> set[int]:
    match = compile_python(rule, schema, now=NOW, events=EVENTS, segments=PY_SEGMENTS)
    return {c["id"] for c in match.filter(CONTACTS)}


# ------------------------------------------------------------------ engines
class Engine:
    """One database loaded with the contacts, events and memberships above."""

    def __init__(self, name: str, engine: sa.Engine) -> None:
        self.name = name
        self.engine = engine
        self.md = sa.MetaData()
        kw: dict[str, Any] = {}
        string: sa.types.TypeEngine[Any] = sa.String(100)
        when: sa.types.TypeEngine[Any] = sa.DateTime()
        if name == "mariadb":
            # The collation users have: case-, accent- and pad-insensitive `=`.
            kw = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_general_ci"}
            when = mysql.DATETIME(fsp=6)
        self.contacts = sa.Table(
            CONTACTS_TABLE,
            self.md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("country", string),
            **kw,
        )
        self.events = sa.Table(
            EVENTS_TABLE,
            self.md,
            sa.Column("contact_id", sa.Integer, nullable=False),
            sa.Column("name", string),
            sa.Column("occurred_at", when),
            sa.Column("amount", sa.Numeric(12, 2)),
            sa.Column("sku", string),
            sa.Column("channel", string),
            sa.Column("shipped", when),
            **kw,
        )
        # Segment ids compare exactly ("VIP" is not "vip"), as in the store's own table.
        segment_id: sa.types.TypeEngine[Any] = string
        if name == "mariadb":
            segment_id = mysql.VARCHAR(100, collation="utf8mb4_bin")
        self.memberships = sa.Table(
            MEMBERS_TABLE,
            self.md,
            sa.Column("segment_id", segment_id, primary_key=True),
            sa.Column("contact_key", sa.Integer, primary_key=True, autoincrement=False),
            **kw,
        )
        self.md.drop_all(engine)
        self.md.create_all(engine)
        with engine.begin() as conn:
            conn.execute(self.contacts.insert(), CONTACTS)
            rows = [{"contact_id": k, **e} for k, es in EVENTS.items() for e in es]
            conn.execute(self.events.insert(), rows)
            conn.execute(
                self.memberships.insert(),
                [{"segment_id": s, "contact_key": k} for s, k in MEMBERSHIP],
            )

    @property
    def segments(self) -> sk.SegmentTable:
        return sk.SegmentTable(self.memberships.name, "segment_id", "contact_key")

    def with_table(self, schema: sk.Schema) -> sk.Schema:
        """``schema`` whose event source carries this engine's SQLAlchemy events table."""
        source = sk.EventSource(
            EVENTS_TABLE,
            "contact_id",
            "name",
            "occurred_at",
            fields=EVENT_FIELDS,
            sa_table=self.events,
        )
        return sk.Schema(
            CONTACT_FIELDS,
            table=self.contacts,
            key="id",
            timezone=schema.timezone,
            events=source,
        )

    def members(self, rule: Any, schema: sk.Schema = SCHEMA) -> set[int]:
        q = members_select(rule, schema, NOW, segments=self.segments)
        with self.engine.connect() as conn:
            return set(conn.execute(q).scalars())

    def close(self) -> None:
        self.md.drop_all(self.engine)
        self.engine.dispose()


def _make(name: str, tmp: str) -> Engine:
    if name == "sqlite":
        return Engine(name, sa.create_engine(f"sqlite:///{tmp}/events.db"))
    if name == "duckdb":
        return Engine(name, sa.create_engine(f"duckdb:///{tmp}/events.duckdb"))
    if name == "postgres":
        url, args = POSTGRES_URL, {"connect_timeout": 3, "options": "-c timezone=UTC"}
    else:
        url, args = MYSQL_URL, {"connect_timeout": 3, "charset": "utf8mb4"}
    engine = sa.create_engine(url, connect_args=args)
    try:
        with engine.connect():
            pass
    except Exception as exc:  # any driver/connection failure means "unreachable"
        engine.dispose()
        reason = f"{name} unreachable: {type(exc).__name__}: {exc}"
        if REQUIRE:
            pytest.fail(f"{reason} (SEGMENTKIT_REQUIRE_BACKENDS=1)")
        pytest.skip(reason)
    return Engine(name, engine)


@pytest.fixture(scope="module", params=["sqlite", "duckdb", "postgres", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="segmentkit-") as tmp:
        engine = _make(request.param, tmp)
        try:
            yield engine
        finally:
            engine.close()


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
    "window-edges": event(op="eq", count=2, days=30),
    "window-edges-negated": no(event(op="eq", count=2, days=30)),
    "big-buyer": event(op="gte", count=3, days=30, where=BIG),
    "big-buyer-negated": no(event(op="gte", count=3, days=30, where=BIG)),
    "negated-eq-2": no(event(op="eq", count=2)),
    "negated-absent": no(event(op="eq", count=0)),
    "hours-window": event(days=2, unit="hours"),
    "visit-5": event("visit", "eq", 5),
    "unknown-event": event("signup"),
    "unknown-event-negated": no(event("signup")),
    "accented-name": event("purchasé"),
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
    "where-shipped-recent": event(
        where=[cond("shipped", "in_last", {"amount": 2, "unit": "hours"})]
    ),
    "where-shipped-before": event(
        op="gte", count=1, where=[cond("shipped", "lt", "2024-01-29T12:30:00Z")]
    ),
    "where-not-shipped-before": event(
        op="gte", count=2, where=[cond("shipped", "gte", "2024-01-29T12:30:00Z")]
    ),
    "where-negated-event": no(event(op="gte", count=2, where=[cond("amount", "gt", "6")])),
    "segment-and-event": {
        "combinator": "or",
        "rules": [{"segment": "VIP"}, no(event(days=30), {"segment": "vip"})],
    },
}


@pytest.mark.parametrize("sa_table", [False, True], ids=["table()", "Table"])
@pytest.mark.parametrize("name", list(RULES))
def test_rules_match_python(db: Engine, name: str, sa_table: bool) -> None:
    rule = RULES[name]
    schema = db.with_table(SCHEMA) if sa_table else SCHEMA
    assert db.members(rule, schema) == expected(rule)


@pytest.mark.parametrize(
    "name",
    [
        "big-buyer",
        "hours-window",
        "window-gte-1",
        "window-lte-1",
        "and-field",
        "where-shipped-recent",
        "where-shipped-before",
        "where-not-shipped-before",
    ],
)
def test_rules_match_python_in_a_zone(db: Engine, name: str) -> None:
    rule = RULES[name]
    assert db.members(rule, BERLIN) == expected(rule, BERLIN)
    assert db.members(rule, db.with_table(BERLIN)) == expected(rule, BERLIN)


def test_reference_sets_are_not_trivial() -> None:
    # The table above is only a test if the reference answers differ between rules.
    assert expected(RULES["big-buyer"]) == {1}
    assert expected(RULES["big-buyer-negated"]) == set(range(1, 13)) - {1}
    assert expected(RULES["window-gte-1"]) == {1, 2, 6, 8, 9}
    assert expected(RULES["eq-0"]) == {4, 5, 7, 11}
    assert expected(RULES["window-edges"]) == {2, 6, 8, 9}  # 12's events fall just outside
    assert expected(RULES["accented-name"]) == {7}
    assert expected(RULES["where-shipped-recent"]) == {8, 9}
    assert expected(RULES["where-shipped-before"]) == {9}
    assert expected(RULES["where-not-shipped-before"]) == {8}  # 47 hours ago is after
    # Properties are read in UTC whatever the contact schema's zone.
    assert expected(RULES["where-shipped-recent"], BERLIN) == {8, 9}
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
    assert db.members(rule, zone) == expected(rule, zone)


LEAVES = st.one_of(
    SPECS.map(_event_rule),
    st.sampled_from(
        [
            cond("country", "eq", "DE"),
            cond("country", "is_null"),
            cond("country", "neq", "AT"),
            {"segment": "vip"},
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
def test_random_trees_with_events(db: Engine, rule: dict[str, Any]) -> None:
    assert db.members(rule) == expected(rule)


def test_aware_event_time_column_on_engines(db: Engine) -> None:
    # A DateTime(timezone=True) time column holds instants: the window binds instants
    # (naive UTC where the engine has no zone type), whatever the contact schema's zone.
    md = sa.MetaData()
    name = f"sk_sae_aware_{SUFFIX}"
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
            want = compile_python(rule, schema, now=NOW, events=events)
            assert db.members(rule, schema) == {c["id"] for c in want.filter(CONTACTS)}
        assert db.members(event("login", days=1), schema) == {1, 3}
    finally:
        md.drop_all(db.engine)


def test_statement_cache_is_used(db: Engine, request: pytest.FixtureRequest) -> None:
    """Rules of one shape (other name, window, count, where value) reuse one compilation."""
    if db.name == "duckdb":
        # Strict: the day duckdb_engine caches statements, this fails and is noticed.
        request.applymarker(
            pytest.mark.xfail(
                reason="duckdb_engine declares no statement-cache support (upstream)",
                strict=True,
            )
        )
    hits: list[str] = []

    def record(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        hits.append(str(context.cache_hit))

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        for name, days, n, amount in [("purchase", 30, 2, "10"), ("visit", 7, 5, "1")]:
            rule = event(name, "gte", n, days=days, where=[cond("amount", "gte", amount)])
            assert db.members(rule) == expected(rule)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert "CACHE_HIT" in hits[-1], hits


# ------------------------------------------------------------ expected SQL
PG = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
MARIADB = mysql.pymysql.dialect()
MARIADB.is_mariadb = True  # what the dialect learns on connect to a MariaDB server
SMALL = sk.Schema(
    CONTACT_FIELDS,
    table="contacts",
    key="id",
    events=sk.EventSource("events", "contact_id", "name", "at", fields=EVENT_FIELDS),
)


def text(rule: Any, dialect: Any, schema: sk.Schema = SMALL, now: dt.datetime = NOW) -> str:
    compiled = members_select(rule, schema, now).compile(dialect=dialect)
    return str(compiled).split("WHERE ", 1)[1].replace("\n", "")


_PLACEHOLDER = re.compile(r"%\(\w+\)s|:\w+|\?|\$\d+|%s")
_AWARE = sa.Table(
    "aware_events",
    sa.MetaData(),
    sa.Column("contact_id", sa.Integer),
    sa.Column("name", sa.Text),
    sa.Column("at", sa.DateTime(timezone=True)),
)
VIEW_SCHEMAS = {
    "small": SMALL,
    "alias-named-table": sk.Schema(CONTACT_FIELDS, table="sk_event", key="id", events=SMALL.events),
    "events-db-schema": sk.Schema(
        CONTACT_FIELDS,
        key="id",
        events=sk.EventSource(
            "events", "cid", "kind", "at", fields=EVENT_FIELDS, table_schema="crm"
        ),
    ),
    "aware": sk.Schema(
        CONTACT_FIELDS,
        key="id",
        timezone="Europe/Berlin",
        events=sk.EventSource(
            "aware_events", "contact_id", "name", "at", fields=EVENT_FIELDS, sa_table=_AWARE
        ),
    ),
}
VIEW_RULES = {
    "count": event(op="gte", count=3, days=30, where=[cond("sku", "neq", "A")]),
    "exists": event(),
    "absent": event(op="lt", count=1),
    "negated": no(event(op="gte", count=1)),
    "neq": event(op="neq", count=2),
    "always": event(op="gte", count=0),
}


@pytest.mark.parametrize("dialect", ["postgres", "mariadb", "sqlite"])
@pytest.mark.parametrize("schema", VIEW_SCHEMAS)
@pytest.mark.parametrize("rule", VIEW_RULES)
def test_view_renders_what_to_sql_renders(rule: str, schema: str, dialect: str) -> None:
    """Event conditions in the SQLAlchemy view are the sqlglot compiler's text (its expected
    SQL is tests/test_sql_events.py), whatever names the tables have."""
    sa_dialect = {"postgres": PG, "mariadb": MARIADB, "sqlite": sqlite.dialect()}[dialect]
    view = text(VIEW_RULES[rule], sa_dialect, VIEW_SCHEMAS[schema])
    ours = sk.to_sql(VIEW_RULES[rule], VIEW_SCHEMAS[schema], dialect, NOW)
    assert _PLACEHOLDER.sub("?", view) == _PLACEHOLDER.sub("?", ours.text)


def test_window_bounds_are_wall_time_in_the_contact_zone() -> None:
    berlin = sk.Schema(CONTACT_FIELDS, key="id", timezone="Europe/Berlin", events=SMALL.events)
    stmt = members_select(event(days=1), berlin, NOW)
    with sa.create_engine("sqlite://").connect() as conn:
        conn.exec_driver_sql("CREATE TABLE contacts (id INTEGER, country TEXT)")
        conn.exec_driver_sql('CREATE TABLE events (contact_id INTEGER, name TEXT, "at" TEXT)')
        sent: list[Any] = []

        def record(c: Any, cursor: Any, statement: str, params: Any, ctx: Any, m: bool) -> None:
            sent.append(params)

        sa.event.listen(conn, "before_cursor_execute", record)
        conn.execute(stmt)
    # Berlin is UTC+1 in January; SQLAlchemy's SQLite storage form.
    assert sent == [("purchase", "2024-01-30 13:00:00.000000", "2024-01-31 13:00:00.000000")]


def test_same_shape_same_sql_and_cache_key() -> None:
    def rule(name: str, days: int, n: int, amount: str, channel: str) -> dict[str, Any]:
        return {
            "combinator": "and",
            "rules": [
                cond("country", "eq", channel[:2]),
                event(
                    name,
                    "gte",
                    n,
                    days=days,
                    where=[
                        cond("amount", "gte", amount),
                        cond("channel", "contains", channel, ignore_case=True),
                    ],
                ),
            ],
        }

    a = members_select(rule("purchase", 30, 3, "10", "web"), SMALL, NOW)
    b = members_select(
        rule("visit", 7, 9, "1", "x'%"), SMALL, NOW + dt.timedelta(days=3, minutes=7)
    )
    key_a, key_b = a._generate_cache_key(), b._generate_cache_key()
    assert key_a is not None and key_a == key_b
    for dialect in (PG, sqlite.dialect(), MARIADB):
        assert str(a.compile(dialect=dialect)) == str(b.compile(dialect=dialect))
    # The zone the window is bound in is part of the key (the text is the same).
    berlin = sk.Schema(CONTACT_FIELDS, key="id", timezone="Europe/Berlin", events=SMALL.events)
    berlin_key = members_select(rule("purchase", 30, 3, "10", "web"), berlin, NOW)
    assert berlin_key._generate_cache_key() != key_a


# ----------------------------------------------------------------- refusals
def test_event_condition_without_event_source_is_refused() -> None:
    pred = p.EventCount("purchase", p.Const(True), None, None, "ge", 1)
    bare = sk.Schema(CONTACT_FIELDS, key="id")
    with pytest.raises(sk.UnsupportedError, match="no event source"):
        compile_predicate(pred, bare).compile()


def test_segment_reference_inside_event_where_is_refused() -> None:
    rule = event(where=[{"segment": "vip"}])
    with pytest.raises(sk.UnsupportedError, match="segment reference inside"):
        members_select(rule, SMALL, NOW, segments=sk.SegmentTable("m")).compile()


def test_child_table_tags_inside_event_where_are_refused() -> None:
    tags = sk.Field("labels", T.TAGS, tags=sk.ChildTable("event_labels", "event_id", "label"))
    source = sk.EventSource("events", "contact_id", "name", "at", fields=(tags,))
    schema = sk.Schema(CONTACT_FIELDS, key="id", events=source)
    for where in (cond("labels", "has_any", ["x"]), cond("labels", "is_null")):
        with pytest.raises(sk.UnsupportedError, match="child-table tags in an event"):
            members_select(event(where=[where]), schema, NOW).compile()


def test_missing_event_column_is_refused() -> None:
    table = sa.Table("evts", sa.MetaData(), sa.Column("contact_id", sa.Integer))
    source = sk.EventSource("evts", "contact_id", "name", "at", sa_table=table)
    schema = sk.Schema(CONTACT_FIELDS, key="id", events=source)
    with pytest.raises(sk.UnsupportedError, match="no column 'name'"):
        members_select(event(), schema, NOW).compile()


# -------------------------------------------------------------------- store
def test_store_recalculates_a_segment_with_an_event_condition(tmp_path: Any) -> None:
    from segmentkit.store import Store, make_tables

    engine = sa.create_engine(f"sqlite:///{tmp_path}/store.db")
    tables = make_tables("sae_", sa.Integer)
    contacts = sa.Table(
        "people",
        tables.metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("country", sa.String(2)),
    )
    events = sa.Table(
        "people_events",
        tables.metadata,
        sa.Column("contact_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(50)),
        sa.Column("occurred_at", sa.DateTime()),
        sa.Column("amount", sa.Numeric(12, 2)),
        sa.Column("sku", sa.String(50)),
        sa.Column("channel", sa.String(50)),
    )
    source = sk.EventSource(
        "people_events", "contact_id", "name", "occurred_at", fields=EVENT_FIELDS, sa_table=events
    )
    schema = sk.Schema(CONTACT_FIELDS, table=contacts, key="id", events=source)
    tables.metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(contacts.insert(), CONTACTS)
            conn.execute(
                events.insert(), [{"contact_id": k, **e} for k, es in EVENTS.items() for e in es]
            )
        store = Store(engine, schema, tables)
        rule = {"combinator": "or", "rules": [RULES["big-buyer"], RULES["visit-5"]]}
        store.create({"id": "buyers", "rule": rule})
        run = store.recalculate("buyers", now=NOW)
        match = compile_python(rule, schema, now=NOW, events=EVENTS)
        want = {c["id"] for c in match.filter(CONTACTS)}
        assert want == {1, 4}
        assert set(store.members("buyers")) == want
        assert (run.added, run.removed) == (2, 0)
        # A new event changes the membership at the next recalculation; the same data
        # twice changes nothing.
        with engine.begin() as conn:
            conn.execute(events.insert(), [{"contact_id": 6, **ev("purchase", 5)}])
        run = store.recalculate("buyers", now=NOW)
        assert set(store.members("buyers")) == {1, 4, 6}
        assert (run.added, run.removed) == (1, 0)
        run = store.recalculate("buyers", now=NOW)
        assert (run.added, run.removed) == (0, 0)
        # The window moves with `now`: 40 days later no event is recent enough.
        run = store.recalculate("buyers", now=NOW + dt.timedelta(days=40))
        assert set(store.members("buyers")) == {4}  # "visit" 5 times has no window
        assert (run.added, run.removed) == (0, 2)
    finally:
        tables.metadata.drop_all(engine)
        engine.dispose()
