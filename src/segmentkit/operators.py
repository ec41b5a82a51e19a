"""Operators: the meaning of every rule operator (SEMANTICS §3), and their registry.

An :class:`Operator` declares the field types it accepts, the shape of its value,
and how it *lowers* to predicate primitives (``primitives.py``). Backends never see
operator names, so a new operator needs no backend change. A negative operator is
declared as the complement of its positive twin (``complement_of``) and is lowered
as ``NOT twin``; bind pushes that negation down to the leaves.

Plugins add operators by exposing a :class:`Operator` (or a list of them) in the
``segmentkit.operators`` entry-point group; :func:`register` checks each is complete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

from . import primitives as p
from .errors import did_you_mean
from .timeutil import PERIODS, local_midnight, period_dates, shift, shift_date
from .types import FieldType, simple_lower

if TYPE_CHECKING:
    from .bind import Context

__all__ = [
    "ENTRY_POINT_GROUP",
    "Operator",
    "ValueKind",
    "get",
    "load_plugins",
    "names",
    "register",
]

ENTRY_POINT_GROUP = "segmentkit.operators"

T = FieldType
ALL_SCALAR = frozenset(set(FieldType) - {FieldType.TAGS})
ORDERED = frozenset({T.INTEGER, T.DECIMAL, T.FLOAT, T.DATE, T.DATETIME, T.STRING})
STRINGY = frozenset({T.STRING})
TEMPORAL = frozenset({T.DATE, T.DATETIME})
TAGS = frozenset({T.TAGS})

# The shapes a value may take; ``bind`` validates and coerces a raw value to one of
# these before ``lower`` runs, so ``lower`` only ever sees clean values.
ValueKind = str
VALUE_KINDS = frozenset(
    {
        "none",  # no value (is_null); any given value is an error
        "scalar",  # one value of the field's type, or {"field": other}
        "list",  # a list of values of the field's type (deduplicated, no null)
        "range",  # [low, high] with low <= high
        "needle",  # a non-empty string
        "pattern",  # a portable regular expression
        "tag",  # one tag (string)
        "tags",  # a list of tags
        "duration",  # {"amount": n, "unit": u}
        "moment",  # a date, datetime or named period (before/after/on)
    }
)

Lowering = Callable[["Context", p.FieldRef, Any], p.Predicate]


@dataclass(frozen=True)
class Operator:
    """One operator: its name, the field types it accepts, its value shape and lowering.

    ``lower(ctx, ref, value)`` returns a primitive predicate; ``value`` has been validated
    and coerced per ``value`` kind (for ``scalar``, it may be a ``FieldRef`` for a
    field-to-field comparison when ``field_value`` is set). ``complement_of`` names the
    positive twin instead of giving ``lower``.
    """

    name: str
    types: frozenset[FieldType]
    value: ValueKind
    lower: Lowering | None = None
    complement_of: str | None = None
    ignore_case: bool = False
    field_value: bool = False
    nonempty: bool = False  # a list value must have at least one element
    description: str = ""
    example: dict[str, Any] | None = field(default=None, compare=False)

    def problems(self) -> list[str]:
        """What makes this operator incomplete (empty when it can be registered)."""
        out = []
        if (
            not isinstance(self.name, str)
            or not self.name.isidentifier()
            or not self.name.islower()
        ):
            out.append(f"name {self.name!r} must be a lower-case identifier")
        if not self.types or not all(isinstance(t, FieldType) for t in self.types):
            out.append("types must be a non-empty set of FieldType")
        if self.value not in VALUE_KINDS:
            out.append(f"value kind {self.value!r} is not one of {sorted(VALUE_KINDS)}")
        if (self.lower is None) == (self.complement_of is None):
            out.append("give exactly one of lower= or complement_of=")
        if self.lower is not None and not callable(self.lower):
            out.append("lower must be callable")
        if self.complement_of is not None and self.complement_of not in _REGISTRY:
            out.append(f"complement_of names an unknown operator {self.complement_of!r}")
        if not self.description:
            out.append("description is required (it feeds the docs and rule builders)")
        return out


_REGISTRY: dict[str, Operator] = {}
_plugins_loaded = False


def register(op: Operator, *, replace: bool = False) -> Operator:
    """Add an operator to the registry after checking it is complete."""
    problems = op.problems()
    if problems:
        raise ValueError(f"operator {op.name!r} is incomplete: " + "; ".join(problems))
    if op.name in _REGISTRY and not replace:
        raise ValueError(f"operator {op.name!r} is already registered (pass replace=True)")
    _REGISTRY[op.name] = op
    return op


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def load_plugins() -> list[str]:
    """Register operators from installed packages' ``segmentkit.operators`` entry points."""
    global _plugins_loaded
    _plugins_loaded = True
    loaded: list[str] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        ops: Iterable[Any] = obj if isinstance(obj, list | tuple) else [obj]
        for op in ops:
            if callable(op) and not isinstance(op, Operator):
                op = op()
            if not isinstance(op, Operator):
                raise TypeError(
                    f"entry point {ep.name!r} gave {type(op).__name__}, not an Operator"
                )
            if _REGISTRY.get(op.name) is not op:
                register(op, replace=op.name in _REGISTRY and _REGISTRY[op.name] == op)
            loaded.append(op.name)
    return loaded


def get(name: Any) -> Operator | None:
    if not _plugins_loaded:
        load_plugins()
    return _REGISTRY.get(name) if isinstance(name, str) else None


def names() -> list[str]:
    if not _plugins_loaded:
        load_plugins()
    return list(_REGISTRY)


def suggestion(name: Any) -> str:
    return did_you_mean(name, names())


# --------------------------------------------------------------------------- helpers
def _cased(ctx: Context, ref: p.FieldRef, value: Any) -> tuple[p.FieldRef | p.Lower, Any]:
    """Apply ignore_case: lower the field (in the backend) and the value (here)."""
    if not ctx.ignore_case:
        return ref, value
    if isinstance(value, p.FieldRef):
        return p.Lower(ref), p.Lower(value)
    if isinstance(value, tuple):
        return p.Lower(ref), tuple(dict.fromkeys(simple_lower(v) for v in value))
    return p.Lower(ref), simple_lower(value)


def _right(value: Any, ftype: FieldType) -> p.Value:
    return value if isinstance(value, p.FieldRef | p.Lower) else p.Param(value, ftype)


def _compare(op: p.CompareOp) -> Lowering:
    def lower(ctx: Context, ref: p.FieldRef, value: Any) -> p.Predicate:
        left, right = _cased(ctx, ref, value)
        if (
            ctx.field.type is T.DATETIME
            and isinstance(right, dt.date)
            and not isinstance(right, dt.datetime)
        ):
            return _date_bound_on_datetime(ctx, ref, op, right)
        return p.Compare(op, left, _right(right, ref.type))

    return lower


def _date_bound_on_datetime(
    ctx: Context, ref: p.FieldRef, op: p.CompareOp, day: dt.date
) -> p.Predicate:
    """A date bound on a datetime field is the half-open day [D 00:00, D+1 00:00) in the zone."""
    start = p.Param(local_midnight(day, ctx.zone), T.DATETIME)
    end = p.Param(local_midnight(day + dt.timedelta(days=1), ctx.zone), T.DATETIME)
    match op:
        case "eq":
            return p.And((p.Compare("ge", ref, start), p.Compare("lt", ref, end)))
        case "lt":
            return p.Compare("lt", ref, start)
        case "ge":
            return p.Compare("ge", ref, start)
        case "gt":
            return p.Compare("ge", ref, end)
        case "le":
            return p.Compare("lt", ref, end)
    raise AssertionError(op)  # pragma: no cover


def _in(ctx: Context, ref: p.FieldRef, values: tuple[Any, ...]) -> p.Predicate:
    operand, values = _cased(ctx, ref, values)
    if not values:
        return p.Const(False)
    if ctx.field.type is T.DATETIME and any(
        isinstance(v, dt.date) and not isinstance(v, dt.datetime) for v in values
    ):
        return p.Or(
            tuple(
                _date_bound_on_datetime(ctx, ref, "eq", v)
                if not isinstance(v, dt.datetime)
                else p.Compare("eq", ref, p.Param(v, T.DATETIME))
                for v in values
            )
        )
    if len(values) == 1:
        return p.Compare("eq", operand, p.Param(values[0], ref.type))
    return p.InList(operand, values, ref.type)


def _between(ctx: Context, ref: p.FieldRef, value: tuple[Any, Any]) -> p.Predicate:
    low, high = value
    return p.And((_compare("ge")(ctx, ref, low), _compare("le")(ctx, ref, high)))


def _text(kind: type[p.Contains] | type[p.Prefix] | type[p.Suffix]) -> Lowering:
    def lower(ctx: Context, ref: p.FieldRef, value: str | p.FieldRef) -> p.Predicate:
        # A field's value is the needle taken literally (an empty one is in every string).
        operand, needle = _cased(ctx, ref, value)
        return kind(operand, _right(needle, T.STRING))

    return lower


def _is_null(ctx: Context, ref: p.FieldRef, value: None) -> p.Predicate:
    return p.IsNull(ref)


def _is_empty(ctx: Context, ref: p.FieldRef, value: None) -> p.Predicate:
    if ref.type is T.TAGS:
        return p.Or((p.IsNull(ref), p.TagsEmpty(ref)))
    return p.Or((p.IsNull(ref), p.Compare("eq", ref, p.Param("", T.STRING))))


def _bool(truth: bool) -> Lowering:
    def lower(ctx: Context, ref: p.FieldRef, value: None) -> p.Predicate:
        return p.Compare("eq", ref, p.Param(truth, T.BOOLEAN))

    return lower


def _bounds_of(ctx: Context, value: Any) -> tuple[Any, Any]:
    """Half-open ``[start, end)`` of a date or named period, in the field's type."""
    if isinstance(value, str):
        start, end = period_dates(value, ctx.now, ctx.zone)
    else:
        start, end = value, value + dt.timedelta(days=1)
    if ctx.field.type is T.DATETIME:
        return local_midnight(start, ctx.zone), local_midnight(end, ctx.zone)
    return start, end


def _before(ctx: Context, ref: p.FieldRef, value: Any) -> p.Predicate:
    if isinstance(value, dt.datetime):
        return p.Compare("lt", ref, p.Param(value, ref.type))
    start, _ = _bounds_of(ctx, value)
    return p.Compare("lt", ref, p.Param(start, ref.type))


def _after(ctx: Context, ref: p.FieldRef, value: Any) -> p.Predicate:
    if isinstance(value, dt.datetime):
        return p.Compare("gt", ref, p.Param(value, ref.type))
    _, end = _bounds_of(ctx, value)
    return p.Compare("ge", ref, p.Param(end, ref.type))


def _on(ctx: Context, ref: p.FieldRef, value: Any) -> p.Predicate:
    if isinstance(value, dt.datetime):
        return p.Compare("eq", ref, p.Param(value, ref.type))
    start, end = _bounds_of(ctx, value)
    return p.And(
        (
            p.Compare("ge", ref, p.Param(start, ref.type)),
            p.Compare("lt", ref, p.Param(end, ref.type)),
        )
    )


def _window(ctx: Context, amount: int, unit: str) -> tuple[Any, Any]:
    """``(now - amount unit, now)`` in the field's type."""
    if ctx.field.type is T.DATE:
        today = ctx.now.astimezone(ctx.zone).date()
        return shift_date(today, -amount, unit), today
    return shift(ctx.now, -amount, unit, ctx.zone), ctx.now


def _in_last(ctx: Context, ref: p.FieldRef, value: tuple[int, str]) -> p.Predicate:
    start, now = _window(ctx, *value)
    t = ref.type
    return p.And((p.Compare("ge", ref, p.Param(start, t)), p.Compare("le", ref, p.Param(now, t))))


def _in_next(ctx: Context, ref: p.FieldRef, value: tuple[int, str]) -> p.Predicate:
    amount, unit = value
    if ctx.field.type is T.DATE:
        today = ctx.now.astimezone(ctx.zone).date()
        now, end = today, shift_date(today, amount, unit)
    else:
        now, end = ctx.now, shift(ctx.now, amount, unit, ctx.zone)
    t = ref.type
    return p.And((p.Compare("ge", ref, p.Param(now, t)), p.Compare("le", ref, p.Param(end, t))))


def _older_than(ctx: Context, ref: p.FieldRef, value: tuple[int, str]) -> p.Predicate:
    start, _ = _window(ctx, *value)
    return p.Compare("lt", ref, p.Param(start, ref.type))


def _matches(ctx: Context, ref: p.FieldRef, value: str) -> p.Predicate:
    return p.Matches(ref, p.Param(value, T.STRING))


def _has(ctx: Context, ref: p.FieldRef, value: str) -> p.Predicate:
    return p.TagsAny(ref, (value,))


def _has_any(ctx: Context, ref: p.FieldRef, values: tuple[str, ...]) -> p.Predicate:
    return p.TagsAny(ref, values) if values else p.Const(False)


def _has_all(ctx: Context, ref: p.FieldRef, values: tuple[str, ...]) -> p.Predicate:
    return p.And(tuple(p.TagsAny(ref, (v,)) for v in values))


# --------------------------------------------------------------------------- built-ins
def _builtin() -> list[Operator]:
    ops = [
        Operator(
            "eq",
            ALL_SCALAR,
            "scalar",
            _compare("eq"),
            ignore_case=True,
            field_value=True,
            description="exact equality (strings by code point)",
            example={"field": "country", "operator": "eq", "value": "DE"},
        ),
        Operator(
            "gt",
            ORDERED,
            "scalar",
            _compare("gt"),
            field_value=True,
            description="greater than",
            example={"field": "age", "operator": "gt", "value": 17},
        ),
        Operator(
            "gte",
            ORDERED,
            "scalar",
            _compare("ge"),
            field_value=True,
            description="greater than or equal",
            example={"field": "age", "operator": "gte", "value": 18},
        ),
        Operator(
            "lt",
            ORDERED,
            "scalar",
            _compare("lt"),
            field_value=True,
            description="less than",
            example={"field": "age", "operator": "lt", "value": 65},
        ),
        Operator(
            "lte",
            ORDERED,
            "scalar",
            _compare("le"),
            field_value=True,
            description="less than or equal",
            example={"field": "age", "operator": "lte", "value": 64},
        ),
        Operator(
            "in",
            ALL_SCALAR,
            "list",
            _in,
            ignore_case=True,
            description="equals one of the listed values; `in []` is FALSE",
            example={"field": "country", "operator": "in", "value": ["DE", "AT"]},
        ),
        Operator(
            "between",
            ORDERED,
            "range",
            _between,
            description="inclusive range [low, high]",
            example={"field": "age", "operator": "between", "value": [18, 65]},
        ),
        Operator(
            "contains",
            STRINGY,
            "needle",
            _text(p.Contains),
            ignore_case=True,
            field_value=True,
            description="substring (no wildcards)",
            example={"field": "email", "operator": "contains", "value": "@example"},
        ),
        Operator(
            "starts_with",
            STRINGY,
            "needle",
            _text(p.Prefix),
            ignore_case=True,
            field_value=True,
            description="prefix",
            example={"field": "phone", "operator": "starts_with", "value": "+49"},
        ),
        Operator(
            "ends_with",
            STRINGY,
            "needle",
            _text(p.Suffix),
            ignore_case=True,
            field_value=True,
            description="suffix",
            example={"field": "email", "operator": "ends_with", "value": ".de"},
        ),
        Operator(
            "is_null",
            ALL_SCALAR | TAGS,
            "none",
            _is_null,
            description="the value is missing",
            example={"field": "phone", "operator": "is_null"},
        ),
        Operator(
            "is_empty",
            STRINGY | TAGS,
            "none",
            _is_empty,
            description="missing, the empty string, or no tags ('  ' is not empty)",
            example={"field": "nickname", "operator": "is_empty"},
        ),
        Operator(
            "is_true",
            frozenset({T.BOOLEAN}),
            "none",
            _bool(True),
            description="exactly TRUE (NULL is neither true nor false)",
            example={"field": "vip", "operator": "is_true"},
        ),
        Operator(
            "is_false",
            frozenset({T.BOOLEAN}),
            "none",
            _bool(False),
            description="exactly FALSE (NULL is neither true nor false)",
            example={"field": "vip", "operator": "is_false"},
        ),
        Operator(
            "before",
            TEMPORAL,
            "moment",
            _before,
            description="before an instant, a date (its start) or a named period (its start)",
            example={"field": "signup_at", "operator": "before", "value": "2024-01-01"},
        ),
        Operator(
            "after",
            TEMPORAL,
            "moment",
            _after,
            description="after an instant, a date (its end) or a named period (its end)",
            example={"field": "signup_at", "operator": "after", "value": "last_month"},
        ),
        Operator(
            "on",
            TEMPORAL,
            "moment",
            _on,
            description="within a date (the whole day in the schema's zone) or a named period",
            example={"field": "birthday", "operator": "on", "value": "today"},
        ),
        Operator(
            "in_last",
            TEMPORAL,
            "duration",
            _in_last,
            description="now - N units <= x <= now",
            example={
                "field": "last_seen_at",
                "operator": "in_last",
                "value": {"amount": 30, "unit": "days"},
            },
        ),
        Operator(
            "in_next",
            TEMPORAL,
            "duration",
            _in_next,
            description="now <= x <= now + N units",
            example={
                "field": "renewal_on",
                "operator": "in_next",
                "value": {"amount": 2, "unit": "weeks"},
            },
        ),
        Operator(
            "older_than",
            TEMPORAL,
            "duration",
            _older_than,
            description="x < now - N units",
            example={
                "field": "last_seen_at",
                "operator": "older_than",
                "value": {"amount": 6, "unit": "months"},
            },
        ),
        Operator(
            "matches",
            STRINGY,
            "pattern",
            _matches,
            description="regular-expression search in the portable subset",
            example={"field": "postcode", "operator": "matches", "value": "^1[0-4][0-9]{3}$"},
        ),
        Operator(
            "has",
            TAGS,
            "tag",
            _has,
            description="the tag set contains the tag",
            example={"field": "tags", "operator": "has", "value": "newsletter"},
        ),
        Operator(
            "has_any",
            TAGS,
            "tags",
            _has_any,
            description="the tag set contains at least one of the tags",
            example={"field": "tags", "operator": "has_any", "value": ["vip", "press"]},
        ),
        Operator(
            "has_all",
            TAGS,
            "tags",
            _has_all,
            nonempty=True,
            description="the tag set contains every one of the tags",
            example={"field": "tags", "operator": "has_all", "value": ["vip", "press"]},
        ),
    ]
    return ops


_NEGATIVES: list[tuple[str, str, str, dict[str, Any]]] = [
    (
        "neq",
        "eq",
        "not equal; a missing value IS in `neq`",
        {"field": "country", "operator": "neq", "value": "DE"},
    ),
    (
        "not_in",
        "in",
        "equals none of the listed values (or is missing); `not_in []` is TRUE",
        {"field": "country", "operator": "not_in", "value": ["DE", "AT"]},
    ),
    (
        "not_between",
        "between",
        "outside [low, high], or missing",
        {"field": "age", "operator": "not_between", "value": [18, 65]},
    ),
    (
        "not_contains",
        "contains",
        "does not contain the substring (or is missing)",
        {"field": "email", "operator": "not_contains", "value": "test"},
    ),
    (
        "not_starts_with",
        "starts_with",
        "does not start with the prefix (or is missing)",
        {"field": "phone", "operator": "not_starts_with", "value": "+1"},
    ),
    (
        "not_ends_with",
        "ends_with",
        "does not end with the suffix (or is missing)",
        {"field": "email", "operator": "not_ends_with", "value": "@test.com"},
    ),
    (
        "is_not_null",
        "is_null",
        "the value is present",
        {"field": "phone", "operator": "is_not_null"},
    ),
    (
        "is_not_empty",
        "is_empty",
        "present and non-empty",
        {"field": "nickname", "operator": "is_not_empty"},
    ),
    (
        "not_on",
        "on",
        "not within the date or period (or missing)",
        {"field": "birthday", "operator": "not_on", "value": "today"},
    ),
    (
        "not_in_last",
        "in_last",
        "not within the last N units (or missing)",
        {
            "field": "last_seen_at",
            "operator": "not_in_last",
            "value": {"amount": 30, "unit": "days"},
        },
    ),
    (
        "not_matches",
        "matches",
        "the pattern does not match (or missing)",
        {"field": "postcode", "operator": "not_matches", "value": "^1"},
    ),
    (
        "has_none",
        "has_any",
        "contains none of the tags (or has no tag set)",
        {"field": "tags", "operator": "has_none", "value": ["spam"]},
    ),
]


def _install_builtins() -> None:
    for op in _builtin():
        register(op)
    for name, twin, description, example in _NEGATIVES:
        base = _REGISTRY[twin]
        register(
            Operator(
                name,
                base.types,
                base.value,
                complement_of=twin,
                ignore_case=base.ignore_case,
                field_value=base.field_value,
                description=description,
                example=example,
            )
        )


_install_builtins()
BUILTINS: frozenset[str] = frozenset(_REGISTRY)  # the operators of SEMANTICS §3
__all__ += ["BUILTINS", "PERIODS", "unregister"]
