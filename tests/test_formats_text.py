"""The text form: every operator's phrase, errors with positions, limits, and a
structural round trip over a strategy that also draws segment references, event
conditions, plugin operators and awkward field names and values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import segmentkit as sk
from segmentkit.formats import parse_text, to_text
from segmentkit.formats.text import RESERVED

from .core_fixtures import NOW, RECORDS, SCHEMA


def members(rule: Any) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    return {r["id"] for r in match.filter(RECORDS)}


def test_the_issue_example() -> None:
    text = (
        "country in ('DE', 'AT') and (age >= 18 or vip is true) and not email ends with '@test.com'"
    )
    rule = parse_text(text)
    assert rule.to_dict() == {
        "combinator": "and",
        "rules": [
            {"field": "country", "operator": "in", "value": ["DE", "AT"]},
            {
                "combinator": "or",
                "rules": [
                    {"field": "age", "operator": "gte", "value": 18},
                    {"field": "vip", "operator": "is_true"},
                ],
            },
            {
                "combinator": "and",
                "not": True,
                "rules": [
                    {"field": "email", "operator": "ends_with", "value": "@test.com"},
                ],
            },
        ],
    }
    assert parse_text(str(rule)) == rule


@pytest.mark.parametrize(
    ("text", "operator", "value"),
    [
        ("x = 1", "eq", 1),
        ("x == 1", "eq", 1),
        ("x != 'a'", "neq", "a"),
        ("x <> 'a'", "neq", "a"),
        ("x < -2", "lt", -2),
        ("x <= 2.50", "lte", Decimal("2.50")),
        ("x > 1e3", "gt", Decimal("1E+3")),
        ("x >= 0", "gte", 0),
        ("x in ('a', 'b')", "in", ["a", "b"]),
        ("x not in ()", "not_in", []),
        ("x between 1 and 2", "between", [1, 2]),
        ("x not between 'a' and 'b'", "not_between", ["a", "b"]),
        ("x contains '%'", "contains", "%"),
        ("x not contains '_'", "not_contains", "_"),
        ("x starts with 'a'", "starts_with", "a"),
        ("x not starts with 'a'", "not_starts_with", "a"),
        ("x ends with 'a'", "ends_with", "a"),
        ("x not ends with 'a'", "not_ends_with", "a"),
        ("x is null", "is_null", None),
        ("x is not null", "is_not_null", None),
        ("x is empty", "is_empty", None),
        ("x is not empty", "is_not_empty", None),
        ("x is true", "is_true", None),
        ("x IS FALSE", "is_false", None),
        ("x before '2024-01-01'", "before", "2024-01-01"),
        ("x after 'last_month'", "after", "last_month"),
        ("x on 'today'", "on", "today"),
        ("x not on 'today'", "not_on", "today"),
        ("x in last 30 days", "in_last", {"amount": 30, "unit": "days"}),
        ("x not in last 2 weeks", "not_in_last", {"amount": 2, "unit": "weeks"}),
        ("x in next 1 months", "in_next", {"amount": 1, "unit": "months"}),
        ("x older than 6 months", "older_than", {"amount": 6, "unit": "months"}),
        ("x matches '^a.c$'", "matches", "^a.c$"),
        ("x not matches 'b'", "not_matches", "b"),
        ("x has 'vip'", "has", "vip"),
        ("x has any ('a')", "has_any", ["a"]),
        ("x has all ('a', 'b')", "has_all", ["a", "b"]),
        ("x has none ('a')", "has_none", ["a"]),
        ("x = y", "eq", {"field": "y"}),
        ('x = "the field"', "eq", {"field": "the field"}),
        ("x @divisible_by 3", "divisible_by", 3),
        ("x @is_weekend", "is_weekend", None),
        ("x = json '{\"a\": [1]}'", "eq", {"a": [1]}),
        ("x = null", "eq", None),
    ],
)
def test_every_operator_phrase(text: str, operator: str, value: Any) -> None:
    rule = parse_text(text)
    assert isinstance(rule, sk.Condition)
    assert (rule.field, rule.operator, rule.value) == ("x", operator, value)
    assert parse_text(to_text(rule)) == rule


def test_every_registered_operator_has_a_phrase() -> None:
    """Built-in operators print as words, not as the generic ``@name`` form."""
    for name in sk.operators.names():
        op = sk.operators.get(name)
        assert op is not None and op.example is not None
        text = to_text(op.example)
        assert f"@{name}" not in text, text
        assert parse_text(text) == sk.parse(op.example)


def test_ignoring_case_and_quoting() -> None:
    rule = parse_text("\"and\" = 'O''Brien' ignoring case")
    assert rule.to_dict() == {
        "field": "and",
        "operator": "eq",
        "value": "O'Brien",
        "ignore_case": True,
    }
    assert to_text(rule) == "\"and\" = 'O''Brien' ignoring case"
    for word in RESERVED:
        cond = sk.Condition(field=word, operator="eq", value={"field": word})
        assert parse_text(to_text(cond)) == cond


def test_segments_events_constants() -> None:
    text = (
        "in segment 'vip' or performed 'purchase' where (amount > 100 and currency = 'EUR') "
        "count >= 3 in last 30 days or not true or false"
    )
    rule = parse_text(text)
    assert rule.to_dict() == {
        "combinator": "or",
        "rules": [
            {"segment": "vip"},
            {
                "event": "purchase",
                "where": {
                    "combinator": "and",
                    "rules": [
                        {"field": "amount", "operator": "gt", "value": 100},
                        {"field": "currency", "operator": "eq", "value": "EUR"},
                    ],
                },
                "count": {"value": 3},
                "in_last": {"amount": 30, "unit": "days"},
            },
            {"combinator": "and", "not": True, "rules": []},
            {"combinator": "or", "rules": []},
        ],
    }
    assert to_text(rule) == text


def test_meaning_of_precedence() -> None:
    """AND binds tighter than OR; NOT applies to the following term only."""
    rule = parse_text("country = 'DE' or age > 60 and vip is true")
    assert members(rule) == {1, 4}
    rule = parse_text("not country = 'DE' and vip is true")
    assert members(rule) == {4}


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        ("age = 1; drop table contacts", "line 1, column 8", "no statements"),
        ("select * from contacts", "line 1, column 1", "expected a field name"),
        ("lower(name) = 'a'", "line 1, column 6", "expected an operator"),
        ("age = (select 1)", "line 1, column 8", "expected a value"),
        (
            "age >= 18 and\n  (vip is maybe)",
            "line 2, column 11",
            "'null', 'empty', 'true' or 'false'",
        ),
        ("age between 1 or 2", "line 1, column 15", "'and'"),
        ("x in last 3 fortnights", "line 1, column 13", "a unit"),
        ("x in last -3 days", "line 1, column 11", "a whole number"),
        ("age = ", "line 1, column 7", "expected a value"),
        ("(age = 1", "line 1, column 9", "')'"),
        ("age = 1)", "line 1, column 8", "the end of the rule"),
        ("x not is null", "line 1, column 7", "after 'not'"),
        ("x is not true", "line 1, column 10", "'null' or 'empty'"),
        ("", "line 1, column 1", "empty"),
    ],
)
def test_errors_point_at_the_position(text: str, where: str, words: str) -> None:
    with pytest.raises(sk.RuleError) as info:
        parse_text(text)
    message = str(info.value)
    assert where in message and words in message, message


def test_unterminated_string_is_a_rule_error() -> None:
    with pytest.raises(sk.RuleError, match="unterminated"):
        parse_text("name = 'abc")


def test_depth_limits_are_rule_errors() -> None:
    with pytest.raises(sk.RuleError, match="nested deeper"):
        parse_text("(" * 10_000 + "a = 1" + ")" * 10_000)
    with pytest.raises(sk.RuleError, match="nested deeper"):
        parse_text("not " * 10_000 + "a = 1")
    with pytest.raises(sk.RuleError, match="nested deeper"):
        parse_text("a in " + "(" * 10_000 + ")" * 10_000)
    deep: Any = sk.Condition(field="a", operator="eq", value=1)
    for _ in range(1_000):
        deep = sk.Group(rules=(deep,))
    with pytest.raises(sk.RuleError, match="nested deeper"):
        to_text(deep)


def test_long_values_and_lists() -> None:
    big = "x" * 1_000_000
    assert parse_text(to_text({"field": "a", "operator": "eq", "value": big})).value == big  # type: ignore[union-attr]
    many = list(range(100_000))
    assert parse_text(to_text({"field": "a", "operator": "in", "value": many})).value == many  # type: ignore[union-attr]


# --------------------------------------------------------------------------- round trip
_names = st.one_of(
    st.sampled_from(
        ["age", "country", "first name", "and", "Straße", 'quote"d', "a.b", "performed", "x1"]
    ),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=6),
)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8),
)
_values = st.one_of(
    _scalars,
    st.lists(_scalars, max_size=3),
    _names.map(lambda n: {"field": n}),
    st.dictionaries(
        st.text(max_size=3),
        st.none() | st.booleans() | st.integers() | st.text(max_size=3),
        max_size=2,
    ),
)
_ops = st.one_of(
    st.sampled_from(sorted(sk.operators.names())), st.from_regex(r"\A[a-z][a-z_0-9]{0,8}\Z")
)


@st.composite
def _condition(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {"field": draw(_names), "operator": draw(_ops)}
    value = draw(_values)
    if value is not None:
        out["value"] = value
    if draw(st.booleans()):
        out["ignore_case"] = True
    return out


def _group(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"combinator": st.sampled_from(["and", "or"]), "rules": st.lists(children, max_size=3)},
        optional={"not": st.booleans()},
    )


_leaf = st.one_of(
    _condition(),
    st.builds(lambda s: {"segment": s}, st.text(min_size=1, max_size=5)),
    st.builds(
        lambda e, c, d: {"event": e, "count": c, **({"in_last": d} if d else {})},
        st.text(min_size=1, max_size=5),
        st.fixed_dictionaries(
            {
                "operator": st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]),
                "value": st.integers(0, 10),
            }
        ),
        st.none()
        | st.fixed_dictionaries(
            {"amount": st.integers(0, 99), "unit": st.sampled_from(["days", "hours"])}
        ),
    ),
)
TREES = st.recursive(_leaf, _group, max_leaves=8)


def _normal(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _normal(v) for k, v in node.items()}
        if "rules" in out:
            out.setdefault("combinator", "and")
            if len(out["rules"]) == 1:
                out["combinator"] = "and"
        return out
    if isinstance(node, list | tuple):
        return [_normal(v) for v in node]
    if isinstance(node, float):
        return Decimal(repr(node))
    if isinstance(node, Decimal):
        return node.normalize() if node else Decimal(0)
    return node


@given(TREES)
def test_structural_round_trip(tree: dict[str, Any]) -> None:
    rule = sk.parse(tree)
    back = parse_text(to_text(rule))
    dump = lambda r: _normal(r.model_dump(by_alias=True, exclude_defaults=True))  # noqa: E731
    assert dump(back) == dump(rule)
