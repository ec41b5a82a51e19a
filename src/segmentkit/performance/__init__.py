"""Segment performance: metrics per segment per period, computed, stored, charted.

Definitions are normative in SEMANTICS.md §6a and explained in
docs/performance-metrics.md. Modules:

``config``   sources (activity, conversions, campaigns) and :class:`PerformanceConfig`
``periods``  half-open periods in an IANA zone (DST-correct)
``rows``     :class:`PerformanceRow` and how raw counts become one
``python``   the Python engine (in-memory history and events; the reference)
``sql``      the SQL engine (one statement, every dialect)
``rollup``   the stored table: incremental, idempotent refreshes and reads
``chart``    size and conversion-rate charts (matplotlib, the ``plot`` extra)
``cli``      the ``segmentkit performance`` command
"""

from __future__ import annotations

from .config import (
    METRICS,
    ActivitySource,
    CampaignSource,
    ConversionSource,
    Grain,
    PerformanceConfig,
    load_config,
)
from .periods import Period, period_containing, periods_between
from .python import Activity, CampaignSend, Conversion, Interval, intervals_from_history
from .rows import PerformanceRow

__all__ = [
    "METRICS",
    "Activity",
    "ActivitySource",
    "CampaignSend",
    "CampaignSource",
    "Conversion",
    "ConversionSource",
    "Grain",
    "Interval",
    "PerformanceConfig",
    "PerformanceRow",
    "Period",
    "intervals_from_history",
    "load_config",
    "period_containing",
    "periods_between",
]
