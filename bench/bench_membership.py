"""Membership benchmarks: diff of two member sets, and recalculation in the store.

    python bench/bench_membership.py                 # 1,000,000 members, 2 % churn
    python bench/bench_membership.py --members 200000 --repeat 3
    python bench/bench_membership.py --scale sqlite,mysql,postgresql --sizes 10000,100000,1000000

1. ``diff`` of two 1M-member sets with 2 % churn: Python sets, numpy
   (``setdiff1d``), and ``segmentkit.diff`` on arrays and on sets.
2. Recalculation of a 1M-member segment with 2 % churn on PostgreSQL (``Store``),
   against the bare member ``SELECT`` of the same rule (fetched to the client, and
   counted on the server).
3. Peak Python memory during recalculation (tracemalloc), for a segment of a tenth
   the size and the full one: it must not grow with the segment.

4. ``--scale``: recalculation from 10k to 1M contacts on SQLite, MariaDB and
   PostgreSQL, a quarter of the contacts changing membership per run, and a run with
   no change, each against the bare member ``SELECT`` fetched to Python (target
   <= 2x). ``--max-seconds`` stops growing an engine once one step took longer.

Every figure is the best of ``--repeat`` runs (median beside it): the machine is
shared. Tables are created under ``bench_sk_`` and dropped at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import sqlalchemy as sa

from segmentkit.membership import diff
from segmentkit.schema import Schema
from segmentkit.store import Store, make_tables

PG_URL = os.environ.get(
    "SEGMENTKIT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MYSQL_URL = os.environ.get("SEGMENTKIT_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def best(
    fn: Callable[[], Any], repeat: int, between: Callable[[], Any] | None = None
) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        if between is not None:
            between()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times), statistics.median(times)


def row(name: str, t: tuple[float, float], ref: float | None = None) -> None:
    ratio = f"{t[0] / ref:7.2f}x" if ref else ""
    print(f"  {name:48s} {t[0] * 1000:9.1f} ms  (median {t[1] * 1000:9.1f})  {ratio}")


# --------------------------------------------------------------------------- diff
def bench_diff(n: int, repeat: int) -> None:
    rng = np.random.default_rng(7)
    churn = n // 50
    ids = rng.permutation(np.arange(1, n + churn + 1, dtype=np.int64))
    old = ids[:n]
    new = np.concatenate([ids[churn:n], ids[n:]])  # churn removed, churn added
    rng.shuffle(new)
    old_set, new_set = set(old.tolist()), set(new.tolist())
    old_sorted, new_sorted = np.sort(old), np.sort(new)
    print(f"\ndiff of two {n:,}-member sets, {churn:,} added + {churn:,} removed")
    py = best(lambda: (new_set - old_set, old_set - new_set), repeat)
    row("Python sets (new - old, old - new)", py)
    row(
        "numpy setdiff1d, sorted, assume_unique",
        best(
            lambda: (
                np.setdiff1d(new_sorted, old_sorted, True),
                np.setdiff1d(old_sorted, new_sorted, True),
            ),
            repeat,
        ),
        py[0],
    )
    row(
        "numpy setdiff1d, unsorted",
        best(lambda: (np.setdiff1d(new, old), np.setdiff1d(old, new)), 1),
        py[0],
    )
    d = diff(old, new)
    assert d.added == new_set - old_set and d.removed == old_set - new_set
    assert d.unchanged == n - churn
    row("segmentkit.diff(arrays)", best(lambda: diff(old, new), repeat), py[0])
    row(
        "segmentkit.diff(arrays) + .added/.removed sets",
        best(lambda: (lambda x: (x.added, x.removed))(diff(old, new)), repeat),
        py[0],
    )
    row("segmentkit.diff(sorted arrays)", best(lambda: diff(old_sorted, new_sorted), repeat), py[0])
    sparse_old, sparse_new = old * 1_000_003, new * 1_000_003
    row(
        "segmentkit.diff(sparse keys, unsorted arrays)",
        best(lambda: diff(sparse_old, sparse_new), repeat),
        py[0],
    )
    row("segmentkit.diff(Python sets)", best(lambda: diff(old_set, new_set), repeat), py[0])


# --------------------------------------------------------------------------- recalculation
def bench_recalculation(n: int, repeat: int) -> None:
    engine = sa.create_engine(PG_URL)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        print(f"\nPostgreSQL unreachable at {PG_URL}: {type(exc).__name__}; recalculation skipped")
        return
    tables = make_tables("bench_sk_")
    contacts = sa.Table(
        "bench_sk_contacts",
        tables.metadata,
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("flag", sa.Integer, nullable=False),
    )
    tables.metadata.drop_all(engine)
    tables.metadata.create_all(engine)
    total = n + n // 50
    try:
        with engine.begin() as conn:
            # 2 % of the contacts start outside the segment.
            conn.exec_driver_sql(
                "INSERT INTO bench_sk_contacts (id, flag) "
                f"SELECT i, CASE WHEN mod(i, 50) = 0 THEN 0 ELSE 1 END FROM generate_series(1, {total}) i"
            )
            conn.exec_driver_sql("ANALYZE bench_sk_contacts")
        store = Store(engine, Schema.from_table(contacts), tables)
        rule = {"field": "flag", "operator": "eq", "value": 1}
        small_rule = {
            "combinator": "and",
            "rules": [rule, {"field": "id", "operator": "lte", "value": n // 10}],
        }
        store.create({"id": "big", "rule": rule})
        store.create({"id": "small", "rule": small_rule})
        t0 = time.perf_counter()
        first = store.recalculate("big", NOW)
        print(
            f"\nrecalculation on PostgreSQL: {total:,} contacts, segment of {first.member_count:,}"
        )
        print(
            f"  first calculation (everyone added)               {time.perf_counter() - t0:9.2f} s"
        )
        store.recalculate("small", NOW)

        rounds = iter(range(10**6))

        def churn() -> None:
            # Toggle a pseudo-random 2 % of the contacts: ~2 % of members leave,
            # the non-members among them join.
            k = next(rounds)
            with engine.begin() as conn:
                conn.exec_driver_sql(
                    f"UPDATE bench_sk_contacts SET flag = 1 - flag WHERE mod(id * 7919 + {k}, 50) = 0"
                )

        from segmentkit.compile.sqlalchemy import members_select

        select = members_select(rule, store.schema, NOW)

        def fetch() -> int:
            with engine.connect() as conn:
                return len(conn.execute(select).all())

        def count() -> int:
            with engine.connect() as conn:
                return int(
                    conn.execute(
                        sa.select(sa.func.count()).select_from(select.subquery())
                    ).scalar_one()
                )

        # Interleaved, so the recalculation and its baselines see the same load on
        # a shared machine: per round, churn, recalculate, recalculate again (no
        # change), fetch the bare SELECT, count it on the server.
        timings: dict[str, list[float]] = {k: [] for k in ("recalc", "noop", "fetch", "count")}
        runs: list[Any] = []
        for _ in range(repeat):
            churn()
            for name, fn in (
                ("recalc", lambda: runs.append(store.recalculate("big", NOW))),
                ("noop", lambda: store.recalculate("big", NOW)),
                ("fetch", fetch),
                ("count", count),
            ):
                timings[name].append(best(fn, 1)[0])
        recalc, noop, fetched, counted = (
            (min(timings[k]), statistics.median(timings[k]))
            for k in ("recalc", "noop", "fetch", "count")
        )
        changes = statistics.median(r.added + r.removed for r in runs)
        print(
            f"  churn per run: median {changes:,.0f} changes ({changes / first.member_count:.1%} of the segment)"
        )
        row("bare member SELECT, fetched to Python", fetched)
        row("bare member SELECT, COUNT(*) on the server", counted)
        row("segmentkit recalculation, 2 % churn", recalc)
        row("segmentkit recalculation, no change", noop)
        print(
            f"  ratio recalculation / fetched SELECT: {recalc[0] / fetched[0]:.2f}x (target <= 2x)"
        )
        print(f"  ratio recalculation / server COUNT:   {recalc[0] / counted[0]:.2f}x")
        assert store.count("big") == store.count("big", exact=True)

        def peak(segment: str) -> int:
            churn()
            tracemalloc.start()
            tracemalloc.reset_peak()
            store.recalculate(segment, NOW)
            _, top = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            return top

        small_peak, big_peak = peak("small"), peak("big")

        class Sink:
            def write(self, text: str) -> int:
                return len(text)

        tracemalloc.start()
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        exported = store.export_jsonl("big", Sink())  # type: ignore[arg-type]
        export_s = time.perf_counter() - t0
        _, export_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"  peak Python memory, segment of {store.count('small'):>9,}: {small_peak / 1024:8.0f} KiB"
        )
        print(
            f"  peak Python memory, segment of {store.count('big'):>9,}: {big_peak / 1024:8.0f} KiB"
            f"  (ratio {big_peak / small_peak:.2f}x for 10x the members)"
        )
        print(
            f"  export_jsonl of {exported:,} members: {export_s:.2f} s (under tracemalloc),"
            f" peak Python memory {export_peak / 1024:.0f} KiB"
        )
    finally:
        tables.metadata.drop_all(engine)
        engine.dispose()


# --------------------------------------------------------------------------- scaling
def _scale_engine(name: str, workdir: str) -> sa.Engine | None:
    if name == "sqlite":
        path = os.path.join(workdir, "bench_scale.db")
        if os.path.exists(path):
            os.remove(path)
        return sa.create_engine(f"sqlite:///{path}")
    url = {"postgresql": PG_URL, "mysql": MYSQL_URL}[name]
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    except Exception as exc:
        print(f"  {name} unreachable at {url}: {type(exc).__name__}; skipped")
        return None
    return engine


def _load_contacts(engine: sa.Engine, contacts: sa.Table, n: int) -> None:
    """Contacts 1..n with ``flag = id % 8`` (generated in the database)."""
    name = contacts.name
    with engine.begin() as conn:
        conn.execute(contacts.delete())
        d = conn.dialect.name
        if d == "postgresql":
            conn.exec_driver_sql(
                f"INSERT INTO {name} (id, flag) SELECT i, mod(i, 8) FROM generate_series(1, {n}) i"
            )
            conn.exec_driver_sql(f"ANALYZE {name}")
        elif d == "sqlite":
            conn.exec_driver_sql(
                f"INSERT INTO {name} (id, flag) WITH RECURSIVE c(i) AS "
                f"(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) SELECT i, i % 8 FROM c"
            )
        else:  # MariaDB: the SEQUENCE engine
            conn.exec_driver_sql(
                f"INSERT INTO {name} (id, flag) SELECT seq, MOD(seq, 8) FROM seq_1_to_{n}"
            )
            conn.exec_driver_sql(f"ANALYZE TABLE {name}")


def _scale_one(
    name: str, engine: sa.Engine, tables: Any, contacts: sa.Table, n: int, repeat: int
) -> tuple[float, float, float]:
    """One size on one engine: prints a row, returns (first, churn, no change) seconds."""
    from segmentkit.compile.sqlalchemy import members_select

    rule = {"field": "flag", "operator": "lt", "value": 4}
    tables.metadata.drop_all(engine)
    tables.metadata.create_all(engine)
    _load_contacts(engine, contacts, n)
    store = Store(engine, Schema.from_table(contacts), tables)
    store.create({"id": "quarter", "rule": rule})
    t0 = time.perf_counter()
    first = store.recalculate("quarter", NOW)
    first_s = time.perf_counter() - t0
    select = members_select(rule, store.schema, NOW)

    def shift() -> None:
        with engine.begin() as conn:
            conn.execute(contacts.update().values(flag=(contacts.c.flag + 1) % 8))

    def fetch() -> int:
        with engine.connect() as conn:
            return len(conn.execute(select).all())

    times: dict[str, list[float]] = {"churn": [], "none": [], "fetch": []}
    for _ in range(repeat):
        shift()
        for key, fn in (
            ("churn", lambda: store.recalculate("quarter", NOW)),
            ("none", lambda: store.recalculate("quarter", NOW)),
            ("fetch", fetch),
        ):
            t0 = time.perf_counter()
            out = fn()
            times[key].append(time.perf_counter() - t0)
            if key == "churn":
                assert abs(out.added + out.removed - n / 4) <= 2, (
                    out.added,
                    out.removed,
                )
            elif key == "none":
                assert out.added == out.removed == 0
    assert store.count("quarter") == store.count("quarter", exact=True) == fetch()
    churn, none, sel = (min(times[k]) for k in ("churn", "none", "fetch"))
    print(
        f"  {name:10s} {n:9,d} {first_s:7.2f}s {churn:9.2f}s {none:9.2f}s"
        f" {sel:7.2f}s {churn / sel:12.2f}x {none / sel:11.2f}x"
        f"   ({first.member_count:,} members)",
        flush=True,
    )
    return first_s, churn, none


def bench_scaling(engines: list[str], sizes: list[int], repeat: int, limit: float) -> None:
    """Recalculation time against contacts, per engine; a quarter changes per run."""
    import tempfile

    print(
        "\nrecalculation scaling: rule flag < 4 over flag = id % 8; each churn shifts every"
        " flag by one, so 1/8 of the contacts join and 1/8 leave (a quarter change);"
        " ratios are to the bare member SELECT fetched to Python (target <= 2x)"
    )
    header = (
        f"  {'engine':10s} {'contacts':>9s} {'first':>8s} {'1/4 churn':>10s} {'no change':>10s}"
        f" {'SELECT':>8s} {'churn/SELECT':>13s} {'none/SELECT':>12s}"
    )
    print(header)
    workdir = tempfile.mkdtemp(prefix="sk-bench-scale-")
    for name in engines:
        engine = _scale_engine(name, workdir)
        if engine is None:
            continue
        tables = make_tables("bench_sc_")
        contacts = sa.Table(
            "bench_sc_contacts",
            tables.metadata,
            sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("flag", sa.Integer, nullable=False),
        )
        try:
            for n in sizes:
                first_s, churn, none = _scale_one(name, engine, tables, contacts, n, repeat)
                if max(first_s, churn, none) > limit:
                    print(f"  {name}: a step took over {limit:g} s; larger sizes skipped")
                    break
        finally:
            tables.metadata.drop_all(engine)
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-sql", action="store_true")
    parser.add_argument(
        "--scale",
        default="",
        help="only the scaling runs, on these engines (sqlite,mysql,postgresql)",
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}, SQLAlchemy {sa.__version__}")
    if args.scale:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        engines = [e.strip() for e in args.scale.split(",") if e.strip()]
        bench_scaling(engines, sizes, args.repeat, args.max_seconds)
        return 0
    bench_diff(args.members, args.repeat)
    if not args.skip_sql:
        bench_recalculation(args.members, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
