"""SQL benchmark: segmentkit's member query against the same predicate written by hand.

On the synthetic contacts (``data.py``) loaded into SQLite, DuckDB, PostgreSQL and
MariaDB (servers are skipped with a message when unreachable), for three rules — the
5- and 20-condition rules of ``bench_python.py`` and a selective 5-condition rule (new
sign-ups of the last 7 days) — it times fetching every member key with

* ``members_select(rule, schema, now)`` (SQLAlchemy, executed with ``conn.execute``),
* ``to_sql(rule, schema, dialect, now, select=True)`` (sqlglot text, executed with
  ``conn.exec_driver_sql``),
* the predicate written by hand for that engine, values bound (``sa.text``),

first without and then with an index on ``signup_at`` (the selective column). All three
must return the same member set as the Python evaluator on the same records: one that
does not is reported as a wrong answer, not timed, and the run exits non-zero. Runs are interleaved (hand, SQLAlchemy, sqlglot, hand, ...) so that noise
from other users of the machine hits all three alike; the best of ``--repeat`` runs
is compared, the median printed beside it.

It also times compiling a 50-condition rule: ``to_sql`` cold per dialect and for a
cached rule shape, and the SQLAlchemy expression build + compile per dialect.

Run: ``python bench/bench_sql.py [--records N] [--repeat N] [--engines sqlite,duckdb,...]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_python as bp
import data
from _timing import Result, interleaved, micro, summary, table

import segmentkit as sk

NOW = data.NOW
ENGINES = ("sqlite", "duckdb", "postgresql", "mysql")
SQL_DIALECTS = (
    "postgres",
    "mysql",
    "mariadb",
    "sqlite",
    "duckdb",
    "bigquery",
    "snowflake",
    "spark",
    "trino",
    "tsql",
)
SA_DIALECTS = ("sqlite", "postgresql", "mysql", "duckdb")
T = data.TABLE
INDEX = f"ix_{T}_signup_at"
FAILURES: list[str] = []  # implementations that returned a member set other than Python's

RULE_SELECTIVE: dict[str, Any] = {
    "combinator": "and",
    "rules": [
        {"field": "country", "operator": "in", "value": ["DE", "AT", "CH"]},
        {"field": "age", "operator": "gte", "value": 25},
        {"field": "newsletter", "operator": "is_true"},
        {"field": "lifetime_value", "operator": "gt", "value": "100.00"},
        {"field": "signup_at", "operator": "in_last", "value": {"amount": 7, "unit": "days"}},
    ],
}
RULES = {
    "5 conditions": bp.RULE_5,
    "20 conditions": bp.RULE_20,
    "5 cond., selective": RULE_SELECTIVE,
}


# --------------------------------------------------------------------------- hand-written SQL
def _tags_any(engine: str, param: str) -> str:
    """``tags`` holds at least one of the strings in the list parameter ``param``."""
    if engine == "postgresql":
        return f"tags && :{param}"
    if engine == "duckdb":
        return f"list_has_any(tags, :{param})"
    if engine == "sqlite":
        return f"EXISTS (SELECT 1 FROM json_each({T}.tags) WHERE json_each.value IN :{param})"
    return f"JSON_OVERLAPS(tags, :{param})"


def hand_sql(engine: str, rule: str) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """(SQL, parameters, names of expanding list parameters) written by hand for ``engine``."""
    if engine == "sqlite":  # SQLAlchemy's storage format for naive UTC datetimes

        def ts(v: dt.datetime) -> Any:
            return v.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    elif engine == "mysql":

        def ts(v: dt.datetime) -> Any:
            return v.astimezone(dt.UTC).replace(tzinfo=None)
    else:

        def ts(v: dt.datetime) -> Any:
            return v

    money: Callable[[str], Any] = float if engine == "sqlite" else Decimal
    # MariaDB has no array type: the tag lists are JSON text for JSON_OVERLAPS.
    tags_list: Callable[[list[str]], Any] = json.dumps if engine == "mysql" else list
    expanding: tuple[str, ...] = ("countries",)
    if rule in ("5 conditions", "5 cond., selective"):
        column, days = ("last_seen_at", 30) if rule == "5 conditions" else ("signup_at", 7)
        sql = (
            f"SELECT id FROM {T} WHERE country IN :countries AND age >= :age"
            " AND newsletter = :yes AND lifetime_value > :ltv"
            f" AND {column} >= :since AND {column} <= :now"
        )
        params = {"countries": ["DE", "AT", "CH"], "age": 25, "yes": True, "ltv": money("100.00"),
                  "since": ts(NOW - dt.timedelta(days=days)), "now": ts(NOW)}  # fmt: skip
        return sql, params, expanding
    sql = (
        f"SELECT id FROM {T} WHERE email IS NOT NULL"
        " AND email NOT LIKE :suffix AND email NOT LIKE :example"
        " AND (country IS NULL OR country NOT IN :countries)"
        " AND age BETWEEN :age_lo AND :age_hi"
        " AND (plan IS NULL OR plan <> :plan)"
        " AND orders >= :orders_lo AND score >= :score"
        " AND signup_at < :signup_before"
        f" AND (tags IS NULL OR NOT {_tags_any(engine, 'spam')})"
        " AND (city IS NULL OR city <> :city)"
        " AND lifetime_value >= :ltv"
        " AND (phone IS NULL OR phone NOT LIKE :phone_prefix)"
        " AND last_seen_at IS NOT NULL AND vip IS NOT NULL"
        f" AND ({_tags_any(engine, 'any_tags')} OR newsletter = :yes)"
        " AND orders <= :orders_hi"
        " AND lower(email) NOT LIKE :noreply"
        " AND last_seen_at >= :since AND last_seen_at <= :now"
    )
    params = {
        "suffix": "%@test.com", "example": "%example%", "countries": ["US", "JP"],
        "age_lo": 18, "age_hi": 80, "plan": "enterprise", "orders_lo": 1, "score": 10.0,
        "signup_before": ts(dt.datetime(2025, 10, 1, tzinfo=dt.UTC)),
        "spam": tags_list(["spam"]), "city": "Leipzig", "ltv": money("10"), "phone_prefix": "+1%",
        "any_tags": tags_list(["newsletter", "b2c", "beta"]), "yes": True, "orders_hi": 150,
        "noreply": "%noreply%", "since": ts(NOW - dt.timedelta(days=365)), "now": ts(NOW),
    }  # fmt: skip
    if engine == "sqlite":
        expanding = ("countries", "spam", "any_tags")
    return sql, params, expanding


# --------------------------------------------------------------------------- engines
def _connect(engine: str, n: int, cols: dict[str, list[Any]] | None, seed: int) -> sa.Engine:
    """Load (or reuse) the table and return an engine for benchmarking."""
    if cols is None:
        cols = data.generate_columns(n, seed)
    loaded = data.LOADERS[engine](cols, seed)
    url = loaded.url
    loaded.dispose()
    if engine == "postgresql":
        # No server-side prepared statements: every run plans the same way (psycopg
        # would switch to a prepared, possibly generic plan after five executions).
        return sa.create_engine(url, connect_args={"prepare_threshold": None})
    return sa.create_engine(url)


def _reachable(engine: str) -> str | None:
    url = {"postgresql": data.POSTGRES_URL, "mysql": data.MYSQL_URL}.get(engine)
    if url is None:
        return None
    try:
        with sa.create_engine(url).connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
    return None


def _set_index(eng: sa.Engine, engine: str, on: bool) -> None:
    with eng.begin() as conn:
        if engine == "mysql":
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX} ON {T}")
        else:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {INDEX}")
        if on:
            conn.exec_driver_sql(f"CREATE INDEX {INDEX} ON {T} (signup_at)")
    if engine == "sqlite":
        with eng.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    elif engine == "mysql":
        with eng.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE TABLE {T}").fetchall()
    elif engine == "postgresql":
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"ANALYZE {T}")


def bench_engine(engine: str, n: int, repeat: int, cols: dict[str, list[Any]] | None,
                 expected: dict[str, set[int]], seed: int, out: list[Result]) -> list[list[str]]:  # fmt: skip
    from segmentkit.compile.sql import to_sql
    from segmentkit.compile.sqlalchemy import members_select

    t0 = time.perf_counter()
    eng = _connect(engine, n, cols, seed)
    print(f"  {engine}: table ready in {time.perf_counter() - t0:.1f} s")
    table_ = data.contacts_table(sa.MetaData(), engine)
    schema = sk.Schema.from_table(table_)
    # The MySQL-protocol server on this machine is MariaDB: its own dialect.
    dialect = {"postgresql": "postgres", "mysql": "mariadb"}.get(engine, engine)
    rows: list[list[str]] = []
    for indexed in (False, True):
        _set_index(eng, engine, indexed)
        for label, rule in RULES.items():
            stmt = members_select(rule, schema, now=NOW)
            q = to_sql(rule, schema, dialect=dialect, now=NOW, select=True)
            q_params = tuple(q.params) if isinstance(q.params, list) else q.params
            sql, params, expanding = hand_sql(engine, label)
            hand = sa.text(sql).bindparams(*[sa.bindparam(k, expanding=True) for k in expanding])
            with eng.connect() as conn:
                got = {
                    "hand-written": {r[0] for r in conn.execute(hand, params)},
                    "members_select": {r[0] for r in conn.execute(stmt)},
                    "to_sql": {r[0] for r in conn.exec_driver_sql(q.text, q_params)},
                }
                runs = {
                    "hand-written": lambda c=conn, h=hand, a=params: c.execute(h, a).fetchall(),
                    "members_select": lambda c=conn, s=stmt: c.execute(s).fetchall(),
                    "to_sql": lambda c=conn, t=q.text, a=q_params: c.exec_driver_sql(
                        t, a
                    ).fetchall(),
                }
                for name, ids in got.items():
                    if ids != expected[label]:
                        # A wrong answer is never timed; the run fails at the end.
                        text = {"hand-written": sql, "to_sql": q.text}.get(name, str(stmt))
                        FAILURES.append(
                            f"{engine} {label} {name}: {len(ids):,} members, Python evaluator "
                            f"{len(expected[label]):,}\n    {text}"
                        )
                        print(f"  WRONG ANSWER: {FAILURES[-1]}", file=sys.stderr)
                        runs.pop(name)
                if "hand-written" not in runs:
                    continue
                timings = interleaved(runs, repeat)
            h = timings["hand-written"]
            idx = "index" if indexed else "no index"
            for name, t in timings.items():
                ratio = "" if name == "hand-written" else f"{t.best / h.best:.2f}x"
                rows.append([engine, idx, label, name, f"{t.best * 1e3:.1f}", f"{t.median * 1e3:.1f}",
                             ratio, f"{len(expected[label]):,}"])  # fmt: skip
                if name != "hand-written":
                    out.append(Result("sql", f"{engine}, {label}, {idx}: {name} / hand-written",
                                      t.best / h.best, 1.1, "x<=",
                                      f"{t.best * 1e3:.1f} vs {h.best * 1e3:.1f} ms"))  # fmt: skip
    _set_index(eng, engine, False)
    eng.dispose()
    return rows


# --------------------------------------------------------------------------- compile time
def bench_compile(repeat: int, out: list[Result]) -> list[list[str]]:
    from segmentkit.compile import sql as sksql
    from segmentkit.compile.sqlalchemy import members_select

    json_schema = data.schema()
    array_schema = sk.Schema(
        [
            f if f.name != "tags" else sk.Field("tags", f.type, tags=sk.TagStorage.ARRAY)
            for f in json_schema
        ],
        key="id",
    )
    rule = sk.parse(bp.rule_50(0))
    variants = [sk.parse(bp.rule_50(k)) for k in range(1, 9)]
    rows: list[list[str]] = []
    number = 20
    for dialect in SQL_DIALECTS:
        # Tags as a JSON array where the engine can test them type-exactly, else an array.
        schema = json_schema
        try:
            sksql.to_sql(rule, schema, dialect=dialect, now=NOW, select=True)
        except sk.UnsupportedError:
            schema = array_schema
            try:
                sksql.to_sql(rule, schema, dialect=dialect, now=NOW, select=True)
            except sk.UnsupportedError as exc:
                rows.append([f"to_sql {dialect}", "unsupported", "", "", "", str(exc)[:70]])
                continue
        storage = "JSON tags" if schema is json_schema else "array tags"
        bound = sk.bind(rule, schema, now=NOW)
        bound_variants = [sk.bind(v, schema, now=NOW) for v in variants]
        # The cache must hit for every variant, or "cached" would mean nothing.
        before = _cache_size(sksql)
        for v in bound_variants:
            sksql.compile_predicate(v.predicate, schema, dialect, select=True)
        assert _cache_size(sksql) == before, f"rule_50 variants miss the {dialect} cache"
        counter = iter(range(10**9))

        def cold(d: str = dialect, s: sk.Schema = schema, b: Any = bound) -> Any:
            return sksql.compile_predicate(b.predicate, s, d, select=True)

        def cold_bind(d: str = dialect, s: sk.Schema = schema) -> Any:
            return sksql.to_sql(rule, s, dialect=d, now=NOW, select=True)

        def cached(
            d: str = dialect, s: sk.Schema = schema, bv: Any = bound_variants, it: Any = counter
        ) -> Any:
            # A bound rule computes its shape once (BoundRule.shaped, counted in "with bind");
            # rendering it again for a dialect is a cache lookup plus parameter building.
            return sksql.to_sql(bv[next(it) % len(bv)], s, dialect=d, select=True)

        def cached_bind(d: str = dialect, s: sk.Schema = schema, it: Any = counter) -> Any:
            return sksql.to_sql(
                variants[next(it) % len(variants)], s, dialect=d, now=NOW, select=True
            )

        t_cold = micro(cold, sksql.clear_cache, number=1, repeat=repeat * 5)
        t_cold_bind = micro(cold_bind, sksql.clear_cache, number=1, repeat=repeat * 5)
        cold_bind()
        t_cached = micro(cached, number=number, repeat=repeat)
        t_cached_bind = micro(cached_bind, number=number, repeat=repeat)
        rows.append([f"to_sql {dialect}", f"{t_cold.best * 1e3:.3f}", f"{t_cold_bind.best * 1e3:.3f}",
                     f"{t_cached.best * 1e3:.3f}", f"{t_cached_bind.best * 1e3:.3f}", storage])  # fmt: skip
        out.append(Result("sql", f"to_sql {dialect}: render cold, 50 conditions", t_cold.best * 1e3, 2.0,
                          "ms", f"with bind {t_cold_bind.best * 1e3:.3f} ms"))  # fmt: skip
        out.append(Result("sql", f"to_sql {dialect}: cached shape, 50 conditions", t_cached.best * 1e3, 0.1,
                          "ms", f"with bind {t_cached_bind.best * 1e3:.3f} ms"))  # fmt: skip

    # SQLAlchemy renders through segmentkit's dialect classes; for a cached shape SQLAlchemy
    # still builds the expression and computes its cache key before finding the compiled SQL.
    schema = json_schema
    bound = sk.bind(rule, schema, now=NOW)
    t_build = micro(lambda: members_select(bound, schema), number=number, repeat=repeat)
    t_key = micro(
        lambda: members_select(bound, schema)._generate_cache_key(), number=number, repeat=repeat
    )
    for name in SA_DIALECTS:
        d = _sa_dialect(name)
        t_compile = micro(lambda d=d: members_select(bound, schema).compile(dialect=d), number=5,
                          repeat=repeat)  # fmt: skip
        rows.append([f"SQLAlchemy {name}", f"{t_compile.best * 1e3:.3f}", "", f"{t_key.best * 1e3:.3f}", "",
                     "cold = build + compile; cached = build + cache key"])  # fmt: skip
        out.append(Result("sql", f"SQLAlchemy {name}: build + compile, 50 conditions",
                          t_compile.best * 1e3, 2.0, "ms"))  # fmt: skip
    out.append(Result("sql", "SQLAlchemy: build + cache key (cached shape)", t_key.best * 1e3, 0.1, "ms",
                      f"build alone {t_build.best * 1e3:.3f} ms"))  # fmt: skip
    return rows


def _cache_size(module: Any) -> int:
    """Entries in the sqlglot backend's shape cache (``cache_size()`` where it exists)."""
    if hasattr(module, "cache_size"):
        return int(module.cache_size())
    return len(module._CACHE)


def _sa_dialect(name: str) -> sa.engine.Dialect:
    if name == "duckdb":
        from duckdb_engine import Dialect as DuckDBDialect

        return DuckDBDialect()
    if name == "mysql":
        from sqlalchemy.dialects.mysql import pymysql

        d = pymysql.dialect()
        d.is_mariadb = True  # the server this project runs
        return d
    return sa.create_engine(f"{name}://").dialect


# --------------------------------------------------------------------------- running
def expected_members(contacts: list[dict[str, Any]]) -> dict[str, set[int]]:
    """The member keys of every rule per the Python evaluator (the reference)."""
    schema = data.schema()
    return {label: {r["id"] for r in sk.compile_python(rule, schema, now=NOW).filter(contacts)}
            for label, rule in RULES.items()}  # fmt: skip


def run(records: int, repeat: int, engines: tuple[str, ...] = ENGINES, seed: int = data.DEFAULT_SEED,
        contacts: list[dict[str, Any]] | None = None,
        cols: dict[str, list[Any]] | None = None) -> list[Result]:  # fmt: skip
    out: list[Result] = []
    print(
        f"== SQL member queries: {records:,} contacts; interleaved, best and median of {repeat} runs =="
    )
    if cols is None:
        cols = data.generate_columns(records, seed)
    if contacts is None:
        keys = tuple(cols)
        contacts = [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]
    expected = expected_members(contacts)
    rows: list[list[str]] = []
    for engine in engines:
        problem = _reachable(engine)
        if problem:
            print(f"  {engine}: SKIPPED, server unreachable ({problem})")
            continue
        rows += bench_engine(engine, records, repeat, cols, expected, seed, out)
    print(
        table(
            rows, ["engine", "index", "rule", "query", "best ms", "median ms", "vs hand", "members"]
        )
    )
    print()
    print(f"== SQL compile time, 50 conditions (timeit; cold: best of {repeat * 5} single runs, "
          f"cached: best of {repeat} batches of 20) ==")  # fmt: skip
    print(table(bench_compile(repeat, out),
                ["backend", "cold ms", "cold + bind ms", "cached ms", "cached + bind ms", ""]))  # fmt: skip
    print()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=data.DEFAULT_RECORDS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--seed", type=int, default=data.DEFAULT_SEED)
    args = parser.parse_args(argv)
    results = run(
        args.records, args.repeat, tuple(filter(None, args.engines.split(","))), args.seed
    )
    print(summary(results))


if __name__ == "__main__":
    main()
