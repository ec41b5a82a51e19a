"""A small schema and records shared by the core (Python evaluator) tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import segmentkit as sk

NOW = dt.datetime(2024, 3, 31, 12, 0, tzinfo=dt.UTC)

SCHEMA = sk.Schema(
    [
        sk.Field("id", "integer"),
        sk.Field("name", "string"),
        sk.Field("nick", "string"),
        sk.Field("country", "string"),
        sk.Field("age", "integer"),
        sk.Field("score", "float"),
        sk.Field("ltv", "decimal"),
        sk.Field("vip", "boolean"),
        sk.Field("birthday", "date"),
        sk.Field("signup_at", "datetime"),
        sk.Field("tags", "tags"),
    ],
    key="id",
)

RECORDS = [
    {
        "id": 1,
        "name": "Anna",
        "nick": "",
        "country": "DE",
        "age": 30,
        "score": 1.5,
        "ltv": Decimal("10.50"),
        "vip": True,
        "birthday": dt.date(1994, 3, 31),
        "signup_at": dt.datetime(2024, 3, 30, 12, tzinfo=dt.UTC),
        "tags": frozenset({"vip", "news"}),
    },
    {
        "id": 2,
        "name": "bob",
        "nick": "  ",
        "country": "AT",
        "age": 17,
        "score": 0.0,
        "ltv": Decimal("0"),
        "vip": False,
        "birthday": dt.date(2007, 2, 28),
        "signup_at": dt.datetime(2023, 3, 31, 12, tzinfo=dt.UTC),
        "tags": frozenset(),
    },
    {
        "id": 3,
        "name": None,
        "nick": None,
        "country": None,
        "age": None,
        "score": None,
        "ltv": None,
        "vip": None,
        "birthday": None,
        "signup_at": None,
        "tags": None,
    },
    {
        "id": 4,
        "name": "İris",
        "nick": "50%_off",
        "country": "de",
        "age": 65,
        "score": -2.5,
        "ltv": Decimal("99.99"),
        "vip": True,
        "birthday": dt.date(1959, 2, 28),
        "signup_at": dt.datetime(2024, 2, 29, 23, 59, tzinfo=dt.UTC),
        "tags": frozenset({"press"}),
    },
    {
        "id": 5,
        "name": "ΣΟΦΙΑ",
        "nick": "O'Brien\\",
        "country": "FR",
        "age": 2**63 - 1,
        "score": 100.0,
        "ltv": Decimal("-0.01"),
        "vip": False,
        "birthday": dt.date(2000, 1, 1),
        "signup_at": dt.datetime(2024, 3, 31, 12, tzinfo=dt.UTC),
        "tags": frozenset({"VIP"}),
    },
]


def members(
    rule: object, records: list[dict[str, object]] = RECORDS, now: dt.datetime = NOW
) -> set[int]:
    match = sk.compile_python(rule, SCHEMA, now=now)
    return {r["id"] for r in match.filter(records)}  # type: ignore[misc]
