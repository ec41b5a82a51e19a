"""The stored performance table: incremental, idempotent refreshes, and reads.

:func:`refresh` computes, in one transaction on the store's database, every period
not yet final plus the current one, with the SQL engine, and writes only what
changed: a period re-run with the same data changes nothing and never duplicates a
row (the primary key is config, segment, grain and period start). Each refresh is
recorded in ``performance_runs``; a failed one is rolled back and recorded as
``failed`` with its error, as recalculation runs are.

A period is *final* once it was computed at least ``final_after`` seconds after its
end; final periods of an unchanged config are never recomputed. A changed config
(another zone, source or metric list) recomputes everything from its first period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import StoreError
from ..store.tables import DEFAULT_TABLES, Tables
from . import sql
from .config import COUNT_METRICS, PerformanceConfig, load_config
from .periods import Period, period_containing, periods_between
from .rows import PerformanceRow

__all__ = ["PerformanceRun", "read", "refresh", "runs", "to_frame"]

_COUNTS = COUNT_METRICS


@dataclass(frozen=True, slots=True)
class PerformanceRun:
    """One refresh (a ``performance_runs`` row)."""

    id: int
    config: str
    as_of: dt.datetime
    started_at: dt.datetime
    finished_at: dt.datetime | None
    first_period: dt.datetime | None
    periods: int
    segments: int
    rows_written: int
    status: str  # 'succeeded' | 'failed'
    error: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if value.tzinfo is None:
        raise StoreError(f"naive datetime given for {what}; pass an aware one")
    return value.astimezone(dt.UTC)


def _segments(conn: Connection, tables: Tables, segments: Iterable[str] | None) -> list[str]:
    if segments is not None:
        return list(dict.fromkeys(segments))
    s, h = tables.segments, tables.history
    ids = sa.union(sa.select(s.c.id), sa.select(h.c.segment_id.label("id")).distinct())
    return sorted(conn.execute(ids).scalars())


def _first_change(conn: Connection, tables: Tables, segments: Sequence[str]) -> dt.datetime | None:
    h = tables.history
    at = conn.execute(sa.select(sa.func.min(h.c.at)).where(h.c.segment_id.in_(segments))).scalar()
    if isinstance(at, str):  # SQLite returns an aggregate of text as text
        at = dt.datetime.fromisoformat(at)
    return None if at is None else at.replace(tzinfo=dt.UTC)


def _stored_values(row: PerformanceRow, config: PerformanceConfig) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(row, name) for name in _COUNTS}
    if row.revenue is None:
        values["revenue_units"] = values["revenue_scale"] = None
    else:
        values["revenue_scale"] = config.revenue_scale
        values["revenue_units"] = int(row.revenue.scaleb(config.revenue_scale))
    return values


def refresh(
    engine: Engine,
    config: PerformanceConfig | Any,
    segments: Iterable[str] | None = None,
    *,
    now: dt.datetime | None = None,
    since: dt.datetime | None = None,
    tables: Tables = DEFAULT_TABLES,
) -> PerformanceRun:
    """Compute and store the periods not yet final, up to the one containing ``now``.

    ``segments`` defaults to every stored segment and every segment with history; ``since`` (default: the first
    membership change of those segments) is where the first period starts.
    """
    config = load_config(config)
    now = _aware(now, "now") if now is not None else _now()
    started = _now()
    try:
        with engine.begin() as conn:
            run = _refresh(conn, config, segments, now, since, tables, started)
    except Exception as exc:
        with engine.begin() as conn:
            conn.execute(
                tables.performance_runs.insert().values(
                    config=config.name,
                    as_of=now,
                    started_at=started,
                    finished_at=_now(),
                    first_period=None,
                    periods=0,
                    segments=0,
                    rows_written=0,
                    status="failed",
                    error=f"{type(exc).__name__}: {exc}"[:4000],
                )
            )
        raise
    return run


def _refresh(
    conn: Connection,
    config: PerformanceConfig,
    segments: Iterable[str] | None,
    now: dt.datetime,
    since: dt.datetime | None,
    tables: Tables,
    started: dt.datetime,
) -> PerformanceRun:
    ids = _segments(conn, tables, segments)
    first = _aware(since, "since") if since is not None else None
    if first is None and ids:
        first = _first_change(conn, tables, ids)
    current = period_containing(now, config.grain, config.zone)
    start = min(first, current.start) if first is not None else current.start
    periods = periods_between(start, current.end, config.grain, config.zone)
    todo = _not_final(conn, config, ids, periods, tables)
    runs_t = tables.performance_runs
    ins = runs_t.insert().values(
        config=config.name,
        as_of=now,
        started_at=started,
        finished_at=None,
        first_period=todo[0].start if todo else None,
        periods=len(todo),
        segments=len(ids),
        rows_written=0,
        status="running",
        error=None,
    )
    run_id = conn.execute(ins).inserted_primary_key[0]  # type: ignore[index]
    written = 0
    if ids and todo:
        rows = sql.compute(conn, config, todo, ids, tables)
        written = _upsert(conn, config, rows, now, run_id, tables)
    conn.execute(
        runs_t.update()
        .where(runs_t.c.id == run_id)
        .values(finished_at=_now(), rows_written=written, status="succeeded")
    )
    row = conn.execute(
        sa.select(tables.performance_runs).where(tables.performance_runs.c.id == run_id)
    ).one()
    return PerformanceRun(**row._asdict())


def _not_final(
    conn: Connection,
    config: PerformanceConfig,
    ids: Sequence[str],
    periods: Sequence[Period],
    tables: Tables,
) -> list[Period]:
    """The periods from the first one not final for every segment, to the last."""
    if not ids or not periods:
        return []
    t = tables.performance
    final = conn.execute(
        sa.select(t.c.period_start, sa.func.count())
        .where(
            t.c.config == config.name,
            t.c.grain == config.grain.value,
            t.c.config_hash == config.fingerprint(),
            t.c.final.is_(True),
            t.c.segment_id.in_(ids),
            t.c.period_start >= periods[0].start,
        )
        .group_by(t.c.period_start)
    ).all()
    done = {_utc(start) for start, n in final if n == len(ids)}
    for i, period in enumerate(periods):
        if period.start not in done:
            return list(periods[i:])
    return []


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value  # type: ignore[no-any-return]


def _upsert(
    conn: Connection,
    config: PerformanceConfig,
    rows: Sequence[PerformanceRow],
    now: dt.datetime,
    run_id: int,
    tables: Tables,
) -> int:
    """Insert new rows, update changed ones, leave equal ones alone; rows written."""
    t = tables.performance
    settle = dt.timedelta(seconds=config.final_after)
    fingerprint = config.fingerprint()
    existing: dict[tuple[str, dt.datetime], dict[str, Any]] = {}
    stmt = sa.select(t).where(
        t.c.config == config.name,
        t.c.grain == config.grain.value,
        t.c.segment_id.in_(sorted({r.segment_id for r in rows})),
        t.c.period_start >= min(r.start for r in rows),
    )
    for rec in conn.execute(stmt).mappings():
        existing[(rec["segment_id"], rec["period_start"])] = dict(rec)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    for r in rows:
        values = {
            **_stored_values(r, config),
            "period_end": r.end,
            "label": r.label,
            "timezone": config.timezone,
            "config_hash": fingerprint,
            "final": now >= r.end + settle,
        }
        old = existing.get((r.segment_id, r.start))
        if old is None:
            inserts.append(
                {
                    "config": config.name,
                    "segment_id": r.segment_id,
                    "grain": config.grain.value,
                    "period_start": r.start,
                    **values,
                    "computed_at": now,
                    "run_id": run_id,
                }
            )
        elif any(old[k] != v for k, v in values.items()):
            updates.append(
                {
                    "k_segment": r.segment_id,
                    "k_start": r.start,
                    **values,
                    "computed_at": now,
                    "run_id": run_id,
                }
            )
    if inserts:
        conn.execute(t.insert(), inserts)
    if updates:
        conn.execute(
            t.update().where(
                t.c.config == config.name,
                t.c.grain == config.grain.value,
                t.c.segment_id == sa.bindparam("k_segment"),
                t.c.period_start == sa.bindparam("k_start"),
            ),
            updates,
        )
    return len(inserts) + len(updates)


def read(
    engine: Engine | Connection,
    segments: str | Iterable[str] | None = None,
    *,
    config: str = "default",
    grain: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    tables: Tables = DEFAULT_TABLES,
) -> list[PerformanceRow]:
    """Stored rows of ``config`` (for some segments, periods starting in
    ``[start, end)``), ordered by segment and period."""
    t = tables.performance
    stmt = sa.select(t).where(t.c.config == config)
    if isinstance(segments, str):
        segments = [segments]
    if segments is not None:
        stmt = stmt.where(t.c.segment_id.in_(list(segments)))
    if grain is not None:
        stmt = stmt.where(t.c.grain == grain)
    if start is not None:
        stmt = stmt.where(t.c.period_start >= _aware(start, "start"))
    if end is not None:
        stmt = stmt.where(t.c.period_start < _aware(end, "end"))
    stmt = stmt.order_by(t.c.segment_id, t.c.grain, t.c.period_start)
    if isinstance(engine, Connection):
        return [_row(r) for r in engine.execute(stmt).mappings()]
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(stmt).mappings()]


def _row(rec: Any) -> PerformanceRow:
    units, scale = rec["revenue_units"], rec["revenue_scale"]
    exposed, converting = rec["exposed"], rec["converting"]
    return PerformanceRow(
        segment_id=rec["segment_id"],
        start=rec["period_start"],
        end=rec["period_end"],
        label=rec["label"],
        members_start=rec["members_start"],
        members_end=rec["members_end"],
        added=rec["added"],
        removed=rec["removed"],
        exposed=exposed,
        active=rec["active"],
        conversions=rec["conversions"],
        converting=converting,
        conversion_rate=converting / exposed if converting is not None and exposed else None,
        revenue=None if units is None else Decimal(units).scaleb(-int(scale)),
        campaigns=rec["campaigns"],
    )


def runs(
    engine: Engine, config: str = "default", *, limit: int = 20, tables: Tables = DEFAULT_TABLES
) -> list[PerformanceRun]:
    """The most recent refreshes of ``config``, newest first."""
    r = tables.performance_runs
    stmt = sa.select(r).where(r.c.config == config).order_by(r.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [PerformanceRun(**row._asdict()) for row in conn.execute(stmt)]


def to_frame(rows: Sequence[PerformanceRow], library: str | None = None) -> Any:
    """Rows as a pandas DataFrame (or polars with ``library="polars"``; by default
    pandas when installed, else polars). Revenue stays ``Decimal``."""
    names = list(PerformanceRow.__dataclass_fields__)
    data = {name: [getattr(r, name) for r in rows] for name in names}
    order = [library] if library else ["pandas", "polars"]
    for lib in order:
        if lib == "pandas":
            try:
                import pandas as pd  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                continue
            frame = pd.DataFrame(data, columns=names)
            for name in (
                "members_start",
                "members_end",
                "added",
                "removed",
                "exposed",
                "active",
                "conversions",
                "converting",
                "campaigns",
            ):
                frame[name] = frame[name].astype("Int64")
            return frame
        if lib == "polars":
            try:
                import polars as pl
            except ImportError:
                continue
            return pl.DataFrame(data, strict=False)
        raise ValueError(f"unknown frame library {lib!r} (use 'pandas' or 'polars')")
    raise ImportError("to_frame needs pandas or polars (pip install 'segmentkit[frames]')")
