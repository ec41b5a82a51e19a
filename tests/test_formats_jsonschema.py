"""The JSON Schema of the native rule format."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

import segmentkit as sk
from segmentkit.formats import json_schema
from segmentkit.testing import rules

from .core_fixtures import SCHEMA

jsonschema = pytest.importorskip("jsonschema")
Validator = jsonschema.Draft202012Validator


def test_schemas_are_valid_2020_12() -> None:
    Validator.check_schema(json_schema())
    Validator.check_schema(json_schema(SCHEMA))


GOOD = [
    {"combinator": "and", "rules": []},
    {"rules": [{"field": "age", "operator": "gte", "value": 18}]},
    {
        "combinator": "or",
        "not": True,
        "rules": [{"segment": "vip"}, {"field": "nick", "operator": "is_empty"}],
    },
    {"field": "signup_at", "operator": "in_last", "value": {"amount": 30, "unit": "days"}},
    {"field": "age", "operator": "between", "value": [18, 65]},
    {"field": "name", "operator": "eq", "value": "x", "ignore_case": True},
    {"field": "age", "operator": "lt", "value": {"field": "id"}},
    {"field": "ltv", "operator": "gt", "value": "10.50"},
    {"field": "birthday", "operator": "on", "value": "today"},
]
BAD = [
    ({}, "anything"),
    ({"combinator": "xor", "rules": []}, "combinator"),
    ({"rules": [], "field": "age"}, "group with condition keys"),
    ({"field": "age", "operator": "gte"}, "missing value"),
    ({"field": "age", "operator": "between", "value": [1]}, "one-element range"),
    (
        {"field": "age", "operator": "in_last", "value": {"amount": -1, "unit": "days"}},
        "negative duration",
    ),
    ({"field": "age", "operator": "eq", "value": 1, "extra": True}, "unknown key"),
    ({"segment": ""}, "empty segment id"),
]
SPECIFIC_BAD = [
    ({"field": "nope", "operator": "eq", "value": 1}, "unknown field"),
    ({"field": "age", "operator": "contains", "value": "1"}, "operator for another type"),
    ({"field": "age", "operator": "eq", "value": "x"}, "wrong value type"),
    (
        {"field": "age", "operator": "eq", "value": 1, "ignore_case": True},
        "ignore_case on a number",
    ),
    ({"field": "age", "operator": "eq", "value": {"field": "name"}}, "field of another type"),
    ({"field": "name", "operator": "contains", "value": ""}, "empty needle"),
    ({"field": "ltv", "operator": "gt", "value": 10.5}, "float for a decimal"),
]


@pytest.mark.parametrize("rule", GOOD)
def test_valid_rules_pass(rule: dict[str, Any]) -> None:
    sk.parse(rule)  # the library agrees they are well-formed
    assert not list(Validator(json_schema()).iter_errors(rule))
    assert not list(Validator(json_schema(SCHEMA)).iter_errors(rule))


@pytest.mark.parametrize(("rule", "why"), BAD)
def test_malformed_rules_fail(rule: dict[str, Any], why: str) -> None:
    assert list(Validator(json_schema()).iter_errors(rule)), why
    assert list(Validator(json_schema(SCHEMA)).iter_errors(rule)), why


@pytest.mark.parametrize(("rule", "why"), SPECIFIC_BAD)
def test_schema_specific_rules_fail(rule: dict[str, Any], why: str) -> None:
    assert list(Validator(json_schema(SCHEMA)).iter_errors(rule)), why
    with pytest.raises(sk.RuleError):  # and bind refuses them too
        sk.bind(rule, SCHEMA)


def test_enum_and_operator_restrictions() -> None:
    schema = sk.Schema([sk.Field("country", "string", enum=("DE", "AT"), operators={"eq", "in"})])
    v = Validator(json_schema(schema))
    assert v.is_valid({"field": "country", "operator": "in", "value": ["DE"]})
    assert not v.is_valid({"field": "country", "operator": "in", "value": ["FR"]})
    assert not v.is_valid({"field": "country", "operator": "neq", "value": "DE"})


@given(rules(SCHEMA))
def test_every_valid_rule_passes_the_json_schema(rule: dict[str, Any]) -> None:
    data = json.loads(sk.parse(rule).to_json())
    assert not list(_GENERIC.iter_errors(data))
    assert not list(_SPECIFIC.iter_errors(data)), data


_GENERIC = Validator(json_schema())
_SPECIFIC = Validator(json_schema(SCHEMA), format_checker=Validator.FORMAT_CHECKER)


def test_event_where_uses_event_properties() -> None:
    rule = {
        "event": "purchase",
        "where": {"rules": [{"field": "amount", "operator": "gt", "value": 100}]},
        "count": {"operator": "gte", "value": 3},
        "in_last": {"amount": 30, "unit": "days"},
    }
    assert Validator(json_schema(SCHEMA)).is_valid(rule)
    assert not Validator(json_schema(SCHEMA)).is_valid(
        {**rule, "count": {"operator": "gte", "value": -1}}
    )
