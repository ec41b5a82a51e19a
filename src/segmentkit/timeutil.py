"""Relative time: durations and named periods resolved against one ``now`` (SEMANTICS §4).

Minutes, hours, days and weeks are exact durations; months and years are
calendar steps in the schema's zone, clamped to the month's end.
"""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

__all__ = ["PERIODS", "local_midnight", "period_dates", "shift", "shift_date"]

EXACT = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}

PERIODS = (
    "today",
    "yesterday",
    "tomorrow",
    "this_week",
    "last_week",
    "next_week",
    "this_month",
    "last_month",
    "next_month",
    "this_quarter",
    "last_quarter",
    "next_quarter",
    "this_year",
    "last_year",
    "next_year",
)


def _add_months(year: int, month: int, day: int, months: int) -> tuple[int, int, int]:
    index = year * 12 + (month - 1) + months
    y, m = divmod(index, 12)
    if not 1 <= y <= 9999:
        raise OverflowError("date out of range")
    last = calendar.monthrange(y, m + 1)[1]
    return y, m + 1, min(day, last)


def shift_date(day: dt.date, amount: int, unit: str) -> dt.date:
    """``day`` moved by ``amount`` units (negative: into the past)."""
    if unit in ("days", "weeks"):
        return day + dt.timedelta(days=amount * (7 if unit == "weeks" else 1))
    months = amount * (12 if unit == "years" else 1)
    return dt.date(*_add_months(day.year, day.month, day.day, months))


def shift(now: dt.datetime, amount: int, unit: str, zone: ZoneInfo) -> dt.datetime:
    """The instant ``amount`` units from ``now`` (aware, UTC)."""
    if unit in EXACT:
        return (now + dt.timedelta(seconds=amount * EXACT[unit])).astimezone(dt.UTC)
    local = now.astimezone(zone)
    months = amount * (12 if unit == "years" else 1)
    y, m, d = _add_months(local.year, local.month, local.day, months)
    wall = local.replace(year=y, month=m, day=d, tzinfo=None)
    return wall.replace(tzinfo=zone).astimezone(dt.UTC)


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant at which ``day`` starts in ``zone``."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.UTC)


def period_dates(name: str, now: dt.datetime, zone: ZoneInfo) -> tuple[dt.date, dt.date]:
    """The half-open date range ``[start, end)`` of a named period around ``now``."""
    today = now.astimezone(zone).date()
    one = dt.timedelta(days=1)
    kind, _, unit = name.partition("_")
    if name in ("today", "yesterday", "tomorrow"):
        start = today + {"today": 0, "yesterday": -1, "tomorrow": 1}[name] * one
        return start, start + one
    offset = {"this": 0, "last": -1, "next": 1}[kind]
    if unit == "week":
        start = today - dt.timedelta(days=today.weekday()) + dt.timedelta(weeks=offset)
        return start, start + dt.timedelta(weeks=1)
    if unit == "month":
        start = shift_date(today.replace(day=1), offset, "months")
        return start, shift_date(start, 1, "months")
    if unit == "quarter":
        first = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
        start = shift_date(first, 3 * offset, "months")
        return start, shift_date(start, 3, "months")
    if unit == "year":
        start = dt.date(today.year + offset, 1, 1)
        return start, dt.date(start.year + 1, 1, 1)
    raise ValueError(f"unknown period {name!r}")  # pragma: no cover
