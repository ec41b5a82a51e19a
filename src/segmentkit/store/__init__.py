"""The membership store: segments, members, history, runs and an event outbox in SQL.

Public surface::

    from segmentkit.store import Store, create_all, deliver, make_tables

    store = Store(engine, schema)          # default tables: sk_segments, sk_members, ...
    store.create_all()                     # or: the shipped Alembic migrations
    store.create({"id": "adults", "rule": {"field": "age", "operator": "gte", "value": 18}})
    store.recalculate("adults", now=now)   # set-based, one transaction, a run row
    store.members("adults", after=None, limit=100)
    store.deliver(publish)                 # outbox -> host callable, at least once

Modules: :mod:`.tables` (schema of the store), :mod:`.store` (definitions, manual
membership), :mod:`.recalculate` (recalculation, due policy), :mod:`.reading`
(pages, history, export), :mod:`.events` and :mod:`.outbox` (events),
:mod:`.dependencies` (segment references), :mod:`.migrations` (Alembic).
"""

from __future__ import annotations

from .dependencies import dependency_order, rule_refs
from .events import (
    Event,
    MembersAdded,
    MembersRemoved,
    SegmentArchived,
    SegmentCreated,
    SegmentDeleted,
    SegmentRecalculated,
    SegmentUpdated,
    event_from_dict,
)
from .outbox import deliver, pending
from .progress import Progress, ProgressCallback
from .reading import Change, Run
from .recalculate import StoreParts, due_segments, recalculate
from .store import Store, coerce_rule, rule_hash, uses_relative_time
from .tables import DEFAULT_TABLES, Tables, create_all, drop_all, make_tables

__all__ = [
    "DEFAULT_TABLES",
    "Change",
    "Event",
    "MembersAdded",
    "MembersRemoved",
    "Progress",
    "ProgressCallback",
    "Run",
    "SegmentArchived",
    "SegmentCreated",
    "SegmentDeleted",
    "SegmentRecalculated",
    "SegmentUpdated",
    "Store",
    "StoreParts",
    "Tables",
    "coerce_rule",
    "create_all",
    "deliver",
    "dependency_order",
    "drop_all",
    "due_segments",
    "event_from_dict",
    "make_tables",
    "pending",
    "recalculate",
    "rule_hash",
    "rule_refs",
    "uses_relative_time",
]
