"""Every malformed rule gives one RuleError listing all problems with JSON-pointer paths."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import segmentkit as sk

from .core_fixtures import NOW, SCHEMA


def problems(rule: object, schema: sk.Schema = SCHEMA) -> list[tuple[str, str]]:
    with pytest.raises(sk.RuleError) as info:
        sk.bind(rule, schema, now=NOW)
    assert isinstance(info.value, ValueError)
    return [(e.path, e.message) for e in info.value.errors]


def test_all_problems_reported_with_paths_and_suggestions() -> None:
    rule = {
        "combinator": "and",
        "rules": [
            {"field": "contry", "operator": "eq", "value": "DE"},
            {"field": "age", "operator": "gte", "value": "eighteen"},
            {"field": "age", "operator": "betwen", "value": [1, 2]},
            {"rules": [{"field": "name", "operator": "contains", "value": ""}]},
            {"field": "age", "operator": "between", "value": [65, 18]},
            {"field": "tags", "operator": "eq", "value": "x"},
        ],
    }
    found = problems(rule)
    paths = [p for p, _ in found]
    assert paths == [
        "/rules/0/field",
        "/rules/1/value",
        "/rules/2/operator",
        "/rules/3/rules/0/value",
        "/rules/4/value",
        "/rules/5/operator",
    ]
    text = " ".join(m for _, m in found)
    assert 'did you mean "country"' in text
    assert 'did you mean "between"' in text
    assert "reversed range" in text


def test_structural_problems_use_pointers() -> None:
    with pytest.raises(sk.RuleError) as info:
        sk.parse({"combinator": "xor", "rules": [{"field": "a"}, 3, {"segment": ""}], "extra": 1})
    paths = {e.path for e in info.value.errors}
    assert {"/combinator", "/rules/0/operator", "/rules/1", "/rules/2/segment", "/extra"} <= paths


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        ({"field": "age", "operator": "gte", "value": True}, "boolean"),
        ({"field": "age", "operator": "gte", "value": 2**63}, "64-bit"),
        ({"field": "age", "operator": "gte", "value": 1.5}, "integer"),
        ({"field": "ltv", "operator": "gt", "value": 0.1}, "floats are refused"),
        ({"field": "score", "operator": "gt", "value": "nan"}, "ASCII"),
        ({"field": "score", "operator": "gt", "value": float("nan")}, "finite"),
        ({"field": "name", "operator": "eq", "value": "a\x00b"}, "NUL"),
        ({"field": "name", "operator": "eq", "value": "\ud800"}, "surrogate"),
        ({"field": "name", "operator": "eq", "value": 5}, "expected a string"),
        ({"field": "name", "operator": "eq", "value": ["a"]}, "single"),
        ({"field": "name", "operator": "in", "value": "a"}, "list"),
        ({"field": "name", "operator": "in", "value": ["a", None]}, "null"),
        ({"field": "name", "operator": "eq"}, "needs a value"),
        ({"field": "name", "operator": "is_null", "value": 1}, "takes no value"),
        ({"field": "signup_at", "operator": "after", "value": "2024-01-01T10:00:00"}, "time zone"),
        ({"field": "signup_at", "operator": "in_last", "value": {"amount": 3}}, "amount"),
        (
            {"field": "signup_at", "operator": "in_last", "value": {"amount": 3, "unit": "dayz"}},
            "did you mean",
        ),
        (
            {"field": "birthday", "operator": "in_last", "value": {"amount": 3, "unit": "hours"}},
            "unit",
        ),
        ({"field": "birthday", "operator": "on", "value": "tomorow"}, 'did you mean "tomorrow"'),
        ({"field": "name", "operator": "matches", "value": "(a"}, ""),
        ({"field": "name", "operator": "matches", "value": "a" * 300}, "256"),
        ({"field": "name", "operator": "matches", "value": "\\d+"}, ""),
        ({"field": "vip", "operator": "eq", "value": "maybe"}, "boolean"),
        ({"field": "age", "operator": "eq", "value": "1", "ignore_case": True}, "ignore_case"),
        ({"field": "tags", "operator": "has_all", "value": []}, "at least one"),
        ({"field": "age", "operator": "eq", "value": {"field": "name"}}, "cannot compare"),
        ({"field": "age", "operator": "in", "value": {"field": "score"}}, "list"),
        ({"field": "age", "operator": "eq", "value": {"field": "agee"}}, 'did you mean "age"'),
    ],
)
def test_value_problems(condition: dict[str, object], fragment: str) -> None:
    found = problems(condition)
    assert len(found) >= 1
    assert found[0][0].startswith("/value") or found[0][0] in ("/operator", "/ignore_case")
    assert fragment in " ".join(m for _, m in found)


def test_coercion_per_field_type() -> None:
    bound = sk.bind(
        {
            "rules": [
                {"field": "age", "operator": "eq", "value": "15"},
                {"field": "ltv", "operator": "eq", "value": "10.50"},
                {"field": "vip", "operator": "eq", "value": "true"},
                {"field": "name", "operator": "eq", "value": "e\u0301"},
                {"field": "signup_at", "operator": "eq", "value": "2024-01-01T10:00:00+02:00"},
            ]
        },
        SCHEMA,
        now=NOW,
    )
    from segmentkit.primitives import shape

    _, params = shape(bound.predicate)
    from decimal import Decimal

    assert params == (
        15,
        Decimal("10.50"),
        True,
        "\u00e9",
        dt.datetime(2024, 1, 1, 8, tzinfo=dt.UTC),
    )


def test_schema_zone_allows_naive_rule_values() -> None:
    schema = sk.Schema([sk.Field("at", "datetime")], timezone="Europe/Berlin", key="at")
    bound = sk.bind(
        {"field": "at", "operator": "after", "value": "2024-07-01T12:00:00"}, schema, now=NOW
    )
    assert bound.predicate.right.value == dt.datetime(2024, 7, 1, 10, tzinfo=dt.UTC)  # type: ignore[union-attr]


def test_field_operator_and_enum_restrictions() -> None:
    schema = sk.Schema([sk.Field("plan", "string", operators={"eq", "in"}, enum=("free", "pro"))])
    assert (
        problems({"field": "plan", "operator": "contains", "value": "f"}, schema)[0][0]
        == "/operator"
    )
    assert problems({"field": "plan", "operator": "eq", "value": "gold"}, schema)[0][0] == "/value"
    assert (
        problems({"field": "plan", "operator": "in", "value": ["free", "x"]}, schema)[0][0]
        == "/value/1"
    )


@pytest.mark.parametrize("depth", [65, 5_000, 10_000])
def test_deep_nesting_is_a_rule_error(depth: int) -> None:
    rule: dict[str, object] = {"field": "age", "operator": "eq", "value": 1}
    for _ in range(depth):
        rule = {"rules": [rule]}
    with pytest.raises(sk.RuleError, match="nested deeper"):
        sk.bind(rule, SCHEMA)
    text = '{"rules": [' * depth + "]}" * depth
    with pytest.raises(sk.RuleError):
        sk.parse(text)


def test_sixty_four_levels_are_fine() -> None:
    rule: dict[str, object] = {"field": "age", "operator": "eq", "value": 1}
    for i in range(63):
        rule = {
            "combinator": "or" if i % 2 else "and",
            "not": bool(i % 3),
            "rules": [rule, {"field": "age", "operator": "gt", "value": i}],
        }
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    assert isinstance(match({"age": 1}), bool)


def test_huge_lists_and_strings() -> None:
    values = list(range(100_000))
    match = sk.compile_python({"field": "age", "operator": "in", "value": values}, SCHEMA, now=NOW)
    assert match({"age": 99_999}) and not match({"age": 100_000})
    assert (
        problems({"field": "age", "operator": "in", "value": list(range(100_001))})[0][0]
        == "/value"
    )
    big = "x" * 1_000_000
    match = sk.compile_python(
        {"field": "name", "operator": "contains", "value": big}, SCHEMA, now=NOW
    )
    assert match({"name": big + "y"}) and not match({"name": "x"})
    assert "longer" in problems({"field": "name", "operator": "eq", "value": big + "x"})[0][1]


def test_too_many_nodes() -> None:
    rule = {"rules": [{"field": "age", "operator": "eq", "value": i} for i in range(10_001)]}
    with pytest.raises(sk.RuleError, match="nodes"):
        sk.parse(rule)


@pytest.mark.parametrize(
    "text", ["", "{", "[1]", "null", '{"field": "age", "operator": "eq", "value": 1', b"\xff"]
)
def test_malformed_json(text: str | bytes) -> None:
    with pytest.raises(sk.RuleError):
        sk.parse(text)


def test_json_text_accepted() -> None:
    rule = sk.parse(json.dumps({"field": "age", "operator": "gte", "value": 18}))
    assert isinstance(rule, sk.Condition)


def test_now_must_be_aware() -> None:
    with pytest.raises(sk.RuleError, match="aware"):
        sk.bind({"rules": []}, SCHEMA, now=dt.datetime(2024, 1, 1))


def test_all_lists_of_a_rule_are_bounded_together() -> None:
    """Each list may hold 100,000 values, the whole rule 200,000: 99 such lists did not
    finish within minutes on any engine."""
    from segmentkit.bind import MAX_LIST_LENGTH, MAX_LIST_VALUES

    schema = sk.Schema([sk.Field("n", "integer")])
    big = list(range(MAX_LIST_LENGTH))
    two = {
        "rules": [{"field": "n", "operator": "in", "value": big}] * (MAX_LIST_VALUES // len(big))
    }
    assert sk.bind(two, schema) is not None
    three = {"rules": [{"field": "n", "operator": "in", "value": big}] * 3}
    with pytest.raises(sk.RuleError) as info:
        sk.bind(three, schema)
    assert [e.path for e in info.value.errors] == ["/rules/2/value"]
    assert "200,000 values in all" in str(info.value)
