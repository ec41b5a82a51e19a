"""Run every segmentkit benchmark in one go and print ratios against DESIGN.md's targets.

    python bench/run.py                  # 1,000,000 contacts (a quarter of an hour here)
    python bench/run.py --records 200000
    python bench/run.py --quick          # 100,000 contacts, fewer repeats: a smoke run

The contacts are generated once and shared by the Python and SQL benchmarks; the
membership benchmark (``bench_membership.py``, diff and recalculation) runs last with the
same size and prints its own figures. Database
tables are reused between runs when they already hold the same contacts (see
``data.py``). PostgreSQL and MariaDB are skipped with a message when unreachable.
Every figure is the best of several runs (the median is printed beside it): the
machine is shared, so the best run is the one least disturbed by others.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_python
import bench_sql
import data
from _timing import Result, summary

import segmentkit as sk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=None, help="contacts (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 contacts, 3 repeats")
    parser.add_argument("--repeat", type=int, default=None, help="runs per measurement (default 5)")
    parser.add_argument("--sample", type=int, default=20_000, help="records for the slow peers")
    parser.add_argument("--engines", default=",".join(bench_sql.ENGINES))
    parser.add_argument("--skip", default="", help="comma-separated: python,sql,membership")
    parser.add_argument("--seed", type=int, default=data.DEFAULT_SEED)
    args = parser.parse_args(argv)
    records = args.records or (100_000 if args.quick else data.DEFAULT_RECORDS)
    repeat = args.repeat or (3 if args.quick else 5)
    sample = min(args.sample, 10_000 if args.quick else args.sample, records)
    skip = set(filter(None, args.skip.split(",")))

    started = time.perf_counter()
    print(f"segmentkit {sk.__version__} benchmarks, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {records:,} contacts")  # fmt: skip
    t0 = time.perf_counter()
    cols = data.generate_columns(records, args.seed)
    keys = tuple(cols)
    contacts = [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]
    print(f"generated {records:,} contacts in {time.perf_counter() - t0:.1f} s\n")

    results: list[Result] = []
    if "python" not in skip:
        results += bench_python.run(records, sample, repeat, args.seed, contacts=contacts)
    if "sql" not in skip:
        engines = tuple(filter(None, args.engines.split(",")))
        results += bench_sql.run(records, repeat, engines, args.seed, contacts=contacts, cols=cols)

    membership_failed = False
    if "membership" not in skip:
        # The membership benchmark (diff, recalculation) belongs to bench_membership.py and
        # prints its own figures; it runs here so that one command measures everything.
        print(f"== Membership (bench/bench_membership.py): {records:,} members ==")
        try:
            import bench_membership

            bench_membership.main(["--members", str(records), "--repeat", str(repeat)])
        except Exception as exc:  # report and go on: the other figures are still worth having
            membership_failed = True
            print(f"  membership benchmark FAILED: {type(exc).__name__}: {exc}", file=sys.stderr)
        print()

    print(f"== Summary: ratios and times against DESIGN.md's targets ({records:,} contacts, "
          f"best of {repeat}) ==")  # fmt: skip
    print(summary(results))
    met = sum(1 for r in results if r.met is True)
    missed = sum(1 for r in results if r.met is False)
    print(f"\n{met} targets met, {missed} missed; total time {time.perf_counter() - started:.0f} s")
    if "membership" not in skip:
        print("(membership targets: see the membership section above)")
    if bench_sql.FAILURES:
        print("\nWRONG ANSWERS (not timed):\n" + "\n".join(bench_sql.FAILURES), file=sys.stderr)
        return 1
    return 1 if membership_failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
