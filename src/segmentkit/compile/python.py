"""The Python backend: bound primitives -> generated Python source -> a predicate.

This evaluator is the reference every SQL backend is tested against.

For speed the generated ``match`` first runs a *fast* expression that reads
``record[name]`` directly with no NULL guards, written so that it either gives the
exact answer or raises (``None >= 18`` raises ``TypeError``; ``None in {...}`` is
simply FALSE). On any such exception the record is re-evaluated by the *safe*
expression, which reads values with ``.get``, normalises them (naive datetimes read
in the field's zone, tags as sets) and guards every NULL. ``filter`` runs the fast
expression inside one list comprehension and falls back per record likewise.

Code is generated once per rule *shape* (``primitives.shape``) and cached; a new
rule with the same shape only binds new constants.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .. import primitives as p
from ..bind import BoundRule, bind
from ..errors import UnsupportedError
from ..schema import Schema
from ..types import FieldType, simple_lower

__all__ = ["Matcher", "compile_python", "generate_source"]

_CACHE_SIZE = 512
_cache: OrderedDict[Any, Callable[..., Any]] = OrderedDict()
_FALLBACK = (KeyError, TypeError, AttributeError)


class Matcher(Protocol):
    """``match(record) -> bool`` with ``.filter(records)``, ``.source`` and ``.bound``."""

    source: str
    bound: BoundRule

    def __call__(self, record: Mapping[str, Any]) -> bool: ...
    def filter(self, records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]: ...


# --------------------------------------------------------------------------- runtime helpers
def _instant(zone: ZoneInfo) -> Callable[[Any], Any]:
    """Normaliser for a datetime field: naive values are wall time in ``zone``."""

    def norm(value: Any) -> Any:
        if isinstance(value, dt.datetime) and (value.tzinfo is None or value.utcoffset() is None):
            return value.replace(tzinfo=zone)
        if isinstance(value, str):
            parsed = dt.datetime.fromisoformat(value)
            return parsed.replace(tzinfo=zone) if parsed.tzinfo is None else parsed
        return value

    return norm


def _tags(value: Any) -> Any:
    """Normaliser for a tags field: JSON text or any iterable becomes a frozenset."""
    if value is None or isinstance(value, frozenset | set):
        return value
    if isinstance(value, str | bytes):
        value = json.loads(value)
        if value is None:
            return None
    return frozenset(value)


def _searcher(pattern: str) -> Callable[[Any], bool]:
    from ..regex import python_search

    search = python_search(pattern)

    def run(value: Any) -> bool:
        if not isinstance(value, str):
            raise TypeError("not a string")
        return bool(search(value))

    return run


# --------------------------------------------------------------------------- code generation
class _Gen:
    """Generates the fast and safe expressions for one shape."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.setup: list[str] = []  # statements run once per compile (constants)
        self.safe_fields: dict[str, str] = {}  # field name -> local name in safe()
        self.normalisers: dict[str, str] = {}  # local name -> normaliser expression
        self.consts: dict[str, str] = {}  # expression -> local name (deduplicated)
        self.event_leaves: list[p.EventCount] = []

    def const(self, expr: str) -> str:
        name = self.consts.get(expr)
        if name is None:
            name = self.consts[expr] = f"c{len(self.consts)}"
            self.setup.append(f"{name} = {expr}")
        return name

    def param(self, param: p.Param) -> str:
        slot = param.value
        assert isinstance(slot, p.Slot)
        return self.const(f"P[{slot.index}]")

    # A value read in the fast path, or None if the field always needs normalising.
    def fast_value(self, ref: p.FieldRef) -> str | None:
        if ref.type in (FieldType.DATETIME, FieldType.TAGS):
            return None
        return f"r[{ref.field.name!r}]"

    def safe_value(self, ref: p.FieldRef) -> str:
        name = ref.field.name
        if name not in self.safe_fields:
            local = f"v{len(self.safe_fields)}"
            self.safe_fields[name] = local
            if ref.type is FieldType.DATETIME:
                self.normalisers[local] = f"{self.const(f'N[{name!r}]')}(r.get({name!r}))"
            elif ref.type is FieldType.TAGS:
                self.normalisers[local] = f"_tags(r.get({name!r}))"
            else:
                self.normalisers[local] = f"r.get({name!r})"
        return self.safe_fields[name]

    def value(self, v: p.Value, fast: bool) -> tuple[str, list[str]]:
        """(expression, locals that must not be None for it to be defined)."""
        if isinstance(v, p.Param):
            return self.param(v), []
        if isinstance(v, p.Lower):
            inner, needs = self.value(v.operand, fast)
            return f"_lower({inner})", needs
        if fast:
            expr = self.fast_value(v)
            if expr is not None:
                return expr, [expr]
            name = v.field.name
            if v.type is FieldType.DATETIME:
                return f"{self.const(f'N[{name!r}]')}(r[{name!r}])", []
            return f"_tags(r[{name!r}])", []
        local = self.safe_value(v)
        return local, [local]

    def pred(self, node: p.Predicate, fast: bool) -> str:
        match node:
            case p.Const(value=value):
                return "True" if value else "False"
            case p.And(items=items):
                return "(" + " and ".join(self.pred(i, fast) for i in items) + ")"
            case p.Or(items=items):
                return "(" + " or ".join(self.pred(i, fast) for i in items) + ")"
            case p.Not(item=item):
                return f"(not {self.pred(item, fast)})"
            case _:
                expr, needs = self.leaf(node, fast)
                if fast or not needs:
                    return expr
                guard = " and ".join(f"{n} is not None" for n in dict.fromkeys(needs))
                return f"({guard} and {expr})"

    def leaf(self, node: p.Leaf, fast: bool) -> tuple[str, list[str]]:
        match node:
            case p.IsNull(operand=ref):
                if fast:
                    expr = self.fast_value(ref)
                    return (f"({expr} is None)" if expr else f"(r[{ref.field.name!r}] is None)"), []
                return f"({self.safe_value(ref)} is None)", []
            case p.Compare(op=op, left=left, right=right):
                lhs, n1 = self.value(left, fast)
                rhs, n2 = self.value(right, fast)
                sym = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
                if fast and op == "eq" and isinstance(right, p.FieldRef):
                    # None == None is True in Python; a NULL side must make the leaf FALSE.
                    return f"({lhs} is not None and {lhs} == {rhs})", n1 + n2
                return f"({lhs} {sym} {rhs})", n1 + n2
            case p.InList(operand=operand, values=(slot,)):
                lhs, needs = self.value(operand, fast)
                const = self.const(f"frozenset(P[{slot.index}])")
                return f"({lhs} in {const})", needs
            case p.Contains(operand=operand, needle=needle):
                lhs, needs = self.value(operand, fast)
                return f"({self.param(needle)} in {lhs})", needs
            case p.Prefix(operand=operand, needle=needle):
                lhs, needs = self.value(operand, fast)
                return f"{lhs}.startswith({self.param(needle)})", needs
            case p.Suffix(operand=operand, needle=needle):
                lhs, needs = self.value(operand, fast)
                return f"{lhs}.endswith({self.param(needle)})", needs
            case p.Matches(operand=ref, pattern=pattern):
                lhs, needs = self.value(ref, fast)
                slot = pattern.value
                fn = self.const(f"_searcher(P[{slot.index}])")
                return f"{fn}({lhs})", needs
            case p.TagsAny(operand=ref, values=(slot,)):
                lhs, needs = self.value(ref, fast)
                const = self.const(f"frozenset(P[{slot.index}])")
                return f"(not {const}.isdisjoint({lhs}))", needs
            case p.TagsEmpty(operand=ref):
                lhs, needs = self.value(ref, fast)
                return f"(len({lhs}) == 0)", needs
            case p.InSegment(segment_id=sid):
                members = self.const(f"SEG[{sid!r}]")
                key = f"r[{self.key!r}]" if fast else f"r.get({self.key!r})"
                return f"({key} in {members})", []
            case p.EventCount(op=op, count=count):
                if node not in self.event_leaves:  # visited twice: fast and safe
                    self.event_leaves.append(node)
                counter = self.const(f"EV[{self.event_leaves.index(node)}]")
                key = f"r[{self.key!r}]" if fast else f"r.get({self.key!r})"
                sym = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[op]
                return f"({counter}({key}) {sym} {count})", []
        raise TypeError(f"unknown primitive {node!r}")  # pragma: no cover


def event_leaves(shape: p.Predicate) -> list[p.EventCount]:
    """The event-count leaves of a shape, in the order ``EV[i]`` refers to them."""
    gen = _Gen("")
    gen.pred(shape, fast=True)
    return gen.event_leaves


def generate_source(shape: p.Predicate, key: str) -> str:
    """Python source of a factory ``make(P, N, SEG, EV)`` returning ``(match, filter)``."""
    gen = _Gen(key)
    fast = gen.pred(shape, fast=True)
    safe = gen.pred(shape, fast=False)
    reads = "\n".join(f"        {local} = {gen.normalisers[local]}" for local in gen.normalisers)
    setup = "\n".join(f"    {line}" for line in gen.setup) or "    pass"
    return f"""\
def make(P, N, SEG, EV):
{setup}

    def safe(r):
{reads or "        pass"}
        return {safe}

    def match(r):
        try:
            return {fast}
        except FALLBACK:
            return safe(r)

    def filter(records):
        try:
            return [r for r in records if {fast}]
        except FALLBACK:
            return [r for r in records if match(r)]

    return match, filter
"""


def _factory(shape: p.Predicate, key: str) -> Callable[..., Any]:
    cache_key = (shape, key)
    factory = _cache.get(cache_key)
    if factory is not None:
        _cache.move_to_end(cache_key)
        return factory
    source = generate_source(shape, key)
    namespace: dict[str, Any] = {
        "_lower": simple_lower,
        "_tags": _tags,
        "_searcher": _searcher,
        "FALLBACK": _FALLBACK,
    }
    exec(compile(source, "<segmentkit rule>", "exec"), namespace)
    factory = namespace["make"]
    factory.source = source
    _cache[cache_key] = factory
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return factory  # type: ignore[no-any-return]


def _event_counter(
    leaf: p.EventCount,
    schema: Schema,
    now: dt.datetime,
    events: Mapping[Any, Iterable[Mapping[str, Any]]] | None,
) -> Callable[[Any], int]:
    """``count(contact_key)``: the contact's events that satisfy ``leaf`` (0 when none)."""
    source = schema.events
    if source is None or events is None:
        raise UnsupportedError(
            "event condition", "python", "pass events={contact key: [event, ...]}"
        )
    where = compile_python(BoundRule(leaf.where, source.schema, now), source.schema)
    instant = _instant(schema.zone)
    name_col, time_col = source.name, source.time
    since, until, wanted = leaf.since, leaf.until, leaf.event

    def count(key: Any) -> int:
        n = 0
        for event in events.get(key, ()):
            if event.get(name_col) != wanted:
                continue
            if since is not None or until is not None:
                at = instant(event.get(time_col))
                if (
                    at is None
                    or (since is not None and at < since)
                    or (until is not None and at > until)
                ):
                    continue
            if where(event):
                n += 1
        return n

    return count


def compile_python(
    rule: Any,
    schema: Schema,
    now: dt.datetime | None = None,
    *,
    segments: Mapping[str, Iterable[Any]] | None = None,
    events: Mapping[Any, Iterable[Mapping[str, Any]]] | None = None,
) -> Matcher:
    """Compile ``rule`` to ``match(record) -> bool`` over Mappings keyed by field name.

    ``match.filter(records)`` is the batch path, ``match.source`` the generated code.
    ``segments`` maps segment ids to member keys for ``{"segment": id}`` references;
    ``events`` maps contact keys to their events (Mappings with the event source's name,
    time and property columns) for event conditions.
    Missing keys and ``None`` are NULL; naive datetimes are read in the field's zone.
    """
    bound = bind(rule, schema, now=now, segments=segments)
    shape, params = bound.shaped()
    factory = _factory(shape, schema.key)
    normalisers = {
        f.name: _instant(schema.zone_of(f)) for f in schema if f.type is FieldType.DATETIME
    }
    members: dict[str, frozenset[Any]] = {}
    for sid in bound.segments:
        if segments is None or sid not in segments:
            raise UnsupportedError(
                f"segment reference {sid!r}", "python", "pass segments={id: member keys}"
            )
        members[sid] = frozenset(segments[sid])
    counters = [_event_counter(leaf, schema, bound.now, events) for leaf in event_leaves(shape)]
    match, filter_ = factory(params, normalisers, members, counters)
    match.filter = filter_
    match.source = factory.source  # type: ignore[attr-defined]
    match.bound = bound
    return match  # type: ignore[no-any-return]
