"""Event conditions: counted per contact within a window, filtered by event properties."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

import segmentkit as sk

NOW = dt.datetime(2024, 1, 31, 12, 0, tzinfo=dt.UTC)
SOURCE = sk.EventSource(
    "events",
    "contact_id",
    "name",
    "occurred_at",
    fields=[sk.Field("amount", "decimal"), sk.Field("sku", "string")],
)
SCHEMA = sk.Schema([sk.Field("id", "integer")], events=SOURCE)


def purchase(days_ago: float, amount: str = "20", sku: str = "A") -> dict[str, object]:
    return {
        "name": "purchase",
        "occurred_at": NOW - dt.timedelta(days=days_ago),
        "amount": Decimal(amount),
        "sku": sku,
    }


EVENTS = {
    1: [purchase(1), purchase(2), purchase(29)],
    2: [purchase(1), purchase(2), purchase(31)],  # one outside 30 days
    3: [purchase(1, "5"), purchase(2, "5"), purchase(3, "5")],  # too small
    4: [{"name": "visit", "occurred_at": NOW, "amount": None, "sku": None}] * 5,
    5: [],
}
CONTACTS = [{"id": i} for i in range(1, 7)]  # 6 has no entry at all


def members(rule: dict[str, object]) -> list[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW, events=EVENTS)
    return [c["id"] for c in match.filter(CONTACTS)]  # type: ignore[misc]


BIG_BUYER = {
    "event": "purchase",
    "where": {
        "combinator": "and",
        "rules": [{"field": "amount", "operator": "gte", "value": "10"}],
    },
    "count": {"operator": "gte", "value": 3},
    "in_last": {"amount": 30, "unit": "days"},
}


def test_count_window_and_filter() -> None:
    assert members(BIG_BUYER) == [1]


def test_negation_includes_contacts_without_events() -> None:
    assert members({"not": True, "rules": [BIG_BUYER]}) == [2, 3, 4, 5, 6]


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        ({"operator": "eq", "value": 0}, [4, 5, 6]),  # no events is a count of 0
        ({"operator": "lt", "value": 1}, [4, 5, 6]),
        ({"operator": "neq", "value": 3}, [4, 5, 6]),
        ({"operator": "gte", "value": 1}, [1, 2, 3]),
        ({"operator": "gt", "value": 2}, [1, 2, 3]),
        ({"operator": "lte", "value": 2}, [4, 5, 6]),
    ],
)
def test_count_operators(count: dict[str, object], expected: list[int]) -> None:
    assert members({"event": "purchase", "count": count}) == expected


def test_validation_of_where_and_missing_source() -> None:
    with pytest.raises(sk.RuleError) as info:
        sk.bind(
            {
                "event": "purchase",
                "where": {"rules": [{"field": "amout", "operator": "gt", "value": 1}]},
            },
            SCHEMA,
        )
    assert info.value.errors[0].path == "/where/rules/0/field"
    with pytest.raises(sk.RuleError, match="event source"):
        sk.bind({"event": "purchase"}, sk.Schema([sk.Field("id", "integer")]))
    with pytest.raises(sk.UnsupportedError, match="events="):
        sk.compile_python({"event": "purchase"}, SCHEMA)
