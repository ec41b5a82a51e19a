"""Two engines, one answer: the Python engine and the SQL rollup on SQLite, DuckDB,
PostgreSQL and MariaDB agree exactly — on hand-made edge cases (empty periods, DST
days, events exactly on period and membership boundaries, NULL revenue, leave and
rejoin) and on hypothesis-generated histories.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from segmentkit.performance import python as py
from segmentkit.performance import sql as perf_sql
from segmentkit.performance.config import PerformanceConfig, load_config
from segmentkit.performance.periods import Period, periods_between
from segmentkit.performance.rows import PerformanceRow
from segmentkit.store.tables import UTCDateTime, make_tables

BERLIN = ZoneInfo("Europe/Berlin")
SESSION = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
PREFIX = f"skp{SESSION}_"
URLS = {
    "postgres": os.environ.get(
        "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
REQUIRE = os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1"


@dataclass(frozen=True)
class Change:
    id: int
    segment_id: str
    key: int
    change: str
    at: dt.datetime


def config(**kw: Any) -> PerformanceConfig:
    data: dict[str, Any] = {
        "grain": "day",
        "timezone": "Europe/Berlin",
        "activity": {
            "table": f"{PREFIX}activity",
            "key": "contact",
            "time": "at",
            "name": "name",
            "events": ["open", "click"],
        },
        "conversions": {
            "table": f"{PREFIX}orders",
            "key": "contact",
            "time": "at",
            "revenue": "amount",
        },
        "campaigns": {
            "table": f"{PREFIX}sends",
            "campaign": "campaign",
            "segment": "segment",
            "time": "at",
        },
    }
    data.update(kw)
    return load_config(data)


class Db:
    """One database with the history, activity, orders and sends tables."""

    def __init__(self, name: str, engine: sa.Engine) -> None:
        self.name = name
        self.engine = engine
        self.tables = make_tables(PREFIX)
        md = sa.MetaData()
        # The store's history columns (its own DDL does not run on DuckDB: BIGSERIAL).
        self.history = sa.Table(
            self.tables.history.name,
            md,
            sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("segment_id", sa.String(200), nullable=False),
            sa.Column("contact_key", sa.BigInteger, nullable=False),
            sa.Column("change", sa.String(8), nullable=False),
            sa.Column("reason", sa.String(8), nullable=False),
            sa.Column("run_id", sa.BigInteger),
            sa.Column("at", UTCDateTime(), nullable=False, quote=True),
        )
        self.activity = sa.Table(
            f"{PREFIX}activity",
            md,
            sa.Column("contact", sa.BigInteger, nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False, quote=True),
            sa.Column("name", sa.String(20), nullable=False),
        )
        self.orders = sa.Table(
            f"{PREFIX}orders",
            md,
            sa.Column("contact", sa.BigInteger, nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False, quote=True),
            sa.Column("amount", sa.Numeric(18, 2)),
        )
        self.sends = sa.Table(
            f"{PREFIX}sends",
            md,
            sa.Column("campaign", sa.String(40), nullable=False),
            sa.Column("segment", sa.String(200), nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False, quote=True),
        )
        self.md = md
        md.drop_all(engine)
        md.create_all(engine)

    def load(
        self,
        history: Sequence[Change],
        activity: Sequence[py.Activity],
        orders: Sequence[py.Conversion],
        sends: Sequence[py.CampaignSend],
    ) -> None:
        with self.engine.begin() as conn:
            for t in (self.history, self.activity, self.orders, self.sends):
                conn.execute(t.delete())
            if history:
                conn.execute(
                    self.history.insert(),
                    [
                        {
                            "id": c.id,
                            "segment_id": c.segment_id,
                            "contact_key": c.key,
                            "change": c.change,
                            "reason": "rule",
                            "run_id": None,
                            "at": c.at,
                        }
                        for c in history
                    ],
                )
            if activity:
                conn.execute(
                    self.activity.insert(),
                    [{"contact": a.key, "at": a.at, "name": a.name} for a in activity],
                )
            if orders:
                conn.execute(
                    self.orders.insert(),
                    [{"contact": o.key, "at": o.at, "amount": o.revenue} for o in orders],
                )
            if sends:
                conn.execute(
                    self.sends.insert(),
                    [{"campaign": s.campaign, "segment": s.segment_id, "at": s.at} for s in sends],
                )

    def compute(
        self, cfg: PerformanceConfig, periods: Sequence[Period], segments: Sequence[str]
    ) -> list[PerformanceRow]:
        with self.engine.connect() as conn:
            return perf_sql.compute(conn, cfg, periods, segments, self.tables)

    def close(self) -> None:
        self.md.drop_all(self.engine)
        self.engine.dispose()


def _server(name: str) -> sa.Engine:
    url = URLS[name]
    args: dict[str, Any] = {"connect_timeout": 3}
    if name == "mariadb":
        args["init_command"] = "SET time_zone = '+00:00'"
    engine = sa.create_engine(url, connect_args=args)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        engine.dispose()
        if REQUIRE:
            pytest.fail(f"{name} unreachable: {exc}", pytrace=False)
        pytest.skip(f"{name} unreachable at {url}: {type(exc).__name__}")
    return engine


@pytest.fixture(scope="module", params=["sqlite", "duckdb", "postgres", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[Db]:
    tmp = tempfile.TemporaryDirectory(prefix="segmentkit-perf-")
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp.name}/perf.db")
    elif request.param == "duckdb":
        engine = sa.create_engine(f"duckdb:///{tmp.name}/perf.duckdb")
    else:
        engine = _server(request.param)
    database = Db(request.param, engine)
    yield database
    database.close()
    tmp.cleanup()


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(dt.UTC)  # type: ignore[misc]


def check(
    db: Db,
    cfg: PerformanceConfig,
    periods: Sequence[Period],
    segments: Sequence[str],
    history: Sequence[Change],
    activity: Sequence[py.Activity] = (),
    orders: Sequence[py.Conversion] = (),
    sends: Sequence[py.CampaignSend] = (),
) -> list[PerformanceRow]:
    want = py.compute(
        cfg, periods, segments, history, activity=activity, conversions=orders, campaigns=sends
    )
    db.load(history, activity, orders, sends)
    got = db.compute(cfg, periods, segments)
    assert got == want
    return want


# ------------------------------------------------------------------- edge cases
# The last Sunday of March 2026: Berlin's 23-hour day (02:00 -> 03:00).
DST_PERIODS = periods_between(berlin(2026, 3, 27), berlin(2026, 4, 1), "day", BERLIN)


def _history(*rows: tuple[str, int, str, dt.datetime]) -> list[Change]:
    return [Change(i + 1, s, k, c, at) for i, (s, k, c, at) in enumerate(rows)]


EDGE_HISTORY = _history(
    ("a", 1, "added", berlin(2026, 3, 20)),  # member throughout
    ("a", 2, "added", berlin(2026, 3, 28)),  # exactly on a period start
    ("a", 2, "removed", berlin(2026, 3, 29, 12)),  # leaves on the DST day...
    ("a", 2, "added", berlin(2026, 3, 29, 18)),  # ...and rejoins the same day
    ("a", 3, "added", berlin(2026, 3, 29, 3)),  # the first instant after the gap
    ("a", 3, "removed", berlin(2026, 3, 30)),  # removed exactly at a period start
    ("a", 4, "added", berlin(2026, 3, 31, 9)),
    ("a", 4, "removed", berlin(2026, 3, 31, 9)),  # zero-length membership
    ("b", 1, "added", berlin(2026, 3, 1)),
    ("b", 1, "removed", berlin(2026, 3, 27, 12)),
)
EDGE_ACTIVITY = [
    py.Activity(2, berlin(2026, 3, 29, 12), "open"),  # at its removal: not a member
    py.Activity(2, berlin(2026, 3, 29, 18), "open"),  # at its rejoin: a member
    py.Activity(2, berlin(2026, 3, 29, 20), "click"),
    py.Activity(1, berlin(2026, 3, 28), "open"),  # exactly at a period start
    py.Activity(1, berlin(2026, 3, 28), "bounce"),  # filtered out by name
    py.Activity(3, berlin(2026, 3, 30), "open"),  # at its removal instant
    py.Activity(4, berlin(2026, 3, 31, 9), "open"),  # inside a zero-length membership
    py.Activity(9, berlin(2026, 3, 28, 1), "open"),  # never a member
]
EDGE_ORDERS = [
    py.Conversion(2, berlin(2026, 3, 29, 18), Decimal("19.99")),
    py.Conversion(2, berlin(2026, 3, 29, 19), None),  # NULL revenue
    py.Conversion(2, berlin(2026, 3, 29, 12), Decimal("5.00")),  # not a member then
    py.Conversion(1, berlin(2026, 3, 31, 23, 59), Decimal("0.01")),
    py.Conversion(3, berlin(2026, 3, 29, 3), Decimal("-2.50")),  # a refund, at join
    py.Conversion(1, berlin(2026, 3, 27, 12), Decimal("7.00")),  # also b's removal instant
]
EDGE_SENDS = [
    py.CampaignSend("spring", "a", berlin(2026, 3, 28)),
    py.CampaignSend("spring", "a", berlin(2026, 3, 28, 9)),  # the same campaign twice
    py.CampaignSend("dst", "a", berlin(2026, 3, 29, 3)),
    py.CampaignSend("b-only", "b", berlin(2026, 3, 31, 23, 59, 59)),
    py.CampaignSend("late", "a", berlin(2026, 4, 1)),  # after the last period
]


def test_edge_cases_agree(db: Db) -> None:
    rows = check(
        db,
        config(),
        DST_PERIODS,
        ["a", "b", "empty"],
        EDGE_HISTORY,
        EDGE_ACTIVITY,
        EDGE_ORDERS,
        EDGE_SENDS,
    )
    by = {(r.segment_id, r.label.day): r for r in rows}
    dst = by[("a", 29)]
    assert dst.end - dst.start == dt.timedelta(hours=23)
    assert (dst.members_start, dst.members_end) == (2, 3)
    assert (dst.added, dst.removed, dst.exposed) == (2, 1, 3)
    assert (dst.active, dst.conversions, dst.converting) == (1, 3, 2)
    assert dst.revenue == Decimal("17.49") and dst.conversion_rate == 2 / 3
    assert dst.campaigns == 1
    assert by[("a", 28)].members_start == 2 and by[("a", 28)].active == 1
    assert by[("a", 30)].members_start == 2 and by[("a", 30)].active == 0
    assert by[("a", 31)].exposed == 2 and by[("a", 31)].active == 0
    assert by[("b", 27)].conversions == 0 and by[("b", 27)].revenue == Decimal("0.00")
    empty = by[("empty", 29)]
    assert (empty.exposed, empty.conversion_rate, empty.revenue) == (0, None, Decimal("0.00"))


def test_without_revenue_or_sources(db: Db) -> None:
    cfg = load_config(
        {
            "grain": "week",
            "timezone": "Europe/Berlin",
            "conversions": {"table": f"{PREFIX}orders", "key": "contact", "time": "at"},
        }
    )
    periods = periods_between(berlin(2026, 3, 1), berlin(2026, 4, 30), "week", BERLIN)
    rows = check(db, cfg, periods, ["a", "b"], EDGE_HISTORY, (), EDGE_ORDERS)
    assert all(r.revenue is None and r.active is None and r.campaigns is None for r in rows)
    assert all(p.label.weekday() == 0 for p in periods)
    assert sum(r.conversions or 0 for r in rows if r.segment_id == "a") == 5
    assert sum(r.conversions or 0 for r in rows if r.segment_id == "b") == 0


def test_month_and_quarter_grains(db: Db) -> None:
    for grain in ("month", "quarter"):
        cfg = config(grain=grain, timezone="America/New_York")
        periods = periods_between(
            berlin(2025, 12, 1), berlin(2026, 7, 1), grain, "America/New_York"
        )
        check(db, cfg, periods, ["a", "b"], EDGE_HISTORY, EDGE_ACTIVITY, EDGE_ORDERS, EDGE_SENDS)


# ------------------------------------------------------------------- generated
_BASE = berlin(2026, 3, 28)
# Instants on and around period boundaries (Berlin midnights, the DST jump).
_TIMES = st.one_of(
    st.sampled_from([p.start for p in DST_PERIODS] + [berlin(2026, 3, 29, 3)]),
    st.integers(-36, 5 * 24 + 12).map(lambda h: _BASE + dt.timedelta(hours=h)),
    st.integers(-3, 3).map(lambda s: _BASE + dt.timedelta(days=1, seconds=s)),
)


@st.composite
def histories(draw: st.DrawFn) -> list[Change]:
    rows: list[tuple[str, int, str, dt.datetime]] = []
    for seg in ("a", "b"):
        for key in range(1, draw(st.integers(1, 5)) + 1):
            times = sorted(draw(st.lists(_TIMES, max_size=5)))
            for n, t in enumerate(times):
                rows.append((seg, key, "added" if n % 2 == 0 else "removed", t))
    order = draw(st.permutations(range(len(rows))))
    # Ids follow the order changes were written in; equal times keep change order.
    by_member: dict[tuple[str, int], int] = {}
    out = []
    for i, j in enumerate(sorted(order, key=lambda j: (rows[j][3], j))):
        seg, key, change, at = rows[j]
        by_member[(seg, key)] = by_member.get((seg, key), 0) + 1
        out.append(Change(i + 1, seg, key, change, at))
    return out


_KEYS = st.integers(1, 6)
_REVENUE = st.one_of(
    st.none(), st.sampled_from(["0.01", "19.99", "-5.00", "1000000.10"]).map(Decimal)
)


@given(
    history=histories(),
    activity=st.lists(
        st.builds(py.Activity, _KEYS, _TIMES, st.sampled_from(["open", "bounce"])), max_size=8
    ),
    orders=st.lists(st.builds(py.Conversion, _KEYS, _TIMES, _REVENUE), max_size=8),
    first=st.integers(0, len(DST_PERIODS) - 1),
    sends=st.lists(
        st.builds(
            py.CampaignSend, st.sampled_from(["x", "y"]), st.sampled_from(["a", "b"]), _TIMES
        ),
        max_size=4,
    ),
)
def test_generated_histories_agree(
    db: Db,
    history: list[Change],
    activity: list[py.Activity],
    orders: list[py.Conversion],
    sends: list[py.CampaignSend],
    first: int,
) -> None:
    # Starting later than the history does is what an incremental refresh does.
    check(db, config(), DST_PERIODS[first:], ["a", "b"], history, activity, orders, sends)


def test_order_is_time_then_id_even_when_ids_disagree_with_time(db: Db) -> None:
    t0, t = berlin(2026, 3, 20), berlin(2026, 3, 25, 12)
    history = [
        Change(3, "a", 5, "added", t0),  # written last, happened first
        Change(1, "a", 5, "removed", t),
        Change(2, "a", 5, "added", t),  # same instant, higher id: a member after t
        Change(4, "a", 6, "added", t0),
        Change(6, "a", 6, "added", t),
        Change(5, "a", 6, "removed", t),  # same instant, lower id: a member after t too
        Change(7, "a", 7, "added", t),
        Change(8, "a", 7, "removed", t),  # zero-length: never a member
    ]
    orders = [py.Conversion(k, berlin(2026, 3, 28, 10), Decimal("1.00")) for k in (5, 6, 7)]
    for periods in (DST_PERIODS, periods_between(t0, berlin(2026, 3, 31), "day", BERLIN)):
        rows = check(db, config(), periods, ["a"], history, (), orders)
        day = next(r for r in rows if r.label == dt.date(2026, 3, 28))
        assert (day.members_start, day.conversions, day.converting) == (2, 2, 2)
