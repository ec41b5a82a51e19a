"""Charts of segment performance: size (members, added, removed) and conversion rate
over time, for one or several segments, as PNG or SVG (matplotlib, the ``plot`` extra).

A :class:`Chart` shows itself inline in notebooks (``_repr_png_`` / ``_repr_svg_``).
Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas, never
through ``pyplot``, so charting touches no global state and needs no display.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .rows import PerformanceRow

__all__ = ["Chart", "chart"]

# Colour-blind-safe (Okabe-Ito), one per segment.
_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - exercised without the extra
        raise ImportError("charts need matplotlib: pip install 'segmentkit[plot]'") from None
    return Figure


def _tick_label(day: dt.date, span: dt.timedelta) -> str:
    if span >= dt.timedelta(days=80):
        return f"{day.year} Q{(day.month - 1) // 3 + 1}"
    if span >= dt.timedelta(days=27):
        return day.strftime("%Y-%m")
    return day.strftime("%d %b")


class Chart:
    """A rendered performance chart. ``png()``/``svg()`` give the bytes/text,
    ``save(path)`` writes by extension, notebooks show it inline."""

    def __init__(self, figure: Any) -> None:
        self.figure = figure

    def png(self, dpi: int = 110) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    def svg(self) -> str:
        buf = io.StringIO()
        self.figure.savefig(buf, format="svg")
        return buf.getvalue()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".png":
            path.write_bytes(self.png())
        elif suffix == ".svg":
            path.write_text(self.svg(), encoding="utf-8")
        else:
            raise ValueError(f"chart files are .png or .svg, not {suffix or 'no extension'!r}")
        return path

    def _repr_png_(self) -> bytes:
        return self.png()

    def _repr_svg_(self) -> str:
        return self.svg()

    def __repr__(self) -> str:
        return f"<Chart {self.figure.get_suptitle()!r}>"


def chart(
    rows: Sequence[PerformanceRow],
    segments: Sequence[str] | None = None,
    *,
    title: str | None = None,
    width: float = 10.0,
) -> Chart:
    """Size and conversion rate over time: members at each period's end (lines),
    added (up) and removed (down) per period (bars), and the conversion rate (%),
    one colour per segment. Periods without a rate (nobody exposed, or not computed)
    leave a gap."""
    Figure = _figure_class()
    if segments is None:
        segments = list(dict.fromkeys(r.segment_id for r in rows))
    rows = [r for r in rows if r.segment_id in set(segments)]
    if not rows:
        raise ValueError("no performance rows to chart")
    starts = sorted({r.start for r in rows})
    position = {s: i for i, s in enumerate(starts)}
    labels = {r.start: r.label for r in rows}
    span = max(r.end - r.start for r in rows)

    fig = Figure(figsize=(width, 7.2), layout="constrained")
    size, moves, rate = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2, 2])
    n = len(segments)
    bar = 0.8 / n
    any_rate = False
    for k, seg in enumerate(segments):
        colour = _COLOURS[k % len(_COLOURS)]
        mine = sorted((r for r in rows if r.segment_id == seg), key=lambda r: r.start)
        xs = [position[r.start] for r in mine]
        members = [r.members_end for r in mine]
        if any(m is not None for m in members):
            size.plot(
                xs,
                [float("nan") if m is None else m for m in members],
                color=colour,
                marker="o" if len(xs) <= 40 else None,
                markersize=3,
                linewidth=1.8,
                label=seg,
            )
        offset = (k - (n - 1) / 2) * bar
        added = [r.added or 0 for r in mine]
        removed = [-(r.removed or 0) for r in mine]
        moves.bar([x + offset for x in xs], added, width=bar, color=colour, label=seg)
        moves.bar([x + offset for x in xs], removed, width=bar, color=colour, alpha=0.45)
        rates = [
            float("nan") if r.conversion_rate is None else 100 * r.conversion_rate for r in mine
        ]
        if any(v == v for v in rates):  # not all NaN
            any_rate = True
            rate.plot(
                xs,
                rates,
                color=colour,
                marker="o" if len(xs) <= 40 else None,
                markersize=3,
                linewidth=1.8,
                label=seg,
            )
    from matplotlib.ticker import MaxNLocator

    for ax in (size, moves):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    size.set_ylabel("members")
    size.set_ylim(bottom=0)
    size.grid(axis="y", alpha=0.3)
    moves.axhline(0, color="#444444", linewidth=0.8)
    moves.set_ylabel("added ↑  removed ↓")
    moves.grid(axis="y", alpha=0.3)
    rate.set_ylabel("conversion rate (%)")
    rate.set_ylim(bottom=0)
    rate.grid(axis="y", alpha=0.3)
    if not any_rate:
        rate.set_yticks([])
        rate.text(
            0.5,
            0.5,
            "no conversion rate (no conversions source, or nobody exposed)",
            transform=rate.transAxes,
            ha="center",
            va="center",
            color="#777777",
        )
    step = max(1, len(starts) // 12)
    ticks = list(range(0, len(starts), step))
    rate.set_xticks(
        ticks,
        [_tick_label(labels[starts[i]], span) for i in ticks],
        rotation=30 if len(ticks) > 6 else 0,
        ha="right" if len(ticks) > 6 else "center",
    )
    rate.set_xlim(-0.6, len(starts) - 0.4)
    if n > 1:
        size.legend(loc="upper left", frameon=False, ncols=min(n, 4))
    fig.suptitle(title or f"Segment performance: {', '.join(segments)}")
    return Chart(fig)
