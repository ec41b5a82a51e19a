"""Periods: half-open ``[start, end)`` intervals of local time in an IANA zone.

Boundaries are local midnights (of a day, a Monday, the first of a month or of a
quarter) turned into instants with :mod:`zoneinfo`, so a Berlin day in late March
lasts 23 hours and one in late October 25. SQL receives them as UTC instants: no
engine's ``date_trunc`` or session zone takes part in an answer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .config import Grain

__all__ = ["Period", "period_containing", "periods_between"]

_UTC = dt.UTC


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """One period: ``start`` (inclusive) and ``end`` (exclusive), aware UTC instants,
    and the local calendar date it starts on."""

    start: dt.datetime
    end: dt.datetime
    label: dt.date

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start

    def __contains__(self, instant: object) -> bool:
        return isinstance(instant, dt.datetime) and self.start <= instant < self.end


def _first_day(grain: Grain, day: dt.date) -> dt.date:
    if grain is Grain.DAY:
        return day
    if grain is Grain.WEEK:
        return day - dt.timedelta(days=day.weekday())
    if grain is Grain.MONTH:
        return day.replace(day=1)
    return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)


def _next_day(grain: Grain, first: dt.date) -> dt.date:
    if grain is Grain.DAY:
        return first + dt.timedelta(days=1)
    if grain is Grain.WEEK:
        return first + dt.timedelta(days=7)
    step = 1 if grain is Grain.MONTH else 3
    month = first.month - 1 + step
    return dt.date(first.year + month // 12, month % 12 + 1, 1)


def _midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    # A local midnight skipped by a DST gap resolves (fold=0) to the instant of the
    # jump, the first instant of that local day; a repeated one to its first occurrence.
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(_UTC)


def _aware(instant: dt.datetime) -> dt.datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime given for a period bound; pass an aware one")
    return instant


def period_containing(instant: dt.datetime, grain: Grain | str, zone: ZoneInfo | str) -> Period:
    """The period of ``grain`` in ``zone`` that contains ``instant``."""
    grain, zone = Grain(grain), zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    first = _first_day(grain, _aware(instant).astimezone(zone).date())
    start = _midnight(first, zone)
    if start > instant:  # a local day that began in a DST gap, before midnight's instant
        first = _first_day(grain, first - dt.timedelta(days=1))
        start = _midnight(first, zone)
    nxt = _next_day(grain, first)
    return Period(start, _midnight(nxt, zone), first)


def periods_between(
    start: dt.datetime, end: dt.datetime, grain: Grain | str, zone: ZoneInfo | str
) -> list[Period]:
    """Every period that overlaps ``[start, end)``, in order (contiguous)."""
    return list(_iter(start, end, Grain(grain), zone))


def _iter(
    start: dt.datetime, end: dt.datetime, grain: Grain, zone: ZoneInfo | str
) -> Iterator[Period]:
    zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    if _aware(end) <= _aware(start):
        return
    period = period_containing(start, grain, zone)
    while period.start < end:
        yield period
        nxt = _next_day(grain, period.label)
        period = Period(period.end, _midnight(_next_day(grain, nxt), zone), nxt)
