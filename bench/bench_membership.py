"""Membership benchmarks: diff of two member sets, and recalculation in PostgreSQL.

    python bench/bench_membership.py                 # 1,000,000 members, 2 % churn
    python bench/bench_membership.py --members 200000 --repeat 3

1. ``diff`` of two 1M-member sets with 2 % churn: Python sets, numpy
   (``setdiff1d``), and ``segmentkit.diff`` on arrays and on sets.
2. Recalculation of a 1M-member segment with 2 % churn on PostgreSQL (``Store``),
   against the bare member ``SELECT`` of the same rule (fetched to the client, and
   counted on the server).
3. Peak Python memory during recalculation (tracemalloc), for a segment of a tenth
   the size and the full one: it must not grow with the segment.

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-sql", action="store_true")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}, numpy {np.__version__}, SQLAlchemy {sa.__version__}")
    bench_diff(args.members, args.repeat)
    if not args.skip_sql:
        bench_recalculation(args.members, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
