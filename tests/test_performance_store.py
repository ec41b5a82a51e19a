"""The stored performance table: refreshes are incremental, idempotent and recorded;
stored rows read back equal to the Python engine's; frames; a real store's history."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from segmentkit.performance import python as py
from segmentkit.performance.config import PerformanceConfig, load_config
from segmentkit.performance.periods import periods_between
from segmentkit.performance.rollup import read, refresh, runs, to_frame
from segmentkit.schema import Schema
from segmentkit.store import Store, create_all, drop_all, make_tables
from segmentkit.store.tables import UTCDateTime

BERLIN = ZoneInfo("Europe/Berlin")
URLS = {
    "postgresql": os.environ.get(
        "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get(
        "SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(dt.UTC)  # type: ignore[misc]


class Env:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.prefix = f"skps{uuid.uuid4().hex[:6]}_"
        self.tables = make_tables(self.prefix)
        md = sa.MetaData()
        self.orders = sa.Table(
            f"{self.prefix}orders",
            md,
            sa.Column("contact", sa.BigInteger, nullable=False),
            sa.Column("at", UTCDateTime(), nullable=False, quote=True),
            sa.Column("amount", sa.Numeric(18, 2)),
        )
        self.md = md
        create_all(engine, self.tables)
        md.create_all(engine)

    def config(self, **kw: Any) -> PerformanceConfig:
        data: dict[str, Any] = {
            "grain": "day",
            "timezone": "Europe/Berlin",
            "conversions": {
                "table": self.orders.name,
                "key": "contact",
                "time": "at",
                "revenue": "amount",
            },
        }
        data.update(kw)
        return load_config(data)

    def change(self, segment: str, key: int, change: str, at: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.tables.history.insert().values(
                    segment_id=segment,
                    contact_key=key,
                    change=change,
                    reason="rule",
                    run_id=None,
                    at=at,
                )
            )

    def order(self, key: int, at: dt.datetime, amount: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                self.orders.insert().values(
                    contact=key, at=at, amount=None if amount is None else Decimal(amount)
                )
            )

    def expected(
        self, config: PerformanceConfig, start: dt.datetime, end: dt.datetime, segments: list[str]
    ) -> list[Any]:
        with self.engine.connect() as conn:
            hist = conn.execute(sa.select(self.tables.history)).mappings().all()
            orders = conn.execute(sa.select(self.orders)).mappings().all()
        changes = [
            _Change(h["id"], h["segment_id"], h["contact_key"], h["change"], h["at"]) for h in hist
        ]
        convs = [py.Conversion(o["contact"], o["at"], o["amount"]) for o in orders]
        periods = periods_between(start, end, config.grain, config.zone)
        return py.compute(config, periods, segments, changes, conversions=convs)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(self.tables.performance)
                ).scalar()
                or 0
            )

    def close(self) -> None:
        drop_all(self.engine, self.tables)
        self.md.drop_all(self.engine)


class _Change:
    def __init__(self, id: int, segment_id: str, key: int, change: str, at: dt.datetime) -> None:
        self.id, self.segment_id, self.key, self.change, self.at = id, segment_id, key, change, at


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Env]:
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'perf.db'}")
    else:
        engine = sa.create_engine(URLS[request.param])
        try:
            with engine.connect():
                pass
        except Exception as exc:
            engine.dispose()
            if os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1":
                pytest.fail(f"{request.param} unreachable: {exc}", pytrace=False)
            pytest.skip(f"{request.param} unreachable")
    e = Env(engine)
    yield e
    e.close()
    engine.dispose()


def test_refresh_is_incremental_idempotent_and_equal_to_python(env: Env) -> None:
    env.change("a", 1, "added", berlin(2026, 3, 27, 10))
    env.change("a", 2, "added", berlin(2026, 3, 28))
    env.change("a", 2, "removed", berlin(2026, 3, 29, 12))
    env.change("a", 2, "added", berlin(2026, 3, 29, 18))
    env.change("b", 1, "added", berlin(2026, 3, 28, 5))
    env.order(2, berlin(2026, 3, 29, 19), "19.99")
    env.order(1, berlin(2026, 3, 30, 9), None)
    cfg = env.config()
    now = berlin(2026, 3, 31, 12)

    run = refresh(env.engine, cfg, ["a", "b"], now=now, tables=env.tables)
    assert (run.status, run.periods, run.segments, run.rows_written) == ("succeeded", 5, 2, 10)
    assert run.first_period == berlin(2026, 3, 27)
    stored = read(env.engine, ["a", "b"], tables=env.tables)
    assert stored == env.expected(cfg, berlin(2026, 3, 27), berlin(2026, 4, 1), ["a", "b"])
    dst = next(r for r in stored if r.segment_id == "a" and r.label == dt.date(2026, 3, 29))
    assert dst.end - dst.start == dt.timedelta(hours=23)
    assert (dst.members_start, dst.members_end, dst.exposed) == (2, 2, 2)
    assert dst.revenue == Decimal("19.99") and dst.conversion_rate == 0.5

    # Same data, same now: only the current (not final) period is recomputed; nothing
    # changes, nothing is duplicated.
    again = refresh(env.engine, cfg, ["a", "b"], now=now, tables=env.tables)
    assert (again.periods, again.rows_written) == (1, 0)
    assert env.count() == 10
    assert read(env.engine, ["a", "b"], tables=env.tables) == stored

    # A day later with a new order on the previous (now ended) day and one today.
    env.order(1, berlin(2026, 3, 31, 20), "5.00")
    env.order(1, berlin(2026, 4, 1, 8), "1.00")
    later = refresh(env.engine, cfg, ["a", "b"], now=berlin(2026, 4, 1, 12), tables=env.tables)
    assert (later.periods, later.first_period) == (2, berlin(2026, 3, 31))
    assert later.rows_written == 4  # 31 March for a and b changed, 1 April is new
    assert env.count() == 12
    assert read(env.engine, ["a", "b"], tables=env.tables) == env.expected(
        cfg, berlin(2026, 3, 27), berlin(2026, 4, 2), ["a", "b"]
    )
    assert [r.status for r in runs(env.engine, tables=env.tables)] == ["succeeded"] * 3

    # Read back one segment and a range.
    rows = read(
        env.engine, "a", start=berlin(2026, 3, 29), end=berlin(2026, 3, 31), tables=env.tables
    )
    assert [r.label.day for r in rows] == [29, 30]


def test_final_after_keeps_recent_periods_open(env: Env) -> None:
    env.change("a", 1, "added", berlin(2026, 3, 27, 10))
    cfg = env.config(final_after=86400)
    now = berlin(2026, 3, 31, 12)
    refresh(env.engine, cfg, ["a"], now=now, tables=env.tables)
    again = refresh(env.engine, cfg, ["a"], now=now, tables=env.tables)
    assert (again.periods, again.first_period) == (2, berlin(2026, 3, 30))


def test_changed_config_recomputes_everything(env: Env) -> None:
    env.change("a", 1, "added", berlin(2026, 3, 27, 10))
    now = berlin(2026, 3, 31, 12)
    refresh(env.engine, env.config(), ["a"], now=now, tables=env.tables)
    cfg = env.config(metrics=["members_end", "conversions"])
    run = refresh(env.engine, cfg, ["a"], now=now, tables=env.tables)
    assert (run.periods, run.rows_written) == (5, 5)
    rows = read(env.engine, "a", tables=env.tables)
    assert all(r.members_start is None and r.members_end == 1 for r in rows)
    assert all(r.revenue is None and r.conversions == 0 for r in rows)


def test_failed_refresh_is_rolled_back_and_recorded(env: Env) -> None:
    env.change("a", 1, "added", berlin(2026, 3, 27, 10))
    cfg = env.config(conversions={"table": "no_such_table", "key": "k", "time": "t"})
    with pytest.raises(sa.exc.DBAPIError):
        refresh(env.engine, cfg, ["a"], now=berlin(2026, 3, 31, 12), tables=env.tables)
    assert env.count() == 0
    (run,) = runs(env.engine, tables=env.tables)
    assert run.status == "failed" and "no_such_table" in (run.error or "")


def test_frames(env: Env) -> None:
    env.change("a", 1, "added", berlin(2026, 3, 27, 10))
    env.order(1, berlin(2026, 3, 28, 9), "2.50")
    refresh(env.engine, env.config(), ["a"], now=berlin(2026, 3, 29, 1), tables=env.tables)
    rows = read(env.engine, "a", tables=env.tables)
    pd = pytest.importorskip("pandas")
    frame = to_frame(rows)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["members_end"]) == [1, 1, 1]
    assert list(frame["revenue"]) == [Decimal("0.00"), Decimal("2.50"), Decimal("0.00")]
    pl = pytest.importorskip("polars")
    pframe = to_frame(rows, "polars")
    assert isinstance(pframe, pl.DataFrame)
    assert pframe["conversions"].to_list() == [0, 1, 0]
    with pytest.raises(ValueError, match="unknown frame library"):
        to_frame(rows, "excel")


def test_real_store_history(env: Env) -> None:
    contacts_md = sa.MetaData()
    contacts = sa.Table(
        f"{env.prefix}contacts",
        contacts_md,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("age", sa.Integer),
    )
    contacts_md.create_all(env.engine)
    try:
        with env.engine.begin() as conn:
            conn.execute(contacts.insert(), [{"id": i, "age": 10 * i} for i in range(1, 6)])
        store = Store(env.engine, Schema.from_table(contacts), env.tables)
        store.create({"id": "adults", "rule": {"field": "age", "operator": "gte", "value": 18}})
        store.create({"id": "vip", "type": "static", "include": [1, 2]})
        store.recalculate("adults", dt.datetime.now(dt.UTC))
        store.remove_members("vip", [2])
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        run = refresh(
            env.engine,
            env.config(metrics=["members_end", "added", "removed"]),
            now=now,
            tables=env.tables,
        )
        assert run.segments == 2
        today = {
            r.segment_id: r for r in read(env.engine, tables=env.tables) if r.start <= now < r.end
        }
        assert today["adults"].members_end == store.count("adults") == 4
        assert today["vip"].members_end == 1 and today["vip"].removed == 1
    finally:
        contacts_md.drop_all(env.engine)
