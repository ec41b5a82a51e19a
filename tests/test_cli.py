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


def test_sql_and_check(capsys: pytest.CaptureFixture[str]) -> None:
    rule = '{"field": "country", "operator": "eq", "value": "DE"}'
    assert main(["sql", rule, "--dialect", "postgres"]) == 0
    out = capsys.readouterr().out
    assert '"country"' in out and "DE" in out
    assert main(["check", rule]) == 0
    assert main(["check", '{"field": "contry", "operator": "eq", "value": "DE"}']) == 2
    assert 'did you mean "country"' in capsys.readouterr().err
    assert main(["sql", rule, "--dialect", "nosuchdb"]) == 2
