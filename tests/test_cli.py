"""The segmentkit command: the demo, the rule commands against real databases, the store
commands, exit codes and help."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from segmentkit.cli import (
    DEMO_SEGMENTS,
    EXIT_INVALID,
    EXIT_STORE,
    EXIT_UNSUPPORTED,
    EXIT_USAGE,
    cli,
    main,
)

REQUIRE = os.environ.get("SEGMENTKIT_REQUIRE_BACKENDS") == "1"


def run(*args: str, input: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli, list(args), input=input, catch_exceptions=False, prog_name="segmentkit"
    )
    return result.exit_code, result.stdout, result.stderr


# ------------------------------------------------------------------ the demo
def test_demo_runs_and_agrees(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "demo.sqlite"
    assert main(["demo", "--db", str(db), "--contacts", "3000"]) == 0
    out = capsys.readouterr().out
    assert db.exists()
    for name, _ in DEMO_SEGMENTS:
        assert name in out
    assert "agree on every segment" in out
    assert "In the membership store" in out and "events published" in out


def test_demo_store_matches_a_fresh_query(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the demo's churn, stored membership equals the rule evaluated on the data now."""
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
        assert set(store.iter_members(sid)) == fresh, name
        assert f"{len(fresh):,}" in out
    engine.dispose()


# ------------------------------------------------------------------ help and version
def test_version_is_the_package_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and version("segmentkit") in out


def test_help_teaches_without_markup() -> None:
    code, out, _ = run("--help")
    assert code == 0
    for raw in (":func:", ":class:", "``", "\\b", "%(prog)s"):
        assert raw not in out
    assert "segmentkit demo" in out and "Exit codes" in out
    for command in ("validate", "compile", "members", "segments", "demo"):
        assert command in out
    commands = [
        ["validate"],
        ["compile"],
        ["members"],
        ["demo"],
        ["segments"],
        ["segments", "init"],
        ["segments", "list"],
        ["segments", "create"],
        ["segments", "recalculate"],
        ["segments", "export"],
    ]
    for command in commands:
        code, text, _ = run(*command, "--help")
        assert code == 0, command
        assert "Example" in text and "segmentkit " + " ".join(command) in text, command
        assert "\\b" not in text and "``" not in text


def test_performance_commands_are_registered_when_present() -> None:
    import importlib.util

    listed = "performance" in run("--help")[1]
    assert listed == (importlib.util.find_spec("segmentkit.performance.cli") is not None)


def test_aliases_run_the_same_commands() -> None:
    assert run("check", "-e", "age >= 18")[:2] == run("validate", "-e", "age >= 18")[:2]
    assert run("sql", "-e", "age >= 18")[:2] == run("compile", "-e", "age >= 18")[:2]


# ------------------------------------------------------------------ exit codes
def test_no_such_file_says_so() -> None:
    code, _, err = run("check", "nosuch.json")
    assert code == EXIT_USAGE
    assert "no such file: nosuch.json" in err
    assert "JSON" not in err


def test_unknown_dialect_is_a_usage_error() -> None:
    code, _, err = run("compile", "-e", "age >= 18", "--dialect", "nosuchdb")
    assert code == EXIT_USAGE
    assert "problem in rule" not in err
    assert "'nosuchdb' is not one of" in err and "'postgres'" in err


def test_invalid_rule_exits_1_with_every_problem() -> None:
    code, out, err = run("check", "-e", "contry = 'DE' and age between 65 and 18")
    assert code == EXIT_INVALID == 1
    assert out == ""
    assert "2 problems in rule" in err
    assert 'did you mean "country"' in err


def test_invalid_json_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "rule.json"
    path.write_text('{"field": "age", ', encoding="utf-8")
    code, _, err = run("check", str(path))
    assert code == EXIT_INVALID
    assert "JSON" in err


def test_unsupported_construct_exits_3(tmp_path: Path) -> None:
    # Tags stored as an array: a valid rule SQLite has no type for.
    path = tmp_path / "schema.json"
    fields = {"id": "integer", "tags": {"type": "tags", "tags": "array"}}
    path.write_text(json.dumps({"fields": fields}), encoding="utf-8")
    rule = ["-e", "tags has 'vip'", "--schema", str(path)]
    code, _, err = run("compile", *rule, "--dialect", "sqlite")
    assert code == EXIT_UNSUPPORTED == 3
    assert "unsupported" in err and "array" in err and "sqlite" in err
    assert run("compile", *rule, "--dialect", "postgres")[0] == 0


def test_store_error_exits_4(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    assert run("segments", "init", "--db", url)[0] == 0
    code, _, err = run("segments", "export", "nosuch", "--db", url)
    assert code == EXIT_STORE == 4
    assert "nosuch" in err


def test_usage_errors_exit_2() -> None:
    assert run("nosuchcommand")[0] == EXIT_USAGE
    assert run("compile", "--nosuchoption")[0] == EXIT_USAGE
    code, _, err = run("check")
    assert code == EXIT_USAGE and "-e TEXT" in err
    code, _, err = run("check", "rule.json", "-e", "age > 1")
    assert code == EXIT_USAGE
    code, _, err = run("members", "-e", "age > 1")
    assert code == EXIT_USAGE and "--db" in err
    code, _, err = run("compile", "-e", "age > 1", "--now", "yesterday")
    assert code == EXIT_USAGE and "ISO 8601" in err


# ------------------------------------------------------------------ rules in
def test_rule_from_stdin_in_the_text_form() -> None:
    code, out, _ = run("check", "-", input="country in ('DE', 'AT') and age >= 18\n")
    assert code == 0
    assert out.strip() == "ok: country in ('DE', 'AT') and age >= 18"


def test_rule_formats(tmp_path: Path) -> None:
    qb = {
        "combinator": "and",
        "rules": [{"field": "country", "operator": "=", "value": "DE"}],
    }
    path = tmp_path / "qb.json"
    path.write_text(json.dumps(qb), encoding="utf-8")
    code, out, _ = run("check", str(path), "--format", "querybuilder")
    assert code == 0 and "country = 'DE'" in out
    # The same document read as native JSON: "=" is no native operator.
    assert run("check", str(path))[0] == EXIT_INVALID
    code, out, _ = run("check", "-e", '{"==": [{"var": "country"}, "DE"]}', "--format", "jsonlogic")
    assert code == 0 and "country = 'DE'" in out
    code, out, _ = run("check", '{"field": "age", "operator": "gte", "value": 18}')
    assert code == 0 and "age >= 18" in out


# ------------------------------------------------------------------ compile
def test_compile_defaults_to_postgres_and_a_select() -> None:
    code, out, _ = run("compile", "-e", "country = 'DE'")
    assert code == 0
    assert out.startswith('SELECT "contacts"."id" FROM "contacts" WHERE')
    assert "%(p0)s" in out  # psycopg's paramstyle: PostgreSQL
    assert '-- parameters (pyformat): {"p0": "DE"}' in out
    code, where, _ = run("compile", "-e", "country = 'DE'", "--where")
    assert code == 0 and not where.startswith("SELECT") and "%(p0)s" in where


def test_compile_inline_and_dialects() -> None:
    code, out, _ = run("sql", "-e", "name = 'O''Neil'", "--schema", "-", input="")
    assert code == EXIT_USAGE  # --schema is a file that must exist
    code, out, _ = run("compile", "-e", "email = 'o''neil@x.org'", "--inline", "--dialect", "mysql")
    assert code == 0
    assert "'o''neil@x.org'" in out or "'o\\'neil@x.org'" in out
    assert "parameters" not in out
    code, out, _ = run("compile", "-e", "age >= 18", "--dialect", "SQLite")
    assert code == 0 and ":p0" in out


def test_now_resolves_relative_time() -> None:
    code, out, _ = run(
        "compile",
        "-e",
        "signup_at in last 7 days",
        "--dialect",
        "sqlite",
        "--now",
        "2026-03-08T12:00",
    )
    assert code == 0
    params = json.loads(out.split("): ", 1)[1])
    assert params["p0"].startswith("2026-03-01 12:00") and params["p1"].startswith(
        "2026-03-08 12:00"
    )
    # Without --now relative time is resolved at the current instant, not the demo's.
    before = dt.datetime.now(dt.UTC)
    code, out, _ = run("compile", "-e", "signup_at in last 7 days", "--dialect", "sqlite")
    after = dt.datetime.now(dt.UTC)
    assert code == 0
    end = json.loads(out.split("): ", 1)[1])["p1"]
    assert end[:10] in {f"{before:%Y-%m-%d}", f"{after:%Y-%m-%d}"}


# ------------------------------------------------------------------ schema files
def test_schema_file(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(
        json.dumps(
            {
                "table": "people",
                "key": "person_id",
                "fields": {
                    "person_id": "integer",
                    "plan": {"type": "string", "enum": ["free", "pro"]},
                    "interests": {"type": "tags", "tags": "json"},
                },
            }
        ),
        encoding="utf-8",
    )
    code, out, _ = run(
        "compile", "-e", "plan = 'pro' and interests has 'golf'", "--schema", str(path)
    )
    assert code == 0 and 'FROM "people"' in out and '"person_id"' in out
    code, _, err = run("check", "-e", "plan = 'gold'", "--schema", str(path))
    assert code == EXIT_INVALID and "/value" in err
    code, _, err = run("check", "-e", "age > 1", "--schema", str(path))
    assert code == EXIT_INVALID and "unknown field 'age'" in err


def test_bad_schema_file_lists_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(
        json.dumps({"tabel": "x", "fields": [{"name": "a", "type": "strng"}, {"type": "integer"}]}),
        encoding="utf-8",
    )
    code, _, err = run("check", "-e", "a = 1", "--schema", str(path))
    assert code == EXIT_INVALID
    assert "/tabel" in err and "/fields/0/type" in err and "/fields/1" in err


# ------------------------------------------------------------------ real databases
def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'crm.db'}"


def _duckdb(tmp_path: Path) -> str:
    pytest.importorskip("duckdb_engine")
    return f"duckdb:///{tmp_path / 'crm.duckdb'}"


def _server(env: str, default: str) -> str:
    url = os.environ.get(env, default)
    try:
        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        reason = f"{url} unreachable: {type(exc).__name__}"
        if REQUIRE:
            pytest.fail(f"{reason} (SEGMENTKIT_REQUIRE_BACKENDS=1)")
        pytest.skip(reason)
    return url


URLS = {
    "sqlite": _sqlite,
    "duckdb": _duckdb,
    "postgres": lambda _: _server(
        "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": lambda _: _server(
        "SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}

ROWS = [
    {"id": 1, "country": "DE", "age": 30, "vip": True, "email": "a@x.org"},
    {"id": 2, "country": "DE", "age": 17, "vip": False, "email": "<script>@x.org"},
    {"id": 3, "country": "AT", "age": 40, "vip": True, "email": None},
    {"id": 4, "country": None, "age": 50, "vip": None, "email": "d@x.org"},
    {"id": 5, "country": "de", "age": 60, "vip": True, "email": "e@x.org"},
]


@pytest.fixture(params=list(URLS))
def contacts_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A database URL and the name of a fresh contacts table in it."""
    url = URLS[request.param](tmp_path)
    name = f"cli_contacts_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(url)
    table = sa.Table(
        name,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("country", sa.String(2)),
        sa.Column("age", sa.Integer),
        sa.Column("vip", sa.Boolean),
        sa.Column("email", sa.String(100)),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    try:
        yield url, name
    finally:
        table.drop(engine)
        engine.dispose()


def test_members_on_a_real_table(contacts_db: tuple[str, str]) -> None:
    url, table = contacts_db
    db = ["--db", url, "--table", table]
    code, out, err = run("members", "-e", "country = 'DE' and vip is true", *db, "--json")
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == [1]
    assert "1 member" in err
    code, out, _ = run("members", "-e", "country in ('DE', 'AT') or age > 55", *db, "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "4 members"  # 1, 2, 3 and 5 (age 60); 'de' is not 'DE'
    assert lines[1].split() == ["id", "country", "age", "vip", "email"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]
    code, _, err = run("check", "-e", "contry = 'DE'", *db)
    assert code == EXIT_INVALID and 'did you mean "country"' in err
    code, _, err = run("members", "-e", "age > 1", "--db", url, "--table", "no_such_table")
    assert code == EXIT_USAGE and "no table 'no_such_table'" in err


# The store's tables have fixed names per database; SQLite gives each test its own file.
@pytest.mark.parametrize("contacts_db", ["sqlite"], indirect=True)
def test_segments_against_a_store(contacts_db: tuple[str, str], tmp_path: Path) -> None:
    url, table = contacts_db
    db = ["--db", url, "--table", table]
    assert run("segments", "init", *db)[0] == 0
    code, out, _ = run("segments", "list", *db)
    assert code == 0 and "no segments" in out
    code, _, err = run("segments", "create", "adults", "-e", "age >= 18", "--name", "Adults", *db)
    assert code == 0, err
    code, _, err = run("segments", "create", "typo", "-e", "agee >= 18", *db)
    assert code == EXIT_INVALID and 'did you mean "age"' in err
    code, out, err = run("segments", "recalculate", *db, "--now", "2026-11-24T12:00Z")
    assert code == 0, err
    assert "recalculating" in err  # the progress bar (its label only, off a terminal)
    assert out.splitlines()[1].split() == ["adults", "4", "4", "0", "succeeded"]
    code, out, _ = run("segments", "list", *db)
    assert "adults" in out and "Adults" in out and "2026-11-24 12:00" in out
    target = tmp_path / "adults.csv"
    code, _, err = run("segments", "export", "adults", *db, "-o", str(target))
    assert code == 0 and "4 members exported" in err
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "key,since" and sorted(line.split(",")[0] for line in lines[1:]) == [
        "1",
        "3",
        "4",
        "5",
    ]
    code, out, _ = run("segments", "export", "adults", *db, "--format", "jsonl")
    assert code == 0 and len(out.splitlines()) == 4
    assert run("segments", "recalculate", "nosuch", *db)[0] == EXIT_STORE


# ------------------------------------------------------------------ a real process
def test_python_dash_m_segmentkit() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(
        [sys.executable, "-m", "segmentkit", "check", "-e", "age >= 18 and contry = 'DE'"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == EXIT_INVALID
    assert 'did you mean "country"' in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "segmentkit", "--version"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0 and version("segmentkit") in done.stdout
