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

A rule of more than :data:`MAX_GENERATED_LEAVES` leaves is not turned into code:
compiling megabytes of Python source would take seconds and hundreds of MiB for a
10,000-node rule. It is *interpreted* instead: the bound tree becomes a tree of
closures (:func:`interpret`) with the meaning of the safe expression, node for node.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from .. import primitives as p
from ..bind import BoundRule, bind, paused_gc
from ..errors import UnsupportedError
from ..schema import Schema
from ..types import FieldType, simple_lower

__all__ = ["MAX_GENERATED_LEAVES", "Matcher", "compile_python", "generate_source", "interpret"]

# Above this many leaves a rule is interpreted rather than compiled to Python source.
MAX_GENERATED_LEAVES = 500
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
    """Normaliser for a tags field: JSON text or any iterable becomes a frozenset.

    Tags are strings, matched type-exactly: an element that is not a string (a number,
    true, null, an array or object in a JSON array) stays an element, so the set is not
    empty, but it equals no tag.
    """
    if value is None or isinstance(value, frozenset | set):
        return value
    if isinstance(value, str | bytes):
        value = json.loads(value)
        if value is None:
            return None
    return frozenset(v if isinstance(v, str) else _NotATag(v) for v in value)


class _NotATag:
    """A non-string element of a stored tag list: equal to no tag (identity equality)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _searcher(pattern: str) -> Callable[[Any], bool]:
    from ..regex import python_search

    search = python_search(pattern)

    def run(value: Any) -> bool:
        if not isinstance(value, str):
            raise TypeError("not a string")
        return bool(search(value))

    return run


# --------------------------------------------------------------------------- code generation
_SYMBOLS = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


class _Gen:
    """Generates the fast and the safe expression of one shape.

    Both guard NULLs inline with assignment expressions, the way a careful engineer
    writes the comprehension by hand: ``((v3 := r['age']) is not None and v3 >= c1)``,
    and a field read by an earlier rule of the same ``and``/``or`` chain is not read
    again (the earlier rule was certainly evaluated, and its first read with it).
    The two differ only in how a value is read: the fast one reads ``r[name]`` as is,
    the safe one ``r.get(name)`` normalised (naive datetimes read in the field's zone).
    A naive datetime makes the fast one raise ``TypeError`` on an ordered comparison,
    which sends that record to the safe one.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.setup: list[str] = []  # statements run once per compile (constants)
        self.consts: dict[str, str] = {}  # expression -> local name (deduplicated)
        self.event_leaves: list[p.EventCount] = []
        self.locals = 0

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

    def read(self, ref: p.FieldRef, fast: bool, normalised: bool) -> str:
        """Expression reading a field; NULL reads as None."""
        name = ref.field.name
        raw = f"r[{name!r}]" if fast else f"r.get({name!r})"
        if ref.type is FieldType.TAGS:
            if fast:  # frozensets (the evaluator's own type) are used as they are
                return f"(t if (t := {raw}).__class__ is frozenset else _tags(t))"
            return f"_tags({raw})"
        if normalised:
            return f"{self.const(f'N[{name!r}]')}({raw})"
        return raw

    def use(
        self, ref: p.FieldRef, fast: bool, scope: _Scope, *, normalise: bool = False
    ) -> tuple[str, str]:
        """``(first, local)``: an expression that reads the field into ``local`` (or just
        ``local`` when the chain already read it), and the local for later uses."""
        normalised = ref.type is FieldType.DATETIME and (normalise or not fast)
        key = (ref.field.name, normalised)
        first_use = scope.uses == 0
        scope.uses += 1
        local = scope.known.get(key)
        if local is not None:
            return local, local
        local = f"v{self.locals}"
        self.locals += 1
        if first_use:
            # Only a leaf's first read certainly happens when the leaf is evaluated
            # (later ones sit behind its NULL guards), so only it may be reused.
            scope.certain = (key, local)
        return f"({local} := {self.read(ref, fast, normalised)})", local

    def guarded(self, v: p.Value, fast: bool, scope: _Scope, guards: list[str]) -> str:
        """The value of ``v``, appending a not-NULL guard for each field it reads."""
        if isinstance(v, p.Param):
            return self.param(v)
        ref = v.operand if isinstance(v, p.Lower) else v
        first, local = self.use(ref, fast, scope)
        if local not in scope.nonnull:
            guards.append(f"{first} is not None")
        if isinstance(v, p.Lower):
            # simple_lower, inlined for the common ASCII case
            return f"({local}.lower() if {local}.isascii() else _lower({local}))"
        return local

    def pred(
        self, node: p.Predicate, fast: bool, known: dict[tuple[str, bool], str], nonnull: set[str]
    ) -> tuple[str, tuple[tuple[str, bool], str] | None]:
        """``(expression, binding)``: ``binding`` is the field read that evaluating the
        expression certainly performs (its first read), for later rules to reuse."""
        match node:
            case p.Const(value=value):
                return ("True" if value else "False"), None
            case p.And(items=items) | p.Or(items=items):
                inner = dict(known)
                inner_nonnull = set(nonnull)
                parts, first = [], None
                for index, item in enumerate(items):
                    expr, binding = self.pred(item, fast, inner, inner_nonnull)
                    parts.append(expr)
                    if binding is not None:
                        inner[binding[0]] = binding[1]
                        if index == 0:
                            first = binding
                        if isinstance(node, p.And) and _true_means_present(item):
                            # Later rules of an `and` run only if this one was TRUE.
                            inner_nonnull.add(binding[1])
                joiner = " and " if isinstance(node, p.And) else " or "
                return "(" + joiner.join(parts) + ")", first
            case p.Not(item=item):
                expr, binding = self.pred(item, fast, known, nonnull)
                return f"(not {expr})", binding
            case _:
                scope = _Scope(known, nonnull)
                guards: list[str] = []
                expr = self.leaf(node, fast, scope, guards)
                return "(" + " and ".join([*guards, expr]) + ")", scope.certain

    def leaf(self, node: p.Leaf, fast: bool, scope: _Scope, guards: list[str]) -> str:
        match node:
            case p.IsNull(operand=ref):
                return f"{self.use(ref, fast, scope)[0]} is None"
            case p.Compare(op="eq", left=p.FieldRef() as ref, right=p.Param() as right):
                # None == value is simply False: no guard needed. Datetimes are
                # normalised first: a naive value never equals an aware one.
                return f"{self.use(ref, fast, scope, normalise=True)[0]} == {self.param(right)}"
            case p.Compare(op=op, left=left, right=right):
                lhs = self.guarded(left, fast, scope, guards)
                rhs = self.guarded(right, fast, scope, guards)
                return f"{lhs} {_SYMBOLS[op]} {rhs}"
            case p.InList(operand=p.FieldRef() as ref, values=(slot,)):
                const = self.const(f"frozenset(P[{slot.index}])")
                return f"{self.use(ref, fast, scope, normalise=True)[0]} in {const}"
            case p.InList(operand=operand, values=(slot,)):
                lhs = self.guarded(operand, fast, scope, guards)
                return f"{lhs} in {self.const(f'frozenset(P[{slot.index}])')}"
            case p.Contains(operand=operand, needle=needle):
                lhs = self.guarded(operand, fast, scope, guards)
                return f"{self.guarded(needle, fast, scope, guards)} in {lhs}"
            case p.Prefix(operand=operand, needle=needle):
                lhs = self.guarded(operand, fast, scope, guards)
                return f"{lhs}.startswith({self.guarded(needle, fast, scope, guards)})"
            case p.Suffix(operand=operand, needle=needle):
                lhs = self.guarded(operand, fast, scope, guards)
                return f"{lhs}.endswith({self.guarded(needle, fast, scope, guards)})"
            case p.Matches(operand=ref, pattern=pattern):
                lhs = self.guarded(ref, fast, scope, guards)
                slot = pattern.value
                return f"{self.const(f'_searcher(P[{slot.index}])')}({lhs})"
            case p.TagsAny(operand=ref, values=(slot,)):
                lhs = self.guarded(ref, fast, scope, guards)
                return f"not {self.const(f'frozenset(P[{slot.index}])')}.isdisjoint({lhs})"
            case p.TagsEmpty(operand=ref):
                lhs = self.guarded(ref, fast, scope, guards)
                return f"len({lhs}) == 0"
            case p.InSegment(segment_id=p.Slot(index=index)):
                key = f"r[{self.key!r}]" if fast else f"r.get({self.key!r})"
                return f"{key} in {self.const(f'SEG[P[{index}]]')}"
            case p.EventCount(op=op, count=count):
                if node not in self.event_leaves:  # visited twice: fast and safe
                    self.event_leaves.append(node)
                counter = self.const(f"EV[{self.event_leaves.index(node)}]")
                key = f"r[{self.key!r}]" if fast else f"r.get({self.key!r})"
                if isinstance(count, p.Slot):
                    count = self.const(f"P[{count.index}]")
                return f"{counter}({key}) {_SYMBOLS[op]} {count}"
        raise TypeError(f"unknown primitive {node!r}")  # pragma: no cover


def _true_means_present(node: p.Predicate) -> bool:
    """Whether ``node`` being TRUE proves its first field read was not NULL."""
    if isinstance(node, p.Not):
        return isinstance(node.item, p.IsNull)
    return isinstance(node, p.LEAF_TYPES) and not isinstance(
        node, p.IsNull | p.InSegment | p.EventCount
    )


class _Scope:
    """Field reads of one leaf: those known from its chain, and the one it certainly makes."""

    __slots__ = ("certain", "known", "nonnull", "uses")

    def __init__(self, known: dict[tuple[str, bool], str], nonnull: set[str]) -> None:
        self.known = known
        self.nonnull = nonnull  # locals known not to be None here
        self.uses = 0
        self.certain: tuple[tuple[str, bool], str] | None = None


def event_leaves(shape: p.Predicate) -> list[p.EventCount]:
    """The event-count leaves of a shape, in the order ``EV[i]`` refers to them."""
    gen = _Gen("")
    gen.pred(shape, True, {}, set())
    return gen.event_leaves


def generate_source(shape: p.Predicate, key: str) -> str:
    """Python source of a factory ``make(P, N, SEG, EV)`` returning ``(match, filter)``."""
    gen = _Gen(key)
    fast = gen.pred(shape, True, {}, set())[0]
    safe = gen.pred(shape, False, {}, set())[0]
    setup = "\n".join(f"    {line}" for line in gen.setup) or "    pass"
    return f"""\
def make(P, N, SEG, EV):
{setup}

    def safe(r):
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
    factory.event_leaves = event_leaves(shape)
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


# --------------------------------------------------------------------------- interpreter
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
_Eval = Callable[[Mapping[str, Any]], Any]


class _Interpreter:
    """Closures with the meaning of the generated *safe* expression (see ``_Gen``):
    values read with ``.get``, datetimes normalised in the field's zone, tags as sets,
    a NULL operand makes a leaf FALSE (``IsNull`` and ``==`` excepted)."""

    def __init__(
        self,
        key: str,
        normalisers: Mapping[str, Callable[[Any], Any]],
        members: Mapping[str, frozenset[Any]],
        counters: Mapping[p.EventCount, Callable[[Any], int]],
    ) -> None:
        self.key = key
        self.normalisers = normalisers
        self.members = members
        self.counters = counters

    def read(self, ref: p.FieldRef) -> _Eval:
        name = ref.field.name
        if ref.type is FieldType.TAGS:
            return lambda r: _tags(r.get(name))
        if ref.type is FieldType.DATETIME:
            norm = self.normalisers[name]
            return lambda r: norm(r.get(name))
        return lambda r: r.get(name)

    def value(self, v: p.Value) -> tuple[_Eval | None, Any]:
        """``(reader, None)`` for a field (None when NULL), ``(None, constant)`` for a Param."""
        if isinstance(v, p.Param):
            return None, v.value
        if isinstance(v, p.Lower):
            read = self.read(v.operand)

            def lowered(r: Mapping[str, Any]) -> Any:
                x = read(r)
                return None if x is None else simple_lower(x)

            return lowered, None
        return self.read(v), None

    def guarded(self, operand: p.Value, test: Callable[[Any], bool]) -> _Eval:
        read, _ = self.value(operand)
        assert read is not None

        def run(r: Mapping[str, Any]) -> bool:
            x = read(r)
            return x is not None and test(x)

        return run

    def pair(self, left: p.Value, right: p.Value, test: Callable[[Any, Any], bool]) -> _Eval:
        """``test(left, right)`` of two field values; FALSE when either is NULL."""
        lread, _ = self.value(left)
        rread, _ = self.value(right)
        assert lread is not None and rread is not None

        def run(r: Mapping[str, Any]) -> bool:
            x = lread(r)
            if x is None:
                return False
            n = rread(r)
            return n is not None and test(x, n)

        return run

    def node(self, node: p.Predicate) -> _Eval:
        match node:
            case p.Const(value=value):
                return lambda r: value
            case p.And(items=items):
                parts = tuple(self.node(i) for i in items)

                def all_(r: Mapping[str, Any]) -> bool:
                    for part in parts:  # noqa: SIM110 - faster than all() of a generator
                        if not part(r):
                            return False
                    return True

                return all_
            case p.Or(items=items):
                parts = tuple(self.node(i) for i in items)

                def any_(r: Mapping[str, Any]) -> bool:
                    for part in parts:  # noqa: SIM110 - faster than any() of a generator
                        if part(r):
                            return True
                    return False

                return any_
            case p.Not(item=item):
                inner = self.node(item)
                return lambda r: not inner(r)
            case p.IsNull(operand=ref):
                read = self.read(ref)
                return lambda r: read(r) is None
            case p.Compare(op="eq", left=p.FieldRef() as ref, right=p.Param(value=const)):
                if _plain(ref):
                    name = ref.field.name
                    return lambda r: r.get(name) == const
                read = self.read(ref)
                return lambda r: read(r) == const
            case p.Compare(op=op, left=p.FieldRef() as ref, right=p.Param(value=c)) if _plain(ref):
                return _plain_compare(op, ref.field.name, c)
            case p.Compare(op=op, left=left, right=right):
                compare = _COMPARE[op]
                lread, lconst = self.value(left)
                rread, rconst = self.value(right)

                def cmp(r: Mapping[str, Any]) -> bool:
                    a = lconst if lread is None else lread(r)
                    if a is None:
                        return False
                    b = rconst if rread is None else rread(r)
                    if b is None:
                        return False
                    return compare(a, b)

                return cmp
            case p.InList(operand=operand, values=values):
                members = frozenset(values)
                if isinstance(operand, p.FieldRef) and _plain(operand):
                    name = operand.field.name
                    return lambda r: r.get(name) in members
                if isinstance(operand, p.FieldRef):
                    read = self.read(operand)
                    return lambda r: read(r) in members
                return self.guarded(operand, lambda x: x in members)
            case p.Contains(operand=p.FieldRef() as ref, needle=p.Param(value=needle)):
                name = ref.field.name
                return lambda r: (x := r.get(name)) is not None and needle in x
            case p.Contains(operand=operand, needle=p.Param(value=needle)):
                return self.guarded(operand, lambda x: needle in x)
            case p.Prefix(operand=operand, needle=p.Param(value=needle)):
                return self.guarded(operand, lambda x: x.startswith(needle))
            case p.Suffix(operand=operand, needle=p.Param(value=needle)):
                return self.guarded(operand, lambda x: x.endswith(needle))
            case p.Contains(operand=operand, needle=other):
                return self.pair(operand, other, lambda x, n: n in x)
            case p.Prefix(operand=operand, needle=other):
                return self.pair(operand, other, str.startswith)
            case p.Suffix(operand=operand, needle=other):
                return self.pair(operand, other, str.endswith)
            case p.Matches(operand=ref, pattern=p.Param(value=pattern)):
                return self.guarded(ref, _searcher(pattern))
            case p.TagsAny(operand=ref, values=values):
                wanted = frozenset(values)
                return self.guarded(ref, lambda x: not wanted.isdisjoint(x))
            case p.TagsEmpty(operand=ref):
                return self.guarded(ref, lambda x: len(x) == 0)
            case p.InSegment(segment_id=sid):
                members, key = self.members[sid], self.key
                return lambda r: r.get(key) in members
            case p.EventCount(op=op, count=count):
                counter, compare, key = self.counters[node], _COMPARE[op], self.key
                return lambda r: compare(counter(r.get(key)), count)
        raise TypeError(f"unknown primitive {node!r}")  # pragma: no cover


def _plain(ref: p.FieldRef) -> bool:
    """Whether the field is read as stored (no datetime or tags normalisation)."""
    return ref.type not in (FieldType.DATETIME, FieldType.TAGS)


def _plain_compare(op: str, name: str, c: Any) -> _Eval:
    """``field op constant`` with the NULL guard, one closure call per record."""
    if op == "lt":
        return lambda r: (x := r.get(name)) is not None and x < c
    if op == "le":
        return lambda r: (x := r.get(name)) is not None and x <= c
    if op == "gt":
        return lambda r: (x := r.get(name)) is not None and x > c
    if op == "ge":
        return lambda r: (x := r.get(name)) is not None and x >= c
    return lambda r: (x := r.get(name)) is not None and x == c


def interpret(
    pred: p.Predicate,
    key: str,
    normalisers: Mapping[str, Callable[[Any], Any]],
    members: Mapping[str, frozenset[Any]],
    counters: Mapping[p.EventCount, Callable[[Any], int]],
) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over records for a bound (not shaped) tree, without code generation."""
    run = _Interpreter(key, normalisers, members, counters).node(pred)

    def match(r: Mapping[str, Any]) -> bool:
        return bool(run(r))

    return match


def _leaf_count(pred: p.Predicate, limit: int) -> int:
    """Leaves of ``pred``, counting stops a little past ``limit``."""
    n = 0
    for _ in p.iter_leaves(pred):
        n += 1
        if n > limit:
            break
    return n


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
    if _leaf_count(bound.predicate, MAX_GENERATED_LEAVES) > MAX_GENERATED_LEAVES:
        with paused_gc():
            return _interpreted(bound, schema, normalisers, members, events)
    shape, params = bound.shaped()
    factory = _factory(shape, schema.key)
    leaves = factory.event_leaves  # type: ignore[attr-defined]
    counters = [
        _event_counter(p.unshape(leaf, params), schema, bound.now, events) for leaf in leaves
    ]
    match, filter_ = factory(params, normalisers, members, counters)
    match.filter = filter_
    match.source = factory.source  # type: ignore[attr-defined]
    match.bound = bound
    return match  # type: ignore[no-any-return]


def _interpreted(
    bound: BoundRule,
    schema: Schema,
    normalisers: Mapping[str, Callable[[Any], Any]],
    members: Mapping[str, frozenset[Any]],
    events: Mapping[Any, Iterable[Mapping[str, Any]]] | None,
) -> Matcher:
    counters: dict[p.EventCount, Callable[[Any], int]] = {}
    for leaf in p.iter_leaves(bound.predicate):
        if isinstance(leaf, p.EventCount) and leaf not in counters:
            counters[leaf] = _event_counter(leaf, schema, bound.now, events)
    match = interpret(bound.predicate, schema.key, normalisers, members, counters)

    def filter_(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return [r for r in records if match(r)]

    match.filter = filter_  # type: ignore[attr-defined]
    match.source = (  # type: ignore[attr-defined]
        f"# not generated: rules of more than {MAX_GENERATED_LEAVES} leaves are interpreted\n"
    )
    match.bound = bound  # type: ignore[attr-defined]
    return match  # type: ignore[return-value]
