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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import NotFoundError
from .progress import Progress, ProgressCallback, logger
from .rows import check_exists, segment_row
from .tables import Tables
from .validate import MAX_PAGE, check_count, check_id, check_key, check_progress

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


def _page(conn: Connection, tables: Tables, segment_id: str, after: Any, limit: int) -> list[Any]:
    m = tables.members
    stmt = (
        sa.select(m.c.contact_key)
        .where(m.c.segment_id == segment_id, m.c.member.is_(True))
        .order_by(m.c.contact_key)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(m.c.contact_key > after)
    return list(conn.execute(stmt).scalars())


def members(
    engine: Engine, tables: Tables, segment_id: str, *, after: Any = None, limit: int = 1000
) -> list[Any]:
    """Up to ``limit`` member keys greater than ``after``, in key order."""
    segment_id = check_id(segment_id)
    check_count(limit, "limit")
    if after is not None:
        check_key(after, tables.key_type, "after")
    with engine.connect() as conn:
        check_exists(conn, tables, segment_id)
        return _page(conn, tables, segment_id, after, limit) if limit else []


def iter_members(
    engine: Engine, tables: Tables, segment_id: str, *, page: int = 10_000
) -> Iterator[Any]:
    """Every member key in key order, one keyset page per query.

    The arguments and the segment are checked at the call, before iteration starts.
    """
    segment_id = check_id(segment_id)
    check_count(page, "page", minimum=1, maximum=MAX_PAGE)
    with engine.connect() as conn:
        check_exists(conn, tables, segment_id)
    return _iter_pages(engine, tables, segment_id, page)


def _iter_pages(engine: Engine, tables: Tables, segment_id: str, page: int) -> Iterator[Any]:
    after = None
    while True:
        with engine.connect() as conn:
            keys = _page(conn, tables, segment_id, after, page)
        yield from keys
        if len(keys) < page:
            return
        after = keys[-1]


def count(engine: Engine, tables: Tables, segment_id: str, *, exact: bool = False) -> int:
    """Members of ``segment_id``: the maintained count, or ``COUNT(*)`` with ``exact``."""
    segment_id = check_id(segment_id)
    with engine.connect() as conn:
        s = tables.segments
        value = conn.execute(sa.select(s.c.member_count).where(s.c.id == segment_id)).scalar()
        if value is None:
            raise NotFoundError(f"no segment {segment_id!r}", segment_id)
        if exact:
            m = tables.members
            stmt = sa.select(sa.func.count()).where(
                m.c.segment_id == segment_id, m.c.member.is_(True)
            )
            value = conn.execute(stmt).scalar()
    return int(value or 0)


def is_member(engine: Engine, tables: Tables, segment_id: str, key: Any) -> bool:
    """Whether ``key`` is a current member of ``segment_id``."""
    segment_id = check_id(segment_id)
    check_key(key, tables.key_type)
    m = tables.members
    stmt = sa.select(m.c.member).where(m.c.segment_id == segment_id, m.c.contact_key == key)
    with engine.connect() as conn:
        check_exists(conn, tables, segment_id)
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
    if segment_id is not None:
        segment_id = check_id(segment_id)
    if key is not None:
        check_key(key, tables.key_type)
    check_count(after_id, "after_id", optional=True)
    check_count(limit, "limit")
    h = tables.history
    stmt = sa.select(h).order_by(h.c.id).limit(limit)
    if segment_id is not None:
        stmt = stmt.where(h.c.segment_id == segment_id)
    if key is not None:
        stmt = stmt.where(h.c.contact_key == key)
    if after_id is not None:
        stmt = stmt.where(h.c.id > after_id)
    with engine.connect() as conn:
        if segment_id is not None:
            check_exists(conn, tables, segment_id)
        if not limit:
            return []
        return [
            Change(r.id, r.segment_id, r.contact_key, r.change, r.reason, r.run_id, r.at)
            for r in conn.execute(stmt)
        ]


def runs(engine: Engine, tables: Tables, segment_id: str, *, limit: int = 20) -> list[Run]:
    """The most recent runs of ``segment_id``, newest first."""
    segment_id = check_id(segment_id)
    check_count(limit, "limit")
    r = tables.runs
    stmt = sa.select(r).where(r.c.segment_id == segment_id).order_by(r.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        check_exists(conn, tables, segment_id)
        if not limit:
            return []
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


class _Export:
    """Checks an export's arguments, streams its rows, reports progress and logs."""

    def __init__(
        self,
        engine: Engine,
        tables: Tables,
        segment_id: str,
        yield_per: int,
        progress: ProgressCallback | None,
        fmt: str,
    ) -> None:
        self.segment_id = check_id(segment_id)
        self.yield_per = check_count(yield_per, "yield_per", minimum=1, maximum=MAX_PAGE)
        check_progress(progress)
        self.engine, self.tables, self.progress, self.fmt = engine, tables, progress, fmt
        with engine.connect() as conn:
            self.total = int(segment_row(conn, tables, self.segment_id).member_count)
        self.t0 = time.perf_counter()
        logger.info("export %s (%s): start, %d members", self.segment_id, fmt, self.total)

    def rows(self) -> Iterator[Any]:
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=self.yield_per).execute(
                _member_select(self.tables, self.segment_id)
            )
            yield from result

    def tick(self, n: int) -> None:
        if self.progress is not None and n % self.yield_per == 0:
            self._report("rows", n)

    def done(self, n: int) -> int:
        elapsed = time.perf_counter() - self.t0
        logger.info("export %s (%s): %d rows in %.3f s", self.segment_id, self.fmt, n, elapsed)
        self._report("done", n)
        return n

    def _report(self, step: str, n: int) -> None:
        if self.progress is not None:
            elapsed = time.perf_counter() - self.t0
            self.progress(Progress("export", self.segment_id, step, n, self.total, elapsed))


def export_csv(
    engine: Engine,
    tables: Tables,
    segment_id: str,
    out: IO[str],
    *,
    yield_per: int = 10_000,
    progress: ProgressCallback | None = None,
) -> int:
    """Write ``key,since`` rows for every member to ``out``; returns the row count."""
    job = _Export(engine, tables, segment_id, yield_per, progress, "csv")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["key", "since"])
    n = 0
    for key, since in job.rows():
        writer.writerow([key, since.isoformat()])
        n += 1
        job.tick(n)
    return job.done(n)


def export_jsonl(
    engine: Engine,
    tables: Tables,
    segment_id: str,
    out: IO[str],
    *,
    yield_per: int = 10_000,
    progress: ProgressCallback | None = None,
) -> int:
    """Write one ``{"key": ..., "since": ...}`` object per member line; returns the count."""
    job = _Export(engine, tables, segment_id, yield_per, progress, "jsonl")
    n = 0
    dumps = json.dumps
    for key, since in job.rows():
        out.write(dumps({"key": key, "since": since.isoformat()}) + "\n")
        n += 1
        job.tick(n)
    return job.done(n)
