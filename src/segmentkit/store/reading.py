"""Reading the store: member pages, counts, history, runs, and streaming export.

Listing uses keyset pagination on the contact key (``WHERE key > :after ORDER BY
key LIMIT n``), which stays fast at any depth. Export streams rows through a
server-side cursor (``stream_results=True`` with ``yield_per``), so memory stays
constant however large the segment.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .tables import Tables

__all__ = [
    "Change",
    "Run",
    "count",
    "export_csv",
    "export_jsonl",
    "history",
    "is_member",
    "iter_members",
    "members",
    "runs",
]


@dataclass(frozen=True, slots=True)
class Change:
    """One membership change (a history row)."""

    id: int
    segment_id: str
    key: Any
    change: str  # 'added' | 'removed'
    reason: str  # 'rule' | 'manual'
    run_id: int | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Run:
    """One recalculation attempt (a runs row)."""

    id: int
    segment_id: str
    as_of: dt.datetime
    started_at: dt.datetime
    finished_at: dt.datetime | None
    rule_hash: str | None
    added: int
    removed: int
    member_count: int | None
    status: str  # 'succeeded' | 'failed'
    error: str | None

    def __repr__(self) -> str:
        from ..display import run_text

        return run_text(self)

    def _repr_html_(self) -> str:
        from ..display import run_html

        return run_html(self)


def _member_select(tables: Tables, segment_id: str) -> sa.Select[Any]:
    m = tables.members
    return (
        sa.select(m.c.contact_key, m.c.since)
        .where(m.c.segment_id == segment_id, m.c.member.is_(True))
        .order_by(m.c.contact_key)
    )


def members(
    engine: Engine, tables: Tables, segment_id: str, *, after: Any = None, limit: int = 1000
) -> list[Any]:
    """Up to ``limit`` member keys greater than ``after``, in key order."""
    m = tables.members
    stmt = (
        sa.select(m.c.contact_key)
        .where(m.c.segment_id == segment_id, m.c.member.is_(True))
        .order_by(m.c.contact_key)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(m.c.contact_key > after)
    with engine.connect() as conn:
        return list(conn.execute(stmt).scalars())


def iter_members(
    engine: Engine, tables: Tables, segment_id: str, *, page: int = 10_000
) -> Iterator[Any]:
    """Every member key in key order, one keyset page per query."""
    after = None
    while True:
        keys = members(engine, tables, segment_id, after=after, limit=page)
        yield from keys
        if len(keys) < page:
            return
        after = keys[-1]


def count(engine: Engine, tables: Tables, segment_id: str, *, exact: bool = False) -> int:
    """Members of ``segment_id``: the maintained count, or ``COUNT(*)`` with ``exact``."""
    with engine.connect() as conn:
        if exact:
            m = tables.members
            stmt = sa.select(sa.func.count()).where(
                m.c.segment_id == segment_id, m.c.member.is_(True)
            )
        else:
            s = tables.segments
            stmt = sa.select(s.c.member_count).where(s.c.id == segment_id)
        value = conn.execute(stmt).scalar()
    if value is None:
        from ..errors import StoreError

        raise StoreError(f"no segment {segment_id!r}")
    return int(value)


def is_member(engine: Engine, tables: Tables, segment_id: str, key: Any) -> bool:
    m = tables.members
    stmt = sa.select(m.c.member).where(m.c.segment_id == segment_id, m.c.contact_key == key)
    with engine.connect() as conn:
        return bool(conn.execute(stmt).scalar())


def history(
    engine: Engine,
    tables: Tables,
    segment_id: str | None = None,
    key: Any = None,
    *,
    after_id: int | None = None,
    limit: int = 1000,
) -> list[Change]:
    """Changes of a segment, of a contact (``key``) or of both, oldest first."""
    h = tables.history
    stmt = sa.select(h).order_by(h.c.id).limit(limit)
    if segment_id is not None:
        stmt = stmt.where(h.c.segment_id == segment_id)
    if key is not None:
        stmt = stmt.where(h.c.contact_key == key)
    if after_id is not None:
        stmt = stmt.where(h.c.id > after_id)
    with engine.connect() as conn:
        return [
            Change(r.id, r.segment_id, r.contact_key, r.change, r.reason, r.run_id, r.at)
            for r in conn.execute(stmt)
        ]


def runs(engine: Engine, tables: Tables, segment_id: str, *, limit: int = 20) -> list[Run]:
    r = tables.runs
    stmt = sa.select(r).where(r.c.segment_id == segment_id).order_by(r.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [
            Run(
                x.id,
                x.segment_id,
                x.as_of,
                x.started_at,
                x.finished_at,
                x.rule_hash,
                x.added,
                x.removed,
                x.member_count,
                x.status,
                x.error,
            )
            for x in conn.execute(stmt)
        ]


def _stream(engine: Engine, tables: Tables, segment_id: str, yield_per: int) -> Iterator[Any]:
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=yield_per).execute(
            _member_select(tables, segment_id)
        )
        yield from result


def export_csv(
    engine: Engine, tables: Tables, segment_id: str, out: IO[str], *, yield_per: int = 10_000
) -> int:
    """Write ``key,since`` rows for every member to ``out``; returns the row count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "since"])
    n = 0
    for key, since in _stream(engine, tables, segment_id, yield_per):
        writer.writerow([key, since.isoformat()])
        n += 1
    return n


def export_jsonl(
    engine: Engine, tables: Tables, segment_id: str, out: IO[str], *, yield_per: int = 10_000
) -> int:
    """Write one ``{"key": ..., "since": ...}`` object per member line; returns the count."""
    n = 0
    dumps = json.dumps
    for key, since in _stream(engine, tables, segment_id, yield_per):
        out.write(dumps({"key": key, "since": since.isoformat()}) + "\n")
        n += 1
    return n
