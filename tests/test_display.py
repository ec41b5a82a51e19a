"""Notebook display: short plain reprs, HTML that escapes every user string, SQL side by
side, and a page of reprs rendered by headless Chromium."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

import segmentkit as sk
from segmentkit import display
from segmentkit.store import Store
from segmentkit.store.reading import Run

NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
EVIL_FIELD = "<script>alert('field')</script>"
EVIL_VALUE = '</pre><script>alert("value")</script>&amp;'


@pytest.fixture
def schema() -> sk.Schema:
    return sk.Schema(
        [
            sk.Field("id", "integer"),
            sk.Field("country", "string", label="<b>Country</b>"),
            sk.Field("age", "integer"),
            sk.Field(EVIL_FIELD, "string", enum=("a", EVIL_VALUE)),
            sk.Field("signup_at", "datetime"),
        ],
        timezone="Europe/Berlin",
    )


@pytest.fixture
def rule() -> sk.Group:
    group = sk.parse(
        {
            "combinator": "and",
            "rules": [
                {"field": "country", "operator": "in", "value": ["DE", "AT"]},
                {
                    "combinator": "or",
                    "not": True,
                    "rules": [
                        {"field": "age", "operator": "lt", "value": 18},
                        {"field": EVIL_FIELD, "operator": "eq", "value": EVIL_VALUE},
                    ],
                },
                {
                    "field": "signup_at",
                    "operator": "in_last",
                    "value": {"amount": 30, "unit": "days"},
                },
            ],
        }
    )
    assert isinstance(group, sk.Group)
    return group


def assert_escaped(html: str) -> None:
    assert "<script" not in html.lower()
    assert "</pre><script" not in html
    assert "&lt;script&gt;" in html


# ------------------------------------------------------------------ plain reprs
def test_rule_repr_is_the_text_form(rule: sk.Group) -> None:
    short = sk.parse({"field": "age", "operator": "gte", "value": 18})
    assert repr(short) == "<Condition: age >= 18>"
    text = repr(rule)
    assert text.startswith("<Group: country in ('DE', 'AT') and not (age < 18")
    assert len(text) <= 140 and text.endswith("…>")


def test_rule_tree(rule: sk.Group) -> None:
    assert display.rule_tree(rule).splitlines() == [
        "ALL of:",
        "  - country in ('DE', 'AT')",
        "  NOT ANY of:",
        "    - age < 18",
        f"    - \"{EVIL_FIELD}\" = '{EVIL_VALUE}'",
        "  - signup_at in last 30 days",
    ]
    assert display.rule_tree(sk.parse({"combinator": "or", "rules": []})).splitlines() == [
        "ANY of:",
        "  (nothing: false)",
    ]


def test_short_reprs(rule: sk.Group, schema: sk.Schema) -> None:
    bound = sk.bind(rule, schema, now=NOW)
    assert (
        repr(bound) == "<BoundRule on 'contacts' as of 2026-11-24 12:00 UTC: And of 5>"
    )  # not-or and in_last flattened
    segment = sk.Segment(id="dach", rule=rule, member_count=12345)
    assert repr(segment).startswith("<Segment 'dach' dynamic active, 12,345 members: country in")
    run = Run(7, "dach", NOW, NOW, NOW, "h", 25, 3, 513, "succeeded", None)
    assert repr(run) == "<Run 7 'dach' succeeded as of 2026-11-24 12:00 UTC: +25 -3 = 513>"
    assert "datetime.datetime" not in repr(run)


# ------------------------------------------------------------------ HTML escapes
def test_html_escapes_every_user_string(rule: sk.Group, schema: sk.Schema) -> None:
    bound = sk.bind(rule, schema, now=NOW)
    segment = sk.Segment(id="<i>id</i>", name=EVIL_VALUE, description=EVIL_FIELD, rule=rule)
    run = Run(1, "<b>seg</b>", NOW, NOW, None, None, 0, 0, None, "failed", EVIL_VALUE)
    pages = [
        rule._repr_html_(),
        bound._repr_html_(),
        schema._repr_html_(),
        segment._repr_html_(),
        run._repr_html_(),
        display.runs_html([run]),
        sk.diff([EVIL_VALUE, "x"], ["x", EVIL_FIELD])._repr_html_(),
        sk.show_sql(rule, schema, ["postgres", "sqlite"], now=NOW)._repr_html_(),
        sk.show_sql(rule, schema, ["mysql"], now=NOW, inline=True)._repr_html_(),
    ]
    for html in pages:
        assert_escaped(html)
    assert "&lt;b&gt;Country&lt;/b&gt;" in pages[2]
    assert "&lt;i&gt;id&lt;/i&gt;" in pages[3] and "&lt;b&gt;seg&lt;/b&gt;" in pages[4]


# ------------------------------------------------------------------ SQL side by side
def test_show_sql_dialects_side_by_side(rule: sk.Group, schema: sk.Schema) -> None:
    view = sk.show_sql(rule, schema, ["postgres", "sqlite", "bigquery"], now=NOW)
    assert list(view.sql) == ["postgres", "sqlite", "bigquery"]
    for dialect, text in view.sql.items():
        assert text == sk.to_sql(rule, schema, dialect, NOW, select=True).text
    html = view._repr_html_()
    assert html.count("flex:1 1 280px") == 3
    assert "<span style=" in html  # pygments highlighting
    plain = repr(view)
    assert "-- postgres\nSELECT" in plain and "-- bigquery\nSELECT" in plain


def test_show_sql_reports_unsupported_per_dialect(schema: sk.Schema) -> None:
    tags = sk.Schema([sk.Field("id", "integer"), sk.Field("tags", "tags", tags="array")])
    view = sk.show_sql(
        {"field": "tags", "operator": "has", "value": "x"}, tags, ["postgres", "sqlite"]
    )
    assert list(view.sql) == ["postgres"]
    assert "not supported on sqlite" in view.errors["sqlite"]
    assert "not supported on sqlite" in view._repr_html_()
    with pytest.raises(sk.RuleError):
        sk.show_sql({"field": "nope", "operator": "eq", "value": 1}, schema)


# ------------------------------------------------------------------ the store
def test_store_repr_and_html(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    contacts = sa.Table(
        "contacts",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
    )
    contacts.create(engine)
    with engine.begin() as conn:
        conn.execute(contacts.insert(), [{"id": 1, "name": EVIL_VALUE}, {"id": 2, "name": "b"}])
    store = Store(engine, sk.Schema.from_table(contacts))
    store.create_all()
    assert repr(store) == f"<Store sqlite:///{tmp_path / 'crm.db'}>"
    assert "no segments" in store._repr_html_()
    store.create(
        {
            "id": "evil",
            "name": EVIL_FIELD,
            "rule": {"field": "name", "operator": "eq", "value": EVIL_VALUE},
        }
    )
    run = store.recalculate("evil", now=NOW)
    assert repr(run).endswith("+1 -0 = 1>")
    html = store._repr_html_()
    assert_escaped(html)
    assert "evil" in html and ">1<" in html
    assert repr(store.get("evil")).startswith("<Segment 'evil' dynamic active, 1 members")
    engine.dispose()


def test_store_repr_hides_the_password_and_html_survives_a_dead_server() -> None:
    engine = sa.create_engine("postgresql+psycopg://user:s3cret@127.0.0.1:1/db")
    store = Store(engine)
    assert "s3cret" not in repr(store) and "***" in repr(store)
    html = store._repr_html_()  # the listing fails; the repr says why instead of raising
    assert "OperationalError" in html and "s3cret" not in html
    engine.dispose()


# ------------------------------------------------------------------ what people see
def _png_pixels_vary(path: Path) -> bool:
    """True when the PNG's decoded rows hold more than a couple of distinct byte values."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    return len(set(raw[:2_000_000])) > 16


def test_reprs_render_in_headless_chromium(
    tmp_path: Path, rule: sk.Group, schema: sk.Schema
) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        reason = "chromium is not installed (Debian packages chromium, chromium-driver)"
        if os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1":
            pytest.fail(f"{reason} (SEGMENTKIT_REQUIRE_BACKENDS=1)")
        pytest.skip(reason)
    parts = [
        rule._repr_html_(),
        schema._repr_html_(),
        sk.show_sql(rule, schema, ["postgres", "mysql", "sqlite"], now=NOW)._repr_html_(),
        sk.Segment(id="dach", name="DACH", rule=rule, member_count=42)._repr_html_(),
        display.runs_html([Run(1, "dach", NOW, NOW, NOW, "h", 25, 3, 513, "succeeded", None)]),
    ]
    page = tmp_path / "page.html"
    page.write_text(
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>"
        + "<br>".join(parts)
        + "<script>document.title = 'script ran'</script></body></html>",
        encoding="utf-8",
    )
    shot = tmp_path / "page.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1000,1400",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
    assert _png_pixels_vary(shot)
