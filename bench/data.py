"""Deterministic synthetic CRM contacts for the benchmarks, and fast loaders into databases.

``contacts(n, seed)`` builds the same records for the same ``n`` and ``seed`` on every
machine (one ``random.Random(seed)``, columns generated in a fixed order). Records are
plain dicts keyed by field name with the Python types of SEMANTICS §1: aware UTC
datetimes, ``Decimal`` money, ``frozenset`` tags, and NULLs (``None``) in most columns.

The loaders put the same rows into SQLite, DuckDB, PostgreSQL and MariaDB tables,
each with the bulk path that engine is fastest at (``executemany`` in one transaction,
``COPY`` from a CSV file, ``COPY FROM STDIN``, ``LOAD DATA LOCAL INFILE``). A loaded
table (``sk_bench_contacts``) remembers ``(n, seed, DATA_VERSION)`` in ``sk_bench_meta``, so a second run
on the same database skips the load.

Run ``python bench/data.py --records 100000 --load sqlite,duckdb`` to load by hand.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import segmentkit as sk
from segmentkit.types import FieldType

DEFAULT_RECORDS = 1_000_000
DEFAULT_SEED = 20_260_101
DATA_VERSION = 2  # bump when the generator changes, so cached tables are reloaded
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)  # the ``now`` every benchmark passes
TABLE = "sk_bench_contacts"  # a name no test or application table uses
META = "sk_bench_meta"
WORKDIR = Path(
    os.environ.get("SEGMENTKIT_BENCH_DIR", Path(tempfile.gettempdir()) / "segmentkit-bench")
)
POSTGRES_URL = os.environ.get(
    "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")

COLUMNS = (
    "id", "email", "country", "city", "phone", "age", "signup_at", "last_seen_at",
    "lifetime_value", "orders", "score", "vip", "newsletter", "plan", "tags",
)  # fmt: skip

# Weighted so that a few countries dominate, as in a real European CRM.
_COUNTRIES = {
    "DE": (
        30,
        "+49",
        ("Berlin", "Hamburg", "München", "Köln", "Frankfurt", "Leipzig", "Düsseldorf"),
    ),
    "AT": (8, "+43", ("Wien", "Graz", "Linz", "Salzburg", "Innsbruck")),
    "CH": (6, "+41", ("Zürich", "Genève", "Basel", "Bern", "Lausanne")),
    "FR": (10, "+33", ("Paris", "Lyon", "Marseille", "Toulouse", "Nice")),
    "NL": (5, "+31", ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag")),
    "GB": (9, "+44", ("London", "Manchester", "Leeds", "Glasgow", "Bristol")),
    "US": (12, "+1", ("New York", "Chicago", "Austin", "Seattle", "Boston", "Denver")),
    "ES": (5, "+34", ("Madrid", "Barcelona", "Valencia", "Sevilla")),
    "IT": (5, "+39", ("Roma", "Milano", "Napoli", "Torino")),
    "PL": (4, "+48", ("Warszawa", "Kraków", "Gdańsk", "Wrocław")),
    "SE": (2, "+46", ("Stockholm", "Göteborg", "Malmö")),
    "TR": (2, "+90", ("İstanbul", "Ankara", "İzmir")),
    "JP": (2, "+81", ("Tokyo", "Osaka", "Kyoto")),
}
_DOMAINS = ("gmail.com", "web.de", "gmx.de", "outlook.com", "yahoo.com", "example.com",
            "company.de", "test.com", "t-online.de", "icloud.com")  # fmt: skip
_PLANS = ("free", "basic", "pro", "enterprise")
_PLAN_WEIGHTS = (55, 25, 15, 5)
TAG_VOCABULARY = ("newsletter", "vip", "press", "beta", "churn-risk", "b2b", "b2c", "partner",
                  "student", "reseller", "spam", "event-2025")  # fmt: skip
_FIVE_YEARS = 5 * 365 * 86_400


def _nullify(rng: random.Random, values: list[Any], rate: float) -> list[Any]:
    rand = rng.random
    return [None if rand() < rate else v for v in values]


def generate_columns(n: int = DEFAULT_RECORDS, seed: int = DEFAULT_SEED) -> dict[str, list[Any]]:
    """The contacts as columns (one list per field, ``COLUMNS`` order), deterministic."""
    rng = random.Random(seed)
    rand, randint = rng.random, rng.randint
    codes = list(_COUNTRIES)
    country = rng.choices(codes, weights=[_COUNTRIES[c][0] for c in codes], k=n)
    city = [rng.choice(_COUNTRIES[c][2]) for c in country]
    phone = [f"{_COUNTRIES[c][1]}{randint(100_000_000, 999_999_999)}" for c in country]
    ids = list(range(1, n + 1))
    domains = rng.choices(_DOMAINS, k=n)
    email = [f"user{i}@{d}" for i, d in zip(ids, domains, strict=True)]
    # Ages: mostly adults, a few minors, truncated at 95.
    age = [min(95, max(14, int(rng.gauss(41, 14)))) for _ in ids]
    signup_offset = [randint(0, _FIVE_YEARS) for _ in ids]
    signup_at = [
        NOW - dt.timedelta(seconds=s, microseconds=randint(0, 999_999)) for s in signup_offset
    ]
    # Last seen between signup and now, skewed towards recent activity.
    last_seen_at = [NOW - dt.timedelta(seconds=int(s * rand() ** 3)) for s in signup_offset]
    cents = [int(rng.expovariate(1 / 25_000)) for _ in ids]
    lifetime_value = [Decimal(c).scaleb(-2) for c in cents]
    orders = [min(200, int(rng.expovariate(1 / 4))) for _ in ids]
    score = [round(rand() * 100, 3) for _ in ids]
    vip = [rand() < 0.05 for _ in ids]
    newsletter = [rand() < 0.4 for _ in ids]
    plan = rng.choices(_PLANS, weights=_PLAN_WEIGHTS, k=n)
    tags = [frozenset(rng.sample(TAG_VOCABULARY, min(randint(0, 4), randint(0, 4)))) for _ in ids]
    return {
        "id": ids,
        "email": _nullify(rng, email, 0.02),
        "country": _nullify(rng, country, 0.03),
        "city": _nullify(rng, city, 0.05),
        "phone": _nullify(rng, phone, 0.30),
        "age": _nullify(rng, age, 0.10),
        "signup_at": signup_at,
        "last_seen_at": _nullify(rng, last_seen_at, 0.08),
        "lifetime_value": _nullify(rng, lifetime_value, 0.05),
        "orders": orders,
        "score": _nullify(rng, score, 0.04),
        "vip": _nullify(rng, vip, 0.02),
        "newsletter": newsletter,
        "plan": _nullify(rng, plan, 0.01),
        "tags": _nullify(rng, tags, 0.05),
    }


def contacts(n: int = DEFAULT_RECORDS, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The contacts as a list of dicts keyed by field name."""
    cols = generate_columns(n, seed)
    keys = tuple(cols)
    return [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]


def schema(timezone: str | None = None) -> sk.Schema:
    """The field schema of the records (not backed by a table)."""
    t = FieldType
    types = {
        "id": t.INTEGER, "email": t.STRING, "country": t.STRING, "city": t.STRING,
        "phone": t.STRING, "age": t.INTEGER, "signup_at": t.DATETIME,
        "last_seen_at": t.DATETIME, "lifetime_value": t.DECIMAL, "orders": t.INTEGER,
        "score": t.FLOAT, "vip": t.BOOLEAN, "newsletter": t.BOOLEAN, "plan": t.STRING,
        "tags": t.TAGS,
    }  # fmt: skip
    return sk.Schema([sk.Field(name, types[name]) for name in COLUMNS], key="id", timezone=timezone)


# --------------------------------------------------------------------------- tables
def contacts_table(metadata: sa.MetaData, dialect: str) -> sa.Table:
    """The contacts table for ``dialect`` (sqlite, duckdb, postgresql, mysql).

    Tags are a native array on PostgreSQL and DuckDB, JSON text elsewhere. Datetimes are
    ``TIMESTAMPTZ`` where the engine has one and naive UTC elsewhere.
    """
    aware = dialect in ("postgresql", "duckdb")
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        tags_type: sa.types.TypeEngine[Any] = ARRAY(sa.Text)
    elif dialect == "duckdb":
        tags_type = sa.ARRAY(sa.String)
    else:
        tags_type = sa.JSON()
    # MariaDB's DATETIME drops microseconds unless asked for them.
    stamp: sa.types.TypeEngine[Any] = sa.DateTime(timezone=aware)
    if dialect == "mysql":
        from sqlalchemy.dialects.mysql import DATETIME

        stamp = DATETIME(fsp=6)
    return sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(255)),
        sa.Column("country", sa.String(2)),
        sa.Column("city", sa.String(64)),
        sa.Column("phone", sa.String(32)),
        sa.Column("age", sa.Integer),
        sa.Column("signup_at", stamp, nullable=False),
        sa.Column("last_seen_at", stamp),
        sa.Column("lifetime_value", sa.Numeric(12, 2)),
        sa.Column("orders", sa.Integer, nullable=False),
        sa.Column("score", sa.Double),  # 64-bit like the Python floats
        sa.Column("vip", sa.Boolean),
        sa.Column("newsletter", sa.Boolean, nullable=False),
        sa.Column("plan", sa.String(16)),
        sa.Column("tags", tags_type),
    )


def table_schema(table: sa.Table) -> sk.Schema:
    """The segmentkit schema of a loaded table (``Schema.from_table``)."""
    return sk.Schema.from_table(table)


# --------------------------------------------------------------------------- loaders
def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def _sqlite_time(value: dt.datetime | None) -> str | None:
    # SQLAlchemy's storage format for DateTime on SQLite, so its bound values compare.
    return None if value is None else _naive_utc(value).strftime("%Y-%m-%d %H:%M:%S.%f")  # type: ignore[union-attr]


def _json_tags(value: frozenset[str] | None) -> str | None:
    return None if value is None else json.dumps(sorted(value))


def _meta_ok(conn: Any, n: int, seed: int, paramstyle: str = "?") -> bool:
    try:
        cur = conn.cursor()
        cur.execute(f"SELECT n, seed, version FROM {META}")
        row = cur.fetchone()
    except Exception:
        with contextlib.suppress(Exception):
            conn.rollback()
        return False
    return tuple(row or ()) == (n, seed, DATA_VERSION)


def _write_meta(cur: Any, n: int, seed: int, ph: str) -> None:
    cur.execute(f"DROP TABLE IF EXISTS {META}")
    cur.execute(f"CREATE TABLE {META} (n BIGINT, seed BIGINT, version INTEGER)")
    cur.execute(f"INSERT INTO {META} VALUES ({ph}, {ph}, {ph})", (n, seed, DATA_VERSION))


def _create_ddl(dialect_name: str, engine_dialect: sa.engine.Dialect) -> tuple[sa.Table, str]:
    table = contacts_table(sa.MetaData(), dialect_name)
    ddl = str(sa.schema.CreateTable(table).compile(dialect=engine_dialect))
    return table, ddl


def load_sqlite(path: Path, cols: dict[str, list[Any]], seed: int = DEFAULT_SEED) -> sa.Engine:
    """Load into a SQLite file with ``executemany`` in one transaction."""
    n = len(cols["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    try:
        if _meta_ok(conn, n, seed):
            return engine
        _, ddl = _create_ddl("sqlite", engine.dialect)
        conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        conn.execute(ddl)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        rows = zip(
            cols["id"], cols["email"], cols["country"], cols["city"], cols["phone"], cols["age"],
            map(_sqlite_time, cols["signup_at"]), map(_sqlite_time, cols["last_seen_at"]),
            (None if v is None else str(v) for v in cols["lifetime_value"]),
            cols["orders"], cols["score"], cols["vip"], cols["newsletter"], cols["plan"],
            map(_json_tags, cols["tags"]),
            strict=True,
        )  # fmt: skip
        conn.executemany(f"INSERT INTO {TABLE} VALUES ({', '.join('?' * len(COLUMNS))})", rows)
        _write_meta(conn.cursor(), n, seed, "?")
        conn.commit()
        conn.execute("ANALYZE")
    finally:
        conn.close()
    return engine


def _csv_rows(
    cols: dict[str, list[Any]], time_fmt: Callable[[Any], Any], tags_fmt: Callable[[Any], Any]
) -> Iterator[tuple[Any, ...]]:
    return zip(
        cols["id"], cols["email"], cols["country"], cols["city"], cols["phone"], cols["age"],
        map(time_fmt, cols["signup_at"]), map(time_fmt, cols["last_seen_at"]),
        cols["lifetime_value"], cols["orders"], cols["score"], cols["vip"], cols["newsletter"],
        cols["plan"], map(tags_fmt, cols["tags"]),
        strict=True,
    )  # fmt: skip


def load_duckdb(path: Path, cols: dict[str, list[Any]], seed: int = DEFAULT_SEED) -> sa.Engine:
    """Load into a DuckDB file through a CSV file and ``COPY`` (no numpy/pandas needed)."""
    import duckdb

    n = len(cols["id"])
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(path))
    try:
        if not _meta_ok(conn, n, seed):
            engine = sa.create_engine("duckdb:///:memory:")
            _, ddl = _create_ddl("duckdb", engine.dialect)
            engine.dispose()
            csv_path = path.with_suffix(".csv")

            def dk_tags(v: frozenset[str] | None) -> str | None:
                return None if v is None else "[" + ", ".join(sorted(v)) + "]"

            def iso(v: dt.datetime | None) -> str | None:
                return None if v is None else v.isoformat()

            with csv_path.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh)
                # None -> empty field, read back as NULL; no real value is empty here.
                writer.writerows(_csv_rows(cols, iso, dk_tags))
            conn.execute("SET TimeZone = 'UTC'")
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            conn.execute(ddl)
            conn.execute(f"COPY {TABLE} FROM '{csv_path}' (FORMAT csv, HEADER false)")
            csv_path.unlink()
            _write_meta(conn.cursor(), n, seed, "?")
            conn.execute("CHECKPOINT")
    finally:
        conn.close()
    return sa.create_engine(f"duckdb:///{path}")


def load_postgres(url: str, cols: dict[str, list[Any]], seed: int = DEFAULT_SEED) -> sa.Engine:
    """Load into PostgreSQL with ``COPY ... FROM STDIN`` (binary-typed rows via psycopg)."""
    engine = sa.create_engine(url)
    n = len(cols["id"])
    raw = engine.raw_connection()
    try:
        if _meta_ok(raw, n, seed):
            return engine
        _, ddl = _create_ddl("postgresql", engine.dialect)
        cur = raw.cursor()
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(ddl)
        names = ", ".join(COLUMNS)
        with cur.connection.cursor().copy(f"COPY {TABLE} ({names}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in _csv_rows(cols, lambda v: v, lambda v: None if v is None else sorted(v)):
                copy.write_row(row)
        _write_meta(cur, n, seed, "%s")
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {TABLE}")
    return engine


def load_mysql(url: str, cols: dict[str, list[Any]], seed: int = DEFAULT_SEED) -> sa.Engine:
    """Load into MariaDB/MySQL with ``LOAD DATA LOCAL INFILE`` (multi-row INSERTs if refused)."""
    engine = sa.create_engine(url, connect_args={"local_infile": True})
    n = len(cols["id"])
    raw = engine.raw_connection()
    try:
        if _meta_ok(raw, n, seed):
            return engine
        _, ddl = _create_ddl("mysql", engine.dialect)
        cur = raw.cursor()
        cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        cur.execute(ddl)

        def my_time(v: dt.datetime | None) -> str | None:
            naive = _naive_utc(v)
            return None if naive is None else naive.isoformat(sep=" ")

        rows = [
            tuple(int(v) if isinstance(v, bool) else v for v in r)
            for r in _csv_rows(cols, my_time, _json_tags)
        ]
        try:
            path = WORKDIR / "contacts-mysql.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", encoding="utf-8", newline="") as fh:
                for r in rows:
                    fh.write("\t".join(_tsv(v) for v in r))
                    fh.write("\n")
            cur.execute(
                f"LOAD DATA LOCAL INFILE %s INTO TABLE {TABLE} CHARACTER SET utf8mb4 "
                "FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n'",
                (str(path),),
            )
            path.unlink()
        except Exception as exc:  # server refuses LOCAL INFILE: fall back to batches
            print(f"  LOAD DATA refused ({exc}); using multi-row INSERTs", file=sys.stderr)
            raw.rollback()
            cur.execute(f"TRUNCATE TABLE {TABLE}")
            sql = f"INSERT INTO {TABLE} VALUES ({', '.join(['%s'] * len(COLUMNS))})"
            for i in range(0, len(rows), 5_000):
                cur.executemany(sql, rows[i : i + 5_000])  # PyMySQL batches into one INSERT
        _write_meta(cur, n, seed, "%s")
        raw.commit()
        cur.execute(f"ANALYZE TABLE {TABLE}")
        cur.fetchall()
    finally:
        raw.close()
    return engine


def _tsv(value: Any) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    # Our data has no tabs or newlines; backslashes must be escaped for LOAD DATA.
    return text.replace("\\", "\\\\")


LOADERS: dict[str, Callable[[dict[str, list[Any]], int], sa.Engine]] = {
    "sqlite": lambda cols, seed: load_sqlite(
        WORKDIR / f"contacts-{len(cols['id'])}.sqlite", cols, seed
    ),
    "duckdb": lambda cols, seed: load_duckdb(
        WORKDIR / f"contacts-{len(cols['id'])}.duckdb", cols, seed
    ),
    "postgresql": lambda cols, seed: load_postgres(POSTGRES_URL, cols, seed),
    "mysql": lambda cols, seed: load_mysql(MYSQL_URL, cols, seed),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=DEFAULT_RECORDS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--load", default="", help="comma-separated: sqlite,duckdb,postgresql,mysql"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    cols = generate_columns(args.records, args.seed)
    print(f"generated {args.records:,} contacts in {time.perf_counter() - t0:.1f} s")
    for name in filter(None, args.load.split(",")):
        t0 = time.perf_counter()
        LOADERS[name](cols, args.seed)
        print(f"loaded {name} in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
