"""One row of metrics per segment and period, and how both engines make it.

Both engines (Python and SQL) produce the same raw integer counts (revenue as an
integer number of ``10**-scale`` units); :func:`make_row` turns them into a
:class:`PerformanceRow` the same way for both, so a rate or a decimal never depends
on an engine's arithmetic.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from .config import METRICS, PerformanceConfig
from .periods import Period

__all__ = ["COUNTS", "PerformanceRow", "make_row"]

#: The raw counts an engine returns per (segment, period), in this order.
COUNTS: tuple[str, ...] = (
    "members_start",
    "members_end",
    "added",
    "removed",
    "exposed",
    "active",
    "conversions",
    "converting",
    "revenue",
    "campaigns",
)


@dataclass(frozen=True, slots=True)
class PerformanceRow:
    """The metrics of one segment in one period (``None``: not computed, or for
    ``conversion_rate`` nobody exposed, for ``revenue`` no revenue column)."""

    segment_id: str
    start: dt.datetime  # aware UTC, inclusive
    end: dt.datetime  # aware UTC, exclusive
    label: dt.date  # the local date the period starts on
    members_start: int | None
    members_end: int | None
    added: int | None
    removed: int | None
    exposed: int | None
    active: int | None
    conversions: int | None
    converting: int | None
    conversion_rate: float | None
    revenue: Decimal | None
    campaigns: int | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def revenue_of(units: int | None, scale: int) -> Decimal | None:
    return None if units is None else Decimal(units).scaleb(-scale)


def make_row(
    config: PerformanceConfig, segment_id: str, period: Period, counts: dict[str, int]
) -> PerformanceRow:
    """The row for raw ``counts`` (every key of :data:`COUNTS`), metrics the config
    does not select set to ``None``."""
    want = set(config.selected)
    values: dict[str, Any] = {
        m: int(counts[m]) if m in want else None for m in METRICS if m in counts
    }
    rate = None
    if "conversion_rate" in want and counts["exposed"]:
        rate = int(counts["converting"]) / int(counts["exposed"])
    values["conversion_rate"] = rate
    has_revenue = config.conversions is not None and config.conversions.revenue is not None
    values["revenue"] = (
        revenue_of(int(counts["revenue"]), config.revenue_scale)
        if "revenue" in want and has_revenue
        else None
    )
    return PerformanceRow(segment_id, period.start, period.end, period.label, **values)
