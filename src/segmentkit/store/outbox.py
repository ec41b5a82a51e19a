"""The event outbox: writing events inside a change's transaction, and delivering them.

Writers call :func:`emit` (one event built in Python) or :func:`emit_run_batches`
(member-change events of a recalculation, built set-based in SQL from the run's
history rows, so a million keys never pass through Python) on the connection of the
change: the event commits or rolls back with it.

:func:`deliver` hands pending events, oldest first, to a host callable and marks
them delivered in the same transaction. Delivery is at least once: if the process
dies after publishing and before committing, the events are handed out again.
Concurrent deliverers do not hand out the same event twice at once: rows are
claimed with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB/MySQL, and under
SQLite's write lock (``BEGIN IMMEDIATE``) on SQLite.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .events import EVENT_TYPES, Event
from .tables import DEFAULT_TABLES, Tables

__all__ = ["begin_immediate", "deliver", "emit", "emit_run_batches", "pending", "transaction"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def begin_immediate(conn: Connection) -> None:
    """On SQLite, take the database write lock now (``BEGIN IMMEDIATE``).

    Call right after ``conn.begin()``. pysqlite opens transactions lazily, so the
    explicit BEGIN becomes the transaction; if a host's engine already emitted
    BEGIN, the caller's first write takes the lock instead. No-op elsewhere.
    """
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if raw is not None and not getattr(raw, "in_transaction", True):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: Engine, *, isolation_level: str | None = None) -> Iterator[Connection]:
    """A write transaction that serialises with other writers where it must.

    On SQLite it starts with ``BEGIN IMMEDIATE`` (the database write lock, taken up
    front so two writers queue instead of failing on lock upgrade). Elsewhere it is
    an ordinary transaction, optionally at ``isolation_level``.
    """
    conn = engine.connect()
    try:
        if isolation_level and conn.dialect.name != "sqlite":
            conn = conn.execution_options(isolation_level=isolation_level)
        with conn.begin():
            begin_immediate(conn)
            yield conn
    finally:
        conn.close()


def emit(conn: Connection, event: Event, tables: Tables | None = None) -> None:
    """Write ``event`` to the outbox on ``conn`` (inside the caller's transaction);
    ``tables`` defaults to ``DEFAULT_TABLES``."""
    tables = tables if tables is not None else DEFAULT_TABLES
    keys = getattr(event, "keys", None)
    conn.execute(
        tables.outbox.insert().values(
            type=event.type,
            segment_id=event.segment_id,
            run_id=getattr(event, "run_id", None),
            payload=json.dumps(event.payload(), default=str),
            keys=json.dumps(list(keys), default=str) if keys is not None else None,
            created_at=event.occurred_at or _utcnow(),
        )
    )


def _json_array_agg(conn: Connection, column: Any) -> Any:
    name = conn.dialect.name
    if name == "postgresql":
        return sa.cast(sa.func.json_agg(column), sa.Text)
    if name in ("mysql", "mariadb"):
        return sa.func.json_arrayagg(column)
    if name == "sqlite":
        return sa.func.json_group_array(column)
    raise NotImplementedError(f"the segment store does not support {name}")


def emit_run_batches(
    conn: Connection,
    tables: Tables,
    segment_id: str,
    run_id: int,
    change: str,
    total: int,
    at: dt.datetime,
    batch_size: int,
) -> None:
    """Write the ``change`` ('added'/'removed') events of run ``run_id``, set-based.

    History rows of the run are numbered in id order and grouped ``batch_size`` at a
    time; each group becomes one outbox row whose ``keys`` is aggregated in SQL.
    """
    if total <= 0:
        return
    h = tables.history
    numbered = (
        sa.select(
            h.c.contact_key.label("k"),
            ((sa.func.row_number().over(order_by=h.c.id) - 1) // batch_size).label("b"),
        )
        .where(h.c.run_id == run_id, h.c.change == change)
        .subquery("numbered")
    )
    batches = -(-total // batch_size)
    cls = EVENT_TYPES["members.added" if change == "added" else "members.removed"]
    # The payload differs per batch only in its number: built in SQL by concatenation
    # around the batch column, so the JSON stays valid on every dialect.
    head = json.dumps({"reason": "rule", "run_id": run_id, "batches": batches})[:-1]
    payload = sa.literal(head + ', "batch": ') + sa.cast(numbered.c.b, sa.String(20)) + "}"
    select = sa.select(
        sa.literal(cls.type),
        sa.literal(segment_id),
        sa.literal(run_id, sa.BigInteger),
        payload,
        _json_array_agg(conn, numbered.c.k),
        sa.literal(at, tables.outbox.c.created_at.type),
    ).group_by(numbered.c.b)
    conn.execute(
        tables.outbox.insert().from_select(
            ["type", "segment_id", "run_id", "payload", "keys", "created_at"], select
        )
    )


def _row_event(row: Any) -> Event:
    cls = EVENT_TYPES[row.type]
    data: dict[str, Any] = json.loads(row.payload)
    if row.keys is not None:
        data["keys"] = tuple(json.loads(row.keys))
    return cls(id=row.id, segment_id=row.segment_id, occurred_at=row.created_at, **data)


def pending(
    engine: Engine | Connection, tables: Tables | None = None, *, limit: int = 1000
) -> list[Event]:
    """Undelivered events, oldest first (read-only; does not claim them)."""
    tables = tables if tables is not None else DEFAULT_TABLES
    o = tables.outbox
    stmt = sa.select(o).where(o.c.delivered_at.is_(None)).order_by(o.c.id).limit(limit)
    if isinstance(engine, Connection):
        return [_row_event(r) for r in engine.execute(stmt)]
    with engine.connect() as conn:
        return [_row_event(r) for r in conn.execute(stmt)]


def deliver(
    engine: Engine,
    publisher: Callable[[Event], Any],
    tables: Tables | None = None,
    *,
    batch: int = 100,
    limit: int | None = None,
) -> int:
    """Hand pending events to ``publisher`` (oldest first) and mark them delivered.

    Works in transactions of up to ``batch`` events: claim (skipping rows another
    deliverer holds), publish each, mark the published ones, commit. If
    ``publisher`` raises, the events published before it are marked, the rest stay
    pending, and the exception propagates. Returns the number delivered.
    """
    tables = tables if tables is not None else DEFAULT_TABLES
    o = tables.outbox
    delivered = 0
    while limit is None or delivered < limit:
        size = batch if limit is None else min(batch, limit - delivered)
        done: list[int] = []
        error: BaseException | None = None
        with transaction(engine) as conn:
            stmt = sa.select(o).where(o.c.delivered_at.is_(None)).order_by(o.c.id).limit(size)
            if conn.dialect.name != "sqlite":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = conn.execute(stmt).all()
            if not rows:
                break
            for row in rows:
                try:
                    publisher(_row_event(row))
                except BaseException as exc:  # mark what went out, then re-raise
                    error = exc
                    break
                done.append(row.id)
            if done:
                conn.execute(o.update().where(o.c.id.in_(done)).values(delivered_at=_utcnow()))
        delivered += len(done)
        if error is not None:
            raise error
        if len(rows) < size:
            break
    return delivered
