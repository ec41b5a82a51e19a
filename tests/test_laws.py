"""Hypothesis laws of the rule algebra on the Python evaluator (the reference).

complement, De Morgan, double negation, parse/serialise round trip, constant
folding, and agreement of the fast path (`filter`) with the guarded path (`match`).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import segmentkit as sk
from segmentkit.testing import NOW, records, rules

from .core_fixtures import SCHEMA

ROWS = st.lists(records(SCHEMA), min_size=1, max_size=12)


def ids(rule: Any, rows: list[dict[str, Any]]) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    return {i for i, row in enumerate(rows) if match(row)}


def neg(rule: Any) -> dict[str, Any]:
    return {"combinator": "and", "not": True, "rules": [rule]}


@given(rules(SCHEMA), ROWS)
def test_complement(rule: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    everyone = set(range(len(rows)))
    assert ids(neg(rule), rows) == everyone - ids(rule, rows)


@given(rules(SCHEMA), rules(SCHEMA), ROWS)
def test_de_morgan(a: dict[str, Any], b: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    left = neg({"combinator": "and", "rules": [a, b]})
    right = {"combinator": "or", "rules": [neg(a), neg(b)]}
    assert ids(left, rows) == ids(right, rows)
    left = neg({"combinator": "or", "rules": [a, b]})
    right = {"combinator": "and", "rules": [neg(a), neg(b)]}
    assert ids(left, rows) == ids(right, rows)


@given(rules(SCHEMA), ROWS)
def test_double_negation(rule: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    assert ids(neg(neg(rule)), rows) == ids(rule, rows)


@given(rules(SCHEMA), rules(SCHEMA), ROWS)
def test_and_or_are_intersection_and_union(
    a: dict[str, Any], b: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    assert ids({"combinator": "and", "rules": [a, b]}, rows) == ids(a, rows) & ids(b, rows)
    assert ids({"combinator": "or", "rules": [a, b]}, rows) == ids(a, rows) | ids(b, rows)


@given(rules(SCHEMA))
def test_parse_serialise_round_trip(rule: dict[str, Any]) -> None:
    parsed = sk.parse(rule)
    assert sk.parse(parsed.to_dict()) == parsed
    assert sk.parse(parsed.to_json()) == parsed


@given(rules(SCHEMA), ROWS)
def test_filter_agrees_with_match(rule: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    assert [r for r in rows if match(r)] == match.filter(rows)


@given(rules(SCHEMA), ROWS)
def test_same_shape_new_values_is_not_stale(
    rule: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    """The shape cache must never leak constants of an earlier rule."""
    first = ids(rule, rows)
    other = {
        "combinator": "and",
        "rules": [rule, {"field": "age", "operator": "gt", "value": 10**6}],
    }
    ids(other, rows)
    assert ids(rule, rows) == first
