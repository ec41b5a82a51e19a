"""Segment semantics over member sets, and diffing member sets (SEMANTICS §6).

This module owns what a segment's members *are*, independent of any store:

* :func:`effective` applies a segment's type and manual overrides to the rule's
  matches: ``dynamic`` = matches; ``static`` = includes; ``hybrid`` =
  (matches | includes) - excludes (a manual exclude always wins).
* :func:`members` evaluates a segment over in-memory records (with the Python
  backend) or over a SQLAlchemy connection (with the SQL backend).
* :func:`diff` compares two member sets. Any hashable keys work; integer keys held
  in numpy arrays take a vectorised path (numpy is an optional extra, imported
  only when such arrays are passed).
* :func:`check_recalculable` / :func:`check_writable` enforce the status rules
  (inactive and archived segments are never recalculated; archived is read-only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .errors import ReadOnlyError, StoreError
from .model import Segment

if TYPE_CHECKING:
    from .compile.dialects import SegmentTable
    from .schema import Schema

__all__ = [
    "Diff",
    "check_recalculable",
    "check_writable",
    "diff",
    "effective",
    "members",
]


# --------------------------------------------------------------------------- status rules
def check_writable(segment: Segment) -> None:
    """Raise :class:`ReadOnlyError` if ``segment`` is archived."""
    if segment.status == "archived":
        raise ReadOnlyError(f"segment {segment.id!r} is archived and read-only")


def check_recalculable(segment: Segment) -> None:
    """Raise :class:`StoreError` unless ``segment`` may be recalculated (status active)."""
    check_writable(segment)
    if segment.status != "active":
        raise StoreError(f"segment {segment.id!r} is {segment.status} and is not recalculated")


# --------------------------------------------------------------------------- semantics
def effective(
    segment_type: str,
    matches: Iterable[Any],
    include: Iterable[Any] = (),
    exclude: Iterable[Any] = (),
) -> set[Any]:
    """The member set of a segment of ``segment_type`` given the rule's ``matches``.

    ``dynamic`` ignores manual overrides (they are refused by the store),
    ``static`` has no rule, ``hybrid`` lets an exclude win over both.
    """
    if segment_type == "dynamic":
        return set(matches)
    if segment_type == "static":
        return set(include) - set(exclude)
    if segment_type == "hybrid":
        out = set(matches)
        out.update(include)
        out.difference_update(exclude)
        return out
    raise ValueError(f"unknown segment type {segment_type!r}")


def members(
    segment: Segment,
    source: Iterable[Mapping[str, Any]] | sa.Connection,
    schema: Schema,
    now: dt.datetime | None = None,
    *,
    segments: Mapping[str, Iterable[Any]] | SegmentTable | None = None,
) -> set[Any]:
    """The members of ``segment`` over ``source`` as of ``now`` (a set of keys).

    ``source`` is either an iterable of records (Mappings keyed by field name, the
    key under ``schema.key``), evaluated by the Python backend, or a SQLAlchemy
    ``Connection``, on which the rule's member ``SELECT`` runs. ``segments`` resolves
    ``{"segment": id}`` references: for records a mapping id -> member keys; for a
    connection the :class:`~segmentkit.compile.dialects.SegmentTable` holding memberships
    (``SegmentTable.from_store(tables)`` for the store's).
    Status is not checked here: this is "who would be a member", read-only.
    """
    matches: Iterable[Any] = ()
    if segment.type != "static" and segment.rule is not None:
        if isinstance(source, sa.Connection):
            from .compile.dialects import SegmentTable
            from .compile.sqlalchemy import members_select

            stmt = members_select(
                segment.rule,
                schema,
                now,
                segments=segments if isinstance(segments, SegmentTable) else None,
            )
            matches = source.execute(stmt).scalars()
        else:
            from .compile.python import compile_python

            refs = segments if isinstance(segments, Mapping) else None
            match = compile_python(segment.rule, schema, now, segments=refs)
            key = schema.key
            matches = (r[key] for r in match.filter(source))
    return effective(segment.type, matches, segment.include, segment.exclude)


# --------------------------------------------------------------------------- diff
@dataclass(slots=True)
class Diff:
    """The change from an old member set to a new one.

    ``added`` and ``removed`` are sets (built on first access when the diff was
    computed on arrays; ``added_array``/``removed_array`` then hold the sorted keys);
    ``unchanged`` counts the keys in both.
    """

    unchanged: int
    _added: AbstractSet[Any] | None = field(default=None, repr=False)
    _removed: AbstractSet[Any] | None = field(default=None, repr=False)
    added_array: Any = field(default=None, repr=False)
    removed_array: Any = field(default=None, repr=False)

    @property
    def added(self) -> AbstractSet[Any]:
        if self._added is None:
            self._added = set(self.added_array.tolist())
        return self._added

    @property
    def removed(self) -> AbstractSet[Any]:
        if self._removed is None:
            self._removed = set(self.removed_array.tolist())
        return self._removed

    def __bool__(self) -> bool:
        """True when anything changed."""
        return bool(self.n_added or self.n_removed)

    @property
    def n_added(self) -> int:
        return len(self._added) if self._added is not None else int(self.added_array.size)

    @property
    def n_removed(self) -> int:
        return len(self._removed) if self._removed is not None else int(self.removed_array.size)

    def __repr__(self) -> str:
        return f"Diff(added={self.n_added}, removed={self.n_removed}, unchanged={self.unchanged})"

    def _repr_html_(self) -> str:
        from .display import diff_html

        return diff_html(self)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Diff):
            return NotImplemented
        return (self.added, self.removed, self.unchanged) == (
            other.added,
            other.removed,
            other.unchanged,
        )


# A dense lookup table costs one byte per key in [min, max]; beyond this many bytes per
# input key the sorted path is used instead (memory stays O(n) either way).
_DENSE_FACTOR = 16


def _is_int_array(value: Any) -> bool:
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    return kind in ("i", "u") and getattr(value, "ndim", 0) == 1


def diff(old: Iterable[Any], new: Iterable[Any]) -> Diff:
    """Compare two member sets: ``added = new - old``, ``removed = old - new``.

    Any hashable keys work (duplicates are ignored). When either side is a 1-D
    numpy integer array, the other is converted and a vectorised path runs: a dense
    byte table when the keys span a range not much larger than their count (the
    common case for surrogate keys), sorted-array set operations otherwise.
    """
    if _is_int_array(old) or _is_int_array(new):
        return _diff_numpy(old, new)
    old_set = old if isinstance(old, set | frozenset) else set(old)
    new_set = new if isinstance(new, set | frozenset) else set(new)
    added = new_set - old_set
    removed = old_set - new_set
    return Diff(len(new_set) - len(added), added, removed)


def _int_array(value: Any) -> Any:
    """``value`` as a 1-D integer array, or as a list when it does not hold integers."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value if value.dtype.kind in "iu" else value.tolist()
    items = list(value)
    arr = np.asarray(items) if items else np.zeros(0, dtype=np.int64)
    return arr if arr.dtype.kind in "iu" and arr.ndim == 1 else items


def _diff_numpy(old: Any, new: Any) -> Diff:
    import numpy as np

    a, b = _int_array(old), _int_array(new)
    if (
        not isinstance(a, np.ndarray)
        or not isinstance(b, np.ndarray)
        or a.dtype.kind != b.dtype.kind
    ):
        # Not integers after all (strings against an int array), or signed against
        # unsigned (numpy would promote to float): the exact path over Python values.
        return diff(
            set(a.tolist() if isinstance(a, np.ndarray) else a),
            set(b.tolist() if isinstance(b, np.ndarray) else b),
        )
    if a.dtype.kind == "i":  # small signed types would overflow in ``a - lo`` below
        a, b = a.astype(np.int64, copy=False), b.astype(np.int64, copy=False)
    if a.size == 0 or b.size == 0:
        a, b = _sort_unique(a), _sort_unique(b)
        return Diff(0, added_array=b, removed_array=a)
    lo = min(int(a.min()), int(b.min()))
    hi = max(int(a.max()), int(b.max()))
    span = hi - lo + 1
    if span <= _DENSE_FACTOR * (a.size + b.size):
        # One byte per possible key: bit 1 = in old, bit 2 = in new. O(n + span), no sort.
        table = np.zeros(span, dtype=np.uint8)
        table[a - lo] = 1
        table[b - lo] |= 2
        dtype = np.result_type(a.dtype, b.dtype)
        added = (np.flatnonzero(table == 2) + lo).astype(dtype, copy=False)
        removed = (np.flatnonzero(table == 1) + lo).astype(dtype, copy=False)
        unchanged = int(np.count_nonzero(table == 3))
        return Diff(unchanged, added_array=added, removed_array=removed)
    # Sparse keys: sorted unique arrays (already sorted input skips the sort).
    a = a if _sorted_unique(a) else _sort_unique(a)
    b = b if _sorted_unique(b) else _sort_unique(b)
    added = np.setdiff1d(b, a, assume_unique=True)
    removed = np.setdiff1d(a, b, assume_unique=True)
    return Diff(int(b.size - added.size), added_array=added, removed_array=removed)


def _sorted_unique(arr: Any) -> bool:
    import numpy as np

    return bool(arr.size < 2 or np.all(arr[1:] > arr[:-1]))


def _sort_unique(arr: Any) -> Any:
    # np.sort + a neighbour mask: several times faster than np.unique on numpy 2.x.
    import numpy as np

    s = np.sort(arr)
    if s.size < 2:
        return s
    keep = np.empty(s.size, dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]
