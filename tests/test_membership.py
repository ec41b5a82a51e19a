"""Segment semantics over member sets, ``diff`` on every path, and in-memory members."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from segmentkit.compile.dialects import SegmentTable
from segmentkit.errors import ReadOnlyError, StoreError
from segmentkit.membership import (
    Diff,
    check_recalculable,
    check_writable,
    diff,
    effective,
    members,
)
from segmentkit.model import Segment
from segmentkit.schema import Schema

np = pytest.importorskip("numpy")

NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ADULTS = {"field": "age", "operator": "gte", "value": 18}


# --------------------------------------------------------------------------- diff
def _reference(old: Any, new: Any) -> tuple[set[Any], set[Any], int]:
    o, n = set(old), set(new)
    return n - o, o - n, len(n & o)


def _check(d: Diff, old: Any, new: Any) -> None:
    added, removed, unchanged = _reference(old, new)
    assert d.added == added
    assert d.removed == removed
    assert d.unchanged == unchanged
    assert bool(d) == bool(added or removed)


@given(st.lists(st.integers(-50, 50)), st.lists(st.integers(-50, 50)))
def test_diff_of_python_collections(old: list[int], new: list[int]) -> None:
    _check(diff(old, new), old, new)
    _check(diff(set(old), frozenset(new)), old, new)


@given(st.lists(st.text(max_size=3)), st.lists(st.text(max_size=3)))
def test_diff_of_any_hashable_keys(old: list[str], new: list[str]) -> None:
    _check(diff(iter(old), iter(new)), old, new)


ints = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40)
dense = st.lists(st.integers(0, 200), max_size=80)


@given(st.one_of(ints, dense), st.one_of(ints, dense))
def test_numpy_paths_agree_with_sets(old: list[int], new: list[int]) -> None:
    # int64 edges (sparse path), small ranges with duplicates (dense path), empty sides
    a, b = np.array(old, dtype=np.int64), np.array(new, dtype=np.int64)
    _check(diff(a, b), old, new)
    _check(diff(np.sort(a), np.sort(b)), old, new)
    _check(diff(a, set(new)), old, new)
    _check(diff(list(old), b), old, new)


def test_numpy_path_keeps_arrays_and_types() -> None:
    d = diff(np.arange(10), np.arange(5, 15))
    assert d.added_array.tolist() == list(range(10, 15))
    assert d.removed_array.tolist() == list(range(5))
    assert d.unchanged == 5 and repr(d) == "Diff(added=5, removed=5, unchanged=5)"
    assert all(type(k) is int for k in d.added)
    u = diff(np.array([1, 2], dtype=np.uint64), np.array([2, 2**64 - 1], dtype=np.uint64))
    assert (u.added, u.removed, u.unchanged) == ({2**64 - 1}, {1}, 1)
    mixed = diff(np.array([-1, 5], dtype=np.int64), np.array([5, 2**64 - 1], dtype=np.uint64))
    assert (mixed.added, mixed.removed, mixed.unchanged) == ({2**64 - 1}, {-1}, 1)
    small = diff(np.array([-100, 100], dtype=np.int8), np.array([100, 50], dtype=np.int8))
    assert (small.added, small.removed, small.unchanged) == ({50}, {-100}, 1)
    strings = diff(np.array([1, 2]), ["a", 2])
    assert (strings.added, strings.removed) == ({"a"}, {1})


def test_diff_equality() -> None:
    assert diff([1, 2], [2, 3]) == diff(np.array([1, 2]), np.array([2, 3]))
    assert diff([1], [1]) != diff([1], [2])


# --------------------------------------------------------------------------- semantics
def test_effective_membership_per_type() -> None:
    matches = {1, 2, 3}
    assert effective("dynamic", matches, [9], [1]) == {1, 2, 3}
    assert effective("static", matches, [9, 8], [8]) == {9}
    assert effective("hybrid", matches, [9, 3], [1, 3]) == {2, 9}  # exclude wins
    with pytest.raises(ValueError, match="segment type"):
        effective("weird", matches)


@given(st.sets(st.integers(0, 20)), st.sets(st.integers(0, 20)), st.sets(st.integers(0, 20)))
def test_hybrid_laws(matches: set[int], include: set[int], exclude: set[int]) -> None:
    got = effective("hybrid", matches, include, exclude)
    assert not got & exclude  # a manual exclude always wins
    assert include - exclude <= got  # a manual include survives whatever the rule says
    assert got == (matches | include) - exclude


def test_status_rules() -> None:
    check_recalculable(Segment(id="a"))
    with pytest.raises(StoreError, match="inactive"):
        check_recalculable(Segment(id="a", status="inactive"))
    with pytest.raises(ReadOnlyError):
        check_recalculable(Segment(id="a", status="archived"))
    with pytest.raises(ReadOnlyError):
        check_writable(Segment(id="a", status="archived"))
    check_writable(Segment(id="a", status="inactive"))


# --------------------------------------------------------------------------- members
RECORDS = [
    {"id": 1, "age": 30, "country": "DE"},
    {"id": 2, "age": 10, "country": "DE"},
    {"id": 3, "age": None, "country": "AT"},
    {"id": 4, "age": 18, "country": None},
]


@pytest.fixture
def contacts(tmp_path: Any) -> Any:
    md = sa.MetaData()
    table = sa.Table(
        "contacts",
        md,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("age", sa.Integer),
        sa.Column("country", sa.String(2)),
    )
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    md.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), RECORDS)
    yield engine, Schema.from_table(table)
    engine.dispose()


@pytest.mark.parametrize(
    ("segment", "want"),
    [
        (Segment(id="a", rule=ADULTS), {1, 4}),
        (Segment(id="a", type="static", include=[2, 9], exclude=[9]), {2}),
        (Segment(id="a", type="hybrid", rule=ADULTS, include=[3], exclude=[4]), {1, 3}),
        (Segment(id="a", type="hybrid", rule=None, include=[3]), {3}),
    ],
)
def test_members_over_records_and_over_a_connection(
    contacts: Any, segment: Segment, want: set[int]
) -> None:
    engine, schema = contacts
    assert members(segment, RECORDS, schema, NOW) == want
    with engine.connect() as conn:
        assert members(segment, conn, schema, NOW) == want


def test_members_resolve_segment_references(contacts: Any) -> None:
    engine, schema = contacts
    seg = Segment(
        id="b",
        rule={
            "combinator": "and",
            "rules": [{"segment": "adults"}, {"field": "country", "operator": "eq", "value": "DE"}],
        },
    )
    assert members(seg, RECORDS, schema, NOW, segments={"adults": {1, 4}}) == {1}
    memberships = SegmentTable("memberships", "segment_id", "contact_id")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TEMP TABLE memberships (segment_id TEXT, contact_id BIGINT)")
        conn.exec_driver_sql(
            "INSERT INTO memberships VALUES ('adults', 1), ('adults', 4), ('other', 2)"
        )
        got = members(seg, conn, schema, NOW, segments=memberships)
    assert got == {1}
