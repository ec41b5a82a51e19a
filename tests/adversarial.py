"""Curated adversarial contacts and their schema, shared by every backend's tests.

The data is fixed and small (one row per adversarial string, other columns cycled
with co-prime strides so values meet in many combinations), so each differential
example is fast. Values follow DESIGN.md's reliability targets: NULL, ``''``,
``'  '``, ``%``, ``_``, quotes, backslashes, non-ASCII cased letters (dotted I, the three sigmas,
sharp s, titlecase digraphs, the Kelvin sign), NFC vs NFD, trailing spaces, int64 edges, decimal edges, floats, booleans, month
ends, the leap day, DST-transition instants, and tag sets incl. empty and NULL.

Storage notes (each is documented in docs/backends.md):

* ``seen`` is a *naive* datetime read as wall time in Europe/Berlin. Wall time cannot
  represent the repeated hour of the autumn DST change, so ``seen`` holds no instant
  from that hour (``at``, stored aware, does).
* SQLite stores NUMERIC as 8-byte floats: decimals with more than 15 significant digits
  are rounded when stored. :data:`EXACT_FLOAT_DECIMALS` are the ones that survive.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from segmentkit.schema import ChildTable, Field, Schema, TagStorage
from segmentkit.types import INT64_MAX, INT64_MIN, FieldType

UTC = dt.UTC
ZONE = "Europe/Berlin"
NOW = dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # a month end, the night of the spring DST change

STRINGS: list[str | None] = [
    None,
    "",
    " ",
    "  ",
    "a",
    "A",
    "a ",
    " a",
    "ab",
    "abc",
    "Abc",
    "ABC",
    "b",
    "B",
    "z",
    "%",
    "_",
    "%_",
    "a%b",
    "a_b",
    "a%",
    "_a",
    "'",
    "''",
    '"',
    "\\",
    "\\%",
    "a\\_b",
    "\\\\",
    "O'Brien",
    "x'; DROP TABLE contacts; --",
    "1 OR 1=1",
    "Straße",
    "STRASSE",
    "strasse",
    "ß",
    "ẞ",
    "İstanbul",
    "istanbul",
    "ISTANBUL",
    "ı",
    "ΣΑΣ",
    "σας",
    "Σ",
    "σ",
    "ς",
    "Ärger",
    "ärger",
    "e\u0301",
    "\u00e9",
    "É",
    "café",
    "cafe\u0301",
    "日本",
    "ǅ",
    "ǆ",
    "Ǆ",
    "ſ",
    "s",
    "S",
    "K",
    "\u212a",
    "k",
    "\U0001f600",
    "\U0001f600a",
    "\uffff",
    "\U0010ffff",
    "@test.com",
    "a@TEST.com",
    "b@test.co",
    "ﬃ",
    "ΐ",
    "\t",
    "a\nb",
    "Ⅻ",
    "ⅻ",
    "Ꭰ",
    "ꭰ",
    "𐐀",
    "𐐨",
]

INTS: list[int | None] = [
    None,
    0,
    1,
    -1,
    17,
    18,
    65,
    INT64_MIN,
    INT64_MAX,
    INT64_MIN + 1,
    INT64_MAX - 1,
    2**31,
    -(2**31) - 1,
    2**53 + 1,
    100,
]

# Decimals that fit NUMERIC(38, 10) and round-trip through an 8-byte float.
EXACT_FLOAT_DECIMALS: list[Decimal] = [
    Decimal("0"),
    Decimal("0.1"),
    Decimal("-0.1"),
    Decimal("0.01"),
    Decimal("99.99"),
    Decimal("100"),
    Decimal("100.00"),
    Decimal("-100"),
    Decimal("0.0000000001"),
    Decimal("123456789012345"),
    Decimal("1.5"),
    Decimal("2.5"),
    Decimal("-2.5"),
]
# ... and those an 8-byte float cannot hold (more than 15 significant digits).
WIDE_DECIMALS: list[Decimal] = [
    Decimal("12345678901234567.89"),
    Decimal("12345678901234567.88"),
    Decimal("9999999999999999999999999999.9999999999"),
    Decimal("-9999999999999999999999999999.9999999999"),
    Decimal("1234567890123456.7"),
    Decimal("0.1234567890123456"[:12]) + Decimal("1E+17"),
]
DECIMALS: list[Decimal | None] = [None, *EXACT_FLOAT_DECIMALS, *WIDE_DECIMALS]

FLOATS: list[float | None] = [
    None,
    0.0,
    -0.0,
    0.5,
    1.0,
    -1.5,
    1e-9,
    1e15,
    2.5,
    100.25,
    0.1,
    0.30000000000000004,
    1e300,
    -1e-300,
]

BOOLS: list[bool | None] = [None, True, False]

DATES: list[dt.date | None] = [
    None,
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
    dt.date(2024, 4, 30),
    dt.date(2023, 2, 28),
    dt.date(2024, 3, 24),
    dt.date(2024, 3, 25),
    dt.date(1, 1, 1),
    dt.date(9999, 12, 31),
]

# Instants around both 2024 Europe/Berlin DST changes (31 Mar 01:00Z, 27 Oct 01:00Z),
# month ends, the leap day, local midnights and microseconds.
INSTANTS: list[dt.datetime] = [
    dt.datetime(2024, 3, 31, 0, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2024, 3, 31, 1, 0, tzinfo=UTC),
    dt.datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
    dt.datetime(2024, 3, 30, 23, 0, tzinfo=UTC),  # local midnight of 31 Mar
    dt.datetime(2024, 3, 30, 22, 59, 59, tzinfo=UTC),
    dt.datetime(2024, 3, 31, 22, 0, tzinfo=UTC),  # local midnight of 1 Apr (CEST)
    dt.datetime(2024, 2, 29, 23, 0, tzinfo=UTC),  # local midnight of 1 Mar
    dt.datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
    dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
    dt.datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC),
    dt.datetime(2024, 4, 1, 1, 30, tzinfo=UTC),
    dt.datetime(2024, 3, 1, 1, 30, tzinfo=UTC),  # exactly one month before NOW
    dt.datetime(2024, 3, 24, 1, 30, tzinfo=UTC),  # exactly one week before NOW
    dt.datetime(2024, 3, 30, 1, 30, tzinfo=UTC),  # exactly one day before NOW (but 23 wall hours)
    dt.datetime(2024, 10, 26, 22, 0, tzinfo=UTC),  # local midnight of 27 Oct
    dt.datetime(2024, 10, 27, 23, 0, tzinfo=UTC),  # local midnight of 28 Oct (CET)
    dt.datetime(2024, 10, 27, 2, 0, tzinfo=UTC),
]
# The repeated wall-clock hour of the autumn change: distinct instants, one wall time.
FOLD_INSTANTS: list[dt.datetime] = [
    dt.datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
    dt.datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
    dt.datetime(2024, 10, 27, 1, 0, tzinfo=UTC),
]
AWARE: list[dt.datetime | None] = [None, *INSTANTS, *FOLD_INSTANTS]
NAIVE_BERLIN: list[dt.datetime | None] = [None, *INSTANTS]

TAGS: list[frozenset[str] | None] = [
    None,
    frozenset(),
    frozenset({"vip"}),
    frozenset({"VIP"}),
    frozenset({"vip", "news"}),
    frozenset({"a b"}),
    frozenset({"%"}),
    frozenset({"'"}),
    frozenset({"\u00e9"}),
    frozenset({"e\u0301"}),
    frozenset({"vip "}),
    frozenset({"press", "news", "%", "_"}),
    frozenset({""}),
    frozenset({"\\"}),
    frozenset({"ß", "ss"}),
]
# Tags stored as JSON arrays may hold what is not a string; tags are strings, matched
# type-exactly (SEMANTICS §3): 1, true and null never match "1", "true" and "null".
JSON_TAGS: list[list[Any] | None] = [None if t is None else sorted(t) for t in TAGS] + [
    [1],
    ["1"],
    [1.5],
    [True],
    [None],
    [[1]],
    [{"a": "1"}],
    ["1", 1],
    [False, "vip"],
    ["null"],
    ["true"],
    [["vip"]],
]
TAG_VALUES = sorted(
    {t for s in TAGS if s for t in s} | {"nope", "Vip", "1", "1.5", "true", "null", "false"}
)

# Child-table tags: a contact with no rows has no tags (NULL), never an empty set.
CHILD_TAGS: list[frozenset[str] | None] = [t for t in TAGS if t != frozenset()]


def _cycle(values: list[Any], i: int, stride: int) -> Any:
    return values[(i * stride) % len(values)]


def _other_string(i: int) -> str | None:
    """``t``: often a head or tail of ``s`` (field-to-field starts_with/ends_with/contains
    need pairs that match), else another adversarial string."""
    s = STRINGS[i % len(STRINGS)]
    if s is not None and i % 4 == 1:
        return s[: len(s) // 2]
    if s is not None and i % 4 == 2:
        return s[len(s) // 2 :]
    return _cycle(STRINGS, i, 7)


def make_rows() -> list[dict[str, Any]]:
    """The canonical rows, keyed by field name (plus ``id``)."""
    rows: list[dict[str, Any]] = []
    n = max(len(STRINGS), 90)
    for i in range(n):
        rows.append(
            {
                "id": i + 1,
                "s": STRINGS[i % len(STRINGS)],
                "t": _other_string(i),
                "n": _cycle(INTS, i, 1),
                "m": _cycle(INTS, i, 4),
                "d": _cycle(DECIMALS, i, 1),
                "f": _cycle(FLOATS, i, 1),
                "g": _cycle(FLOATS, i, 3),
                "b": _cycle(BOOLS, i, 1),
                "day": _cycle(DATES, i, 1),
                "day2": _cycle(DATES, i, 5),
                "at": _cycle(AWARE, i, 1),
                "seen": _cycle(NAIVE_BERLIN, i, 3),
                "tags": _cycle(TAGS, i, 1),
                "jtags": _cycle(JSON_TAGS, i, 4),
                "ctags": _cycle(CHILD_TAGS, i, 2),
            }
        )
    return rows


ROWS = make_rows()
ALL_IDS = frozenset(r["id"] for r in ROWS)


def make_schema(tags_storage: TagStorage, child: ChildTable | None = None) -> Schema:
    """The logical schema; ``tags`` uses the engine's native storage, ``jtags`` JSON."""
    child = child or ChildTable("contact_tags", "contact_id", "tag")
    return Schema(
        [
            Field("s", FieldType.STRING),
            Field("t", FieldType.STRING),
            Field("n", FieldType.INTEGER),
            Field("m", FieldType.INTEGER),
            Field("d", FieldType.DECIMAL),
            Field("f", FieldType.FLOAT),
            Field("g", FieldType.FLOAT),
            Field("b", FieldType.BOOLEAN),
            Field("day", FieldType.DATE),
            Field("day2", FieldType.DATE),
            Field("at", FieldType.DATETIME, naive=False),
            Field("seen", FieldType.DATETIME),
            Field("tags", FieldType.TAGS, tags=tags_storage),
            Field("jtags", FieldType.TAGS, tags=TagStorage.JSON),
            Field("ctags", FieldType.TAGS, tags=child),
        ],
        table="contacts",
        key="id",
        timezone=ZONE,
    )


# Per field: values a rule may compare with (the data's own values plus near misses).
def rule_values(field: str) -> list[Any]:
    pools: dict[str, list[Any]] = {
        "s": [v for v in STRINGS if v is not None]
        + ["c", "ab ", "Ab", "straße", "İSTANBUL", "σ ", "日"],
        "n": [v for v in INTS if v is not None] + [2, -2, 99],
        "d": [*EXACT_FLOAT_DECIMALS, *WIDE_DECIMALS, Decimal("0.05"), Decimal("99.98")],
        "f": [v for v in FLOATS if v is not None] + [0.25, 3.0],
        "b": [True, False],
        "day": [v for v in DATES if v is not None] + [dt.date(2024, 3, 2)],
        "at": [*INSTANTS, *FOLD_INSTANTS, dt.datetime(2024, 3, 31, 1, 0, 0, 1, tzinfo=UTC)],
        "seen": [*INSTANTS, dt.datetime(2024, 3, 31, 0, 0, tzinfo=UTC)],
        "tags": TAG_VALUES,
    }
    aliases = {"t": "s", "m": "n", "g": "f", "day2": "day", "jtags": "tags", "ctags": "tags"}
    return pools[aliases.get(field, field)]
