"""Hypothesis strategies for segmentkit rules and records, for your own tests.

``rules(schema)`` draws valid native rule dicts for a schema (every registered
built-in operator that applies to a field, with values of the right shape);
``records(schema)`` draws adversarial records (NULLs, empty strings, ``%``/``_``,
quotes, backslashes, non-ASCII cased letters, int64 edges, month ends, DST days).

    from hypothesis import given
    from segmentkit.testing import rules, records

    @given(rules(schema), records(schema))
    def test_my_thing(rule, record): ...
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from . import operators as ops
from .schema import Field, Schema
from .timeutil import PERIODS
from .types import INT64_MAX, INT64_MIN, FieldType

__all__ = ["ADVERSARIAL_STRINGS", "NOW", "records", "rules", "values"]

NOW = dt.datetime(
    2024, 3, 31, 1, 30, tzinfo=dt.UTC
)  # a month end, the night of a DST change in Europe

ADVERSARIAL_STRINGS = [
    "",
    " ",
    "  ",
    "a",
    "A",
    "ab",
    "abc",
    "Abc",
    "ABC",
    "a ",
    " a",
    "%",
    "_",
    "%_",
    "a%b",
    "a_b",
    "'",
    "''",
    '"',
    "\\",
    "\\%",
    "a\\_b",
    "O'Brien",
    "x'; DROP TABLE contacts; --",
    "Straße",
    "STRASSE",
    "İstanbul",
    "istanbul",
    "ΣΑΣ",
    "σας",
    "ς",
    "Ärger",
    "ärger",
    "e\u0301",
    "\u00e9",
    "日本",
    "ǅ",
    "ǆ",
    "Ǆ",
    "ſ",
    "K",
    "\u212a",
    "@test.com",
    "a@TEST.com",
    "b@test.co",
]
_STR_ALPHABET = st.sampled_from(
    ["a", "A", "b", "%", "_", "'", "\\", " ", "İ", "i", "Σ", "σ", "ς", "ß", "é", "\u0301", "@"]
)
ADVERSARIAL_INTS = [0, 1, -1, 17, 18, 65, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1]
ADVERSARIAL_DATES = [
    dt.date(2024, 1, 31),
    dt.date(2024, 2, 28),
    dt.date(2024, 2, 29),
    dt.date(2024, 3, 1),
    dt.date(2024, 3, 30),
    dt.date(2024, 3, 31),
    dt.date(2024, 4, 1),
    dt.date(2023, 12, 31),
    dt.date(2024, 10, 27),
    dt.date(1970, 1, 1),
]
ADVERSARIAL_DATETIMES = [
    dt.datetime(2024, 3, 31, 0, 59, 59, tzinfo=dt.UTC),
    dt.datetime(2024, 3, 31, 1, 0, tzinfo=dt.UTC),
    dt.datetime(2024, 3, 31, 1, 30, tzinfo=dt.UTC),
    dt.datetime(2024, 3, 30, 23, 0, tzinfo=dt.UTC),
    dt.datetime(2024, 3, 1, 0, 0, tzinfo=dt.UTC),
    dt.datetime(2024, 2, 29, 12, 0, tzinfo=dt.UTC),
    dt.datetime(2024, 2, 29, 1, 30, tzinfo=dt.UTC),
    dt.datetime(2024, 10, 27, 0, 30, tzinfo=dt.UTC),
    dt.datetime(2024, 10, 27, 1, 30, tzinfo=dt.UTC),
    dt.datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
    dt.datetime(2024, 4, 1, 1, 30, tzinfo=dt.UTC),
]
TAG_POOL = ["vip", "VIP", "news", "press", "a b", "%", "'", "\u00e9", "e\u0301"]


def values(f: Field) -> st.SearchStrategy[Any]:
    """Non-NULL values of a field's type, biased towards edge cases."""
    match f.type:
        case FieldType.STRING:
            if f.enum:
                return st.sampled_from(list(f.enum))
            return st.one_of(
                st.sampled_from(ADVERSARIAL_STRINGS), st.text(_STR_ALPHABET, max_size=4)
            )
        case FieldType.INTEGER:
            return st.one_of(st.sampled_from(ADVERSARIAL_INTS), st.integers(-100, 100))
        case FieldType.DECIMAL:
            return st.one_of(
                st.sampled_from(
                    [
                        Decimal("0"),
                        Decimal("0.01"),
                        Decimal("-0.01"),
                        Decimal("99.99"),
                        Decimal("100"),
                    ]
                ),
                st.decimals(
                    min_value=-1000, max_value=1000, places=2, allow_nan=False, allow_infinity=False
                ),
            )
        case FieldType.FLOAT:
            return st.sampled_from([0.0, -0.0, 0.5, 1.0, -1.5, 1e-9, 1e15, 2.5, 100.25])
        case FieldType.BOOLEAN:
            return st.booleans()
        case FieldType.DATE:
            return st.one_of(
                st.sampled_from(ADVERSARIAL_DATES),
                st.dates(dt.date(2023, 12, 1), dt.date(2024, 5, 1)),
            )
        case FieldType.DATETIME:
            return st.one_of(
                st.sampled_from(ADVERSARIAL_DATETIMES),
                st.datetimes(
                    dt.datetime(2024, 1, 1), dt.datetime(2024, 5, 1), timezones=st.just(dt.UTC)
                ),
            )
        case FieldType.TAGS:
            return st.sampled_from(TAG_POOL)
    raise AssertionError(f.type)  # pragma: no cover


def _json_value(f: Field, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _condition(schema: Schema, fields: list[Field]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def draw_condition(draw: st.DrawFn) -> dict[str, Any]:
        f = draw(st.sampled_from(fields))
        candidates = [
            o
            for o in ops.names()
            if (op := ops.get(o)) is not None
            and f.type in op.types
            and (f.operators is None or o in f.operators)
            and o in ops.BUILTINS
        ]
        name = draw(st.sampled_from(sorted(candidates)))
        op = ops.get(name)
        assert op is not None
        cond: dict[str, Any] = {"field": f.name, "operator": name}
        kind = op.value
        val = values(f).map(lambda v: _json_value(f, v))
        if kind == "scalar":
            same = [g for g in fields if g.type == f.type and g.name != f.name]
            if op.field_value and same and draw(st.integers(0, 4)) == 0:
                cond["value"] = {"field": draw(st.sampled_from(same)).name}
            else:
                cond["value"] = draw(val)
        elif kind in ("list", "tags"):
            cond["value"] = draw(st.lists(val, min_size=1 if op.nonempty else 0, max_size=4))
        elif kind == "range":
            a, b = draw(values(f)), draw(values(f))
            if isinstance(a, str):  # order as bind will see them: NFC-normalised
                a, b = unicodedata.normalize("NFC", a), unicodedata.normalize("NFC", b)
            lo, hi = (a, b) if a <= b else (b, a)
            cond["value"] = [_json_value(f, lo), _json_value(f, hi)]
        elif kind == "needle":
            cond["value"] = draw(
                st.sampled_from([s for s in ADVERSARIAL_STRINGS if s])
                | st.text(_STR_ALPHABET, min_size=1, max_size=3)
            )
        elif kind == "tag":
            cond["value"] = draw(val)
        elif kind == "pattern":
            cond["value"] = draw(
                st.sampled_from(
                    [
                        "a",
                        "^a",
                        "b$",
                        "a.c",
                        "^[a-c]+$",
                        "(ab|ba)",
                        "x?y*",
                        "[%_]",
                        "é",
                        "^$",
                        "a{2,3}",
                    ]
                )
            )
        elif kind == "duration":
            units = (
                ["days", "weeks", "months", "years"]
                if f.type is FieldType.DATE
                else ["minutes", "hours", "days", "weeks", "months", "years"]
            )
            cond["value"] = {
                "amount": draw(st.integers(0, 40)),
                "unit": draw(st.sampled_from(units)),
            }
        elif kind == "moment":
            cond["value"] = draw(
                st.one_of(
                    st.sampled_from(PERIODS),
                    st.sampled_from(ADVERSARIAL_DATES).map(dt.date.isoformat),
                )
            )
        if op.ignore_case and f.type is FieldType.STRING and draw(st.booleans()):
            cond["ignore_case"] = True
        return cond

    return draw_condition()


def rules(
    schema: Schema, *, max_depth: int = 3, max_leaves: int = 12
) -> st.SearchStrategy[dict[str, Any]]:
    """Valid native rule dicts over ``schema`` (groups with ``not``, empty groups included)."""
    fields = list(schema)
    leaf = _condition(schema, fields)

    def group(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        return st.builds(
            lambda combinator, neg, items: {"combinator": combinator, "not": neg, "rules": items},
            st.sampled_from(["and", "or"]),
            st.booleans(),
            st.lists(children, max_size=4),
        )

    return st.recursive(leaf, group, max_leaves=max_leaves).filter(
        lambda r: _depth(r) <= max_depth + 1
    )


def _depth(rule: dict[str, Any]) -> int:
    if "rules" not in rule:
        return 1
    return 1 + max((_depth(r) for r in rule["rules"]), default=0)


def records(schema: Schema, *, null_probability: float = 0.2) -> st.SearchStrategy[dict[str, Any]]:
    """Records (dicts keyed by field name) with adversarial values and NULLs."""

    def field_value(f: Field) -> st.SearchStrategy[Any]:
        base = st.frozensets(values(f), max_size=3) if f.type is FieldType.TAGS else values(f)
        return st.one_of(st.none(), base) if null_probability else base

    return st.fixed_dictionaries({f.name: field_value(f) for f in schema})
