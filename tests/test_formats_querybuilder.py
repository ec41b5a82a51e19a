"""react-querybuilder import/export and the ``fields`` configuration."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import segmentkit as sk
from segmentkit.formats import from_querybuilder, querybuilder_fields, to_querybuilder
from segmentkit.formats.querybuilder import split_list

from .core_fixtures import NOW, RECORDS, SCHEMA


def members(rule: Any) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    return {r["id"] for r in match.filter(RECORDS)}


def q(*rules: Any, combinator: str = "and", **extra: Any) -> dict[str, Any]:
    return {"combinator": combinator, "rules": list(rules), **extra}


def r(field: str, operator: str, value: Any = "", **extra: Any) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value, **extra}


@pytest.mark.parametrize(
    ("rqb", "native"),
    [
        ("=", "eq"),
        ("!=", "neq"),
        ("<", "lt"),
        (">", "gt"),
        ("<=", "lte"),
        (">=", "gte"),
        ("contains", "contains"),
        ("beginsWith", "starts_with"),
        ("endsWith", "ends_with"),
        ("doesNotContain", "not_contains"),
        ("doesNotBeginWith", "not_starts_with"),
        ("doesNotEndWith", "not_ends_with"),
        ("null", "is_null"),
        ("notNull", "is_not_null"),
        ("in", "in"),
        ("notIn", "not_in"),
        ("between", "between"),
        ("notBetween", "not_between"),
    ],
)
def test_default_operators(rqb: str, native: str) -> None:
    value: Any = {"in": "DE,AT", "notIn": "DE,AT", "between": "A,M", "notBetween": "A,M"}.get(
        rqb, "DE"
    )
    rule = from_querybuilder(q(r("country", rqb, value)), SCHEMA)
    cond = rule.rules[0]  # type: ignore[union-attr]
    assert cond.operator == native
    back = to_querybuilder(rule)["rules"][0]
    assert back["operator"] == rqb


def test_values_lists_numbers_and_fields() -> None:
    rule = from_querybuilder(
        q(
            r("country", "in", "DE, AT ,a\\,b"),
            r("age", "between", ["18", "65"]),
            r("age", "notBetween", "20,30"),
            r("age", ">=", "18"),
            r("age", "<", "id", valueSource="field"),
            r("name", "null", "stale value"),
        ),
        SCHEMA,
    )
    assert rule.to_dict()["rules"] == [
        {"field": "country", "operator": "in", "value": ["DE", "AT", "a,b"]},
        {"field": "age", "operator": "between", "value": ["18", "65"]},
        {"field": "age", "operator": "not_between", "value": ["20", "30"]},
        {"field": "age", "operator": "gte", "value": "18"},  # kept as given; coerced at bind
        {"field": "age", "operator": "lt", "value": {"field": "id"}},
        {"field": "name", "operator": "is_null"},
    ]
    assert members(rule) == set()  # name is missing only for contact 3, whose age is missing too
    assert members(from_querybuilder(q(r("age", ">=", "18")), SCHEMA)) == {1, 4, 5}


def test_split_list() -> None:
    assert split_list("a,b") == ["a", "b"]
    assert split_list(" a , b ") == ["a", "b"]
    assert split_list("a\\,b,c") == ["a,b", "c"]
    assert split_list("a\\b") == ["a\\b"]
    assert split_list("") == []


def test_not_ids_and_ui_keys() -> None:
    query = {
        "id": "root",
        "combinator": "and",
        "not": True,
        "path": [],
        "rules": [
            {
                "id": "r1",
                "path": [0],
                "field": "vip",
                "operator": "=",
                "value": True,
                "valueEditorType": "checkbox",
            }
        ],
    }
    rule = from_querybuilder(json.dumps(query), SCHEMA)
    assert rule.to_dict() == {
        "id": "root",
        "combinator": "and",
        "not": True,
        "rules": [{"id": "r1", "field": "vip", "operator": "eq", "value": True}],
    }
    assert members(rule) == {2, 3, 5}
    out = to_querybuilder(rule)
    assert out == {
        "id": "root",
        "combinator": "and",
        "not": True,
        "rules": [{"id": "r1", "field": "vip", "operator": "=", "value": True}],
    }


def test_independent_combinators_and_binds_tighter() -> None:
    query = {
        "rules": [r("country", "=", "DE"), "or", r("age", ">", "60"), "and", r("vip", "=", True)]
    }
    rule = from_querybuilder(query, SCHEMA)
    assert rule.to_dict() == {
        "combinator": "or",
        "rules": [
            {"field": "country", "operator": "eq", "value": "DE"},
            {
                "combinator": "and",
                "rules": [
                    {"field": "age", "operator": "gt", "value": "60"},
                    {"field": "vip", "operator": "eq", "value": True},
                ],
            },
        ],
    }
    assert members(rule) == {1, 4}
    assert to_querybuilder(rule, independent_combinators=True) == {
        "rules": [
            r("country", "=", "DE"),
            "or",
            {"rules": [r("age", ">", "60"), "and", r("vip", "=", True)]},
        ]
    }


def test_disabled_is_refused_by_default_and_dropped_on_request() -> None:
    query = q(r("country", "=", "DE"), r("age", ">", 100, disabled=True))
    with pytest.raises(sk.RuleError) as info:
        from_querybuilder(query)
    assert info.value.errors[0].path == "/rules/1/disabled"
    assert "widens" in info.value.errors[0].message
    dropped = from_querybuilder(query, disabled="drop")
    assert dropped.to_dict() == {
        "combinator": "and",
        "rules": [{"field": "country", "operator": "eq", "value": "DE"}],
    }
    # dropping every rule of a group would leave "everyone": refused even in drop mode
    with pytest.raises(sk.RuleError, match="every rule of this group is disabled"):
        from_querybuilder(q(r("age", ">", 1, disabled=True)), disabled="drop")
    with pytest.raises(sk.RuleError, match="whole query is disabled"):
        from_querybuilder(q(r("age", ">", 1), disabled=True), disabled="drop")
    # independent combinators: the combinator before a dropped rule goes with it
    ic = {"rules": [r("a", "=", 1), "and", r("b", "=", 1, disabled=True), "or", r("c", "=", 1)]}
    assert str(from_querybuilder(ic, disabled="drop")) == "a = 1 or c = 1"
    ic = {"rules": [r("a", "=", 1, disabled=True), "and", r("b", "=", 1), "or", r("c", "=", 1)]}
    assert str(from_querybuilder(ic, disabled="drop")) == "b = 1 or c = 1"


@pytest.mark.parametrize(
    ("query", "path", "words"),
    [
        (q(r("a", "=", 1), combinator="xor"), "/combinator", "'xor' is not supported"),
        (q(r("a", "beginWith", "x")), "/rules/0/operator", 'did you mean "beginsWith"'),
        (q(r("a", "=", 1, match={"mode": "all"})), "/rules/0/match", "sub-query"),
        (q(r("a", "=", 1, caseSensitive=False)), "/rules/0/caseSensitive", "unknown key"),
        (q(r("a", "=", 1, valueSource="expr")), "/rules/0/valueSource", "unknown valueSource"),
        (q(r("a", "between", "1")), "/rules/0/value", "exactly two values"),
        (q(r("a", "in", True)), "/rules/0/value", "comma-separated"),
        (q(r("a", "in", None)), "/rules/0/value", "comma-separated"),
        (q(r("a", "matches", "x", valueSource="field")), "/rules/0/valueSource", "another field"),
        (q(r("", "=", 1)), "/rules/0/field", "non-empty"),
        (q(r("a", "=", 1, disabled="yes")), "/rules/0/disabled", "true or false"),
        ({"combinator": "and", "rules": [r("a", "=", 1)], "not": "yes"}, "/not", "true or false"),
        ({"rules": [r("a", "=", 1), "and"]}, "/rules/1", "must be followed"),
        ({"rules": [r("a", "=", 1), r("b", "=", 1)]}, "/rules/1", "'and' or 'or' between"),
        (
            {"combinator": "and", "rules": [r("a", "=", 1), "or", r("b", "=", 1)]},
            "/combinator",
            "not both",
        ),
        (q(5), "/rules/0", "expected a rule or group"),
        ({"rules": ["nope"]}, "/rules/0", "expected a rule or group"),
    ],
)
def test_refusals_name_the_construct(query: Any, path: str, words: str) -> None:
    with pytest.raises(sk.RuleError) as info:
        from_querybuilder(query)
    assert any(p.path == path and words in p.message for p in info.value.errors), info.value.errors


def test_ignore_keys_option() -> None:
    rule = from_querybuilder(q(r("a", "=", 1, meta={"x": 1})), ignore_keys=["meta"])
    assert rule.to_dict()["rules"] == [{"field": "a", "operator": "eq", "value": 1}]


def test_schema_errors_point_into_the_query() -> None:
    query = {
        "rules": [
            r("age", "=", 1),
            "or",
            r("age", "=", 2),
            "and",
            r("age", "between", "9,x"),
            "and",
            r("agee", "=", 1),
        ]
    }
    with pytest.raises(sk.RuleError) as info:
        from_querybuilder(query, SCHEMA)
    assert [(p.path, p.message) for p in info.value.errors] == [
        (
            "/rules/4/value/1",
            "expected an integer, got 'x' (integers in text are ASCII digits with an optional sign)",
        ),
        ("/rules/6/field", "unknown field 'agee' (did you mean \"age\"?)"),
    ]


def test_empty_groups_keep_their_semantics() -> None:
    """An empty group is not widened to 1 = 1: 'and' is everyone, 'or' no one (SEMANTICS §2)."""
    assert members(from_querybuilder(q(combinator="or"))) == set()
    assert (
        members(from_querybuilder(q(r("age", ">", 0), q(combinator="or"), combinator="and")))
        == set()
    )
    with pytest.raises(sk.RuleError, match="empty 'or' group"):
        to_querybuilder(q(combinator="or"), independent_combinators=True)


def test_export() -> None:
    rule = {
        "combinator": "or",
        "rules": [
            {"field": "name", "operator": "eq", "value": "bob", "ignore_case": True},
            {"field": "signup_at", "operator": "in_last", "value": {"amount": 30, "unit": "days"}},
            {"field": "age", "operator": "in", "value": [{"field": "id"}]},
            {"field": "nick", "operator": "is_empty"},
        ],
    }
    assert to_querybuilder(rule) == {
        "combinator": "or",
        "rules": [
            {"field": "name", "operator": "=", "value": "bob", "ignoreCase": True},
            {"field": "signup_at", "operator": "in_last", "value": {"amount": 30, "unit": "days"}},
            {"field": "age", "operator": "in", "value": ["id"], "valueSource": "field"},
            {"field": "nick", "operator": "is_empty", "value": ""},
        ],
    }
    assert from_querybuilder(to_querybuilder(rule)) == sk.parse(rule)
    assert to_querybuilder({"field": "a", "operator": "eq", "value": 1}) == {
        "combinator": "and",
        "rules": [{"field": "a", "operator": "=", "value": 1}],
    }


@pytest.mark.parametrize(
    ("rule", "path", "words"),
    [
        ({"segment": "vip"}, "", "segment references"),
        ({"combinator": "and", "rules": [{"event": "buy"}]}, "/rules/0", "event conditions"),
        ({"field": "a", "operator": "in", "value": "a,b"}, "/value", "must be a list"),
        ({"field": "a", "operator": "in", "value": [1, {"field": "b"}]}, "/value", "mixing fields"),
        ({"field": "a", "operator": "is_null", "value": 1}, "/value", "takes no value"),
    ],
)
def test_export_refusals(rule: Any, path: str, words: str) -> None:
    with pytest.raises(sk.RuleError) as info:
        to_querybuilder(rule)
    assert any(p.path == path and words in p.message for p in info.value.errors), info.value.errors


def test_over_deep_input_is_a_rule_error() -> None:
    query: Any = r("a", "=", 1)
    for _ in range(10_000):
        query = q(query)
    with pytest.raises(sk.RuleError, match="nested deeper"):
        from_querybuilder(query)
    with pytest.raises(sk.RuleError):
        from_querybuilder(json.dumps(q(*[r("a", "=", i) for i in range(50_000)])))


def test_fields_configuration() -> None:
    schema = sk.Schema(
        [
            sk.Field("country", "string", label="Country", enum=("DE", "AT")),
            sk.Field("age", "integer", operators={"gte", "lt", "between"}),
            sk.Field("vip", "boolean"),
            sk.Field("signup_at", "datetime"),
        ]
    )
    fields = querybuilder_fields(schema)
    assert [f["name"] for f in fields] == ["country", "age", "vip", "signup_at"]
    country, age, vip, signup = fields
    assert country["label"] == "Country"
    assert country["valueEditorType"] == "select"
    assert country["values"] == [
        {"name": "DE", "value": "DE", "label": "DE"},
        {"name": "AT", "value": "AT", "label": "AT"},
    ]
    assert {"name": "beginsWith", "value": "beginsWith", "label": "begins with"} in country[
        "operators"
    ]
    assert {o["name"] for o in age["operators"]} == {">=", "<", "between"}
    assert age["inputType"] == "number"
    assert vip["valueEditorType"] == "checkbox"
    assert {"name": "is_true", "value": "is_true", "label": "is true", "arity": "unary"} in vip[
        "operators"
    ]
    assert signup["inputType"] == "datetime-local"
    assert "in_last" in {o["name"] for o in signup["operators"]}
    # every operator offered imports back
    for f in fields:
        for op in f["operators"]:
            value = "1,2" if op["name"] in ("between", "notBetween") else "1"
            from_querybuilder(q(r(f["name"], op["name"], value)))


# ------------------------------------------------------------ toArray (issue 11, item 2)
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([" 50% off"], ["50% off"]),
        (["a ", "\u00a0b\ufeff", "\t"], ["a", "b", ""]),  # array items: trimmed, kept
        ("x,,y", ["x", "y"]),
        (" x , \u3000 ,y,", ["x", "y"]),  # comma text: blank items dropped
        ("a\\,b, c", ["a,b", "c"]),
        ("", []),
        (" , ", []),
        (5, [5]),
    ],
)
def test_lists_read_as_react_querybuilders_to_array(value: Any, expected: list[Any]) -> None:
    rule = from_querybuilder({"combinator": "and", "rules": [r("name", "in", value)]})
    assert rule.rules[0].value == expected  # type: ignore[union-attr]


def test_js_trim_is_javascripts() -> None:
    from segmentkit.formats.querybuilder import js_trim

    # Python's strip() also strips U+001C..U+001F and U+0085 and keeps U+FEFF.
    assert js_trim("\x1cx\x85") == "\x1cx\x85"
    assert js_trim("\ufeffx\u2029") == "x"


@pytest.mark.parametrize("item", ["", " ", " a", "a\u00a0", "\ufeff"])
def test_export_refuses_list_items_read_back_differently(item: str) -> None:
    with pytest.raises(sk.RuleError, match="no react-querybuilder form") as info:
        to_querybuilder({"field": "name", "operator": "in", "value": ["x", item]})
    assert info.value.errors[0].path == "/value/1"


@given(st.lists(st.text(alphabet=" ,\\ab\u00a0\ufeff\t", max_size=6), min_size=1, max_size=4))
def test_export_then_import_gives_the_list_back(items: list[str]) -> None:
    """Property: a list either exports and imports back equal, or is refused on export."""
    rule = {"field": "name", "operator": "in", "value": items}
    try:
        exported = to_querybuilder(rule)
    except sk.RuleError:
        assert any(not i or i != i.strip(" \t\u00a0\ufeff") for i in items)
        return
    back = from_querybuilder(exported)
    assert back.rules[0].value == items  # type: ignore[union-attr]
