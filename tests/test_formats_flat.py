"""Flat rule rows (the classic SegmentRule table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

import segmentkit as sk
from segmentkit.formats import from_rows, to_rows

from .core_fixtures import NOW, RECORDS, SCHEMA


def members(rule: Any) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    return {r["id"] for r in match.filter(RECORDS)}


def row(
    field: str, operator: str, value: Any, join: str | None, order: int | None = None
) -> dict[str, Any]:
    out = {"field": field, "operator": operator, "value": value, "logical_operator": join}
    if order is not None:
        out["order"] = order
    return out


def test_and_binds_tighter_than_or() -> None:
    rows = [
        row("country", "eq", "DE", None),
        row("vip", "eq", True, "AND"),
        row("age", "gt", 60, "OR"),
        row("vip", "is_true", None, "AND"),
    ]
    rule = from_rows(rows, SCHEMA)
    assert str(rule) == "(country = 'DE' and vip = true) or (age > 60 and vip is true)"
    assert members(rule) == {1, 4}
    assert to_rows(rule) == [
        {**r, "logical_operator": r["logical_operator"] or "AND", "order": i}
        for i, r in enumerate(rows)
    ]


def test_order_column_and_orm_objects() -> None:
    @dataclass
    class SegmentRule:  # an ORM row stand-in: attributes, extra columns
        id: int
        segment_id: int
        field: str
        operator: str
        value: Any
        logical_operator: str
        order: int

    rows = [
        SegmentRule(1, 7, "age", "gt", 60, "OR", 3),
        SegmentRule(2, 7, "country", "eq", "DE", "AND", 1),
        SegmentRule(3, 7, "vip", "is_true", None, "AND", 2),
    ]
    assert str(from_rows(rows)) == "(country = 'DE' and vip is true) or age > 60"


def test_json_values() -> None:
    rows = [row("country", "in", '["DE", "AT"]', "AND"), row("age", "gte", "18", "AND")]
    rule = from_rows(rows, SCHEMA, json_values=True)
    assert rule.to_dict()["rules"] == [
        {"field": "country", "operator": "in", "value": ["DE", "AT"]},
        {"field": "age", "operator": "gte", "value": 18},
    ]
    assert to_rows(rule, json_values=True)[0]["value"] == '["DE", "AT"]'


@pytest.mark.parametrize(
    ("rows", "path", "words"),
    [
        ([], "", "match every contact"),
        (
            [row("a", "eq", 1, "AND"), row("b", "eq", 1, "XOR")],
            "/1/logical_operator",
            "'AND' or 'OR'",
        ),
        ([row("a", "eq", 1, "AND", 1), row("b", "eq", 1, "AND", 1)], "/1/order", "ambiguous"),
        ([row("a", "eq", 1, "AND", 1), row("b", "eq", 1, "AND", "2")], "/1/order", "integer"),  # type: ignore[arg-type]
        ([row("", "eq", 1, "AND")], "/0/field", "non-empty"),
        ([{"field": "a", "value": 1}], "/0/operator", "non-empty"),
        ([row("a", "eq", "{", "AND")], "/0/value", "invalid JSON"),
        ([row("age", "eq", 1, "AND"), row("agee", "eq", 1, "OR")], "/1/field", "unknown field"),
    ],
)
def test_refusals(rows: Any, path: str, words: str) -> None:
    with pytest.raises(sk.RuleError) as info:
        from_rows(rows, SCHEMA, json_values=any(r.get("value") == "{" for r in rows))
    assert any(p.path == path and words in p.message for p in info.value.errors), info.value.errors


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (
            {
                "combinator": "and",
                "not": True,
                "rules": [{"field": "a", "operator": "eq", "value": 1}],
            },
            "negated",
        ),
        ({"combinator": "and", "rules": []}, r"empty group \(everyone\)"),
        (
            {
                "combinator": "and",
                "rules": [
                    {"field": "a", "operator": "eq", "value": 1},
                    {"combinator": "or", "rules": [{"segment": "x"}, {"segment": "y"}]},
                ],
            },
            "OR of ANDs",
        ),
        ({"segment": "vip"}, "SegmentRef"),
    ],
)
def test_export_refusals(rule: Any, words: str) -> None:
    with pytest.raises(sk.RuleError, match=words):
        to_rows(rule)


def test_nested_same_combinator_groups_flatten() -> None:
    rule = sk.parse(
        {
            "combinator": "or",
            "rules": [
                {
                    "combinator": "or",
                    "rules": [
                        {"field": "a", "operator": "eq", "value": 1},
                        {"field": "b", "operator": "eq", "value": 2},
                    ],
                },
                {
                    "combinator": "and",
                    "rules": [
                        {
                            "combinator": "and",
                            "rules": [{"field": "c", "operator": "eq", "value": 3}],
                        },
                        {"field": "d", "operator": "eq", "value": 4},
                    ],
                },
            ],
        }
    )
    assert [(r["field"], r["logical_operator"]) for r in to_rows(rule)] == [
        ("a", "AND"),
        ("b", "OR"),
        ("c", "OR"),
        ("d", "AND"),
    ]


def test_the_row_limit_fits_the_node_limit() -> None:
    """The worst shape (and-runs of two joined by or) at the row limit still binds; one
    row more is refused by the row limit, never by a surprise node count."""
    from segmentkit.formats.flat import MAX_ROWS

    def rows(n: int) -> list[dict[str, Any]]:
        return [
            row("age", "gt", i, None if i == 0 else ("AND" if i % 2 else "OR")) for i in range(n)
        ]

    rule = from_rows(rows(MAX_ROWS), SCHEMA)
    assert sk.bind(rule, SCHEMA, now=NOW) is not None
    with pytest.raises(sk.RuleError, match=f"more than {MAX_ROWS:,} rule rows"):
        from_rows(rows(MAX_ROWS + 1), SCHEMA)
