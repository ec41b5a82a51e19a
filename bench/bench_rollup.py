"""Segment performance rollup on DuckDB: segmentkit's SQL against a hand-written
GROUP BY and against pandas, and an incremental day against the full computation.

    python bench/bench_rollup.py                      # 1M events, 50k contacts (about a minute)
    python bench/bench_rollup.py --events 10000000 --contacts 200000 --no-pandas
    python bench/bench_rollup.py --events 200000 --repeat 1 --no-pandas

Data (generated inside DuckDB, deterministic): ``--contacts`` contacts, 50 segments
with about 5 % of the contacts each, over 90 UTC days of history (a quarter of the
memberships end, half of those rejoin later); ``--events`` activity events and a tenth
as many conversions with revenue, spread over the 90 days; a campaign send per segment
every few days.

Contenders, each producing every metric for 50 segments x 90 days:

* ``segmentkit``: ``segmentkit.performance.compute_sql`` (the statement the store's
  refresh runs), through SQLAlchemy's DuckDB dialect;
* ``hand-written``: one DuckDB query a person would write (``date_trunc('day')``,
  ``FILTER``, ``GROUP BY ALL``; days in UTC, so the same periods). Its size metrics
  join each membership interval to every day it overlaps, the direct way to write
  them, so it grows with members x days; its event metrics make the same joins as
  segmentkit's statement;
* ``pandas``: the tables fetched as DataFrames and aggregated with merges and groupbys.

The three answers are compared row by row; the script exits 1 if they differ.
Targets: segmentkit <= 1.5x the hand-written query; one incremental day (the last
period only, as ``refresh`` recomputes it) <= 5 % of the full computation.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _timing import interleaved

from segmentkit.performance import compute_sql, load_config, periods_between
from segmentkit.store import make_tables

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAYS = 90
SEGMENTS = 50
METRICS = ("members_start", "members_end", "added", "removed", "exposed", "active",
           "conversions", "converting", "revenue", "campaigns")  # fmt: skip


def generate(conn: Any, contacts: int, events: int) -> None:
    """The store's history plus activity, orders and sends tables, built in DuckDB."""
    secs = DAYS * 86400
    conn.exec_driver_sql(f"""
        CREATE TABLE sk_history AS
        WITH m AS (
            SELECT s.range AS s, c.range AS c, hash(s.range * 1000003 + c.range) AS h
            FROM range({SEGMENTS}) s, range({contacts}) c
            WHERE hash(s.range * 1000003 + c.range) % 20 = 0
        ), t AS (
            SELECT s, c, h,
                   TIMESTAMP '2025-12-20' + to_seconds((h % {secs + 11 * 86400})::BIGINT) AS t0,
                   (h // 7) % 4 = 0 AS leaves, (h // 29) % 2 = 0 AS rejoins
            FROM m
        ), changes AS (
            SELECT s, c, 'added' AS change, t0 AS "at" FROM t
            UNION ALL
            SELECT s, c, 'removed', t0 + to_seconds(((h // 31) % (20 * 86400))::BIGINT + 1)
            FROM t WHERE leaves
            UNION ALL
            SELECT s, c, 'added', t0 + to_seconds(((h // 31) % (20 * 86400))::BIGINT + 1
                                                   + ((h // 37) % (10 * 86400))::BIGINT + 1)
            FROM t WHERE leaves AND rejoins
        )
        SELECT row_number() OVER (ORDER BY "at", s, c)::BIGINT AS id,
               'seg' || lpad(s::VARCHAR, 2, '0') AS segment_id, c::BIGINT AS contact_key,
               change, 'rule' AS reason, NULL::BIGINT AS run_id, "at"
        FROM changes
    """)
    conn.exec_driver_sql(f"""
        CREATE TABLE activity AS
        SELECT (hash(i) % {contacts})::BIGINT AS contact,
               TIMESTAMP '2026-01-01' + to_seconds((hash(i * 7 + 1) % {secs})::BIGINT) AS "at",
               CASE WHEN hash(i * 3) % 5 = 0 THEN 'bounce' ELSE 'open' END AS name
        FROM range({events}) t(i) ORDER BY "at"
    """)
    conn.exec_driver_sql(f"""
        CREATE TABLE orders AS
        SELECT (hash(i + 99) % {contacts})::BIGINT AS contact,
               TIMESTAMP '2026-01-01' + to_seconds((hash(i * 11 + 5) % {secs})::BIGINT) AS "at",
               CASE WHEN i % 17 = 0 THEN NULL
                    ELSE ((hash(i * 13) % 100000) / 100)::DECIMAL(12, 2) END AS amount
        FROM range({events // 10}) t(i) ORDER BY "at"
    """)
    conn.exec_driver_sql(f"""
        CREATE TABLE sends AS
        SELECT 'c' || (d.range % 7)::VARCHAR AS campaign,
               'seg' || lpad(s.range::VARCHAR, 2, '0') AS segment,
               TIMESTAMP '2026-01-01' + to_seconds(d.range * 86400 * 3 + s.range * 60) AS "at"
        FROM range({DAYS // 3}) d, range({SEGMENTS}) s
    """)


HAND_WRITTEN = """
WITH iv AS (
    SELECT * FROM (
        SELECT segment_id AS seg, contact_key AS k, change, "at" AS a,
               lead("at") OVER (PARTITION BY segment_id, contact_key ORDER BY "at", id) AS r
        FROM sk_history WHERE "at" < TIMESTAMP '{end}')
    WHERE change = 'added' AND (r IS NULL OR r > a)
), days AS (
    SELECT range AS d, range + INTERVAL 1 DAY AS e
    FROM range(TIMESTAMP '{start}', TIMESTAMP '{end}', INTERVAL 1 DAY)
), segs AS (SELECT DISTINCT segment_id AS seg FROM sk_history),
size AS (
    SELECT seg, d,
           count(*) FILTER (WHERE a <= d AND (r IS NULL OR r > d)) AS members_start,
           count(*) FILTER (WHERE r IS NULL OR r >= e) AS members_end,
           count(DISTINCT k) AS exposed
    FROM iv JOIN days ON a < e AND (r IS NULL OR r > d)
    GROUP BY ALL
), chg AS (
    SELECT segment_id AS seg, date_trunc('day', "at") AS d,
           count(*) FILTER (WHERE change = 'added') AS added,
           count(*) FILTER (WHERE change = 'removed') AS removed
    FROM sk_history WHERE "at" >= TIMESTAMP '{start}' AND "at" < TIMESTAMP '{end}' GROUP BY ALL
), act AS (
    SELECT seg, date_trunc('day', x."at") AS d, count(DISTINCT x.contact) AS active
    FROM activity x JOIN iv ON k = x.contact AND a <= x."at" AND (r IS NULL OR x."at" < r)
    WHERE x.name = 'open' AND x."at" >= TIMESTAMP '{start}' AND x."at" < TIMESTAMP '{end}'
    GROUP BY ALL
), conv AS (
    SELECT seg, date_trunc('day', o."at") AS d, count(*) AS conversions,
           count(DISTINCT o.contact) AS converting, sum(o.amount) AS revenue
    FROM orders o JOIN iv ON k = o.contact AND a <= o."at" AND (r IS NULL OR o."at" < r)
    WHERE o."at" >= TIMESTAMP '{start}' AND o."at" < TIMESTAMP '{end}'
    GROUP BY ALL
), camp AS (
    SELECT segment AS seg, date_trunc('day', "at") AS d, count(DISTINCT campaign) AS campaigns
    FROM sends WHERE "at" >= TIMESTAMP '{start}' AND "at" < TIMESTAMP '{end}' GROUP BY ALL
)
SELECT segs.seg, days.d,
       coalesce(members_start, 0), coalesce(members_end, 0), coalesce(added, 0),
       coalesce(removed, 0), coalesce(exposed, 0), coalesce(active, 0),
       coalesce(conversions, 0), coalesce(converting, 0), coalesce(revenue, 0),
       coalesce(campaigns, 0)
FROM segs CROSS JOIN days
LEFT JOIN size USING (seg, d) LEFT JOIN chg USING (seg, d) LEFT JOIN act USING (seg, d)
LEFT JOIN conv USING (seg, d) LEFT JOIN camp USING (seg, d)
ORDER BY 1, 2
"""


def hand_written(conn: Any, start: dt.datetime, end: dt.datetime) -> dict[Any, tuple[Any, ...]]:
    text = HAND_WRITTEN.format(
        start=start.strftime("%Y-%m-%d %H:%M:%S"), end=end.strftime("%Y-%m-%d %H:%M:%S")
    )
    out = {}
    for row in conn.exec_driver_sql(text):
        seg, day, *values = row
        values[8] = Decimal(values[8]).quantize(Decimal("0.01"))
        out[(seg, day.replace(tzinfo=dt.UTC))] = tuple(values)
    return out


def with_pandas(frames: dict[str, Any], start: dt.datetime, end: dt.datetime) -> dict[Any, Any]:
    import pandas as pd

    s, e = pd.Timestamp(start.replace(tzinfo=None)), pd.Timestamp(end.replace(tzinfo=None))
    h = frames["history"]
    h = h[h["at"] < e].sort_values(["segment_id", "contact_key", "at", "id"])
    h["r"] = h.groupby(["segment_id", "contact_key"])["at"].shift(-1)
    iv = h[(h["change"] == "added") & (h["r"].isna() | (h["r"] > h["at"]))]
    iv = iv.rename(columns={"segment_id": "seg", "contact_key": "k", "at": "a"})[
        ["seg", "k", "a", "r"]
    ]
    days = pd.date_range(s, e, freq="D", inclusive="left")
    rows = []
    for d in days:
        nd = d + pd.Timedelta(days=1)
        live = iv[(iv["a"] < nd) & (iv["r"].isna() | (iv["r"] > d))]
        g = live.assign(
            ms=(live["a"] <= d) & (live["r"].isna() | (live["r"] > d)),
            me=live["r"].isna() | (live["r"] >= nd),
        ).groupby("seg").agg(members_start=("ms", "sum"), members_end=("me", "sum"),
                             exposed=("k", "nunique"))  # fmt: skip
        g["d"] = d
        rows.append(g.reset_index())
    size = pd.concat(rows)
    hh = h[(h["at"] >= s)]
    chg = (hh.assign(d=hh["at"].dt.floor("D"), added=hh["change"] == "added",
                     removed=hh["change"] == "removed")
           .rename(columns={"segment_id": "seg"})
           .groupby(["seg", "d"])[["added", "removed"]].sum().reset_index())  # fmt: skip

    def attributed(ev: Any) -> Any:
        ev = ev[(ev["at"] >= s) & (ev["at"] < e)]
        m = ev.merge(iv, left_on="contact", right_on="k")
        m = m[(m["a"] <= m["at"]) & (m["r"].isna() | (m["at"] < m["r"]))]
        return m.assign(d=m["at"].dt.floor("D"))

    a = attributed(frames["activity"][frames["activity"]["name"] == "open"])
    act = a.groupby(["seg", "d"]).agg(active=("contact", "nunique")).reset_index()
    o = attributed(frames["orders"])
    conv = o.groupby(["seg", "d"]).agg(conversions=("contact", "size"),
                                       converting=("contact", "nunique"),
                                       revenue=("amount", lambda x: sum(v for v in x if v == v and v is not None))).reset_index()  # fmt: skip
    c = frames["sends"]
    c = c[(c["at"] >= s) & (c["at"] < e)].rename(columns={"segment": "seg"})
    camp = (
        c.assign(d=c["at"].dt.floor("D"))
        .groupby(["seg", "d"])
        .agg(campaigns=("campaign", "nunique"))
        .reset_index()
    )
    grid = pd.MultiIndex.from_product([sorted(frames["history"]["segment_id"].unique()), days],
                                      names=["seg", "d"]).to_frame(index=False)  # fmt: skip
    out = grid
    for part in (size, chg, act, conv, camp):
        out = out.merge(part, on=["seg", "d"], how="left")
    result = {}
    for rec in out.itertuples(index=False):
        vals = []
        for name in METRICS:
            v = getattr(rec, name)
            if name == "revenue":
                vals.append(
                    Decimal(0).quantize(Decimal("0.01"))
                    if v != v
                    else Decimal(v).quantize(Decimal("0.01"))
                )
            else:
                vals.append(0 if v != v else int(v))
        result[(rec.seg, rec.d.to_pydatetime().replace(tzinfo=dt.UTC))] = tuple(vals)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--contacts", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-pandas", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="segmentkit-bench-")
    engine = sa.create_engine(f"duckdb:///{Path(tmp.name) / 'rollup.duckdb'}")
    config = load_config({
        "grain": "day", "timezone": "UTC",
        "activity": {"table": "activity", "key": "contact", "time": "at", "name": "name",
                     "events": ["open"]},
        "conversions": {"table": "orders", "key": "contact", "time": "at", "revenue": "amount"},
        "campaigns": {"table": "sends", "campaign": "campaign", "segment": "segment",
                      "time": "at"},
    })  # fmt: skip
    periods = periods_between(START, START + dt.timedelta(days=DAYS), "day", "UTC")
    tables = make_tables()
    with engine.connect() as conn:
        t0 = time.perf_counter()
        generate(conn, args.contacts, args.events)
        conn.commit()
        n_hist = conn.exec_driver_sql("SELECT count(*) FROM sk_history").scalar()
        segments = [r[0] for r in conn.exec_driver_sql(
            "SELECT DISTINCT segment_id FROM sk_history ORDER BY 1")]  # fmt: skip
        print(
            f"data: {args.events:,} activity events, {args.events // 10:,} orders, "
            f"{n_hist:,} history rows, {len(segments)} segments x {DAYS} days "
            f"({time.perf_counter() - t0:.1f} s to generate)"
        )

        def ours(ps: Any = periods) -> dict[Any, tuple[Any, ...]]:
            rows = compute_sql(conn, config, ps, segments, tables)
            return {(r.segment_id, r.start): tuple(getattr(r, m) for m in METRICS) for r in rows}

        def hand() -> dict[Any, tuple[Any, ...]]:
            return hand_written(conn, periods[0].start, periods[-1].end)

        def incremental() -> dict[Any, tuple[Any, ...]]:
            return ours(periods[-1:])

        contenders = {"segmentkit": ours, "hand-written": hand, "incremental day": incremental}
        frames = None
        if not args.no_pandas:
            try:
                import pandas  # noqa: F401
            except ImportError:
                print("pandas not installed: skipped")
            else:
                t0 = time.perf_counter()
                raw: Any = conn.connection.dbapi_connection
                names = {"history": "sk_history", "activity": "activity", "orders": "orders",
                         "sends": "sends"}  # fmt: skip
                frames = {k: raw.execute(f"SELECT * FROM {t}").df() for k, t in names.items()}
                print(
                    f"pandas: tables fetched as DataFrames in {time.perf_counter() - t0:.1f} s "
                    "(not timed below)"
                )
                contenders["pandas"] = lambda: with_pandas(
                    frames, periods[0].start, periods[-1].end
                )
        timings = interleaved(contenders, repeat=args.repeat)

    want = timings["segmentkit"].result
    ok = True
    for name in ("hand-written", "pandas"):
        if name in timings and timings[name].result != want:
            diff = [k for k in want if want[k] != timings[name].result.get(k)][:3]
            print(
                f"ANSWER DIFFERS: {name} vs segmentkit, e.g. {[(k, want[k], timings[name].result.get(k)) for k in diff]}"
            )
            ok = False
    last = {k: v for k, v in want.items() if k[1] == periods[-1].start}
    if timings["incremental day"].result != last:
        print("ANSWER DIFFERS: incremental day vs the full run's last day")
        ok = False
    base = timings["hand-written"].best
    for name, t in timings.items():
        print(
            f"  {name:16s} best {t.best:7.3f} s  median {t.median:7.3f} s  "
            f"{t.best / base:5.2f}x hand-written"
        )
    print(f"segmentkit / hand-written: {timings['segmentkit'].best / base:.2f}x (target <= 1.5x)")
    inc = timings["incremental day"].best / timings["segmentkit"].best
    print(f"incremental day / full:    {100 * inc:.1f} % (target <= 5 %)")
    if "pandas" in timings:
        print(
            f"pandas / segmentkit:       {timings['pandas'].best / timings['segmentkit'].best:.2f}x"
        )
    engine.dispose()
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
