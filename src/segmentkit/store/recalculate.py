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

   * PostgreSQL: ONE statement. ``new FULL OUTER JOIN current`` (a hash full join)
     gives the changes; data-modifying CTEs insert them into history and, from
     there, delete and insert the members (``SET LOCAL work_mem`` lets the join
     hash in memory);
   * SQLite and MariaDB/MySQL: the new set goes to a temporary table with a primary
     key (the rule is evaluated once). Two ``INSERT INTO history ... SELECT``
     anti-joins (``LEFT JOIN ... IS NULL``, each probing a primary key: members' for
     the added keys, the stage's for the removed ones) write the changes; the
     removed members are deleted by the run's history keys (a multi-table ``DELETE``
     on MariaDB/MySQL, ``key IN (...)`` evaluated once on SQLite, both probing the
     members key) and the added ones inserted from the run's history rows. Every
     statement is a scan of one side and index probes into the other: linear in
     the number of contacts and members. (SQLite scanned a ``FULL OUTER JOIN``
     against a subquery once per row, and MariaDB planned ``DELETE ... WHERE k IN
     (SELECT ...)`` and ``NOT EXISTS`` as dependent subqueries: the first two were
     quadratic. docs/store.md has the plans and figures.)
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

Recalculation needs only what :class:`StoreParts` names (engine, tables, schema,
batch size, ``work_mem``): a :class:`~segmentkit.store.Store` is one.

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
import time
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import StoreError
from ..membership import check_recalculable
from ..schema import Schema
from . import events as ev
from .dependencies import dependency_order
from .outbox import begin_immediate, emit, emit_run_batches
from .progress import Progress, ProgressCallback, logger
from .reading import Run
from .rows import segment_model, segment_row
from .tables import Tables
from .validate import check_id, check_now, check_progress

__all__ = ["StoreParts", "due_segments", "recalculate"]


class StoreParts(Protocol):
    """What recalculation needs from a store (a :class:`~segmentkit.store.Store` is one)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def tables(self) -> Tables: ...

    @property
    def schema(self) -> Schema | None: ...

    @property
    def batch_size(self) -> int: ...

    @property
    def work_mem(self) -> str | None: ...


# INSERT ... SELECT row counts are only kept when asked for (SQLAlchemy 2.x).
_COUNT: dict[str, Any] = {"preserve_rowcount": True}
_STEPS = ("locked", "evaluated", "diffed", "applied", "done")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_utc(now: Any) -> dt.datetime:
    checked = check_now(now)
    if checked is None:
        return _utcnow()
    return checked.astimezone(dt.UTC)


def _is_mysql(conn: Connection) -> bool:
    return conn.dialect.name in ("mysql", "mariadb")


def _quoted(conn: Connection, table: sa.Table) -> str:
    """The table's name as the dialect's identifier preparer quotes it."""
    return conn.dialect.identifier_preparer.format_table(table)


_STAGES: dict[tuple[str, str | None, str], sa.Table] = {}


def _stage_table(tables: Tables) -> sa.Table:
    """The temporary table a run stages its new members in.

    One name per set of store tables: temporary tables are private to their
    connection on SQLite and MariaDB/MySQL, so concurrent runs do not meet, and a
    fixed name lets SQLAlchemy's compiled cache serve every run's statements.
    """
    key = (tables.prefix, tables.segments.schema, repr(tables.key_type))
    stage = _STAGES.get(key)
    if stage is None:
        # The anti-joins probe the stage once per member: it needs its primary key.
        # On SQLite a WITHOUT ROWID table is that key's B-tree alone.
        stage = sa.Table(
            f"{tables.prefix}recalc_stage",
            sa.MetaData(),
            sa.Column("k", tables.key_type, primary_key=True, autoincrement=False),
            prefixes=["TEMPORARY"],
            sqlite_with_rowid=False,
        )
        if len(_STAGES) >= 256:  # hosts with many prefixes: keep it bounded
            _STAGES.clear()
        _STAGES[key] = stage
    return stage


def _members_select(rule: Any, parts: StoreParts, now: dt.datetime) -> sa.Select[Any]:
    """The rule's member SELECT, with segment references read from the members table."""
    from ..compile.dialects import SegmentTable
    from ..compile.sqlalchemy import members_select

    assert parts.schema is not None
    return members_select(rule, parts.schema, now, segments=SegmentTable.from_store(parts.tables))


def _new_members(parts: StoreParts, row: Any, now: dt.datetime) -> sa.Select[Any] | None:
    """SELECT of the new member keys (one column), or None for no members."""
    m = parts.tables.members
    includes = sa.select(m.c.contact_key).where(m.c.segment_id == row.id, m.c.manual == "include")
    if row.type == "static" or row.rule is None:
        return includes if row.type != "dynamic" else None
    if parts.schema is None:
        raise StoreError("recalculating a rule needs the contact schema: Store(engine, schema)")
    matches = _members_select(json.loads(row.rule), parts, now)
    if row.type == "dynamic":
        return matches
    # hybrid: (rule | includes) - excludes; UNION also removes duplicates.
    union = sa.union(matches, includes).subquery("candidates")
    key = next(iter(union.c))
    # An anti-join (LEFT JOIN ... IS NULL) probing the members key, not NOT EXISTS
    # (a dependent subquery per row on MariaDB).
    ex = m.alias("excluded")
    on = sa.and_(ex.c.segment_id == row.id, ex.c.manual == "exclude", ex.c.contact_key == key)
    return sa.select(key).select_from(union.outerjoin(ex, on)).where(ex.c.contact_key.is_(None))


class _Reporter:
    """Calls the progress callback and writes DEBUG records, one per step."""

    def __init__(self, segment_id: str, progress: ProgressCallback | None) -> None:
        self.segment_id = segment_id
        self.progress = progress
        self.t0 = time.perf_counter()
        self.last = self.t0
        self.n = 0

    def step(self, name: str, **counts: int) -> None:
        now = time.perf_counter()
        self.n += 1
        if logger.isEnabledFor(10):  # DEBUG
            detail = "".join(f" {k}={v}" for k, v in counts.items())
            logger.debug(
                "recalculate %s: %s in %.3f s%s", self.segment_id, name, now - self.last, detail
            )
        self.last = now
        if self.progress is not None:
            self.progress(
                Progress("recalculate", self.segment_id, name, self.n, len(_STEPS), now - self.t0)
            )


def recalculate(
    store: StoreParts,
    segment_id: str,
    now: dt.datetime | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> Run:
    """Recalculate ``segment_id`` as of ``now`` (default: the current instant).

    Raises :class:`NotFoundError` for an unknown segment, :class:`ReadOnlyError` for an
    archived one and :class:`StoreError` for an inactive one (neither is
    recalculated). ``progress`` is called after each step (see :mod:`.progress`).
    Returns the run.
    """
    segment_id = check_id(segment_id)
    check_progress(progress)
    as_of = _as_utc(now)
    started = _utcnow()
    state: dict[str, Any] = {}
    report = _Reporter(segment_id, progress)
    logger.info("recalculate %s: start (as of %s)", segment_id, as_of.isoformat())
    try:
        with store.engine.connect() as conn:
            if conn.dialect.name != "sqlite":
                conn.execution_options(isolation_level="READ COMMITTED")
            try:
                with conn.begin():
                    begin_immediate(conn)
                    run = _recalculate(store, conn, segment_id, as_of, started, state, report)
            finally:
                stage = state.get("stage")
                if stage is not None and _is_mysql(conn):
                    # MariaDB temporary tables outlive a rollback; pooled sessions persist.
                    conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {_quoted(conn, stage)}")
                    conn.commit()
    except Exception as exc:
        if not state.get("started"):
            raise  # refused before anything began (unknown, inactive, archived)
        logger.warning(
            "recalculate %s: failed after %.3f s: %s: %s",
            segment_id,
            time.perf_counter() - report.t0,
            type(exc).__name__,
            exc,
        )
        _record_failure(store, segment_id, as_of, started, state.get("hash"), exc)
        raise
    elapsed = time.perf_counter() - report.t0
    logger.info(
        "recalculate %s: run %s added %d, removed %d, %d members, in %.3f s",
        segment_id,
        run.id,
        run.added,
        run.removed,
        run.member_count,
        elapsed,
    )
    report.step("done", added=run.added, removed=run.removed)
    return run


def _record_failure(
    store: StoreParts,
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
    store: StoreParts,
    conn: Connection,
    segment_id: str,
    as_of: dt.datetime,
    started: dt.datetime,
    state: dict[str, Any],
    report: _Reporter,
) -> Run:
    t = store.tables
    s, r = t.segments, t.runs
    row = segment_row(conn, t, segment_id, lock=True)
    check_recalculable(segment_model(row))
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
    report.step("locked", run_id=run_id)

    new = _new_members(store, row, as_of)
    at = _utcnow()
    if conn.dialect.name == "postgresql":
        if store.work_mem:
            # Transaction-local: lets the full join hash a million keys without spilling.
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{store.work_mem}'")
        added, removed = _diff_apply_postgres(store, conn, segment_id, run_id, new, at)
        report.step("evaluated")
        report.step("diffed", added=added, removed=removed)
    else:
        added, removed = _diff_staged(store, conn, segment_id, run_id, new, at, state, report)
        _apply(store, conn, segment_id, run_id, at, added, removed)
        _drop_stage(conn, state)
    report.step("applied")

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


def _history_select(
    segment_id: str, run_id: int, at: dt.datetime, tables: Tables, key: Any, change: Any
) -> sa.Select[Any]:
    return sa.select(
        sa.literal(segment_id, tables.history.c.segment_id.type),
        key,
        change,
        sa.literal("rule"),
        sa.literal(run_id, sa.BigInteger),
        sa.literal(at, tables.history.c.at.type),
    )


def _apply(
    store: StoreParts,
    conn: Connection,
    segment_id: str,
    run_id: int,
    at: dt.datetime,
    added: int,
    removed: int,
) -> None:
    """Apply the run's changes to members (SQLite, MariaDB/MySQL)."""
    m, h = store.tables.members, store.tables.history
    if removed:
        if _is_mysql(conn):
            # A multi-table DELETE: MariaDB runs it as a join driven by the run's
            # history rows (index history_run), probing the members primary key.
            # ``DELETE ... WHERE contact_key IN (SELECT ...)`` is a DEPENDENT SUBQUERY
            # there, re-reading the run's rows for every member.
            stmt = m.delete().where(
                h.c.run_id == run_id,
                h.c.change == "removed",
                m.c.segment_id == segment_id,
                m.c.contact_key == h.c.contact_key,
            )
        else:
            # SQLite evaluates the uncorrelated IN list once (the run's removed history
            # rows, index history_run) and probes the members primary key per key.
            gone = sa.select(h.c.contact_key).where(h.c.run_id == run_id, h.c.change == "removed")
            stmt = m.delete().where(m.c.segment_id == segment_id, m.c.contact_key.in_(gone))
        conn.execute(stmt)
    if added:
        came = sa.select(
            sa.literal(segment_id, m.c.segment_id.type),
            h.c.contact_key,
            sa.true(),
            sa.literal(at, m.c.since.type),
        ).where(h.c.run_id == run_id, h.c.change == "added")
        conn.execute(m.insert().from_select(["segment_id", "contact_key", "member", "since"], came))


def _full_join_changes(
    store: StoreParts, segment_id: str, run_id: int, new: sa.Select[Any] | None, at: dt.datetime
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
    store: StoreParts,
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


def _diff_staged(
    store: StoreParts,
    conn: Connection,
    segment_id: str,
    run_id: int,
    new: sa.Select[Any] | None,
    at: dt.datetime,
    state: dict[str, Any],
    report: _Reporter,
) -> tuple[int, int]:
    """SQLite, MariaDB/MySQL: the new set goes to a per-run temporary table with a
    primary key (evaluated once), then two anti-joins write the added and removed
    keys to history, each a scan of one side probing the other's primary key."""
    t = store.tables
    m, h = t.members, t.history
    stage = _stage_table(t)
    if _is_mysql(conn):
        # A pooled session may keep one from a run whose cleanup could not run.
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE IF EXISTS {_quoted(conn, stage)}")
    state["stage"] = stage
    stage.create(conn)
    staged = 0
    if new is not None:
        staged = conn.execute(
            stage.insert().from_select(["k"], new), execution_options=_COUNT
        ).rowcount
    report.step("evaluated", new_members=staged)
    # Anti-joins as LEFT JOIN ... IS NULL: MariaDB runs NOT EXISTS as a DEPENDENT
    # SUBQUERY (one subquery execution per row, 2-3x slower than the join on the same
    # eq_ref probe); SQLite plans both as a loop over one side probing the other's key.
    cur = m.alias("cur")
    on_cur = sa.and_(
        cur.c.segment_id == segment_id, cur.c.contact_key == stage.c.k, cur.c.member.is_(True)
    )
    added_sel = (
        _history_select(segment_id, run_id, at, t, stage.c.k, sa.literal("added"))
        .select_from(stage.outerjoin(cur, on_cur))
        .where(cur.c.contact_key.is_(None))
    )
    added = conn.execute(
        h.insert().from_select(_HISTORY_COLS, added_sel), execution_options=_COUNT
    ).rowcount
    removed_sel = (
        _history_select(segment_id, run_id, at, t, m.c.contact_key, sa.literal("removed"))
        .select_from(m.outerjoin(stage, stage.c.k == m.c.contact_key))
        .where(m.c.segment_id == segment_id, m.c.member.is_(True), stage.c.k.is_(None))
    )
    removed = conn.execute(
        h.insert().from_select(_HISTORY_COLS, removed_sel), execution_options=_COUNT
    ).rowcount
    report.step("diffed", added=added, removed=removed)
    return added, removed


def _drop_stage(conn: Connection, state: dict[str, Any]) -> None:
    stage = state.pop("stage")
    if _is_mysql(conn):
        # Plain DROP TABLE would commit the transaction implicitly on MariaDB/MySQL.
        conn.exec_driver_sql(f"DROP TEMPORARY TABLE {_quoted(conn, stage)}")
    else:
        stage.drop(conn)


def due_segments(
    store: StoreParts,
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
