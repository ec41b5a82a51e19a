"""The store's API without surprises: unknown segments, argument checks, ids, rule
forms, type changes, progress and logging, identifiers — on SQLite, PostgreSQL and
MariaDB (fixtures from ``test_store``)."""

from __future__ import annotations

import datetime as dt
import io
import logging
import pydoc
import types
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segmentkit as sk
from segmentkit.errors import (
    NotFoundError,
    ReadOnlyError,
    RuleError,
    StoreError,
    StoreInputError,
)
from segmentkit.schema import Schema
from segmentkit.store import Progress, Store, make_tables, recalculate

from .test_store import ADULTS, NOW, Env, engine, env, people

__all__ = ["engine", "env"]  # fixtures used here


# --------------------------------------------------------------------------- ids
def test_ids_differing_in_case_or_trailing_space_are_distinct(env: Env) -> None:
    env.put(people(20))
    env.store.create({"id": "vip", "type": "static", "include": [1]})
    env.store.create({"id": "VIP", "type": "static", "include": [2, 3]})
    env.store.create({"id": "vip ", "type": "static", "include": [4]})
    assert env.members("vip") == {1}
    assert env.members("VIP") == {2, 3}
    assert env.members("vip ") == {4}
    with pytest.raises(StoreError, match="already exists"):
        env.store.create({"id": "vip", "type": "static"})
    # code point order: upper case before lower case, "vip" before "vip "
    assert [s.id for s in env.store.segments()] == ["VIP", "vip", "vip "]
    env.store.delete("VIP")
    with pytest.raises(NotFoundError):
        env.store.get("VIP")
    assert env.store.count("vip") == 1


def test_table_prefix_with_quote_characters(engine: sa.Engine) -> None:
    """A prefix with a backtick, a double quote and ``%`` reaches SQL only quoted."""
    prefix = f'q`"%{uuid.uuid4().hex[:6]}_'
    tables = make_tables(prefix)
    contacts = sa.Table(
        f"{prefix}contacts",
        tables.metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("age", sa.Integer),
        sa.Column("country", sa.String(2)),
    )
    tables.metadata.create_all(engine)
    try:
        store = Store(engine, Schema.from_table(contacts), tables, batch_size=2)
        with engine.begin() as conn:
            conn.execute(contacts.insert(), people(30))
        store.create({"id": "h", "type": "hybrid", "rule": ADULTS, "include": [100]})
        store.remove_members("h", [3])
        run = store.recalculate("h", NOW)
        want = {r["id"] for r in people(30) if r["age"] is not None and r["age"] >= 18}
        assert set(store.iter_members("h")) == (want | {100}) - {3}
        with engine.begin() as conn:
            conn.execute(contacts.update().values(age=contacts.c.age + 7))
        again = store.recalculate("h", NOW)
        assert again.added + again.removed > 0 and run.status == "succeeded"
        assert store.count("h") == store.count("h", exact=True)
    finally:
        tables.metadata.drop_all(engine)


# --------------------------------------------------------------------------- not found
def _not_found_calls(store: Store) -> list[tuple[str, Callable[[], Any]]]:
    sid = "nosuch"
    return [
        ("get", lambda: store.get(sid)),
        ("count", lambda: store.count(sid)),
        ("count exact", lambda: store.count(sid, exact=True)),
        ("members", lambda: store.members(sid)),
        ("iter_members", lambda: store.iter_members(sid)),
        ("history", lambda: store.history(sid)),
        ("is_member", lambda: store.is_member(sid, 1)),
        ("runs", lambda: store.runs(sid)),
        ("recalculate", lambda: store.recalculate(sid, NOW)),
        ("recalculate_many", lambda: store.recalculate_many([sid], NOW)),
        ("update", lambda: store.update(sid, name="x")),
        ("archive", lambda: store.archive(sid)),
        ("delete", lambda: store.delete(sid)),
        ("add_members", lambda: store.add_members(sid, [1])),
        ("remove_members", lambda: store.remove_members(sid, [1])),
        ("clear_overrides", lambda: store.clear_overrides(sid, [1])),
        ("export_csv", lambda: store.export_csv(sid, io.StringIO())),
        ("export_jsonl", lambda: store.export_jsonl(sid, io.StringIO())),
        ("check_recalculable", lambda: store.check_recalculable(sid)),
    ]


def test_unknown_segments_raise_not_found_everywhere(env: Env) -> None:
    for name, call in _not_found_calls(env.store):
        with pytest.raises(NotFoundError, match="no segment 'nosuch'") as info:
            call()
        assert isinstance(info.value, StoreError) and isinstance(info.value, LookupError), name
        assert info.value.segment_id == "nosuch", name
    assert env.store.history(key=1) == []  # a contact's history needs no segment


# --------------------------------------------------------------------------- inputs
def _bad_calls(store: Store) -> list[tuple[str, Callable[[], Any]]]:
    return [
        ("int id", lambda: store.get(5)),  # type: ignore[arg-type]
        ("None id", lambda: store.count(None)),  # type: ignore[arg-type]
        ("NUL id", lambda: store.create({"id": "a\x00b"})),
        ("surrogate id", lambda: store.create({"id": "a\ud800"})),
        ("empty id", lambda: store.members("")),
        ("long id", lambda: store.members("x" * 201)),
        ("NUL name", lambda: store.create({"id": "n", "name": "a\x00"})),
        ("NUL in update", lambda: store.update("d", description="\x00")),
        ("str key", lambda: store.add_members("s", ["abc"])),
        ("huge key", lambda: store.add_members("s", [2**70])),
        ("None key", lambda: store.add_members("s", [None])),
        ("dict key", lambda: store.add_members("s", [{"a": 1}])),
        ("bool key", lambda: store.remove_members("s", [True])),
        ("float key", lambda: store.clear_overrides("s", [1.5])),
        ("keys a string", lambda: store.add_members("s", "123")),
        ("keys None", lambda: store.add_members("s", None)),  # type: ignore[arg-type]
        ("bad include", lambda: store.create({"id": "s2", "type": "static", "include": ["x"]})),
        ("is_member str", lambda: store.is_member("s", "abc")),
        ("history key", lambda: store.history("s", key=2**64)),
        ("after key", lambda: store.members("s", after="abc")),
        ("limit -1", lambda: store.members("s", limit=-1)),
        ("limit str", lambda: store.members("s", limit="10")),  # type: ignore[arg-type]
        ("limit bool", lambda: store.history("s", limit=True)),
        ("after_id -1", lambda: store.history("s", after_id=-1)),
        ("page 0", lambda: store.iter_members("s", page=0)),
        ("runs limit", lambda: store.runs("s", limit=-5)),
        ("yield_per 0", lambda: store.export_csv("s", io.StringIO(), yield_per=0)),
        ("type bogus", lambda: store.update("d", type="bogus")),
        ("status bogus", lambda: store.update("d", status="gone")),
        ("unknown field", lambda: store.update("d", colour="red")),
        ("segments status", lambda: store.segments(status="bogus")),
        ("now str", lambda: store.recalculate("d", now="2026-01-01")),  # type: ignore[arg-type]
        ("now naive", lambda: store.recalculate("d", now=dt.datetime(2026, 1, 1))),
        ("now date", lambda: store.recalculate_many(now=dt.date(2026, 1, 1))),  # type: ignore[arg-type]
        ("due now", lambda: store.due(now=5)),  # type: ignore[arg-type]
        ("due every", lambda: store.due(NOW, every=5)),  # type: ignore[arg-type]
        ("ids a string", lambda: store.recalculate_many("d", NOW)),
        ("progress", lambda: store.recalculate("d", NOW, progress=1)),  # type: ignore[arg-type]
        ("export progress", lambda: store.export_csv("s", io.StringIO(), progress="x")),  # type: ignore[arg-type]
        ("deliver batch", lambda: store.deliver(print, batch=0)),
        ("deliver publisher", lambda: store.deliver(None)),  # type: ignore[arg-type]
        ("segment a list", lambda: store.create([1, 2])),  # type: ignore[arg-type]
        ("work_mem", lambda: Store(store.engine, work_mem="lots")),
        ("batch_size", lambda: Store(store.engine, batch_size=0)),
        ("engine a URL", lambda: Store("sqlite://")),  # type: ignore[arg-type]
        ("schema a dict", lambda: Store(store.engine, {"id": "int"})),  # type: ignore[arg-type]
        ("tables a prefix", lambda: Store(store.engine, None, "sk_")),  # type: ignore[arg-type]
    ]


def test_malformed_arguments_are_refused_before_the_database(env: Env) -> None:
    env.put(people(10))
    env.store.create({"id": "d", "rule": ADULTS})
    env.store.create({"id": "s", "type": "static", "include": [1, 2]})
    before = env.snapshot()
    statements: list[str] = []

    def spy(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    for name, call in _bad_calls(env.store):
        statements.clear()
        sa.event.listen(env.engine, "before_cursor_execute", spy)
        try:
            with pytest.raises(StoreInputError) as info:
                call()
        finally:
            sa.event.remove(env.engine, "before_cursor_execute", spy)
        err = info.value
        assert isinstance(err, RuleError) and isinstance(err, StoreError), name
        assert err.errors and all(p.path.startswith("/") for p in err.errors), (name, err)
        assert "problem" in str(err) and "store input" in str(err), name
        # checked before any statement touched the database
        assert statements == [], (name, statements)
    assert env.snapshot() == before
    assert env.store.runs("d") == []


def test_key_errors_name_each_bad_key(env: Env) -> None:
    env.store.create({"id": "s", "type": "static"})
    with pytest.raises(StoreInputError) as info:
        env.store.add_members("s", [1, "two", 3, None, 2**63])
    assert [p.path for p in info.value.errors] == ["/keys/1", "/keys/3", "/keys/4"]
    assert "expected an integer contact key" in info.value.errors[0].message
    assert env.members("s") == set()
    assert env.store.add_members("s", [2**63 - 1, -(2**63)]) == 2


def test_string_keys_are_checked_against_the_column_length(engine: sa.Engine) -> None:
    tables = make_tables(f"t{uuid.uuid4().hex[:8]}_", sa.String(8))
    tables.metadata.create_all(engine)
    try:
        store = Store(engine, tables=tables)
        store.create({"id": "s", "type": "static", "include": ["a", "B", "12345678"]})
        for bad in (5, "123456789", "a\x00", None):
            with pytest.raises(StoreInputError):
                store.add_members("s", [bad])
        # text keys compare by code point on every engine: "A", "b" and "a " are new keys
        assert store.add_members("s", ["A", "b", "a ", "a"]) == 3
        # (pages come in the database's key order: its collation on PostgreSQL)
        assert sorted(store.members("s")) == ["12345678", "A", "B", "a", "a ", "b"]
        assert store.is_member("s", "a ") and not store.is_member("s", "c")
    finally:
        tables.metadata.drop_all(engine)


def test_require_contacts(env: Env) -> None:
    env.put(people(5))
    store = Store(env.engine, env.schema, env.tables, require_contacts=True)
    with pytest.raises(StoreInputError) as info:
        store.create({"id": "s", "type": "static", "include": [1, 99, 2, 77]})
    assert [p.path for p in info.value.errors] == ["/include/1", "/include/3"]
    assert "no contact with key 99" in str(info.value)
    store.create({"id": "s", "type": "static", "include": [1, 2]})
    with pytest.raises(StoreInputError, match="no contact with key 6"):
        store.add_members("s", [3, 6])
    assert env.members("s") == {1, 2}
    # per call: a lenient store can still ask, a strict one can waive it
    assert env.store.add_members("s", [6], require_contacts=False) == 1
    with pytest.raises(StoreInputError):
        env.store.add_members("s", [7], require_contacts=True)
    assert store.add_members("s", [8], require_contacts=False) == 1
    assert env.members("s") == {1, 2, 6, 8}
    with pytest.raises(StoreInputError, match="schema"):
        Store(env.engine, None, env.tables, require_contacts=True)


def _hostile() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**62, max_value=2**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=12),
        st.text(alphabet=st.sampled_from(["\x00", "a", "\ud800", "`", "%", "'", " "]), max_size=6),
        st.binary(max_size=4),
        st.dates(),
        st.datetimes(),
        st.lists(st.integers(), max_size=2),
        st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
        st.just(float("nan")),
        st.just("x" * 300),
    )


_ENTRY_POINTS: list[tuple[str, Callable[[Store, Any], Any]]] = [
    ("get", lambda s, v: s.get(v)),
    ("count", lambda s, v: s.count(v)),
    ("members", lambda s, v: s.members(v)),
    ("members after", lambda s, v: s.members("s", after=v)),
    ("members limit", lambda s, v: s.members("s", limit=v)),
    ("iter_members page", lambda s, v: list(s.iter_members("s", page=v))),
    ("is_member", lambda s, v: s.is_member("s", v)),
    ("history key", lambda s, v: s.history(key=v)),
    ("history after_id", lambda s, v: s.history("s", after_id=v)),
    ("runs", lambda s, v: s.runs(v)),
    ("add_members", lambda s, v: s.add_members("s", [v])),
    ("add_members iterable", lambda s, v: s.add_members("s", v)),
    ("remove_members", lambda s, v: s.remove_members("s", [v])),
    ("recalculate id", lambda s, v: s.recalculate(v, NOW)),
    ("recalculate now", lambda s, v: s.recalculate("d", v)),
    ("update name", lambda s, v: s.update("d", name=v)),
    ("update type", lambda s, v: s.update("d", type=v)),
    ("update rule", lambda s, v: s.update("d", rule=v)),
    ("create id", lambda s, v: s.create({"id": v, "type": "static"})),
    ("create", lambda s, v: s.create(v)),
    ("create rule", lambda s, v: s.create({"id": "new", "rule": v})),
    ("segments status", lambda s, v: s.segments(status=v)),
    ("export yield_per", lambda s, v: s.export_csv("s", io.StringIO(), yield_per=v)),
]


@pytest.fixture
def hostile_env(engine: sa.Engine) -> Iterator[Env]:
    # One set of tables for all examples (a fresh one per example would be slow).
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
    store = Store(engine, schema, tables)
    e = Env(engine, tables, contacts, schema, store)
    e.put(people(10))
    store.create({"id": "d", "rule": ADULTS})
    store.create({"id": "s", "type": "static", "include": [1, 2]})
    try:
        yield e
    finally:
        tables.metadata.drop_all(engine)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.sampled_from(_ENTRY_POINTS), _hostile())
def test_hostile_inputs_give_only_the_librarys_errors(
    hostile_env: Env, entry: tuple[str, Callable[[Store, Any], Any]], value: Any
) -> None:
    call = entry[1]
    store = hostile_env.store
    try:
        call(store, value)
    except sk.SegmentkitError:
        pass  # RuleError, StoreInputError, NotFoundError, StoreError: all fine
    # anything else (driver, SQLAlchemy, pydantic, TypeError ...) fails the test
    finally:
        # keep the fixture's segments as they were for the next example
        for sid in [s.id for s in store.segments()]:
            if sid not in ("d", "s"):
                store.delete(sid)
        seg = store.get("d", overrides=False)
        if seg.type != "dynamic" or seg.name or seg.rule is None:
            with hostile_env.engine.begin() as conn:
                t = hostile_env.tables
                conn.execute(t.members.delete().where(t.members.c.segment_id == "d"))
                conn.execute(t.segments.delete().where(t.segments.c.id == "d"))
            store.create({"id": "d", "rule": ADULTS})


# --------------------------------------------------------------------------- API
def test_generated_ids_and_rules_in_every_form(env: Env) -> None:
    env.put(people(30))
    want = {r["id"] for r in people(30) if r["age"] is not None and r["age"] >= 18}
    forms: list[Any] = [
        ADULTS,
        '{"field": "age", "operator": "gte", "value": 18}',
        "age >= 18",
        sk.parse(ADULTS),
        sk.parse_text("age >= 18"),
    ]
    ids = []
    for rule in forms:
        seg = env.store.create({"rule": rule, "name": "adults"})
        assert seg.id.startswith("seg_") and seg.rule is not None
        assert seg.rule.to_dict() == sk.parse(ADULTS).to_dict()
        env.store.recalculate(seg.id, NOW)
        assert env.members(seg.id) == want
        ids.append(seg.id)
    assert len(set(ids)) == len(forms)
    # JSON text of a whole segment, with the rule in the text form
    seg = env.store.create('{"id": "t", "rule": "age < 18"}')
    assert seg.rule is not None and seg.rule.to_dict()["operator"] == "lt"
    # update takes every form too
    for rule in ("age >= 30", {"field": "age", "operator": "gte", "value": 30}):
        env.store.update("t", rule=rule)
        env.store.recalculate("t", NOW)
        assert env.members("t") == {
            r["id"] for r in people(30) if r["age"] is not None and r["age"] >= 30
        }
    with pytest.raises(RuleError):
        env.store.create({"id": "bad", "rule": "age >>> 3"})
    with pytest.raises(RuleError):
        env.store.update("t", rule="nosuchfield = 1")


def test_get_shows_what_a_segment_holds(env: Env) -> None:
    env.store.create({"id": "s", "type": "static", "include": [3, 1, 2]})
    env.store.create({"id": "h", "type": "hybrid", "rule": ADULTS, "exclude": [5]})
    assert env.store.get("s").to_dict()["include"] == [1, 2, 3]
    assert env.store.get("h").to_dict()["exclude"] == [5]
    assert env.store.get("s", overrides=False).include == []
    # a freshly created or updated segment is returned the same way
    assert env.store.update("s", name="S").include == [1, 2, 3]


def test_changing_a_segments_type(env: Env) -> None:
    env.put(people(40))
    want = {r["id"] for r in people(40) if r["age"] is not None and r["age"] >= 18}
    env.store.create({"id": "d", "rule": ADULTS})
    env.store.recalculate("d", NOW)
    history = len(env.store.history("d", limit=10_000))
    # dynamic -> static: the rule goes, the current members are frozen as includes
    seg = env.store.update("d", type="static")
    assert seg.type == "static" and seg.rule is None and set(seg.include) == want
    assert env.members("d") == want and env.store.count("d") == len(want)
    assert len(env.store.history("d", limit=10_000)) == history  # nothing changed
    env.put(people(40, shift=5))
    assert env.store.recalculate("d", NOW).added == 0 and env.members("d") == want
    updated: list[Any] = [
        e for e in sk.store.pending(env.engine, env.tables) if e.type == "segment.updated"
    ]
    assert updated[-1].changes == {"type": "static", "rule": None}
    # static -> dynamic needs its rule back; the flags go, the rule decides
    env.store.update("d", type="dynamic", rule=ADULTS)
    assert env.store.get("d").include == []
    env.store.recalculate("d", NOW)
    assert env.members("d") == env.expected("d")
    # hybrid -> static: excludes go, current members (rule and includes) stay
    env.store.create({"id": "h", "type": "hybrid", "rule": ADULTS, "include": [999]})
    env.store.recalculate("h", NOW)
    env.store.remove_members("h", [min(env.members("h") - {999})])
    held = env.members("h")
    seg = env.store.update("h", type="static")
    assert set(seg.include) == held and seg.exclude == [] and env.members("h") == held
    with pytest.raises(StoreError, match="static segment has no rule"):
        env.store.update("h", rule=ADULTS)
    env.store.archive("h")
    with pytest.raises(ReadOnlyError):
        env.store.update("h", type="dynamic")


def test_recalculation_needs_only_the_store_parts(env: Env) -> None:
    """recalculate() takes any object with engine, tables, schema, batch_size and
    work_mem; it reaches into no private helper of Store."""
    env.put(people(20))
    env.store.create({"id": "d", "rule": ADULTS})
    parts = types.SimpleNamespace(
        engine=env.engine, tables=env.tables, schema=env.schema, batch_size=5, work_mem=None
    )
    run = recalculate(parts, "d", NOW)
    assert run.status == "succeeded" and env.members("d") == env.expected("d")
    import segmentkit.store.recalculate as module

    assert not hasattr(module, "Store")


def test_readable_signatures_and_top_level_store() -> None:
    assert sk.Store is Store
    assert issubclass(sk.NotFoundError, sk.StoreError)
    text = pydoc.render_doc(Store, renderer=pydoc.TextDoc())
    assert "Table(" not in text and "MetaData" not in text
    assert max(len(line) for line in text.splitlines()) < 300
    text = pydoc.render_doc(sk.store.create_all, renderer=pydoc.TextDoc())
    assert "Table(" not in text


# --------------------------------------------------------------------------- progress
def test_progress_callbacks_and_logging(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    env.put(people(30))
    env.store.create({"id": "a", "rule": ADULTS})
    env.store.create({"id": "b", "type": "hybrid", "rule": {"segment": "a"}})
    seen: list[Progress] = []
    with caplog.at_level(logging.DEBUG, logger="segmentkit.store"):
        runs = env.store.recalculate_many(now=NOW, progress=seen.append)
    steps = [(p.operation, p.segment_id, p.step) for p in seen]
    per_run = ["locked", "evaluated", "diffed", "applied", "done"]
    assert steps == [
        *(("recalculate", "a", s) for s in per_run),
        ("recalculate_many", "a", "segment"),
        *(("recalculate", "b", s) for s in per_run),
        ("recalculate_many", "b", "segment"),
    ]
    assert [p.done for p in seen if p.operation == "recalculate"] == [1, 2, 3, 4, 5] * 2
    assert all(p.total == 5 for p in seen if p.operation == "recalculate")
    assert [p.done for p in seen if p.operation == "recalculate_many"] == [1, 2]
    assert all(p.elapsed >= 0 for p in seen)
    messages = [r.getMessage() for r in caplog.records if r.name == "segmentkit.store"]
    assert any(
        m.startswith(f"recalculate a: run {runs[0].id} added {runs[0].added}") for m in messages
    )
    assert any("start" in m for m in messages) and any("diffed" in m for m in messages)

    exported: list[Progress] = []
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="segmentkit.store"):
        n = env.store.export_jsonl("a", io.StringIO(), yield_per=4, progress=exported.append)
    assert [p.done for p in exported] == [*range(4, n + 1, 4), n]
    assert exported[-1].step == "done" and {p.total for p in exported} == {n}
    assert any(f"{n} rows" in r.getMessage() for r in caplog.records)

    # a callback that raises cancels: the run rolls back and is recorded as failed
    def cancel(p: Progress) -> None:
        if p.step == "applied":
            raise RuntimeError("cancelled")

    env.put(people(30, shift=4))
    before = env.snapshot()
    with pytest.raises(RuntimeError, match="cancelled"):
        env.store.recalculate("a", NOW, progress=cancel)
    assert env.snapshot() == before
    assert env.store.runs("a")[0].status == "failed"


def test_no_log_output_unless_configured(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = (
        "import datetime as dt, sqlalchemy as sa\n"
        "from segmentkit.store import Store\n"
        f"e = sa.create_engine('sqlite:///{tmp_path / 'x.db'}')\n"
        "s = Store(e); s.create_all()\n"
        "s.create({'id': 's', 'type': 'static', 'include': [1]})\n"
        "s.recalculate('s', dt.datetime(2026, 1, 1, tzinfo=dt.UTC))\n"
        "def boom(p): raise RuntimeError('x')\n"
        "try:\n"
        "    s.recalculate('s', dt.datetime(2026, 1, 1, tzinfo=dt.UTC), progress=boom)\n"
        "except RuntimeError: pass\n"
        "assert s.runs('s')[0].status == 'failed'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "" and out.stderr == ""


# --------------------------------------------------------------------------- plans
def test_recalculation_plans_probe_indexes(env: Env) -> None:
    """Every statement that finds or applies the changes is a scan of one side with
    index probes into the other (no per-row scans, no dependent subqueries): the
    plans that made recalculation quadratic on SQLite and MariaDB stay gone."""
    env.put(people(300))
    env.store.create({"id": "h", "type": "hybrid", "rule": ADULTS, "include": [1000]})
    env.store.remove_members("h", [5])
    env.store.recalculate("h", NOW)
    env.put(people(300, shift=9))
    t = env.tables
    plans: list[tuple[str, list[str]]] = []
    dialect = env.engine.dialect.name
    stage = f"{t.prefix}recalc_stage"

    def spy(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        head = statement.lstrip().split("(")[0]
        watched = (
            "recalc_stage" in statement
            or head.startswith(f"DELETE FROM {t.members.name}")
            or head.startswith(f"INSERT INTO {t.members.name}")
            or statement.lstrip().startswith("WITH")
        )
        if not watched or head.startswith(("CREATE", "DROP", f"INSERT INTO {stage}")):
            return  # (the stage's INSERT is the rule's own SELECT: the compiler's plan)
        if dialect == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, params)
            rows = [str(r[3]) for r in cursor.fetchall()]
        elif dialect == "postgresql":
            cursor.execute("EXPLAIN " + statement, params)
            rows = [str(r[0]) for r in cursor.fetchall()]
        else:
            cursor.execute("EXPLAIN " + statement, params)
            rows = [" | ".join(map(str, r)) for r in cursor.fetchall()]
        plans.append((" ".join(statement.split())[:80], rows))

    sa.event.listen(env.engine, "before_cursor_execute", spy)
    try:
        run = env.store.recalculate("h", NOW)
    finally:
        sa.event.remove(env.engine, "before_cursor_execute", spy)
    assert run.added and run.removed and env.members("h") == env.expected("h")
    assert len(plans) >= (1 if dialect == "postgresql" else 4), plans
    for statement, rows in plans:
        text = "\n".join(rows)
        if dialect == "sqlite":
            # one driving scan at most; every other table is searched by its key
            scans = [r for r in rows if r.startswith("SCAN")]
            assert len(scans) <= 1 and "MATERIALIZE" not in text, (statement, rows)
            assert "LEFT-JOIN" not in text or all("USING" in r for r in rows if "LEFT-JOIN" in r), (
                statement,
                rows,
            )
        elif dialect == "postgresql":
            assert "SubPlan" not in text, (statement, rows)
            assert "Hash Full Join" in text or "Merge Full Join" in text, (statement, rows)
        else:
            assert "DEPENDENT SUBQUERY" not in text, (statement, rows)
            for r in rows[1:]:
                access = r.split(" | ")[3]
                assert access in ("eq_ref", "ref", "const", "index", "range"), (statement, r)
