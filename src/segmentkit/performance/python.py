"""The Python engine: the metrics over in-memory membership history and events.

It is the reference the SQL engine is tested against, and the engine for data that
is not in a database. Membership intervals are built from history exactly as the
SQL does: per (segment, contact), in ``(at, id)`` order, each ``added`` change opens
an interval that the next change of that contact ends (none: still open);
zero-length intervals are dropped.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Protocol

from .config import PerformanceConfig
from .periods import Period
from .rows import PerformanceRow, make_row

__all__ = [
    "Activity",
    "CampaignSend",
    "ChangeLike",
    "Conversion",
    "Interval",
    "compute",
    "intervals_from_history",
]


class ChangeLike(Protocol):
    """A membership change (:class:`segmentkit.store.Change` is one)."""

    @property
    def segment_id(self) -> str: ...
    @property
    def key(self) -> Any: ...
    @property
    def change(self) -> str: ...
    @property
    def at(self) -> dt.datetime: ...
    @property
    def id(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Interval:
    """A contact's membership ``[start, end)``; ``end`` None while still a member."""

    segment_id: str
    key: Hashable
    start: dt.datetime
    end: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Activity:
    key: Hashable
    at: dt.datetime
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Conversion:
    key: Hashable
    at: dt.datetime
    revenue: Decimal | None = None


@dataclass(frozen=True, slots=True)
class CampaignSend:
    campaign: Hashable
    segment_id: str
    at: dt.datetime


def intervals_from_history(history: Iterable[ChangeLike]) -> list[Interval]:
    """Membership intervals from history rows (any order)."""
    by_member: dict[tuple[str, Hashable], list[ChangeLike]] = defaultdict(list)
    for c in history:
        by_member[(c.segment_id, c.key)].append(c)
    out: list[Interval] = []
    for (segment, key), changes in by_member.items():
        changes.sort(key=lambda c: (c.at, c.id))
        for i, c in enumerate(changes):
            if c.change != "added":
                continue
            end = changes[i + 1].at if i + 1 < len(changes) else None
            if end is None or end > c.at:
                out.append(Interval(segment, key, c.at, end))
    return out


class _Index:
    """Per contact, the sorted intervals of one segment, for "member at t?"."""

    def __init__(self, intervals: Iterable[Interval]) -> None:
        spans: dict[Hashable, list[tuple[dt.datetime, dt.datetime | None]]] = defaultdict(list)
        for iv in intervals:
            spans[iv.key].append((iv.start, iv.end))
        self.starts = {k: [s for s, _ in sorted(v)] for k, v in spans.items()}
        self.ends = {k: [e for _, e in sorted(v)] for k, v in spans.items()}

    def member_at(self, key: Hashable, t: dt.datetime) -> bool:
        starts = self.starts.get(key)
        if not starts:
            return False
        i = bisect.bisect_right(starts, t) - 1
        if i < 0:
            return False
        end = self.ends[key][i]
        return end is None or t < end


def _quantize(value: Decimal, scale: int) -> int:
    return int(value.scaleb(scale).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def compute(
    config: PerformanceConfig,
    periods: Sequence[Period],
    segments: Sequence[str],
    history: Iterable[ChangeLike],
    *,
    activity: Iterable[Activity] = (),
    conversions: Iterable[Conversion] = (),
    campaigns: Iterable[CampaignSend] = (),
) -> list[PerformanceRow]:
    """One row per segment and period (segments in the given order, periods in
    order). ``activity`` is filtered by the config's event names when it has them."""
    history = list(history)
    wanted = set(segments)
    starts = [p.start for p in periods]

    def bucket(t: dt.datetime) -> int | None:
        i = bisect.bisect_right(starts, t) - 1
        return i if i >= 0 and t < periods[i].end else None

    zero = dict.fromkeys(
        ("members_start", "members_end", "added", "removed", "exposed", "active"), 0
    )
    counts = {
        (s, i): {**zero, "conversions": 0, "converting": 0, "revenue": 0, "campaigns": 0}
        for s in segments
        for i in range(len(periods))
    }
    intervals = [iv for iv in intervals_from_history(history) if iv.segment_id in wanted]
    by_segment: dict[str, list[Interval]] = defaultdict(list)
    for iv in intervals:
        by_segment[iv.segment_id].append(iv)

    for c in history:
        if c.segment_id in wanted and c.change in ("added", "removed"):
            i = bucket(c.at)
            if i is not None:
                counts[(c.segment_id, i)][c.change] += 1

    for s, ivs in by_segment.items():
        for i, p in enumerate(periods):
            exposed: set[Hashable] = set()
            row = counts[(s, i)]
            for iv in ivs:
                end = iv.end
                if iv.start <= p.start and (end is None or end > p.start):
                    row["members_start"] += 1
                if iv.start < p.end and (end is None or end >= p.end):
                    row["members_end"] += 1
                if iv.start < p.end and (end is None or end > p.start):
                    exposed.add(iv.key)
            row["exposed"] = len(exposed)

    index = {s: _Index(ivs) for s, ivs in by_segment.items()}
    names = None
    if config.activity is not None and config.activity.events is not None:
        names = set(config.activity.events)
    active: dict[tuple[str, int], set[Hashable]] = defaultdict(set)
    for a in activity:
        if names is not None and a.name not in names:
            continue
        i = bucket(a.at)
        if i is None:
            continue
        for s, idx in index.items():
            if idx.member_at(a.key, a.at):
                active[(s, i)].add(a.key)

    scale = config.revenue_scale
    converting: dict[tuple[str, int], set[Hashable]] = defaultdict(set)
    for cv in conversions:
        i = bucket(cv.at)
        if i is None:
            continue
        for s, idx in index.items():
            if idx.member_at(cv.key, cv.at):
                row = counts[(s, i)]
                row["conversions"] += 1
                converting[(s, i)].add(cv.key)
                if cv.revenue is not None:
                    row["revenue"] += _quantize(Decimal(cv.revenue), scale)

    sent: dict[tuple[str, int], set[Hashable]] = defaultdict(set)
    for send in campaigns:
        i = bucket(send.at)
        if i is not None and send.segment_id in wanted:
            sent[(send.segment_id, i)].add(send.campaign)

    for key, row in counts.items():
        row["active"] = len(active.get(key, ()))
        row["converting"] = len(converting.get(key, ()))
        row["campaigns"] = len(sent.get(key, ()))
    return [make_row(config, s, p, counts[(s, i)]) for s in segments for i, p in enumerate(periods)]
