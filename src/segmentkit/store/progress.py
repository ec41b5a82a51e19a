"""Progress callbacks and logging of long store operations.

A ``progress=`` argument of :meth:`Store.recalculate`, :meth:`Store.recalculate_many`
and the exports takes any callable of one :class:`Progress` argument; it is called
on the calling thread after each step (its return value is ignored). An exception
it raises aborts the operation: a recalculation then rolls back and records a
failed run, so a callback can also cancel (raised at the final ``"done"`` step, after
the commit, it only propagates).

Records go to the standard ``logging`` logger ``segmentkit.store`` (INFO: start and
end of each run and export with counts and durations; DEBUG: each step). The
library adds only a ``NullHandler``: nothing is printed unless the host configures
logging (``logging.basicConfig(level=logging.INFO)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "logger"]

logger = logging.getLogger("segmentkit.store")
logger.addHandler(logging.NullHandler())


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a long operation.

    ``operation`` is ``"recalculate"``, ``"recalculate_many"`` or ``"export"``;
    ``step`` names the step just finished (recalculation: ``"locked"``,
    ``"evaluated"``, ``"diffed"``, ``"applied"``, ``"done"``; export: ``"rows"``, then
    ``"done"``; recalculate_many: ``"segment"`` after each segment). ``done`` of
    ``total`` counts steps, rows or segments (``total`` may be ``None`` when
    unknown); ``elapsed`` is seconds since the operation started.
    """

    operation: str
    segment_id: str | None
    step: str
    done: int
    total: int | None
    elapsed: float


ProgressCallback = Callable[[Progress], object]
