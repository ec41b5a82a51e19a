"""The performance aggregation config: where activity, conversions and campaigns live,
the period grain and zone, and which metrics to compute.

Sources are declared like :class:`~segmentkit.schema.EventSource`: a table and the
names of its columns. Every time column holds UTC instants stored without a zone
(``DateTime`` as the store writes them). :class:`PerformanceConfig` loads from a dict
or JSON text; every mistake is reported in one :class:`~segmentkit.errors.RuleError`
with JSON-pointer paths.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ..errors import Problem, RuleError
from ..model import load_json, problems_from_validation

__all__ = [
    "COUNT_METRICS",
    "METRICS",
    "ActivitySource",
    "CampaignSource",
    "ConversionSource",
    "Grain",
    "Metric",
    "PerformanceConfig",
    "load_config",
]

Name = Annotated[str, Field(min_length=1, max_length=200)]


class Grain(enum.StrEnum):
    """How long a period is (weeks start on Monday)."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    QUARTER = "quarter"


Metric = Literal[
    "members_start",
    "members_end",
    "added",
    "removed",
    "exposed",
    "active",
    "conversions",
    "converting",
    "conversion_rate",
    "revenue",
    "campaigns",
]
#: every metric, in the order rows, tables and charts show them.
METRICS: tuple[Metric, ...] = get_args(Metric)
#: the metrics that are counts (not the rate, not the revenue).
COUNT_METRICS: tuple[Metric, ...] = tuple(
    m for m in METRICS if m not in ("conversion_rate", "revenue")
)

# Which source each metric reads (membership history needs none: it is the store's).
_NEEDS: dict[str, str] = {
    "active": "activity",
    "conversions": "conversions",
    "converting": "conversions",
    "conversion_rate": "conversions",
    "revenue": "conversions",
    "campaigns": "campaigns",
}


class _Source(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: Name
    #: the table's database schema (``None``: the connection's default).
    table_schema: Name | None = None


class ActivitySource(_Source):
    """Who did something when: ``table(key, time[, name])``.

    With ``events`` set, only rows whose ``name`` column is one of them count.
    """

    key: Name
    time: Name
    name: Name | None = None
    events: tuple[Name, ...] | None = None

    @model_validator(mode="after")
    def _filter_needs_name(self) -> ActivitySource:
        if self.events is not None and self.name is None:
            raise ValueError("an event-name filter needs the name column ('name')")
        if self.events is not None and not self.events:
            raise ValueError("'events' lists no event name")
        return self


class ConversionSource(_Source):
    """Conversions: ``table(key, time[, revenue])``; revenue is read as an exact
    decimal with at most ``revenue_scale`` decimal places (cents by default)."""

    key: Name
    time: Name
    revenue: Name | None = None
    revenue_scale: Annotated[int, Field(ge=0, le=6)] = 2


class CampaignSource(_Source):
    """Campaign sends: ``table(campaign, segment, time)``, one row per send."""

    campaign: Name
    segment: Name
    time: Name


class PerformanceConfig(BaseModel):
    """What to aggregate, per segment and period.

    ``metrics`` defaults to every metric the declared sources allow; a metric whose
    source is missing is an error. ``final_after`` is how long after a period's end
    late history or events may still arrive (seconds); a period computed later than
    that is final and never recomputed by an incremental refresh.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(min_length=1, max_length=64)] = "default"
    grain: Grain = Grain.DAY
    timezone: Annotated[str, Field(min_length=1, max_length=64)] = "UTC"
    activity: ActivitySource | None = None
    conversions: ConversionSource | None = None
    campaigns: CampaignSource | None = None
    metrics: tuple[Metric, ...] | None = None
    final_after: Annotated[int, Field(ge=0)] = 0

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def selected(self) -> tuple[Metric, ...]:
        """The metrics computed, in :data:`METRICS` order."""
        if self.metrics is not None:
            wanted = set(self.metrics)
            return tuple(m for m in METRICS if m in wanted)
        return tuple(m for m in METRICS if getattr(self, _NEEDS.get(m, "name")) is not None)

    def wants(self, metric: str) -> bool:
        return metric in self.selected

    @property
    def revenue_scale(self) -> int:
        return self.conversions.revenue_scale if self.conversions is not None else 2

    def fingerprint(self) -> str:
        """A short hash of everything that changes a computed number."""
        import hashlib

        text = self.model_dump_json(exclude={"name", "final_after"})
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _metric_problems(config: PerformanceConfig) -> list[Problem]:
    out: list[Problem] = []
    for i, metric in enumerate(config.metrics or ()):
        source = _NEEDS.get(metric)
        if source is not None and getattr(config, source) is None:
            out.append(Problem(f"/metrics/{i}", f"{metric!r} needs the {source!r} source"))
    return out


def load_config(source: Any) -> PerformanceConfig:
    """A :class:`PerformanceConfig` from a dict, JSON text or bytes, or a config.

    Raises one :class:`RuleError` listing every problem with its JSON pointer
    (``/activity/time: missing required key 'time'``).
    """
    if isinstance(source, PerformanceConfig):
        config = source
    else:
        data = load_json(source, "performance config")
        if not isinstance(data, Mapping):
            raise RuleError("a performance config must be a JSON object")
        try:
            config = PerformanceConfig.model_validate(data)
        except ValidationError as exc:
            raise RuleError(problems_from_validation(exc)) from None
    problems = _metric_problems(config)
    if problems:
        raise RuleError(problems)
    return config
