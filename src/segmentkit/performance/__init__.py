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
from .python import compute as compute_python
from .rollup import PerformanceRun, read, refresh, runs, to_frame
from .rows import PerformanceRow
from .sql import compute as compute_sql
from .sql import rollup_query

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
    "PerformanceRun",
    "Period",
    "compute_python",
    "compute_sql",
    "intervals_from_history",
    "load_config",
    "period_containing",
    "periods_between",
    "read",
    "refresh",
    "rollup_query",
    "runs",
    "to_frame",
]
