"""Schema construction: from SQLAlchemy tables and directly."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import segmentkit as sk


def test_from_table_maps_column_types() -> None:
    md = sa.MetaData()
    contacts = sa.Table(
        "contacts",
        md,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("name", sa.String(50), comment="Full name"),
        sa.Column("bio", sa.Text),
        sa.Column("plan", sa.Enum("free", "pro", name="plan")),
        sa.Column("age", sa.Integer),
        sa.Column("ltv", sa.Numeric(10, 2)),
        sa.Column("ratio", sa.Numeric(10, 2, asdecimal=False)),
        sa.Column("score", sa.Float),
        sa.Column("vip", sa.Boolean),
        sa.Column("born", sa.Date),
        sa.Column("seen_at", sa.DateTime),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
        sa.Column("labels", postgresql.ARRAY(sa.Text)),
        sa.Column("tags", sa.JSON),
        sa.Column("avatar", sa.LargeBinary),
    )
    interests = sa.Table(
        "interests", md, sa.Column("contact_id", sa.BigInteger), sa.Column("tag", sa.Text)
    )
    schema = sk.Schema.from_table(
        contacts, tags={"interests": sk.ChildTable.from_table(interests, "contact_id", "tag")}
    )
    types = {f.name: f.type.value for f in schema}
    assert types == {
        "id": "integer",
        "name": "string",
        "bio": "string",
        "plan": "string",
        "age": "integer",
        "ltv": "decimal",
        "ratio": "float",
        "score": "float",
        "vip": "boolean",
        "born": "date",
        "seen_at": "datetime",
        "paid_at": "datetime",
        "labels": "tags",
        "tags": "tags",
        "interests": "tags",
    }
    assert schema.key == "id" and schema.table == "contacts" and schema.sa_table is contacts
    assert schema["plan"].enum == ("free", "pro")
    assert schema["name"].label == "Full name"
    assert schema["seen_at"].naive and not schema["paid_at"].naive
    assert schema["labels"].tags is sk.TagStorage.ARRAY
    assert schema["tags"].tags is sk.TagStorage.JSON
    assert isinstance(schema["interests"].tags, sk.ChildTable)
    assert "avatar" not in schema


def test_from_table_needs_a_single_key() -> None:
    t = sa.Table("t", sa.MetaData(), sa.Column("a", sa.Integer), sa.Column("b", sa.Integer))
    with pytest.raises(ValueError, match="primary key"):
        sk.Schema.from_table(t)
    assert sk.Schema.from_table(t, key="a").key == "a"


def test_overrides_exclude_and_zone() -> None:
    t = sa.Table(
        "t",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("secret", sa.String),
        sa.Column("country", sa.String),
    )
    schema = sk.Schema.from_table(
        t,
        exclude=["secret"],
        timezone="Europe/Berlin",
        overrides={
            "country": sk.Field("country", "string", label="Country", operators={"eq", "in"})
        },
    )
    assert "secret" not in schema
    assert schema["country"].operators == frozenset({"eq", "in"})
    assert str(schema.zone) == "Europe/Berlin"
    with pytest.raises(sk.RuleError, match="unknown field"):
        sk.bind({"field": "secret", "operator": "is_null"}, schema)


def test_direct_schema_validation() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        sk.Schema([sk.Field("a", "string"), sk.Field("a", "integer")])
    with pytest.raises(ValueError):
        sk.Field("a", "text")  # not a field type
    with pytest.raises(ValueError, match="time zone"):
        sk.Field("a", "datetime", timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="time zone"):
        sk.Schema([], timezone="Nowhere")


def test_field_identity_keys_caches() -> None:
    assert hash(sk.Field("a", "string")) == hash(sk.Field("a", "string"))
    assert sk.Field("a", "string") != sk.Field("a", "string", column="b")
