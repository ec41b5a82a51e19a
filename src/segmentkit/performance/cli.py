"""``segmentkit performance``: refresh, show and chart segment performance.

Exposed as the module-level click group :data:`performance`; the main CLI registers
it. Exit codes follow the main CLI: 0 ok, 1 invalid input (a config error), 2 usage,
4 store or database error.

Examples::

    segmentkit performance refresh --db sqlite:///crm.db --config perf.json
    segmentkit performance show --db sqlite:///crm.db --segment vip --format csv
    segmentkit performance chart --db sqlite:///crm.db --segment vip --out vip.png
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import click
import sqlalchemy as sa

from ..errors import RuleError, StoreError
from ..store.tables import make_tables
from .config import METRICS, load_config
from .rows import PerformanceRow

__all__ = ["performance"]

_FIELDS = list(PerformanceRow.__dataclass_fields__)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except RuleError as exc:
        _fail(str(exc), 1)
    except StoreError as exc:
        _fail(f"store error: {exc}", 4)
    except sa.exc.SQLAlchemyError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        _fail(f"database error: {first}", 4)


def _instant(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO 8601 datetime: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--prefix", default="sk_", show_default=True, help="Store table prefix.")(f)
    f = click.option("--db", "url", required=True, help="SQLAlchemy URL of the store's database.")(
        f
    )
    return f


@click.group("performance")
def performance() -> None:
    """Segment performance per period: refresh the stored metrics, show them, chart them.

    \b
    Example:
      segmentkit performance refresh --db sqlite:///crm.db --config perf.json
      segmentkit performance chart --db sqlite:///crm.db -s vip -s newsletter --out size.png
    """


@performance.command("refresh")
@_common
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    required=True,
    help="Performance config (JSON).",
)
@click.option("--segment", "-s", "segments", multiple=True, help="Segment id (default: all).")
@click.option("--now", help="As-of instant (ISO 8601; default: the current time).")
@click.option("--since", help="Start of the first period (default: the first membership change).")
def refresh_command(
    url: str,
    prefix: str,
    config_path: str,
    segments: Sequence[str],
    now: str | None,
    since: str | None,
) -> None:
    """Compute and store the periods not yet final, up to the current one."""
    from .rollup import refresh

    with _errors():
        config = load_config(Path(config_path).read_bytes())
        engine = sa.create_engine(url)
        try:
            run = refresh(
                engine,
                config,
                list(segments) or None,
                now=_instant(now),
                since=_instant(since),
                tables=make_tables(prefix),
            )
        finally:
            engine.dispose()
    first = run.first_period.isoformat() if run.first_period else "-"
    click.echo(
        f"run {run.id}: {run.periods} period(s) from {first} for {run.segments} "
        f"segment(s), {run.rows_written} row(s) written"
    )


def _read(
    url: str, prefix: str, segments: Sequence[str], config: str, start: str | None, end: str | None
) -> list[PerformanceRow]:
    from .rollup import read

    engine = sa.create_engine(url)
    try:
        return read(
            engine,
            list(segments) or None,
            config=config,
            start=_instant(start),
            end=_instant(end),
            tables=make_tables(prefix),
        )
    finally:
        engine.dispose()


def _jsonable(v: Any) -> Any:
    if isinstance(v, dt.datetime | dt.date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    return v


@performance.command("show")
@_common
@click.option("--segment", "-s", "segments", multiple=True, help="Segment id (default: all).")
@click.option("--name", "config", default="default", show_default=True, help="Config name.")
@click.option("--start", help="First period start (ISO 8601).")
@click.option("--end", help="Periods starting before this instant (ISO 8601).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def show_command(
    url: str,
    prefix: str,
    segments: Sequence[str],
    config: str,
    start: str | None,
    end: str | None,
    fmt: str,
) -> None:
    """Print stored rows."""
    with _errors():
        rows = _read(url, prefix, segments, config, start, end)
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps({k: _jsonable(v) for k, v in r.to_dict().items()}))
        return
    if fmt == "csv":
        out = csv.writer(sys.stdout, lineterminator="\n")
        out.writerow(_FIELDS)
        for r in rows:
            out.writerow(["" if v is None else _jsonable(v) for v in r.to_dict().values()])
        return
    cols = ["segment_id", "label", *METRICS]
    table = [[_cell(getattr(r, c)) for c in cols] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in table)]) for i, c in enumerate(cols)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for row in table:
        click.echo("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{100 * v:.1f}%"
    return str(_jsonable(v))


@performance.command("chart")
@_common
@click.option("--segment", "-s", "segments", multiple=True, help="Segment id (default: all).")
@click.option("--name", "config", default="default", show_default=True, help="Config name.")
@click.option("--start", help="First period start (ISO 8601).")
@click.option("--end", help="Periods starting before this instant (ISO 8601).")
@click.option(
    "--out", type=click.Path(dir_okay=False), required=True, help="Output file, .png or .svg."
)
@click.option("--title", help="Chart title.")
def chart_command(
    url: str,
    prefix: str,
    segments: Sequence[str],
    config: str,
    start: str | None,
    end: str | None,
    out: str,
    title: str | None,
) -> None:
    """Chart size (members, added, removed) and conversion rate over time."""
    if Path(out).suffix.lower() not in (".png", ".svg"):
        raise click.BadParameter("--out must end in .png or .svg")
    with _errors():
        rows = _read(url, prefix, segments, config, start, end)
    if not rows:
        _fail("no stored performance rows match (run 'segmentkit performance refresh')", 1)
    try:
        from .chart import chart
    except ImportError as exc:  # pragma: no cover - without the plot extra
        _fail(str(exc), 1)
    try:
        path = chart(rows, list(segments) or None, title=title).save(out)
    except ImportError as exc:  # pragma: no cover - without the plot extra
        _fail(str(exc), 1)
    click.echo(f"wrote {path}")
