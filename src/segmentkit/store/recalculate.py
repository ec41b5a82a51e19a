"""Recalculation in the database, and which segments are due.

:func:`recalculate` computes a segment's new member set with its compiled rule and
applies the difference with set-based SQL, in one transaction, without loading
the member set into Python:

1. lock the segment row (``SELECT ... FOR UPDATE`` on PostgreSQL and MariaDB/MySQL;
   ``BEGIN IMMEDIATE`` on SQLite), so concurrent recalculations of one segment run
   one after the other and the second sees the first's result;
2. insert a run row (its id tags every change of this run);
3. compute the new member set - the rule's member ``SELECT`` (``dynamic``), the
   manual includes (``static``), or (rule | includes) - excludes (``hybrid``) - and
   write the differences to history, then apply them to members:

   * PostgreSQL: ONE statement. ``new FULL OUTER JOIN current`` gives the changes;
     data-modifying CTEs insert them into history and, from there, delete and
     insert the members (``SET LOCAL work_mem`` lets the join hash in memory);
   * SQLite (3.39+): the same full join inserts the history rows; two statements
     apply them to members from the run's history rows;
   * MariaDB/MySQL (no FULL OUTER JOIN): the new set goes to a per-run temporary
     table (evaluated once), two ``INSERT INTO history ... SELECT ... NOT EXISTS``
     anti-joins give the added and removed keys, then members are changed as above;
4. update the segment's count, the run row, and write the outbox events (the
   members-added/removed batches are aggregated in SQL from the run's history);
5. commit. Any failure rolls all of it back; a ``failed`` run row with the error is
   then committed on its own.

The transaction runs at READ COMMITTED on PostgreSQL and MariaDB/MySQL, so the
rule reads current data after the lock is granted, and reading the contacts does
not lock them (on MariaDB/MySQL with a binary log this needs ``binlog_format=ROW``).
The rule is evaluated once per run (in one statement, or into the temporary table),
so every change of a run reflects a single evaluation.

Recalculating with the same data and ``now`` adds and removes nothing and writes no
history rows (it still records a run and a ``segment.recalculated`` event).

Due policy (:func:`due_segments`): the library cannot see the contact data change,
so a host schedules recalculation; a segment is *due* when it is active and not
static and any of these holds:

* it was never calculated, or its rule changed since its last successful run;
* a segment it references changed membership after its last successful run, or is
  itself due;
* its rule uses relative time (its meaning moves with ``now``) and its last run's
  ``now`` is at least ``relative_every`` old;
* ``every`` is given and its last run's ``now`` is at least ``every`` old (data may
  have changed).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import StoreError
from ..membership import check_recalculable
from . import events as ev
from .dependencies import dependency_order
from .outbox import begin_immediate, emit, emit_run_batches
from .reading import Run

if TYPE_CHECKING:
    from .store import Store

__all__ = ["due_segments", "recalculate"]


# INSERT ... SELECT row counts are only kept when asked for (SQLAlchemy 2.x).
_COUNT: dict[str, Any] = {"preserve_rowcount": True}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return _utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(dt.UTC)


def _is_mysql(conn: Connection) -> bool:
    return conn.dialect.name in ("mysql", "mariadb")


def _stage_table(conn: Connection, store: Store) -> sa.Table:
    name = f"{store.tables.prefix}stage_{uuid.uuid4().hex[:12]}"
    # The anti-joins probe the stage once per member: it needs its primary key.
    return sa.Table(
        name,
        sa.MetaData(),
        sa.Column("k", store.tables.key_type, primary_key=True, autoincrement=False),
        prefixes=["TEMPORARY"],
    )


def _new_members(store: Store, row: Any, now: dt.datetime) -> sa.Select[Any] | None:
    """SELECT of the new member keys (one column), or None for no members."""
    m = store.tables.members
    includes = sa.select(m.c.contact_key).where(m.c.segment_id == row.id, m.c.manual == "include")
    if row.type == "static" or row.rule is None:
        return includes if row.type != "dynamic" else None
    if store.schema is None:
        raise StoreError("recalculating a rule needs the contact schema: Store(engine, schema)")
    from ..compile.sqlalchemy import members_select

    matches = members_select(
        json.loads(row.rule), store.schema, now, segment_members=store.segment_members
    )
    if row.type == "dynamic":
        return matches
    # hybrid: (rule | includes) - excludes; UNION also removes duplicates.
    union = sa.union(matches, includes).subquery("candidates")
    key = next(iter(union.c))
    excluded = sa.select(sa.literal(1)).where(
        m.c.segment_id == row.id, m.c.manual == "exclude", m.c.contact_key == key
    )
    return sa.select(key).where(~excluded.exists())


def recalculate(store: Store, segment_id: str, now: dt.datetime | None = None) -> Run:
    """Recalculate ``segment_id`` as of ``now`` (default: the current instant).

    Raises :class:`ReadOnlyError` for an archived segment and :class:`StoreError` for an
    inactive one (neither is recalculated). Returns the run.
    """
    as_of = _as_utc(now)
    started = _utcnow()
    state: dict[str, Any] = {}
    try:
        with store.engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                conn.execution_options(isolation_level="READ COMMITTED")
            try:
                with conn.begin():
                    begin_immediate(conn)
                    return _recalculate(store, conn, segment_id, as_of, started, state)
            finally:
                stage = state.get("stage")
                if stage is not None and _is_mysql(conn):
                    # MariaDB temporary tables outlive a rollback; pooled sessions persist.
                    conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS `{stage.name}`")
                    conn.commit()
    except Exception as exc:
        if not state.get("started"):
            raise  # refused before anything began (unknown, inactive, archived)
        _record_failure(store, segment_id, as_of, started, state.get("hash"), exc)
        raise


def _record_failure(
    store: Store,
    segment_id: str,
    as_of: dt.datetime,
    started: dt.datetime,
    rule_hash: str | None,
    exc: BaseException,
) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            store.tables.runs.insert().values(
                segment_id=segment_id,
                as_of=as_of,
                started_at=started,
                finished_at=_utcnow(),
                rule_hash=rule_hash,
                added=0,
                removed=0,
                member_count=None,
                status="failed",
                error=f"{type(exc).__name__}: {exc}"[:4000],
            )
        )


def _recalculate(
    store: Store,
    conn: Connection,
    segment_id: str,
    as_of: dt.datetime,
    started: dt.datetime,
    state: dict[str, Any],
) -> Run:
    t = store.tables
    s, r = t.segments, t.runs
    row = store._row(conn, segment_id, lock=True)
    check_recalculable(store._model(row))
    state["started"] = True
    state["hash"] = row.rule_hash
    run_id = conn.execute(
        r.insert().values(
            segment_id=segment_id,
            as_of=as_of,
            started_at=started,
            rule_hash=row.rule_hash,
            added=0,
            removed=0,
            status="running",
        )
    ).inserted_primary_key[0]  # type: ignore[index]

    new = _new_members(store, row, as_of)
    at = _utcnow()
    if conn.dialect.name == "postgresql":
        if store.work_mem:
            # Transaction-local: lets the full join hash a million keys without spilling.
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{store.work_mem}'")
        added, removed = _diff_apply_postgres(store, conn, segment_id, run_id, new, at)
    else:
        if _has_full_join(conn):
            added, removed = _diff_full_join(store, conn, segment_id, run_id, new, at)
        else:
            added, removed = _diff_staged(store, conn, segment_id, run_id, new, at, state)
        _apply(store, conn, segment_id, run_id, at, added, removed)

    count = int(row.member_count) + added - removed
    finished = _utcnow()
    seg_values: dict[str, Any] = {
        "member_count": count,
        "last_calculated_at": as_of,
        "calculated_hash": row.rule_hash,
        "last_run_id": run_id,
    }
    if added or removed:
        seg_values["changed_at"] = finished
    conn.execute(s.update().where(s.c.id == segment_id).values(**seg_values))
    conn.execute(
        r.update()
        .where(r.c.id == run_id)
        .values(
            finished_at=finished,
            added=added,
            removed=removed,
            member_count=count,
            status="succeeded",
        )
    )
    emit(
        conn,
        ev.SegmentRecalculated(
            segment_id=segment_id,
            run_id=run_id,
            as_of=as_of.isoformat(),
            added=added,
            removed=removed,
            member_count=count,
            occurred_at=finished,
        ),
        t,
    )
    emit_run_batches(conn, t, segment_id, run_id, "added", added, finished, store.batch_size)
    emit_run_batches(conn, t, segment_id, run_id, "removed", removed, finished, store.batch_size)
    return Run(
        run_id,
        segment_id,
        as_of,
        started,
        finished,
        row.rule_hash,
        added,
        removed,
        count,
        "succeeded",
        None,
    )


_HISTORY_COLS = ["segment_id", "contact_key", "change", "reason", "run_id", "at"]


def _has_full_join(conn: Connection) -> bool:
    if conn.dialect.name == "postgresql":
        return True
    if conn.dialect.name == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 39, 0)
    return False  # MariaDB/MySQL have no FULL OUTER JOIN


def _history_select(
    segment_id: str, run_id: int, at: dt.datetime, tables: Any, key: Any, change: Any
) -> sa.Select[Any]:
    return sa.select(
        sa.literal(segment_id),
        key,
        change,
        sa.literal("rule"),
        sa.literal(run_id, sa.BigInteger),
        sa.literal(at, tables.history.c.at.type),
    )


def _apply(
    store: Store,
    conn: Connection,
    segment_id: str,
    run_id: int,
    at: dt.datetime,
    added: int,
    removed: int,
) -> None:
    """Apply the run's history rows to members."""
    m, h = store.tables.members, store.tables.history
    if removed:
        gone = sa.select(h.c.contact_key).where(h.c.run_id == run_id, h.c.change == "removed")
        conn.execute(m.delete().where(m.c.segment_id == segment_id, m.c.contact_key.in_(gone)))
    if added:
        came = sa.select(
            sa.literal(segment_id),
            h.c.contact_key,
            sa.true(),
            sa.literal(at, m.c.since.type),
        ).where(h.c.run_id == run_id, h.c.change == "added")
        conn.execute(m.insert().from_select(["segment_id", "contact_key", "member", "since"], came))


def _full_join_changes(
    store: Store, segment_id: str, run_id: int, new: sa.Select[Any] | None, at: dt.datetime
) -> sa.Select[Any]:
    """History rows of the changes: new FULL OUTER JOIN current, the unmatched rows."""
    t = store.tables
    m = t.members
    cur = (
        sa.select(m.c.contact_key.label("k"))
        .where(m.c.segment_id == segment_id, m.c.member.is_(True))
        .subquery("cur")
    )
    if new is None:
        new = sa.select(m.c.contact_key).where(sa.false())
    nxt = new.subquery("nxt")
    nk = next(iter(nxt.c))
    change = sa.case((cur.c.k.is_(None), sa.literal("added")), else_=sa.literal("removed"))
    return (
        _history_select(segment_id, run_id, at, t, sa.func.coalesce(nk, cur.c.k), change)
        .select_from(nxt.outerjoin(cur, nk == cur.c.k, full=True))
        .where(sa.or_(nk.is_(None), cur.c.k.is_(None)))
    )


def _diff_apply_postgres(
    store: Store,
    conn: Connection,
    segment_id: str,
    run_id: int,
    new: sa.Select[Any] | None,
    at: dt.datetime,
) -> tuple[int, int]:
    """PostgreSQL: diff, history and members in ONE statement (data-modifying CTEs).

    One evaluation of the rule, one snapshot, one round trip; the members are
    changed through the CTE of inserted history rows, so the planner probes the
    members index per change instead of re-reading the run's history.
    """
    m, h = store.tables.members, store.tables.history
    changes = (
        h.insert()
        .from_select(_HISTORY_COLS, _full_join_changes(store, segment_id, run_id, new, at))
        .returning(h.c.contact_key, h.c.change)
        .cte("changes")
    )
    deleted = (
        m.delete()
        .where(
            m.c.segment_id == segment_id,
            m.c.contact_key == changes.c.contact_key,
            changes.c.change == "removed",
        )
        .returning(m.c.contact_key)
        .cte("deleted")
    )
    inserted = (
        m.insert()
        .from_select(
            ["segment_id", "contact_key", "member", "since"],
            sa.select(
                sa.literal(segment_id),
                changes.c.contact_key,
                sa.true(),
                sa.literal(at, m.c.since.type),
            ).where(changes.c.change == "added"),
        )
        .returning(m.c.contact_key)
        .cte("inserted")
    )
    counts = sa.select(
        sa.select(sa.func.count()).select_from(inserted).scalar_subquery(),
        sa.select(sa.func.count()).select_from(deleted).scalar_subquery(),
    )
    added, removed = conn.execute(counts).one()
    return int(added), int(removed)


def _diff_full_join(
    store: Store,
    conn: Connection,
    segment_id: str,
    run_id: int,
    new: sa.Select[Any] | None,
    at: dt.datetime,
) -> tuple[int, int]:
    """SQLite: one statement writes the changes to history (one evaluation of the rule,
    one snapshot, no temporary table); counted from the run's history rows."""
    h = store.tables.history
    select = _full_join_changes(store, segment_id, run_id, new, at)
    total = conn.execute(
        h.insert().from_select(_HISTORY_COLS, select), execution_options=_COUNT
    ).rowcount
    if not total:
        return 0, 0
    counts = dict.fromkeys(("added", "removed"), 0)
    for change_, n in conn.execute(
        sa.select(h.c.change, sa.func.count()).where(h.c.run_id == run_id).group_by(h.c.change)
    ):
        counts[change_] = int(n)
    return counts["added"], counts["removed"]


def _diff_staged(
    store: Store,
    conn: Connection,
    segment_id: str,
    run_id: int,
    new: sa.Select[Any] | None,
    at: dt.datetime,
    state: dict[str, Any],
) -> tuple[int, int]:
    """Without FULL OUTER JOIN (MariaDB/MySQL): the new set goes to a per-run temporary
    table (evaluated once), then two anti-joins give the added and removed keys."""
    t = store.tables
    m, h = t.members, t.history
    stage = _stage_table(conn, store)
    state["stage"] = stage
    stage.create(conn)
    if new is not None:
        conn.execute(stage.insert().from_select(["k"], new))
    current = (
        sa.select(sa.literal(1))
        .where(m.c.segment_id == segment_id, m.c.contact_key == stage.c.k, m.c.member.is_(True))
        .exists()
    )
    added_sel = _history_select(segment_id, run_id, at, t, stage.c.k, sa.literal("added")).where(
        ~current
    )
    added = conn.execute(
        h.insert().from_select(_HISTORY_COLS, added_sel), execution_options=_COUNT
    ).rowcount
    in_new = sa.select(sa.literal(1)).where(stage.c.k == m.c.contact_key).exists()
    removed_sel = _history_select(
        segment_id, run_id, at, t, m.c.contact_key, sa.literal("removed")
    ).where(m.c.segment_id == segment_id, m.c.member.is_(True), ~in_new)
    removed = conn.execute(
        h.insert().from_select(_HISTORY_COLS, removed_sel), execution_options=_COUNT
    ).rowcount
    if _is_mysql(conn):
        # Plain DROP TABLE would commit the transaction implicitly on MariaDB/MySQL.
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE `{stage.name}`")
    else:
        stage.drop(conn)
    return added, removed


def due_segments(
    store: Store,
    now: dt.datetime | None = None,
    *,
    every: dt.timedelta | None = None,
    relative_every: dt.timedelta = dt.timedelta(hours=1),
) -> list[str]:
    """The ids of segments due for recalculation at ``now``, dependencies first.

    See the module docstring for the policy.
    """
    now = _as_utc(now)
    s, r = store.tables.segments, store.tables.runs
    stmt = (
        sa.select(s, r.c.finished_at.label("run_finished"))
        .select_from(s.outerjoin(r, r.c.id == s.c.last_run_id))
        .order_by(s.c.id)
    )
    with store.engine.connect() as conn:
        rows = {row.id: row for row in conn.execute(stmt)}
    graph = {sid: json.loads(row.depends_on) for sid, row in rows.items()}

    def own_reason(row: Any) -> bool:
        if row.status != "active" or row.type == "static":
            return False
        last = row.last_calculated_at
        if last is None or row.rule_hash != row.calculated_hash:
            return True
        if row.relative_time and now - last >= relative_every:
            return True
        if every is not None and now - last >= every:
            return True
        for dep in graph[row.id]:
            d = rows.get(dep)
            if (
                d is not None
                and d.changed_at is not None
                and (row.run_finished is None or d.changed_at > row.run_finished)
            ):
                return True
        return False

    due = {sid for sid, row in rows.items() if own_reason(row)}
    # A segment whose dependency is due is due too, so one pass brings all up to date.
    order = dependency_order(rows, graph, closure=True)
    for sid in order:
        row = rows[sid]
        if (
            sid not in due
            and row.status == "active"
            and row.type != "static"
            and any(dep in due for dep in graph[sid])
        ):
            due.add(sid)
    return [sid for sid in order if sid in due]
