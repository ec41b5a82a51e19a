"""Checks of store call arguments, made before the database sees them.

Every failure is a :class:`~segmentkit.errors.StoreInputError` (a ``RuleError`` and a
``StoreError``) whose path names the argument (``/segment_id``, ``/keys/3``,
``/limit``), never a driver's, SQLAlchemy's, pydantic's or Python's own error.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator, TypeEngine

from ..errors import Problem, StoreInputError
from .tables import ID_LENGTH

__all__ = [
    "MAX_PAGE",
    "check_count",
    "check_id",
    "check_key",
    "check_keys",
    "check_now",
    "check_progress",
    "check_text",
    "key_kind",
]

MAX_PAGE = 1_000_000  # rows per page, per fetch batch, keys per event

_INT_RANGES = {
    "BigInteger": (-(2**63), 2**63 - 1),
    "Integer": (-(2**31), 2**31 - 1),
    "SmallInteger": (-(2**15), 2**15 - 1),
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def text_problem(value: Any, max_length: int | None = None) -> str | None:
    """Why ``value`` cannot be stored as text, or None."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__} {_short(value)}"
    if "\x00" in value:
        return "contains a NUL character, which text columns cannot store on every engine"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate, which is not valid UTF-8"
    if max_length is not None and len(value) > max_length:
        return f"longer than {max_length} characters"
    return None


def check_text(value: Any, what: str, max_length: int | None = None) -> str:
    problem = text_problem(value, max_length)
    if problem is not None:
        raise StoreInputError(f"{what} {problem}", f"/{what}")
    return str(value)


def check_id(value: Any, what: str = "segment_id") -> str:
    """A segment id: a non-empty string of at most 200 characters, without NUL."""
    if isinstance(value, str) and not value:
        raise StoreInputError(f"{what} is empty", f"/{what}")
    return check_text(value, what, ID_LENGTH)


def check_count(
    value: Any, what: str, *, minimum: int = 0, maximum: int = 2**63 - 1, optional: bool = False
) -> Any:
    """An integer argument (a limit, a page size, an id) of at least ``minimum``."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreInputError(
            f"{what} must be an integer, not {type(value).__name__} {_short(value)}", f"/{what}"
        )
    if value < minimum:
        raise StoreInputError(f"{what} must be at least {minimum}, got {value}", f"/{what}")
    if value > maximum:
        raise StoreInputError(f"{what} must be at most {maximum:,}, got {value}", f"/{what}")
    return value


def check_now(value: Any, what: str = "now") -> dt.datetime | None:
    """``None`` or an aware datetime."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        raise StoreInputError(
            f"{what} must be an aware datetime, not {type(value).__name__} {_short(value)}",
            f"/{what}",
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise StoreInputError(f"{what} must be an aware datetime (it has no time zone)", f"/{what}")
    try:
        value.astimezone(dt.UTC)
    except OverflowError:
        raise StoreInputError(f"{what} is out of the datetime range in UTC", f"/{what}") from None
    return value


def check_progress(value: Any) -> Any:
    """``None`` or a callable (a progress callback)."""
    if value is not None and not callable(value):
        raise StoreInputError(
            f"progress must be a callable taking a Progress, not {type(value).__name__}",
            "/progress",
        )
    return value


def key_kind(key_type: TypeEngine[Any]) -> tuple[str, Any]:
    """('int', (lo, hi)), ('str', max_length) or ('other', python type or None)."""
    if isinstance(key_type, TypeDecorator):
        key_type = key_type.impl_instance
    for cls in type(key_type).__mro__:
        if cls.__name__ in _INT_RANGES:
            return "int", _INT_RANGES[cls.__name__]
    if isinstance(key_type, sa.Integer):
        return "int", _INT_RANGES["BigInteger"]
    if isinstance(key_type, sa.String):
        return "str", key_type.length
    try:
        return "other", key_type.python_type
    except NotImplementedError:
        return "other", None


def key_problem(key: Any, kind: tuple[str, Any]) -> str | None:
    """Why ``key`` is no value of the key column, or None."""
    name, extra = kind
    if key is None:
        return "a contact key cannot be null"
    if name == "int":
        if isinstance(key, bool) or not isinstance(key, int):
            return f"expected an integer contact key, got {type(key).__name__} {_short(key)}"
        lo, hi = extra
        if not lo <= key <= hi:
            return f"integer contact key {key} is outside the key column's range [{lo}, {hi}]"
        return None
    if name == "str":
        problem = text_problem(key, extra)
        return None if problem is None else f"expected a text contact key: {problem}"
    if isinstance(key, dict | list | set | frozenset | tuple):
        return f"a contact key cannot be a {type(key).__name__}"
    if isinstance(key, float) and not math.isfinite(key):
        return f"a contact key cannot be {key}"
    if extra is not None and not isinstance(key, extra):
        return f"expected a {extra.__name__} contact key, got {type(key).__name__} {_short(key)}"
    if isinstance(key, str):
        return text_problem(key)
    return None


def check_key(key: Any, key_type: TypeEngine[Any], what: str = "key") -> Any:
    problem = key_problem(key, key_kind(key_type))
    if problem is not None:
        raise StoreInputError(problem, f"/{what}")
    return key


def check_keys(keys: Any, key_type: TypeEngine[Any], what: str = "keys") -> list[Any]:
    """The keys as a list without duplicates (first occurrence kept), all checked.

    Every bad key is reported (up to RuleError's display limit) with its index.
    """
    if isinstance(keys, str | bytes | dict) or not isinstance(keys, Iterable):
        raise StoreInputError(
            f"{what} must be an iterable of contact keys, not {type(keys).__name__}", f"/{what}"
        )
    kind = key_kind(key_type)
    out: list[Any] = []
    problems: list[Problem] = []
    for i, key in enumerate(keys):
        problem = key_problem(key, kind)
        if problem is not None:
            problems.append(Problem(f"/{what}/{i}", problem))
        else:
            out.append(key)
    if problems:
        raise StoreInputError(problems)
    try:
        return list(dict.fromkeys(out))
    except TypeError:  # unhashable values of an exotic key type
        raise StoreInputError(f"{what} must be hashable values", f"/{what}") from None
