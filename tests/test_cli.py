"""The segmentkit command: the demo and the rule utilities."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentkit.cli import DEMO_SEGMENTS, main


def test_demo_runs_and_agrees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--contacts", "3000"]) == 0
    out = capsys.readouterr().out
    assert db.exists()
    for name, _ in DEMO_SEGMENTS:
        assert name in out
    assert "agree on every segment" in out
    assert "In the membership store" in out and "events published" in out


def test_demo_store_matches_a_fresh_query(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """After the demo's churn, stored membership equals the rule evaluated on the data now."""
    import datetime as dt

    import sqlalchemy as sa

    import segmentkit as sk
    from segmentkit.cli import NOW, demo_schema, demo_table
    from segmentkit.store import Store

    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--contacts", "2000"]) == 0
    out = capsys.readouterr().out
    engine = sa.create_engine(f"sqlite:///{db}")
    table = demo_table()
    schema = demo_schema(table)
    store = Store(engine, schema)
    later = NOW + dt.timedelta(days=1)
    for name, rule in DEMO_SEGMENTS:
        sid = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        with engine.connect() as conn:
            fresh = set(conn.execute(sk.members_select(rule, schema, now=later)).scalars())
        assert set(store.members(sid, limit=None)) == fresh, name
        assert f"{len(fresh):,}" in out
    engine.dispose()


def test_sql_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    rule = '{"field": "country", "operator": "eq", "value": "DE"}'
    assert main(["sql", rule, "--dialect", "postgres"]) == 0
    out = capsys.readouterr().out
    assert '"country"' in out and "DE" in out
    assert main(["check", rule]) == 0
    assert main(["check", '{"field": "contry", "operator": "eq", "value": "DE"}']) == 2
    assert 'did you mean "country"' in capsys.readouterr().err
    assert main(["sql", rule, "--dialect", "nosuchdb"]) == 2
