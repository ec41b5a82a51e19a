"""Inputs at the documented limits: what they cost (issue 11, item 10).

* ``compile_python`` of a rule of 10,000 nodes (``MAX_NODES``): wall time (best and
  median of several cold compiles, the shape cache cleared each time) and peak memory
  (``tracemalloc``, one separate run, because tracing slows the run down), for the
  interpreter used above ``MAX_GENERATED_LEAVES`` and for code generation forced on
  the same rule (what every rule took before);
* regular expressions: RE2 search time (the Python evaluator, SQLite, DuckDB) of the
  worst patterns the validator still accepts next to the refused ones it replaced, on
  100,000-character values; and, with ``--mariadb URL``, MariaDB's time on 8,000
  characters (refused patterns are sent to the server directly, unvalidated);
* decimals: the length of the inline SQL of the largest accepted decimal (the
  12-character ``1e999999999`` used to become a 1,000,000,021-character literal).

Run: ``python bench/bench_limits.py [--repeat N] [--mariadb mysql+pymysql://...]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import segmentkit as sk
from segmentkit.compile import python as py
from segmentkit.compile.sql import regex_search_sql
from segmentkit.model import MAX_NODES
from segmentkit.regex import for_dialect, python_search, validate_pattern

SCHEMA = sk.Schema(
    [
        sk.Field("id", "integer"),
        sk.Field("name", "string"),
        sk.Field("age", "integer"),
        sk.Field("score", "float"),
        sk.Field("ltv", "decimal"),
        sk.Field("tags", "tags"),
        sk.Field("seen_at", "datetime"),
    ]
)


def largest_rule() -> dict[str, Any]:
    """An ``or`` of ``and`` groups of 9 mixed conditions: exactly MAX_NODES nodes."""
    kinds: list[Callable[[int], dict[str, Any]]] = [
        lambda i: {"field": "age", "operator": "gte", "value": i},
        lambda i: {"field": "name", "operator": "contains", "value": f"x{i}"},
        lambda i: {"field": "score", "operator": "lt", "value": i / 2},
        lambda i: {"field": "tags", "operator": "has", "value": f"t{i}"},
        lambda i: {"field": "name", "operator": "eq", "value": f"n{i}", "ignore_case": True},
        lambda i: {"field": "ltv", "operator": "gt", "value": str(i)},
        lambda i: {
            "field": "seen_at",
            "operator": "in_last",
            "value": {"amount": i % 99, "unit": "days"},
        },
    ]
    groups: list[dict[str, Any]] = []
    nodes, i = 1, 0
    while nodes + 10 <= MAX_NODES:
        groups.append({"combinator": "and", "rules": [kinds[(i + k) % 7](i + k) for k in range(9)]})
        nodes += 10
        i += 9
    groups += [{"field": "age", "operator": "eq", "value": -k} for k in range(MAX_NODES - nodes)]
    return {"combinator": "or", "rules": groups}


def flat_rule() -> dict[str, Any]:
    """An ``or`` of 9,999 conditions: 10,000 nodes."""
    conds = [{"field": "age", "operator": "eq", "value": i} for i in range(MAX_NODES - 1)]
    return {"combinator": "or", "rules": conds}


def cold_compile(rule: dict[str, Any], generate: bool) -> Callable[[], Any]:
    def run() -> Any:
        py._cache.clear()
        saved = py.MAX_GENERATED_LEAVES
        if generate:
            py.MAX_GENERATED_LEAVES = 10**9
        try:
            return sk.compile_python(rule, SCHEMA)
        finally:
            py.MAX_GENERATED_LEAVES = saved

    return run


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def peak_mib(fn: Callable[[], Any]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def bench_compile(repeat: int) -> None:
    print(f"compile_python, cold, rules of {MAX_NODES:,} nodes (best / median of {repeat}; peak)")
    print(f"{'rule':<28}{'path':<14}{'best s':>9}{'median s':>10}{'peak MiB':>10}")
    for name, rule in (
        ("or of 1,000 and-groups", largest_rule()),
        ("or of 9,999 conditions", flat_rule()),
    ):
        for path, generate in (("interpreted", False), ("generated", True)):
            fn = cold_compile(rule, generate)
            best, median = timed(fn, repeat if not generate else max(1, repeat // 2))
            peak = peak_mib(fn)
            print(f"{name:<28}{path:<14}{best:>9.3f}{median:>10.3f}{peak:>10.1f}")
    rows = [
        {"id": i, "name": f"n{i}", "age": i % 90, "score": i / 3, "tags": frozenset({f"t{i}"})}
        for i in range(10_000)
    ]
    rule = largest_rule()
    interpreted = cold_compile(rule, False)()
    generated = cold_compile(rule, True)()
    assert interpreted.filter(rows) == generated.filter(rows)
    for path, match in (("interpreted", interpreted), ("generated", generated)):
        best, median = timed(lambda m=match: m.filter(rows), 3)
        print(f"filter of 10,000 records, {path}: {best:.3f} s (median {median:.3f})")


REFUSED = {
    "(.{1,255}){0,1} x8 then x$": "(.{1,255}){0,1}" * 8 + "x$",
    "^[^q]*[^q]*[^q]*q$": "^[^q]*[^q]*[^q]*q$",
    "^[^x]*a[^x]*b$": "^[^x]*a[^x]*b$",
}
ACCEPTED = {
    "x[^y]{0,100}y": "x[^y]{0,100}y",
    "x[^yz]{0,50}z[^y]{0,49}y": "x[^yz]{0,50}z[^y]{0,49}y",
    "^[^q]*q$": "^[^q]*q$",
    "a?a?a?a?aaaa": "a?a?a?a?aaaa",
    "[a-z]+@[a-z]+\\.[a-z]{2,6}$": "[a-z]+@[a-z]+\\.[a-z]{2,6}$",
}


def _re2(pattern: str) -> Callable[[str], bool]:
    """RE2 search of the pattern as the evaluator emits it, without validation."""
    import re2

    from segmentkit.regex import _OPTIONS, _RE2, _emit, _parse  # the evaluator's own emitter

    compiled = re2.compile(_emit(_parse(pattern)[0], _RE2).encode(), _OPTIONS)
    return lambda subject: compiled.search(subject.encode()) is not None


def bench_regex(repeat: int, mariadb: str | None) -> None:
    rnd = random.Random(1)
    subjects = {
        "x/a random": "".join(rnd.choice("xa") for _ in range(100_000)),
        "a * 100,000": "a" * 100_000,
    }
    print("\nRE2 search on 100,000 characters (best of runs, seconds)")
    print(f"{'pattern':<32}{'accepted':>9}" + "".join(f"{k:>14}" for k in subjects))
    for table, accepted in ((REFUSED, False), (ACCEPTED, True)):
        for name, pattern in table.items():
            assert (validate_pattern(pattern) == []) == accepted, pattern
            search = python_search(pattern) if accepted else _re2(pattern)
            cells = []
            for subject in subjects.values():
                runs = max(1, repeat // 2) if not accepted else repeat
                best, _ = timed(lambda s=subject, f=search: f(s), runs)
                cells.append(f"{best:>14.4f}")
            print(f"{name:<32}{'yes' if accepted else 'no':>9}" + "".join(cells))
    if mariadb is None:
        return
    import sqlalchemy as sa

    engine = sa.create_engine(mariadb)
    # FROM a table: MariaDB clears the warning list only for statements that use one.
    query = sa.text(
        "SELECT " + regex_search_sql("mariadb", ":s", ":p") + " FROM sk_bench_one"
    ).execution_options(segmentkit_regex_guard=False)
    print("\nMariaDB REGEXP on 8,000 characters (seconds; warning 1139 = PCRE2 gave up)")
    with engine.connect() as conn:
        conn.execute(sa.text("CREATE TEMPORARY TABLE sk_bench_one (i INT)"))
        conn.execute(sa.text("INSERT INTO sk_bench_one VALUES (1)"))
        for table, accepted in ((REFUSED, False), (ACCEPTED, True)):
            for name, pattern in table.items():
                text = for_dialect(pattern, "mysql") if accepted else "(?-ix)" + pattern
                for subject in ("a" * 8000, "ab" * 4000):
                    t0 = time.perf_counter()
                    conn.execute(query, {"s": subject, "p": text}).scalar_one()
                    took = time.perf_counter() - t0
                    warns = conn.execute(sa.text("SHOW WARNINGS")).all()
                    flag = " 1139" if any(w[1] == 1139 for w in warns) else ""
                    print(
                        f"{name:<32}{'yes' if accepted else 'no':>9}  {subject[:2]}…  {took:.3f}{flag}"
                    )
    engine.dispose()


def bench_decimal() -> None:
    largest = "9" * 35 + "." + "9" * 3
    text = sk.to_sql(
        {"field": "ltv", "operator": "gt", "value": largest}, SCHEMA, "postgres", inline=True
    )
    print(f"\ninline SQL of the largest accepted decimal: {len(text)} characters")
    try:
        sk.to_sql(
            {"field": "ltv", "operator": "gt", "value": "1e999999999"},
            SCHEMA,
            "postgres",
            inline=True,
        )
    except sk.RuleError as exc:
        print(f"1e999999999: {exc.errors[0].message}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mariadb", default=None, help="SQLAlchemy URL of a MariaDB server")
    args = parser.parse_args()
    bench_compile(args.repeat)
    bench_regex(args.repeat, args.mariadb)
    bench_decimal()


if __name__ == "__main__":
    main()
