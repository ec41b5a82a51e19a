"""The Python evaluator on rules at the size limits: rules of more than
``MAX_GENERATED_LEAVES`` leaves are interpreted, with the generated code's meaning.

Speed and memory are measured in bench/bench_limits.py, not asserted here.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import segmentkit as sk
from segmentkit.compile import python as py
from segmentkit.model import MAX_NODES
from segmentkit.testing import NOW, records, rules

from .core_fixtures import SCHEMA

ROWS = st.lists(records(SCHEMA), min_size=1, max_size=12)


def _both(rule: Any, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> tuple[Any, Any]:
    generated = sk.compile_python(rule, SCHEMA, now=NOW, **kwargs)
    with monkeypatch.context() as m:
        m.setattr(py, "MAX_GENERATED_LEAVES", -1)
        interpreted = sk.compile_python(rule, SCHEMA, now=NOW, **kwargs)
    assert interpreted.source.startswith("# not generated")
    return generated, interpreted


def _outcome(match: Any, row: dict[str, Any]) -> Any:
    try:
        return match(row)
    except Exception as exc:  # the same error class is part of the meaning
        return type(exc)


@given(rule=rules(SCHEMA), rows=ROWS)
def test_interpreter_means_what_generated_code_means(
    rule: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    """Property: for every rule and record (NULLs, naive datetimes, JSON tags ...),
    the interpreter answers exactly as the generated code."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        generated, interpreted = _both(rule, monkeypatch)
    for row in rows:
        assert _outcome(interpreted, row) == _outcome(generated, row), row
    safe_rows = [r for r in rows if not isinstance(_outcome(generated, r), type)]
    assert interpreted.filter(safe_rows) == generated.filter(safe_rows)


def test_interpreter_segments_and_events(monkeypatch: pytest.MonkeyPatch) -> None:
    source = sk.EventSource(
        "events", "contact_id", "name", "at", fields=[sk.Field("sku", "string")]
    )
    schema = sk.Schema([sk.Field("id", "integer")], events=source)
    rule = {
        "combinator": "or",
        "rules": [
            {"segment": "vip"},
            {
                "event": "buy",
                "where": {"rules": [{"field": "sku", "operator": "eq", "value": "x"}]},
                "count": {"operator": "gte", "value": 2},
                "in_last": {"amount": 7, "unit": "days"},
            },
        ],
    }
    at = NOW - dt.timedelta(days=1)
    events = {
        2: [{"name": "buy", "sku": "x", "at": at}, {"name": "buy", "sku": "x", "at": at}],
        3: [{"name": "buy", "sku": "x", "at": at}, {"name": "buy", "sku": "y", "at": at}],
    }
    rows = [{"id": i} for i in range(1, 5)]
    monkeypatch.setattr(py, "MAX_GENERATED_LEAVES", -1)
    match = sk.compile_python(rule, schema, now=NOW, segments={"vip": [1]}, events=events)
    assert [r["id"] for r in match.filter(rows)] == [1, 2]
    with pytest.raises(sk.UnsupportedError):
        sk.compile_python(rule, schema, now=NOW, segments={"vip": [1]})


def _largest_rule() -> dict[str, Any]:
    """A rule of exactly MAX_NODES nodes mixing every kind of leaf of SCHEMA."""
    leaves = [
        lambda i: {"field": "age", "operator": "gte", "value": i},
        lambda i: {"field": "name", "operator": "contains", "value": f"x{i}"},
        lambda i: {"field": "score", "operator": "lt", "value": i / 2},
        lambda i: {"field": "tags", "operator": "has", "value": f"t{i}"},
        lambda i: {"field": "name", "operator": "eq", "value": f"n{i}", "ignore_case": True},
        lambda i: {
            "field": "signup_at",
            "operator": "in_last",
            "value": {"amount": i, "unit": "days"},
        },
        lambda i: {"field": "name", "operator": "matches", "value": f"^n{i}$"},
    ]
    groups, nodes, i = [], 1, 0
    while nodes + 10 <= MAX_NODES:
        groups.append(
            {"combinator": "and", "rules": [leaves[(i + k) % 7](i + k) for k in range(9)]}
        )
        nodes += 10
        i += 9
    groups.extend({"field": "age", "operator": "eq", "value": -k} for k in range(MAX_NODES - nodes))
    return {"combinator": "or", "rules": groups}


def test_rule_at_the_node_limit_is_interpreted_with_the_same_members() -> None:
    rule = _largest_rule()
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    assert match.source.startswith("# not generated")
    rows = [
        {"id": 1, "age": 0, "name": "x0a", "score": 0.0, "tags": frozenset({"t3"})},
        {"id": 2, "age": -3, "name": None},
        {"id": 3, "age": None, "name": "N4", "score": 9.0, "tags": frozenset({"t3"})},
        {"id": 4, "age": 5000, "name": "x1"},
    ]
    # Row 1 meets the first and-group's leaves up to "x0" ... but not all of them; row 2
    # is caught by the trailing age = -3; row 3 by no group.
    got = [r["id"] for r in match.filter(rows)]
    by_parts = {
        r["id"]
        for r in rows
        for part in rule["rules"]
        if sk.compile_python(part, SCHEMA, now=NOW)(r)
    }
    assert got == sorted(by_parts)
    assert 2 in got


def test_limit_is_the_documented_one() -> None:
    rule = _largest_rule()
    count = 0
    stack = [rule]
    while stack:
        node = stack.pop()
        count += 1
        stack.extend(node.get("rules", []))
    assert count == MAX_NODES
    with pytest.raises(sk.RuleError, match="more than 10,000 nodes"):
        sk.compile_python(
            {"combinator": "or", "rules": [rule, {"field": "age", "operator": "eq", "value": 1}]},
            SCHEMA,
        )
