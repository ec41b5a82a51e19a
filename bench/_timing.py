"""Timing and reporting helpers shared by the benchmark scripts.

The machine is shared (2 cores, other engineers running tests), so every figure is
the best of several repeats, with the median printed beside it to show the noise.
"""

from __future__ import annotations

import gc
import statistics
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timing:
    """Seconds per run: best and median of ``repeat`` runs."""

    best: float
    median: float
    repeat: int
    result: Any = None

    def per(self, n: int) -> float:
        """Items per second at the best time."""
        return n / self.best


def measure(fn: Callable[[], Any], repeat: int = 5) -> Timing:
    """Run ``fn`` ``repeat`` times (GC collected before, disabled during each run)."""
    times: list[float] = []
    result: Any = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return Timing(min(times), statistics.median(times), repeat, result)


def interleaved(
    fns: dict[str, Callable[[], Any]], repeat: int = 5, warmup: bool = True
) -> dict[str, Timing]:
    """Best/median of ``repeat`` rounds, each round running every function once.

    Interleaving spreads the noise of a shared machine over all contenders alike, so
    their ratio stays meaningful even when absolute times wander.
    """
    if warmup:
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    results: dict[str, Any] = {}
    for _ in range(repeat):
        for name, fn in fns.items():
            gc.collect()
            gc.disable()
            try:
                t0 = time.perf_counter()
                results[name] = fn()
                times[name].append(time.perf_counter() - t0)
            finally:
                gc.enable()
    return {
        k: Timing(min(v), statistics.median(v), repeat, results.get(k)) for k, v in times.items()
    }


def micro(stmt: Callable[[], Any], setup: Callable[[], Any] | None = None, *,
          number: int = 1, repeat: int = 200) -> Timing:  # fmt: skip
    """``timeit`` of ``stmt``: seconds per call, best and median of ``repeat`` batches."""
    timer = timeit.Timer(stmt, setup or (lambda: None))
    runs = [t / number for t in timer.repeat(repeat=repeat, number=number)]
    return Timing(min(runs), statistics.median(runs), repeat)


@dataclass
class Result:
    """One line of the summary table: a measured ratio or time against its target."""

    section: str
    name: str
    value: float
    target: float | None
    unit: str  # "x" (higher is better), "x<=" (lower is better), "ms"
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        if self.unit == "x":
            return self.value >= self.target
        return self.value <= self.target

    def row(self) -> list[str]:
        if self.unit == "x":
            value, target = f"{self.value:,.2f}x", f">= {self.target:g}x" if self.target else ""
        elif self.unit == "x<=":
            value, target = f"{self.value:,.2f}x", f"<= {self.target:g}x" if self.target else ""
        else:
            value, target = f"{self.value:.3f} ms", f"<= {self.target:g} ms" if self.target else ""
        verdict = {True: "met", False: "MISSED", None: ""}[self.met]
        return [self.section, self.name, value, target, verdict, self.note]


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain aligned text table."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    return table([r.row() for r in results], ["section", "what", "measured", "target", "", "note"])
