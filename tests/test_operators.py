"""Per-operator truth tables of SEMANTICS §3 on the Python evaluator (the reference)."""

from __future__ import annotations

import pytest

import segmentkit as sk

from .core_fixtures import RECORDS, members

ALL = {r["id"] for r in RECORDS}


def c(field: str, operator: str, value: object = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"field": field, "operator": operator}
    if value is not None:
        out["value"] = value
    out.update(extra)
    return out


CASES = [
    # equality: exact, case-sensitive; NULL is never equal and always "not equal"
    (c("country", "eq", "DE"), {1}),
    (c("country", "neq", "DE"), {2, 3, 4, 5}),
    (c("country", "eq", "de", ignore_case=True), {1, 4}),
    (c("country", "neq", "de", ignore_case=True), {2, 3, 5}),
    (c("country", "in", ["DE", "AT"]), {1, 2}),
    (c("country", "in", []), set()),
    (c("country", "not_in", []), ALL),
    (c("country", "not_in", ["DE", "AT"]), {3, 4, 5}),
    (c("country", "in", ["de", "fr"], ignore_case=True), {1, 4, 5}),
    # ordering
    (c("age", "gt", 17), {1, 4, 5}),
    (c("age", "gte", "17"), {1, 2, 4, 5}),
    (c("age", "lt", 18), {2}),
    (c("age", "lte", 30), {1, 2}),
    (c("age", "between", [17, 30]), {1, 2}),
    (c("age", "not_between", [17, 30]), {3, 4, 5}),
    (c("age", "eq", 2**63 - 1), {5}),
    (c("name", "lt", "a"), {1}),  # code point order: uppercase before lowercase
    (c("name", "gt", "z"), {4, 5}),  # "İ" and Greek sort after ASCII
    (c("score", "gte", 0), {1, 2, 5}),
    (c("ltv", "gt", "0"), {1, 4}),
    (c("ltv", "lt", 0), {5}),
    # strings: no wildcards
    (c("nick", "contains", "%"), {4}),
    (c("nick", "contains", "_"), {4}),
    (c("nick", "not_contains", "%"), {1, 2, 3, 5}),
    (c("nick", "ends_with", "\\"), {5}),
    (c("nick", "starts_with", "O'"), {5}),
    (c("name", "starts_with", "a", ignore_case=True), {1}),
    (c("name", "not_starts_with", "a", ignore_case=True), {2, 3, 4, 5}),
    (c("name", "contains", "σοφ", ignore_case=True), {5}),
    (c("name", "starts_with", "i", ignore_case=True), {4}),  # İ lowers to i (simple mapping)
    (c("name", "ends_with", "ΙΑ", ignore_case=True), {5}),
    (c("name", "not_ends_with", "ια", ignore_case=True), {1, 2, 3, 4}),
    # null / empty
    (c("nick", "is_null"), {3}),
    (c("nick", "is_not_null"), {1, 2, 4, 5}),
    (c("nick", "is_empty"), {1, 3}),  # '  ' is not empty
    (c("nick", "is_not_empty"), {2, 4, 5}),
    (c("tags", "is_empty"), {2, 3}),
    (c("tags", "is_not_empty"), {1, 4, 5}),
    # booleans: NULL is neither
    (c("vip", "is_true"), {1, 4}),
    (c("vip", "is_false"), {2, 5}),
    (c("vip", "eq", True), {1, 4}),
    (c("vip", "neq", True), {2, 3, 5}),
    # tags: exact and case-sensitive
    (c("tags", "has", "vip"), {1}),
    (c("tags", "has_any", ["vip", "press"]), {1, 4}),
    (c("tags", "has_all", ["vip", "news"]), {1}),
    (c("tags", "has_none", ["vip"]), {2, 3, 4, 5}),
    (c("tags", "has_any", []), set()),
    (c("tags", "has_none", []), ALL),
    # dates and datetimes
    (c("birthday", "before", "2000-01-01"), {1, 4}),
    (c("birthday", "after", "2000-01-01"), {2}),
    (c("birthday", "on", "2000-01-01"), {5}),
    (c("birthday", "not_on", "2000-01-01"), {1, 2, 3, 4}),
    (c("signup_at", "on", "2024-02-29"), {4}),
    (c("signup_at", "on", "today"), {5}),
    (c("signup_at", "on", "this_month"), {1, 5}),
    (c("signup_at", "on", "last_month"), {4}),
    (c("signup_at", "before", "this_month"), {2, 4}),
    (c("signup_at", "after", "2024-03-30"), {5}),
    (c("signup_at", "after", "2024-03-30T12:00:00Z"), {5}),
    (c("signup_at", "in_last", {"amount": 1, "unit": "days"}), {1, 5}),
    (
        c("signup_at", "in_last", {"amount": 1, "unit": "months"}),
        {1, 4, 5},
    ),  # Feb 29 (clamped) 12:00 .. now
    (c("signup_at", "not_in_last", {"amount": 1, "unit": "months"}), {2, 3}),
    (
        c("signup_at", "older_than", {"amount": 1, "unit": "years"}),
        set(),
    ),  # exactly one year ago is not older
    (c("signup_at", "older_than", {"amount": 11, "unit": "months"}), {2}),
    (c("signup_at", "in_next", {"amount": 1, "unit": "days"}), {5}),
    (c("birthday", "in_last", {"amount": 30, "unit": "years"}), {1, 2, 5}),
    # regex search in the portable subset
    (c("name", "matches", "^[A-Z]"), {1}),
    (c("name", "matches", "o"), {2}),
    (c("name", "not_matches", "o"), {1, 3, 4, 5}),
    # field to field
    (c("age", "gt", {"field": "score"}), {1, 2, 4, 5}),
    (c("name", "eq", {"field": "nick"}), set()),
    (c("name", "neq", {"field": "nick"}), ALL),
]


@pytest.mark.parametrize(
    ("rule", "expected"),
    CASES,
    ids=[f"{r['field']}-{r['operator']}-{i}" for i, (r, _) in enumerate(CASES)],
)
def test_truth_table(rule: dict[str, object], expected: set[int]) -> None:
    assert members(rule) == expected


@pytest.mark.parametrize(
    ("rule", "_expected"),
    CASES,
    ids=[f"{r['field']}-{r['operator']}-{i}" for i, (r, _) in enumerate(CASES)],
)
def test_negation_is_exact_complement(rule: dict[str, object], _expected: set[int]) -> None:
    negated = {"combinator": "and", "not": True, "rules": [rule]}
    assert members(negated) == ALL - members(rule)


def test_every_builtin_operator_has_a_truth_table_row() -> None:
    covered = {r["operator"] for r, _ in CASES}
    builtin = {name for name in sk.operators.names() if sk.operators.get(name).description}
    assert builtin - covered == set()


def test_empty_groups() -> None:
    assert members({"combinator": "and", "rules": []}) == ALL
    assert members({"combinator": "or", "rules": []}) == set()
    assert members({"combinator": "or", "not": True, "rules": []}) == ALL


def test_match_and_filter_agree_on_missing_keys_and_naive_datetimes() -> None:
    import datetime as dt

    schema = sk.Schema(
        [
            sk.Field("id", "integer"),
            sk.Field("at", "datetime", timezone="Europe/Berlin"),
            sk.Field("n", "integer"),
        ]
    )
    rule = {
        "rules": [
            {"field": "at", "operator": "before", "value": "2024-03-31T02:30:00+02:00"},
            {"field": "n", "operator": "lt", "value": 5},
        ]
    }
    m = sk.compile_python(rule, schema)
    rows = [
        {"id": 1, "at": dt.datetime(2024, 3, 31, 0, 15), "n": 1},  # naive: Berlin wall time
        {"id": 2, "at": dt.datetime(2024, 3, 31, 3, 15), "n": 1},  # after the switch to CEST
        {"id": 3, "n": 1},  # missing key is NULL
        {"id": 4, "at": dt.datetime(2024, 3, 30, 23, 0, tzinfo=dt.UTC), "n": None},
    ]
    assert [m(r) for r in rows] == [True, False, False, False]
    assert [r["id"] for r in m.filter(rows)] == [1]


def test_operator_reference_documents_every_operator_with_an_example() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "operators.md").read_text(
        encoding="utf-8"
    )
    for name in sk.operators.names():
        op = sk.operators.get(name)
        assert op.example is not None, name
        assert f"| `{name}`" in text, f"{name} missing from docs/operators.md"
