"""The MariaDB regex guard of ``segmentkit.compile.engines``, on the real server.

MariaDB answers *false* with warning 1139 when PCRE2 reaches its match limit; the guard
turns that into :class:`UnsupportedError` raised out of ``Connection.execute``. The
server is tests/backends.py's MariaDB backend; unreachable, the tests skip with the
reason, or fail when backends are required (tests/backends.py and conftest.py decide).

``Com_show_warnings`` (MariaDB's per-session count of ``SHOW WARNINGS`` statements) shows
whether the guard looked at a statement's warnings at all.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from segmentkit.compile.engines import REGEX_GUARD_OPTION
from segmentkit.compile.python import compile_python
from segmentkit.compile.sql import regex_search_sql
from segmentkit.compile.sqlalchemy import members_select
from segmentkit.errors import UnsupportedError
from segmentkit.regex import for_dialect
from segmentkit.schema import Schema
from segmentkit.store import Store, make_tables

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

# A pattern of the portable subset that needs quadratic backtracking: PCRE2 gives up on
# the long subjects (the true answer there is "matches", through the '!' branch).
SLOW = "^[^x]*a[^x]*b$|!"
LONG = "a" * 5000 + "!"
ROWS: list[dict[str, Any]] = [{"id": i, "s": LONG if i % 2 else f"ab{i}b"} for i in range(1, 21)]
# Non-strict: MariaDB's strict mode already turns 1139 into an error for INSERT into
# a transactional table; without it only the guard stands between us and wrong rows.
NON_STRICT = {"init_command": "SET SESSION sql_mode = ''"}


def _engine(backend_named: Callable[[str], Any], **connect_args: Any) -> sa.Engine:
    """An engine of its own (a pool the session settings below cannot leak into) on the
    MariaDB backend's database."""
    return backend_named("mariadb").engine_with(**connect_args)  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _slow_pattern_slips_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """The regex validator refuses SLOW (its cost bounds, docs/regex.md); the guard is the
    net for a costly pattern that still reaches MariaDB, so here the bounds are lifted."""
    import segmentkit.regex

    monkeypatch.setattr(segmentkit.regex, "_cost_problems", lambda tree: [])


@pytest.fixture(scope="module")
def engine(backend_named: Callable[[str], Any]) -> Iterator[sa.Engine]:
    engine = _engine(backend_named)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def lax_engine(backend_named: Callable[[str], Any]) -> Iterator[sa.Engine]:
    engine = _engine(backend_named, **NON_STRICT)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def contacts(engine: sa.Engine) -> Iterator[sa.Table]:
    metadata = sa.MetaData()
    table = sa.Table(
        f"guard_{uuid.uuid4().hex[:10]}",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("s", sa.Text),
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    yield table
    metadata.drop_all(engine)


def _schema(table: sa.Table) -> Schema:
    return Schema.from_table(table, key="id")


def _rule(op: str, pattern: str) -> dict[str, Any]:
    return {"field": "s", "operator": op, "value": pattern}


def _expected(table: sa.Table, op: str, pattern: str) -> set[int]:
    match = compile_python(_rule(op, pattern), _schema(table), NOW)
    return {r["id"] for r in match.filter(ROWS)}


def _show_warnings_count(conn: sa.Connection) -> int:
    row = conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Com_show_warnings'").one()
    return int(row[1])


# ------------------------------------------------------------------ the engine fact


def test_the_server_still_answers_false_silently(engine: sa.Engine) -> None:
    """The premise: without the guard MariaDB gives a wrong answer and only a warning.
    (If MariaDB ever raises or answers right, this fails and the guard can go.)"""
    query = sa.text("SELECT " + regex_search_sql("mariadb", ":s", ":p"))
    with engine.connect() as conn:
        got = conn.execute(
            query.execution_options(**{REGEX_GUARD_OPTION: False}),
            {"s": LONG, "p": for_dialect(SLOW, "mysql")},
        ).scalar_one()
        codes = [w[1] for w in conn.exec_driver_sql("SHOW WARNINGS")]
    assert got == 0 and codes == [1139]


# ------------------------------------------------------------- segmentkit's own SQL


@pytest.mark.parametrize("op", ["matches", "not_matches"])
def test_match_limit_raises_through_members_select(
    engine: sa.Engine, contacts: sa.Table, op: str
) -> None:
    stmt = members_select(_rule(op, SLOW), _schema(contacts), NOW)
    with engine.connect() as conn, pytest.raises(UnsupportedError) as info:
        conn.execute(stmt).all()
    assert info.value.backend == "mariadb"
    assert "1139" in info.value.reason and "match limit" in info.value.reason


@pytest.mark.parametrize(
    ("op", "pattern"),
    [
        ("matches", "^ab[0-9]+b$"),
        ("not_matches", "^ab[0-9]+b$"),
        ("matches", "!$"),
        ("not_matches", "a{3}"),
    ],
)
def test_normal_regex_queries_are_unchanged(
    engine: sa.Engine, contacts: sa.Table, op: str, pattern: str
) -> None:
    schema = _schema(contacts)
    with engine.connect() as conn:
        before = _show_warnings_count(conn)
        got = set(conn.execute(members_select(_rule(op, pattern), schema, NOW)).scalars())
        # PyMySQL reported no warnings, so the guard did not even ask the server.
        assert _show_warnings_count(conn) == before
    want = _expected(contacts, op, pattern)
    assert got == want and 0 < len(want) < len(ROWS)


def test_match_limit_raises_through_compiled_sql_text(
    engine: sa.Engine, contacts: sa.Table
) -> None:
    """The second SQL path: text from segmentkit.compile.sql run through SQLAlchemy."""
    from segmentkit.compile.sql import to_sql

    compiled = to_sql(_rule("not_matches", SLOW), _schema(contacts), "mariadb", NOW, select=True)
    assert compiled.paramstyle == "pyformat" and isinstance(compiled.params, dict)
    with engine.connect() as conn, pytest.raises(UnsupportedError):
        conn.exec_driver_sql(compiled.text, compiled.params).all()


# ---------------------------------------------------------------- transactions


def test_insert_select_raises_and_rolls_back(lax_engine: sa.Engine, contacts: sa.Table) -> None:
    metadata = sa.MetaData()
    target = sa.Table(
        f"guard_t_{uuid.uuid4().hex[:10]}",
        metadata,
        sa.Column("k", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    metadata.create_all(lax_engine)
    try:
        select = members_select(_rule("not_matches", "^ab[0-9]+b$|" + SLOW), _schema(contacts), NOW)
        with lax_engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT @@sql_mode").scalar_one() == ""
            conn.rollback()
            with pytest.raises(UnsupportedError), conn.begin():
                conn.execute(target.insert().values(k=-1))
                conn.execute(target.insert().from_select(["k"], select))
            assert conn.execute(sa.select(sa.func.count()).select_from(target)).scalar_one() == 0
    finally:
        metadata.drop_all(lax_engine)


def test_strict_mode_already_refuses_insert_select(engine: sa.Engine, contacts: sa.Table) -> None:
    """Under the default STRICT_TRANS_TABLES MariaDB itself raises 1139 for INSERT ...
    SELECT into an InnoDB table; the guard matters for SELECT and non-strict sessions."""
    metadata = sa.MetaData()
    target = sa.Table(
        f"guard_t_{uuid.uuid4().hex[:10]}",
        metadata,
        sa.Column("k", sa.BigInteger, primary_key=True, autoincrement=False),
    )
    metadata.create_all(engine)
    try:
        select = members_select(_rule("matches", SLOW), _schema(contacts), NOW)
        with engine.connect() as conn:
            assert "STRICT_TRANS_TABLES" in conn.exec_driver_sql("SELECT @@sql_mode").scalar_one()
            conn.rollback()
            with pytest.raises(sa.exc.OperationalError, match="1139"), conn.begin():
                conn.execute(target.insert().from_select(["k"], select))
    finally:
        metadata.drop_all(engine)


# ------------------------------------------------------------ what the guard leaves alone


def test_statements_without_regexp_are_untouched(engine: sa.Engine, contacts: sa.Table) -> None:
    with engine.connect() as conn:
        before = _show_warnings_count(conn)
        # Leaves a warning (1292, truncated value) per row, and no REGEXP: not inspected.
        got = conn.execute(
            sa.select(sa.cast(sa.literal("7x"), sa.Integer) + contacts.c.id).order_by(contacts.c.id)
        ).scalars()
        assert list(got) == [7 + r["id"] for r in ROWS]
        # The statement's own warnings are still there for the caller ...
        codes = {w[1] for w in conn.exec_driver_sql("SHOW WARNINGS")}
        assert codes == {1292}
        # ... and that SHOW WARNINGS was the only one.
        assert _show_warnings_count(conn) == before + 1


def test_other_warnings_on_a_regexp_statement_pass(engine: sa.Engine, contacts: sa.Table) -> None:
    stmt = sa.text(
        "SELECT CAST('7x' AS SIGNED) + id FROM "
        + contacts.name
        + " WHERE "
        + regex_search_sql("mariadb", "s", ":p")
    )
    with engine.connect() as conn:
        before = _show_warnings_count(conn)
        got = conn.execute(stmt, {"p": for_dialect("^ab", "mysql")}).scalars().all()
        assert sorted(got) == [7 + r["id"] for r in ROWS if not r["id"] % 2]
        assert _show_warnings_count(conn) == before + 1  # looked, found no 1139


def test_warnings_beyond_max_error_count_are_refused(engine: sa.Engine, contacts: sa.Table) -> None:
    """A 1139 could hide behind other warnings the server did not keep: refused."""
    stmt = sa.text(
        "SELECT CAST('7x' AS SIGNED) + id FROM "
        + contacts.name
        + " WHERE "
        + regex_search_sql("mariadb", "s", ":p")
    )
    with engine.connect() as conn:
        conn.exec_driver_sql("SET SESSION max_error_count = 3")
        try:
            with pytest.raises(UnsupportedError, match="max_error_count"):
                conn.execute(stmt, {"p": for_dialect("^ab", "mysql")}).all()
        finally:
            conn.exec_driver_sql("SET SESSION max_error_count = DEFAULT")


def test_streamed_regexp_is_refused_before_it_runs(engine: sa.Engine, contacts: sa.Table) -> None:
    stmt = members_select(_rule("matches", "^ab"), _schema(contacts), NOW)
    with engine.connect() as conn:
        with pytest.raises(UnsupportedError, match="stream"):
            conn.execution_options(stream_results=True).execute(stmt)
        # Streaming without REGEXP is untouched.
        streamed = conn.execution_options(stream_results=True).execute(sa.select(contacts.c.id))
        assert len(streamed.all()) == len(ROWS)


def test_executemany_regexp_is_refused(engine: sa.Engine, contacts: sa.Table) -> None:
    update = sa.text(f"UPDATE {contacts.name} SET s = s WHERE id = :i AND s REGEXP :p")
    with engine.connect() as conn:
        with pytest.raises(UnsupportedError, match="executemany"):
            conn.execute(update, [{"i": 1, "p": "a"}, {"i": 2, "p": "a"}])
        conn.rollback()


def test_regexp_in_an_identifier_is_not_a_regexp(engine: sa.Engine) -> None:
    """A bulk insert into a column named like the operator is neither refused nor checked."""
    metadata = sa.MetaData()
    table = sa.Table(
        f"guard_i_{uuid.uuid4().hex[:10]}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email_regexp", sa.String(20)),
    )
    metadata.create_all(engine)
    try:
        with engine.begin() as conn:
            conn.execute(table.insert(), [{"id": i, "email_regexp": "x"} for i in range(5)])
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 5
    finally:
        metadata.drop_all(engine)


def test_the_guard_can_be_switched_off(engine: sa.Engine, contacts: sa.Table) -> None:
    stmt = members_select(_rule("matches", SLOW), _schema(contacts), NOW)
    with engine.connect() as conn:
        off = conn.execution_options(**{REGEX_GUARD_OPTION: False})
        got = set(off.execute(stmt).scalars())
        # The wrong answer the guard exists to stop: the long values are missing.
        assert got == {r["id"] for r in ROWS if not r["id"] % 2}
        assert got != _expected(contacts, "matches", SLOW)
        streamed = off.execution_options(stream_results=True).execute(stmt)
        assert set(streamed.scalars()) == got


def test_other_dialects_are_not_guarded(backend_named: Callable[[str], Any]) -> None:
    # SHOW WARNINGS would be a syntax error on SQLite: the guard never runs there.
    with backend_named("sqlite").engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT sk_regexp('b$', 'ab')").scalar_one() == 1


# ------------------------------------------------------------------ the store


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "non-strict"])
def test_store_recalculation_fails_the_run(
    engine: sa.Engine, lax_engine: sa.Engine, contacts: sa.Table, strict: bool
) -> None:
    eng = engine if strict else lax_engine
    tables = make_tables(f"g{uuid.uuid4().hex[:8]}_")
    store = Store(eng, _schema(contacts), tables)
    store.create_all()
    try:
        store.create({"id": "plain", "rule": _rule("not_matches", SLOW)})
        with pytest.raises((UnsupportedError, sa.exc.OperationalError)) as info:
            store.recalculate("plain", NOW)
        if not strict:  # the guard, not the server, stopped it
            assert isinstance(info.value, UnsupportedError)
        runs = store.runs("plain")
        assert [r.status for r in runs] == ["failed"]
        assert "1139" in (runs[0].error or "")
        assert store.count("plain", exact=True) == 0
        assert store.get("plain").member_count == 0
    finally:
        tables.metadata.drop_all(eng)
