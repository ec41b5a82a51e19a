"""One shape per rule structure: segment ids, event names, windows and counts from 2 up
are parameters of the shape, so every backend's compile cache serves a moving ``now``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import segmentkit as sk
from segmentkit import primitives as p
from segmentkit.bind import bind
from segmentkit.compile import python as py

NOW = dt.datetime(2024, 3, 31, 12, 0, tzinfo=dt.UTC)
EVENTS = sk.EventSource(
    "events", "contact_id", "name", "at", fields=(sk.Field("amount", sk.FieldType.DECIMAL),)
)
SCHEMA = sk.Schema([sk.Field("country", sk.FieldType.STRING)], key="id", events=EVENTS)


def rule(name: str, count: int, days: int, segment: str) -> dict[str, object]:
    return {
        "combinator": "or",
        "rules": [
            {
                "event": name,
                "count": {"operator": "gte", "value": count},
                "in_last": {"amount": days, "unit": "days"},
                "where": {"rules": [{"field": "amount", "operator": "gt", "value": "5"}]},
            },
            {"segment": segment},
        ],
    }


def test_reference_values_are_slots_and_unshape_inverts_shape() -> None:
    bound = bind(rule("purchase", 3, 30, "vip"), SCHEMA, now=NOW, segments={"vip": ()})
    tree, params = bound.shaped()
    assert "purchase" in params and "vip" in params and 3 in params
    assert NOW in params and NOW - dt.timedelta(days=30) in params
    assert p.unshape(tree, params) == bound.predicate
    other = bind(
        rule("visit", 7, 2, "gold"), SCHEMA, now=NOW + dt.timedelta(hours=1), segments={"gold": ()}
    )
    assert other.shaped()[0] == tree


def test_counts_that_pick_the_sql_form_stay_in_the_shape() -> None:
    shapes = {
        bind(rule("a", n, 30, "vip"), SCHEMA, now=NOW, segments={"vip": ()}).shaped()[0]
        for n in (0, 1, 2, 9)
    }
    assert len(shapes) == 3  # 0, 1, and one shape for every count from 2


def test_python_evaluator_cache_serves_a_moving_now() -> None:
    events = {
        1: [{"name": "purchase", "at": NOW - dt.timedelta(days=1), "amount": Decimal("9")}] * 3
    }
    segments = {"vip": set()}
    first = sk.compile_python(
        rule("purchase", 3, 30, "vip"), SCHEMA, NOW, segments=segments, events=events
    )
    size = len(py._cache)
    later = sk.compile_python(
        rule("purchase", 3, 30, "vip"),
        SCHEMA,
        NOW + dt.timedelta(days=20),
        segments=segments,
        events=events,
    )
    assert len(py._cache) == size and later.source == first.source
    assert first({"id": 1}) and later({"id": 1})
    gone = sk.compile_python(
        rule("purchase", 3, 30, "vip"),
        SCHEMA,
        NOW + dt.timedelta(days=31),
        segments=segments,
        events=events,
    )
    assert not gone({"id": 1})


def test_sql_cache_serves_a_moving_now() -> None:
    from segmentkit.compile import sql

    sql.clear_cache()
    segments = sk.SegmentTable("members")
    a = sk.to_sql(rule("purchase", 3, 30, "vip"), SCHEMA, "postgres", NOW, segments=segments)
    b = sk.to_sql(
        rule("visit", 5, 7, "gold"),
        SCHEMA,
        "postgres",
        NOW + dt.timedelta(days=1),
        segments=segments,
    )
    assert a.text == b.text and a.params != b.params and sql.cache_size() == 1
