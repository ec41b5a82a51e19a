"""Binding: validate a rule against a schema and lower it to predicate primitives.

``bind`` is the one place where a rule meets a schema, the operator registry and a
``now``. It collects *every* problem (unknown field or operator, wrong value type,
reversed range, empty needle, bad pattern, over-long list ...) with its JSON-pointer
path and raises a single :class:`RuleError`. The result is in negation normal form:
negation pushed to the leaves, nested groups flattened, constants folded.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from . import operators as ops
from . import primitives as p
from .errors import Problem, RuleError, did_you_mean, pointer
from .model import Condition, EventCondition, Group, SegmentRef, parse
from .schema import Field, Schema
from .timeutil import PERIODS, shift
from .types import CoercionError, FieldType, coerce

__all__ = [
    "MAX_LIST_LENGTH",
    "MAX_LIST_VALUES",
    "BoundRule",
    "Context",
    "bind",
    "negate",
    "simplify",
]

MAX_LIST_LENGTH = 100_000
#: list values in one rule, all lists together: 99 lists of 100,000 values each did not
#: compile and run within minutes on any engine; one such list takes a fraction of a second.
MAX_LIST_VALUES = 200_000
MAX_PATTERN_LENGTH = 256
_UNITS = ("minutes", "hours", "days", "weeks", "months", "years")
_DATE_UNITS = ("days", "weeks", "months", "years")


@dataclass(frozen=True, slots=True)
class BoundRule:
    """A validated rule lowered to primitives, as of one ``now``."""

    predicate: p.Predicate
    schema: Schema
    now: dt.datetime
    segments: frozenset[str] = frozenset()
    _shaped: tuple[p.Predicate, tuple[Any, ...]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def shaped(self) -> tuple[p.Predicate, tuple[Any, ...]]:
        """``primitives.shape(self.predicate)``, computed once: every backend's cache key."""
        if self._shaped is None:
            object.__setattr__(self, "_shaped", p.shape(self.predicate))
        assert self._shaped is not None
        return self._shaped

    def __repr__(self) -> str:
        from .display import bound_text

        return bound_text(self)

    def _repr_html_(self) -> str:
        from .display import bound_html

        return bound_html(self)


@dataclass(slots=True)
class Context:
    """What an operator's ``lower`` may consult for the condition being bound."""

    schema: Schema
    field: Field
    now: dt.datetime
    zone: ZoneInfo
    ignore_case: bool
    path: tuple[str | int, ...]  # of the condition; errors.pointer() makes it a JSON pointer


@dataclass(slots=True)
class _Binder:
    schema: Schema
    now: dt.datetime
    segments: Callable[[str], Any] | Mapping[str, Any] | None
    problems: list[Problem] = field(default_factory=list)
    refs: set[str] = field(default_factory=set)
    list_values: int = 0  # list values bound so far (MAX_LIST_VALUES)

    def fail(self, path: Sequence[str | int], message: str) -> p.Const:
        self.problems.append(Problem(pointer(path), message))
        return p.Const(False)

    def node(self, rule: Any, path: tuple[str | int, ...], negated: bool) -> p.Predicate:
        if isinstance(rule, Group):
            neg = negated != rule.not_
            items = [
                self.node(child, (*path, "rules", i), neg) for i, child in enumerate(rule.rules)
            ]
            is_and = (rule.combinator == "and") != neg  # De Morgan
            return p.And(tuple(items)) if is_and else p.Or(tuple(items))
        if isinstance(rule, Condition):
            pred = self.condition(rule, path)
        elif isinstance(rule, SegmentRef):
            pred = self.segment(rule, path)
        elif isinstance(rule, EventCondition):
            pred = self.event(rule, path)
        else:  # pragma: no cover - the model admits nothing else
            pred = self.fail(path, f"not a rule node: {type(rule).__name__}")
        return negate(pred) if negated else pred

    def event(self, rule: EventCondition, path: tuple[str | int, ...]) -> p.Predicate:
        source = self.schema.events
        if source is None:
            return self.fail(
                path, "event conditions need an event source, which this schema does not declare"
            )
        where: p.Predicate = p.Const(True)
        if rule.where is not None:
            sub = _Binder(source.schema, self.now, None)
            where = simplify(sub.node(rule.where, (*path, "where"), False))
            self.problems.extend(sub.problems)
        since = until = None
        if rule.in_last is not None:
            try:
                since = shift(self.now, -rule.in_last.amount, rule.in_last.unit, self.schema.zone)
            except (ValueError, OverflowError):
                return self.fail(
                    (*path, "in_last"), "the window starts before the year 1 (check now)"
                )
            until = self.now
        op = rule.count.operator
        if op == "neq":
            return negate(p.EventCount(rule.event, where, since, until, "eq", rule.count.value))
        cmp: p.CompareOp = {"eq": "eq", "gt": "gt", "gte": "ge", "lt": "lt", "lte": "le"}[op]  # type: ignore[assignment]
        return p.EventCount(rule.event, where, since, until, cmp, rule.count.value)

    def segment(self, rule: SegmentRef, path: tuple[str | int, ...]) -> p.Predicate:
        known = self.segments
        if known is not None:
            exists = (
                rule.segment in known
                if isinstance(known, Mapping)
                else known(rule.segment) is not None
            )
            if not exists:
                return self.fail((*path, "segment"), f"unknown segment {rule.segment!r}")
        self.refs.add(rule.segment)
        return p.InSegment(rule.segment)

    def condition(self, rule: Condition, path: tuple[str | int, ...]) -> p.Predicate:
        before = len(self.problems)
        f = self.schema.fields.get(rule.field)
        if f is None:
            self.fail(
                (*path, "field"),
                f"unknown field {rule.field!r}{did_you_mean(rule.field, self.schema.fields)}",
            )
        op = ops.get(rule.operator)
        if op is None:
            self.fail(
                (*path, "operator"),
                f"unknown operator {rule.operator!r}{ops.suggestion(rule.operator)}",
            )
        if f is None or op is None:
            return p.Const(False)
        if f.type not in op.types:
            allowed = ", ".join(sorted(t.value for t in op.types))
            return self.fail(
                (*path, "operator"),
                f"operator {op.name!r} does not apply to {f.type.value} field {f.name!r} (it takes {allowed})",
            )
        if f.operators is not None and op.name not in f.operators:
            return self.fail(
                (*path, "operator"), f"operator {op.name!r} is not allowed on field {f.name!r}"
            )
        if rule.ignore_case and not (op.ignore_case and f.type is FieldType.STRING):
            self.fail(
                (*path, "ignore_case"),
                f"operator {op.name!r} on {f.type.value} field {f.name!r} has no ignore_case variant",
            )
        ctx = Context(self.schema, f, self.now, self.schema.zone_of(f), rule.ignore_case, path)
        value = self.value(op, f, rule.value, (*path, "value"))
        if len(self.problems) > before:
            return p.Const(False)
        positive = op if op.complement_of is None else ops.get(op.complement_of)
        assert positive is not None and positive.lower is not None
        try:
            pred = positive.lower(ctx, p.FieldRef(f), value)
        except (ValueError, OverflowError) as exc:
            return self.fail(path, f"cannot apply {op.name!r}: {exc}")
        return negate(pred) if op.complement_of is not None else pred

    # -- values ---------------------------------------------------------------
    def value(self, op: ops.Operator, f: Field, raw: Any, path: tuple[str | int, ...]) -> Any:
        kind = op.value
        if kind == "none":
            if raw is not None:
                self.fail(path, f"operator {op.name!r} takes no value")
            return None
        if raw is None:
            return self.fail(path, f"operator {op.name!r} needs a value")
        if kind == "scalar":
            if isinstance(raw, Mapping) and set(raw) == {"field"}:
                return self.field_value(op, f, raw["field"], (*path, "field"))
            return self.scalar(f, raw, path)
        if kind in ("list", "tags"):
            return self.list_value(op, f, raw, path)
        if kind == "range":
            return self.range_value(f, raw, path)
        if kind == "needle":
            if isinstance(raw, Mapping) and set(raw) == {"field"}:
                return self.field_value(op, f, raw["field"], (*path, "field"))
            s = self.scalar(f, raw, path)
            if s == "":
                return self.fail(path, "the text to search for must not be empty")
            return s
        if kind == "tag":
            return self.scalar(f, raw, path)
        if kind == "pattern":
            return self.pattern(raw, path)
        if kind == "duration":
            return self.duration(f, raw, path)
        if kind == "moment":
            return self.moment(f, raw, path)
        return self.fail(
            path, f"operator {op.name!r} has an unknown value kind {kind!r}"
        )  # pragma: no cover

    def scalar(self, f: Field, raw: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(raw, list | tuple | Mapping | set | frozenset):
            return self.fail(
                path,
                f"expected a single {f.type.value} value, got a {'list' if not isinstance(raw, Mapping) else 'object'}",
            )
        try:
            value = coerce(raw, f.type, self.schema.declared_zone_of(f))
        except CoercionError as exc:
            return self.fail(path, str(exc))
        if f.enum is not None and value not in f.enum:
            return self.fail(
                path,
                f"{value!r} is not one of the allowed values of {f.name!r}: {list(f.enum)[:20]}",
            )
        return value

    def field_value(
        self, op: ops.Operator, f: Field, name: Any, path: tuple[str | int, ...]
    ) -> Any:
        if not op.field_value:
            return self.fail(path, f"operator {op.name!r} does not compare two fields")
        other = self.schema.fields.get(name) if isinstance(name, str) else None
        if other is None:
            return self.fail(
                path, f"unknown field {name!r}{did_you_mean(name, self.schema.fields)}"
            )
        if not (other.type == f.type or (other.type.numeric and f.type.numeric)):
            return self.fail(
                path,
                f"cannot compare {f.type.value} field {f.name!r} with {other.type.value} field {other.name!r}",
            )
        return p.FieldRef(other)

    def list_value(self, op: ops.Operator, f: Field, raw: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(raw, list | tuple | set | frozenset):
            return self.fail(path, f"operator {op.name!r} takes a list of values")
        if len(raw) > MAX_LIST_LENGTH:
            return self.fail(
                path, f"list has {len(raw):,} values; at most {MAX_LIST_LENGTH:,} are allowed"
            )
        self.list_values += len(raw)
        if self.list_values > MAX_LIST_VALUES:
            return self.fail(
                path,
                f"the rule's lists hold more than {MAX_LIST_VALUES:,} values in all",
            )
        if op.nonempty and not raw:
            return self.fail(path, f"operator {op.name!r} needs at least one value")
        before = len(self.problems)
        out = []
        for i, item in enumerate(raw):
            if item is None:
                self.fail((*path, i), "lists may not contain null (use is_null)")
                continue
            out.append(self.scalar(f, item, (*path, i)))
            if len(self.problems) - before >= 20:
                break
        return tuple(dict.fromkeys(out))

    def range_value(self, f: Field, raw: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(raw, list | tuple) or len(raw) != 2:
            return self.fail(path, "expected [low, high]")
        before = len(self.problems)
        low = self.scalar(f, raw[0], (*path, 0))
        high = self.scalar(f, raw[1], (*path, 1))
        if len(self.problems) == before and low > high:
            return self.fail(path, f"reversed range: {raw[0]!r} is greater than {raw[1]!r}")
        return (low, high)

    def pattern(self, raw: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(raw, str):
            return self.fail(path, "expected a regular expression as a string")
        if len(raw) > MAX_PATTERN_LENGTH:
            return self.fail(path, f"pattern longer than {MAX_PATTERN_LENGTH} characters")
        from .regex import validate_pattern

        for problem in validate_pattern(raw):
            self.fail(path, problem)
        return raw

    def duration(self, f: Field, raw: Any, path: tuple[str | int, ...]) -> Any:
        if not isinstance(raw, Mapping) or set(raw) != {"amount", "unit"}:
            return self.fail(
                path, 'expected {"amount": <n>, "unit": "minutes|hours|days|weeks|months|years"}'
            )
        amount, unit = raw["amount"], raw["unit"]
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= 100_000:
            self.fail((*path, "amount"), "amount must be an integer from 0 to 100,000")
        units = _DATE_UNITS if f.type is FieldType.DATE else _UNITS
        if unit not in units:
            self.fail(
                (*path, "unit"),
                f"unit must be one of {', '.join(units)}{did_you_mean(unit, units)}",
            )
        return (amount, unit)

    def moment(self, f: Field, raw: Any, path: tuple[str | int, ...]) -> Any:
        if isinstance(raw, str) and raw in PERIODS:
            return raw
        if isinstance(raw, str) and len(raw.strip()) == 10:
            try:
                return dt.date.fromisoformat(raw.strip())
            except ValueError:
                pass
        if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
            return raw
        if f.type is FieldType.DATE:
            hint = did_you_mean(raw, PERIODS) if isinstance(raw, str) else ""
            return self.fail(
                path,
                f"expected a date (YYYY-MM-DD) or a period ({', '.join(PERIODS[:4])}, ...){hint}",
            )
        try:
            return coerce(raw, FieldType.DATETIME, self.schema.declared_zone_of(f))
        except CoercionError as exc:
            hint = did_you_mean(raw, PERIODS) if isinstance(raw, str) else ""
            return self.fail(path, f"{exc}, a date or a named period{hint}")


# --------------------------------------------------------------------------- normal form
def negate(pred: p.Predicate) -> p.Predicate:
    """The exact complement of ``pred``, with negation pushed down to the leaves."""
    if isinstance(pred, p.Const):
        return p.Const(not pred.value)
    if isinstance(pred, p.Not):
        return pred.item
    if isinstance(pred, p.And):
        return p.Or(tuple(negate(i) for i in pred.items))
    if isinstance(pred, p.Or):
        return p.And(tuple(negate(i) for i in pred.items))
    return p.Not(pred)


def simplify(pred: p.Predicate) -> p.Predicate:
    """Flatten nested and/or, fold constants, unwrap singletons."""
    if not isinstance(pred, p.And | p.Or):
        return pred
    kind = type(pred)
    absorbing = isinstance(pred, p.Or)  # TRUE absorbs an Or, FALSE absorbs an And
    out: list[p.Predicate] = []
    for item in pred.items:
        item = simplify(item)
        parts = item.items if isinstance(item, kind) else (item,)
        for part in parts:
            if isinstance(part, p.Const):
                if part.value == absorbing:
                    return p.Const(absorbing)
                continue
            out.append(part)
    if not out:
        return p.Const(not absorbing)
    if len(out) == 1:
        return out[0]
    return kind(tuple(out))


def _as_utc(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if not isinstance(now, dt.datetime):
        raise RuleError("now must be a datetime")
    if now.tzinfo is None or now.utcoffset() is None:
        raise RuleError("now must be timezone-aware")
    try:
        return now.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise RuleError("now is outside the range of years 1 to 9999 in UTC") from None


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Keep the cyclic garbage collector from running inside the block.

    Parsing and binding a rule of thousands of nodes allocates tens of thousands of
    objects and none of them form cycles; with the collector on, its full passes over
    the growing heap took about half of a 10,000-node compile. Restored even on errors,
    and only if it was on before.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def bind(
    rule: Any,
    schema: Schema,
    *,
    now: dt.datetime | None = None,
    segments: Callable[[str], Any] | Mapping[str, Any] | None = None,
) -> BoundRule:
    """Validate ``rule`` against ``schema`` and lower it to primitives as of ``now``.

    ``rule`` may be a parsed rule, a dict or JSON text. ``segments`` (a mapping or a
    lookup callable) lets segment references be checked for existence.
    """
    if isinstance(rule, BoundRule):
        return rule
    with paused_gc():
        tree = parse(rule)
        binder = _Binder(schema, _as_utc(now), segments)
        pred = binder.node(tree, (), False)
        if binder.problems:
            raise RuleError(binder.problems)
        return BoundRule(simplify(pred), schema, binder.now, frozenset(binder.refs))
