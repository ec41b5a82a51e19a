"""Typed store events: what the outbox holds and what a publisher receives.

Every event names its segment and carries an ``id`` (the outbox row id, increasing in
write order) and ``occurred_at``. Member changes come batched: one
:class:`MembersAdded`/:class:`MembersRemoved` per up to ``batch_size`` keys, each
with the run that made them (``None`` for manual changes) and ``batch``/``batches``.

``event.to_dict()`` is the JSON-ready form (``{"type": "members.added", ...}``);
:func:`event_from_dict` reverses it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "EVENT_TYPES",
    "Event",
    "MembersAdded",
    "MembersRemoved",
    "SegmentArchived",
    "SegmentCreated",
    "SegmentDeleted",
    "SegmentRecalculated",
    "SegmentUpdated",
    "event_from_dict",
]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every store event."""

    type: ClassVar[str] = ""
    segment_id: str
    id: int | None = None
    occurred_at: dt.datetime | None = None

    def payload(self) -> dict[str, Any]:
        """The type-specific fields (what the outbox ``payload`` column stores)."""
        skip = {"segment_id", "id", "occurred_at", "keys"}
        return {
            f.name: _json(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name not in skip
        }

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "id": self.id,
            "segment_id": self.segment_id,
            "occurred_at": self.occurred_at.isoformat() if self.occurred_at else None,
        }
        out.update(self.payload())
        if hasattr(self, "keys"):
            out["keys"] = list(self.keys)
        return out


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True, kw_only=True)
class SegmentCreated(Event):
    type: ClassVar[str] = "segment.created"
    segment: dict[str, Any] = field(default_factory=dict)  # Segment.to_dict()


@dataclass(frozen=True, kw_only=True)
class SegmentUpdated(Event):
    type: ClassVar[str] = "segment.updated"
    changes: dict[str, Any] = field(default_factory=dict)  # field -> new value (JSON form)


@dataclass(frozen=True, kw_only=True)
class SegmentArchived(Event):
    type: ClassVar[str] = "segment.archived"


@dataclass(frozen=True, kw_only=True)
class SegmentDeleted(Event):
    type: ClassVar[str] = "segment.deleted"


@dataclass(frozen=True, kw_only=True)
class SegmentRecalculated(Event):
    type: ClassVar[str] = "segment.recalculated"
    run_id: int
    as_of: str  # ISO instant the rule was evaluated at
    added: int
    removed: int
    member_count: int


@dataclass(frozen=True, kw_only=True)
class MembersAdded(Event):
    type: ClassVar[str] = "members.added"
    keys: tuple[Any, ...] = ()
    reason: str = "rule"  # 'rule' | 'manual'
    run_id: int | None = None
    batch: int = 0
    batches: int = 1


@dataclass(frozen=True, kw_only=True)
class MembersRemoved(Event):
    type: ClassVar[str] = "members.removed"
    keys: tuple[Any, ...] = ()
    reason: str = "rule"
    run_id: int | None = None
    batch: int = 0
    batches: int = 1


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        SegmentCreated,
        SegmentUpdated,
        SegmentArchived,
        SegmentDeleted,
        SegmentRecalculated,
        MembersAdded,
        MembersRemoved,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output (or an outbox row's parts)."""
    data = dict(data)
    cls = EVENT_TYPES[data.pop("type")]
    occurred = data.pop("occurred_at", None)
    if isinstance(occurred, str):
        occurred = dt.datetime.fromisoformat(occurred)
    if "keys" in data and data["keys"] is not None:
        data["keys"] = tuple(data["keys"])
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(occurred_at=occurred, **{k: v for k, v in data.items() if k in names})
