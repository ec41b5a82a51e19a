"""frame_members: rules over pandas, polars and Arrow through DuckDB agree with the Python
evaluator over the same rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

import segmentkit as sk
from segmentkit.frames import field_of_duckdb_type, schema_of_frame

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")
pa = pytest.importorskip("pyarrow")
duckdb = pytest.importorskip("duckdb")

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)

ROWS: list[dict[str, Any]] = [
    {"id": 1, "country": "DE", "age": 30, "email": "ann@GMAIL.com", "vip": True,
     "seen": dt.datetime(2026, 11, 20, 8), "tags": ["press"]},
    {"id": 2, "country": "AT", "age": 17, "email": None, "vip": False,
     "seen": dt.datetime(2026, 1, 1), "tags": []},
    {"id": 3, "country": None, "age": None, "email": "50%_off@x.org", "vip": None,
     "seen": None, "tags": None},
    {"id": 4, "country": "de", "age": 64, "email": "İsmail@web.de", "vip": True,
     "seen": dt.datetime(2026, 11, 24, 11, 59), "tags": ["vip", "partner"]},
    {"id": 5, "country": "CH", "age": 45, "email": "o'neil@example.org", "vip": False,
     "seen": dt.datetime(2026, 10, 1), "tags": ["beta"]},
]  # fmt: skip

RULES: list[Any] = [
    {"field": "country", "operator": "in", "value": ["DE", "AT"]},
    {"field": "country", "operator": "not_in", "value": ["DE", "AT"]},
    {"field": "age", "operator": "between", "value": [18, 64]},
    {"field": "email", "operator": "ends_with", "value": "@gmail.com", "ignore_case": True},
    {"field": "email", "operator": "contains", "value": "%_"},
    {"field": "email", "operator": "starts_with", "value": "i̇s", "ignore_case": True},
    {"field": "vip", "operator": "is_true"},
    {"field": "seen", "operator": "in_last", "value": {"amount": 7, "unit": "days"}},
    {"field": "seen", "operator": "is_null"},
    {"field": "tags", "operator": "has_any", "value": ["vip", "press"]},
    {"field": "tags", "operator": "is_empty"},
    "not (age >= 18 and vip is true) or country = 'CH'",
]

SCHEMA = sk.Schema(
    [
        sk.Field("id", "integer"),
        sk.Field("country", "string"),
        sk.Field("age", "integer"),
        sk.Field("email", "string"),
        sk.Field("vip", "boolean"),
        sk.Field("seen", "datetime"),
        sk.Field("tags", "tags", tags="array"),
    ]
)


def _rule(rule: Any) -> Any:
    return sk.parse_text(rule) if isinstance(rule, str) else rule


def frames() -> dict[str, Any]:
    df = pd.DataFrame(ROWS)
    df["age"] = df["age"].astype("Int64")
    return {
        "pandas": df,
        "polars": pl.DataFrame(ROWS),
        "arrow": pa.Table.from_pylist(ROWS),
    }


@pytest.mark.parametrize("kind", ["pandas", "polars", "arrow"])
@pytest.mark.parametrize("rule", RULES, ids=[str(i) for i in range(len(RULES))])
def test_frame_members_agree_with_the_python_evaluator(kind: str, rule: Any) -> None:
    rule = _rule(rule)
    frame = frames()[kind]
    expected = [r["id"] for r in sk.compile_python(rule, SCHEMA, now=NOW).filter(ROWS)]
    got = sk.frame_members(rule, frame, SCHEMA, now=NOW)
    assert sorted(got.keys) == expected
    assert got.count == len(expected)
    inferred = sk.frame_members(rule, frame, now=NOW)  # schema from the frame's types
    assert sorted(inferred.keys) == expected


def test_inferred_schema() -> None:
    for kind, frame in frames().items():
        schema = schema_of_frame(frame)
        types = {f.name: f.type.value for f in schema}
        age = "integer"
        assert types == {
            "id": "integer",
            "country": "string",
            "age": age,
            "email": "string",
            "vip": "boolean",
            "seen": "datetime",
            "tags": "tags",
        }, kind
        assert schema.key == "id"
    assert field_of_duckdb_type("x", "DECIMAL(12,2)").type.value == "decimal"  # type: ignore[union-attr]
    assert field_of_duckdb_type("x", "TIMESTAMP WITH TIME ZONE").naive is False  # type: ignore[union-attr]
    assert field_of_duckdb_type("x", "STRUCT(a INTEGER)") is None


def test_preview_keeps_the_frame_kind_and_order() -> None:
    got = sk.frame_members(
        {"field": "age", "operator": "gte", "value": 18}, frames()["pandas"], limit=2
    )
    assert isinstance(got.preview, pd.DataFrame)
    assert got.preview["id"].tolist() == [1, 4]
    got = sk.frame_members(
        {"field": "age", "operator": "gte", "value": 18}, frames()["polars"], limit=2
    )
    assert isinstance(got.preview, pl.DataFrame) and got.preview["id"].to_list() == [1, 4]
    got = sk.frame_members(
        {"field": "age", "operator": "gte", "value": 18}, frames()["arrow"], limit=0
    )
    assert isinstance(got.preview, pa.Table) and got.preview.num_rows == 0 and got.count == 3


def test_preview_rows_are_whole_rows_of_the_frame() -> None:
    rule = {"field": "vip", "operator": "is_true"}  # reads one column; the preview has all
    for kind, frame in frames().items():
        got = sk.frame_members(rule, frame, SCHEMA, now=NOW, limit=5)
        columns = got.preview.column_names if kind == "arrow" else list(got.preview.columns)
        assert columns == list(ROWS[0]), kind
        ids = got.preview["id"].to_pylist() if kind == "arrow" else list(got.preview["id"])
        assert ids == [1, 4], kind
    got = sk.frame_members(rule, frames()["polars"], limit=5)
    assert got.preview.height == 2 and got.preview["email"].to_list() == [
        "ann@GMAIL.com",
        "İsmail@web.de",
    ]
    none = sk.frame_members("age > 1000", frames()["polars"])
    assert (
        none.count == 0 and none.preview.height == 0 and list(none.preview.columns) == list(ROWS[0])
    )


def test_schema_mapping_and_key() -> None:
    frame = pd.DataFrame(
        {"contact": [10, 20], "Land": ["DE", "FR"], "amount": [Decimal("1.50"), None]}
    )
    schema = sk.Schema(
        [
            sk.Field("contact", "integer"),
            sk.Field("country", "string", column="Land"),
            sk.Field("amount", "decimal"),
        ],
        key="contact",
    )
    got = sk.frame_members("country = 'DE' or amount > 1", frame, schema, now=NOW)
    assert got.keys == [10]
    got = sk.frame_members("amount is null", frame, key="contact")
    assert got.keys == [20]
    with pytest.raises(sk.RuleError, match="no column 'nope'"):
        sk.frame_members("Land = 'DE'", frame, key="nope")
    with pytest.raises(sk.RuleError, match="no key column 'id'"):
        sk.frame_members("country = 'DE'", frame, sk.Schema(list(schema)))


def test_errors() -> None:
    frame = frames()["pandas"]
    with pytest.raises(sk.RuleError, match='did you mean "country"'):
        sk.frame_members({"field": "contry", "operator": "eq", "value": "DE"}, frame)
    with pytest.raises(TypeError, match="pandas or polars DataFrames and Arrow tables"):
        sk.frame_members("age > 1", ROWS)


def test_a_given_connection_is_left_clean() -> None:
    con = duckdb.connect()
    got = sk.frame_members("age > 18", frames()["arrow"], connection=con)
    assert got.count == 3
    names = [
        r[0]
        for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
    ]
    assert not any(n.startswith("sk_frame") for n in names)
    con.close()


def test_repr_and_html_escape() -> None:
    frame = pd.DataFrame({"id": [1], "name": ["<script>alert(1)</script>"]})
    got = sk.frame_members("name is not null", frame)
    assert repr(got) == "<FrameMembers 1 members: 1>"
    html = got._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
