"""Field types and the coercion of rule values to them (SEMANTICS §1).

Coercion happens once, in Python, before any compilation: a backend only ever
sees values of the field's own type, so no engine's implicit casts take part.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
import re
import unicodedata
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

__all__ = [
    "DECIMAL_MAX_INTEGER_DIGITS",
    "DECIMAL_MAX_PLACES",
    "DECIMAL_MAX_SIGNIFICANT_DIGITS",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_STRING_LENGTH",
    "FieldType",
    "coerce",
    "simple_lower",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_STRING_LENGTH = 1_000_000

# What a decimal rule value may be (docs/semantics.md, "Numbers"): every value within
# these bounds fits MariaDB's DECIMAL(65, 30) and DuckDB's DECIMAL(38, s) families, and
# renders as SQL text of at most ~70 characters.
DECIMAL_MAX_SIGNIFICANT_DIGITS = 38
DECIMAL_MAX_INTEGER_DIGITS = 35  # |value| < 10**35
DECIMAL_MAX_PLACES = 30  # at most 30 digits after the decimal point (trailing zeros ignored)

# The number syntax accepted in text (docs/semantics.md): ASCII only, no padding, no
# digit separators, no "inf"/"nan" words. ``re.ASCII`` keeps [0-9] to ASCII digits.
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_NUMBER_TEXT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_MAX_NUMBER_TEXT = 80


class FieldType(enum.StrEnum):
    """The logical type of a schema field."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    FLOAT = "float"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    TAGS = "tags"

    def __str__(self) -> str:
        return self.value

    @property
    def ordered(self) -> bool:
        return self not in (FieldType.BOOLEAN, FieldType.TAGS)

    @property
    def temporal(self) -> bool:
        return self in (FieldType.DATE, FieldType.DATETIME)

    @property
    def numeric(self) -> bool:
        return self in (FieldType.INTEGER, FieldType.DECIMAL, FieldType.FLOAT)


class CoercionError(ValueError):
    """A value cannot be coerced to a field type; the message is user-facing."""


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise CoercionError(f"expected a string, got {_kind(value)}")
    if len(value) > MAX_STRING_LENGTH:
        raise CoercionError(f"string longer than {MAX_STRING_LENGTH:,} characters")
    if "\x00" in value:
        raise CoercionError("string contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CoercionError("string contains a lone surrogate") from None
    return unicodedata.normalize("NFC", value)


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise CoercionError("expected an integer, got a boolean")
    if isinstance(value, int):
        result = value
    elif isinstance(value, float):
        if not value.is_integer():
            raise CoercionError(f"expected an integer, got {value!r}")
        result = int(value)
    elif isinstance(value, str):
        if len(value) > 40:
            raise CoercionError("expected an integer, got a long string")
        if not _INTEGER_TEXT.fullmatch(value):
            raise CoercionError(
                f"expected an integer, got {_short(value)} "
                "(integers in text are ASCII digits with an optional sign)"
            )
        result = int(value, 10)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise CoercionError("expected an integer, got a non-finite decimal")
        if value.adjusted() > 19:
            raise CoercionError("integer outside the 64-bit range")
        if value != value.to_integral_value():
            raise CoercionError(f"expected an integer, got {_short(value)}")
        result = int(value)
    else:
        raise CoercionError(f"expected an integer, got {_kind(value)}")
    if not INT64_MIN <= result <= INT64_MAX:
        raise CoercionError("integer outside the 64-bit range")
    return result


def _decimal(value: Any) -> Decimal:
    if isinstance(value, (bool, float)):
        raise CoercionError(
            f"expected a decimal as a string or integer, got {_kind(value)} "
            "(floats are refused: they are not exact)"
        )
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        result = Decimal(_number_text(value, "a decimal"))
    else:
        raise CoercionError(f"expected a decimal, got {_kind(value)}")
    if not result.is_finite():
        raise CoercionError("decimal must be finite")
    return _bounded_decimal(result)


def _bounded_decimal(value: Decimal) -> Decimal:
    """``value`` if a database column can hold it (the DECIMAL_MAX_* bounds), else an error.

    Works on the digit tuple only: no arithmetic, so a huge exponent costs nothing.
    """
    sign, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    coefficient = list(digits)
    while coefficient and coefficient[0] == 0:
        coefficient.pop(0)
    if not coefficient:  # zero, whatever its exponent: 0E-50 is plain 0
        return value if exponent >= -DECIMAL_MAX_PLACES else Decimal(0)
    while exponent < 0 and coefficient[-1] == 0:
        coefficient.pop()
        exponent += 1
    integer_digits = len(coefficient) + exponent
    if integer_digits > DECIMAL_MAX_INTEGER_DIGITS:
        raise CoercionError(
            f"decimal too large: at most {DECIMAL_MAX_INTEGER_DIGITS} digits before the "
            "decimal point are allowed"
        )
    if -exponent > DECIMAL_MAX_PLACES:
        raise CoercionError(
            f"decimal too precise: at most {DECIMAL_MAX_PLACES} digits after the decimal "
            "point are allowed"
        )
    significant = len(coefficient) + max(exponent, 0)
    if significant > DECIMAL_MAX_SIGNIFICANT_DIGITS:
        raise CoercionError(
            f"decimal has more than {DECIMAL_MAX_SIGNIFICANT_DIGITS} significant digits"
        )
    own_exponent = value.as_tuple().exponent
    assert isinstance(own_exponent, int)
    if own_exponent < -DECIMAL_MAX_PLACES:  # within bounds only without its trailing zeros
        return Decimal((sign, tuple(coefficient), exponent))
    return value


def _number_text(value: str, what: str) -> str:
    """``value`` if it is in the accepted number syntax, else a CoercionError."""
    if len(value) > _MAX_NUMBER_TEXT:
        raise CoercionError(f"expected {what}, got a long string")
    if not _NUMBER_TEXT.fullmatch(value):
        raise CoercionError(
            f"expected {what}, got {_short(value)} (numbers in text are ASCII: an optional "
            "sign, digits, an optional decimal point and an optional exponent, no spaces)"
        )
    return value


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise CoercionError("expected a number, got a boolean")
    if isinstance(value, Decimal) and not value.is_finite():
        raise CoercionError("number must be finite")
    if isinstance(value, int | float | Decimal):
        try:
            result = float(value)
        except OverflowError:
            raise CoercionError("number outside the range of a double") from None
    elif isinstance(value, str):
        result = float(_number_text(value, "a number"))
    else:
        raise CoercionError(f"expected a number, got {_kind(value)}")
    if not math.isfinite(result):
        if isinstance(value, float) or (isinstance(value, Decimal) and not value.is_finite()):
            raise CoercionError("number must be finite")
        raise CoercionError("number outside the range of a double")
    return result


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise CoercionError(f"expected a boolean, got {_short(value)}")


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise CoercionError("expected a date, got a datetime")
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise CoercionError(f"expected an ISO date (YYYY-MM-DD), got {_short(value)}") from None
    raise CoercionError(f"expected a date, got {_kind(value)}")


def _datetime(value: Any, zone: ZoneInfo | None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            result = dt.datetime.fromisoformat(text)
        except ValueError:
            raise CoercionError(f"expected an ISO datetime, got {_short(value)}") from None
    else:
        raise CoercionError(f"expected a datetime, got {_kind(value)}")
    if result.tzinfo is None or result.utcoffset() is None:
        if zone is None:
            raise CoercionError(
                "datetime has no time zone (give an offset, or declare the field's zone)"
            )
        result = result.replace(tzinfo=zone)
    try:
        return result.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise CoercionError(
            f"datetime {_short(value)} is outside the range of years 1 to 9999 in UTC"
        ) from None


def _tag(value: Any) -> str:
    return _string(value)


def coerce(value: Any, ftype: FieldType, zone: ZoneInfo | None = None) -> Any:
    """Coerce one scalar rule value to ``ftype``; raise ``CoercionError`` with a user message.

    For ``tags`` fields the scalar is one tag (a string). ``zone`` is the zone a naive
    datetime is read in (``None``: naive datetimes are an error).
    """
    if value is None:
        raise CoercionError("value is null (use is_null / is_not_null to test for a missing value)")
    match ftype:
        case FieldType.STRING:
            return _string(value)
        case FieldType.INTEGER:
            return _integer(value)
        case FieldType.DECIMAL:
            return _decimal(value)
        case FieldType.FLOAT:
            return _float(value)
        case FieldType.BOOLEAN:
            return _boolean(value)
        case FieldType.DATE:
            return _date(value)
        case FieldType.DATETIME:
            return _datetime(value, zone)
        case FieldType.TAGS:
            return _tag(value)
    raise CoercionError(f"unknown field type {ftype!r}")  # pragma: no cover


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return "a very large integer"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# Unicode *simple* lowercase, one code point at a time (SEMANTICS §3). Python's
# str.lower() applies the full mapping, which differs from the simple one in two
# places only: U+0130 (İ → "i̇", two code points) and the final-sigma rule
# (Σ → ς at the end of a word). Pre-mapping those two gives the simple mapping.
_SIMPLE_FIXUPS = str.maketrans({"\u0130": "i", "\u03a3": "\u03c3"})


def simple_lower(text: str) -> str:
    """Lowercase ``text`` with the Unicode simple mapping, per code point."""
    if text.isascii():
        return text.lower()
    return text.translate(_SIMPLE_FIXUPS).lower()
