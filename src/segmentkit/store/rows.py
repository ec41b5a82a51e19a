"""Segment rows: reading one (optionally locked) and turning it into a :class:`Segment`.

Shared by :mod:`.store` and :mod:`.recalculate`, so that neither reaches into the
other's private helpers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import NotFoundError
from ..model import Segment
from .tables import Tables

__all__ = ["segment_model", "segment_row"]


def segment_row(conn: Connection, tables: Tables, segment_id: str, *, lock: bool = False) -> Any:
    """The segments row of ``segment_id``; :class:`NotFoundError` if there is none.

    With ``lock`` the row is locked for the rest of the transaction (``FOR UPDATE``;
    on SQLite a no-op write takes the database write lock before any read).
    """
    s = tables.segments
    stmt = sa.select(s).where(s.c.id == segment_id)
    if lock and conn.dialect.name == "sqlite":
        # Normally BEGIN IMMEDIATE holds the write lock already; if a host's engine
        # began the transaction itself, this no-op write takes it before any read
        # (a read-then-write transaction could fail to upgrade under contention).
        conn.execute(s.update().where(s.c.id == segment_id).values(id=s.c.id))
    elif lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFoundError(f"no segment {segment_id!r}", segment_id)
    return row


def check_exists(conn: Connection, tables: Tables, segment_id: str) -> None:
    """:class:`NotFoundError` unless a segment ``segment_id`` is stored."""
    s = tables.segments
    if conn.execute(sa.select(s.c.id).where(s.c.id == segment_id)).first() is None:
        raise NotFoundError(f"no segment {segment_id!r}", segment_id)


def segment_model(row: Any, include: Sequence[Any] = (), exclude: Sequence[Any] = ()) -> Segment:
    """The :class:`Segment` of a segments row (with the given manual overrides)."""
    return Segment(
        id=row.id,
        name=row.name,
        description=row.description,
        type=row.type,
        status=row.status,
        rule=json.loads(row.rule) if row.rule is not None else None,
        include=list(include),
        exclude=list(exclude),
        member_count=row.member_count,
        last_calculated_at=row.last_calculated_at,
    )
