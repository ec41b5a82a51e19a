"""Rules over in-memory frames: ``sk.frame_members`` against a hand-written comprehension.

The notebook case of DESIGN.md's targets: a rule over a pandas/polars DataFrame or an
Arrow table, counted and its keys listed through DuckDB (``frame_members``, which scans
the frame in place), against a hand-written Python list comprehension over the same
rows as dicts (built before timing, so the comprehension pays nothing for conversion)
with the same condition and the NULL guards SEMANTICS.md requires. Target: >= 5x.

For context the same predicate written by hand as DuckDB SQL over the pandas frame is
timed too (``duckdb hand SQL``): frame_members' overhead is binding, compiling,
registering the frame and returning the keys as a Python list.

Every contender must return the same keys, or the run stops.

Run: ``python bench/bench_frames.py [--records N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import data
from _timing import Result, interleaved, summary, table

import segmentkit as sk

NOW = data.NOW
SINCE = NOW - dt.timedelta(days=365)
COUNTRIES = frozenset({"DE", "AT", "CH"})

RULE: dict[str, Any] = {
    "combinator": "and",
    "rules": [
        {"field": "country", "operator": "in", "value": sorted(COUNTRIES)},
        {"field": "age", "operator": "gte", "value": 25},
        {"field": "newsletter", "operator": "is_true"},
        {"field": "last_seen_at", "operator": "in_last", "value": {"amount": 365, "unit": "days"}},
        {"field": "email", "operator": "not_ends_with", "value": "@test.com"},
    ],
}


def comprehension(rows: list[dict[str, Any]]) -> list[int]:
    """The rule by hand: NULL is no match, except under not_ends_with (NULL matches)."""
    return [
        r["id"]
        for r in rows
        if r["country"] in COUNTRIES
        and (a := r["age"]) is not None
        and a >= 25
        and r["newsletter"] is True
        and (s := r["last_seen_at"]) is not None
        and SINCE <= s <= NOW
        and ((e := r["email"]) is None or not e.endswith("@test.com"))
    ]


HAND_SQL = """
SELECT id FROM frame
WHERE country IN ('DE', 'AT', 'CH') AND age >= 25 AND newsletter
  AND last_seen_at BETWEEN $1 AND $2
  AND (email IS NULL OR NOT ends_with(email, '@test.com'))
"""


def main(argv: list[str] | None = None) -> list[Result]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=data.DEFAULT_RECORDS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)

    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow as pa

    n = args.records
    print(f"generating {n:,} contacts …", file=sys.stderr)
    cols = data.generate_columns(n)
    cols["tags"] = [None if t is None else sorted(t) for t in cols["tags"]]
    cols["lifetime_value"] = [None if v is None else float(v) for v in cols["lifetime_value"]]
    keys = list(cols)
    rows = [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]
    arrow = pa.table(cols)
    frames = {"pandas": arrow.to_pandas(), "polars": pl.from_arrow(arrow), "arrow": arrow}
    assert isinstance(frames["pandas"], pd.DataFrame)
    con = duckdb.connect()
    con.register("frame", frames["pandas"])

    fns: dict[str, Any] = {"comprehension": lambda: comprehension(rows)}
    for kind, frame in frames.items():
        fns[f"frame_members {kind}"] = lambda f=frame: sk.frame_members(
            RULE, f, now=NOW
        ).keys.tolist()
    fns["duckdb hand SQL (pandas)"] = lambda: [
        k for (k,) in con.execute(HAND_SQL, [SINCE, NOW]).fetchall()
    ]
    timings = interleaved(fns, repeat=args.repeat)

    expected = sorted(timings["comprehension"].result)
    for name, t in timings.items():
        if sorted(t.result) != expected:
            sys.exit(f"{name} returned {len(t.result):,} keys, the comprehension {len(expected):,}")

    base = timings["comprehension"].best
    rows_out = [
        [name, f"{t.best * 1000:,.1f}", f"{t.median * 1000:,.1f}", f"{base / t.best:,.2f}x"]
        for name, t in timings.items()
    ]
    print(f"\n{n:,} contacts, {len(expected):,} members, 5 conditions, best of {args.repeat}\n")
    print(table(rows_out, ["contender", "best ms", "median ms", "vs comprehension"]))
    results = [
        Result(
            "frames",
            f"frame_members {kind} vs comprehension",
            base / timings[f"frame_members {kind}"].best,
            5.0,
            "x",
        )
        for kind in frames
    ]
    print()
    print(summary(results))
    return results


if __name__ == "__main__":
    main()
