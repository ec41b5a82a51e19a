"""The membership store on SQLite, PostgreSQL and MariaDB.

Every test runs against a real database with its own table prefix (unique per test)
and drops its tables afterwards. Servers come from ``SEGMENTKIT_TEST_POSTGRES_URL`` /
``SEGMENTKIT_TEST_MYSQL_URL``; an unreachable server skips (or fails with
``SEGMENTKIT_REQUIRE_BACKENDS=1``).

Expected members are always computed independently, by the Python evaluator over
the same rows (:func:`segmentkit.membership.members`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from segmentkit.errors import ReadOnlyError, RuleError, StoreError
from segmentkit.membership import members as expected_members
from segmentkit.model import Segment
from segmentkit.schema import Schema
from segmentkit.store import Store, dependency_order, make_tables, pending
from segmentkit.store.tables import Tables

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
URLS = {
    "postgresql": os.environ.get(
        "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get(
        "SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}
REQUIRE = os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1"
ADULTS = {"field": "age", "operator": "gte", "value": 18}
_reachable: dict[str, str | None] = {}


def _server(name: str) -> sa.Engine:
    url = URLS[name]
    if name not in _reachable:
        probe = sa.create_engine(url)
        try:
            with probe.connect():
                _reachable[name] = None
        except Exception as exc:
            _reachable[name] = f"{name} unreachable at {url}: {type(exc).__name__}"
        finally:
            probe.dispose()
    reason = _reachable[name]
    if reason is not None:
        if REQUIRE:
            pytest.fail(f"{reason} (SEGMENTKIT_REQUIRE_BACKENDS=1)", pytrace=False)
        pytest.skip(reason)
    return sa.create_engine(url, pool_size=5)


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def engine(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[sa.Engine]:
    if request.param == "sqlite":
        eng = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        eng = _server(request.param)
    yield eng
    eng.dispose()


@dataclass
class Env:
    engine: sa.Engine
    tables: Tables
    contacts: sa.Table
    schema: Schema
    store: Store

    def put(self, rows: list[dict[str, Any]]) -> None:
        """Replace the contacts with ``rows``."""
        with self.engine.begin() as conn:
            conn.execute(self.contacts.delete())
            if rows:
                conn.execute(self.contacts.insert(), rows)

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(self.contacts))]

    def members(self, sid: str) -> set[Any]:
        return set(self.store.iter_members(sid))

    def expected(self, sid: str, now: dt.datetime = NOW) -> set[Any]:
        seg = self.store.get(sid, overrides=True)
        refs = {}
        for dep in _rule_refs(seg):
            refs[dep] = self.members(dep)
        return expected_members(seg, self.rows(), self.schema, now, segments=refs)

    def count(self, table: sa.Table, *where: Any) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(sa.func.count()).select_from(table).where(*where)
                ).scalar_one()
            )

    def snapshot(self) -> tuple[Any, ...]:
        t = self.tables
        with self.engine.connect() as conn:
            return tuple(
                sorted(
                    map(tuple, conn.execute(sa.select(*tab.c).order_by(*tab.primary_key.columns))),
                    key=repr,
                )
                for tab in (t.members, t.history, t.outbox, t.segments)
            )


def _rule_refs(seg: Segment) -> set[str]:
    from segmentkit.store import rule_refs

    return rule_refs(seg.rule) if seg.rule is not None else set()


@pytest.fixture
def env(engine: sa.Engine) -> Iterator[Env]:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    tables = make_tables(prefix)
    contacts = sa.Table(
        f"{prefix}contacts",
        tables.metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("age", sa.Integer),
        sa.Column("country", sa.String(2)),
    )
    tables.metadata.create_all(engine)
    schema = Schema.from_table(contacts)
    store = Store(engine, schema, tables, batch_size=3)
    try:
        yield Env(engine, tables, contacts, schema, store)
    finally:
        tables.metadata.drop_all(engine)


def people(n: int, *, shift: int = 0) -> list[dict[str, Any]]:
    countries = ["DE", "AT", "FR", None]
    return [
        {"id": i, "age": None if i % 7 == 0 else (i * 5 + shift) % 60, "country": countries[i % 4]}
        for i in range(1, n + 1)
    ]


def history_replay(env: Env, sid: str) -> set[Any]:
    state: set[Any] = set()
    after = None
    while True:
        page = env.store.history(sid, after_id=after, limit=500)
        for change in page:
            if change.change == "added":
                assert change.key not in state, f"{change} adds a member twice"
                state.add(change.key)
            else:
                assert change.key in state, f"{change} removes a non-member"
                state.remove(change.key)
        if len(page) < 500:
            return state
        after = page[-1].id


# --------------------------------------------------------------------------- recalculation
def test_dynamic_recalculation_matches_the_python_evaluator(env: Env) -> None:
    env.put(people(60))
    env.store.create({"id": "adults", "rule": ADULTS})
    run = env.store.recalculate("adults", NOW)
    want = env.expected("adults")
    assert want and env.members("adults") == want
    assert (run.added, run.removed, run.member_count, run.status) == (
        len(want),
        0,
        len(want),
        "succeeded",
    )
    assert env.store.count("adults") == env.store.count("adults", exact=True) == len(want)
    seg = env.store.get("adults")
    assert seg.member_count == len(want) and seg.last_calculated_at == NOW


def test_recalculating_again_changes_nothing(env: Env) -> None:
    env.put(people(40))
    env.store.create({"id": "adults", "rule": ADULTS})
    env.store.recalculate("adults", NOW)
    t = env.tables
    before = (
        env.members("adults"),
        env.count(t.history),
        env.count(t.outbox, t.outbox.c.type != "segment.recalculated"),
    )
    second = env.store.recalculate("adults", NOW)
    assert (second.added, second.removed) == (0, 0)
    after = (
        env.members("adults"),
        env.count(t.history),
        env.count(t.outbox, t.outbox.c.type != "segment.recalculated"),
    )
    assert after == before
    assert [r.status for r in env.store.runs("adults")] == ["succeeded", "succeeded"]


def test_churn_is_recorded_in_history_and_events(env: Env) -> None:
    env.put(people(50))
    env.store.create({"id": "adults", "rule": ADULTS})
    env.store.recalculate("adults", NOW)
    old = env.members("adults")
    env.put(people(55, shift=3))
    run = env.store.recalculate("adults", NOW)
    new = env.expected("adults")
    assert env.members("adults") == new
    changes = [c for c in env.store.history("adults") if c.run_id == run.id]
    assert {c.key for c in changes if c.change == "added"} == new - old
    assert {c.key for c in changes if c.change == "removed"} == old - new
    assert (run.added, run.removed) == (len(new - old), len(old - new)) != (0, 0)
    assert all(c.reason == "rule" for c in changes)
    events = [
        e
        for e in pending(env.engine, env.tables, limit=10_000)
        if getattr(e, "run_id", None) == run.id
    ]
    added = [e for e in events if e.type == "members.added"]
    removed = [e for e in events if e.type == "members.removed"]
    assert all(len(e.keys) <= 3 for e in added + removed)  # batch_size=3
    assert Counter(k for e in added for k in e.keys) == Counter(new - old)
    assert Counter(k for e in removed for k in e.keys) == Counter(old - new)
    assert sorted(e.batch for e in added) == list(range(len(added)))
    assert {e.batches for e in added} == {len(added)}
    (recalc,) = [e for e in events if e.type == "segment.recalculated"]
    assert (recalc.added, recalc.removed, recalc.member_count) == (run.added, run.removed, len(new))


def test_replaying_history_reproduces_members(env: Env) -> None:
    env.store.create(
        {"id": "h", "type": "hybrid", "rule": ADULTS, "include": [2, 3], "exclude": [5]}
    )
    for step in range(4):
        env.put(people(30 + step * 5, shift=step * 7))
        env.store.recalculate("h", NOW)
        env.store.add_members("h", [100 + step])
        env.store.remove_members("h", [10 + step])
    assert history_replay(env, "h") == env.members("h")
    assert env.store.count("h") == len(env.members("h"))


def test_manual_overrides_survive_every_recalculation(env: Env) -> None:
    env.put(people(40))
    env.store.create({"id": "h", "type": "hybrid", "rule": ADULTS})
    env.store.recalculate("h", NOW)
    matching = sorted(env.members("h"))
    outsider = next(r["id"] for r in people(40) if r["age"] is None)
    env.store.add_members("h", [outsider, 999])
    env.store.remove_members("h", [matching[0], matching[1]])
    for step in range(4):
        env.put(people(45, shift=step * 11))
        env.store.recalculate("h", NOW + dt.timedelta(days=step))
        got = env.members("h")
        assert {outsider, 999} <= got
        assert not {matching[0], matching[1]} & got
        assert got == env.expected("h")
    seg = env.store.get("h", overrides=True)
    assert sorted(seg.include) == sorted([outsider, 999]) and sorted(seg.exclude) == matching[:2]
    # a manual include also lifts an exclude; clearing returns the key to the rule
    env.store.add_members("h", [matching[0]])
    assert env.store.is_member("h", matching[0])
    env.store.clear_overrides("h", [999, matching[1]])
    env.store.recalculate("h", NOW + dt.timedelta(days=9))
    assert not env.store.is_member("h", 999)
    assert env.members("h") == env.expected("h", NOW + dt.timedelta(days=9))


def test_static_segments_hold_exactly_their_manual_members(env: Env) -> None:
    env.put(people(10))
    env.store.create({"id": "s", "type": "static", "include": [1, 2, 3, 50]})
    assert env.members("s") == {1, 2, 3, 50}
    assert env.store.remove_members("s", [2, 77]) == 1
    assert env.store.add_members("s", [3, 4]) == 1
    run = env.store.recalculate("s", NOW)
    assert (run.added, run.removed) == (0, 0) and env.members("s") == {1, 3, 4, 50}
    assert [c.reason for c in env.store.history("s")] == ["manual"] * 6
    assert env.store.history(key=2) == [c for c in env.store.history("s") if c.key == 2]
    with pytest.raises(StoreError, match="static segment has no rule"):
        env.store.create({"id": "s2", "type": "static", "rule": ADULTS})


def test_status_rules(env: Env) -> None:
    env.put(people(10))
    env.store.create({"id": "d", "rule": ADULTS})
    with pytest.raises(StoreError, match="dynamic"):
        env.store.add_members("d", [1])
    env.store.update("d", status="inactive")
    with pytest.raises(StoreError, match="inactive"):
        env.store.recalculate("d", NOW)
    assert env.store.runs("d") == []
    assert env.store.recalculate_many(now=NOW) == []
    env.store.update("d", status="active")
    env.store.recalculate("d", NOW)
    snap = env.snapshot()
    env.store.archive("d")
    for action in (
        lambda: env.store.recalculate("d", NOW),
        lambda: env.store.update("d", name="x"),
        lambda: env.store.update("d", status="active"),
    ):
        with pytest.raises(ReadOnlyError):
            action()
    assert env.store.members("d") == sorted(snap[0][i][1] for i in range(len(snap[0])))
    assert env.store.get("d").status == "archived"


def test_failure_mid_recalculation_rolls_everything_back(env: Env) -> None:
    env.put(people(40))
    env.store.create({"id": "adults", "rule": ADULTS})
    env.store.recalculate("adults", NOW)
    env.put(people(40, shift=9))
    before = env.snapshot()
    segments_table = env.tables.segments.name

    def boom(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # Fail when the run updates the segment's count: by then its history rows are
        # written and its members changed (on every backend), the events not yet.
        if statement.lstrip().startswith(f"UPDATE {segments_table} SET member_count"):
            raise RuntimeError("injected failure")

    sa.event.listen(env.engine, "before_cursor_execute", boom)
    try:
        with pytest.raises(RuntimeError, match="injected failure"):
            env.store.recalculate("adults", NOW)
    finally:
        sa.event.remove(env.engine, "before_cursor_execute", boom)
    assert env.snapshot() == before
    failed = env.store.runs("adults")[0]
    assert failed.status == "failed" and "injected failure" in (failed.error or "")
    run = env.store.recalculate("adults", NOW)  # and it recovers
    assert run.status == "succeeded" and env.members("adults") == env.expected("adults")
    assert run.added and run.removed  # so the failed run had changes to roll back


def test_concurrent_recalculations_neither_lose_nor_double(env: Env) -> None:
    env.put(people(80))
    env.store.create({"id": "adults", "type": "hybrid", "rule": ADULTS, "include": [1000]})
    env.store.recalculate("adults", NOW)
    for round_ in range(3):
        env.put(people(80, shift=round_ * 13 + 1))
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def work(
            barrier: threading.Barrier = barrier, errors: list[BaseException] = errors
        ) -> None:
            try:
                barrier.wait()
                env.store.recalculate("adults", NOW)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        runs = env.store.runs("adults", limit=2)
        # serialised: one run applied the change, the other found nothing to do
        assert sorted(r.added + r.removed == 0 for r in runs) == [False, True] or all(
            r.added + r.removed == 0 for r in runs
        )
        assert env.members("adults") == env.expected("adults")
        assert history_replay(env, "adults") == env.members("adults")
        assert env.store.count("adults") == env.store.count("adults", exact=True)


# --------------------------------------------------------------------------- references
def test_segment_references_follow_stored_membership_in_dependency_order(env: Env) -> None:
    env.put(people(60))
    env.store.create({"id": "adults", "rule": ADULTS})
    env.store.create(
        {
            "id": "de-adults",
            "rule": {
                "combinator": "and",
                "rules": [
                    {"segment": "adults"},
                    {"field": "country", "operator": "eq", "value": "DE"},
                ],
            },
        }
    )
    env.store.create(
        {
            "id": "not-de-adults",
            "rule": {"combinator": "and", "not": True, "rules": [{"segment": "de-adults"}]},
        }
    )
    runs = env.store.recalculate_many(["not-de-adults", "de-adults", "adults"], now=NOW)
    assert [r.segment_id for r in runs] == ["adults", "de-adults", "not-de-adults"]
    de = {
        r["id"]
        for r in people(60)
        if r["country"] == "DE" and r["age"] is not None and r["age"] >= 18
    }
    assert env.members("de-adults") == de
    assert env.members("not-de-adults") == {r["id"] for r in people(60)} - de
    with pytest.raises(RuleError, match="cycle: adults -> not-de-adults -> de-adults -> adults"):
        env.store.update("adults", rule={"segment": "not-de-adults"})
    with pytest.raises(RuleError, match="unknown segment"):
        env.store.create({"id": "x", "rule": {"segment": "nope"}})
    with pytest.raises(StoreError, match="referenced by"):
        env.store.delete("adults")


def test_dependency_order_and_cycles() -> None:
    graph = {"a": ["b", "c"], "b": ["c"], "c": [], "d": ["a"]}
    assert dependency_order(["d", "a"], graph) == ["a", "d"]
    assert dependency_order(["d"], graph, closure=True) == ["c", "b", "a", "d"]
    with pytest.raises(RuleError, match="a -> b -> a"):
        dependency_order(["a"], {"a": ["b"], "b": ["a"]})


# --------------------------------------------------------------------------- due policy
def test_due_segments_policy(env: Env) -> None:
    env.put(people(20))
    env.store.create({"id": "adults", "rule": ADULTS})
    env.store.create({"id": "recent", "rule": {"field": "age", "operator": "gte", "value": 30}})
    env.store.create({"id": "ref", "rule": {"segment": "adults"}})
    env.store.create({"id": "s", "type": "static", "include": [1]})
    assert env.store.due(NOW) == ["adults", "recent", "ref"]  # never calculated
    env.store.recalculate_many(now=NOW)
    assert env.store.due(NOW) == []
    assert env.store.due(NOW + dt.timedelta(hours=2), every=dt.timedelta(hours=1)) == [
        "adults",
        "recent",
        "ref",
    ]
    env.store.update("recent", rule={"field": "age", "operator": "gte", "value": 31})
    assert env.store.due(NOW) == ["recent"]  # rule changed
    env.store.recalculate("recent", NOW)
    env.put(people(25, shift=5))
    env.store.recalculate("adults", NOW)  # membership changed -> its dependant is due
    assert env.store.due(NOW) == ["ref"]
    env.store.recalculate("ref", NOW)
    assert env.store.due(NOW) == []


def test_relative_time_rules_are_due_after_relative_every(engine: sa.Engine) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    tables = make_tables(prefix)
    contacts = sa.Table(
        f"{prefix}contacts",
        tables.metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("seen_at", sa.DateTime),
    )
    tables.metadata.create_all(engine)
    try:
        store = Store(engine, Schema.from_table(contacts), tables)
        with engine.begin() as conn:
            conn.execute(
                contacts.insert(),
                [
                    {"id": 1, "seen_at": dt.datetime(2026, 2, 28)},
                    {"id": 2, "seen_at": dt.datetime(2026, 2, 1)},
                ],
            )
        store.create(
            {
                "id": "recent",
                "rule": {
                    "field": "seen_at",
                    "operator": "in_last",
                    "value": {"amount": 7, "unit": "days"},
                },
            }
        )
        store.create(
            {"id": "old", "rule": {"field": "seen_at", "operator": "before", "value": "2026-02-15"}}
        )
        store.recalculate_many(now=NOW)
        assert set(store.iter_members("recent")) == {1} and set(store.iter_members("old")) == {2}
        later = NOW + dt.timedelta(days=10)
        assert store.due(later, relative_every=dt.timedelta(hours=1)) == ["recent"]
        assert store.due(NOW + dt.timedelta(minutes=5), relative_every=dt.timedelta(hours=1)) == []
        store.recalculate("recent", later)
        assert set(store.iter_members("recent")) == set()  # 1 fell out of the window
    finally:
        tables.metadata.drop_all(engine)


# --------------------------------------------------------------------------- reading
def test_keyset_pages_counts_and_exports(env: Env) -> None:
    env.put(people(50))
    env.store.create({"id": "adults", "rule": ADULTS})
    env.store.recalculate("adults", NOW)
    want = sorted(env.expected("adults"))
    pages, after = [], None
    while True:
        page = env.store.members("adults", after=after, limit=7)
        pages.append(page)
        if len(page) < 7:
            break
        after = page[-1]
    assert [k for p in pages for k in p] == want and all(len(p) <= 7 for p in pages)
    buf = io.StringIO()
    assert env.store.export_csv("adults", buf, yield_per=5) == len(want)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert [int(r["key"]) for r in rows] == want
    assert all(dt.datetime.fromisoformat(r["since"]).tzinfo is not None for r in rows)
    buf = io.StringIO()
    assert env.store.export_jsonl("adults", buf, yield_per=5) == len(want)
    assert [json.loads(line)["key"] for line in buf.getvalue().splitlines()] == want


def test_string_keys(engine: sa.Engine) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    tables = make_tables(prefix, sa.String(64))
    contacts = sa.Table(
        f"{prefix}contacts",
        tables.metadata,
        sa.Column("email", sa.String(64), primary_key=True),
        sa.Column("age", sa.Integer),
    )
    tables.metadata.create_all(engine)
    try:
        store = Store(engine, Schema.from_table(contacts), tables)
        with engine.begin() as conn:
            conn.execute(
                contacts.insert(), [{"email": f"u{i}@x.org", "age": i * 3} for i in range(20)]
            )
        store.create({"id": "adults", "type": "hybrid", "rule": ADULTS, "include": ["vip@x.org"]})
        run = store.recalculate("adults", NOW)
        want = {f"u{i}@x.org" for i in range(20) if i * 3 >= 18} | {"vip@x.org"}
        assert set(store.iter_members("adults", page=4)) == want and run.member_count == len(want)
        buf = io.StringIO()
        store.export_jsonl("adults", buf)
        assert {json.loads(x)["key"] for x in buf.getvalue().splitlines()} == want
    finally:
        tables.metadata.drop_all(engine)


# --------------------------------------------------------------------------- events
def test_definition_events_and_delivery(env: Env) -> None:
    env.store.create({"id": "s", "name": "S", "type": "static", "include": [1, 2]})
    env.store.update("s", name="S2")
    env.store.archive("s")
    env.store.create({"id": "gone", "type": "static"})
    env.store.delete("gone")
    seen: list[Any] = []
    assert env.store.deliver(seen.append, batch=2) == 7
    assert [e.type for e in seen] == [
        "segment.created",
        "members.added",
        "segment.updated",
        "segment.updated",
        "segment.archived",
        "segment.created",
        "segment.deleted",
    ]
    assert [e.id for e in seen] == sorted(e.id for e in seen)
    assert [e.segment_id for e in seen] == ["s"] * 5 + ["gone"] * 2
    assert seen[1].keys == (1, 2) and seen[1].reason == "manual"
    assert seen[2].changes == {"name": "S2"} and seen[3].changes == {"status": "archived"}
    assert seen[0].segment["name"] == "S"
    assert env.store.deliver(seen.append) == 0 and pending(env.engine, env.tables) == []


def test_delivery_is_at_least_once_when_the_publisher_fails(env: Env) -> None:
    env.store.create({"id": "s", "type": "static", "include": [1]})
    env.store.update("s", name="n")
    calls: list[str] = []

    def flaky(event: Any) -> None:
        calls.append(event.type)
        if event.type == "segment.updated" and calls.count("segment.updated") == 1:
            raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        env.store.deliver(flaky)
    assert [e.type for e in pending(env.engine, env.tables)] == ["segment.updated"]
    assert env.store.deliver(flaky) == 1
    assert calls == ["segment.created", "members.added", "segment.updated", "segment.updated"]


def test_concurrent_deliverers_hand_out_each_event_once(env: Env) -> None:
    env.store.create({"id": "s", "type": "static"})
    for i in range(40):
        env.store.add_members("s", [i])
    seen: list[int] = []
    lock = threading.Lock()

    def publish(event: Any) -> None:
        with lock:
            seen.append(event.id)

    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        env.store.deliver(publish, batch=5)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(seen) == 41 and len(set(seen)) == 41


# --------------------------------------------------------------------------- law
def test_recalculating_twice_changes_nothing_law(engine: sa.Engine) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    eng = engine
    prefix = f"law{uuid.uuid4().hex[:6]}_"
    tables = make_tables(prefix)
    contacts = sa.Table(
        f"{prefix}contacts",
        tables.metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("age", sa.Integer),
        sa.Column("country", sa.String(2)),
    )
    tables.metadata.create_all(eng)
    schema = Schema.from_table(contacts)
    store = Store(eng, schema, tables)
    env = Env(eng, tables, contacts, schema, store)
    rows = st.lists(
        st.fixed_dictionaries(
            {
                "id": st.integers(1, 60),
                "age": st.none() | st.integers(0, 40),
                "country": st.sampled_from(["DE", "AT", None]),
            }
        ),
        max_size=25,
        unique_by=lambda r: r["id"],
    )
    rules = st.sampled_from(
        [
            ADULTS,
            {"field": "country", "operator": "neq", "value": "DE"},
            {"combinator": "or", "rules": [ADULTS, {"field": "country", "operator": "is_null"}]},
        ]
    )
    counter = iter(range(10_000))

    @settings(max_examples=25, deadline=None)
    @given(
        rows,
        rows,
        rules,
        st.sampled_from(["dynamic", "hybrid"]),
        st.lists(st.integers(1, 60), max_size=4),
        st.lists(st.integers(1, 60), max_size=4),
    )
    def law(first: Any, second: Any, rule: Any, stype: str, inc: Any, exc: Any) -> None:
        sid = f"s{next(counter)}"
        extra = {"include": inc, "exclude": exc} if stype == "hybrid" else {}
        env.put(first)
        store.create({"id": sid, "type": stype, "rule": rule, **extra})
        store.recalculate(sid, NOW)
        env.put(second)
        store.recalculate(sid, NOW)
        snap = env.snapshot()[:3]
        run = store.recalculate(sid, NOW)
        assert (run.added, run.removed) == (0, 0)
        after = env.snapshot()[:3]
        assert after[0] == snap[0] and after[1] == snap[1]
        assert env.members(sid) == env.expected(sid)

    try:
        law()
    finally:
        tables.metadata.drop_all(eng)


# --------------------------------------------------------------------------- small pieces
def test_type_change_to_dynamic_drops_overrides(env: Env) -> None:
    env.put(people(30))
    env.store.create(
        {"id": "h", "type": "hybrid", "rule": ADULTS, "include": [999], "exclude": [1]}
    )
    env.store.recalculate("h", NOW)
    env.store.update("h", type="dynamic")
    seg = env.store.get("h", overrides=True)
    assert (seg.type, seg.include, seg.exclude) == ("dynamic", [], [])
    env.store.recalculate("h", NOW)
    assert env.members("h") == env.expected("h") and 999 not in env.members("h")
    with pytest.raises(StoreError, match="cannot update"):
        env.store.update("h", include=[1])


def test_relative_time_detection() -> None:
    from segmentkit.store import uses_relative_time

    schema = Schema.from_table(
        sa.Table(
            "c",
            sa.MetaData(),
            sa.Column("id", sa.BigInteger, primary_key=True),
            sa.Column("seen", sa.DateTime),
            sa.Column("age", sa.Integer),
        )
    )
    assert uses_relative_time(
        {"field": "seen", "operator": "in_last", "value": {"amount": 5, "unit": "minutes"}}, schema
    )
    assert not uses_relative_time(
        {"field": "seen", "operator": "before", "value": "2026-01-01"}, schema
    )
    assert not uses_relative_time(ADULTS | {"field": "age"}, schema)
    assert not uses_relative_time(None, schema)


def test_events_round_trip_and_delivery_limit(env: Env) -> None:
    from segmentkit.store import event_from_dict

    env.store.create({"id": "s", "type": "static", "include": [1, 2, 3, 4, 5, 6, 7]})
    events = pending(env.engine, env.tables)
    assert [e.type for e in events] == ["segment.created"] + ["members.added"] * 3  # batch_size 3
    assert [e.batch for e in events[1:]] == [0, 1, 2] and {e.batches for e in events[1:]} == {3}
    for e in events:
        assert event_from_dict(json.loads(json.dumps(e.to_dict()))) == e
    seen: list[Any] = []
    assert env.store.deliver(seen.append, limit=2) == 2
    assert [e.id for e in pending(env.engine, env.tables)] == [e.id for e in events[2:]]


def test_sqlite_engine_that_begins_its_own_transactions(tmp_path: Any) -> None:
    """SQLAlchemy's recipe for SQLite (driver autocommit + an explicit BEGIN on the
    ``begin`` event) leaves no room for BEGIN IMMEDIATE: the store then takes the
    write lock with its first statement, and concurrent writers still queue."""
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'recipe.db'}")

    @sa.event.listens_for(eng, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(eng, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    prefix = "recipe_"
    tables = make_tables(prefix)
    contacts = sa.Table(
        f"{prefix}contacts",
        tables.metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("age", sa.Integer),
        sa.Column("country", sa.String(2)),
    )
    tables.metadata.create_all(eng)
    store = Store(eng, Schema.from_table(contacts), tables)
    env = Env(eng, tables, contacts, store.schema, store)
    env.put(people(60))
    store.create({"id": "h", "type": "hybrid", "rule": ADULTS})
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            if i == 2:
                store.add_members("h", [500, 501])
            else:
                store.recalculate("h", NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert env.members("h") == env.expected("h")
    assert history_replay(env, "h") == env.members("h")
    eng.dispose()
