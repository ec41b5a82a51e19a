"""The :class:`Store`: segments and their membership in a database.

One object per (engine, tables, contact schema). It owns segment definitions
(create, update, archive, delete), manual membership (add/remove for static and
hybrid segments) and delegates recalculation (:mod:`.recalculate`), reading and
export (:mod:`.reading`) and event delivery (:mod:`.outbox`). Every change writes
its history rows and outbox events in its own transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ..errors import ReadOnlyError, RuleError, StoreError
from ..membership import check_recalculable
from ..model import Segment, parse, parse_segment
from ..schema import Schema
from . import events as ev
from . import reading
from .dependencies import dependency_order, rule_refs
from .outbox import deliver, emit, transaction
from .tables import DEFAULT_TABLES, Tables

__all__ = ["Store", "rule_hash", "uses_relative_time"]

_CHUNK = 500  # keys per statement in manual changes (well under every parameter limit)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def rule_hash(rule: Any) -> str | None:
    """A stable hash of a rule's native JSON form (None for no rule)."""
    if rule is None:
        return None
    text = json.dumps(parse(rule).to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# Instants the rule is bound at to see whether its meaning moves with ``now``: a
# minute, a day, a month and a year on, so "in_last 5 minutes" and "this_year" both show.
_PROBES = (
    dt.timedelta(0),
    dt.timedelta(minutes=1),
    dt.timedelta(days=1),
    dt.timedelta(days=40),
    dt.timedelta(days=400),
)


def uses_relative_time(rule: Any, schema: Schema) -> bool:
    """True if the rule's result can change with ``now`` alone (relative time).

    Decided by binding the rule at several instants and comparing the bound
    parameters, so any operator that resolves relative time counts, including
    custom ones. A rule that does not bind is treated as relative (never stale).
    """
    if rule is None:
        return False
    from ..bind import bind
    from ..primitives import shape

    base = dt.datetime(2001, 1, 31, 12, tzinfo=dt.UTC)
    try:
        seen = {shape(bind(rule, schema, now=base + d).predicate) for d in _PROBES}
    except Exception:
        return True
    return len(seen) > 1


class Store:
    """Segments and membership in the database behind ``engine``.

    ``schema`` is the contact schema rules are compiled against (its table's key
    must compare with ``tables.key_type``). ``batch_size`` is the number of keys per
    members-added/removed event. ``work_mem`` is set (``SET LOCAL``) for a
    recalculation's transaction on PostgreSQL, so the diff of a million-member
    segment hashes in memory; ``None`` keeps the server's setting.
    """

    def __init__(
        self,
        engine: Engine,
        schema: Schema | None = None,
        tables: Tables = DEFAULT_TABLES,
        *,
        batch_size: int = 1000,
        work_mem: str | None = "64MB",
    ) -> None:
        if work_mem is not None and not re.fullmatch(r"[0-9]{1,6}(kB|MB|GB)", work_mem):
            raise ValueError(f"work_mem must look like '64MB', not {work_mem!r}")
        self.work_mem = work_mem
        self.engine = engine
        self.schema = schema
        self.tables = tables
        self.batch_size = batch_size

    def __repr__(self) -> str:
        from ..display import store_text

        return store_text(self)

    def _repr_html_(self) -> str:
        from ..display import store_html

        return store_html(self)

    # ------------------------------------------------------------------ setup
    def create_all(self) -> None:
        """Create the store tables (quick start; production uses the migrations)."""
        from .tables import create_all

        create_all(self.engine, self.tables)

    # ------------------------------------------------------------------ helpers
    def segment_members(self, segment_id: str) -> sa.Select[Any]:
        """``SELECT contact_key`` of the current members of ``segment_id``.

        This is what ``{"segment": id}`` compiles against.
        """
        m = self.tables.members
        return sa.select(m.c.contact_key).where(m.c.segment_id == segment_id, m.c.member.is_(True))

    def _row(self, conn: Connection, segment_id: str, *, lock: bool = False) -> Any:
        s = self.tables.segments
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
            raise StoreError(f"no segment {segment_id!r}")
        return row

    @staticmethod
    def _model(row: Any, include: Sequence[Any] = (), exclude: Sequence[Any] = ()) -> Segment:
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

    def _check_rule(self, conn: Connection, segment_id: str, rule: Any) -> list[str]:
        """Validate ``rule`` (schema, references, cycles); return its references."""
        if rule is None:
            return []
        refs = sorted(rule_refs(rule))
        s = self.tables.segments
        known = {r.id for r in conn.execute(sa.select(s.c.id).where(s.c.id.in_(refs)))}
        known.add(segment_id)  # a self-reference is reported as a cycle below
        if self.schema is not None:
            from ..bind import bind

            # Validates fields, operators and values, and reports unknown segments
            # with their paths, all in one RuleError.
            bind(rule, self.schema, segments=lambda sid: True if sid in known else None)
        missing = [r for r in refs if r not in known]
        if missing:
            raise RuleError(f"unknown segment {missing[0]!r}", "/segment")
        if segment_id in refs:
            raise RuleError(f"segment references form a cycle: {segment_id} -> {segment_id}")
        if refs:
            graph = self._graph(conn)
            graph[segment_id] = refs
            dependency_order([segment_id], graph)
        return refs

    def _graph(self, conn: Connection) -> dict[str, list[str]]:
        s = self.tables.segments
        return {
            r.id: json.loads(r.depends_on) for r in conn.execute(sa.select(s.c.id, s.c.depends_on))
        }

    # ------------------------------------------------------------------ definitions
    def create(self, segment: Segment | dict[str, Any] | str) -> Segment:
        """Store a new segment (and its manual includes/excludes); emits ``segment.created``."""
        seg = parse_segment(segment)
        if seg.type == "dynamic" and (seg.include or seg.exclude):
            raise StoreError("a dynamic segment has no manual includes or excludes")
        if seg.type == "static" and seg.rule is not None:
            raise StoreError("a static segment has no rule")
        now = _utcnow()
        with transaction(self.engine) as conn:
            s = self.tables.segments
            if conn.execute(sa.select(s.c.id).where(s.c.id == seg.id)).first() is not None:
                raise StoreError(f"segment {seg.id!r} already exists")
            refs = self._check_rule(conn, seg.id, seg.rule)
            conn.execute(
                s.insert().values(
                    id=seg.id,
                    name=seg.name,
                    description=seg.description,
                    type=seg.type,
                    status=seg.status,
                    rule=seg.rule.to_json() if seg.rule is not None else None,
                    rule_hash=rule_hash(seg.rule),
                    relative_time=self.schema is not None
                    and uses_relative_time(seg.rule, self.schema),
                    depends_on=json.dumps(refs),
                    member_count=0,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            emit(conn, ev.SegmentCreated(segment_id=seg.id, segment=seg.to_dict()), self.tables)
            # An exclude wins over an include of the same key (SEMANTICS §6).
            if seg.include:
                self._add(conn, seg.id, seg.type, list(dict.fromkeys(seg.include)), now)
            if seg.exclude:
                self._remove(conn, seg.id, seg.type, list(dict.fromkeys(seg.exclude)), now)
            return self._model(self._row(conn, seg.id))

    def get(self, segment_id: str, *, overrides: bool = False) -> Segment:
        """The stored segment. ``include``/``exclude`` are filled only with ``overrides``
        (they can be as large as a static segment)."""
        with self.engine.connect() as conn:
            row = self._row(conn, segment_id)
            if not overrides:
                return self._model(row)
            m = self.tables.members
            flags = conn.execute(
                sa.select(m.c.contact_key, m.c.manual)
                .where(m.c.segment_id == segment_id, m.c.manual.is_not(None))
                .order_by(m.c.contact_key)
            ).all()
            inc = [k for k, f in flags if f == "include"]
            exc = [k for k, f in flags if f == "exclude"]
            return self._model(row, inc, exc)

    def segments(self, *, status: str | None = None) -> list[Segment]:
        """All stored segments (optionally of one status), by id."""
        s = self.tables.segments
        stmt = sa.select(s).order_by(s.c.id)
        if status is not None:
            stmt = stmt.where(s.c.status == status)
        with self.engine.connect() as conn:
            return [self._model(r) for r in conn.execute(stmt)]

    def update(self, segment_id: str, **changes: Any) -> Segment:
        """Change ``name``, ``description``, ``rule``, ``type`` or ``status``.

        Archived segments are read-only (:class:`ReadOnlyError`); setting status
        ``archived`` emits ``segment.archived`` as well as ``segment.updated``.
        Turning a segment dynamic drops its manual flags; turning it static keeps
        only its manual includes as members at the next recalculation.
        """
        allowed = {"name", "description", "rule", "type", "status"}
        unknown = set(changes) - allowed
        if unknown:
            raise StoreError(f"cannot update {sorted(unknown)}; allowed: {sorted(allowed)}")
        now = _utcnow()
        with transaction(self.engine) as conn:
            row = self._row(conn, segment_id, lock=True)
            if row.status == "archived":
                raise ReadOnlyError(f"segment {segment_id!r} is archived and read-only")
            current = self._model(row)
            data = current.model_dump()
            data.update(changes)
            new = Segment.model_validate(data)  # validates type/status/rule shapes
            values: dict[str, Any] = {}
            shown: dict[str, Any] = {}
            for name in changes:
                old_v, new_v = getattr(current, name), getattr(new, name)
                if name == "rule":
                    old_v = current.rule.to_dict() if current.rule is not None else None
                    new_v = new.rule.to_dict() if new.rule is not None else None
                if old_v != new_v:
                    shown[name] = new_v
            if new.type == "static" and new.rule is not None:
                raise StoreError("a static segment has no rule")
            if "rule" in shown:
                refs = self._check_rule(conn, segment_id, new.rule)
                values.update(
                    rule=new.rule.to_json() if new.rule is not None else None,
                    rule_hash=rule_hash(new.rule),
                    relative_time=self.schema is not None
                    and uses_relative_time(new.rule, self.schema),
                    depends_on=json.dumps(refs),
                )
            for name in ("name", "description", "type", "status"):
                if name in shown:
                    values[name] = shown[name]
            if not values:
                return current
            if shown.get("type") == "dynamic":
                m = self.tables.members
                conn.execute(m.delete().where(m.c.segment_id == segment_id, m.c.member.is_(False)))
                conn.execute(m.update().where(m.c.segment_id == segment_id).values(manual=None))
            conn.execute(
                self.tables.segments.update()
                .where(self.tables.segments.c.id == segment_id)
                .values(**values, version=row.version + 1, updated_at=now)
            )
            emit(conn, ev.SegmentUpdated(segment_id=segment_id, changes=shown), self.tables)
            if shown.get("status") == "archived":
                emit(conn, ev.SegmentArchived(segment_id=segment_id), self.tables)
            return self._model(self._row(conn, segment_id))

    def archive(self, segment_id: str) -> Segment:
        """Archive a segment: it keeps its members and history and becomes read-only."""
        return self.update(segment_id, status="archived")

    def delete(self, segment_id: str) -> None:
        """Delete a segment and its current members (history and runs are kept).

        Refused while another segment's rule references it.
        """
        s, m = self.tables.segments, self.tables.members
        with transaction(self.engine) as conn:
            self._row(conn, segment_id, lock=True)
            users = sorted(k for k, deps in self._graph(conn).items() if segment_id in deps)
            if users:
                raise StoreError(f"segment {segment_id!r} is referenced by {users}")
            conn.execute(m.delete().where(m.c.segment_id == segment_id))
            conn.execute(s.delete().where(s.c.id == segment_id))
            emit(conn, ev.SegmentDeleted(segment_id=segment_id), self.tables)

    # ------------------------------------------------------------------ manual membership
    def add_members(self, segment_id: str, keys: Iterable[Any]) -> int:
        """Manually include ``keys`` (static and hybrid segments). Returns how many
        became members. A manual include survives every recalculation; it also
        lifts a manual exclude of the same key."""
        keys = list(dict.fromkeys(keys))
        with transaction(self.engine) as conn:
            row = self._row(conn, segment_id, lock=True)
            self._check_manual(row)
            return self._add(conn, segment_id, row.type, keys, _utcnow())

    def remove_members(self, segment_id: str, keys: Iterable[Any]) -> int:
        """Manually remove ``keys``: from a static segment they are dropped; in a
        hybrid one they become manual excludes (which win over the rule and
        survive recalculation). Returns how many stopped being members."""
        keys = list(dict.fromkeys(keys))
        with transaction(self.engine) as conn:
            row = self._row(conn, segment_id, lock=True)
            self._check_manual(row)
            return self._remove(conn, segment_id, row.type, keys, _utcnow())

    def clear_overrides(self, segment_id: str, keys: Iterable[Any]) -> int:
        """Drop the manual flag of ``keys`` in a hybrid segment: membership follows
        the rule again from the next recalculation. Returns how many flags went."""
        keys = list(dict.fromkeys(keys))
        m = self.tables.members
        n = 0
        with transaction(self.engine) as conn:
            row = self._row(conn, segment_id, lock=True)
            self._check_manual(row)
            if row.type != "hybrid":
                raise StoreError("only hybrid segments have overrides to clear")
            for chunk in _chunks(keys):
                where = (m.c.segment_id == segment_id, m.c.contact_key.in_(chunk))
                # An excluded key is no member: its row only held the flag.
                n += conn.execute(m.delete().where(*where, m.c.manual == "exclude")).rowcount
                n += conn.execute(
                    m.update().where(*where, m.c.manual == "include").values(manual=None)
                ).rowcount
            return n

    def _check_manual(self, row: Any) -> None:
        if row.status == "archived":
            raise ReadOnlyError(f"segment {row.id!r} is archived and read-only")
        if row.type == "dynamic":
            raise StoreError(f"segment {row.id!r} is dynamic: its members come from its rule only")

    def _add(
        self, conn: Connection, sid: str, stype: str, keys: list[Any], now: dt.datetime
    ) -> int:
        m = self.tables.members
        added: list[Any] = []
        for chunk in _chunks(keys):
            existing = {
                r.contact_key: r
                for r in conn.execute(
                    sa.select(m.c.contact_key, m.c.member, m.c.manual).where(
                        m.c.segment_id == sid, m.c.contact_key.in_(chunk)
                    )
                )
            }
            fresh = [k for k in chunk if k not in existing]
            if fresh:
                conn.execute(
                    m.insert(),
                    [
                        {
                            "segment_id": sid,
                            "contact_key": k,
                            "member": True,
                            "manual": "include",
                            "since": now,
                        }
                        for k in fresh
                    ],
                )
            flip = [k for k, r in existing.items() if not r.member]
            keep = [k for k, r in existing.items() if r.member and r.manual != "include"]
            if flip:
                conn.execute(
                    m.update()
                    .where(m.c.segment_id == sid, m.c.contact_key.in_(flip))
                    .values(member=True, manual="include", since=now)
                )
            if keep:
                conn.execute(
                    m.update()
                    .where(m.c.segment_id == sid, m.c.contact_key.in_(keep))
                    .values(manual="include")
                )
            added.extend(fresh)
            added.extend(flip)
        self._manual_changes(conn, sid, "added", added, now)
        return len(added)

    def _remove(
        self, conn: Connection, sid: str, stype: str, keys: list[Any], now: dt.datetime
    ) -> int:
        m = self.tables.members
        removed: list[Any] = []
        for chunk in _chunks(keys):
            existing = {
                r.contact_key: r
                for r in conn.execute(
                    sa.select(m.c.contact_key, m.c.member, m.c.manual).where(
                        m.c.segment_id == sid, m.c.contact_key.in_(chunk)
                    )
                )
            }
            removed.extend(k for k, r in existing.items() if r.member)
            if stype == "static":
                conn.execute(m.delete().where(m.c.segment_id == sid, m.c.contact_key.in_(chunk)))
                continue
            # hybrid: remember the exclude so recalculation cannot bring the key back
            fresh = [k for k in chunk if k not in existing]
            if fresh:
                conn.execute(
                    m.insert(),
                    [
                        {
                            "segment_id": sid,
                            "contact_key": k,
                            "member": False,
                            "manual": "exclude",
                            "since": now,
                        }
                        for k in fresh
                    ],
                )
            if existing:
                conn.execute(
                    m.update()
                    .where(m.c.segment_id == sid, m.c.contact_key.in_(list(existing)))
                    .values(member=False, manual="exclude", since=now)
                )
        self._manual_changes(conn, sid, "removed", removed, now)
        return len(removed)

    def _manual_changes(
        self, conn: Connection, sid: str, change: str, keys: list[Any], now: dt.datetime
    ) -> None:
        if not keys:
            return
        h, s = self.tables.history, self.tables.segments
        conn.execute(
            h.insert(),
            [
                {
                    "segment_id": sid,
                    "contact_key": k,
                    "change": change,
                    "reason": "manual",
                    "run_id": None,
                    "at": now,
                }
                for k in keys
            ],
        )
        delta = len(keys) if change == "added" else -len(keys)
        conn.execute(
            s.update()
            .where(s.c.id == sid)
            .values(member_count=s.c.member_count + delta, changed_at=now)
        )
        cls = ev.MembersAdded if change == "added" else ev.MembersRemoved
        parts = [keys[i : i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
        for i, part in enumerate(parts):
            emit(
                conn,
                cls(
                    segment_id=sid,
                    keys=tuple(part),
                    reason="manual",
                    batch=i,
                    batches=len(parts),
                    occurred_at=now,
                ),
                self.tables,
            )

    # ------------------------------------------------------------------ recalculation
    def recalculate(self, segment_id: str, now: dt.datetime | None = None) -> Any:
        """Recalculate one segment as of ``now`` in the database; see :mod:`.recalculate`."""
        from .recalculate import recalculate

        return recalculate(self, segment_id, now)

    def recalculate_many(
        self, segment_ids: Iterable[str] | None = None, now: dt.datetime | None = None
    ) -> list[Any]:
        """Recalculate segments (default: every active one) in dependency order, all as
        of one ``now``. Inactive/archived segments are skipped. Each segment commits
        on its own; the first failure (recorded as a failed run) stops the rest."""
        from .recalculate import recalculate

        now = now or _utcnow()
        with self.engine.connect() as conn:
            graph = self._graph(conn)
            s = self.tables.segments
            status = {
                r.id: r.status for r in conn.execute(sa.select(s.c.id, s.c.status).order_by(s.c.id))
            }
        ids = (
            list(segment_ids)
            if segment_ids is not None
            else [k for k, v in status.items() if v == "active"]
        )
        out = []
        for sid in dependency_order(ids, graph):
            if status.get(sid) != "active":
                continue
            out.append(recalculate(self, sid, now))
        return out

    def due(
        self,
        now: dt.datetime | None = None,
        *,
        every: dt.timedelta | None = None,
        relative_every: dt.timedelta = dt.timedelta(hours=1),
    ) -> list[str]:
        """Segments due for recalculation, in dependency order; see :func:`.recalculate.due_segments`."""
        from .recalculate import due_segments

        return due_segments(self, now, every=every, relative_every=relative_every)

    def check_recalculable(self, segment_id: str) -> None:
        with self.engine.connect() as conn:
            check_recalculable(self._model(self._row(conn, segment_id)))

    # ------------------------------------------------------------------ reading
    def members(self, segment_id: str, *, after: Any = None, limit: int = 1000) -> list[Any]:
        """Member keys in key order, ``limit`` at a time after key ``after`` (keyset)."""
        return reading.members(self.engine, self.tables, segment_id, after=after, limit=limit)

    def iter_members(self, segment_id: str, *, page: int = 10_000) -> Iterator[Any]:
        """Every member key, in key order, fetched a page at a time."""
        return reading.iter_members(self.engine, self.tables, segment_id, page=page)

    def count(self, segment_id: str, *, exact: bool = False) -> int:
        """The member count (maintained on the segment row, or counted with ``exact``)."""
        return reading.count(self.engine, self.tables, segment_id, exact=exact)

    def is_member(self, segment_id: str, key: Any) -> bool:
        return reading.is_member(self.engine, self.tables, segment_id, key)

    def history(
        self,
        segment_id: str | None = None,
        key: Any = None,
        *,
        after_id: int | None = None,
        limit: int = 1000,
    ) -> list[reading.Change]:
        """Membership changes of a segment and/or a contact, oldest first (keyset on id)."""
        return reading.history(
            self.engine, self.tables, segment_id, key, after_id=after_id, limit=limit
        )

    def runs(self, segment_id: str, *, limit: int = 20) -> list[reading.Run]:
        """The most recent runs of a segment, newest first."""
        return reading.runs(self.engine, self.tables, segment_id, limit=limit)

    def export_csv(self, segment_id: str, out: IO[str], **kw: Any) -> int:
        """Stream the members to ``out`` as CSV (header ``key,since``); returns rows written."""
        return reading.export_csv(self.engine, self.tables, segment_id, out, **kw)

    def export_jsonl(self, segment_id: str, out: IO[str], **kw: Any) -> int:
        """Stream the members to ``out`` as JSON Lines; returns rows written."""
        return reading.export_jsonl(self.engine, self.tables, segment_id, out, **kw)

    # ------------------------------------------------------------------ events
    def deliver(self, publisher: Callable[[ev.Event], Any], **kw: Any) -> int:
        """Hand pending events to ``publisher``; see :func:`.outbox.deliver`."""
        return deliver(self.engine, publisher, self.tables, **kw)


def _chunks(keys: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(keys), _CHUNK):
        yield list(keys[i : i + _CHUNK])
