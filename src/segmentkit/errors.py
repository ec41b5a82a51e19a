"""The exceptions segmentkit raises.

Hierarchy::

    SegmentkitError                  base of everything raised on purpose
    ├── RuleError (ValueError)       a rule, value or schema reference is invalid;
    │                                carries every problem with its JSON-pointer path
    ├── UnsupportedError             a valid rule uses something a backend/dialect
    │                                cannot express faithfully (names both)
    └── StoreError                   the membership store refused an action
        ├── ReadOnlyError            the segment is archived
        ├── NotFoundError (LookupError)
        │                            no segment with that id (map it to a 404)
        └── StoreInputError (also a RuleError)
                                     an argument of a store call is malformed: a key
                                     of the wrong type, an id with NUL, a negative
                                     limit, a naive ``now`` (paths name the argument)

Every malformed input ends in exactly one ``RuleError``; nothing else escapes
from parsing, validation or compilation of user input, nor from the store's
checks of its arguments (``StoreInputError`` is both a ``RuleError`` and a
``StoreError``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "NotFoundError",
    "Problem",
    "ReadOnlyError",
    "RuleError",
    "SegmentkitError",
    "StoreError",
    "StoreInputError",
    "UnsupportedError",
    "did_you_mean",
    "pointer",
]


class SegmentkitError(Exception):
    """Base class of every exception segmentkit raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a rule: where (a JSON pointer into the rule) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '/'}: {self.message}"


class RuleError(SegmentkitError, ValueError):
    """A rule is invalid. ``.errors`` lists every problem found, in document order."""

    _what = "rule"

    def __init__(self, errors: Sequence[Problem] | str, path: str = "") -> None:
        if isinstance(errors, str):
            errors = [Problem(path, errors)]
        self.errors: list[Problem] = list(errors)
        lines = "\n".join(f"  {e}" for e in self.errors[:50])
        more = f"\n  ... and {len(self.errors) - 50} more" if len(self.errors) > 50 else ""
        n = len(self.errors)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in {self._what}:\n{lines}{more}")


class UnsupportedError(SegmentkitError):
    """A valid construct cannot be expressed faithfully on a backend or dialect."""

    def __init__(self, construct: str, backend: str, reason: str = "") -> None:
        self.construct = construct
        self.backend = backend
        self.reason = reason
        tail = f": {reason}" if reason else ""
        super().__init__(f"{construct} is not supported on {backend}{tail}")


class StoreError(SegmentkitError):
    """The membership store refused an action."""


class ReadOnlyError(StoreError):
    """The segment is archived and therefore read-only."""


class NotFoundError(StoreError, LookupError):
    """No segment with the given id is stored. ``.segment_id`` names it."""

    def __init__(self, message: str, segment_id: object = None) -> None:
        self.segment_id = segment_id
        super().__init__(message)

    def __str__(self) -> str:  # LookupError would not quote, but KeyError would
        return str(self.args[0]) if self.args else ""


class StoreInputError(RuleError, StoreError):
    """An argument of a store call is malformed; ``.errors`` name the argument.

    A :class:`RuleError` (so every malformed input is one) and a :class:`StoreError`.
    """

    _what = "store input"


def _escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer for a sequence of keys and indexes."""
    return "".join("/" + _escape(p) for p in parts)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean "x"?)' suffix for a misspelt name, or ''."""
    if not isinstance(word, str):
        return ""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""
