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
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import IO, Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from ..errors import NotFoundError, Problem, ReadOnlyError, RuleError, StoreError, StoreInputError
from ..membership import check_recalculable
from ..model import (
    Condition,
    EventCondition,
    Group,
    Segment,
    SegmentRef,
    load_json,
    parse,
    parse_segment,
    problems_from_validation,
)
from ..schema import Schema
from . import events as ev
from . import reading
from .dependencies import dependency_order, rule_refs
from .outbox import deliver, emit, transaction
from .progress import Progress, ProgressCallback
from .reading import Run
from .recalculate import due_segments, recalculate
from .rows import segment_model, segment_row
from .tables import DEFAULT_TABLES, Tables
from .validate import (
    MAX_PAGE,
    check_count,
    check_id,
    check_keys,
    check_now,
    check_progress,
    check_text,
)

__all__ = ["Store", "coerce_rule", "rule_hash", "uses_relative_time"]

_UPDATABLE = frozenset({"name", "description", "rule", "type", "status"})
_STATUSES = frozenset({"active", "inactive", "archived"})
_TYPES = frozenset({"dynamic", "static", "hybrid"})

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


def coerce_rule(rule: Any) -> Any:
    """A rule given in any supported form, parsed: a rule object, a native dict, JSON
    text or bytes, or the text form (``age >= 18``). ``None`` stays ``None``."""
    if rule is None or isinstance(rule, Group | Condition | SegmentRef | EventCondition):
        return rule
    if isinstance(rule, str) and not rule.lstrip().startswith("{"):
        from ..formats import parse_text

        return parse_text(rule)
    return parse(rule)


def _coerce_segment(segment: Any) -> Segment:
    """A Segment from a Segment, a dict or JSON text; generates a missing id and
    accepts the rule in any form :func:`coerce_rule` takes."""
    if isinstance(segment, Segment):
        return segment
    data = load_json(segment, "segment")
    if not isinstance(data, Mapping):
        raise StoreInputError("a segment must be a Segment, a JSON object or its text", "/segment")
    data = dict(data)
    if data.get("id") is None:
        data["id"] = f"seg_{uuid.uuid4().hex[:16]}"
    check_id(data["id"], "id")
    for name in ("name", "description"):
        if name in data:
            check_text(data[name], name)
    if "rule" in data:
        data["rule"] = coerce_rule(data["rule"])
    return parse_segment(data)


class Store:
    """Segments and membership in the database behind ``engine``.

    ``schema`` is the contact schema rules are compiled against (its table's key
    must compare with ``tables.key_type``); ``tables`` defaults to
    ``DEFAULT_TABLES`` (prefix ``sk_``, BIGINT keys). ``batch_size`` is the number of
    keys per members-added/removed event. ``work_mem`` is set (``SET LOCAL``) for a
    recalculation's transaction on PostgreSQL, so the diff of a million-member
    segment hashes in memory; ``None`` keeps the server's setting. With
    ``require_contacts`` every manually included key must exist in the schema's
    contact table (else :class:`StoreInputError`).

    Every method that takes a segment id raises :class:`NotFoundError` for an id
    that is not stored, and :class:`StoreInputError` for malformed arguments.
    """

    def __init__(
        self,
        engine: Engine,
        schema: Schema | None = None,
        tables: Tables | None = None,
        *,
        batch_size: int = 1000,
        work_mem: str | None = "64MB",
        require_contacts: bool = False,
    ) -> None:
        for name, value, cls in (
            ("engine", engine, Engine),
            ("schema", schema, Schema),
            ("tables", tables, Tables),
        ):
            if not isinstance(value, cls) and (value is not None or name == "engine"):
                raise StoreInputError(
                    f"{name} must be a {cls.__name__}, not {type(value).__name__}", f"/{name}"
                )
        if work_mem is not None and not (
            isinstance(work_mem, str) and re.fullmatch(r"[0-9]{1,6}(kB|MB|GB)", work_mem)
        ):
            raise StoreInputError(f"work_mem must look like '64MB', not {work_mem!r}", "/work_mem")
        self.work_mem = work_mem
        self.engine = engine
        self.schema = schema
        self.tables = tables if tables is not None else DEFAULT_TABLES
        self.batch_size = check_count(batch_size, "batch_size", minimum=1, maximum=MAX_PAGE)
        if require_contacts and schema is None:
            raise StoreInputError("require_contacts needs the contact schema", "/schema")
        self.require_contacts = bool(require_contacts)

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

    def _keys(self, keys: Any, what: str = "keys") -> list[Any]:
        return check_keys(keys, self.tables.key_type, what)

    def _check_contacts(self, conn: Connection, keys: list[Any], what: str) -> None:
        """With ``require_contacts``: every key must be a contact."""
        if not self.require_contacts or not keys or self.schema is None:
            return
        from ..compile.sqlalchemy import contacts_table

        table = contacts_table(self.schema)
        col = table.c[self.schema.key]
        found: set[Any] = set()
        for chunk in _chunks(keys):
            found.update(conn.execute(sa.select(col).where(col.in_(chunk))).scalars())
        missing = [
            Problem(f"/{what}/{i}", f"no contact with key {k!r}")
            for i, k in enumerate(keys)
            if k not in found
        ]
        if missing:
            raise StoreInputError(missing)

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
        """Store a new segment (and its manual includes/excludes); emits ``segment.created``.

        ``segment`` is a :class:`Segment`, a dict or JSON text. Without an ``id`` one is
        generated (``seg_`` and 16 hex digits). The rule may be given in any form
        :func:`coerce_rule` takes (a dict, JSON text, the text form, a parsed rule).
        """
        seg = _coerce_segment(segment)
        check_id(seg.id, "id")
        check_text(seg.name, "name")
        check_text(seg.description, "description")
        include = self._keys(seg.include, "include")
        exclude = self._keys(seg.exclude, "exclude")
        if seg.type == "dynamic" and (include or exclude):
            raise StoreError("a dynamic segment has no manual includes or excludes")
        if seg.type == "static" and seg.rule is not None:
            raise StoreError("a static segment has no rule")
        now = _utcnow()
        with transaction(self.engine) as conn:
            s = self.tables.segments
            if conn.execute(sa.select(s.c.id).where(s.c.id == seg.id)).first() is not None:
                raise StoreError(f"segment {seg.id!r} already exists")
            refs = self._check_rule(conn, seg.id, seg.rule)
            self._check_contacts(conn, include, "include")
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
            if include:
                self._add(conn, seg.id, seg.type, include, now)
            if exclude:
                self._remove(conn, seg.id, seg.type, exclude, now)
            return self._read(conn, seg.id, overrides=True)

    def _read(self, conn: Connection, segment_id: str, *, overrides: bool) -> Segment:
        row = segment_row(conn, self.tables, segment_id)
        if not overrides:
            return segment_model(row)
        m = self.tables.members
        flags = conn.execute(
            sa.select(m.c.contact_key, m.c.manual)
            .where(m.c.segment_id == segment_id, m.c.manual.is_not(None))
            .order_by(m.c.contact_key)
        ).all()
        inc = [k for k, f in flags if f == "include"]
        exc = [k for k, f in flags if f == "exclude"]
        return segment_model(row, inc, exc)

    def get(self, segment_id: str, *, overrides: bool = True) -> Segment:
        """The stored segment, with its manual ``include``/``exclude`` keys, so that
        ``to_dict()`` shows what it holds (a static segment's members are its includes).

        ``overrides=False`` leaves both lists empty (they are as large as a static
        segment). :class:`NotFoundError` if there is no such segment.
        """
        segment_id = check_id(segment_id)
        with self.engine.connect() as conn:
            return self._read(conn, segment_id, overrides=overrides)

    def segments(self, *, status: str | None = None) -> list[Segment]:
        """All stored segments (optionally of one status), by id in code point order.

        Their ``include``/``exclude`` lists are left empty; :meth:`get` fills them.
        """
        if status is not None and (not isinstance(status, str) or status not in _STATUSES):
            raise StoreInputError(
                f"status must be one of {sorted(_STATUSES)}, not {status!r}", "/status"
            )
        s = self.tables.segments
        stmt = sa.select(s)
        if status is not None:
            stmt = stmt.where(s.c.status == status)
        with self.engine.connect() as conn:
            found = [segment_model(r) for r in conn.execute(stmt)]
        return sorted(found, key=lambda seg: seg.id)

    def update(self, segment_id: str, **changes: Any) -> Segment:
        """Change ``name``, ``description``, ``rule``, ``type`` or ``status``.

        Archived segments are read-only (:class:`ReadOnlyError`); setting status
        ``archived`` emits ``segment.archived`` as well as ``segment.updated``.
        The rule may be given in any form :func:`coerce_rule` takes.

        Changing the type (docs/store.md, "Changing a segment's type"):

        * to ``static``: the rule is dropped and the current members are frozen, each
          becoming a manual include (manual excludes go); membership does not change;
        * to ``dynamic``: the manual flags are dropped (excluded keys' rows go), the
          members stay until the next recalculation applies the rule;
        * ``static`` to ``hybrid``: the includes stay includes; ``dynamic`` to
          ``hybrid``: nothing changes until manual changes or the next recalculation.
        """
        segment_id = check_id(segment_id)
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise StoreInputError(
                f"cannot update {sorted(unknown)}; allowed: {sorted(_UPDATABLE)}", "/changes"
            )
        for name in ("name", "description"):
            if name in changes:
                check_text(changes[name], name)
        for name, allowed in (("type", _TYPES), ("status", _STATUSES)):
            value = changes.get(name)
            if name in changes and (not isinstance(value, str) or value not in allowed):
                raise StoreInputError(
                    f"{name} must be one of {sorted(allowed)}, not {value!r}", f"/{name}"
                )
        if "rule" in changes:
            changes["rule"] = coerce_rule(changes["rule"])
        now = _utcnow()
        with transaction(self.engine) as conn:
            row = segment_row(conn, self.tables, segment_id, lock=True)
            if row.status == "archived":
                raise ReadOnlyError(f"segment {segment_id!r} is archived and read-only")
            current = segment_model(row)
            data = current.model_dump()
            data.update(changes)
            if data["type"] == "static" and current.type != "static" and "rule" not in changes:
                data["rule"] = None  # turning static drops the rule
                changes["rule"] = None
            try:
                new = Segment.model_validate(data)  # validates type/status/rule shapes
            except ValidationError as exc:
                raise StoreInputError(problems_from_validation(exc)) from None
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
                return self._read(conn, segment_id, overrides=True)
            m = self.tables.members
            if shown.get("type") == "dynamic":
                conn.execute(m.delete().where(m.c.segment_id == segment_id, m.c.member.is_(False)))
                conn.execute(m.update().where(m.c.segment_id == segment_id).values(manual=None))
            elif shown.get("type") == "static":
                # Freeze: the current members become the manual includes.
                conn.execute(m.delete().where(m.c.segment_id == segment_id, m.c.member.is_(False)))
                conn.execute(
                    m.update().where(m.c.segment_id == segment_id).values(manual="include")
                )
            conn.execute(
                self.tables.segments.update()
                .where(self.tables.segments.c.id == segment_id)
                .values(**values, version=row.version + 1, updated_at=now)
            )
            emit(conn, ev.SegmentUpdated(segment_id=segment_id, changes=shown), self.tables)
            if shown.get("status") == "archived":
                emit(conn, ev.SegmentArchived(segment_id=segment_id), self.tables)
            return self._read(conn, segment_id, overrides=True)

    def archive(self, segment_id: str) -> Segment:
        """Archive a segment: it keeps its members and history and becomes read-only."""
        return self.update(segment_id, status="archived")

    def delete(self, segment_id: str) -> None:
        """Delete a segment and its current members (history and runs are kept).

        Refused while another segment's rule references it.
        """
        segment_id = check_id(segment_id)
        s, m = self.tables.segments, self.tables.members
        with transaction(self.engine) as conn:
            segment_row(conn, self.tables, segment_id, lock=True)
            users = sorted(k for k, deps in self._graph(conn).items() if segment_id in deps)
            if users:
                raise StoreError(f"segment {segment_id!r} is referenced by {users}")
            conn.execute(m.delete().where(m.c.segment_id == segment_id))
            conn.execute(s.delete().where(s.c.id == segment_id))
            emit(conn, ev.SegmentDeleted(segment_id=segment_id), self.tables)

    # ------------------------------------------------------------------ manual membership
    def add_members(
        self, segment_id: str, keys: Iterable[Any], *, require_contacts: bool | None = None
    ) -> int:
        """Manually include ``keys`` (static and hybrid segments). Returns how many
        became members. A manual include survives every recalculation; it also
        lifts a manual exclude of the same key.

        Keys are checked against the key column's type (:class:`StoreInputError`
        naming each bad one); with ``require_contacts`` (default: the store's
        setting) each must also be a contact.
        """
        segment_id = check_id(segment_id)
        key_list = self._keys(keys)
        with transaction(self.engine) as conn:
            row = segment_row(conn, self.tables, segment_id, lock=True)
            self._check_manual(row)
            if require_contacts or (require_contacts is None and self.require_contacts):
                saved, self.require_contacts = self.require_contacts, True
                try:
                    self._check_contacts(conn, key_list, "keys")
                finally:
                    self.require_contacts = saved
            return self._add(conn, segment_id, row.type, key_list, _utcnow())

    def remove_members(self, segment_id: str, keys: Iterable[Any]) -> int:
        """Manually remove ``keys``: from a static segment they are dropped; in a
        hybrid one they become manual excludes (which win over the rule and
        survive recalculation). Returns how many stopped being members."""
        segment_id = check_id(segment_id)
        key_list = self._keys(keys)
        with transaction(self.engine) as conn:
            row = segment_row(conn, self.tables, segment_id, lock=True)
            self._check_manual(row)
            return self._remove(conn, segment_id, row.type, key_list, _utcnow())

    def clear_overrides(self, segment_id: str, keys: Iterable[Any]) -> int:
        """Drop the manual flag of ``keys`` in a hybrid segment: membership follows
        the rule again from the next recalculation. Returns how many flags went."""
        segment_id = check_id(segment_id)
        key_list = self._keys(keys)
        m = self.tables.members
        n = 0
        with transaction(self.engine) as conn:
            row = segment_row(conn, self.tables, segment_id, lock=True)
            self._check_manual(row)
            if row.type != "hybrid":
                raise StoreError("only hybrid segments have overrides to clear")
            for chunk in _chunks(key_list):
                where = (m.c.segment_id == segment_id, m.c.contact_key.in_(chunk))
                # An excluded key is no member: its row only held the flag.
                n += conn.execute(m.delete().where(*where, m.c.manual == "exclude")).rowcount
                n += conn.execute(
                    m.update().where(*where, m.c.manual == "include").values(manual=None)
                ).rowcount
            return n

    @staticmethod
    def _check_manual(row: Any) -> None:
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
    def recalculate(
        self,
        segment_id: str,
        now: dt.datetime | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> Run:
        """Recalculate one segment as of ``now`` in the database; see :mod:`.recalculate`.

        ``progress`` is called with a :class:`Progress` after each step.
        """
        return recalculate(self, segment_id, now, progress=progress)

    def recalculate_many(
        self,
        segment_ids: Iterable[str] | None = None,
        now: dt.datetime | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> list[Run]:
        """Recalculate segments (default: every active one) in dependency order, all as
        of one ``now``. Inactive/archived segments are skipped; an unknown id raises
        :class:`NotFoundError` before anything runs. Each segment commits on its own;
        the first failure (recorded as a failed run) stops the rest. ``progress`` gets
        every step of every segment and a ``"segment"`` step after each one."""
        now = check_now(now) or _utcnow()
        check_progress(progress)
        ids: list[str] | None = None
        if segment_ids is not None:
            if isinstance(segment_ids, str):
                raise StoreInputError(
                    "segment_ids must be a list of ids, not one string", "/segment_ids"
                )
            ids = [check_id(sid, "segment_ids") for sid in segment_ids]
        with self.engine.connect() as conn:
            graph = self._graph(conn)
            s = self.tables.segments
            status = {r.id: r.status for r in conn.execute(sa.select(s.c.id, s.c.status))}
        if ids is None:
            ids = sorted(k for k, v in status.items() if v == "active")
        for sid in ids:
            if sid not in status:
                raise NotFoundError(f"no segment {sid!r}", sid)
        order = [sid for sid in dependency_order(ids, graph) if status.get(sid) == "active"]
        out = []
        t0 = time.perf_counter()
        for i, sid in enumerate(order, 1):
            out.append(recalculate(self, sid, now, progress=progress))
            if progress is not None:
                progress(
                    Progress(
                        "recalculate_many", sid, "segment", i, len(order), time.perf_counter() - t0
                    )
                )
        return out

    def due(
        self,
        now: dt.datetime | None = None,
        *,
        every: dt.timedelta | None = None,
        relative_every: dt.timedelta = dt.timedelta(hours=1),
    ) -> list[str]:
        """Segments due for recalculation, in dependency order; see :func:`.recalculate.due_segments`."""
        for name, value in (("every", every), ("relative_every", relative_every)):
            if value is not None and not isinstance(value, dt.timedelta):
                raise StoreInputError(f"{name} must be a timedelta", f"/{name}")
        return due_segments(self, now, every=every, relative_every=relative_every)

    def check_recalculable(self, segment_id: str) -> None:
        """:class:`StoreError` (or :class:`NotFoundError`) unless it may be recalculated."""
        segment_id = check_id(segment_id)
        with self.engine.connect() as conn:
            check_recalculable(segment_model(segment_row(conn, self.tables, segment_id)))

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
        """Whether ``key`` is a current member of ``segment_id``."""
        return reading.is_member(self.engine, self.tables, segment_id, key)

    def history(
        self,
        segment_id: str | None = None,
        key: Any = None,
        *,
        after_id: int | None = None,
        limit: int = 1000,
    ) -> list[reading.Change]:
        """Membership changes of a segment and/or a contact, oldest first (keyset on id).

        A segment id that is not stored raises :class:`NotFoundError` (the history of a
        deleted segment stays readable per contact, with ``key`` alone)."""
        return reading.history(
            self.engine, self.tables, segment_id, key, after_id=after_id, limit=limit
        )

    def runs(self, segment_id: str, *, limit: int = 20) -> list[reading.Run]:
        """The most recent runs of a segment, newest first."""
        return reading.runs(self.engine, self.tables, segment_id, limit=limit)

    def export_csv(
        self,
        segment_id: str,
        out: IO[str],
        *,
        yield_per: int = 10_000,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Stream the members to ``out`` as CSV (header ``key,since``); returns rows written.

        ``progress`` is called every ``yield_per`` rows and at the end."""
        return reading.export_csv(
            self.engine, self.tables, segment_id, out, yield_per=yield_per, progress=progress
        )

    def export_jsonl(
        self,
        segment_id: str,
        out: IO[str],
        *,
        yield_per: int = 10_000,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Stream the members to ``out`` as JSON Lines; returns rows written."""
        return reading.export_jsonl(
            self.engine, self.tables, segment_id, out, yield_per=yield_per, progress=progress
        )

    # ------------------------------------------------------------------ events
    def deliver(
        self, publisher: Callable[[ev.Event], Any], *, batch: int = 100, limit: int | None = None
    ) -> int:
        """Hand pending events to ``publisher``; see :func:`.outbox.deliver`."""
        if not callable(publisher):
            raise StoreInputError("publisher must be callable", "/publisher")
        check_count(batch, "batch", minimum=1, maximum=MAX_PAGE)
        check_count(limit, "limit", optional=True)
        return deliver(self.engine, publisher, self.tables, batch=batch, limit=limit)


def _chunks(keys: Sequence[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(keys), _CHUNK):
        yield list(keys[i : i + _CHUNK])
