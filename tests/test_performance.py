"""Performance config (errors with JSON pointers), periods (DST, weeks from Monday,
months, quarters), the Python engine on a worked example, charts and the CLI."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from segmentkit.errors import RuleError
from segmentkit.performance import python as py
from segmentkit.performance.config import Grain, load_config
from segmentkit.performance.periods import period_containing, periods_between
from segmentkit.store import create_all, make_tables

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=BERLIN).astimezone(dt.UTC)  # type: ignore[misc]


# ----------------------------------------------------------------------- config
def _paths(source: object) -> list[str]:
    with pytest.raises(RuleError) as info:
        load_config(source)
    return [p.path for p in info.value.errors]


def test_config_defaults_and_selected_metrics() -> None:
    cfg = load_config('{"grain": "week", "timezone": "Europe/Berlin"}')
    assert cfg.grain is Grain.WEEK and cfg.name == "default"
    assert cfg.selected == ("members_start", "members_end", "added", "removed", "exposed")
    full = load_config(
        {
            "activity": {"table": "events", "key": "contact_id", "time": "at"},
            "conversions": {
                "table": "orders",
                "key": "contact_id",
                "time": "at",
                "revenue": "total",
            },
            "campaigns": {"table": "sends", "campaign": "id", "segment": "segment", "time": "sent"},
        }
    )
    assert len(full.selected) == 11 and full.revenue_scale == 2
    assert load_config(full) is full
    assert (
        full.fingerprint()
        != load_config({**full.model_dump(), "timezone": "Europe/Paris"}).fingerprint()
    )


def test_config_errors_carry_json_pointers() -> None:
    assert _paths({"grain": "year"}) == ["/grain"]
    assert _paths({"timezone": "Mars/Olympus"}) == ["/timezone"]
    assert _paths({"activity": {"table": "e", "key": "k"}}) == ["/activity/time"]
    assert _paths({"conversions": {"table": "o", "key": "k", "time": "t", "revenu": "x"}}) == [
        "/conversions/revenu"
    ]
    assert _paths({"metrics": ["members_end", "revenue", "campaigns"]}) == [
        "/metrics/1",
        "/metrics/2",
    ]
    assert _paths({"metrics": ["size"]}) == ["/metrics/0"]
    assert _paths({"activity": {"table": "e", "key": "k", "time": "t", "events": ["open"]}}) == [
        "/activity"
    ]
    assert _paths({"final_after": -1, "nme": "x"}) == ["/final_after", "/nme"]
    with pytest.raises(RuleError, match="performance config"):
        load_config("{not json")
    with pytest.raises(RuleError, match="JSON object"):
        load_config("[1]")


# ---------------------------------------------------------------------- periods
def test_berlin_days_around_dst() -> None:
    march = period_containing(berlin(2026, 3, 29, 12), "day", "Europe/Berlin")
    assert (march.start, march.end) == (berlin(2026, 3, 29), berlin(2026, 3, 30))
    assert march.duration == dt.timedelta(hours=23)
    october = period_containing(berlin(2026, 10, 25, 12), "day", BERLIN)
    assert october.duration == dt.timedelta(hours=25)
    assert berlin(2026, 3, 29) in march and berlin(2026, 3, 30) not in march


def test_weeks_start_on_monday_months_and_quarters() -> None:
    week = period_containing(berlin(2026, 4, 2), Grain.WEEK, BERLIN)
    assert week.label == dt.date(2026, 3, 30) and week.label.weekday() == 0
    months = periods_between(berlin(2025, 11, 15), berlin(2026, 3, 2), "month", BERLIN)
    assert [p.label for p in months] == [
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 1),
        dt.date(2026, 1, 1),
        dt.date(2026, 2, 1),
        dt.date(2026, 3, 1),
    ]
    assert all(a.end == b.start for a, b in itertools.pairwise(months))
    quarters = periods_between(berlin(2026, 2, 1), berlin(2026, 12, 31), "quarter", BERLIN)
    assert [p.label.month for p in quarters] == [1, 4, 7, 10]
    assert quarters[0].start == berlin(2026, 1, 1)
    assert periods_between(berlin(2026, 2, 1), berlin(2026, 2, 1), "day", BERLIN) == []
    with pytest.raises(ValueError, match="naive"):
        period_containing(dt.datetime(2026, 1, 1), "day", BERLIN)


def test_a_zone_whose_midnight_is_skipped() -> None:
    # Santiago skipped 00:00-01:00 local on 2026-09-06: that day starts at 01:00.
    zone = ZoneInfo("America/Santiago")
    day = period_containing(dt.datetime(2026, 9, 6, 12, tzinfo=zone), "day", zone)
    assert day.label == dt.date(2026, 9, 6)
    assert day.duration == dt.timedelta(hours=23)
    assert day.start.astimezone(zone).hour == 1


# ---------------------------------------------------------------- python engine
def _change(i: int, seg: str, key: int, change: str, at: dt.datetime) -> SimpleNamespace:
    return SimpleNamespace(id=i, segment_id=seg, key=key, change=change, at=at)


def test_leave_and_rejoin_within_one_day() -> None:
    history = [
        _change(1, "vip", 7, "added", berlin(2026, 3, 2, 9)),
        _change(2, "vip", 7, "removed", berlin(2026, 3, 3, 10)),
        _change(3, "vip", 7, "added", berlin(2026, 3, 3, 15)),
    ]
    orders = [
        py.Conversion(7, berlin(2026, 3, 3, 12), Decimal("50.00")),  # not a member then
        py.Conversion(7, berlin(2026, 3, 3, 16), Decimal("20.00")),
        py.Conversion(7, berlin(2026, 3, 3, 17), Decimal("5.50")),
    ]
    cfg = load_config(
        {
            "timezone": "Europe/Berlin",
            "conversions": {"table": "o", "key": "k", "time": "t", "revenue": "r"},
        }
    )
    day = period_containing(berlin(2026, 3, 3, 12), "day", BERLIN)
    (row,) = py.compute(cfg, [day], ["vip"], history, conversions=orders)
    assert (row.members_start, row.members_end, row.added, row.removed) == (1, 1, 1, 1)
    assert (row.exposed, row.conversions, row.converting) == (1, 2, 1)
    assert row.conversion_rate == 1.0 and row.revenue == Decimal("25.50")
    intervals = py.intervals_from_history(history)
    assert [(iv.start, iv.end) for iv in intervals] == [
        (berlin(2026, 3, 2, 9), berlin(2026, 3, 3, 10)),
        (berlin(2026, 3, 3, 15), None),
    ]


# ------------------------------------------------------------------- charts, CLI
@pytest.fixture
def store_db(tmp_path: Path) -> tuple[str, Path]:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    tables = make_tables()
    create_all(engine, tables)
    with engine.begin() as conn:
        conn.execute(
            tables.history.insert(),
            [
                {
                    "segment_id": seg,
                    "contact_key": k,
                    "change": "added",
                    "reason": "rule",
                    "run_id": None,
                    "at": berlin(2026, 3, d, 9),
                }
                for seg, n in (("vip", 3), ("newsletter", 6))
                for k in range(n)
                for d in [1 + k]
            ],
        )
    engine.dispose()
    config = tmp_path / "perf.json"
    config.write_text(json.dumps({"timezone": "Europe/Berlin"}))
    return url, config


def test_chart_png_svg_and_notebook_display(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from segmentkit.performance.chart import chart

    history = [_change(i, "vip", i, "added", berlin(2026, 3, 1 + i, 9)) for i in range(4)]
    cfg = load_config({"timezone": "Europe/Berlin"})
    rows = py.compute(
        cfg,
        periods_between(berlin(2026, 3, 1), berlin(2026, 3, 8), "day", BERLIN),
        ["vip"],
        history,
    )
    c = chart(rows, title="VIP")
    assert c._repr_png_().startswith(b"\x89PNG\r\n\x1a\n")
    assert "<svg" in c._repr_svg_()
    assert c.save(tmp_path / "c.svg").read_text().count("<svg") == 1
    assert c.save(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match=r"\.png or \.svg"):
        c.save(tmp_path / "c.jpg")
    with pytest.raises(ValueError, match="no performance rows"):
        chart(rows, ["other"])


def test_cli_refresh_show_chart(store_db: tuple[str, Path], tmp_path: Path) -> None:
    from segmentkit.performance.cli import performance

    url, config = store_db
    runner = CliRunner()
    now = "2026-03-08T12:00:00+01:00"
    got = runner.invoke(
        performance, ["refresh", "--db", url, "--config", str(config), "--now", now]
    )
    assert got.exit_code == 0, got.output
    assert "8 period(s)" in got.output and "2 segment(s)" in got.output
    assert "16 row(s) written" in got.output
    again = runner.invoke(
        performance, ["refresh", "--db", url, "--config", str(config), "--now", now]
    )
    assert "1 period(s)" in again.output and "0 row(s) written" in again.output

    shown = runner.invoke(performance, ["show", "--db", url, "-s", "vip", "--format", "json"])
    assert shown.exit_code == 0
    rows = [json.loads(line) for line in shown.output.splitlines()]
    assert [r["members_end"] for r in rows] == [1, 2, 3, 3, 3, 3, 3, 3]
    table = runner.invoke(performance, ["show", "--db", url, "-s", "vip"])
    assert table.output.splitlines()[0].split()[:3] == ["segment_id", "label", "members_start"]
    csv_out = runner.invoke(performance, ["show", "--db", url, "--format", "csv"])
    assert len(csv_out.output.splitlines()) == 17

    if pytest.importorskip("matplotlib"):
        out = tmp_path / "size.png"
        drawn = runner.invoke(
            performance, ["chart", "--db", url, "-s", "vip", "-s", "newsletter", "--out", str(out)]
        )
        assert drawn.exit_code == 0, drawn.output
        assert out.read_bytes()[:4] == b"\x89PNG"
    bad = runner.invoke(performance, ["chart", "--db", url, "--out", str(tmp_path / "x.gif")])
    assert bad.exit_code == 2
    none = runner.invoke(
        performance, ["chart", "--db", url, "-s", "nope", "--out", str(tmp_path / "x.png")]
    )
    assert none.exit_code == 1 and "no stored performance rows" in none.output


def test_cli_config_error_exit_code(tmp_path: Path, store_db: tuple[str, Path]) -> None:
    from segmentkit.performance.cli import performance

    url, _ = store_db
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"grain": "fortnight"}))
    got = CliRunner().invoke(performance, ["refresh", "--db", url, "--config", str(bad)])
    assert got.exit_code == 1 and "/grain" in got.output
