"""jQuery QueryBuilder import/export."""

from __future__ import annotations

from typing import Any

import pytest

import segmentkit as sk
from segmentkit.formats import from_jquery, to_jquery
from segmentkit.formats.jquery import JQUERY_TO_NATIVE

from .core_fixtures import NOW, RECORDS, SCHEMA


def members(rule: Any) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    return {r["id"] for r in match.filter(RECORDS)}


def g(*rules: Any, condition: str = "AND", **extra: Any) -> dict[str, Any]:
    return {"condition": condition, "rules": list(rules), "valid": True, **extra}


def r(field: str, operator: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": field,
        "field": field,
        "type": "string",
        "input": "text",
        "operator": operator,
        "value": value,
        **extra,
    }


def test_builder_output_imports() -> None:
    rules = g(
        r("age", "greater_or_equal", 18, type="integer"),
        g(r("country", "in", ["DE", "AT"]), r("name", "begins_with", "İ"), condition="OR"),
        r("nick", "is_not_empty"),
    )
    rule = from_jquery(rules, SCHEMA)
    assert (
        str(rule)
        == "age >= 18 and (country in ('DE', 'AT') or name starts with 'İ') and nick is not empty"
    )
    assert members(rule) == {4}


@pytest.mark.parametrize(("jq", "native"), sorted(JQUERY_TO_NATIVE.items()))
def test_every_operator_round_trips(jq: str, native: str) -> None:
    value: Any = {
        "in": ["a"],
        "not_in": ["a"],
        "between": ["a", "b"],
        "not_between": ["a", "b"],
    }.get(jq, "a")
    if jq.startswith("is_"):
        value = None
    rule = from_jquery(g(r("name", jq, value)), SCHEMA)
    assert rule.rules[0].operator == native  # type: ignore[union-attr]
    assert to_jquery(rule, SCHEMA)["rules"][0]["operator"] == jq
    assert from_jquery(to_jquery(rule, SCHEMA), SCHEMA) == rule


def test_not_ignore_case_and_custom_operators() -> None:
    rules = g(
        r("name", "equal", "BOB", data={"ignore_case": True, "note": "ui"}),
        r("signup_at", "in_last", {"amount": 30, "unit": "days"}),
        condition="or",
        **{"not": True},
    )
    rule = from_jquery(rules, SCHEMA)
    assert rule.to_dict() == {
        "combinator": "or",
        "not": True,
        "rules": [
            {"field": "name", "operator": "eq", "value": "BOB", "ignore_case": True},
            {"field": "signup_at", "operator": "in_last", "value": {"amount": 30, "unit": "days"}},
        ],
    }
    out = to_jquery(rule, SCHEMA)
    assert out["not"] is True and out["condition"] == "OR"
    assert out["rules"][0] == {
        "id": "name",
        "field": "name",
        "type": "string",
        "operator": "equal",
        "value": "BOB",
        "data": {"ignore_case": True},
    }
    assert from_jquery(out, SCHEMA) == rule


def test_value_separator() -> None:
    rule = from_jquery(g(r("country", "in", "DE, AT")), value_separator=",")
    assert rule.rules[0].value == ["DE", "AT"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rules", "path", "words"),
    [
        (g(r("a", "equal", 1), valid=False), "/valid", "invalid"),
        (g(r("a", "equal", 1), condition="XOR"), "/condition", "unknown condition"),
        (g(r("a", "equals", 1)), "/rules/0/operator", 'did you mean "equal"'),
        (g(r("a", "in", "x,y")), "/rules/0/value", "value_separator"),
        (g(r("a", "between", [1])), "/rules/0/value", "exactly two"),
        (g(r("a", "equal", 1, colour="red")), "/rules/0/colour", "unknown key"),
        (
            g(r("a", "equal", 1, data={"ignore_case": "yes"})),
            "/rules/0/data/ignore_case",
            "true or false",
        ),
        (g(r("agee", "equal", 1)), "/rules/0/field", "unknown field"),
    ],
)
def test_refusals(rules: Any, path: str, words: str) -> None:
    with pytest.raises(sk.RuleError) as info:
        from_jquery(rules, SCHEMA)
    assert any(p.path == path and words in p.message for p in info.value.errors), info.value.errors


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"field": "age", "operator": "eq", "value": {"field": "id"}}, "field-to-field"),
        ({"segment": "vip"}, "segment references"),
        ({"event": "buy"}, "event conditions"),
    ],
)
def test_export_refusals(rule: Any, words: str) -> None:
    with pytest.raises(sk.RuleError, match=words):
        to_jquery(rule)


def test_over_deep_input_is_a_rule_error() -> None:
    rules: Any = r("a", "equal", 1)
    for _ in range(10_000):
        rules = g(rules)
    with pytest.raises(sk.RuleError, match="nested deeper"):
        from_jquery(rules)
