"""Hypothesis round trips through every interop format.

rule -> format -> rule must be identical in meaning (the same members of a fixed small
record set and of drawn adversarial records, by the Python evaluator) and, where the
format can carry it, identical in structure. Where an exporter refuses a rule, the
RuleError must name the construct; an importer never returns a wider segment.
"""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import segmentkit as sk
from segmentkit.formats import (
    from_jquery,
    from_jsonlogic,
    from_querybuilder,
    from_rows,
    parse_text,
    to_jquery,
    to_jsonlogic,
    to_querybuilder,
    to_rows,
    to_text,
)
from segmentkit.formats.querybuilder import js_trim
from segmentkit.testing import NOW, records, rules

from .core_fixtures import RECORDS, SCHEMA

ROWS = st.lists(records(SCHEMA), min_size=1, max_size=8)


def members(rule: Any, rows: list[dict[str, Any]]) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=NOW)
    return {i for i, row in enumerate(rows) if match(row)}


def valid(rule: Any) -> Any:
    """The parsed rule; examples the library itself refuses are not round-trip cases.

    (``segmentkit.testing.rules`` can draw a range that NFC normalisation reverses,
    e.g. ['a', KELVIN SIGN]: bind rightly refuses it.)
    """
    native = sk.parse(rule)
    try:
        sk.bind(native, SCHEMA, now=NOW)
    except sk.RuleError:
        assume(False)
    return native


def same_meaning(a: Any, b: Any, rows: list[dict[str, Any]]) -> None:
    for data in (RECORDS, rows):
        assert members(b, data) == members(a, data)


def normal(node: Any) -> Any:
    """Structure modulo what a format legitimately normalises: numbers compare by value
    (text reads decimals exactly), an ``or`` of one rule is an ``and`` of one."""
    if isinstance(node, dict):
        out = {k: normal(v) for k, v in node.items() if k != "id"}
        if "rules" in out:
            out.setdefault("combinator", "and")
            if len(out["rules"]) == 1:
                out["combinator"] = "and"
        return out
    if isinstance(node, list | tuple):
        return [normal(v) for v in node]
    if isinstance(node, float):
        return Decimal(repr(node))
    return node


def structure(rule: Any) -> Any:
    return normal(rule.model_dump(by_alias=True, exclude_defaults=True))


def as_group(rule: sk.Rule) -> sk.Group:
    return rule if isinstance(rule, sk.Group) else sk.Group(rules=(rule,))


def via_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


# --------------------------------------------------------------------------- text
@given(rules(SCHEMA), ROWS)
def test_text_round_trip(rule: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    native = valid(rule)
    text = to_text(native)
    back = parse_text(text)
    assert structure(back) == structure(native), text
    same_meaning(native, back, rows)
    assert str(native) == text


# --------------------------------------------------------------------------- react-querybuilder
@given(rules(SCHEMA), ROWS, st.booleans())
def test_querybuilder_round_trip(
    rule: dict[str, Any], rows: list[dict[str, Any]], ic: bool
) -> None:
    native = valid(rule)
    if ic and _has_empty_or(rule):
        with pytest.raises(sk.RuleError, match="empty 'or' group"):
            to_querybuilder(native, independent_combinators=ic)
        return
    if _has_untrimmed_list_item(rule):
        # react-querybuilder would read such an item back trimmed (or drop it).
        with pytest.raises(sk.RuleError, match="no react-querybuilder form"):
            to_querybuilder(native, independent_combinators=ic)
        return
    exported = via_json(to_querybuilder(native, independent_combinators=ic))
    back = from_querybuilder(exported, SCHEMA)
    if ic:
        assert structure(back) == structure(as_group(native))
    else:
        assert back == as_group(native)
    same_meaning(native, back, rows)


def _has_untrimmed_list_item(rule: dict[str, Any]) -> bool:
    return any(
        isinstance(item, str) and (not item or js_trim(item) != item)
        for c in _conditions(rule)
        if isinstance(c.get("value"), list)
        for item in c["value"]
    )


def _has_empty_or(node: dict[str, Any]) -> bool:
    if "rules" not in node:
        return False
    if node.get("combinator") == "or" and not node["rules"]:
        return True
    return any(_has_empty_or(child) for child in node["rules"])


# --------------------------------------------------------------------------- jQuery QueryBuilder
def _has_field_ref(node: Any) -> bool:
    if isinstance(node, dict):
        if set(node) == {"field"}:
            return True
        return any(_has_field_ref(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_field_ref(v) for v in node)
    return False


@given(rules(SCHEMA), ROWS)
def test_jquery_round_trip(rule: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    native = valid(rule)
    if any(_has_field_ref(c.get("value")) for c in _conditions(rule)):
        with pytest.raises(sk.RuleError, match="field-to-field"):
            to_jquery(native)
        return
    back = from_jquery(via_json(to_jquery(native, SCHEMA)), SCHEMA)
    assert back == as_group(native)
    same_meaning(native, back, rows)


def _conditions(rule: dict[str, Any]) -> list[dict[str, Any]]:
    if "rules" in rule:
        return [c for child in rule["rules"] for c in _conditions(child)]
    return [rule]


# --------------------------------------------------------------------------- JsonLogic
_NO_JSONLOGIC = {
    "matches": "regular expressions",
    "not_matches": "regular expressions",
    "starts_with": "startsWith",
    "not_starts_with": "startsWith",
    "ends_with": "endsWith",
    "not_ends_with": "endsWith",
    **dict.fromkeys(
        ["before", "after", "on", "not_on", "in_last", "not_in_last", "in_next", "older_than"],
        "no dates and no clock",
    ),
}


def _jsonlogic_refusal(cond: dict[str, Any]) -> str | None:
    if cond.get("ignore_case"):
        return "case-insensitive"
    if cond["operator"] in _NO_JSONLOGIC:
        return _NO_JSONLOGIC[cond["operator"]]
    values = cond.get("value")
    values = values if isinstance(values, list) else [values]
    for v in values:
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53 - 1:
            return "2\\*\\*53"
        if isinstance(v, str) and cond["field"] == "ltv":
            d = Decimal(v)
            if Decimal(repr(float(d))) != d and d != d.to_integral_value():
                return "exact JavaScript number"
    return None


@given(rules(SCHEMA), ROWS)
def test_jsonlogic_round_trip(rule: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    native = valid(rule)
    reasons = [r for c in _conditions(rule) if (r := _jsonlogic_refusal(c)) is not None]
    if reasons:
        with pytest.raises(sk.RuleError, match=reasons[0]):
            to_jsonlogic(native, SCHEMA)
        return
    exported = via_json(to_jsonlogic(native, SCHEMA))
    back = from_jsonlogic(exported, SCHEMA)
    same_meaning(native, back, rows)
    # and once more: the second trip is a fixed point in structure
    assert from_jsonlogic(via_json(to_jsonlogic(back, SCHEMA)), SCHEMA) == back


# --------------------------------------------------------------------------- flat rows
@given(rules(SCHEMA), ROWS)
def test_rows_round_trip_or_refusal(rule: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    native = valid(rule)
    try:
        flat = to_rows(native)
    except sk.RuleError as exc:
        assert any(word in str(exc) for word in ("negated group", "empty group", "OR of ANDs")), (
            str(exc)
        )
        return
    back = from_rows(via_json(flat), SCHEMA)
    same_meaning(native, back, rows)
    assert to_rows(back) == flat


@st.composite
def _dnf_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    terms = draw(
        st.lists(
            st.lists(
                rules(SCHEMA, max_depth=0).filter(lambda r: "field" in r), min_size=1, max_size=3
            ),
            min_size=1,
            max_size=3,
        )
    )
    out = []
    for t, term in enumerate(terms):
        for k, cond in enumerate(term):
            row = {
                "field": cond["field"],
                "operator": cond["operator"],
                "value": cond.get("value"),
                "logical_operator": "OR" if t and not k else "AND",
            }
            if cond.get("ignore_case"):
                row["ignore_case"] = True
            out.append(row)
    for n, row in enumerate(out):
        row["order"] = n
    return out


@given(_dnf_rows(), ROWS)
def test_rows_are_or_of_ands(flat: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    rule = from_rows(flat, SCHEMA)
    assert to_rows(rule) == flat
    # the meaning is the OR of the AND-chains, evaluated row by row
    chains: list[list[dict[str, Any]]] = [[]]
    for row in flat:
        if row["logical_operator"] == "OR" and chains[-1]:
            chains.append([])
        cond = {
            k: row[k]
            for k in ("field", "operator", "value", "ignore_case")
            if row.get(k) is not None
        }
        chains[-1].append(cond)
    for data in (RECORDS, rows):
        expected: set[int] = set()
        for chain in chains:
            hit = set(range(len(data)))
            for cond in chain:
                hit &= members(cond, data)
            expected |= hit
        assert members(rule, data) == expected


def test_exporters_refuse_over_deep_trees_built_in_code() -> None:
    deep: Any = sk.Condition(field="age", operator="eq", value=1)
    for _ in range(5_000):
        deep = sk.Group(rules=(deep,))
    for export in (to_text, to_querybuilder, to_jquery, to_jsonlogic, to_rows):
        with pytest.raises(sk.RuleError, match="nested deeper"):
            export(deep)


# --------------------------------------------------------------------------- garbage in
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.sampled_from(["and", "or", "=", "in", "between", "var", "", "rules", "field"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "combinator",
                    "rules",
                    "field",
                    "operator",
                    "value",
                    "not",
                    "condition",
                    "valueSource",
                    "disabled",
                    "id",
                    "var",
                    "==",
                    "<",
                    "!",
                    "and",
                    "or",
                    "in",
                    "some",
                    "logical_operator",
                    "order",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@given(_json)
def test_importers_give_a_rule_or_a_rule_error(data: Any) -> None:
    """Nothing but a RuleError escapes an importer, whatever it is fed."""
    for importer in (from_querybuilder, from_jquery, from_jsonlogic):
        for schema in (None, SCHEMA):
            with contextlib.suppress(sk.RuleError):
                importer(data, schema)
    rows = data if isinstance(data, list) else [data]
    with contextlib.suppress(sk.RuleError):
        from_rows(rows, SCHEMA)


_TEXT_PIECES = [
    *"ab ='()-,;@\"1.\n",
    "and ",
    "or ",
    "not ",
    "in ",
    "is ",
    "null",
    "between ",
    "last ",
]


@given(st.lists(st.sampled_from(_TEXT_PIECES), max_size=20).map("".join))
def test_text_gives_a_rule_or_a_rule_error(text: str) -> None:
    with contextlib.suppress(sk.RuleError):
        parse_text(text)
