"""JsonLogic import/export, and the official JsonLogic test suite.

Every case of ``../shared/conformance/jsonlogic/tests.json`` either imports and, evaluated
by the Python evaluator against a schema derived from its data, gives the expected
result, or is refused with a RuleError. The counts are pinned here and quoted in
docs/formats.md, so a change in either is noticed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import segmentkit as sk
from segmentkit.formats import from_jsonlogic, to_jsonlogic

from .core_fixtures import NOW, RECORDS, SCHEMA

SUITE = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "conformance"
    / "jsonlogic"
    / "tests.json"
)


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested objects become dotted field names, as ``var`` paths name them."""
    out: dict[str, Any] = {}
    if not isinstance(data, dict):
        return out
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "tags"
    return None  # null, arrays of numbers or objects: no segment field type


def _cases() -> list[tuple[Any, Any, Any]]:
    if not SUITE.exists():  # pragma: no cover - the shared folder travels with the repo
        pytest.skip(f"JsonLogic suite not found at {SUITE}")
    return [tuple(c) for c in json.loads(SUITE.read_text()) if not isinstance(c, str)]  # type: ignore[misc]


def run_case(rule: Any, data: Any, expected: Any) -> str:
    """'agree', or 'refused'; anything else fails the test."""
    record = _flatten(data)
    schema = sk.Schema([sk.Field(k, t) for k, v in record.items() if (t := _type(v)) is not None])
    try:
        imported = from_jsonlogic(json.dumps(rule), schema)
    except sk.RuleError as exc:
        assert exc.errors and all(p.message for p in exc.errors)
        return "refused"
    row = {k: frozenset(v) if isinstance(v, list) else v for k, v in record.items()}
    got = sk.compile_python(imported, schema, now=NOW)(row)
    assert expected is got, (
        f"{rule!r} on {data!r}: JsonLogic gives {expected!r}, segmentkit {got!r}"
    )
    return "agree"


def test_official_suite_imports_exactly_or_refuses() -> None:
    counts = {"agree": 0, "refused": 0}
    for rule, data, expected in _cases():
        counts[run_case(rule, data, expected)] += 1
    # Quoted in docs/formats.md ("JsonLogic conformance"); update both together.
    assert counts == {"agree": 57, "refused": 220}


def test_every_boolean_comparison_case_of_the_suite_is_imported() -> None:
    """The suite's comparisons of same-typed literals and fields all import."""
    imported = [r for r, d, e in _cases() if isinstance(e, bool) and run_case(r, d, e) == "agree"]
    ops = {next(iter(r)) for r in imported if isinstance(r, dict)}
    assert {"==", "===", "!=", "!==", "<", "<=", ">", ">=", "in", "and", "or", "!"} <= ops


# --------------------------------------------------------------------------- import
def members(rule: Any) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    return {r["id"] for r in match.filter(RECORDS)}


@pytest.mark.parametrize(
    ("logic", "native"),
    [
        ({"==": [{"var": "country"}, "DE"]}, {"field": "country", "operator": "eq", "value": "DE"}),
        (
            {"===": ["DE", {"var": "country"}]},
            {"field": "country", "operator": "eq", "value": "DE"},
        ),
        (
            {"!==": [{"var": "country"}, "DE"]},
            {"field": "country", "operator": "neq", "value": "DE"},
        ),
        ({"==": [{"var": "country"}, None]}, {"field": "country", "operator": "is_null"}),
        ({"!=": [{"var": "country"}, None]}, {"field": "country", "operator": "is_not_null"}),
        ({"===": [{"var": "vip"}, True]}, {"field": "vip", "operator": "is_true"}),
        ({"==": [{"var": "vip"}, False]}, {"field": "vip", "operator": "is_false"}),
        ({"<": [{"var": "age"}, 18]}, {"field": "age", "operator": "lt", "value": 18}),
        ({"<": [18, {"var": "age"}]}, {"field": "age", "operator": "gt", "value": 18}),
        (
            {">=": [{"var": "age"}, {"var": "id"}]},
            {"field": "age", "operator": "gte", "value": {"field": "id"}},
        ),
        (
            {"<=": [18, {"var": "age"}, 65]},
            {"field": "age", "operator": "between", "value": [18, 65]},
        ),
        (
            {"<": [18, {"var": "age"}, 65]},
            {
                "combinator": "and",
                "rules": [
                    {"field": "age", "operator": "gt", "value": 18},
                    {"field": "age", "operator": "lt", "value": 65},
                ],
            },
        ),
        (
            {"in": [{"var": "country"}, ["DE", "AT"]]},
            {"field": "country", "operator": "in", "value": ["DE", "AT"]},
        ),
        ({"in": ["@", {"var": "name"}]}, {"field": "name", "operator": "contains", "value": "@"}),
        ({"in": ["vip", {"var": "tags"}]}, {"field": "tags", "operator": "has", "value": "vip"}),
        (
            {"!": {"in": [{"var": "country"}, ["DE"]]}},
            {"field": "country", "operator": "not_in", "value": ["DE"]},
        ),
        ({"!": [{"var": "nick"}]}, {"field": "nick", "operator": "is_empty"}),
        ({"!!": {"var": "tags"}}, {"field": "tags", "operator": "is_not_empty"}),
        ({"!!": {"var": "vip"}}, {"field": "vip", "operator": "is_true"}),
        (
            {"!": {"var": "vip"}},
            {"combinator": "and", "not": True, "rules": [{"field": "vip", "operator": "is_true"}]},
        ),
        (
            {"some": [{"var": "tags"}, {"in": [{"var": ""}, ["vip", "press"]]}]},
            {"field": "tags", "operator": "has_any", "value": ["vip", "press"]},
        ),
        (
            {"none": [{"var": "tags"}, {"===": [{"var": ""}, "vip"]}]},
            {"field": "tags", "operator": "has_none", "value": ["vip"]},
        ),
        (
            {"startsWith": [{"var": "name"}, "A"]},
            {"field": "name", "operator": "starts_with", "value": "A"},
        ),
        (
            {"endsWith": [{"var": "name"}, "b"]},
            {"field": "name", "operator": "ends_with", "value": "b"},
        ),
        (
            {"and": [{"!=": [{"var": "age"}, None]}, {">": [{"var": "age"}, 17]}]},
            {"field": "age", "operator": "gt", "value": 17},
        ),
        (True, {"combinator": "and", "rules": []}),
        (False, {"combinator": "or", "rules": []}),
        ({"or": []}, {"combinator": "or", "rules": []}),
        ({"<": [1, 2]}, {"combinator": "and", "rules": []}),
        (
            {"ltv": None} if False else {"<": [{"var": "ltv"}, 10.5]},
            {"field": "ltv", "operator": "lt", "value": "10.5"},
        ),
    ],
)
def test_import(logic: Any, native: dict[str, Any]) -> None:
    assert from_jsonlogic(logic, SCHEMA) == sk.parse(native)


@pytest.mark.parametrize(
    ("logic", "path", "words"),
    [
        ({"+": [1, 2]}, "/+", "arithmetic"),
        ({"==": [{"var": "age"}, {"+": [1, {"var": "id"}]}]}, "/==/1", "computed operand"),
        ({"if": [True, True, False]}, "/if", "conditional"),
        ({"cat": ["a"]}, "/cat", "string building"),
        ({"missing": ["a"]}, "/missing", "missing"),
        ({"all": [{"var": "tags"}, {"==": [{"var": ""}, "x"]}]}, "/all", "empty list"),
        ({"some": [{"var": "tags"}, {">": [{"var": ""}, "x"]}]}, "/some/1", "tag membership"),
        ({"var": "vip"}, "", "truthiness"),
        ({"!": {"var": "age"}}, "/!", "truthiness"),
        ({"!": 0}, "/!", "JavaScript coercion"),
        ({"and": [1, True]}, "/and/0", "truthiness"),
        ({"and": []}, "", "'and' of nothing"),
        ({"==": [1, "1"]}, "/==", "JavaScript coercion"),
        ({"==": [{"var": "age"}, "18"]}, "/==/1", "string literal compared with integer field"),
        ({"<": [{"var": "name"}, None]}, "/</1", "JavaScript coercion"),
        ({">": [1, {"var": "age"}, 3]}, "/>", "two arguments"),
        ({"var": ["age", 3]}, "", "truthiness"),
        ({"==": [{"var": ["age", 3]}, 1]}, "/==/0/var", "default value"),
        ({"in": [{"var": "country"}, ["DE", None]]}, "/in/1/1", "null in an 'in' list"),
        ({"in": [{"var": "country"}, {"var": "name"}]}, "/in", "two fields"),
        ({"frobnicate": [1]}, "/frobnicate", "unknown JsonLogic operation"),
        ({"==": [{"var": "nope"}, 1]}, "", "unknown field"),
        ({"and": [True, {"==": [{"var": "nope"}, 1]}]}, "/and/1", "unknown field"),
        ("[1, 2", "", "invalid JSON"),
    ],
)
def test_refusals_name_the_construct(logic: Any, path: str, words: str) -> None:
    with pytest.raises(sk.RuleError) as info:
        from_jsonlogic(logic, SCHEMA)
    assert any(p.path == path and words in p.message for p in info.value.errors), info.value.errors


def test_every_problem_is_reported_at_once() -> None:
    logic = {"and": [{"+": [1]}, {"==": [{"var": "age"}, "x"]}, {"<": [{"var": "nope"}, 1]}]}
    with pytest.raises(sk.RuleError) as info:
        from_jsonlogic(logic, SCHEMA)
    assert [p.path for p in info.value.errors] == ["/and/0/+", "/and/1/==/1"]


def test_schema_errors_point_into_the_jsonlogic_document() -> None:
    logic = {"or": [{"==": [{"var": "age"}, 1]}, {"!": {"<": [{"var": "nope"}, 1]}}]}
    with pytest.raises(sk.RuleError) as info:
        from_jsonlogic(logic, SCHEMA)
    assert [p.path for p in info.value.errors] == ["/or/1/!"]


def test_without_schema_values_are_kept_and_in_means_contains() -> None:
    rule = from_jsonlogic({"and": [{"in": ["x", {"var": "tags"}]}, {"==": [{"var": "age"}, "18"]}]})
    assert rule.to_dict()["rules"] == [
        {"field": "tags", "operator": "contains", "value": "x"},
        {"field": "age", "operator": "eq", "value": "18"},
    ]
    with pytest.raises(sk.RuleError, match="pass the schema"):
        from_jsonlogic({"!": {"var": "nick"}})


def test_deliberate_null_difference() -> None:
    """JavaScript reads a missing value as 0 in ``<``; SEMANTICS §2 makes the leaf FALSE."""
    rule = from_jsonlogic({"<": [{"var": "age"}, 18]}, SCHEMA)
    assert 3 not in members(rule)  # contact 3 has no age; JsonLogic would include it
    # Two missing fields are not equal (JavaScript: null == null).
    rule = from_jsonlogic({"==": [{"var": "age"}, {"var": "score"}]}, SCHEMA)
    assert 3 not in members(rule)


def test_over_deep_input_is_a_rule_error() -> None:
    logic: Any = {"==": [{"var": "age"}, 1]}
    for _ in range(10_000):
        logic = {"!": logic}
    with pytest.raises(sk.RuleError, match="nested deeper"):
        from_jsonlogic(logic)
    with pytest.raises(sk.RuleError, match="nested"):
        from_jsonlogic("[" * 100_000)


# --------------------------------------------------------------------------- export
def test_export_shapes() -> None:
    rule = sk.parse(
        {
            "combinator": "and",
            "rules": [
                {"field": "age", "operator": "gte", "value": 18},
                {"field": "country", "operator": "neq", "value": "DE"},
                {"field": "country", "operator": "not_in", "value": ["AT"]},
                {"field": "tags", "operator": "has_any", "value": ["vip"]},
                {"field": "nick", "operator": "is_empty"},
                {"field": "ltv", "operator": "between", "value": ["0.5", "10"]},
            ],
        }
    )
    assert to_jsonlogic(rule, SCHEMA) == {
        "and": [
            {"and": [{"!=": [{"var": "age"}, None]}, {">=": [{"var": "age"}, 18]}]},
            {"!==": [{"var": "country"}, "DE"]},
            {"!": {"in": [{"var": "country"}, ["AT"]]}},
            {"some": [{"var": "tags"}, {"in": [{"var": ""}, ["vip"]]}]},
            {"!": {"var": "nick"}},
            {"and": [{"!=": [{"var": "ltv"}, None]}, {"<=": [0.5, {"var": "ltv"}, 10]}]},
        ]
    }
    back = from_jsonlogic(to_jsonlogic(rule, SCHEMA), SCHEMA)
    assert members(back) == members(rule)
    assert [c.operator for c in back.rules] == [
        "gte",
        "neq",
        "not_in",
        "has_any",
        "is_empty",
        "between",
    ]  # type: ignore[union-attr]
    assert to_jsonlogic({"combinator": "and", "rules": []}) is True
    assert to_jsonlogic({"combinator": "or", "not": True, "rules": []}) == {"!": False}


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        (
            {"field": "name", "operator": "eq", "value": "a", "ignore_case": True},
            "case-insensitive",
        ),
        ({"field": "name", "operator": "matches", "value": "^a"}, "regular expressions"),
        ({"field": "name", "operator": "starts_with", "value": "a"}, "startsWith"),
        (
            {"field": "signup_at", "operator": "in_last", "value": {"amount": 3, "unit": "days"}},
            "no clock",
        ),
        ({"field": "age", "operator": "eq", "value": 2**60}, "2\\*\\*53"),
        (
            {"field": "ltv", "operator": "eq", "value": "0.1000000000000000000001"},
            "exact JavaScript number",
        ),
        ({"segment": "vip"}, "segment references"),
    ],
)
def test_export_refusals(rule: dict[str, Any], words: str) -> None:
    with pytest.raises(sk.RuleError, match=words):
        to_jsonlogic(rule, SCHEMA)


def test_export_extensions() -> None:
    rule = {"field": "name", "operator": "not_starts_with", "value": "A"}
    assert to_jsonlogic(rule, extensions=True) == {"!": {"startsWith": [{"var": "name"}, "A"]}}
    assert from_jsonlogic(to_jsonlogic(rule, extensions=True)) == sk.parse(rule)
